#!/usr/bin/env bash
# bench-target.sh — compare lunar's iSCSI target with tgtd and gotgt v0.2.2.
#
# The three targets serve a LUN of the same size (a file each, in one
# temporary directory, all with the same random content so reads hit real
# blocks) on loopback. Rounds are interleaved (lunar, tgt, gotgt, lunar,
# tgt, gotgt, ...) so that drift in the machine's load affects all alike.
# Workloads:
#
#   randread-4k   libiscsi iscsi-perf, 4 KiB random reads, queue depth 32
#   randwrite-4k  qemu-img bench through qemu's libiscsi driver, 4 KiB
#                 writes at queue depth 32, scattered over the whole LUN
#                 (qemu-img bench has no random mode: its step is an odd
#                 multiple of 4 KiB, so offsets visit every 4 KiB block
#                 in a scattered order)
#   seqread-128k  iscsi-perf, 128 KiB sequential reads, queue depth 8
#   login         repeated iscsi-inq (connect, login, INQUIRY, logout, one
#                 process per call): median wall time of one call
#   long-randread one longer randread-4k run per target (--long seconds):
#                 does the target keep answering?
#
# gotgt (bench/gotgt, a minimal main around github.com/gostor/gotgt
# v0.2.2) keeps process-wide state and is known to stop answering about
# 5 s into a libiscsi session (it never advances CmdSN after a
# non-immediate NOP-Out), so every gotgt measurement gets a fresh gotgt
# process, shorter rounds (--gotgt-seconds) and a timeout; a run that
# stalls is reported as "hung after N s", a process that dies as
# "crashed". The script itself never hangs on a peer.
#
# It prints the machine's description, then per workload the median of
# each target, the best peer and lunar's ratio to it (above 1: lunar is
# better). It is a benchmark, not a test: it never fails on a slow result.
#
# Usage: scripts/bench-target.sh [--rounds N] [--seconds S] [--size SIZE] [--json FILE]
#          [--gotgt-seconds S] [--logins N] [--long S] [--no-gotgt]
#
#   --rounds N          rounds per target and workload (default 5)
#   --seconds S         length of one lunar or tgt round in seconds (default 5)
#   --size SIZE         LUN size for every target, with unit M or G (default 1G)
#   --json FILE         also write every round and the medians as JSON to FILE
#   --gotgt-seconds S   length of one gotgt round (default 3, at most --seconds)
#   --logins N          iscsi-inq calls per login round (default 20)
#   --long S            length of the long-randread run, 0 to skip (default 10)
#   --no-gotgt          measure lunar and tgt only
#
# It needs root for tgtd and installs the Debian packages tgt,
# libiscsi-bin, qemu-utils and qemu-block-extra when they are missing; it
# builds gotgt with Go from bench/ (the Go module proxy must be reachable
# the first time). Every process it starts and every file it creates is
# removed on exit.
set -euo pipefail

rounds=5
seconds=5
size=1G
json=""
gotgt_seconds=3
logins=20
long=10
with_gotgt=1

usage() {
	sed -n '/^# Usage:/,/^#   --no-gotgt/p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
	--seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
	--size) size=${2:?--size needs a size like 1G}; shift 2 ;;
	--json) json=${2:?--json needs a file name}; shift 2 ;;
	--gotgt-seconds) gotgt_seconds=${2:?--gotgt-seconds needs a number}; shift 2 ;;
	--logins) logins=${2:?--logins needs a number}; shift 2 ;;
	--long) long=${2:?--long needs a number}; shift 2 ;;
	--no-gotgt) with_gotgt=0; shift ;;
	-h | --help) usage 0 ;;
	*) echo "bench-target: unknown argument $1" >&2; usage 2 ;;
	esac
done
case "$rounds$seconds$gotgt_seconds$logins$long" in *[!0-9]*) echo "bench-target: --rounds, --seconds, --gotgt-seconds, --logins and --long take whole numbers" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] && [ "$seconds" -ge 2 ] || { echo "bench-target: want --rounds >= 1 and --seconds >= 2" >&2; exit 2; }
[ "$gotgt_seconds" -ge 2 ] && [ "$logins" -ge 1 ] || { echo "bench-target: want --gotgt-seconds >= 2 and --logins >= 1" >&2; exit 2; }
[ "$gotgt_seconds" -le "$seconds" ] || gotgt_seconds=$seconds
[ "$long" -eq 0 ] || [ "$long" -ge 2 ] || { echo "bench-target: want --long 0 or >= 2" >&2; exit 2; }
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
for cmd in tgtd tgtadm iscsi-perf iscsi-inq qemu-img go timeout; do
	command -v "$cmd" >/dev/null || die "$cmd not found in PATH"
