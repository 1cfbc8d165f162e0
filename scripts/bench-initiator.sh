#!/usr/bin/env bash
# bench-initiator.sh: lunar's initiator against libiscsi's tools on the same
# tgtd LUN, in interleaved rounds; prints medians and lunar/libiscsi ratios.
#
#   scripts/bench-initiator.sh [--rounds N] [--seconds S] [--cycles C] [--port P]
#                              [--portal HOST:PORT --iqn IQN] [--baseline LUNAR-BINARY]
#                              [--baseline-flags "FLAGS"]
#
# The portal port defaults to a free one; tgtd's control port is 900 + PID % 99.
# With --portal and --iqn it starts no tgtd and uses that target's LUN 1.
# With --baseline BIN, every round also runs BIN (an earlier build of lunar)
# for the lunar rows, and the table gets a BASELINE column. --baseline-flags
# adds flags to the baseline's "lunar initiator bench" runs; without
# --baseline the baseline is this build, so that --baseline-flags
# --busy-poll=false shows lunar with and without polling for its answers.
#
# lunar's I/O rows use "lunar initiator bench" with its default --api async
# (Session.Start: each completion callback issues the next command), as
# iscsi-perf drives libiscsi's asynchronous API from one thread, and its
# default --buffers shared (reads land in one scratch buffer), as libiscsi
# reads each Data-In segment iscsi-perf asks for into a recycled allocation
# and discards it.
#
# Within a round, lunar runs first in odd rounds and libiscsi first in
# even ones; an odd --rounds gets one round more, so that each side runs
# first equally often.
#
# Each row gives medians, their ratio and in how many rounds lunar did
# better than libiscsi in the same round (LUNAR AHEAD). Besides IOPS and
# MiB/s it reports, for each side, the CPU time its process used per
# command (user+sys over commands, from GNU time) and its context
# switches per command (voluntary+involuntary): both are less sensitive to
# a noisy machine than wall-clock rates. The login row's libiscsi peer is
# scripts/libiscsi-login-bench.c, built here with gcc: N connect+login+logout
# cycles in one process, as lunar's --login-cycles does.
#
# Needs tgtd/tgtadm (Debian tgt), iscsi-perf (libiscsi-bin), gcc and
# libiscsi-dev, and GNU time (/usr/bin/time).
set -euo pipefail

rounds=4 seconds=10 cycles=200 port='' ext_portal='' ext_iqn='' baseline='' baseline_flags=''
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--seconds) seconds=$2; shift 2 ;;
	--cycles) cycles=$2; shift 2 ;;
	--port) port=$2; shift 2 ;;
	--portal) ext_portal=$2; shift 2 ;;
	--iqn) ext_iqn=$2; shift 2 ;;
	--baseline) baseline=$2; shift 2 ;;
	--baseline-flags) baseline_flags=$2; shift 2 ;;
	-h|--help) sed -n 2,38p "$0"; exit 0 ;;
	*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
[[ $rounds =~ ^[0-9]+$ ]] && [ "$rounds" -ge 1 ] || { echo "--rounds $rounds: want a whole number of at least 1" >&2; exit 2; }
if [ $((rounds % 2)) -eq 1 ]; then
	rounds=$((rounds + 1))
	echo "bench-initiator: $rounds rounds, one more than asked, so that lunar and libiscsi each run first in half of them" >&2
fi
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 2 ] || { echo "--seconds $seconds: want a whole number of at least 2 (iscsi-perf reports its average once a second)" >&2; exit 2; }
for t in tgtd tgtadm iscsi-perf gcc go jq python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "missing $t: install tgt, libiscsi-bin, libiscsi-dev, gcc, time, jq, python3 and Go" >&2; exit 1; }
done
[ -f /usr/include/iscsi/iscsi.h ] || { echo "missing iscsi/iscsi.h: install libiscsi-dev" >&2; exit 1; }

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
if [ -n "$baseline_flags" ] && [ -z "$baseline" ]; then
	baseline=$lunar
fi
gcc -O2 -o "$work/libiscsi-login-bench" "$root/scripts/libiscsi-login-bench.c" -liscsi

