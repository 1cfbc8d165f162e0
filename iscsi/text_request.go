package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// textContinueBit is the C bit in byte 1 of Text Requests and Responses.
const textContinueBit = 0x40

// TextRequest is the Text Request PDU, opcode 0x04 (RFC 7143 section
// 11.10):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| 0x04      |F|C| Reserved                                  |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| Logical Unit Number (LUN) or Reserved                         |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
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
//	48/ DataSegment (Text)                                            /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
type TextRequest struct {
	// Immediate is the I bit.
	Immediate bool
	// Final is the F bit: this is the last Text Request of the
	// sequence.
	Final bool
	// Continue is the C bit: the text in Data continues in the next
	// Text Request.
	Continue bool
	// LUN is the logical unit number, or reserved (zero).
	LUN scsi.LUN
	// ITT is the Initiator Task Tag.
	ITT uint32
	// TTT is the Target Transfer Tag, 0xffffffff when the request
	// starts a new exchange.
	TTT uint32
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// Data is the data segment: key=value pairs in text format. After
	// DecodeFrame or UnmarshalBinary it aliases the frame's or the
	// input's memory.
	Data []byte
}

// Opcode returns OpTextReq.
func (p *TextRequest) Opcode() Opcode { return OpTextReq }

// textFlags builds byte 1 of a Text Request or Response.
func textFlags(op Opcode, final, cont bool) (byte, error) {
	// "A Text Request with the C bit set to 1 MUST have the F bit set to
	// 0." (11.10.2; 11.11.2 says the same of Text Responses.)
	if final && cont {
		return 0, fmt.Errorf("%w: %v with both F and C set", ErrInvalidField, op)
	}
	var b byte
	if final {
		b |= finalBit
	}
	if cont {
		b |= textContinueBit
	}
	return b, nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *TextRequest) EncodeFrame(f *Frame) error {
	b1, err := textFlags(OpTextReq, p.Final, p.Continue)
	if err != nil {
		return err
	}
	beginFrame(f, OpTextReq, p.Immediate)
	h := &f.BHS
	h[1] = b1
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *TextRequest) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpTextReq); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	final, cont := h.Final(), h[1]&textContinueBit != 0
	if _, err := textFlags(OpTextReq, final, cont); err != nil {
		return err
	}
	*p = TextRequest{
		Immediate: h.Immediate(),
		Final:     final,
		Continue:  cont,
		LUN:       scsi.LUN(h.LUN()),
		ITT:       h.ITT(),
		TTT:       h.Uint32(20),
		CmdSN:     h.Uint32(24),
		ExpStatSN: h.Uint32(28),
		Data:      f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *TextRequest) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *TextRequest) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Text Request without digests. p.Data
// aliases b.
func (p *TextRequest) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
