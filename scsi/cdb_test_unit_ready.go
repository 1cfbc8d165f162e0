package scsi

// TestUnitReady is TEST UNIT READY (SPC-4 section 6.47):
//
//	byte 0    OPERATION CODE (00h)
//	byte 1-4  reserved
//	byte 5    CONTROL
type TestUnitReady struct {
	Control ControlByte // CONTROL byte
}

// OpCode returns OpTestUnitReady.
func (t *TestUnitReady) OpCode() OpCode { return OpTestUnitReady }

// MarshalBinary returns the CDB.
func (t *TestUnitReady) MarshalBinary() ([]byte, error) { return t.AppendBinary(make([]byte, 0, 6)) }

// AppendBinary appends the CDB to b.
func (t *TestUnitReady) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(OpTestUnitReady), 0, 0, 0, 0, byte(t.Control)), nil
}

// UnmarshalBinary decodes a TEST UNIT READY CDB.
func (t *TestUnitReady) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpTestUnitReady); err != nil {
		return err
	}
	*t = TestUnitReady{Control: ControlByte(cdb[5])}
	return nil
}
