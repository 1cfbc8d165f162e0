package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// ReservedTag is the reserved tag value 0xffffffff: an Initiator Task Tag
// or Target Transfer Tag that names no task or transfer (RFC 7143 sections
// 11.18 and 11.19, among others).
const ReservedTag uint32 = 0xffffffff

// NOPOut is the NOP-Out PDU, opcode 0x00 (RFC 7143 section 11.18): a ping
// request from the initiator, or its answer to a NOP-In that carries a
// Target Transfer Tag.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| 0x00      |1| Reserved                                    |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN or Reserved                                               |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag or 0xffffffff                              |
//	  +---------------+---------------+---------------+---------------+
//	20| Target Transfer Tag or 0xffffffff                             |
//	  +---------------+---------------+---------------+---------------+
//	24| CmdSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//	  / DataSegment - Ping Data (optional)                            /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  | Data-Digest (optional)                                        |
//	  +---------------+---------------+---------------+---------------+
type NOPOut struct {
	// Immediate is the I bit. It must be set when ITT is ReservedTag.
	Immediate bool
	// LUN is copied from the NOP-In when TTT is not ReservedTag.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag: a valid tag asks for a NOP-In in
	// reply; ReservedTag asks for none.
	ITT uint32
	// TTT is the Target Transfer Tag copied from the NOP-In being
	// answered, or ReservedTag.
	TTT uint32
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// Data is the ping data, reflected in the NOP-In. After DecodeFrame or
	// UnmarshalBinary it aliases the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpNOPOut.
func (p *NOPOut) Opcode() Opcode { return OpNOPOut }

// check enforces the tag rules of RFC 7143 section 11.18.1.
func (p *NOPOut) check() error {
	// RFC 7143 section 11.18.1: "If the Initiator Task Tag contains
	// 0xffffffff, the I bit MUST be set to 1".
	if p.ITT == ReservedTag && !p.Immediate {
		return fmt.Errorf("%w: NOP-Out with Initiator Task Tag 0x%08x and the I bit clear", ErrInvalidField, p.ITT)
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *NOPOut) EncodeFrame(f *Frame) error {
	if err := p.check(); err != nil {
		return err
	}
	beginFrame(f, OpNOPOut, p.Immediate)
	h := &f.BHS
	h[1] = finalBit
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *NOPOut) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpNOPOut); err != nil {
		return err
	}
	if err := taskNoAHS(f); err != nil {
		return err
	}
	if err := taskFinalSet(f); err != nil {
		return err
	}
	h := &f.BHS
	n := NOPOut{
		Immediate: h.Immediate(),
		LUN:       scsi.LUN(h.LUN()),
		ITT:       h.ITT(),
		TTT:       h.Uint32(20),
		CmdSN:     h.Uint32(24),
		ExpStatSN: h.Uint32(28),
		Data:      f.Data,
	}
	if err := n.check(); err != nil {
		return err
	}
	*p = n
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *NOPOut) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *NOPOut) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole NOP-Out without digests. p.Data aliases
// b.
func (p *NOPOut) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
