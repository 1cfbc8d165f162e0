#!/usr/bin/env bash
# run-initiator-test.sh: the Linux kernel initiator (open-iscsi in a qemu VM)
# against `lunar target serve`. See scripts/vm/README.md.
#
# Builds lunar and the VM (scripts/vm/build.sh), starts a target on
# 127.0.0.1 advertising 10.0.2.2 (the host's loopback as the VM sees it),
# creates a LUN, an initiator group with two VM initiator names, maps the LUN,
# gives one of them CHAP credentials, boots the VM once to run the scenarios
# plain, chap and unmapped (scripts/vm/guest-init.sh), then checks the LUN's
# file system from the host too. Exits non-zero on any failure.
#
# Environment:
#   LUNAR_VM_CACHE      build cache (default /var/cache/lunar-vm)
#   LUNAR_VM_SCENARIOS  comma list (default plain,chap,unmapped)
#   LUNAR_VM_TIMEOUT    seconds allowed for the boot (default 240)
#   LUNAR_VM_KERNEL     vmlinux (default; PVH boot) or bzimage
#   LUNAR_VM_KEEP=1     keep the work directory (target data, logs)
#   LUNAR_VM_LOG_LEVEL  lunar's --log-level (default debug)
#   LUNAR_VM_LUNAR      use this lunar binary instead of building ./cmd/lunar
#   LUNAR_VM_NIC        qemu NIC model (default virtio-net-pci; e1000 also works)
#   LUNAR_VM_CMDLINE_EXTRA  more kernel parameters (e.g. lunar.tcp_rmem=4096,1048576,8388608)
#   LUNAR_VM_QEMU_EXTRA     more qemu arguments (e.g. -object filter-dump,id=d,netdev=n0,file=guest.pcap)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
scenarios=${LUNAR_VM_SCENARIOS:-plain,chap,unmapped}
boot_timeout=${LUNAR_VM_TIMEOUT:-240}
kernel_kind=${LUNAR_VM_KERNEL:-vmlinux}
log_level=${LUNAR_VM_LOG_LEVEL:-debug}
nic=${LUNAR_VM_NIC:-virtio-net-pci}

say() { printf 'run-initiator-test: %s\n' "$*" >&2; }
t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'; }

cache=$(bash "$here/build.sh" | tail -n 1)
say "VM built or reused in $(elapsed)s ($cache)"

work=$(mktemp -d /tmp/lunar-vm.XXXXXX)
. "$here/host-lib.sh"

iqn_plain=iqn.2024-01.dev.lunar.vm:plain
iqn_chap=iqn.2024-01.dev.lunar.vm:chap
iqn_unmapped=iqn.2024-01.dev.lunar.vm:unmapped
chap_user=vmchapuser
chap_secret=vm-chap-secret-0123
chap_bad=vm-chap-wrong-9876

cli lun create vmdisk --size 64M >/dev/null
cli igroup create vmhosts "$iqn_plain" "$iqn_chap" >/dev/null
cli lun map vmdisk --igroup vmhosts >/dev/null
# No CLI command sets CHAP: the API's PUT /v1/chap/{initiator}.
apicall PUT "/v1/chap/$iqn_chap" "{\"name\":\"$chap_user\",\"secret\":\"$chap_secret\"}" >/dev/null
target_iqn=$(apicall GET /v1/targets | tr -d ' \t\n' | tr '{}' '\n\n' | grep '"default":true' | sed -n 's/.*"name":"\([^"]*\)".*/\1/p' | head -n 1)
[[ -n $target_iqn ]] || { say "cannot read the default target's IQN from /v1/targets"; exit 1; }
lun_path=$(cli lun show vmdisk -o json | sed -n 's/.*"path": *"\([^"]*\)".*/\1/p' | head -n 1)
say "target $target_iqn, LUN vmdisk 64 MiB at $lun_path mapped to igroup vmhosts ($iqn_plain, $iqn_chap); CHAP for $iqn_chap"

case $kernel_kind in
vmlinux) kernel=$cache/vmlinux ;;
bzimage) kernel=$cache/vmlinuz ;;
*) say "LUNAR_VM_KERNEL must be vmlinux or bzimage"; exit 2 ;;
esac
bios=()
[[ -f /usr/share/qemu/qboot.rom ]] && bios=(-bios /usr/share/qemu/qboot.rom)
cmdline="console=ttyS0 panic=-1 loglevel=4 rdinit=/init lunar.portal=10.0.2.2:$port lunar.target=$target_iqn"
cmdline+=" lunar.scenarios=$scenarios lunar.iqn_plain=$iqn_plain lunar.iqn_chap=$iqn_chap lunar.iqn_unmapped=$iqn_unmapped"
cmdline+=" lunar.chap_user=$chap_user lunar.chap_secret=$chap_secret lunar.chap_bad=$chap_bad ${LUNAR_VM_CMDLINE_EXTRA:-}"

# User-mode networking: the guest is 10.0.2.15 and reaches the host's
# 127.0.0.1 as 10.0.2.2; the guest has no default route, so it talks to
# nothing else. romfile= keeps qemu from looking for a PXE ROM.
# shellcheck disable=SC2086 # LUNAR_VM_QEMU_EXTRA is a list of arguments
vm_run "$kernel" "$nic" ${LUNAR_VM_QEMU_EXTRA:-}
for s in ${scenarios//,/ }; do
	grep -aq "^LUNAR-VM: PASS $s\$" "$serial.txt" || failed+=("no PASS for scenario $s")
done

# The target's own counters for the run (commands, bytes, logins, errors,
# latency per operation), kept in the work directory.
if apicall GET /metrics >"$work/metrics.txt" 2>/dev/null; then
	grep -E '^lunar_target_(commands_total|write_bytes_total|read_bytes_total|logins_total|errors_total)' "$work/metrics.txt" |
		sed 's/^/run-initiator-test: metrics: /' >&2 || true
	grep -E '^lunar_target_command_duration_seconds_(sum|count)' "$work/metrics.txt" |
		sed 's/^/run-initiator-test: metrics: /' >&2 || true
fi

# Cross-check from the host, with the target stopped: the LUN's file holds a
# clean ext4 file system with the plain scenario's file intact.
kill -INT "$target_pid" 2>/dev/null || true
wait "$target_pid" 2>/dev/null || true
target_pid=
if [[ ",$scenarios," == *,plain,* && -n $lun_path && -f $lun_path ]]; then
	if out=$(/sbin/e2fsck -f -n "$lun_path" 2>&1); then
		say "host e2fsck -f -n of the LUN file: clean"
	else
		failed+=("host e2fsck of the LUN file: $out")
	fi
	want=$(sed -n 's/^LUNAR-VM: INFO plain wrote .* sha256=\([0-9a-f]*\)$/\1/p' "$serial.txt" | head -n 1)
	got=$(/sbin/debugfs -R 'cat /big.bin' "$lun_path" 2>/dev/null | sha256sum | cut -d' ' -f1)
	if [[ -n $want && $got == "$want" ]]; then
		say "host read of big.bin from the LUN file matches the guest's sha256"
	else
		failed+=("host read of big.bin from the LUN file: sha256 $got, guest wrote ${want:-?}")
	fi
fi
vm_finish "${scenarios//,/ } (Linux $(cat "$cache/kernel-version"), open-iscsi in qemu)"
