#!/usr/bin/env bash
# netns-cluster.sh runs lunar's cluster flow across network namespaces, so
# that the target, etcd and every node agent are separate hosts talking
# over real veth links:
#
#   lunar-br  a bridge joining the others (no address, nothing routed out)
#   lunar-t   10.99.0.1   etcd (lunar cluster etcd) and lunar target serve
#   lunar-n1  10.99.0.11  lunar node serve --name n1 (the active node)
#   lunar-n2  10.99.0.12  lunar node serve --name n2
#   lunar-n3  10.99.0.13  lunar node serve --name n3
#
# It runs lunar cluster create (n1 active, n2 and n3 passive), status,
# disconnect, status, connect, delete and status again (a disconnected disk
# leaves its group, so delete follows a connect), checks each JSON answer
# with jq, and
# removes every namespace and process on exit, failed or not. No traffic
# leaves the machine: the namespaces have no route but 10.99.0.0/24.
#
# Usage: bash scripts/netns-cluster.sh   (as root; needs ip, jq)
#        LUNAR_BIN=/path/to/lunar bash scripts/netns-cluster.sh   (skip the build)
set -euo pipefail
cd "$(dirname "$0")/.."

NS_BR=lunar-br
NS_T=lunar-t
NODES=(n1 n2 n3)
NET=10.99.0
T_IP=$NET.1
ETCD=http://$T_IP:2379
PORTAL=$T_IP:3260
STORAGE=http://$T_IP:3261

for tool in ip jq; do
	command -v "$tool" >/dev/null || { echo "netns-cluster: $tool is required (apt-get install iproute2 jq)"; exit 1; }
done
if [ "$(id -u)" != 0 ]; then
	echo "netns-cluster: run as root (network namespaces)"
	exit 1
fi

work=$(mktemp -d /tmp/lunar-netns.XXXXXX)
pids=()
passed=()
failed=""

cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for ns in "$NS_T" "${NODES[@]/#/lunar-}" "$NS_BR"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	if [ -n "$failed" ] || [ "$rc" != 0 ]; then
		for f in "$work"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $(basename "$f") (last 30 lines)"
			tail -n 30 "$f"
		done
	fi
	rm -rf "$work"
	echo
	echo "netns-cluster: passed: ${passed[*]:-none}"
	if [ -n "$failed" ] || [ "$rc" != 0 ]; then
		echo "netns-cluster: FAIL ${failed:-(exit $rc)}"
		exit 1
	fi
	echo "netns-cluster: PASS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	failed="$1"
	echo "netns-cluster: FAIL: $1" >&2
	[ $# -gt 1 ] && echo "$2" >&2
	exit 1
}

# Stale namespaces from an interrupted run would make "ip netns add" fail.
for ns in "$NS_T" "${NODES[@]/#/lunar-}" "$NS_BR"; do ip netns del "$ns" 2>/dev/null || true; done

if [ -n "${LUNAR_BIN:-}" ]; then
	lunar=$LUNAR_BIN
else
	lunar=$work/lunar
	go build -o "$lunar" ./cmd/lunar
fi