done

# --- state and cleanup ----------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-target.XXXXXX")
lunar_pid=""
tgtd_pid=""
tgt_ctl=""
gotgt_pid=""
gotgt_port=""

# stop_pid sends a signal to one process we started, waits up to 10 s for
# it to exit, and kills it if it did not.
stop_pid() {
	local pid=$1 sig=$2
	kill "-$sig" "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
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
	if [ -n "$gotgt_pid" ]; then
		stop_pid "$gotgt_pid" INT
	fi
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

# free_port prints a TCP port on 127.0.0.1 that nothing listens on and
# that this script has not handed out before (it runs in $(...), so the
# ports handed out are kept in a file).
touch "$tmp/ports"
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		! grep -qx "$p" "$tmp/ports" || continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p" >>"$tmp/ports"
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
gotgt_version=v0.2.2

# --- lunar ----------------------------------------------------------------

perf_init=iqn.2026-01.org.lunar:bench-perf
qemu_init=iqn.2026-01.org.lunar:bench-qemu

log "building lunar"
(cd "$repo" && go build -o "$tmp/lunar" ./cmd/lunar) || die "go build ./cmd/lunar failed"
targets=(lunar tgt)
if [ "$with_gotgt" = 1 ]; then
	log "building gotgt $gotgt_version (bench/gotgt)"
	(cd "$repo/bench" && go build -o "$tmp/gotgt" ./gotgt) || die "go build ./gotgt in bench/ failed"
	gotgt_version=$(cd "$repo/bench" && go list -m -f '{{.Version}}' github.com/gostor/gotgt)
	targets+=(gotgt)
fi

lunar_port=$(free_port)
lunar_api_port=$(free_port)
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
gotgt_file="$tmp/gotgt-lun.img"
log "writing $size of random data into the LUN files"
truncate -s "$size_bytes" "$tgt_file"
dd if=/dev/urandom of="$tgt_file" bs=1M count=$((size_bytes / 1048576)) conv=notrunc,fsync status=none
# Nothing does I/O on the lunar LUN yet: write its file in place.
dd if="$tgt_file" of="$lunar_file" bs=1M conv=notrunc,fsync status=none
if [ "$with_gotgt" = 1 ]; then
	dd if="$tgt_file" of="$gotgt_file" bs=1M conv=fsync status=none
fi
tadm --op new --mode target --tid 1 -T "$tgt_iqn"
tadm --op new --mode logicalunit --tid 1 --lun "$tgt_lun" -b "$tgt_file"
tadm --op bind --mode target --tid 1 -I ALL

lunar_url="iscsi://127.0.0.1:$lunar_port/$lunar_iqn/$lunar_lun"
tgt_url="iscsi://127.0.0.1:$tgt_port/$tgt_iqn/$tgt_lun"

# --- gotgt: one process per measurement -------------------------------------

gotgt_iqn=iqn.2026-01.org.lunar:bench-gotgt
gotgt_lun=0

# gotgt_start starts a fresh gotgt on a new port and waits until it
# listens; it returns non-zero when gotgt does not come up.
gotgt_start() {
	gotgt_port=$(free_port)
	"$tmp/gotgt" -file "$gotgt_file" -portal "127.0.0.1:$gotgt_port" -iqn "$gotgt_iqn" -lun "$gotgt_lun" \
		-log warn >>"$tmp/gotgt.log" 2>&1 &
	gotgt_pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$gotgt_port") 2>/dev/null && return 0
		kill -0 "$gotgt_pid" 2>/dev/null || break
		sleep 0.05
	done
	log "gotgt did not start listening on 127.0.0.1:$gotgt_port"
	gotgt_stop
	return 1
}

# gotgt_stop stops the running gotgt; it sets gotgt_crashed to 1 when
# gotgt had already exited by itself, else to 0.
gotgt_crashed=0
gotgt_stop() {
	local pid=$gotgt_pid
	gotgt_pid=""
	gotgt_crashed=0
	[ -n "$pid" ] || return 0
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid" 2>/dev/null || true
		gotgt_crashed=1
		log "gotgt exited by itself: $(grep -m1 -E 'panic|fatal|SIG' "$tmp/gotgt.log" || tail -n1 "$tmp/gotgt.log")"
		return 0
	fi
	stop_pid "$pid" INT
}

# --- workloads --------------------------------------------------------------
#
# Every measurement prints one token: a number (IOPS, or microseconds for
# the login row) or a failure: hung@N (stopped answering after N s),
# stalled@N (no completion within a N s limit), crashed, failed.

# perf_run URL SECONDS MAXREQ BLOCKS [-r]: iscsi-perf for SECONDS; prints
# the average IOPS it reports, or hung@N when its once-a-second progress
# lines stopped (iscsi-perf prints them only as commands complete).
perf_run() {
	local url=$1 secs=$2 qd=$3 blocks=$4 rc=0 tok
	shift 4
	timeout -k 3 -s INT "$secs" iscsi-perf -i "$perf_init" -m "$qd" -b "$blocks" "$@" "$url" \
		>"$tmp/perf.out" 2>&1 || rc=$?
	tok=$(tr '\r' '\n' <"$tmp/perf.out" | awk -v want="$secs" -v killed="$([ "$rc" = 137 ] && echo 1 || echo 0)" '
		/iops average [0-9]/ {
			split($1, hms, ":"); t = hms[1] * 3600 + hms[2] * 60 + hms[3]
			match($0, /iops average [0-9]+/); avg = substr($0, RSTART + 13, RLENGTH - 13)
			if (n > 0 && t > last + 2 && hung == "") hung = last
			last = t; n++; lastavg = avg
		}
		END {
			if (n == 0) { print "none"; exit }
			if (hung == "" && (killed || last < want - 2)) hung = last
			if (hung != "") print "hung@" hung; else print lastavg
		}')
	if [ "$tok" = none ]; then
		if [ "$rc" = 137 ] || [ "$rc" = 124 ] && ! grep -qi 'fail\|error\|refused' "$tmp/perf.out"; then
			tok="hung@0"
		else
			log "iscsi-perf on $url: $(tr '\r' '\n' <"$tmp/perf.out" | grep -v '^ *$' | tail -n2 | tr '\n' ' ')"
			tok=failed
		fi
	fi
	[ "$rc" != 137 ] || case "$tok" in hung@*) ;; *) tok="hung@$secs" ;; esac
	echo "$tok"
}

