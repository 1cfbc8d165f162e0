#!/usr/bin/env bash
# bench-target.sh — compare lunar's iSCSI target with tgtd on this machine.
#
# Both targets serve a LUN of the same size (a file in one temporary
# directory, filled with random data once so reads hit real blocks) on
# loopback. Rounds are interleaved (lunar, tgt, lunar, tgt, ...) so that
# drift in the machine's load affects both alike. Workloads:
#
#   randread-4k   libiscsi iscsi-perf, 4 KiB random reads, queue depth 32
#   randwrite-4k  qemu-img bench through qemu's libiscsi driver, 4 KiB
#                 writes at queue depth 32, scattered over the whole LUN
#                 (qemu-img bench has no random mode: its step is an odd
#                 multiple of 4 KiB, so offsets visit every 4 KiB block
#                 in a scattered order)
#   seqread-128k  iscsi-perf, 128 KiB sequential reads, queue depth 8
#
# It prints the machine's description, the median IOPS and MiB/s per
# target and workload, and the lunar/tgt ratio. It is a benchmark, not a
# test: it never fails on a slow result.
#
# Usage: scripts/bench-target.sh [--rounds N] [--seconds S] [--size SIZE] [--json FILE]
#
#   --rounds N    rounds per target and workload (default 5)
#   --seconds S   length of one round in seconds (default 5)
#   --size SIZE   LUN size for both targets, with unit M or G (default 1G)
#   --json FILE   also write every round and the medians as JSON to FILE
#
# It needs root for tgtd and installs the Debian packages tgt,
# libiscsi-bin, qemu-utils and qemu-block-extra when they are missing.
# Every process it starts and every file it creates is removed on exit.
set -euo pipefail

rounds=5
seconds=5
size=1G
json=""

usage() {
	sed -n '/^# Usage:/,/^#   --json/p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
	--size) size=${2:?--size needs a size like 1G}; shift 2 ;;
	--json) json=${2:?--json needs a file name}; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "bench-target: unknown argument $1" >&2; usage 2 ;;
	esac