if [ -n "$ext_portal" ]; then
	portal=$ext_portal iqn=${ext_iqn:?--portal needs --iqn}
else
	echo "creating a 1 GiB backing file..." >&2
	head -c $((1 << 30)) /dev/urandom >"$work/lun1.img"
	# Written back now, and read twice through the page cache (which
	# marks its pages active), so that the first round's runs do neither:
	# without this, the first 128 KiB run of the first round (lunar's)
	# was the slowest of all, at about half the others' rate.
	sync "$work/lun1.img"
	cat "$work/lun1.img" "$work/lun1.img" >/dev/null

	tgtd -f -C "$ctl" --iscsi portal="$portal" >"$work/tgtd.log" 2>&1 &
	tgtpid=$!
	for _ in $(seq 50); do
		tgtadm -C "$ctl" --lld iscsi --op show --mode target >/dev/null 2>&1 && break
		sleep 0.1
	done
	tgtadm -C "$ctl" --lld iscsi --op new --mode target --tid 1 -T "$iqn"
	tgtadm -C "$ctl" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$work/lun1.img"
	tgtadm -C "$ctl" --lld iscsi --op bind --mode target --tid 1 -I ALL
fi
url="iscsi://$portal/$iqn/1"

# timed FILE CMD...: runs CMD under GNU time, which writes
# "user sys voluntary involuntary" to FILE.
timed() {
	local f=$1
	shift
	/usr/bin/time -f '%U %S %w %c' -o "$f" "$@"
}

# cost OPS FILE: prints "CPU-µs-per-command context-switches-per-command"
# from a timed run's FILE.
cost() {
	# The last line: GNU time puts "Command exited with non-zero status"
	# first when the command failed (timeout's 124 for iscsi-perf).
	awk -v n="$1" 'END { if (n > 0) printf "%.2f %.3f\n", ($1 + $2) * 1e6 / n, ($3 + $4) / n; else print "0 0" }' "$2"
}

# lunar_io BIN RW BS QD [FLAGS...]: prints "IOPS MiB/s CPU-µs/cmd switches/cmd"
lunar_io() {
	local js bin=$1
	shift
	js=$(timed "$work/time" "$bin" initiator bench "$portal" --target "$iqn" --lun 1 --rw "$1" --bs "$2" --qd "$3" \
		--duration "${seconds}s" "${@:4}" -o json)
	echo "$js" | jq -r '.[0] | "\(.iops | round) \(.mib_per_s * 10 | round / 10)"' | tr '\n' ' '
	cost "$(echo "$js" | jq -r '.[0].ops')" "$work/time"
}

# libiscsi_io BLOCKS QD [-r]: prints "IOPS MiB/s CPU-µs/cmd switches/cmd"
# from iscsi-perf's last progress line
libiscsi_io() {
	local blocks=$1 qd=$2 rnd=${3:-}
	local out line iops
	out=$(timed "$work/time" timeout -s INT "$seconds" iscsi-perf ${rnd:+"$rnd"} -m "$qd" -b "$blocks" "$url" 2>&1 || true)
	echo "$out" >>"$work/iscsi-perf.log"
	# Its progress lines: "... iops average N (M MB/s) ..." once a second, M
	# in MiB/s (bytes / 2^20); the last one averages the whole run so far.
	# The commands it ran are about the average times the run's length.
	line=$(echo "$out" | tr '\r' '\n' | grep -E 'iops average' | tail -1 |
		sed -E 's/.*iops average ([0-9.]+) \(([0-9.]+) MB\/s\).*/\1 \2/')
	if [ -z "$line" ]; then
		# A subshell's exit would end only the subshell: say why here.
		echo "bench-initiator: iscsi-perf printed no average in ${seconds}s (it prints one a second: use --seconds 2 or more); its output is in $work/iscsi-perf.log" >&2
		exit 1
	fi
	iops=${line%% *}
	echo -n "$line "
	cost "$(awk -v i="$iops" -v s="$seconds" 'BEGIN { printf "%.0f", i * s }')" "$work/time"
}

