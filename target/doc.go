// Package target is lunar's storage system: an iSCSI target serving
// file-backed LUNs through per-initiator LUN maps, with CHAP, unit
// attentions, persistent reservations and a management API.
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
package target
