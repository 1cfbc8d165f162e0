package scsi

// PreventAllowMediumRemoval is PREVENT ALLOW MEDIUM REMOVAL (SPC-4
// section 6.13):
//
//	byte 0    OPERATION CODE (1Eh)
//	byte 1-3  reserved
//	byte 4    reserved (7-2) | PREVENT (1-0)
//	byte 5    CONTROL
type PreventAllowMediumRemoval struct {
	// Prevent is PREVENT, 2 bits: 00b removal allowed, 01b removal
	// prevented; 10b and 11b are obsolete (the target decides).
	Prevent uint8
	Control ControlByte // CONTROL byte
}

// OpCode returns OpPreventAllowMediumRemoval.
func (p *PreventAllowMediumRemoval) OpCode() OpCode { return OpPreventAllowMediumRemoval }

// MarshalBinary returns the CDB.
func (p *PreventAllowMediumRemoval) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, 6))
}

// AppendBinary appends the CDB to b.
func (p *PreventAllowMediumRemoval) AppendBinary(b []byte) ([]byte, error) {
	if !cdbFits(uint64(p.Prevent), 2) {
		return b, cdbFitErr(OpPreventAllowMediumRemoval, 4, 1, "PREVENT", uint64(p.Prevent), 2)
	}
	return append(b, byte(OpPreventAllowMediumRemoval), 0, 0, 0, p.Prevent, byte(p.Control)), nil
}

// UnmarshalBinary decodes a PREVENT ALLOW MEDIUM REMOVAL CDB.
func (p *PreventAllowMediumRemoval) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpPreventAllowMediumRemoval); err != nil {
		return err
	}
	*p = PreventAllowMediumRemoval{Prevent: cdb[4] & 0x03, Control: ControlByte(cdb[5])}
	return nil
}
