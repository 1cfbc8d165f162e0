package scsi

import (
	"encoding/binary"
	"fmt"
)

// Inquiry is INQUIRY (SPC-4 section 6.6):
//
//	byte 0    OPERATION CODE (12h)
//	byte 1    reserved (7-2) | obsolete (CMDDT, 1) | EVPD (0)
//	byte 2    PAGE CODE
//	byte 3-4  ALLOCATION LENGTH
//	byte 5    CONTROL
type Inquiry struct {
	EVPD             bool        // EVPD: return the vital product data page PageCode
	PageCode         uint8       // PAGE CODE; must be zero when EVPD is clear
	AllocationLength uint16      // ALLOCATION LENGTH, in bytes, of the INQUIRY data to return
	Control          ControlByte // CONTROL byte
}

// OpCode returns OpInquiry.
func (q *Inquiry) OpCode() OpCode { return OpInquiry }

// MarshalBinary returns the CDB.
func (q *Inquiry) MarshalBinary() ([]byte, error) { return q.AppendBinary(make([]byte, 0, 6)) }

// AppendBinary appends the CDB to b.
func (q *Inquiry) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpInquiry), cdbBit(q.EVPD, 0x01), q.PageCode)
	b = binary.BigEndian.AppendUint16(b, q.AllocationLength)
	return append(b, byte(q.Control)), nil
}

// UnmarshalBinary decodes an INQUIRY CDB. A non-zero PAGE CODE with EVPD
// clear is a *CDBFieldError at byte 2.
func (q *Inquiry) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpInquiry); err != nil {
		return err
	}
	evpd := cdb[1]&0x01 != 0
	if !evpd && cdb[2] != 0 {
		// SPC-4 6.6.1: "If the EVPD bit is set to zero and the PAGE CODE
		// field is not set to zero, then the device server shall terminate
		// the command with CHECK CONDITION status, with the sense key set
		// to ILLEGAL REQUEST, and the additional sense code set to INVALID
		// FIELD IN CDB."
		return &CDBFieldError{Op: OpInquiry, Byte: 2, Bit: -1,
			Reason: fmt.Sprintf("PAGE CODE 0x%02x with EVPD clear", cdb[2])}
	}
	*q = Inquiry{
		EVPD:             evpd,
		PageCode:         cdb[2],
		AllocationLength: binary.BigEndian.Uint16(cdb[3:5]),
		Control:          ControlByte(cdb[5]),
	}
	return nil
}