# lunar_login BIN [FLAGS...]: prints "µs-per-cycle CPU-µs-per-cycle switches-per-cycle"
lunar_login() {
	local us
	us=$(timed "$work/time" "$1" initiator bench "$portal" --target "$iqn" --login-cycles "$cycles" "${@:2}" -o json | jq -r '.[0].mean_us | round')
	echo "$us $(cost "$cycles" "$work/time")"
}

# libiscsi_login: prints "µs-per-cycle CPU-µs-per-cycle switches-per-cycle":
# connect, login, logout and disconnect, in one process
libiscsi_login() {
	local us
	us=$(timed "$work/time" "$work/libiscsi-login-bench" "$portal" "$iqn" "$cycles")
	echo "$us $(cost "$cycles" "$work/time")"
}

declare -a l4k p4k b4k l4kc p4kc b4kc l4ks p4ks b4ks l128 p128 b128 l128c p128c b128c l128s p128s b128s
declare -a llog plog blog llogc plogc blogc llogs plogs blogs
# keep NAME K CMD...: runs CMD, which prints its measures and then CPU
# µs and context switches per command (or cycle), and appends its K-th
# field (from 0) to the array NAME, its CPU to NAMEc and its switches to
# NAMEs.
keep() {
	local -n v=$1 c=${1}c s=${1}s
	local k=$2 f
	shift 2
	read -r -a f < <("$@")
	v+=("${f[k]}")
	c+=("${f[-2]}")
	s+=("${f[-1]}")
}
# One measurement each, into the arrays above.
l4k_run() { keep l4k 0 lunar_io "$lunar" randread 4K 32; }
p4k_run() { keep p4k 0 libiscsi_io 8 32 -r; }
# shellcheck disable=SC2086 # the baseline's flags split into words
b4k_run() { keep b4k 0 lunar_io "$baseline" randread 4K 32 $baseline_flags; }
l128_run() { keep l128 1 lunar_io "$lunar" read 128K 8; }
p128_run() { keep p128 1 libiscsi_io 256 8; }
# shellcheck disable=SC2086
b128_run() { keep b128 1 lunar_io "$baseline" read 128K 8 $baseline_flags; }
llog_run() { keep llog 0 lunar_login "$lunar"; }
plog_run() { keep plog 0 libiscsi_login; }
# shellcheck disable=SC2086
blog_run() { keep blog 0 lunar_login "$baseline" $baseline_flags; }
# pair ROUND LUNAR LIBISCSI BASELINE: runs the row's measurements, lunar
# first in odd rounds and libiscsi first in even ones, so that neither
# side always runs right after the other's (or the previous row's) load.
pair() {
	if [ $(($1 % 2)) -eq 1 ]; then "$2"; "$3"; else "$3"; "$2"; fi
	if [ -n "$baseline" ]; then "$4"; fi
}
for r in $(seq "$rounds"); do
	echo "round $r/$rounds" >&2
	pair "$r" l4k_run p4k_run b4k_run
	pair "$r" l128_run p128_run b128_run
	pair "$r" llog_run plog_run blog_run
	echo "  4K IOPS lunar ${l4k[-1]} libiscsi ${p4k[-1]} (CPU µs/cmd ${l4kc[-1]} vs ${p4kc[-1]}, switches/cmd ${l4ks[-1]} vs ${p4ks[-1]});" \
		"128K MiB/s ${l128[-1]} vs ${p128[-1]} (CPU µs/cmd ${l128c[-1]} vs ${p128c[-1]}, switches/cmd ${l128s[-1]} vs ${p128s[-1]});" \
		"login µs ${llog[-1]} vs ${plog[-1]} (CPU µs ${llogc[-1]} vs ${plogc[-1]}, switches ${llogs[-1]} vs ${plogs[-1]})" >&2
	if [ -n "$baseline" ]; then
		echo "  baseline: 4K IOPS ${b4k[-1]} (CPU µs/cmd ${b4kc[-1]}, switches/cmd ${b4ks[-1]}); 128K MiB/s ${b128[-1]}" \
			"(CPU µs/cmd ${b128c[-1]}, switches/cmd ${b128s[-1]}); login µs ${blog[-1]} (CPU µs ${blogc[-1]}, switches ${blogs[-1]})" >&2
	fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "-"; else printf "%.2f", a / b }'; }
