package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// NOPIn is the NOP-In PDU, opcode 0x20 (RFC 7143 section 11.19): the
// target's answer to a NOP-Out ping, or its own ping (or a way to carry a
// new MaxCmdSN) when it sets a Target Transfer Tag.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x20      |1| Reserved                                    |
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
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//	  / DataSegment - Return Ping Data                                /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  | Data-Digest (optional)                                        |
//	  +---------------+---------------+---------------+---------------+
type NOPIn struct {
	// LUN must be set when TTT is not ReservedTag.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of the NOP-Out being answered, or
	// ReservedTag for a NOP-In the target starts.
	ITT uint32
	// TTT is a Target Transfer Tag asking the initiator for a NOP-Out, or
	// ReservedTag.
	TTT uint32
	// StatSN is the next status sequence number; it does not advance when
	// ITT is ReservedTag.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target accepts.
	MaxCmdSN uint32
	// Data is the ping data returned from the NOP-Out. After DecodeFrame
	// or UnmarshalBinary it aliases the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpNOPIn.
func (p *NOPIn) Opcode() Opcode { return OpNOPIn }

// check enforces the tag rules of RFC 7143 section 11.19.
func (p *NOPIn) check() error {
	// RFC 7143 section 11.19: in a response to a NOP-Out "the Target
	// Transfer Tag MUST be 0xffffffff".
	if p.ITT != ReservedTag && p.TTT != ReservedTag {
		return fmt.Errorf("%w: NOP-In with both Initiator Task Tag 0x%08x and Target Transfer Tag 0x%08x valid",
			ErrInvalidField, p.ITT, p.TTT)
	}
	// RFC 7143 section 11.19: when a target sends a NOP-In that is not a
	// response, "the Initiator Task Tag MUST be set to 0xffffffff and the
	// Data Segment MUST NOT contain any data (DataSegmentLength MUST be
	// 0)."
	if p.ITT == ReservedTag && len(p.Data) != 0 {
		return fmt.Errorf("%w: NOP-In with Initiator Task Tag 0x%08x and %d bytes of data, want 0",
			ErrDataSegmentLength, p.ITT, len(p.Data))
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *NOPIn) EncodeFrame(f *Frame) error {
	if err := p.check(); err != nil {
		return err
	}
	beginFrame(f, OpNOPIn, false)
	h := &f.BHS
	h[1] = finalBit
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *NOPIn) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpNOPIn); err != nil {
		return err
	}
	if err := taskNoAHS(f); err != nil {
		return err
	}
	if err := taskFinalSet(f); err != nil {
		return err
	}
	h := &f.BHS
	n := NOPIn{
		LUN:      scsi.LUN(h.LUN()),
		ITT:      h.ITT(),
		TTT:      h.Uint32(20),
		StatSN:   h.Uint32(24),
		ExpCmdSN: h.Uint32(28),
		MaxCmdSN: h.Uint32(32),
		Data:     f.Data,
	}
	if err := n.check(); err != nil {
		return err
	}
	*p = n
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *NOPIn) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *NOPIn) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole NOP-In without digests. p.Data aliases
// b.
func (p *NOPIn) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
