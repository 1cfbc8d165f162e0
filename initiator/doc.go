// Package initiator is lunar's iSCSI initiator engine: discovery, login
// (CHAP one-way and mutual, negotiation of every operational key),
// sessions that run many commands at once within the target's command
// window, reconnect with session reinstatement, disks (io.ReaderAt and
// io.WriterAt over a LUN, split by the target's block limits), rescans and
// disk-arrival events.
//
// The session layer (Dial, Session, Discover) and the disk layer (Disk,
// Rescan, Watcher) meet in contract.go: the disk layer is built on
// Executor and Event alone.
//
// # Usage
//
//	sess, err := initiator.Dial(ctx, initiator.Config{
//		InitiatorName: "iqn.1993-08.org.debian:01:node1",
//		Portal:        "192.0.2.10:3260",
//		TargetName:    "iqn.2026-11.org.lunar:storage",
//	})
//	defer sess.Close()
//	w := initiator.NewWatcher(sess, sess.Events(), initiator.WatchConfig{})
//	go w.Run(ctx)
//	info, err := w.WaitForDisk(ctx, "naa.6...") // the LUN's WWN
//	d, err := initiator.OpenDisk(ctx, sess, info.LUN)
//	n, err := d.WriteAt(buf, 0)
//
// # Concurrency
//
// A Session, a Disk and a Watcher are safe for concurrent use: any number
// of goroutines may issue commands at once, the session admitting them as
// the target's command window allows. Session.Execute blocks until its
// command ends; Session.Start issues a command without blocking and calls
// a function with the result, from the session's reader, whose callbacks
// may issue the next commands (one goroutine can keep a whole queue depth
// in flight, as libiscsi's asynchronous API does). Each session has one
// reader goroutine that matches responses to tasks by Initiator Task Tag
// and runs the NOP-Out keepalive whenever it is about to wait, and one
// writer goroutine that sends PDUs in CmdSN order; each starts when first
// needed (the reader at the latest a second after the login while
// keepalive pings are on), so a session that only logs in and out starts
// neither. With pings on, the connection sets no TCP keepalive.
//
// # Cancellation
//
// Every blocking call takes a context. Cancelling a command's context sends
// ABORT TASK; the call returns once the task's slot in the command window
// is released, so cancellation never wedges a session. Close never blocks
// forever. Watcher.Run's goroutines have stopped when it returns.
package initiator
