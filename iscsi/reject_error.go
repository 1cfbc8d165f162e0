package iscsi

import "fmt"

// RejectError is a PDU the peer rejected with a Reject PDU (RFC 7143
// section 11.17): the reason and the header of the rejected PDU. It is the
// peer's verdict on something we sent, not a local decoding error.
type RejectError struct {
	// Reason says why the PDU was rejected.
	Reason RejectReason
	// Header is the BHS of the rejected PDU.
	Header BHS
}

// Error names the rejected PDU and the reason, e.g. "iscsi: peer rejected
// Text Request (ITT 0x00000007): protocol error (0x04)".
func (e *RejectError) Error() string {
	return fmt.Sprintf("iscsi: peer rejected %v (ITT 0x%08x): %v (0x%02x)",
		e.Header.Opcode(), e.Header.ITT(), e.Reason, uint8(e.Reason))
}
