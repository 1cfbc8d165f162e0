// Package target is lunar's storage system: an iSCSI target (RFC 7143,
// ErrorRecoveryLevel 0) serving file-backed logical units to initiators
// through per-initiator LUN maps, with CHAP, unit attentions, a
// persistent configuration store and an HTTP/JSON management API with its
// Go client.
//
// It has three layers that meet in contract.go:
//
//   - the SCSI engine: Engine runs a Task (a CDB with its gathered write
//     data) against an LU — a logical unit over a Backend (a sparse or
//     fully allocated file, or memory) — and answers SBC-3/SPC-4 commands,
//     unit attentions kept per I_T Nexus;
//   - the iSCSI layer: Server accepts connections on its portals, runs
//     login (CHAP, negotiation), discovery and full-feature sessions with
//     a command window, and hands each SCSI command to an Executor;
//   - storage management: Store holds targets, LUNs, initiator groups, LUN
//     maps and CHAP secrets in a data directory, answers the Server's
//     Directory questions from immutable views, and APIServer/Client expose
//     it over HTTP.
//
// # Usage
//
//	store, err := target.NewStore("/var/lib/lunar")
//	srv, err := target.NewServer(target.ServerConfig{Directory: store, Executor: &target.Engine{}})
//	store.SetOnViewChange(srv.ViewChanged) // live LUN-map changes reach sessions
//	go srv.Serve(listener, "10.0.2.2:3260") // advertise what initiators can reach
//	api, err := target.NewAPIServer(target.APIConfig{Store: store, Token: token, Sessions: srv.Sessions})
//	go api.Serve(apiListener)
//	...
//	srv.Close(ctx) // logout requests, in-flight tasks finished or aborted
//
// `lunar target serve` wires exactly this.
//
// # Concurrency
//
// Each connection has one reader goroutine (which owns the Framer's read
// side and the session's command window) and one writer goroutine that
// batches ready PDUs into one write; each SCSI command runs in its own
// goroutine, so commands complete out of order, ORDERED tasks excepted.
// LUs are safe for concurrent use (COMPARE AND WRITE holds a range lock
// that every writer takes). Store changes are serialised and persisted
// before they return; Directory lookups read an atomic pointer to an
// immutable snapshot and take no lock. The view-change callback runs inside
// the change.
//
// # Cancellation
//
// Server.Close and APIServer.Close take a context: when it ends, tasks
// still running are aborted and connections closed. A task's own context is
// cancelled by ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT
// RESET, session reinstatement and connection loss; the engine checks it
// between chunks of I/O and answers TASK ABORTED.
package target
