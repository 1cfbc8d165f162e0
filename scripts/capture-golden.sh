#!/usr/bin/env bash
# capture-golden.sh records real iSCSI traffic between two peers nobody in
# this project wrote — libiscsi's tools (initiator) and tgtd (target), both
# Debian packages — and splits it into one file per PDU under
# testdata/golden/, for the iscsi package's golden tests.
#
# Usage: scripts/capture-golden.sh [OUTDIR]   (as root; needs tgt, libiscsi-bin,
# tshark). OUTDIR defaults to testdata/golden; the interop suite records into
# a temporary directory and runs the golden tests on that fresh capture.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-testdata/golden}
port=3261
ctl=77
work=$(mktemp -d)
pcaps=()
cleanup() {
	tgtadm -C $ctl --lld iscsi --mode target --op delete --force --tid 1 >/dev/null 2>&1 || true
	tgtadm -C $ctl --lld iscsi --mode target --op delete --force --tid 2 >/dev/null 2>&1 || true
	tgtadm -C $ctl --lld iscsi --mode target --op delete --force --tid 3 >/dev/null 2>&1 || true
	# tgtd ignores SIGTERM while it still has targets; these are throwaway.
	kill -9 "${tgtd_pid:-}" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

truncate -s 16M "$work/disk1.img" "$work/disk2.img"
tgtd -f -C $ctl --iscsi portal=127.0.0.1:$port,nop_interval=1,nop_count=3 >"$work/tgtd.log" 2>&1 &
tgtd_pid=$!
for _ in $(seq 50); do tgtadm -C $ctl --mode sys --op show >/dev/null 2>&1 && break; sleep 0.1; done

t1=iqn.2026-11.org.lunar.golden:plain
t2=iqn.2026-11.org.lunar.golden:chap
tgtadm -C $ctl --lld iscsi --mode target --op new --tid 1 --targetname $t1
tgtadm -C $ctl --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 -b "$work/disk1.img"
tgtadm -C $ctl --lld iscsi --mode target --op bind --tid 1 -I ALL
# NOP-In pings every second, so the read capture holds NOP-In and NOP-Out.
tgtadm -C $ctl --lld iscsi --mode target --op update --tid 1 -n nop_interval -v 1
tgtadm -C $ctl --lld iscsi --mode target --op new --tid 2 --targetname $t2
tgtadm -C $ctl --lld iscsi --mode logicalunit --op new --tid 2 --lun 1 -b "$work/disk2.img"
tgtadm -C $ctl --lld iscsi --mode target --op bind --tid 2 -I ALL
t3=iqn.2026-11.org.lunar.golden:digest
tgtadm -C $ctl --lld iscsi --mode target --op new --tid 3 --targetname $t3
tgtadm -C $ctl --lld iscsi --mode logicalunit --op new --tid 3 --lun 1 -b "$work/disk1.img"
tgtadm -C $ctl --lld iscsi --mode target --op bind --tid 3 -I ALL
tgtadm -C $ctl --lld iscsi --mode target --op update --tid 3 -n HeaderDigest -v CRC32C
tgtadm -C $ctl --lld iscsi --mode account --op new --user golden-user --password golden-secret-12
tgtadm -C $ctl --lld iscsi --mode account --op new --user golden-target --password target-secret-34
tgtadm -C $ctl --lld iscsi --mode account --op bind --tid 2 --user golden-user
tgtadm -C $ctl --lld iscsi --mode account --op bind --tid 2 --user golden-target --outgoing

# capture NAME CMD... runs CMD while tshark records the port.
capture() {
	local name=$1
	shift
	dumpcap -q -B 256 -i lo -f "tcp port $port" -w "$work/$name.pcapng" >/dev/null 2>&1 &
	local cap=$!
	# dumpcap has no readiness signal: wait until it holds the capture file open.
	for _ in $(seq 100); do [ -s "$work/$name.pcapng" ] && break; sleep 0.05; done
	"$@" >"$work/$name.out" 2>&1 || { echo "capture $name: command failed:"; cat "$work/$name.out"; }
	sleep 0.5
	kill -INT $cap
	wait $cap || true
	pcaps+=("$name")
}

capture discovery iscsi-ls -s iscsi://127.0.0.1:$port
capture inquiry iscsi-inq iscsi://127.0.0.1:$port/$t1/1
capture chap env LIBISCSI_CHAP_USERNAME=golden-user LIBISCSI_CHAP_PASSWORD=golden-secret-12 \
	iscsi-inq iscsi://127.0.0.1:$port/$t2/1
capture chap-mutual env LIBISCSI_CHAP_USERNAME=golden-user LIBISCSI_CHAP_PASSWORD=golden-secret-12 \
	LIBISCSI_CHAP_TARGET_USERNAME=golden-target LIBISCSI_CHAP_TARGET_PASSWORD=target-secret-34 \
	iscsi-inq iscsi://127.0.0.1:$port/$t2/1
capture digest iscsi-inq iscsi://127.0.0.1:$port/$t3/1
capture write iscsi-test-cu --dataloss -s -t SCSI.Write10.Simple iscsi://127.0.0.1:$port/$t1/1
capture tmf iscsi-test-cu --dataloss -s -t iSCSI.iSCSITMF.AbortTaskSimpleAsync iscsi://127.0.0.1:$port/$t1/1
capture read timeout -s INT 3 iscsi-perf -i iqn.2026-11.org.lunar.golden:perf -m 2 -b 8 iscsi://127.0.0.1:$port/$t1/1

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
for name in "${pcaps[@]}"; do
	# One line per TCP segment: stream, source port, payload hex.
	tshark -r "$work/$name.pcapng" -T fields -e tcp.stream -e tcp.srcport -e tcp.payload \
		-Y "tcp.len > 0" >"$work/$name.tsv"
	go run ./scripts/goldensplit -name "$name" -port $port -out "$out" <"$work/$name.tsv"
done
ls "$out" | wc -l
