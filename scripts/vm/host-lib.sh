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

# vm_run KERNEL NIC [QEMU ARGS...]: boots the VM (one CPU, user-mode
# networking, the kernel command line in $cmdline, the serial console in
# $serial), waits for it to power off within $boot_timeout seconds, writes
# $serial.txt and prints the guest's LUNAR-VM markers; sets boot_s and the
# array failed (a timeout, no DONE marker, a FAIL marker).
vm_run() {
	local kernel=$1 nic=$2
	shift 2
	local t_boot
	t_boot=$(date +%s.%N)
	qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 1 -m 512 "${bios[@]}" \
		-nographic -no-reboot -serial "file:$serial" -monitor none \
		-kernel "$kernel" -initrd "$cache/initramfs.cpio.gz" -append "$cmdline" \
		-netdev user,id=n0 -device "$nic,netdev=n0,romfile=" "$@" \
		>"$work/qemu.out" 2>&1 </dev/null &
	qemu_pid=$!
	say "VM booting (pid $qemu_pid, timeout ${boot_timeout}s, serial log $serial)"

	local timed_out='' deadline
	deadline=$(($(date +%s) + boot_timeout))
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if (($(date +%s) >= deadline)); then
			timed_out=1
			kill "$qemu_pid" 2>/dev/null || true
			break
		fi
		sleep 0.5
	done
	wait "$qemu_pid" 2>/dev/null || true
	qemu_pid=
	boot_s=$(awk -v a="$t_boot" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

	tr -d '\r' <"$serial" >"$serial.txt" 2>/dev/null || : >"$serial.txt"
	echo "----- guest markers -----" >&2
	grep -a 'LUNAR-VM:' "$serial.txt" >&2 || true
	echo "-------------------------" >&2

	failed=()
	[[ -n $timed_out ]] && failed+=("the VM did not power off within ${boot_timeout}s")
	grep -aq '^LUNAR-VM: DONE ' "$serial.txt" || failed+=("the guest did not finish (no DONE marker)")
	grep -aq '^LUNAR-VM: FAIL' "$serial.txt" && failed+=("the guest reported failures")
	return 0
}


# vm_finish WHAT: ends a VM test: with failures it prints them and the tails
# of the guest's serial log, qemu's output and the target's log, and exits
# 1; otherwise it notes any error the target logged and prints PASS: WHAT.
vm_finish() {
	grep -aE '"level":"(error|panic|fatal)"|ERR|PNC|panic' "$tlog" >"$work/target-errors.txt" || true
	say "VM boot-to-poweroff ${boot_s}s, total $(elapsed)s"
	if ((${#failed[@]})); then
		local f
		for f in "${failed[@]}"; do say "FAIL: $f"; done
		echo "----- guest serial log (tail) -----" >&2
		tail -n 150 "$serial.txt" >&2
		echo "----- qemu -----" >&2
		tail -n 20 "$work/qemu.out" >&2
		echo "----- target log (tail) -----" >&2
		tail -n 60 "$tlog" >&2
		exit 1
	fi
	if [[ -s $work/target-errors.txt ]]; then
		say "note: the target logged errors (see target.log):"
		head -n 20 "$work/target-errors.txt" >&2
	fi
	say "PASS: $1"
}
