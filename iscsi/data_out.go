package iscsi

import (
	"github.com/lunarsan/lunar/scsi"
)

// DataOut is the SCSI Data-Out PDU, opcode 0x05 (RFC 7143 section 11.7):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x05      |F| Reserved                                    |
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
//	24| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| DataSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	40| Buffer Offset                                                 |
//	  +---------------+---------------+---------------+---------------+
//	44| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//	  / DataSegment                                                   /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  | Data-Digest (optional)                                        |
//	  +---------------+---------------+---------------+---------------+
type DataOut struct {
	// Final is the F bit: the last Data-Out of a sequence (the end of an
	// R2T's data or of the unsolicited data).
	Final bool
	// LUN is the LUN of the R2T being answered; reserved for unsolicited
	// data.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of the command.
	ITT uint32
	// TTT is the Target Transfer Tag copied from the R2T, or ReservedTag
	// for unsolicited data.
	TTT uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// DataSN numbers the Data-Out PDUs of one sequence from 0.
	DataSN uint32
	// BufferOffset is the offset of Data in the command's write buffer.
	BufferOffset uint32
	// Data is the payload. After DecodeFrame or UnmarshalBinary it aliases
	// the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpDataOut.
func (p *DataOut) Opcode() Opcode { return OpDataOut }

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *DataOut) EncodeFrame(f *Frame) error {
	beginFrame(f, OpDataOut, false)
	h := &f.BHS
	h.SetFinal(p.Final)
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(28, p.ExpStatSN)
	h.PutUint32(36, p.DataSN)
	h.PutUint32(40, p.BufferOffset)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *DataOut) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpDataOut); err != nil {
		return err
	}
	if err := taskNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = DataOut{
		Final:        h.Final(),
		LUN:          scsi.LUN(h.LUN()),
		ITT:          h.ITT(),
		TTT:          h.Uint32(20),
		ExpStatSN:    h.Uint32(28),
		DataSN:       h.Uint32(36),
		BufferOffset: h.Uint32(40),
		Data:         f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *DataOut) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *DataOut) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole SCSI Data-Out without digests. p.Data
// aliases b.
func (p *DataOut) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
