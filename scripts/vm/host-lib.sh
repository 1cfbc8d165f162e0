# host-lib.sh: the host side shared by the VM tests, sourced after the
# caller has set here, repo, log_level, work (its mktemp'd work directory)
# and defined say and elapsed. It names the work files, installs the
# cleanup trap (stops qemu and the target, keeps the work directory on
# failure or with LUNAR_VM_KEEP=1), builds lunar (or copies LUNAR_VM_LUNAR),
# starts `lunar target serve` on a free port on 127.0.0.1 advertised as
# 10.0.2.2 (the host's loopback as a user-mode-network guest sees it), and
# defines cli (the lunar CLI against that target) and apicall (curl on its
# management API). Sets port, api, token, lunar, data, serial, tlog,
# target_pid and qemu_pid.
lunar="$work/lunar"
data="$work/data"
serial="$work/serial.log"
tlog="$work/target.log"
target_pid=
qemu_pid=
cleanup() {
	local rc=$?
	if [[ -n $qemu_pid ]]; then kill "$qemu_pid" 2>/dev/null || true; fi
	if [[ -n $target_pid ]]; then
		kill -INT "$target_pid" 2>/dev/null || true
		wait "$target_pid" 2>/dev/null || true
	fi
	if [[ ${LUNAR_VM_KEEP:-} == 1 || $rc -ne 0 ]]; then
		say "work directory kept: $work (serial.log, target.log, data/)"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n ${LUNAR_VM_LUNAR:-} ]]; then
	cp "$LUNAR_VM_LUNAR" "$lunar"
	say "using the lunar binary $LUNAR_VM_LUNAR"
else
	(cd "$repo" && go build -o "$lunar" ./cmd/lunar)
	say "lunar built in $(elapsed)s"
fi

# Start the target on a free port: try random ones until one binds.
port='' api=''
for _ in $(seq 1 20); do
	p=$((20000 + RANDOM % 20000))
	a=$((p + 1))
	: >"$tlog"
	"$lunar" --log-level "$log_level" target serve --data "$data" \
		--listen "127.0.0.1:$p" --advertise "10.0.2.2:$p" --api "127.0.0.1:$a" >>"$tlog" 2>&1 &
	target_pid=$!
	for _ in $(seq 1 100); do
		grep -q 'lunar target serving' "$tlog" && break
		kill -0 "$target_pid" 2>/dev/null || break
		sleep 0.05
	done
	if grep -q 'lunar target serving' "$tlog"; then
		port=$p api=$a
		break
	fi
	wait "$target_pid" 2>/dev/null || true
	target_pid=
done
[[ -n $port ]] || { say "cannot start lunar target serve:"; tail -n 20 "$tlog" >&2; exit 1; }
say "target serving on 127.0.0.1:$port, advertised as 10.0.2.2:$port, API 127.0.0.1:$api"

cli() { "$lunar" "$@" --api "http://127.0.0.1:$api" --data "$data"; }
token=$(cat "$data/api-token")
apicall() { # METHOD PATH [BODY]
	curl -sS -f -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
		${3:+--data "$3"} "http://127.0.0.1:$api$2"
}