# write_step is an odd number of 4 KiB blocks, about 0.4 of the LUN: the
# offsets it visits modulo the LUN's size cover every block, scattered.
write_step=$(( (size_bytes / 4096 * 2 / 5) | 1 ))
write_step=$((write_step * 4096))

# qemu_run PORT IQN LUN COUNT LIMIT: COUNT 4 KiB writes at QD32 through
# qemu's libiscsi driver, within LIMIT seconds; prints the IOPS from the
# run time qemu-img reports, or stalled@LIMIT.
qemu_run() {
	local port=$1 iqn=$2 lun=$3 count=$4 limit=$5 rc=0 secs
	timeout -k 3 "$limit" qemu-img bench -w -t none -d 32 -s 4096 -S "$write_step" -c "$count" --image-opts \
		"driver=iscsi,transport=tcp,portal=127.0.0.1:$port,target=$iqn,lun=$lun,initiator-name=$qemu_init" \
		>"$tmp/qemu.out" 2>&1 || rc=$?
	case "$rc" in
	0) ;;
	124 | 137) echo "stalled@$limit"; return ;;
	*) log "qemu-img bench on 127.0.0.1:$port: $(tail -n2 "$tmp/qemu.out" | tr '\n' ' ')"; echo failed; return ;;
	esac
	secs=$(sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' "$tmp/qemu.out")
	[ -n "$secs" ] || { log "qemu-img bench printed no run time: $(cat "$tmp/qemu.out")"; echo failed; return; }
	awk -v c="$count" -v s="$secs" 'BEGIN { printf "%d\n", (s > 0 ? c / s : 0) }'
}