# ahead BETTER N LUNAR-VALUES... LIBISCSI-VALUES...: "K/N", the rounds in
# which lunar did better than libiscsi in the same round (a paired count:
# on a noisy machine a median ratio near 1 says less than this does).
ahead() {
	local better=$1 n=$2
	shift 2
	printf '%s\n' "$@" | awk -v n="$n" -v better="$better" '
		{ v[NR] = $1 }
		END {
			k = 0
			for (i = 1; i <= n; i++)
				if ((better == "higher" && v[i] > v[i + n]) || (better == "lower" && v[i] < v[i + n])) k++
			printf "%d/%d", k, n
		}'
}
row() { # row NAME FMT BETTER LUNAR-VALUES... -- LIBISCSI-VALUES... [-- BASELINE-VALUES...]
	local name=$1 fmt=$2 better=$3
	shift 3
	local -a a=() b=() c=()
	while [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do b+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	c=("$@")
	local m n o=
	m=$(median "${a[@]}") n=$(median "${b[@]}")
	if [ -n "$baseline" ]; then
		o=$(printf "\t$fmt\t%s" "$(median "${c[@]}")" "$(ratio "$m" "$(median "${c[@]}")")")
	fi
	printf "%s\t$fmt\t$fmt\t%s\t%s\t%s%s\n" "$name" "$m" "$n" "$(ratio "$m" "$n")" "$better" \
		"$(ahead "$better" "${#a[@]}" "${a[@]}" "${b[@]}")" "$o"
}

echo
echo "machine: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); $(go version | cut -d' ' -f3); $(tgtd --version 2>/dev/null | head -1 || echo tgtd)"
echo "target: tgtd on $portal, LUN 1 = 1 GiB file; $rounds interleaved rounds of ${seconds}s, $cycles login cycles; medians"
echo "LUNAR AHEAD: in how many rounds lunar did better than libiscsi in the same round"
echo "libiscsi: iscsi-perf for I/O (its command count estimated as average IOPS x seconds), scripts/libiscsi-login-bench.c for logins"
if [ -n "$baseline" ]; then
	if [ "$baseline" = "$lunar" ]; then
		echo "BASELINE: this build of lunar, with ${baseline_flags:-no flags}"
	else
		echo "BASELINE: $baseline${baseline_flags:+ with $baseline_flags}"
	fi
fi
echo
{
	if [ -n "$baseline" ]; then
		printf 'TEST\tLUNAR\tLIBISCSI\tLUNAR/LIBISCSI\tBETTER\tLUNAR AHEAD\tBASELINE\tLUNAR/BASELINE\n'
	else
		printf 'TEST\tLUNAR\tLIBISCSI\tLUNAR/LIBISCSI\tBETTER\tLUNAR AHEAD\n'
	fi
	row '4 KiB random read QD32 (IOPS)' '%.0f' higher "${l4k[@]}" -- "${p4k[@]}" -- "${b4k[@]}"
	row '  CPU µs per command' '%.2f' lower "${l4kc[@]}" -- "${p4kc[@]}" -- "${b4kc[@]}"
	row '  context switches per command' '%.3f' lower "${l4ks[@]}" -- "${p4ks[@]}" -- "${b4ks[@]}"
	row '128 KiB sequential read QD8 (MiB/s)' '%.1f' higher "${l128[@]}" -- "${p128[@]}" -- "${b128[@]}"
	row '  CPU µs per command' '%.2f' lower "${l128c[@]}" -- "${p128c[@]}" -- "${b128c[@]}"
	row '  context switches per command' '%.3f' lower "${l128s[@]}" -- "${p128s[@]}" -- "${b128s[@]}"
	row 'login+logout (µs per cycle)' '%.0f' lower "${llog[@]}" -- "${plog[@]}" -- "${blog[@]}"
	row '  CPU µs per cycle' '%.0f' lower "${llogc[@]}" -- "${plogc[@]}" -- "${blogc[@]}"
	row '  context switches per cycle' '%.1f' lower "${llogs[@]}" -- "${plogs[@]}" -- "${blogs[@]}"
} | column -t -s $'\t'
