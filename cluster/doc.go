// Package cluster connects LUNs to every node of a failover cluster: node
// agents, and an active node that drives all passive nodes in parallel,
// with resource groups and ownership kept in etcd.
//
// It is built in a later step on the initiator and target packages; this package
// holds only its documentation for now.
//
// # Usage
//
// Not yet available.
//
// # Concurrency
//
// Not yet available.
//
// # Cancellation
//
// Not yet available.
package cluster
