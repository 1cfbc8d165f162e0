package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// SNACKType is the Type field of a SNACK Request (RFC 7143 section
// 11.16.1).
type SNACKType uint8

// The SNACK types of RFC 7143 section 11.16.1.
const (
	// SNACKDataR2T asks for Data-In or R2T PDUs to be resent.
	SNACKDataR2T SNACKType = 0
	// SNACKStatus asks for status (responses) to be resent.
	SNACKStatus SNACKType = 1
	// SNACKDataACK positively acknowledges Data-In PDUs.
	SNACKDataACK SNACKType = 2
	// SNACKRData asks for Data-In to be resent and resegmented (R-Data
	// SNACK).
	SNACKRData SNACKType = 3
)

// String returns the RFC's name for the type.
func (t SNACKType) String() string {
	switch t {
	case SNACKDataR2T:
		return "Data/R2T SNACK"
	case SNACKStatus:
		return "Status SNACK"
	case SNACKDataACK:
		return "DataACK"
	case SNACKRData:
		return "R-Data SNACK"
	}
	return fmt.Sprintf("SNACK type %d", uint8(t))
}

// snackTypeMask selects the four-bit Type in byte 1.
const snackTypeMask = 0x0f

// SNACKRequest is the SNACK Request PDU, opcode 0x10 (RFC 7143 section
// 11.16). It has no data segment.
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x10      |1|.|.|.| Type  | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN or Reserved                                               |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag or 0xffffffff                              |
//	  +---------------+---------------+---------------+---------------+
//	20| Target Transfer Tag or SNACK Tag or 0xffffffff                |
//	  +---------------+---------------+---------------+---------------+
//	24| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	40| BegRun                                                        |
//	  +---------------------------------------------------------------+
//	44| RunLength                                                     |
//	  +---------------------------------------------------------------+
//
// The F bit is always 1: EncodeFrame sets it and DecodeFrame ignores it.
type SNACKRequest struct {
	// Type says what is asked for; a four-bit field.
	Type SNACKType
	// LUN is the logical unit number (for DataACK), or reserved.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag, or 0xffffffff.
	ITT uint32
	// TTT is the Target Transfer Tag (DataACK) or SNACK Tag (R-Data
	// SNACK), or 0xffffffff.
	TTT uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// BegRun is the first DataSN, R2TSN or StatSN asked for.
	BegRun uint32
	// RunLength is the number of PDUs asked for; 0 means all from
	// BegRun on.
	RunLength uint32
}

// Opcode returns OpSNACKReq.
func (p *SNACKRequest) Opcode() Opcode { return OpSNACKReq }

// EncodeFrame fills f from p.
func (p *SNACKRequest) EncodeFrame(f *Frame) error {
	if p.Type > snackTypeMask {
		return fmt.Errorf("%w: SNACK type %d does not fit four bits", ErrInvalidField, uint8(p.Type))
	}
	beginFrame(f, OpSNACKReq, false)
	h := &f.BHS
	h[1] = finalBit | byte(p.Type)
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.TTT)
	h.PutUint32(28, p.ExpStatSN)
	h.PutUint32(40, p.BegRun)
	h.PutUint32(44, p.RunLength)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *SNACKRequest) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpSNACKReq); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	if err := sessNoData(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = SNACKRequest{
		Type:      SNACKType(h[1] & snackTypeMask),
		LUN:       scsi.LUN(h.LUN()),
		ITT:       h.ITT(),
		TTT:       h.Uint32(20),
		ExpStatSN: h.Uint32(28),
		BegRun:    h.Uint32(40),
		RunLength: h.Uint32(44),
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *SNACKRequest) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *SNACKRequest) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole SNACK Request without digests.
func (p *SNACKRequest) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
