// Package cluster connects LUNs to every node of a failover cluster: node
// agents, and an active node that drives all passive nodes in parallel,
// with resource groups, ownership and an operation log kept in etcd.
//
// The package has three layers that meet in contract.go:
//
//   - Store (etcd.go, store.go, ownership.go): nodes registered under a
//     lease, resource groups updated in transactions with revision checks,
//     the operation log, group ownership through an etcd election and a
//     per-group operation lock. StartEtcd runs an embedded single member
//     for tests, the demo and one-machine set-ups.
//   - Agent (agent*.go, engine_userspace.go, format.go): a node's HTTP/JSON
//     API (connect, disconnect, format, disks, operations, health,
//     metrics) over an Engine, the node's initiator; UserspaceEngine is
//     lunar's own initiator. AgentClient is the API's Go client.
//   - Runner (runner*.go): the operations (create, connect, disconnect,
//     delete). The active node does its part, then calls every passive
//     node's agent at once, one goroutine per node, so an operation costs
//     T + max(T1_i) instead of T + sum(T1_i); ModeSerial runs the same
//     steps one node at a time for comparison. The active node's part is
//     kept to few round trips: the LUN and its map to the active node in
//     one storage request, the disk opened from the arrival's scan, the
//     key registered and the reservation taken in one batch while the
//     format writes a fresh disk without reading it (a few FUA writes, or
//     writes and one sync).
//
// StartLocal (local.go) assembles a whole cluster in one process on
// loopback — embedded etcd, a target, its management API and N agents —
// for tests, `lunar demo` and benchmarks.
//
// # Usage
//
//	l, err := cluster.StartLocal(ctx, cluster.LocalConfig{Nodes: 4})
//	defer l.Close()
//	resolve := cluster.AgentResolver(l.Store, l.Token, nil)
//	for _, n := range l.Nodes {
//		r, err := cluster.NewRunner(cluster.RunnerConfig{Node: n.Info.Name,
//			Self: n.Agent, Store: l.Store, Storage: l.Storage, Agents: resolve})
//		defer r.Close()
//		n.Agent.SetOperations(r)
//	}
//	res, err := l.Nodes[0].Client.RunOperation(ctx, cluster.OperationRequest{
//		Kind: cluster.OpCreate, Group: "sql", Resource: "data1",
//		Size: 64 << 20, Portal: l.Portal}, nil)
//
// # Concurrency
//
// Store, Agent, AgentClient, UserspaceEngine and Runner are safe for
// concurrent use. Every update of a group is a transaction that commits only
// if the group's revision is unchanged, so two operators cannot corrupt it;
// a second operation on a group that one is already running on fails at
// once with ErrConflict, and only the group's owner (the election's leader)
// runs operations on it. A Runner calls a progress callback from one
// goroutine at a time.
//
// # Cancellation
//
// Every blocking call takes a context. Cancelling an operation's context
// (Ctrl-C at the CLI, a dropped HTTP request at the agent) rolls back what
// the operation made, on a fresh context bounded by a timeout, before Run
// returns. Each node's part runs under its own timeout, so a node that never
// answers is reported timed out while the others finish.
package cluster
