package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// R2T is the Ready To Transfer PDU, opcode 0x31 (RFC 7143 section 11.8):
// the target asks for a range of a command's write data.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x31      |1| Reserved                                    |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN                                                           |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Target Transfer Tag                                           |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| R2TSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	40| Buffer Offset                                                 |
//	  +---------------+---------------+---------------+---------------+
//	44| Desired Data Transfer Length                                  |
//	  +---------------------------------------------------------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//
// An R2T has no data segment.
type R2T struct {
	// LUN is the command's LUN.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of the command.
	ITT uint32
	// TTT is the Target Transfer Tag the Data-Outs answering this R2T
	// carry.
	TTT uint32
	// StatSN is the next status sequence number; an R2T does not advance
	// it.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target accepts.
	MaxCmdSN uint32
	// R2TSN numbers the command's R2Ts from 0.
	R2TSN uint32
	// BufferOffset is where the requested data starts in the command's
	// write buffer.
	BufferOffset uint32
	// DesiredDataTransferLength is how many bytes the target asks for; it
	// is never 0.
	DesiredDataTransferLength uint32
}

// Opcode returns OpR2T.
func (p *R2T) Opcode() Opcode { return OpR2T }

// check enforces RFC 7143 section 11.8.4.
func (p *R2T) check() error {
	// RFC 7143 section 11.8.4: "The Desired Data Transfer Length MUST NOT
	// be 0 and MUST NOT exceed MaxBurstLength." (The session checks
	// MaxBurstLength.)
	if p.DesiredDataTransferLength == 0 {
		return fmt.Errorf("%w: R2T with Desired Data Transfer Length 0", ErrInvalidField)
	}
	return nil
}

// EncodeFrame fills f from p.
func (p *R2T) EncodeFrame(f *Frame) error {
	if err := p.check(); err != nil {
		return err
	}
	beginFrame(f, OpR2T, false)
	h := &f.BHS
	h[1] = finalBit
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h.PutUint32(36, p.R2TSN)
	h.PutUint32(40, p.BufferOffset)
	h.PutUint32(44, p.DesiredDataTransferLength)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *R2T) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpR2T); err != nil {
		return err
	}
	// RFC 7143 section 11.8.1: "For this PDU TotalAHSLength and
	// DataSegmentLength MUST be 0."
	if err := taskNoAHS(f); err != nil {
		return err
	}
	if err := taskNoData(f); err != nil {
		return err
	}
	if err := taskFinalSet(f); err != nil {
		return err
	}
	h := &f.BHS
	r := R2T{
		LUN:                       scsi.LUN(h.LUN()),
		ITT:                       h.ITT(),
		TTT:                       h.Uint32(20),
		StatSN:                    h.Uint32(24),
		ExpCmdSN:                  h.Uint32(28),
		MaxCmdSN:                  h.Uint32(32),
		R2TSN:                     h.Uint32(36),
		BufferOffset:              h.Uint32(40),
		DesiredDataTransferLength: h.Uint32(44),
	}
	if err := r.check(); err != nil {
		return err
	}
	*p = r
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *R2T) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *R2T) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole R2T without digests.
func (p *R2T) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
