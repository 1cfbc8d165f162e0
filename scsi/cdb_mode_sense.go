package scsi

import "encoding/binary"

// PageControl is the PC field of MODE SENSE (SPC-4 section 6.11.1, table
// 98): which values of the mode parameters to return.
type PageControl uint8

// The page control values of SPC-4 table 98.
const (
	PageControlCurrent    PageControl = 0x0
	PageControlChangeable PageControl = 0x1
	PageControlDefault    PageControl = 0x2
	PageControlSaved      PageControl = 0x3
)

// ModeSense is MODE SENSE(6) or MODE SENSE(10) (SPC-4 sections 6.11 and
// 6.12):
//
//	MODE SENSE(6)                     MODE SENSE(10)
//	byte 0  OPERATION CODE (1Ah)      byte 0    OPERATION CODE (5Ah)
//	byte 1  rsvd | DBD (3) | rsvd     byte 1    rsvd | LLBAA (4) | DBD (3) | rsvd
//	byte 2  PC (7-6) | PAGE CODE (5-0) byte 2   PC (7-6) | PAGE CODE (5-0)
//	byte 3  SUBPAGE CODE              byte 3    SUBPAGE CODE
//	byte 4  ALLOCATION LENGTH         byte 4-6  reserved
//	byte 5  CONTROL                   byte 7-8  ALLOCATION LENGTH
//	                                  byte 9    CONTROL
type ModeSense struct {
	// Op is OpModeSense6 or OpModeSense10. Zero encodes as MODE SENSE(6)
	// when LLBAA is clear and AllocationLength fits a byte, MODE
	// SENSE(10) otherwise.
	Op               OpCode
	LLBAA            bool        // LLBAA, MODE SENSE(10) only: long LBA block descriptors accepted
	DBD              bool        // DBD: disable block descriptors
	PC               PageControl // PC (page control), 2 bits: current, changeable, default or saved values
	PageCode         uint8       // PAGE CODE, 6 bits
	SubpageCode      uint8       // SUBPAGE CODE; FFh asks for every subpage
	AllocationLength uint16      // one byte in MODE SENSE(6)
	Control          ControlByte // CONTROL byte
}

// Byte 1 bits of MODE SENSE.
const (
	cdbBitLLBAA = 0x10
	cdbBitDBD   = 0x08
)

// OpCode returns Op, or the operation code a zero Op encodes as.
func (m *ModeSense) OpCode() OpCode {
	if m.Op != 0 {
		return m.Op
	}
	if m.LLBAA || m.AllocationLength > 0xff {
		return OpModeSense10
	}
	return OpModeSense6
}

// MarshalBinary returns the CDB.
func (m *ModeSense) MarshalBinary() ([]byte, error) { return m.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (m *ModeSense) AppendBinary(b []byte) ([]byte, error) {
	op := m.OpCode()
	if err := cdbCheckOp(op, OpModeSense6, OpModeSense10); err != nil {
		return b, err
	}
	if !cdbFits(uint64(m.PC), 2) {
		return b, cdbFitErr(op, 2, 7, "PC", uint64(m.PC), 2)
	}
	if !cdbFits(uint64(m.PageCode), 6) {
		return b, cdbFitErr(op, 2, 5, "PAGE CODE", uint64(m.PageCode), 6)
	}
	b1 := cdbBit(m.DBD, cdbBitDBD)
	b2 := byte(m.PC)<<6 | m.PageCode
	if op == OpModeSense6 {
		if m.LLBAA {
			return b, &CDBFieldError{Op: op, Byte: 1, Bit: 4, Reason: "MODE SENSE(6) has no LLBAA bit"}
		}
		if !cdbFits(uint64(m.AllocationLength), 8) {
			return b, cdbFitErr(op, 4, -1, "ALLOCATION LENGTH", uint64(m.AllocationLength), 8)
		}
		return append(b, byte(op), b1, b2, m.SubpageCode, byte(m.AllocationLength), byte(m.Control)), nil
	}
	b = append(b, byte(op), b1|cdbBit(m.LLBAA, cdbBitLLBAA), b2, m.SubpageCode, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, m.AllocationLength)
	return append(b, byte(m.Control)), nil
}

// UnmarshalBinary decodes a MODE SENSE CDB. Which pages, subpages and page
// control values are supported (SAVING PARAMETERS NOT SUPPORTED for PC
// 11b) is the target's decision.
func (m *ModeSense) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpModeSense6, OpModeSense10)
	if err != nil {
		return err
	}
	*m = ModeSense{
		Op:          op,
		DBD:         cdb[1]&cdbBitDBD != 0,
		PC:          PageControl(cdb[2] >> 6),
		PageCode:    cdb[2] & 0x3f,
		SubpageCode: cdb[3],
	}
	if op == OpModeSense6 {
		m.AllocationLength = uint16(cdb[4])
		m.Control = ControlByte(cdb[5])
		return nil
	}
	m.LLBAA = cdb[1]&cdbBitLLBAA != 0
	m.AllocationLength = binary.BigEndian.Uint16(cdb[7:9])
	m.Control = ControlByte(cdb[9])
	return nil
}
