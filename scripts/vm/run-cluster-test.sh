#!/usr/bin/env bash
# run-cluster-test.sh: a cluster of Linux VMs, each a lunar node with the
# open-iscsi engine, against `lunar target serve` and `lunar cluster etcd`
# on the host. See docs/linux-nodes.md.
#
# Everything runs inside one network namespace this script creates: a
# bridge at 10.99.1.1/24 holding one tap per VM; the VMs are 10.99.1.11,
# .12, .13 and reach each other's agents and the host's target (:3260),
# storage API (:3261) and etcd (:2379), which listen on 10.99.1.1 inside
# the namespace. No traffic leaves it.
#
# Steps: boot the VMs in parallel; wait until the three nodes are
# registered in etcd; `lunar cluster create` (node1 active, node2 and node3
# passive); check on every VM's console that blkid shows the disk's
# partition as ext4 labelled with the resource name, and that every agent
# lists the disk (GET /v1/disks); `lunar cluster disconnect` and check that
# no VM has a disk or an iSCSI session left (iscsiadm -m session exits 21)
# and that the target has none (`lunar session list`); `lunar cluster
# connect` and check the labels again; `lunar cluster delete` and check
# that nothing is left and the LUN is gone. Exits 0 only when every check
# passes. Run as root.
#
# Environment:
#   LUNAR_VM_CACHE        build cache (default /var/cache/lunar-vm)
#   LUNAR_VM_NODES        number of VMs (default 3, at most 9)
#   LUNAR_VM_MEM          memory per VM in MiB (default 256)
#   LUNAR_VM_TIMEOUT      seconds allowed for the nodes to register (default 300)
#   LUNAR_VM_LUNAR        use this (static) lunar binary instead of building one
#   LUNAR_VM_KEEP=1       keep the work directory (serial logs, target, etcd logs)
#   LUNAR_VM_LOG_LEVEL    lunar's --log-level in the VMs (default info)
#   LUNAR_VM_FIXTURES=1   make node1 print iscsiadm outputs and its sysfs layout
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nodes=${LUNAR_VM_NODES:-3}
mem=${LUNAR_VM_MEM:-256}
reg_timeout=${LUNAR_VM_TIMEOUT:-300}
log_level=${LUNAR_VM_LOG_LEVEL:-info}
((nodes >= 2 && nodes <= 9)) || { echo "LUNAR_VM_NODES must be 2..9" >&2; exit 2; }

