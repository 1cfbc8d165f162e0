package scsi

// RequestSense is REQUEST SENSE (SPC-4 section 6.29):
//
//	byte 0    OPERATION CODE (03h)
//	byte 1    reserved (7-1) | DESC (0)
//	byte 2-3  reserved
//	byte 4    ALLOCATION LENGTH
//	byte 5    CONTROL
type RequestSense struct {
	// Desc is DESC: return descriptor format sense data. A target that
	// supports only fixed format rejects it (that check is the target's).
	Desc             bool
	AllocationLength uint8       // ALLOCATION LENGTH, in bytes, of the sense data to return
	Control          ControlByte // CONTROL byte
}

// OpCode returns OpRequestSense.
func (r *RequestSense) OpCode() OpCode { return OpRequestSense }

// MarshalBinary returns the CDB.
func (r *RequestSense) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 6)) }

// AppendBinary appends the CDB to b.
func (r *RequestSense) AppendBinary(b []byte) ([]byte, error) {
	return append(b, byte(OpRequestSense), cdbBit(r.Desc, 0x01), 0, 0, r.AllocationLength, byte(r.Control)), nil
}

// UnmarshalBinary decodes a REQUEST SENSE CDB.
func (r *RequestSense) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpRequestSense); err != nil {
		return err
	}
	*r = RequestSense{Desc: cdb[1]&0x01 != 0, AllocationLength: cdb[4], Control: ControlByte(cdb[5])}
	return nil
}
