package scsi

import "encoding/binary"

// Unmap is the UNMAP CDB (SBC-3 section 5.28); its parameter data is
// UnmapParameterList:
//
//	byte 0    OPERATION CODE (42h)
//	byte 1    reserved (7-1) | ANCHOR (0)
//	byte 2-5  reserved
//	byte 6    reserved (7-5) | GROUP NUMBER (4-0)
//	byte 7-8  PARAMETER LIST LENGTH
//	byte 9    CONTROL
type Unmap struct {
	Anchor bool  // ANCHOR; the target checks ANC_SUP
	Group  uint8 // GROUP NUMBER, 5 bits
	// ParameterListLength is PARAMETER LIST LENGTH: the number of bytes of
	// the UnmapParameterList sent as Data-Out. Zero sends none and is not an
	// error; 1 to 7 is a PARAMETER LIST LENGTH ERROR (SBC-3 5.28).
	ParameterListLength uint16
	Control             ControlByte // CONTROL byte
}

// OpCode returns OpUnmap.
func (u *Unmap) OpCode() OpCode { return OpUnmap }

// MarshalBinary returns the CDB.
func (u *Unmap) MarshalBinary() ([]byte, error) { return u.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (u *Unmap) AppendBinary(b []byte) ([]byte, error) {
	if !cdbFits(uint64(u.Group), 5) {
		return b, cdbFitErr(OpUnmap, 6, 4, "GROUP NUMBER", uint64(u.Group), 5)
	}
	b = append(b, byte(OpUnmap), cdbBit(u.Anchor, 0x01), 0, 0, 0, 0, u.Group)
	b = binary.BigEndian.AppendUint16(b, u.ParameterListLength)
	return append(b, byte(u.Control)), nil
}

// UnmarshalBinary decodes an UNMAP CDB.
func (u *Unmap) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpUnmap); err != nil {
		return err
	}
	*u = Unmap{
		Anchor:              cdb[1]&0x01 != 0,
		Group:               cdb[6] & cdbGroupMask,
		ParameterListLength: binary.BigEndian.Uint16(cdb[7:9]),
		Control:             ControlByte(cdb[9]),
	}
	return nil
}
