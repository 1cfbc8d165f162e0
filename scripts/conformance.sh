#!/usr/bin/env bash
# conformance.sh runs libiscsi's conformance suite, iscsi-test-cu (Debian
# libiscsi-bin), against `lunar target serve` on loopback, and compares the
# failures with the list of known failures in
# testdata/conformance/known-failures.txt. It fails on any failure that is
# not on the list (a regression), on a crash of either side, and on a known
# failure that now passes (so the list only ever shrinks: remove the line).
#
# Usage: scripts/conformance.sh [LUNAR_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
known=$root/testdata/conformance/known-failures.txt
work=$(mktemp -d)
lunar=${1:-$work/lunar}
port=${LUNAR_CONFORMANCE_PORT:-3290}
api=127.0.0.1:$((port + 1))
cleanup() {
	[ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
	cp "$work/cu.log" "${TMPDIR:-/tmp}/lunar-conformance.log" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

[ -x "$lunar" ] || go build -o "$lunar" ./cmd/lunar
"$lunar" target serve --data "$work/data" --listen "127.0.0.1:$port" --api "$api" \
	--log-level warn >"$work/serve.log" 2>&1 &
serve_pid=$!
cli=(--api "http://$api" --data "$work/data")
for _ in $(seq 100); do
	if ! kill -0 "$serve_pid" 2>/dev/null; then
		echo "conformance: lunar target serve exited (is 127.0.0.1:$port or $api in use? set LUNAR_CONFORMANCE_PORT):" >&2
		cat "$work/serve.log" >&2
		exit 1
	fi
	timeout 2 "$lunar" lun list "${cli[@]}" >/dev/null 2>&1 && break
	sleep 0.1
done

# libiscsi's two initiator names (-i/-I defaults), for the tests that need two nexuses.
ini1=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test
ini2=iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-test-2
"$lunar" lun create conformance --size 256M "${cli[@]}" >/dev/null
"$lunar" igroup create conformance "$ini1" "$ini2" "${cli[@]}" >/dev/null
"$lunar" lun map conformance --igroup conformance "${cli[@]}" >/dev/null
tgt=$("$lunar" lun show conformance -o json "${cli[@]}" | sed -n 's/.*"target": *"\([^"]*\)".*/\1/p' | head -1)
url="iscsi://127.0.0.1:$port/$tgt/0"

set +e
# The URL twice: the second is the multipath URL the MultipathIO tests use.
timeout 1200 iscsi-test-cu --dataloss -v -i "$ini1" -I "$ini2" "$url" "$url" >"$work/cu.log" 2>&1
rc=$?
set -e
if ! kill -0 "$serve_pid" 2>/dev/null; then
	echo "conformance: lunar target serve died during the run:"
	tail -50 "$work/serve.log"
	exit 1
fi
if ((rc > 1)); then
	echo "conformance: iscsi-test-cu exited $rc (crash or timeout):"
	tail -50 "$work/cu.log"
	exit 1
fi

# "Suite: X" then "  Test: Y ...passed|FAILED" lines; a test's verdict may
# come after other output on following lines.
awk '
	/^Suite: /  { suite = $2 }
	/^  Test: / { test = $2; name = suite "." test }
	/\.\.\.passed/ && name != "" { print "PASS " name; name = "" }
	/FAILED$/ && name != "" { print "FAIL " name; name = "" }
' "$work/cu.log" | sort -u >"$work/verdicts"

summary=$(grep -A3 "Run Summary" "$work/cu.log" | awk '$1 == "tests" {print "tests: total " $2 ", ran " $3 ", passed " $4 ", failed " $5}')
echo "conformance: iscsi-test-cu against lunar: $summary"
{ grep "^FAIL " "$work/verdicts" || true; } | sed "s/^FAIL //" >"$work/failed"
{ grep -v '^#' "$known" || true; } | sed '/^$/d' | sort -u >"$work/known"
new=$(comm -23 "$work/failed" "$work/known")
fixed=$(comm -13 "$work/failed" "$work/known" | while read -r t; do grep -qx "PASS $t" "$work/verdicts" && echo "$t"; done)
echo "conformance: $(wc -l <"$work/failed") failures, $(wc -l <"$work/known") known"
status=0
if [ -n "$new" ]; then
	echo "conformance: NEW failures (not in $known):"
	echo "$new" | sed 's/^/  /'
	for t in $new; do
		grep -A12 "Test: ${t#*.} " "$work/cu.log" | head -14 | sed 's/^/    /'
	done
	status=1
fi
# The reservation families (PrinXxx, ProutXxx, Reserve6) must really run:
# libiscsi counts a test that skips because the target answers INVALID
# COMMAND OPERATION CODE as passed.
skipped=$(grep -o -E "\[SKIPPED\] (PERSISTENT? RESERVE (IN|OUT) is not implemented|PROUT Not Supported|RESERVE6 is not implemented|Target does not support RESERVE6)" "$work/cu.log" | sort | uniq -c || true)
if [ -n "$skipped" ]; then
	echo "conformance: reservation tests skipped as not implemented:"
	echo "$skipped" | sed 's/^/  /'
	status=1
fi
if [ -n "$fixed" ]; then
	echo "conformance: these known failures now pass; remove them from $known:"
	echo "$fixed" | sed 's/^/  /'
	status=1
fi
exit $status