# login_run URL: $logins iscsi-inq calls one after another; prints the
# median wall time of one call in microseconds, or failed@K (K calls
# failed or timed out).
login_run() {
	local url=$1 t0 t1 fails=0 times=()
	for _ in $(seq "$logins"); do
		t0=${EPOCHREALTIME/./}
		if timeout -k 1 5 iscsi-inq -i "$perf_init" "$url" >/dev/null 2>&1; then
			t1=${EPOCHREALTIME/./}
			times+=($((t1 - t0)))
		else
			fails=$((fails + 1))
		fi
	done
	if [ "$fails" -gt 0 ]; then
		echo "failed@$fails"
	else
		printf '%s\n' "${times[@]}" | median
	fi
}

# median reads whole numbers, one a line or separated by blanks, and
# prints their median; words that are not numbers are skipped.
median() { tr ' ' '\n' | { grep -E '^[0-9]+$' || true; } | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_one WORKLOAD TARGET: one measurement; sets tok to its token. It
# runs in the script's own shell (not in $(...)) so that the gotgt it
# starts is this shell's child and the exit trap knows it.
tok=""
run_one() {
	local w=$1 t=$2 url port iqn lun secs=$seconds count=$write_count
	case "$t" in
	lunar) url=$lunar_url port=$lunar_port iqn=$lunar_iqn lun=$lunar_lun ;;
	tgt) url=$tgt_url port=$tgt_port iqn=$tgt_iqn lun=$tgt_lun ;;
	gotgt)
		gotgt_start || { tok=failed; return 0; }
		port=$gotgt_port iqn=$gotgt_iqn lun=$gotgt_lun
		url="iscsi://127.0.0.1:$port/$iqn/$lun"
		secs=$gotgt_seconds count=$gotgt_write_count
		;;
	esac
	case "$w" in
	randread-4k) tok=$(perf_run "$url" "$secs" 32 8 -r) ;;
	randwrite-4k) tok=$(qemu_run "$port" "$iqn" "$lun" "$count" $((secs * 4 + 10))) ;;
	seqread-128k) tok=$(perf_run "$url" "$secs" 8 256) ;;
	long-randread) tok=$(perf_run "$url" "$long" 32 8 -r) ;;
	login) tok=$(login_run "$url") ;;
	esac
	if [ "$t" = gotgt ]; then
		gotgt_stop
		if [ "$gotgt_crashed" = 1 ]; then
			case "$tok" in *[!0-9]*) tok=crashed ;; *) log "gotgt crashed after a complete $w run" ;; esac
		fi
	fi
	return 0
}

workloads=(randread-4k randwrite-4k seqread-128k login)
declare -A wl_bytes=([randread-4k]=4096 [randwrite-4k]=4096 [seqread-128k]=131072 [login]=0 [long-randread]=4096)
declare -A wl_desc=(
	[randread-4k]="4 KiB random read, QD32 (iscsi-perf)"
	[randwrite-4k]="4 KiB scattered write, QD32 (qemu-img bench)"
	[seqread-128k]="128 KiB sequential read, QD8 (iscsi-perf)"
	[login]="iscsi-inq: connect, login, INQUIRY, logout (one process per call)"
	[long-randread]="4 KiB random read, QD32, one ${long} s run (iscsi-perf)"
)

# Warm up every target (and check that it answers), and size the write
# rounds: the same number of writes for lunar and tgt, about $seconds
# seconds on the faster of the two; gotgt gets about 3/4 of
# $gotgt_seconds seconds of writes at its own warm-up rate, so that its
# rounds end before it stalls.
log "warming up"
perf_run "$lunar_url" 2 32 8 -r >/dev/null
perf_run "$tgt_url" 2 32 8 -r >/dev/null
w1=$(qemu_run "$lunar_port" "$lunar_iqn" "$lunar_lun" 20000 60)
w2=$(qemu_run "$tgt_port" "$tgt_iqn" "$tgt_lun" 20000 60)
case "$w1$w2" in *[!0-9]*) die "warm-up writes failed: lunar $w1, tgt $w2" ;; esac
fast=$((w1 > w2 ? w1 : w2))
write_count=$((fast * seconds))
[ "$write_count" -ge 20000 ] || write_count=20000
gotgt_write_count=0
if [ "$with_gotgt" = 1 ]; then
	gotgt_write_count=5000
	if gotgt_start; then
		g=$(perf_run "iscsi://127.0.0.1:$gotgt_port/$gotgt_iqn/$gotgt_lun" 2 32 8 -r)
		gotgt_stop
		log "gotgt warm-up read: $g"
	fi
	if gotgt_start; then
		g=$(qemu_run "$gotgt_port" "$gotgt_iqn" "$gotgt_lun" 5000 15)
		gotgt_stop
		log "gotgt warm-up write: $g"
		case "$g" in *[!0-9]*) ;; *) gotgt_write_count=$((g * gotgt_seconds * 3 / 4)) ;; esac
	fi
	[ "$gotgt_write_count" -ge 2000 ] || gotgt_write_count=2000
