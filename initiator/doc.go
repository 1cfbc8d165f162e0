// Package initiator is lunar's iSCSI initiator engine: discovery, login,
// sessions with a command window, disks (io.ReaderAt and io.WriterAt) and
// disk-arrival events.
//
// It is built in a later step on the iscsi and scsi packages; this package
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
package initiator