# The bridge lives in its own namespace; each host gets a veth pair with
# one end on the bridge and the other as its eth0.
ip netns add "$NS_BR"
ip -n "$NS_BR" link add br0 type bridge
ip -n "$NS_BR" link set br0 up
ip -n "$NS_BR" link set lo up
attach() { # attach NS IP
	local ns=$1 addr=$2 port=p-${1#lunar-}
	ip netns add "$ns"
	ip -n "$NS_BR" link add "$port" type veth peer name eth0 netns "$ns"
	ip -n "$NS_BR" link set "$port" master br0 up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" link set eth0 up
}
attach "$NS_T" "$T_IP"
i=11
for n in "${NODES[@]}"; do
	attach "lunar-$n" "$NET.$i"
	i=$((i + 1))
done
passed+=(network)

# wait_for DESCRIPTION SECONDS COMMAND...: retry until COMMAND succeeds.
wait_for() {
	local what=$1 secs=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	fail "$what did not come up within ${secs}s"
}
# alive PID NAME: the process is still running.
alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited early"; }

ip netns exec "$NS_T" "$lunar" --log-format json cluster etcd --data "$work/etcd" \
	--listen-client "$ETCD" --listen-peer http://127.0.0.1:2380 >"$work/etcd.log" 2>&1 &
pids+=($!)
etcd_pid=$!
ip netns exec "$NS_T" "$lunar" --log-format json target serve --data "$work/target" \
	--listen "$PORTAL" --api "$T_IP:3261" >"$work/target.log" 2>&1 &
pids+=($!)
target_pid=$!
wait_for "the target's API token" 20 test -s "$work/target/api-token"
alive "$target_pid" "lunar target serve"
wait_for "etcd" 20 grep -q "etcd serving" "$work/etcd.log"
alive "$etcd_pid" "lunar cluster etcd"
passed+=(etcd+target)

# Every agent of a cluster serves with the same token.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/agent-token"
chmod 600 "$work/agent-token"
i=11
for n in "${NODES[@]}"; do
	ip netns exec "lunar-$n" "$lunar" --log-format json node serve --name "$n" --etcd "$ETCD" \
		--listen "$NET.$i:3270" --storage-url "$STORAGE" --storage-token-file "$work/target/api-token" \
		--token-file "$work/agent-token" --data "$work/$n" >"$work/$n.log" 2>&1 &
	pids+=($!)
	i=$((i + 1))
done

# cl ARGS...: run "lunar cluster ARGS" from n1's namespace (an operator on
# the active node), pointed at etcd and the agents' token.
cl() {
	ip netns exec lunar-n1 "$lunar" --log-level warn cluster "$@" --etcd "$ETCD" --token-file "$work/agent-token"
}
count_nodes() { [ "$(cl nodes -o json | jq length)" = 3 ]; }
wait_for "three registered nodes" 20 count_nodes
nodes_json=$(cl nodes -o json)
echo "$nodes_json" | jq -e 'map(.agent_url) | sort == ["http://10.99.0.11:3270","http://10.99.0.12:3270","http://10.99.0.13:3270"]' >/dev/null ||
	fail "nodes" "$nodes_json"
passed+=(nodes)

# check STEP JSON JQ-FILTER: the filter holds for the step's answer.
check() {
	echo "$2" | jq -e "$3" >/dev/null || fail "$1" "$2"
	passed+=("$1")
	echo "netns-cluster: $1 ok"
}
all_ok='(.error // "") == "" and (.nodes | length) == 3 and (.nodes | all(.status == "ok")) and .nodes[0].node == "n1" and .nodes[0].role == "active"'

out=$(cl create disk1 --group g1 --active n1 --nodes n2,n3 --size 16M --portal "$PORTAL" -o json 2>"$work/create.log") ||
	fail create "$out"
check create "$out" "$all_ok and (.disk.wwn | startswith(\"naa.\")) and .mode == \"parallel\""

out=$(cl status g1 -o json 2>"$work/status.log") || fail status "$out"
check status "$out" '.groups[0].owner == "n1" and .groups[0].elected == "n1" and (.groups[0].resources | length) == 1
	and (.groups[0].resources[0].possible_owners | sort) == ["n1","n2","n3"] and (.nodes | length) == 3'

out=$(cl disconnect disk1 --group g1 -o json 2>"$work/disconnect.log") || fail disconnect "$out"
check disconnect "$out" "$all_ok"

# A disconnected disk leaves the group (its LUN stays on the target)...
out=$(cl status g1 -o json 2>>"$work/status.log") || fail "status after disconnect" "$out"
check "status-after-disconnect" "$out" '(.groups[0].resources | length) == 0'

# ...and connect brings the existing LUN back on every node, label checked.
out=$(cl connect disk1 --group g1 --nodes n2,n3 --portal "$PORTAL" -o json 2>"$work/connect.log") || fail connect "$out"
check connect "$out" "$all_ok"

out=$(cl delete disk1 --group g1 -o json 2>"$work/delete.log") || fail delete "$out"
check delete "$out" "$all_ok and ([.nodes[0].steps[].step] | index(\"delete-lun\") != null)"

out=$(cl status -o json 2>>"$work/status.log") || fail "status after delete" "$out"
check "status-after-delete" "$out" '[.groups[] | select(.name == "g1") | .resources[]] | length == 0'

for pid in "${pids[@]}"; do alive "$pid" "a lunar process"; done
