package scsi

import "encoding/binary"

// ModeSelect is MODE SELECT(6) or MODE SELECT(10) (SPC-4 sections 6.9 and
// 6.10):
//
//	MODE SELECT(6)                      MODE SELECT(10)
//	byte 0  OPERATION CODE (15h)        byte 0    OPERATION CODE (55h)
//	byte 1  rsvd | PF (4) | rsvd | SP (0) byte 1  rsvd | PF (4) | rsvd | SP (0)
//	byte 2-3 reserved                   byte 2-6  reserved
//	byte 4  PARAMETER LIST LENGTH       byte 7-8  PARAMETER LIST LENGTH
//	byte 5  CONTROL                     byte 9    CONTROL
type ModeSelect struct {
	// Op is OpModeSelect6 or OpModeSelect10. Zero encodes as MODE
	// SELECT(6) when ParameterListLength fits a byte, MODE SELECT(10)
	// otherwise.
	Op                  OpCode
	PF                  bool        // PF: page format
	SP                  bool        // SP: save pages
	ParameterListLength uint16      // one byte in MODE SELECT(6)
	Control             ControlByte // CONTROL byte
}

// Byte 1 bits of MODE SELECT.
const (
	cdbBitPF = 0x10
	cdbBitSP = 0x01
)

// OpCode returns Op, or the operation code a zero Op encodes as.
func (m *ModeSelect) OpCode() OpCode {
	if m.Op != 0 {
		return m.Op
	}
	if m.ParameterListLength > 0xff {
		return OpModeSelect10
	}
	return OpModeSelect6
}

// MarshalBinary returns the CDB.
func (m *ModeSelect) MarshalBinary() ([]byte, error) { return m.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (m *ModeSelect) AppendBinary(b []byte) ([]byte, error) {
	op := m.OpCode()
	if err := cdbCheckOp(op, OpModeSelect6, OpModeSelect10); err != nil {
		return b, err
	}
	b1 := cdbBit(m.PF, cdbBitPF) | cdbBit(m.SP, cdbBitSP)
	if op == OpModeSelect6 {
		if !cdbFits(uint64(m.ParameterListLength), 8) {
			return b, cdbFitErr(op, 4, -1, "PARAMETER LIST LENGTH", uint64(m.ParameterListLength), 8)
		}
		return append(b, byte(op), b1, 0, 0, byte(m.ParameterListLength), byte(m.Control)), nil
	}
	b = append(b, byte(op), b1, 0, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, m.ParameterListLength)
	return append(b, byte(m.Control)), nil
}

// UnmarshalBinary decodes a MODE SELECT CDB. Whether PF clear or SP set
// is acceptable is the target's decision.
func (m *ModeSelect) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpModeSelect6, OpModeSelect10)
	if err != nil {
		return err
	}
	*m = ModeSelect{Op: op, PF: cdb[1]&cdbBitPF != 0, SP: cdb[1]&cdbBitSP != 0}
	if op == OpModeSelect6 {
		m.ParameterListLength = uint16(cdb[4])
		m.Control = ControlByte(cdb[5])
		return nil
	}
	m.ParameterListLength = binary.BigEndian.Uint16(cdb[7:9])
	m.Control = ControlByte(cdb[9])
	return nil
}
