package scsi

import (
	"encoding/binary"
	"fmt"
)

// ReadCapacity10 is READ CAPACITY(10) (SBC-3 section 5.15):
//
//	byte 0    OPERATION CODE (25h)
//	byte 1    reserved (7-1) | obsolete (0)
//	byte 2-5  LOGICAL BLOCK ADDRESS
//	byte 6-7  reserved
//	byte 8    reserved (7-1) | PMI (0)
//	byte 9    CONTROL
type ReadCapacity10 struct {
	LBA     uint32      // LOGICAL BLOCK ADDRESS; must be zero when PMI is clear
	PMI     bool        // PMI: partial medium indicator
	Control ControlByte // CONTROL byte
}

// OpCode returns OpReadCapacity10.
func (r *ReadCapacity10) OpCode() OpCode { return OpReadCapacity10 }

// MarshalBinary returns the CDB.
func (r *ReadCapacity10) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (r *ReadCapacity10) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpReadCapacity10), 0)
	b = binary.BigEndian.AppendUint32(b, r.LBA)
	return append(b, 0, 0, cdbBit(r.PMI, 0x01), byte(r.Control)), nil
}

// UnmarshalBinary decodes a READ CAPACITY(10) CDB. A non-zero LBA with PMI
// clear is a *CDBFieldError at byte 2.
func (r *ReadCapacity10) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpReadCapacity10); err != nil {
		return err
	}
	lba := binary.BigEndian.Uint32(cdb[2:6])
	pmi := cdb[8]&0x01 != 0
	if err := cdbCheckPMI(OpReadCapacity10, uint64(lba), pmi); err != nil {
		return err
	}
	*r = ReadCapacity10{LBA: lba, PMI: pmi, Control: ControlByte(cdb[9])}
	return nil
}

// cdbCheckPMI enforces the PMI rule of READ CAPACITY(10) and (16).
func cdbCheckPMI(op OpCode, lba uint64, pmi bool) error {
	if !pmi && lba != 0 {
		// SBC-3 5.15 and 5.16: "If the PMI bit is set to zero and the
		// LOGICAL BLOCK ADDRESS field is not set to zero, then the device
		// server shall terminate the command with CHECK CONDITION status
		// with the sense key set to ILLEGAL REQUEST and the additional
		// sense code set to INVALID FIELD IN CDB."
		return &CDBFieldError{Op: op, Byte: 2, Bit: -1,
			Reason: fmt.Sprintf("LOGICAL BLOCK ADDRESS 0x%x with PMI clear", lba)}
	}
	return nil
}

// ReadCapacity16 is READ CAPACITY(16), service action 10h of SERVICE
// ACTION IN(16) (SBC-3 section 5.16):
//
//	byte 0      OPERATION CODE (9Eh)
//	byte 1      reserved (7-5) | SERVICE ACTION (4-0) (10h)
//	byte 2-9    LOGICAL BLOCK ADDRESS
//	byte 10-13  ALLOCATION LENGTH
//	byte 14     reserved (7-1) | PMI (0)
//	byte 15     CONTROL
type ReadCapacity16 struct {
	LBA              uint64      // LOGICAL BLOCK ADDRESS; must be zero when PMI is clear
	AllocationLength uint32      // ALLOCATION LENGTH, in bytes; the full data is ReadCapacity16DataLength bytes
	PMI              bool        // PMI: partial medium indicator
	Control          ControlByte // CONTROL byte
}

// OpCode returns OpServiceActionIn16.
func (r *ReadCapacity16) OpCode() OpCode { return OpServiceActionIn16 }

// MarshalBinary returns the CDB.
func (r *ReadCapacity16) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (r *ReadCapacity16) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpServiceActionIn16), SAReadCapacity16)
	b = binary.BigEndian.AppendUint64(b, r.LBA)
	b = binary.BigEndian.AppendUint32(b, r.AllocationLength)
	return append(b, cdbBit(r.PMI, 0x01), byte(r.Control)), nil
}

// UnmarshalBinary decodes a READ CAPACITY(16) CDB. A non-zero LBA with PMI
// clear is a *CDBFieldError at byte 2.
func (r *ReadCapacity16) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpServiceActionIn16)
	if err != nil {
		return err
	}
	if err := cdbCheckSA(op, cdb, SAReadCapacity16); err != nil {
		return err
	}
	lba := binary.BigEndian.Uint64(cdb[2:10])
	pmi := cdb[14]&0x01 != 0
	if err := cdbCheckPMI(op, lba, pmi); err != nil {
		return err
	}
	*r = ReadCapacity16{
		LBA:              lba,
		AllocationLength: binary.BigEndian.Uint32(cdb[10:14]),
		PMI:              pmi,
		Control:          ControlByte(cdb[15]),
	}
	return nil
}
