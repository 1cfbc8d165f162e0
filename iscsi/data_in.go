package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// Bits of byte 1 of a Data-In besides F, O and U.
const (
	dataInAckBit    = 0x40 // A
	dataInStatusBit = 0x01 // S
)

// DataIn is the SCSI Data-In PDU, opcode 0x25 (RFC 7143 section 11.7):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x25      |F|A|0 0 0|O|U|S| Reserved      |Status or Rsvd |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN or Reserved                                               |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Target Transfer Tag or 0xffffffff                             |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN or Reserved                                            |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| DataSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	40| Buffer Offset                                                 |
//	  +---------------+---------------+---------------+---------------+
//	44| Residual Count                                                |
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//	  / DataSegment                                                   /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  | Data-Digest (optional)                                        |
//	  +---------------+---------------+---------------+---------------+
//
// Overflow, Underflow, Status, StatSN and ResidualCount are meaningful only
// with HasStatus: EncodeFrame sends them only then, and DecodeFrame leaves
// them zero otherwise.
type DataIn struct {
	// Final is the F bit: the last Data-In of a sequence.
	Final bool
	// Acknowledge is the A bit: the target asks for a DataACK SNACK
	// (ErrorRecoveryLevel 1 and up).
	Acknowledge bool
	// Overflow is the O bit: Residual Overflow.
	Overflow bool
	// Underflow is the U bit: Residual Underflow.
	Underflow bool
	// HasStatus is the S bit: the PDU carries the command's status, and
	// no SCSI Response follows.
	HasStatus bool
	// Status is the SCSI status.
	Status scsi.Status
	// LUN is the LUN, required with Acknowledge and reserved otherwise.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of the command.
	ITT uint32
	// TTT is the Target Transfer Tag, required with Acknowledge; otherwise
	// ReservedTag.
	TTT uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target accepts.
	MaxCmdSN uint32
	// DataSN numbers the command's Data-In PDUs from 0.
	DataSN uint32
	// BufferOffset is the offset of Data in the command's read buffer.
	BufferOffset uint32
	// ResidualCount is the residual, as in a SCSI Response.
	ResidualCount uint32
	// Data is the payload. After DecodeFrame or UnmarshalBinary it aliases
	// the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpDataIn.
func (p *DataIn) Opcode() Opcode { return OpDataIn }

// check enforces the flag rules of RFC 7143 section 11.7.
func (p *DataIn) check() error {
	// RFC 7143 section 11.7.3: S "set to indicate that the Command Status
	// field contains status. If this bit is set to 1, the F bit MUST also
	// be set to 1."
	if p.HasStatus && !p.Final {
		return fmt.Errorf("%w: Data-In with S set and F clear", ErrInvalidField)
	}
	// RFC 7143 section 11.4.1, which section 11.7.3 refers to for O and U:
	// "Bits O and U ... are mutually exclusive".
	if p.HasStatus && p.Overflow && p.Underflow {
		return fmt.Errorf("%w: Data-In with both O and U set", ErrInvalidField)
	}
	// RFC 7143 section 11.7.4: "On incoming data, the Target Transfer Tag
	// and LUN MUST be provided by the target if the A bit is set to 1".
	if p.Acknowledge && p.TTT == ReservedTag {
		return fmt.Errorf("%w: Data-In with A set and Target Transfer Tag 0x%08x", ErrInvalidField, p.TTT)
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *DataIn) EncodeFrame(f *Frame) error {
	if err := p.check(); err != nil {
		return err
	}
	beginFrame(f, OpDataIn, false)
	h := &f.BHS
	h.SetFinal(p.Final)
	if p.Acknowledge {
		h[1] |= dataInAckBit
	}
	if p.HasStatus {
		h[1] |= dataInStatusBit
		if p.Overflow {
			h[1] |= respOverflowBit
		}
		if p.Underflow {
			h[1] |= respUnderflowBit
		}
		h[3] = byte(p.Status)
		h.PutUint32(24, p.StatSN)
		h.PutUint32(44, p.ResidualCount)
	}
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h.PutUint32(36, p.DataSN)
	h.PutUint32(40, p.BufferOffset)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *DataIn) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpDataIn); err != nil {
		return err
	}
	if err := taskNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	d := DataIn{
		Final:        h.Final(),
		Acknowledge:  h[1]&dataInAckBit != 0,
		HasStatus:    h[1]&dataInStatusBit != 0,
		LUN:          scsi.LUN(h.LUN()),
		ITT:          h.ITT(),
		TTT:          h.Uint32(20),
		ExpCmdSN:     h.Uint32(28),
		MaxCmdSN:     h.Uint32(32),
		DataSN:       h.Uint32(36),
		BufferOffset: h.Uint32(40),
		Data:         f.Data,
	}
	// RFC 7143 section 11.7.3: "The fields StatSN, Status, and Residual
	// Count only have meaningful content if the S bit is set to 1", and O
	// and U "are only valid when S is set to 1".
	if d.HasStatus {
		d.Overflow = h[1]&respOverflowBit != 0
		d.Underflow = h[1]&respUnderflowBit != 0
		d.Status = scsi.Status(h[3])
		d.StatSN = h.Uint32(24)
		d.ResidualCount = h.Uint32(44)
	}
	if err := d.check(); err != nil {
		return err
	}
	*p = d
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *DataIn) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *DataIn) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole SCSI Data-In without digests. p.Data
// aliases b.
func (p *DataIn) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
