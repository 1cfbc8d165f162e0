package scsi

import "encoding/binary"

// GetLBAStatus is GET LBA STATUS, service action 12h of SERVICE ACTION
// IN(16) (SBC-3 section 5.5):
//
//	byte 0      OPERATION CODE (9Eh)
//	byte 1      reserved (7-5) | SERVICE ACTION (4-0) (12h)
//	byte 2-9    STARTING LOGICAL BLOCK ADDRESS
//	byte 10-13  ALLOCATION LENGTH
//	byte 14     reserved
//	byte 15     CONTROL
type GetLBAStatus struct {
	LBA              uint64      // STARTING LOGICAL BLOCK ADDRESS
	AllocationLength uint32      // ALLOCATION LENGTH, in bytes, of the LBAStatusData to return
	Control          ControlByte // CONTROL byte
}

// OpCode returns OpServiceActionIn16.
func (g *GetLBAStatus) OpCode() OpCode { return OpServiceActionIn16 }

// MarshalBinary returns the CDB.
func (g *GetLBAStatus) MarshalBinary() ([]byte, error) { return g.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (g *GetLBAStatus) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpServiceActionIn16), SAGetLBAStatus)
	b = binary.BigEndian.AppendUint64(b, g.LBA)
	b = binary.BigEndian.AppendUint32(b, g.AllocationLength)
	return append(b, 0, byte(g.Control)), nil
}

// UnmarshalBinary decodes a GET LBA STATUS CDB.
func (g *GetLBAStatus) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpServiceActionIn16)
	if err != nil {
		return err
	}
	if err := cdbCheckSA(op, cdb, SAGetLBAStatus); err != nil {
		return err
	}
	*g = GetLBAStatus{
		LBA:              binary.BigEndian.Uint64(cdb[2:10]),
		AllocationLength: binary.BigEndian.Uint32(cdb[10:14]),
		Control:          ControlByte(cdb[15]),
	}
	return nil
}
