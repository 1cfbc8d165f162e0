package scsi

import "fmt"

// StartStopUnit is START STOP UNIT (SBC-3 section 5.20):
//
//	byte 0    OPERATION CODE (1Bh)
//	byte 1    reserved (7-1) | IMMED (0)
//	byte 2    reserved
//	byte 3    reserved (7-4) | POWER CONDITION MODIFIER (3-0)
//	byte 4    POWER CONDITION (7-4) | reserved (3) | NO_FLUSH (2) | LOEJ (1) | START (0)
//	byte 5    CONTROL
type StartStopUnit struct {
	Immed                  bool  // IMMED: return status once the CDB is validated, before the operation completes
	PowerConditionModifier uint8 // 4 bits
	// PowerCondition is POWER CONDITION, 4 bits: 0h START_VALID (process
	// START and LOEJ), 1h ACTIVE, 2h IDLE, 3h STANDBY, 7h LU_CONTROL, Ah
	// FORCE_IDLE_0, Bh FORCE_STANDBY_0; 5h is obsolete, the rest reserved.
	PowerCondition uint8
	NoFlush        bool        // NO_FLUSH
	LoEj           bool        // LOEJ: load or eject the medium
	Start          bool        // START
	Control        ControlByte // CONTROL byte
}

// OpCode returns OpStartStopUnit.
func (s *StartStopUnit) OpCode() OpCode { return OpStartStopUnit }

// MarshalBinary returns the CDB.
func (s *StartStopUnit) MarshalBinary() ([]byte, error) { return s.AppendBinary(make([]byte, 0, 6)) }

// AppendBinary appends the CDB to b.
func (s *StartStopUnit) AppendBinary(b []byte) ([]byte, error) {
	if !cdbFits(uint64(s.PowerConditionModifier), 4) {
		return b, cdbFitErr(OpStartStopUnit, 3, 3, "POWER CONDITION MODIFIER", uint64(s.PowerConditionModifier), 4)
	}
	if !cdbFits(uint64(s.PowerCondition), 4) {
		return b, cdbFitErr(OpStartStopUnit, 4, 7, "POWER CONDITION", uint64(s.PowerCondition), 4)
	}
	b4 := s.PowerCondition<<4 | cdbBit(s.NoFlush, 0x04) | cdbBit(s.LoEj, 0x02) | cdbBit(s.Start, 0x01)
	return append(b, byte(OpStartStopUnit), cdbBit(s.Immed, 0x01), 0, s.PowerConditionModifier, b4, byte(s.Control)), nil
}

// UnmarshalBinary decodes a START STOP UNIT CDB. A reserved POWER
// CONDITION is a *CDBFieldError at byte 4 bit 7.
func (s *StartStopUnit) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpStartStopUnit); err != nil {
		return err
	}
	pc := cdb[4] >> 4
	switch pc {
	case 0x0, 0x1, 0x2, 0x3, 0x5, 0x7, 0xa, 0xb:
	default:
		// SBC-3 5.20, table of POWER CONDITION values: the others are
		// reserved, and a reserved CDB field value is answered with
		// INVALID FIELD IN CDB (SPC-4 4.2.5.1).
		return &CDBFieldError{Op: OpStartStopUnit, Byte: 4, Bit: 7, Reason: fmt.Sprintf("POWER CONDITION 0x%x is reserved", pc)}
	}
	*s = StartStopUnit{
		Immed:                  cdb[1]&0x01 != 0,
		PowerConditionModifier: cdb[3] & 0x0f,
		PowerCondition:         pc,
		NoFlush:                cdb[4]&0x04 != 0,
		LoEj:                   cdb[4]&0x02 != 0,
		Start:                  cdb[4]&0x01 != 0,
		Control:                ControlByte(cdb[5]),
	}
	return nil
}
