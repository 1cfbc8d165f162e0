#!/usr/bin/env bash
# bench-all.sh — run the data-path benchmarks and write docs/benchmarks.md.
#
#   1. scripts/bench-target.sh: lunar's target against tgtd and gotgt
#      v0.2.2 (iscsi-perf and qemu-img bench as clients, iscsi-inq logins).
#   2. scripts/bench-initiator.sh against tgtd: lunar's initiator against
#      libiscsi's iscsi-perf (and a libiscsi login loop).
#   3. scripts/bench-initiator.sh against lunar's target: the same, with
#      this script serving a LUN 1 from `lunar target serve` and passing
#      --portal and --iqn.
#
# Each run holds /tmp/lunar-bench.lock (flock) so that no two benchmark
# runs on this machine overlap; a part that fails is reported in the
# document instead of stopping the others. Do not run this script itself
# under that lock: its parts take it one after another, and would wait
# for it forever.
#
# Usage: scripts/bench-all.sh [--rounds N] [--seconds S] [--size SIZE] [--cycles C] [--out FILE]
#
#   --rounds N    interleaved rounds per workload (default 3)
#   --seconds S   length of one round in seconds (default 4)
#   --size SIZE   LUN size for the target benchmark (default 1G)
#   --cycles C    login cycles per round of the initiator benchmark (default 200)
#   --out FILE    the document to write (default docs/benchmarks.md)
#
# Needs root (tgtd), Go, jq, and what the two scripts need (tgt,
# libiscsi-bin, libiscsi-dev, gcc, qemu-utils, qemu-block-extra, time).
set -euo pipefail

rounds=3
seconds=4
size=1G
cycles=200
repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/docs/benchmarks.md"
args=("$@")

usage() {
	sed -n '/^# Usage:/,/^#   --out/p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-0}"
}
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=${2:?}; shift 2 ;;
	--seconds) seconds=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--cycles) cycles=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "bench-all: unknown argument $1" >&2; usage 2 ;;
	esac
done
case "$rounds$seconds$cycles" in *[!0-9]*) echo "bench-all: --rounds, --seconds and --cycles take whole numbers" >&2; exit 2 ;; esac
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
for cmd in go jq flock timeout; do
	command -v "$cmd" >/dev/null || { echo "bench-all: $cmd not found in PATH" >&2; exit 1; }
done

log() { echo "bench-all: $*" >&2; }
lock=/tmp/lunar-bench.lock

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-all.XXXXXX")
lunar_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$lunar_pid" ]; then
		kill -INT "$lunar_pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$lunar_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$lunar_pid" 2>/dev/null || true
		wait "$lunar_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# locked SCRIPT ARGS...: runs a benchmark script under the lock, unless the
# script takes the lock itself (flock would then wait on our own lock).
locked() {
	if grep -q 'lunar-bench.lock' "$1"; then
		"$@"
	else
		flock "$lock" "$@"
	fi
}

# --- 1. targets -------------------------------------------------------------

log "target benchmark: lunar, tgt, gotgt"
target_rc=0
locked "$repo/scripts/bench-target.sh" --rounds "$rounds" --seconds "$seconds" --size "$size" \
	--json "$work/target.json" >"$work/target.txt" 2>"$work/target.err" || target_rc=$?
[ "$target_rc" = 0 ] || log "bench-target.sh failed ($target_rc): $(tail -n3 "$work/target.err")"

# --- 2. initiators against tgtd ---------------------------------------------

log "initiator benchmark against tgtd"
init_tgt_rc=0
locked "$repo/scripts/bench-initiator.sh" --rounds "$rounds" --seconds "$seconds" --cycles "$cycles" \
	--baseline-flags --busy-poll=false >"$work/init-tgt.txt" 2>"$work/init-tgt.err" || init_tgt_rc=$?
[ "$init_tgt_rc" = 0 ] || log "bench-initiator.sh (tgtd) failed ($init_tgt_rc): $(tail -n3 "$work/init-tgt.err")"

# --- 3. initiators against lunar's target -------------------------------------
#
# bench-initiator.sh takes --portal and --iqn and then uses that target's
# LUN 1: serve a 1 GiB LUN of random data at LUN id 1 to the initiator
# names its clients use (lunar's default name, iscsi-perf's default name
# and scripts/libiscsi-login-bench.c's name).