done
case "$rounds$seconds" in *[!0-9]*) echo "bench-target: --rounds and --seconds take whole numbers" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$seconds" -ge 2 ] || { echo "bench-target: want --rounds >= 1 and --seconds >= 2" >&2; exit 2; }
case "$size" in
*[Gg]) size_bytes=$(( ${size%[Gg]} * 1024 * 1024 * 1024 )) ;;
*[Mm]) size_bytes=$(( ${size%[Mm]} * 1024 * 1024 )) ;;
*) echo "bench-target: --size wants a unit, M or G (e.g. 1G)" >&2; exit 2 ;;
esac
[ "$size_bytes" -ge $((64 * 1024 * 1024)) ] || { echo "bench-target: --size must be at least 64M" >&2; exit 2; }
if [ -n "$json" ]; then
	case "$json" in /*) ;; *) json="$PWD/$json" ;; esac
fi

log() { echo "bench-target: $*" >&2; }
die() { log "$*"; exit 1; }

repo=$(cd "$(dirname "$0")/.." && pwd)

# --- packages -------------------------------------------------------------

missing=()
for pkg in tgt libiscsi-bin qemu-utils qemu-block-extra; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || die "missing packages ${missing[*]}: run as root or install them"
	log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2; } ||
		die "could not install ${missing[*]}"
fi
for cmd in tgtd tgtadm iscsi-perf qemu-img go; do
	command -v "$cmd" >/dev/null || die "$cmd not found in PATH"
done

# --- state and cleanup ----------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-target.XXXXXX")
lunar_pid=""
tgtd_pid=""
tgt_ctl=""

# stop_pid sends a signal to one process we started, waits up to 10 s for
# it to exit, and kills it if it did not.
stop_pid() {
	local pid=$1 sig=$2
	kill "-$sig" "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "process $pid ignored SIG$sig; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$tgtd_pid" ]; then
		# tgtd ignores SIGTERM while it has targets: remove them, then
		# ask the daemon itself to exit.
		tgtadm -C "$tgt_ctl" --lld iscsi --op delete --mode target --tid 1 --force >/dev/null 2>&1 || true
		tgtadm -C "$tgt_ctl" --op delete --mode system >/dev/null 2>&1 || true
		stop_pid "$tgtd_pid" TERM
	fi
	if [ -n "$lunar_pid" ]; then
		stop_pid "$lunar_pid" INT
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free TCP port found"
}

# --- machine --------------------------------------------------------------

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
[ -n "$cpu" ] || cpu=$(uname -m)
machine_nproc=$(nproc)
machine_kernel=$(uname -r)
machine_go=$(go version | awk '{print $3}')
tgt_version=$(dpkg-query -W -f='${Version}' tgt)
libiscsi_version=$(dpkg-query -W -f='${Version}' libiscsi-bin)
qemu_version=$(dpkg-query -W -f='${Version}' qemu-utils)

# --- lunar ----------------------------------------------------------------

perf_init=iqn.2026-01.org.lunar:bench-perf
qemu_init=iqn.2026-01.org.lunar:bench-qemu

log "building lunar"
(cd "$repo" && go build -o "$tmp/lunar" ./cmd/lunar) || die "go build ./cmd/lunar failed"

lunar_port=$(free_port)
lunar_api_port=$(free_port)
while [ "$lunar_api_port" = "$lunar_port" ]; do lunar_api_port=$(free_port); done
mkdir -p "$tmp/lunar-data"
"$tmp/lunar" target serve --data "$tmp/lunar-data" --listen "127.0.0.1:$lunar_port" \
	--api "127.0.0.1:$lunar_api_port" --log-level warn >"$tmp/lunar.log" 2>&1 &
lunar_pid=$!
lcli() { "$tmp/lunar" --api "http://127.0.0.1:$lunar_api_port" --data "$tmp/lunar-data" --log-level warn "$@"; }
for _ in $(seq 100); do
	lcli lun list >/dev/null 2>&1 && break
	kill -0 "$lunar_pid" 2>/dev/null || { cat "$tmp/lunar.log" >&2; die "lunar target serve exited"; }
	sleep 0.1
done
lcli lun list >/dev/null || { cat "$tmp/lunar.log" >&2; die "lunar's API does not answer"; }
lcli lun create bench --size "$size" --block-size 512 >/dev/null
lcli igroup create bench "$perf_init" "$qemu_init" >/dev/null
lcli lun map bench --igroup bench --lun-id 0 >/dev/null
lunar_show=$(lcli lun show bench -o json)
lunar_iqn=$(printf '%s\n' "$lunar_show" | sed -n 's/^ *"target": "\([^"]*\)".*/\1/p' | head -n1)
lunar_file=$(printf '%s\n' "$lunar_show" | sed -n 's/^ *"path": "\([^"]*\)".*/\1/p' | head -n1)
[ -n "$lunar_iqn" ] && [ -f "$lunar_file" ] || die "cannot read the target IQN and file of the lunar LUN: $lunar_show"
lunar_lun=0

# --- tgt ------------------------------------------------------------------

tgt_port=$(free_port)
while [ "$tgt_port" = "$lunar_port" ] || [ "$tgt_port" = "$lunar_api_port" ]; do tgt_port=$(free_port); done
for _ in $(seq 200); do
	tgt_ctl=$((1000 + RANDOM % 30000))
	[ -e "/var/run/tgtd/socket.$tgt_ctl" ] || break
done
tgt_iqn=iqn.2026-01.org.lunar:bench-tgt
tgt_lun=1
tgtd -f -C "$tgt_ctl" --iscsi "portal=127.0.0.1:$tgt_port" >"$tmp/tgtd.log" 2>&1 &
tgtd_pid=$!
tadm() { tgtadm -C "$tgt_ctl" --lld iscsi "$@"; }
for _ in $(seq 100); do
	tadm --op show --mode target >/dev/null 2>&1 && break
	kill -0 "$tgtd_pid" 2>/dev/null || { cat "$tmp/tgtd.log" >&2; die "tgtd exited"; }
	sleep 0.1
done

