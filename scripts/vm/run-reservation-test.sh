#!/usr/bin/env bash
# run-reservation-test.sh: SCSI-3 persistent reservations of `lunar target
# serve` driven by the Linux kernel initiator (open-iscsi in a qemu VM) and
# sg3-utils' sg_persist: a fence_scsi-style sequence from two initiators
# (issue 7). See scripts/vm/README.md.
#
# Builds lunar and the VM (scripts/vm/build.sh), starts a target on
# 127.0.0.1 advertising 10.0.2.2 (the host's loopback as the VM sees it),
# creates a LUN and an initiator group holding two VM initiator names, maps
# the LUN, and boots the VM once to run the scenario pr (scripts/vm/guest-pr.sh):
# both initiators log in from one VM through two open-iscsi ifaces and
# register; A reserves (type 5, Write Exclusive, Registrants Only) and
# writes; B preempts and aborts A; A's next write fails with RESERVATION
# CONFLICT and B's succeeds; B's connection fails and open-iscsi recovers
# the session (same ISID): B still holds its registration and the
# reservation and writes; B logs out and in (a new session, so a new ISID):
# the new nexus is not registered and cannot write until it registers.
# Then, with the target stopped, it reads the LUN's file to check which
# writes landed. Prints PASS/FAIL per check; exits non-zero on any failure.
#
# Environment:
#   LUNAR_VM_CACHE      build cache (default /var/cache/lunar-vm)
#   LUNAR_VM_TIMEOUT    seconds allowed for the boot (default 100)
#   LUNAR_VM_KEEP=1     keep the work directory (target data, logs)
#   LUNAR_VM_LOG_LEVEL  lunar's --log-level (default debug)
#   LUNAR_VM_LUNAR      use this lunar binary instead of building ./cmd/lunar
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
boot_timeout=${LUNAR_VM_TIMEOUT:-100}
log_level=${LUNAR_VM_LOG_LEVEL:-debug}

say() { printf 'run-reservation-test: %s\n' "$*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

cache=$(bash "$here/build.sh" | tail -n 1)
say "VM built or reused in $(elapsed)s ($cache)"

work=$(mktemp -d /tmp/lunar-vm-pr.XXXXXX)
. "$here/host-lib.sh"

iqn_a=iqn.2024-01.dev.lunar.vm:pr-a
iqn_b=iqn.2024-01.dev.lunar.vm:pr-b

cli lun create prdisk --size 16M >/dev/null
cli igroup create prhosts "$iqn_a" "$iqn_b" >/dev/null
cli lun map prdisk --igroup prhosts >/dev/null
target_iqn=$(apicall GET /v1/targets | tr -d ' \t\n' | tr '{}' '\n\n' | grep '"default":true' | sed -n 's/.*"name":"\([^"]*\)".*/\1/p' | head -n 1)
[[ -n $target_iqn ]] || { say "cannot read the default target's IQN from /v1/targets"; exit 1; }
lun_path=$(cli lun show prdisk -o json | sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' | head -n 1)
say "target $target_iqn, LUN prdisk 16 MiB at $lun_path mapped to igroup prhosts ($iqn_a, $iqn_b)"

bios=()
[[ -f /usr/share/qemu/qboot.rom ]] && bios=(-bios /usr/share/qemu/qboot.rom)
cmdline="console=ttyS0 panic=-1 loglevel=4 rdinit=/init lunar.portal=10.0.2.2:$port lunar.target=$target_iqn"
cmdline+=" lunar.scenarios=pr lunar.iqn_a=$iqn_a lunar.iqn_b=$iqn_b"

# The same VM as run-initiator-test.sh: user-mode networking (the guest is
# 10.0.2.15 and reaches the host's 127.0.0.1 as 10.0.2.2), one CPU.
vm_run "$cache/vmlinux" virtio-net-pci
grep -aq '^LUNAR-VM: PASS pr$' "$serial.txt" || failed+=("no PASS for scenario pr")

if apicall GET /metrics >"$work/metrics.txt" 2>/dev/null; then
	grep -E '^lunar_target_(commands_total|logins_total|errors_total)' "$work/metrics.txt" |
		sed 's/^/run-reservation-test: metrics: /' >&2 || true
fi

# From the host, with the target stopped: the writes that had to land are
# in the LUN's file, and the fenced ones are not (4 KiB block 2: A's, by dd
# and sg_dd, after the preemption; block 5: B's new, unregistered nexus):
# those blocks are still zero. See the block map in guest-pr.sh.
kill -INT "$target_pid" 2>/dev/null || true
wait "$target_pid" 2>/dev/null || true
target_pid=
host_check() { # NAME OK WHY
	if [[ $2 == 1 ]]; then
		say "PASS host/$1"
	else
		say "FAIL host/$1: $3"
		failed+=("host check $1: $3")
	fi
}
if [[ -n $lun_path && -f $lun_path ]]; then
	zero=$(head -c 4096 /dev/zero | sha256sum | cut -d' ' -f1)
	for b in 0 1 2 3 4 5 6; do
		want=$(sed -n "s/^LUNAR-VM: INFO pr block $b sha256=\([0-9a-f]*\)\$/\1/p" "$serial.txt" | head -n 1)
		got=$(dd if="$lun_path" bs=4096 skip="$b" count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
		case $b in
		2 | 5)
			ok=0
			[[ $got == "$zero" ]] && ok=1
			host_check "block-$b-fenced-write-absent" "$ok" "block $b of the LUN file has sha256 $got, want zeros ($zero); the fenced write's pattern is ${want:-?}"
			;;
		*)
			ok=0
			[[ -n $want && $got == "$want" ]] && ok=1
			host_check "block-$b-landed" "$ok" "block $b of the LUN file has sha256 $got, the guest wrote ${want:-?}"
			;;
		esac
	done
else
	failed+=("no LUN file at '${lun_path}'")
fi
vm_finish "pr (Linux $(cat "$cache/kernel-version"), open-iscsi and sg3-utils in qemu)"
