#!/usr/bin/env bash
# bench-initiator.sh: lunar's initiator against libiscsi's tools on the same
# tgtd LUN, in interleaved rounds; prints medians and lunar/libiscsi ratios.
#
#   scripts/bench-initiator.sh [--rounds N] [--seconds S] [--cycles C] [--port P]
#
# The portal port defaults to a free one; tgtd's control port is 900 + PID % 99.
#
# Needs tgtd/tgtadm (Debian tgt) and iscsi-perf/iscsi-inq (libiscsi-bin).
set -euo pipefail

rounds=3 seconds=10 cycles=200 port=
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--cycles) cycles=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	-h|--help) sed -n 2,7p "$0"; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
for t in tgtd tgtadm iscsi-perf iscsi-inq go jq python3; do
	command -v "$t" >/dev/null || { echo "missing $t: install tgt, libiscsi-bin, jq, python3 and Go" >&2; exit 1; }
done

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/bench-initiator.XXXXXX)
if [ -z "$port" ]; then
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
ctl=$((900 + $$ % 99))
iqn=iqn.2026-11.org.lunar:bench
portal=127.0.0.1:$port
tgtpid=

cleanup() {
	if [ -n "$tgtpid" ]; then
		tgtadm -C "$ctl" --lld iscsi --op delete --force --mode target --tid 1 >/dev/null 2>&1 || true
		tgtadm -C "$ctl" --lld iscsi --op delete --mode system >/dev/null 2>&1 || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$tgtpid" 2>/dev/null || break; sleep 0.2; done
		kill "$tgtpid" 2>/dev/null || true
		wait "$tgtpid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building lunar..." >&2
(cd "$root" && go build -o "$work/lunar" ./cmd/lunar)
lunar=$work/lunar

echo "creating a 1 GiB backing file..." >&2
head -c $((1 << 30)) /dev/urandom >"$work/lun1.img"

tgtd -f -C "$ctl" --iscsi portal="$portal" >"$work/tgtd.log" 2>&1 &
tgtpid=$!
for _ in $(seq 50); do
	tgtadm -C "$ctl" --lld iscsi --op show --mode target >/dev/null 2>&1 && break
	sleep 0.1
done
tgtadm -C "$ctl" --lld iscsi --op new --mode target --tid 1 -T "$iqn"
tgtadm -C "$ctl" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$work/lun1.img"
tgtadm -C "$ctl" --lld iscsi --op bind --mode target --tid 1 -I ALL
url="iscsi://$portal/$iqn/1"

# lunar_io RW BS QD: prints "IOPS MiB/s"
lunar_io() {
	"$lunar" initiator bench "$portal" --target "$iqn" --lun 1 --rw "$1" --bs "$2" --qd "$3" \
		--duration "${seconds}s" -o json | jq -r '.[0] | "\(.iops | round) \(.mib_per_s * 10 | round / 10)"'
}

# libiscsi_io BLOCKS QD [-r]: prints "IOPS MiB/s" from iscsi-perf's final line
libiscsi_io() {
	local blocks=$1 qd=$2 rnd=${3:-}
	local out
	out=$(timeout -s INT "$seconds" iscsi-perf $rnd -m "$qd" -b "$blocks" "$url" 2>&1 || true)
	echo "$out" >>"$work/iscsi-perf.log"
	# Its progress lines: "... iops average N (M MB/s) ..." once a second, M
	# in MiB/s (bytes / 2^20); the last one averages the whole run.
	echo "$out" | tr '\r' '\n' | grep -E 'iops average' | tail -1 |
		sed -E 's/.*iops average ([0-9.]+) \(([0-9.]+) MB\/s\).*/\1 \2/'
}

# lunar_login: prints µs per login+logout cycle
lunar_login() {
	"$lunar" initiator bench "$portal" --target "$iqn" --login-cycles "$cycles" -o json | jq -r '.[0].mean_us | round'
}

# libiscsi_login: µs per iscsi-inq run (login + INQUIRY + logout + process start)
libiscsi_login() {
	local t0 t1
	t0=$(date +%s%N)
	for _ in $(seq "$cycles"); do iscsi-inq "$url" >/dev/null; done
	t1=$(date +%s%N)
	echo $(((t1 - t0) / cycles / 1000))
}

declare -a l4k_iops p4k_iops l128_mib p128_mib llog plog
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	read -r a _ < <(lunar_io randread 4K 32); l4k_iops+=("$a")
	read -r a _ < <(libiscsi_io 8 32 -r); p4k_iops+=("$a")
	read -r _ b < <(lunar_io read 128K 8); l128_mib+=("$b")
	read -r _ b < <(libiscsi_io 256 8); p128_mib+=("$b")
	llog+=("$(lunar_login)")
	plog+=("$(libiscsi_login)")
	echo "  lunar 4K ${l4k_iops[-1]} IOPS, libiscsi ${p4k_iops[-1]}; 128K ${l128_mib[-1]} vs ${p128_mib[-1]} MiB/s; login ${llog[-1]} vs ${plog[-1]} µs" >&2
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }

m1=$(median "${l4k_iops[@]}") n1=$(median "${p4k_iops[@]}")
m2=$(median "${l128_mib[@]}") n2=$(median "${p128_mib[@]}")
m3=$(median "${llog[@]}") n3=$(median "${plog[@]}")

echo
echo "machine: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(go version | cut -d' ' -f3); $(tgtd --version 2>/dev/null | head -1 || echo tgtd)"
echo "target: tgtd on $portal, LUN 1 = 1 GiB file; $rounds interleaved rounds of ${seconds}s, $cycles login cycles; medians"
echo
{
	printf 'TEST\tLUNAR\tLIBISCSI\tLUNAR/LIBISCSI\tBETTER\n'
	printf '4 KiB random read QD32 (IOPS)\t%.0f\t%.0f\t%s\thigher\n' "$m1" "$n1" "$(ratio "$m1" "$n1")"
	printf '128 KiB sequential read QD8 (MiB/s)\t%.1f\t%.1f\t%s\thigher\n' "$m2" "$n2" "$(ratio "$m2" "$n2")"
	printf 'login+logout (µs/cycle; libiscsi = iscsi-inq: also INQUIRY + process start)\t%.0f\t%.0f\t%s\tlower\n' "$m3" "$n3" "$(ratio "$m3" "$n3")"
} | column -t -s $'\t'