# --- the LUN files: same size, same filesystem, same random content -------

tgt_file="$tmp/tgt-lun.img"
log "writing $size of random data into both LUN files"
truncate -s "$size_bytes" "$tgt_file"
dd if=/dev/urandom of="$tgt_file" bs=1M count=$((size_bytes / 1048576)) conv=notrunc,fsync status=none
# Nothing does I/O on the lunar LUN yet: write its file in place.
dd if="$tgt_file" of="$lunar_file" bs=1M conv=notrunc,fsync status=none
tadm --op new --mode target --tid 1 -T "$tgt_iqn"
tadm --op new --mode logicalunit --tid 1 --lun "$tgt_lun" -b "$tgt_file"
tadm --op bind --mode target --tid 1 -I ALL

lunar_url="iscsi://127.0.0.1:$lunar_port/$lunar_iqn/$lunar_lun"
tgt_url="iscsi://127.0.0.1:$tgt_port/$tgt_iqn/$tgt_lun"

# --- workloads ------------------------------------------------------------

# perf_run URL SECONDS MAXREQ BLOCKS [-r]: iscsi-perf for SECONDS, prints
# the average IOPS it reports.
perf_run() {
	local url=$1 secs=$2 qd=$3 blocks=$4 out iops
	shift 4
	out=$(timeout -s INT "$secs" iscsi-perf -i "$perf_init" -m "$qd" -b "$blocks" "$@" "$url" 2>&1 | tr '\r' '\n') || true
	iops=$(printf '%s\n' "$out" | sed -n 's/.*iops average \([0-9][0-9]*\) (.*/\1/p' | tail -n1)
	[ -n "$iops" ] || { printf '%s\n' "$out" >&2; die "iscsi-perf on $url reported no average"; }
	echo "$iops"
}

# write_step is an odd number of 4 KiB blocks, about 0.4 of the LUN: the
# offsets it visits modulo the LUN's size cover every block, scattered.
write_step=$(( (size_bytes / 4096 * 2 / 5) | 1 ))
write_step=$((write_step * 4096))

# qemu_run PORT IQN LUN COUNT: COUNT 4 KiB writes at QD32 through qemu's
# libiscsi driver; prints the IOPS from the run time qemu-img reports.
qemu_run() {
	local port=$1 iqn=$2 lun=$3 count=$4 out secs
	out=$(qemu-img bench -w -t none -d 32 -s 4096 -S "$write_step" -c "$count" --image-opts \
		"driver=iscsi,transport=tcp,portal=127.0.0.1:$port,target=$iqn,lun=$lun,initiator-name=$qemu_init" 2>&1) ||
		{ printf '%s\n' "$out" >&2; die "qemu-img bench on 127.0.0.1:$port failed"; }
	secs=$(printf '%s\n' "$out" | sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p')
	[ -n "$secs" ] || { printf '%s\n' "$out" >&2; die "qemu-img bench printed no run time"; }
	awk -v c="$count" -v s="$secs" 'BEGIN { printf "%d\n", (s > 0 ? c / s : 0) }'
}

# run_one WORKLOAD TARGET: one round, prints IOPS.
run_one() {
	local w=$1 t=$2 url port iqn lun
	if [ "$t" = lunar ]; then
		url=$lunar_url port=$lunar_port iqn=$lunar_iqn lun=$lunar_lun
	else
		url=$tgt_url port=$tgt_port iqn=$tgt_iqn lun=$tgt_lun
	fi
	case "$w" in
	randread-4k) perf_run "$url" "$seconds" 32 8 -r ;;
	randwrite-4k) qemu_run "$port" "$iqn" "$lun" "$write_count" ;;
	seqread-128k) perf_run "$url" "$seconds" 8 256 ;;
	esac
}

workloads=(randread-4k randwrite-4k seqread-128k)
declare -A wl_bytes=([randread-4k]=4096 [randwrite-4k]=4096 [seqread-128k]=131072)
declare -A wl_desc=(
	[randread-4k]="4 KiB random read, QD32 (iscsi-perf)"
	[randwrite-4k]="4 KiB scattered write, QD32 (qemu-img bench)"
	[seqread-128k]="128 KiB sequential read, QD8 (iscsi-perf)"
)