fi
log "write rounds: $write_count writes each for lunar and tgt, $gotgt_write_count for gotgt"

declare -A results
for w in "${workloads[@]}"; do
	for r in $(seq "$rounds"); do
		for t in "${targets[@]}"; do
			run_one "$w" "$t"
			results[$w,$t]="${results[$w,$t]:-} $tok"
			log "$w round $r/$rounds $t: $tok"
		done
	done
done
if [ "$long" -gt 0 ]; then
	workloads+=(long-randread)
	for t in "${targets[@]}"; do
		run_one long-randread "$t"
		results[long-randread,$t]=" $tok"
		log "long-randread ${long}s $t: $tok"
	done
fi

# --- report ---------------------------------------------------------------

mib() { awk -v i="$1" -v b="$2" 'BEGIN { printf "%.1f", i * b / 1048576 }'; }

# cell WORKLOAD TARGET: prints "median|display" for one table cell. The
# display is the median (IOPS and MiB/s, or ms for the login row) when at
# least one round gave a number, with the failed rounds named; else the
# failure itself ("hung after 5 s", "crashed", ...).
cell() {
	local w=$1 t=$2 toks m n fails disp first
	toks=${results[$w,$t]:-}
	m=$(echo "$toks" | median)
	n=$(echo "$toks" | wc -w)
	fails=$(echo "$toks" | tr ' ' '\n' | grep -E '.' | grep -cvE '^[0-9]+$' || true)
	if [ -n "$m" ]; then
		if [ "$w" = login ]; then
			disp="$(awk -v u="$m" 'BEGIN { printf "%.2f ms", u / 1000 }')"
		else
			disp="$m ($(mib "$m" "${wl_bytes[$w]}") MiB/s)"
		fi
		[ "$fails" -eq 0 ] || disp="$disp, $fails/$n rounds failed"
	else
		first=$(echo "$toks" | tr ' ' '\n' | grep -E '.' | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }' || true)
		case "$first" in
		hung@*) disp="hung after ${first#hung@} s" ;;
		stalled@*) disp="hung (no completion in ${first#stalled@} s)" ;;
		failed@*) disp="${first#failed@}/$logins logins failed" ;;
		crashed) disp=crashed ;;
		*) disp=failed ;;
		esac
		[ "$n" -le 1 ] || disp="$disp ($n/$n rounds)"
	fi
	echo "$m|$disp"
}

