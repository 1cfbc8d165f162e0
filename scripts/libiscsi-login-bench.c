/*
 * libiscsi-login-bench: the libiscsi side of the login+logout row of
 * scripts/bench-initiator.sh. It times N cycles of (new context, TCP
 * connect, login, logout, disconnect, destroy context) in one process with
 * libiscsi's synchronous API, the same work "lunar initiator bench
 * --login-cycles N" does per cycle (initiator.Dial, then Session.Logout).
 *
 *   cc -O2 -o libiscsi-login-bench libiscsi-login-bench.c -liscsi
 *   libiscsi-login-bench PORTAL TARGET-IQN CYCLES
 *
 * Prints the mean microseconds per cycle on standard output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <iscsi/iscsi.h>

static const char *initiator_name = "iqn.2026-11.org.lunar:libiscsi-login-bench";

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* cycle runs one connect+login+logout; 0 on success. */
static int cycle(const char *portal, const char *target)
{
	struct iscsi_context *iscsi;
	int rc = -1;

	iscsi = iscsi_create_context(initiator_name);
	if (iscsi == NULL) {
		fprintf(stderr, "iscsi_create_context failed\n");
		return -1;
	}
	iscsi_set_targetname(iscsi, target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_connect_sync(iscsi, portal) != 0) {
		fprintf(stderr, "connect %s: %s\n", portal, iscsi_get_error(iscsi));
		goto out;
	}
	if (iscsi_login_sync(iscsi) != 0) {
		fprintf(stderr, "login %s: %s\n", target, iscsi_get_error(iscsi));
		goto out;
	}
	if (iscsi_logout_sync(iscsi) != 0) {
		fprintf(stderr, "logout: %s\n", iscsi_get_error(iscsi));
		goto out;
	}
	rc = 0;
out:
	iscsi_disconnect(iscsi);
	iscsi_destroy_context(iscsi);
	return rc;
}

int main(int argc, char **argv)
{
	double t0;
	long n, i;

	if (argc != 4 || (n = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: %s PORTAL TARGET-IQN CYCLES\n", argv[0]);
		return 2;
	}
	t0 = now_us();
	for (i = 0; i < n; i++) {
		if (cycle(argv[1], argv[2]) != 0)
			return 1;
	}
	printf("%.0f\n", (now_us() - t0) / n);
	return 0;
}
