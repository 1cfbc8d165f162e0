// Package scsi is the SCSI command set as data: CDB encoding and decoding
// (SBC-3, SPC-4), sense data in fixed and descriptor formats with
// SenseError, INQUIRY standard data and VPD pages, READ CAPACITY data,
// REPORT LUNS with SAM LUN encoding, mode pages, and PERSISTENT RESERVE
// IN/OUT parameter data. It performs no I/O and imports only the standard
// library (and lunar's internal field helpers).
//
// # Usage
//
// Decode a CDB received from the wire, or build one to send:
//
//	cmd, err := scsi.DecodeCDB(cdb)   // *scsi.Read, *scsi.Inquiry, ...
//	cdb, err := (&scsi.Read{Op: scsi.OpRead16, LBA: 8, Blocks: 1}).MarshalBinary()
//
// Every decoder checks its input's length before it reads a field and
// returns a typed error (a *CDBFieldError carries the byte and bit a target
// reports in INVALID FIELD IN CDB sense); none panics.
//
// # Concurrency
//
// Values are plain data; functions are pure and safe for concurrent use.
//
// # Cancellation
//
// Nothing in this package blocks.
package scsi
