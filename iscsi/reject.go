package iscsi

import "fmt"

// RejectReason is the Reason field of a Reject PDU (RFC 7143 section
// 11.17.1).
type RejectReason uint8

// The reject reasons of RFC 7143 section 11.17.1. 0x01 is reserved.
const (
	// RejectDataDigestError: data (payload) digest error.
	RejectDataDigestError RejectReason = 0x02
	// RejectSNACKReject: the SNACK cannot be honoured.
	RejectSNACKReject RejectReason = 0x03
	// RejectProtocolError: protocol error (for example, a SNACK for a
	// status that was already acknowledged).
	RejectProtocolError RejectReason = 0x04
	// RejectCommandNotSupported: the command is not supported.
	RejectCommandNotSupported RejectReason = 0x05
	// RejectImmediateCommand: immediate command rejected, too many
	// immediate commands.
	RejectImmediateCommand RejectReason = 0x06
	// RejectTaskInProgress: the task is in progress.
	RejectTaskInProgress RejectReason = 0x07
	// RejectInvalidDataACK: invalid data ACK.
	RejectInvalidDataACK RejectReason = 0x08
	// RejectInvalidPDUField: invalid PDU field.
	RejectInvalidPDUField RejectReason = 0x09
	// RejectLongOperation: long operation reject, cannot generate a
	// Target Transfer Tag, out of resources.
	RejectLongOperation RejectReason = 0x0a
	// RejectNegotiationReset: negotiation reset (RFC 3720; deprecated
	// by RFC 7143).
	RejectNegotiationReset RejectReason = 0x0b
	// RejectWaitingForLogout: waiting for logout.
	RejectWaitingForLogout RejectReason = 0x0c
)

// String returns the RFC's name for the reason.
func (r RejectReason) String() string {
	switch r {
	case RejectDataDigestError:
		return "data digest error"
	case RejectSNACKReject:
		return "SNACK reject"
	case RejectProtocolError:
		return "protocol error"
	case RejectCommandNotSupported:
		return "command not supported"
	case RejectImmediateCommand:
		return "immediate command rejected"
	case RejectTaskInProgress:
		return "task in progress"
	case RejectInvalidDataACK:
		return "invalid data ACK"
	case RejectInvalidPDUField:
		return "invalid PDU field"
	case RejectLongOperation:
		return "long operation reject"
	case RejectNegotiationReset:
		return "negotiation reset"
	case RejectWaitingForLogout:
		return "waiting for logout"
	}
	return fmt.Sprintf("reject reason 0x%02x", uint8(r))
}

// rejectITT is the Initiator Task Tag of every Reject PDU.
const rejectITT = 0xffffffff

// Reject is the Reject PDU, opcode 0x3f (RFC 7143 section 11.17):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x3f      |1| Reserved    | Reason        | Reserved      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	16| 0xffffffff                                                    |
//	  +---------------+---------------+---------------+---------------+
//	20| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| DataSN/R2TSN or Reserved                                      |
//	  +---------------+---------------+---------------+---------------+
//	40| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	44| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	48| Header of the Bad PDU                                         |
//	  +---------------+---------------+---------------+---------------+
//
// The F bit is always 1 and the ITT always 0xffffffff: EncodeFrame sets
// them and DecodeFrame ignores them.
type Reject struct {
	// Reason says why the PDU was rejected.
	Reason RejectReason
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target will accept.
	MaxCmdSN uint32
	// DataSN is the DataSN or R2TSN of the rejected Data/R2T SNACK, or
	// reserved.
	DataSN uint32
	// Data is the data segment: the complete 48-byte BHS of the
	// rejected PDU (see RejectedHeader and SetRejectedHeader). After
	// DecodeFrame or UnmarshalBinary it aliases the frame's or the
	// input's memory.
	Data []byte
}

// Opcode returns OpReject.
func (p *Reject) Opcode() Opcode { return OpReject }

// RejectedHeader returns the BHS of the rejected PDU, copied from Data.
func (p *Reject) RejectedHeader() (BHS, error) {
	var h BHS
	if err := checkRejectData(p.Data); err != nil {
		return h, err
	}
	copy(h[:], p.Data)
	return h, nil
}

// SetRejectedHeader sets Data to a fresh copy of h.
func (p *Reject) SetRejectedHeader(h *BHS) { p.Data = append([]byte(nil), h[:]...) }

// Err returns the reject as a *RejectError, or the error of
// RejectedHeader if Data does not hold a header.
func (p *Reject) Err() error {
	h, err := p.RejectedHeader()
	if err != nil {
		return err
	}
	return &RejectError{Reason: p.Reason, Header: h}
}

// checkRejectData enforces the length of a Reject's data segment.
func checkRejectData(d []byte) error {
	// "The target returns the header (not including the digest) of the
	// PDU in error as the data of the response." (11.17.4)
	if len(d) != BHSLen {
		return fmt.Errorf("%w: Reject carries %d bytes, want the %d-byte header of the bad PDU", ErrDataSegmentLength, len(d), BHSLen)
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data, which must hold
// exactly one BHS.
func (p *Reject) EncodeFrame(f *Frame) error {
	if err := checkRejectData(p.Data); err != nil {
		return err
	}
	beginFrame(f, OpReject, false)
	h := &f.BHS
	h[1] = finalBit
	h[2] = byte(p.Reason)
	h.SetITT(rejectITT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h.PutUint32(36, p.DataSN)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *Reject) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpReject); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	if err := checkRejectData(f.Data); err != nil {
		return err
	}
	h := &f.BHS
	*p = Reject{
		Reason:   RejectReason(h[2]),
		StatSN:   h.Uint32(24),
		ExpCmdSN: h.Uint32(28),
		MaxCmdSN: h.Uint32(32),
		DataSN:   h.Uint32(36),
		Data:     f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *Reject) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *Reject) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Reject without digests. p.Data aliases
// b.
func (p *Reject) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