say() { printf 'run-cluster-test: %s\n' "$*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

[[ $(id -u) == 0 ]] || { say "run as root (network namespace, taps)"; exit 2; }
out=$(bash "$here/build-cluster.sh" ${LUNAR_VM_LUNAR:+"$LUNAR_VM_LUNAR"} | tail -n 1)
lunar="$out/lunar"
say "VM images ready in $(elapsed)s ($out)"

ns=lunarvm$$
hostip=10.99.1.1
work=$(mktemp -d /tmp/lunar-cluster.XXXXXX)
data="$work/data"
mkdir -p "$data"
qemu_pids=()
target_pid=
etcd_pid=
failed=()

cleanup() {
	local rc=$?
	for p in "${qemu_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${qemu_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	for p in $target_pid $etcd_pid; do
		kill -INT "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	ip netns del "$ns" 2>/dev/null || true
	if [[ ${LUNAR_VM_KEEP:-} == 1 || $rc -ne 0 ]]; then
		say "work directory kept: $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inns() { ip netns exec "$ns" "$@"; }
cli() { inns "$lunar" "$@"; }

# --- the namespace: a bridge and one tap per VM -------------------------------
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add "$hostip/24" dev br0
ip -n "$ns" link set br0 up
for i in $(seq 1 "$nodes"); do
	inns ip tuntap add dev "tap$i" mode tap
	ip -n "$ns" link set "tap$i" master br0
	ip -n "$ns" link set "tap$i" up
done

# --- etcd and the target, on the bridge's address ---------------------------
etcd_url="http://$hostip:2379"
# Started with ip netns exec directly (it execs the program), so $! is the
# program's own pid.
ip netns exec "$ns" "$lunar" cluster etcd --data "$work/etcd" --listen-client "$etcd_url" --listen-peer "http://$hostip:2380" >"$work/etcd.log" 2>&1 &
etcd_pid=$!
ip netns exec "$ns" "$lunar" --log-level debug target serve --data "$data" --listen "$hostip:3260" --api "$hostip:3261" >"$work/target.log" 2>&1 &
target_pid=$!
api="http://$hostip:3261"
for _ in $(seq 1 200); do
	grep -q 'lunar target serving' "$work/target.log" && break
	kill -0 "$target_pid" 2>/dev/null || break
	sleep 0.1
done
grep -q 'lunar target serving' "$work/target.log" || { say "the target did not start:"; tail -n 20 "$work/target.log" >&2; exit 1; }
for _ in $(seq 1 200); do
	cli cluster nodes --etcd "$etcd_url" --data "$data" >/dev/null 2>&1 && break
	kill -0 "$etcd_pid" 2>/dev/null || break
	sleep 0.2
done
cli cluster nodes --etcd "$etcd_url" --data "$data" >/dev/null 2>&1 || { say "etcd did not start:"; tail -n 20 "$work/etcd.log" >&2; exit 1; }
storage_token=$(cat "$data/api-token")
agent_token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$agent_token" >"$data/agent-token"
chmod 600 "$data/agent-token"
say "target on $hostip:3260 (API $api), etcd at $etcd_url, in namespace $ns ($(elapsed)s)"

# --- the VMs -------------------------------------------------------------------
bios=()
[[ -f /usr/share/qemu/qboot.rom ]] && bios=(-bios /usr/share/qemu/qboot.rom)
t_boot=$(date +%s.%N)
for i in $(seq 1 "$nodes"); do
	name=node$i
	cmdline="console=ttyS0 panic=-1 loglevel=4 rdinit=/init lunar.cluster=1 lunar.name=$name"
	cmdline+=" lunar.ip=10.99.1.1$i/24 lunar.etcd=$etcd_url lunar.storage=$api"
	cmdline+=" lunar.storage_token=$storage_token lunar.agent_token=$agent_token"
	cmdline+=" lunar.iqn=iqn.2026-11.org.lunar:node-$name lunar.log=$log_level"
	[[ $i == 1 && ${LUNAR_VM_FIXTURES:-} == 1 ]] && cmdline+=" lunar.fixtures=1"
	ip netns exec "$ns" qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 1 -m "$mem" "${bios[@]}" \
		-nographic -no-reboot -serial "file:$work/serial-$name.log" -monitor none \
		-kernel "$out/vmlinux" -initrd "$out/initramfs.cpio.gz" -append "$cmdline" \
		-netdev "tap,id=n0,ifname=tap$i,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:99:01:1$i,romfile=" \
		>"$work/qemu-$name.out" 2>&1 </dev/null &
	qemu_pids+=($!)
done
say "$nodes VMs booting (-smp 1 -m $mem each)"

# serial NAME: the node's console log, carriage returns removed.
serial() { tr -d '\r' <"$work/serial-$1.log" 2>/dev/null || true; }
# last MARKER NAME: the node's last "LUNAR-VM: MARKER node=NAME ..." line.
last() { serial "$2" | grep -a "^LUNAR-VM: $1 node=$2 " | tail -n 1 || true; }

live_nodes() { cli cluster nodes --etcd "$etcd_url" --data "$data" -o json 2>/dev/null | grep -o '"name": *"node[0-9]*"' | sort -u | wc -l; }
deadline=$(($(date +%s) + reg_timeout))
while (($(live_nodes) < nodes)); do
	for i in "${!qemu_pids[@]}"; do
		kill -0 "${qemu_pids[$i]}" 2>/dev/null || { failed+=("VM node$((i + 1)) exited early"); break 2; }
	done
	if (($(date +%s) >= deadline)); then
		failed+=("only $(live_nodes) of $nodes nodes registered within ${reg_timeout}s")
		break
	fi
	sleep 1
done
reg_s=$(awk -v a="$t_boot" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')

report() {
	echo "----- guest markers -----" >&2
	for i in $(seq 1 "$nodes"); do serial "node$i" | grep -a '^LUNAR-VM:' >&2 || true; done
	if ((${#failed[@]})); then
		for i in $(seq 1 "$nodes"); do
			echo "----- serial node$i (tail) -----" >&2
			serial "node$i" | tail -n 60 >&2
		done
		echo "----- target log (tail) -----" >&2
		tail -n 40 "$work/target.log" >&2
	fi
}
fail_out() {
	report
	for f in "${failed[@]}"; do say "FAIL: $f"; done
	exit 1
}
((${#failed[@]} == 0)) || fail_out
say "$nodes nodes registered in etcd ${reg_s}s after boot:"
cli cluster nodes --etcd "$etcd_url" --data "$data" >&2

passive=$(seq -s, -f 'node%g' 2 "$nodes")
group=vmgroup
res=vmdata1
ccli() { cli cluster "$@" --etcd "$etcd_url" --data "$data"; }

# check_labels: on every VM, blkid shows the partition as ext4 labelled
# $res, and its agent lists the disk with a /dev path.
check_labels() {
	local deadline=$(($(date +%s) + 30)) i name disks
	for i in $(seq 1 "$nodes"); do
		name=node$i
		until last DISKS "$name" | grep -q "LABEL=\"$res\".*TYPE=\"ext4\""; do
			if (($(date +%s) >= deadline)); then
				failed+=("$1: $name: blkid does not show an ext4 filesystem labelled $res: $(last DISKS "$name")")
				break
			fi
			sleep 0.5
		done
		disks=$(inns curl -sS -m 10 -H "Authorization: Bearer $agent_token" "http://10.99.1.1$i:3270/v1/disks" 2>&1 || true)
		if ! grep -q '"path": *"/dev/sd' <<<"$disks"; then
			failed+=("$1: $name: GET /v1/disks has no /dev/sd disk: $disks")
		fi
		say "$1: $name: $(last DISKS "$name" | sed 's/^LUNAR-VM: //') ; agent: $disks"
	done
	((${#failed[@]} == 0)) || fail_out
}

# check_clean: no VM has a disk or an iSCSI session left (iscsiadm -m
# session exits 21) and the target has no session.
check_clean() {
	local deadline=$(($(date +%s) + 30)) i name sessions
	for i in $(seq 1 "$nodes"); do
		name=node$i
		until last SESSIONS "$name" | grep -q 'count=0 iscsiadm_rc=21$' && last DISKS "$name" | grep -q ' none$'; do
			if (($(date +%s) >= deadline)); then
				failed+=("$1: $name: sessions or disks left: $(last SESSIONS "$name"); $(last DISKS "$name")")
				break
			fi
			sleep 0.5
		done
		say "$1: $name: $(last SESSIONS "$name" | sed 's/^LUNAR-VM: //'); $(last DISKS "$name" | sed 's/^LUNAR-VM: //')"
	done
	sessions=$(cli session list -o json --api "$api" --data "$data" 2>&1 || true)
	if [[ $(tr -d ' \n\t' <<<"$sessions") != "[]" && $(tr -d ' \n\t' <<<"$sessions") != "null" ]]; then
		failed+=("$1: the target still has sessions: $sessions")
	else
		say "$1: target sessions: $(tr -d ' \n\t' <<<"$sessions")"
	fi
	((${#failed[@]} == 0)) || fail_out
}

# run_op OP ARGS...: one cluster operation, which must succeed.
run_op() {
	local op=$1 t
	shift
	t=$(date +%s.%N)
	if ! ccli "$op" "$res" --group "$group" --node-timeout 120s "$@" >"$work/$op.txt" 2>&1; then
		cat "$work/$op.txt" >&2
		failed+=("lunar cluster $op failed")
		fail_out
	fi
	cat "$work/$op.txt" >&2
	say "$op took $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s"
}

run_op create --active node1 --nodes "$passive" --size 64M --portal "$hostip:3260"
check_labels create
# disconnect drops the resource from the group (the LUN stays): nothing is
# left on the nodes; connect brings it back everywhere, with its label;
# delete disconnects it and deletes the LUN.
run_op disconnect
check_clean disconnect
run_op connect --active node1 --nodes "$passive" --portal "$hostip:3260"
check_labels connect
run_op delete
check_clean delete
if cli lun show "$res" --api "$api" --data "$data" >/dev/null 2>&1; then
	failed+=("LUN $res still exists on the target after delete")
	fail_out
fi

if [[ ${LUNAR_VM_FIXTURES:-} == 1 ]]; then
	serial node1 | awk '/^LUNAR-FIXTURE-BEGIN/,/^LUNAR-FIXTURE-END/' >"$work/fixtures.txt"
	say "fixtures in $work/fixtures.txt"
fi
report
say "PASS: $nodes Linux VMs (open-iscsi engine): create, ext4 label on every node, disconnect, nothing left, connect, labels again, delete, nothing left; total $(elapsed)s"