declare -A med disp best ratio
for w in "${workloads[@]}"; do
	best[$w]="" ratio[$w]="n/a"
	bv=""
	for t in "${targets[@]}"; do
		c=$(cell "$w" "$t")
		med[$w,$t]=${c%%|*}
		disp[$w,$t]=${c#*|}
		[ "$t" != lunar ] && [ -n "${med[$w,$t]}" ] || continue
		if [ -z "$bv" ] || { [ "$w" = login ] && [ "${med[$w,$t]}" -lt "$bv" ]; } ||
			{ [ "$w" != login ] && [ "${med[$w,$t]}" -gt "$bv" ]; }; then
			bv=${med[$w,$t]} best[$w]=$t
		fi
	done
	ml=${med[$w,lunar]}
	if [ -n "$bv" ] && [ -n "$ml" ] && [ "$ml" -gt 0 ]; then
		if [ "$w" = login ]; then
			ratio[$w]=$(awk -v a="$bv" -v b="$ml" 'BEGIN { printf "%.2f", a / b }')
		else
			ratio[$w]=$(awk -v a="$ml" -v b="$bv" 'BEGIN { printf "%.2f", a / b }')
		fi
	fi
done

fs=$(df -T "$tmp" | awk 'NR == 2 {print $2}')
echo "lunar vs tgt vs gotgt — iSCSI target benchmark on 127.0.0.1"
echo "machine:  $machine_nproc cores, $cpu, Linux $machine_kernel, $machine_go"
echo "peers:    tgt $tgt_version, gotgt $gotgt_version$([ "$with_gotgt" = 1 ] || echo ' (not run)'), libiscsi $libiscsi_version, qemu-img $qemu_version"
echo "LUN:      $size ($size_bytes bytes, 512-byte blocks, one file per target on $fs, same random content)"
echo "rounds:   $rounds per target and workload, interleaved; ${seconds}s each (gotgt: ${gotgt_seconds}s, a fresh process per round); medians"
echo "writes:   $write_count per round for lunar and tgt, $gotgt_write_count for gotgt; login: $logins iscsi-inq calls per round"
echo "ratio:    lunar against the best peer, above 1 means lunar is better (IOPS: lunar/peer; login: peer/lunar)"
echo
hdr=(workload "${targets[@]}" "best peer" "lunar/best")
row_fmt='%-14s'
for _ in "${targets[@]}"; do row_fmt="$row_fmt | %-26s"; done
row_fmt="$row_fmt | %-9s | %s\n"
# shellcheck disable=SC2059
printf "$row_fmt" "${hdr[@]}"
for w in "${workloads[@]}"; do
	cells=()
	for t in "${targets[@]}"; do cells+=("${disp[$w,$t]}"); done
	# shellcheck disable=SC2059
	printf "$row_fmt" "$w" "${cells[@]}" "${best[$w]:--}" "${ratio[$w]}"
done
echo
for w in "${workloads[@]}"; do
	printf '%-14s %s\n' "$w" "${wl_desc[$w]}"
done

if [ -n "$json" ]; then
	jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
	jnum() { if [ -n "$1" ]; then printf '%s' "$1"; else printf null; fi; }
	{
		printf '{"machine":{"cpu":%s,"nproc":%d,"kernel":%s,"go":%s},' "$(jstr "$cpu")" "$machine_nproc" "$(jstr "$machine_kernel")" "$(jstr "$machine_go")"
		printf '"peers":{"tgt":%s,"gotgt":%s,"libiscsi":%s,"qemu":%s},' "$(jstr "$tgt_version")" "$(jstr "$gotgt_version")" \
			"$(jstr "$libiscsi_version")" "$(jstr "$qemu_version")"
		printf '"filesystem":%s,"lun_bytes":%d,"rounds":%d,"seconds":%d,"gotgt_seconds":%d,"long_seconds":%d,' \
			"$(jstr "$fs")" "$size_bytes" "$rounds" "$seconds" "$gotgt_seconds" "$long"
		printf '"write_count":%d,"gotgt_write_count":%d,"logins":%d,' "$write_count" "$gotgt_write_count" "$logins"
		printf '"targets":[%s],"workloads":[' "$(for t in "${targets[@]}"; do jstr "$t"; printf ,; done | sed 's/,$//')"
		sep=""
		for w in "${workloads[@]}"; do
			unit=iops better=higher
			[ "$w" != login ] || unit=us better=lower
			printf '%s{"name":%s,"description":%s,"unit":"%s","better":"%s","bytes_per_io":%d,"results":{' \
				"$sep" "$(jstr "$w")" "$(jstr "${wl_desc[$w]}")" "$unit" "$better" "${wl_bytes[$w]}"
			tsep=""
			for t in "${targets[@]}"; do
				rj=$(for tok in ${results[$w,$t]:-}; do case "$tok" in *[!0-9]*) jstr "$tok" ;; *) printf '%s' "$tok" ;; esac; printf ,; done | sed 's/,$//')
				mibj=null
				[ -z "${med[$w,$t]}" ] || [ "$w" = login ] || mibj=$(mib "${med[$w,$t]}" "${wl_bytes[$w]}")
				printf '%s%s:{"rounds":[%s],"median":%s,"median_mib_s":%s,"display":%s}' "$tsep" "$(jstr "$t")" "$rj" \
					"$(jnum "${med[$w,$t]}")" "$mibj" "$(jstr "${disp[$w,$t]}")"
				tsep=,
			done
			r=${ratio[$w]}
			[ "$r" != n/a ] || r=null
			printf '},"best_peer":%s,"ratio_to_best_peer":%s}' "$(if [ -n "${best[$w]}" ]; then jstr "${best[$w]}"; else printf null; fi)" "$r"
			sep=,
		done
		printf ']}\n'
	} >"$json"
	log "wrote $json"
fi
