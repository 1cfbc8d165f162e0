// Package iscsi is the iSCSI wire protocol of RFC 7143, shared by lunar's
// target and initiator: one type per PDU opcode with its codec, the Framer
// that reads and writes whole PDUs on a connection with bounded lengths and
// CRC32C digests, the login and text key=value codec with the negotiation
// engine of section 13, CHAP (section 12.1.3), iSCSI names (section 4.2.7)
// and serial number arithmetic (RFC 1982). It opens no sockets of its own.
//
// # Usage
//
// A Frame is one PDU split into segments; a PDU type decodes from and
// encodes into a Frame:
//
//	fr, err := iscsi.NewFramer(conn, conn, iscsi.FramerConfig{})
//	f, err := fr.ReadFrame()  // valid until the next read
//	p, err := iscsi.Decode(f) // *iscsi.SCSICommand, *iscsi.LoginRequest, ...
//	err = fr.WritePDU(&iscsi.NOPIn{ITT: itt, TTT: iscsi.ReservedTag})
//
// Every PDU type also marshals to and from its whole wire form (without
// digests) with MarshalBinary, AppendBinary and UnmarshalBinary.
//
// Login is driven by a Negotiator, a state machine with no I/O: feed it
// the key=value pairs of each Login or Text PDU and send what it returns;
// CHAP runs beside it in CHAPTargetExchange or CHAPInitiatorExchange.
//
//	neg, err := iscsi.NewNegotiator(iscsi.RoleTarget, iscsi.NegotiatorConfig{})
//	out, err := neg.Step(req.CSG, pairs)
//	params := neg.Params() // once both sides agree to leave the stage
//
// # Concurrency
//
// PDU values are plain data. A Framer has one reading and one writing
// side: one goroutine may read while another writes, but two goroutines may
// not read (or write) at once. Negotiation and CHAP state machines are not
// safe for concurrent use.
//
// # Cancellation
//
// Nothing in this package blocks except the Framer, which blocks in its
// reader or writer; close the connection or set a deadline on it to
// unblock a read or write.
package iscsi
