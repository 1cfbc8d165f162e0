package iscsi

import (
	"encoding/binary"
	"fmt"
)

// LogoutResponseCode is the Response field of a Logout Response (RFC 7143
// section 11.15.1).
type LogoutResponseCode uint8

// The logout responses of RFC 7143 section 11.15.1.
const (
	// LogoutSuccess: connection or session closed successfully.
	LogoutSuccess LogoutResponseCode = 0
	// LogoutCIDNotFound: the CID was not found.
	LogoutCIDNotFound LogoutResponseCode = 1
	// LogoutRecoveryNotSupported: connection recovery is not supported.
	LogoutRecoveryNotSupported LogoutResponseCode = 2
	// LogoutCleanupFailed: cleanup failed for various reasons.
	LogoutCleanupFailed LogoutResponseCode = 3
)

// String returns the RFC's name for the response.
func (c LogoutResponseCode) String() string {
	switch c {
	case LogoutSuccess:
		return "connection or session closed successfully"
	case LogoutCIDNotFound:
		return "CID not found"
	case LogoutRecoveryNotSupported:
		return "connection recovery is not supported"
	case LogoutCleanupFailed:
		return "cleanup failed"
	}
	return fmt.Sprintf("logout response 0x%02x", uint8(c))
}

// LogoutResponse is the Logout Response PDU, opcode 0x26 (RFC 7143 section
// 11.15). It has no data segment.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x26      |1| Reserved    | Response      | Reserved      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------------------------------------------------------+
//	 8/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Reserved                                                      |
//	  +---------------------------------------------------------------+
//	24| StatSN                                                        |
//	  +---------------------------------------------------------------+
//	28| ExpCmdSN                                                      |
//	  +---------------------------------------------------------------+
//	32| MaxCmdSN                                                      |
//	  +---------------------------------------------------------------+
//	36| Reserved                                                      |
//	  +---------------------------------------------------------------+
//	40| Time2Wait                     | Time2Retain                   |
//	  +---------------+---------------+---------------+---------------+
//	44| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//
// The F bit is always 1: EncodeFrame sets it and DecodeFrame ignores it.
type LogoutResponse struct {
	// Response is the outcome of the logout.
	Response LogoutResponseCode
	// ITT is the Initiator Task Tag of the Logout Request answered.
	ITT uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target will accept.
	MaxCmdSN uint32
	// Time2Wait is the minimum time in seconds to wait before
	// reassigning tasks or reconnecting.
	Time2Wait uint16
	// Time2Retain is the maximum time in seconds after Time2Wait during
	// which the target keeps the connection's tasks for reassignment.
	Time2Retain uint16
}

// Opcode returns OpLogoutResp.
func (p *LogoutResponse) Opcode() Opcode { return OpLogoutResp }

// EncodeFrame fills f from p.
func (p *LogoutResponse) EncodeFrame(f *Frame) error {
	beginFrame(f, OpLogoutResp, false)
	h := &f.BHS
	h[1] = finalBit
	h[2] = byte(p.Response)
	h.SetITT(p.ITT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	binary.BigEndian.PutUint16(h[40:42], p.Time2Wait)
	binary.BigEndian.PutUint16(h[42:44], p.Time2Retain)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *LogoutResponse) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpLogoutResp); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	if err := sessNoData(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = LogoutResponse{
		Response:    LogoutResponseCode(h[2]),
		ITT:         h.ITT(),
		StatSN:      h.Uint32(24),
		ExpCmdSN:    h.Uint32(28),
		MaxCmdSN:    h.Uint32(32),
		Time2Wait:   binary.BigEndian.Uint16(h[40:42]),
		Time2Retain: binary.BigEndian.Uint16(h[42:44]),
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *LogoutResponse) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *LogoutResponse) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Logout Response without digests.
func (p *LogoutResponse) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
