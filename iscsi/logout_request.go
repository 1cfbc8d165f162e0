package iscsi

import (
	"encoding/binary"
	"fmt"
)

// LogoutReason is the Reason Code of a Logout Request (RFC 7143 section
// 11.14.1).
type LogoutReason uint8

// The logout reasons of RFC 7143 section 11.14.1.
const (
	// CloseSession closes the session: all its connections and tasks.
	CloseSession LogoutReason = 0
	// CloseConnection closes the connection named by CID; its tasks are
	// terminated.
	CloseConnection LogoutReason = 1
	// RemoveConnectionForRecovery removes the connection named by CID so
	// its tasks can be reassigned to another connection.
	RemoveConnectionForRecovery LogoutReason = 2
)

// String returns the RFC's name for the reason.
func (r LogoutReason) String() string {
	switch r {
	case CloseSession:
		return "close the session"
	case CloseConnection:
		return "close the connection"
	case RemoveConnectionForRecovery:
		return "remove the connection for recovery"
	}
	return fmt.Sprintf("logout reason 0x%02x", uint8(r))
}

// logoutReasonMask selects the seven-bit Reason Code in byte 1.
const logoutReasonMask = 0x7f

// LogoutRequest is the Logout Request PDU, opcode 0x06 (RFC 7143 section
// 11.14). It has no data segment.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| 0x06      |1| Reason Code | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------------------------------------------------------+
//	 8/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| CID or Reserved               | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	24| CmdSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//
// The F bit is always 1: EncodeFrame sets it and DecodeFrame ignores it.
type LogoutRequest struct {
	// Immediate is the I bit.
	Immediate bool
	// Reason says what to log out; a seven-bit field.
	Reason LogoutReason
	// ITT is the Initiator Task Tag.
	ITT uint32
	// CID is the connection to close or remove; reserved (zero) for
	// CloseSession.
	CID uint16
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
}

// Opcode returns OpLogoutReq.
func (p *LogoutRequest) Opcode() Opcode { return OpLogoutReq }

// EncodeFrame fills f from p.
func (p *LogoutRequest) EncodeFrame(f *Frame) error {
	if p.Reason > logoutReasonMask {
		return fmt.Errorf("%w: logout reason 0x%02x does not fit seven bits", ErrInvalidField, uint8(p.Reason))
	}
	beginFrame(f, OpLogoutReq, p.Immediate)
	h := &f.BHS
	h[1] = finalBit | byte(p.Reason)
	h.SetITT(p.ITT)
	binary.BigEndian.PutUint16(h[20:22], p.CID)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *LogoutRequest) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpLogoutReq); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	if err := sessNoData(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = LogoutRequest{
		Immediate: h.Immediate(),
		Reason:    LogoutReason(h[1] & logoutReasonMask),
		ITT:       h.ITT(),
		CID:       binary.BigEndian.Uint16(h[20:22]),
		CmdSN:     h.Uint32(24),
		ExpStatSN: h.Uint32(28),
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *LogoutRequest) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *LogoutRequest) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Logout Request without digests.
func (p *LogoutRequest) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