log "initiator benchmark against lunar's target"
init_lunar_rc=0
lunar_target_up() {
	local port api show iqn file lunar_name i
	(cd "$repo" && go build -o "$work/lunar" ./cmd/lunar) || return 1
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	api=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$work/lunar-data"
	"$work/lunar" target serve --data "$work/lunar-data" --listen "127.0.0.1:$port" --api "127.0.0.1:$api" \
		--log-level warn >"$work/lunar.log" 2>&1 &
	lunar_pid=$!
	lcli() { "$work/lunar" --api "http://127.0.0.1:$api" --data "$work/lunar-data" --log-level warn "$@"; }
	for i in $(seq 100); do
		lcli lun list >/dev/null 2>&1 && break
		kill -0 "$lunar_pid" 2>/dev/null || { cat "$work/lunar.log" >&2; return 1; }
		[ "$i" != 100 ] || return 1
		sleep 0.1
	done
	lunar_name=$("$work/lunar" initiator bench --help 2>&1 | sed -n 's/.*--initiator-name .*(default "\([^"]*\)").*/\1/p' | head -n1)
	[ -n "$lunar_name" ] || { log "cannot read lunar's default initiator name"; return 1; }
	lcli lun create bench --size 1G --block-size 512 >/dev/null
	lcli igroup create bench "$lunar_name" iqn.2010-11.libiscsi:iscsi-perf \
		iqn.2026-11.org.lunar:libiscsi-login-bench >/dev/null
	lcli lun map bench --igroup bench --lun-id 1 >/dev/null
	show=$(lcli lun show bench -o json)
	iqn=$(printf '%s\n' "$show" | sed -n 's/^ *"target": "\([^"]*\)".*/\1/p' | head -n1)
	file=$(printf '%s\n' "$show" | sed -n 's/^ *"path": "\([^"]*\)".*/\1/p' | head -n1)
	[ -n "$iqn" ] && [ -f "$file" ] || { log "cannot read the lunar LUN's target and file: $show"; return 1; }
	# Nothing does I/O on the LUN yet: fill its file in place.
	flock "$lock" dd if=/dev/urandom of="$file" bs=1M count=1024 conv=notrunc,fsync status=none
	lunar_portal=127.0.0.1:$port lunar_iqn=$iqn
}
lunar_portal="" lunar_iqn=""
if lunar_target_up; then
	locked "$repo/scripts/bench-initiator.sh" --rounds "$rounds" --seconds "$seconds" --cycles "$cycles" \
		--portal "$lunar_portal" --iqn "$lunar_iqn" >"$work/init-lunar.txt" 2>"$work/init-lunar.err" || init_lunar_rc=$?
else
	init_lunar_rc=1
	echo "could not start lunar's target for the initiator benchmark" >"$work/init-lunar.err"
fi
[ "$init_lunar_rc" = 0 ] || log "bench-initiator.sh (lunar target) failed ($init_lunar_rc): $(tail -n3 "$work/init-lunar.err")"

# --- the document -------------------------------------------------------------

cmdline="scripts/bench-all.sh${args[*]:+ ${args[*]}}"

# failed_block NAME RC ERRFILE: a short note for a part that failed.
failed_block() {
	echo "$1 failed (exit $2). The end of its error output:"
	echo
	echo '```'
	grep -v '^ *$' "$3" | tail -n 15
	echo '```'
}

