package iscsi

import "github.com/lunarsan/lunar/scsi"

// TextResponse is the Text Response PDU, opcode 0x24 (RFC 7143 section
// 11.11):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x24      |F|C| Reserved                                  |
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
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48/ DataSegment (Text)                                            /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
type TextResponse struct {
	// Final is the F bit: the target has finished the exchange.
	Final bool
	// Continue is the C bit: the text in Data continues in the next
	// Text Response.
	Continue bool
	// LUN is the logical unit number, or reserved (zero).
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of the request answered.
	ITT uint32
	// TTT is the Target Transfer Tag: 0xffffffff when Final, otherwise
	// a tag the initiator echoes to continue the exchange.
	TTT uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target will accept.
	MaxCmdSN uint32
	// Data is the data segment: key=value pairs in text format. After
	// DecodeFrame or UnmarshalBinary it aliases the frame's or the
	// input's memory.
	Data []byte
}

// Opcode returns OpTextResp.
func (p *TextResponse) Opcode() Opcode { return OpTextResp }

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *TextResponse) EncodeFrame(f *Frame) error {
	// "A Text Response with the C bit set to 1 MUST have the F bit set
	// to 0." (11.11.2)
	b1, err := textFlags(OpTextResp, p.Final, p.Continue)
	if err != nil {
		return err
	}
	beginFrame(f, OpTextResp, false)
	h := &f.BHS
	h[1] = b1
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
func (p *TextResponse) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpTextResp); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	final, cont := h.Final(), h[1]&textContinueBit != 0
	// "A Text Response with the C bit set to 1 MUST have the F bit set
	// to 0." (11.11.2)
	if _, err := textFlags(OpTextResp, final, cont); err != nil {
		return err
	}
	*p = TextResponse{
		Final:    final,
		Continue: cont,
		LUN:      scsi.LUN(h.LUN()),
		ITT:      h.ITT(),
		TTT:      h.Uint32(20),
		StatSN:   h.Uint32(24),
		ExpCmdSN: h.Uint32(28),
		MaxCmdSN: h.Uint32(32),
		Data:     f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *TextResponse) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *TextResponse) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Text Response without digests. p.Data
// aliases b.
func (p *TextResponse) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