# Warm up both targets (and check that both answer), and size the write
# rounds: the same number of writes for both targets, about $seconds
# seconds on the faster of the two.
log "warming up"
perf_run "$lunar_url" 2 32 8 -r >/dev/null
perf_run "$tgt_url" 2 32 8 -r >/dev/null
w1=$(qemu_run "$lunar_port" "$lunar_iqn" "$lunar_lun" 20000)
w2=$(qemu_run "$tgt_port" "$tgt_iqn" "$tgt_lun" 20000)
fast=$((w1 > w2 ? w1 : w2))
write_count=$((fast * seconds))
[ "$write_count" -ge 20000 ] || write_count=20000
log "write rounds: $write_count writes each"

declare -A results
for w in "${workloads[@]}"; do
	for r in $(seq "$rounds"); do
		for t in lunar tgt; do
			iops=$(run_one "$w" "$t")
			results[$w,$t]="${results[$w,$t]:-} $iops"
			log "$w round $r/$rounds $t: $iops IOPS"
		done
	done
done

# --- report ---------------------------------------------------------------

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mib() { awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo "lunar vs tgt — iSCSI target benchmark on 127.0.0.1"
echo "machine:  $cpu, $machine_nproc CPUs, Linux $machine_kernel, $machine_go"
echo "peers:    tgt $tgt_version, libiscsi $libiscsi_version, qemu-img $qemu_version"
echo "LUN:      $size ($size_bytes bytes, 512-byte blocks, file on $(df -T "$tmp" | awk 'NR == 2 {print $2}'), filled with random data)"
echo "rounds:   $rounds per target and workload, interleaved, ~${seconds}s each; medians"
echo
printf '%-14s %12s %10s %12s %10s %10s\n' workload "lunar IOPS" "lunar MiB/s" "tgt IOPS" "tgt MiB/s" "lunar/tgt"
json_rows=()
for w in "${workloads[@]}"; do
	ml=$(echo "${results[$w,lunar]}" | median)
	mt=$(echo "${results[$w,tgt]}" | median)
	printf '%-14s %12d %10s %12d %10s %10s\n' "$w" "$ml" "$(mib "$ml" "${wl_bytes[$w]}")" \
		"$mt" "$(mib "$mt" "${wl_bytes[$w]}")" "$(ratio "$ml" "$mt")"
	json_rows+=("$(printf '{"name":"%s","description":"%s","bytes_per_io":%d,"lunar":{"rounds_iops":[%s],"median_iops":%d,"median_mib_s":%s},"tgt":{"rounds_iops":[%s],"median_iops":%d,"median_mib_s":%s},"ratio":%s}' \
		"$w" "${wl_desc[$w]}" "${wl_bytes[$w]}" \
		"$(echo ${results[$w,lunar]} | tr ' ' ',')" "$ml" "$(mib "$ml" "${wl_bytes[$w]}")" \
		"$(echo ${results[$w,tgt]} | tr ' ' ',')" "$mt" "$(mib "$mt" "${wl_bytes[$w]}")" \
		"$(ratio "$ml" "$mt")")")
done
echo
for w in "${workloads[@]}"; do
	printf '%-14s %s\n' "$w" "${wl_desc[$w]}"
done

if [ -n "$json" ]; then
	{
		printf '{"machine":{"cpu":"%s","nproc":%d,"kernel":"%s","go":"%s"},' "$cpu" "$machine_nproc" "$machine_kernel" "$machine_go"
		printf '"peers":{"tgt":"%s","libiscsi":"%s","qemu":"%s"},' "$tgt_version" "$libiscsi_version" "$qemu_version"
		printf '"lun_bytes":%d,"rounds":%d,"seconds":%d,"write_count":%d,"workloads":[' "$size_bytes" "$rounds" "$seconds" "$write_count"
		(IFS=,; printf '%s' "${json_rows[*]}")
		printf ']}\n'
	} >"$json"
	log "wrote $json"
fi