{
	echo "# Data-path benchmarks"
	echo
	echo "Reproduce (as root, on an otherwise idle machine; takes about 10 minutes):"
	echo
	echo '```'
	echo "$cmdline"
	echo '```'
	echo
	echo "Written by scripts/bench-all.sh on $(date -u '+%Y-%m-%d %H:%M UTC'). Every number is a"
	echo "median of interleaved rounds (A B C A B C …) on loopback; nothing here is a pass/fail test."
	echo
	echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1),"
	echo "Linux $(uname -r), $(go version | awk '{print $3}')."
	echo
	echo "## Targets: lunar vs tgtd vs gotgt"
	echo
	if [ "$target_rc" = 0 ] && [ -s "$work/target.json" ]; then
		j=$work/target.json
		jq -r '"Peers: tgt \(.peers.tgt), gotgt \(.peers.gotgt) (bench/gotgt), clients libiscsi \(.peers.libiscsi) (iscsi-perf, iscsi-inq) and qemu-img \(.peers.qemu).\n" +
			"LUN: \(.lun_bytes / 1048576) MiB, 512-byte blocks, one file per target on \(.filesystem), same random content.\n" +
			"Rounds: \(.rounds) per target and workload, \(.seconds) s each (gotgt \(.gotgt_seconds) s, a fresh gotgt process per round); " +
			"writes: \(.write_count) per round for lunar and tgt, \(.gotgt_write_count) for gotgt; login: \(.logins) iscsi-inq calls per round."' "$j"
		echo
		jq -r '
			"| workload | " + (.targets | join(" | ")) + " | best peer | lunar / best peer |",
			"|---|" + (.targets | map("---:") | join("|")) + "|---|---:|",
			(.workloads[] as $w | "| \($w.name) | " + ([.targets[] | $w.results[.].display] | join(" | ")) +
				" | \($w.best_peer // "-") | \(if $w.ratio_to_best_peer == null then "n/a" else "\($w.ratio_to_best_peer)x" end) |")' "$j"
		echo
		echo "IOPS with MiB/s in brackets; login is the median wall time of one iscsi-inq call. The last column"
		echo "is lunar against the best peer for that row, above 1 means lunar is better (IOPS: lunar / peer;"
		echo "login: peer / lunar)."
		echo
		jq -r '.workloads[] | "- **\(.name)**: \(.description)"' "$j"
		echo
		echo "Medians as bars (IOPS, longer is better; login in ms, shorter is better):"
		echo
		echo '```'
		jq -r '.workloads[] as $w | .targets[] as $t | "\($w.name)\t\($t)\t\($w.unit)\t\($w.results[$t].median // "-")\t\($w.results[$t].display)"' "$j" |
			awk -F '\t' '
				{ n++; w[n] = $1; t[n] = $2; u[n] = $3; m[n] = $4; d[n] = $5; if ($4 != "-" && $4 + 0 > max[$1]) max[$1] = $4 + 0 }
				END {
					for (i = 1; i <= n; i++) {
						if (w[i] != w[i - 1]) printf "%s%s\n", (i > 1 ? "\n" : ""), w[i]
						bar = ""
						if (m[i] != "-" && max[w[i]] > 0) for (k = 0; k < int(40 * m[i] / max[w[i]] + 0.5); k++) bar = bar "#"
						printf "  %-6s %-40s %s\n", t[i], bar, d[i]
					}
				}'
		echo '```'
		echo
		echo "Rounds as measured (IOPS, or µs for login; hung@N: stopped answering after N s; stalled@N: no"
		echo "completion within N s; crashed: the target process died):"
		echo
		echo '```'
		jq -r '.workloads[] as $w | .targets[] as $t | "\($w.name)\t\($t)\t\($w.results[$t].rounds | map(tostring) | join(" "))"' "$j" | column -t -s $'\t'
		echo '```'
		echo
		echo "### gotgt"
		echo
		echo "gotgt v0.2.2 runs from bench/gotgt (its own Go module, never part of lunar's build). It keeps"
		echo "process-wide state, so every gotgt round runs in a fresh gotgt process, shorter than the others"
		echo "and under a timeout. It is known to stop answering about 5 s into a libiscsi session: it never"
		echo "advances CmdSN after a non-immediate NOP-Out. In this run, one $(jq -r '.long_seconds' "$j") s 4 KiB random-read session gave:"
		echo "lunar $(jq -r '.workloads[] | select(.name == "long-randread") | .results.lunar.display' "$j"),"
		echo "tgt $(jq -r '.workloads[] | select(.name == "long-randread") | .results.tgt.display' "$j"),"
		echo "gotgt **$(jq -r '.workloads[] | select(.name == "long-randread") | .results.gotgt.display' "$j")**."
	else
		failed_block "bench-target.sh" "$target_rc" "$work/target.err"
	fi
	echo
	echo "## Initiators: lunar initiator bench vs libiscsi"
	echo
	echo "scripts/bench-initiator.sh: \`lunar initiator bench\` against libiscsi's iscsi-perf on the same LUN 1,"
	echo "and a login loop against scripts/libiscsi-login-bench.c, in $((rounds + rounds % 2)) interleaved rounds of $seconds s"
	echo "(lunar first in odd rounds, libiscsi first in even ones: an even count, so that each runs first"
	echo "equally often). lunar's I/O rows use its defaults:"
	echo "completion callbacks (--api async) and one shared buffer for all reads (--buffers shared), as"
	echo "iscsi-perf drives libiscsi's asynchronous API and libiscsi reads the data it asks for into a"
	echo "recycled allocation and discards it; with a buffer per queue slot (--buffers slot) each read lands"
	echo "in memory that is colder in cache, which costs a 128 KiB command a few microseconds of CPU."
	echo "Its session's reader also polls its socket briefly for the answers it expects before sleeping"
	echo "(Config.BusyPoll, --busy-poll, on by default): a sleeping reader lets its CPU halt, and waking a"
	echo "halted virtual CPU takes longer than the answer. libiscsi sleeps in poll(2). Against tgtd the"
	echo "BASELINE column is the same build with --busy-poll=false, so the table shows what the polling"
	echo "buys and what CPU time it costs."
	echo
	echo "### Against tgtd"
	echo
	if [ "$init_tgt_rc" = 0 ]; then
		echo '```'
		sed '/./,$!d' "$work/init-tgt.txt" | cat -s
		echo '```'
	else
		failed_block "bench-initiator.sh" "$init_tgt_rc" "$work/init-tgt.err"
	fi
	echo
	echo "### Against lunar's target"
	echo
	if [ "$init_lunar_rc" = 0 ]; then
		echo "Served by \`lunar target serve\` (a 1 GiB LUN of random data mapped at LUN 1, passed with --portal"
		echo "and --iqn); bench-initiator.sh's \"target: tgtd on …\" line names that portal, not a tgtd."
		echo
		echo '```'
		sed '/./,$!d' "$work/init-lunar.txt" | cat -s
		echo '```'
	else
		failed_block "bench-initiator.sh" "$init_lunar_rc" "$work/init-lunar.err"
	fi
} >"$work/doc.md"
mkdir -p "$(dirname "$out")"
mv "$work/doc.md" "$out"
log "wrote $out"
