package scsi

import "encoding/binary"

// cdbReservation10 holds the fields RESERVE(10) and RELEASE(10) share (SPC-2
// sections 7.21 and 7.17; both commands are obsolete in SPC-4, and the
// 6-byte forms carry only obsolete fields besides CONTROL):
//
//	RESERVE(6) (16h) / RELEASE(6) (17h)
//	byte 0    OPERATION CODE
//	byte 1-4  obsolete
//	byte 5    CONTROL
//
//	RESERVE(10) (56h) / RELEASE(10) (57h)
//	byte 0    OPERATION CODE
//	byte 1    obsolete (7-5) | 3RDPTY (4) | reserved (3-2) | LONGID (1) | obsolete (0)
//	byte 2    obsolete
//	byte 3    THIRD-PARTY DEVICE ID
//	byte 4-6  reserved
//	byte 7-8  PARAMETER LIST LENGTH
//	byte 9    CONTROL
type cdbReservation10 struct {
	thirdParty          bool
	longID              bool
	thirdPartyDeviceID  uint8
	parameterListLength uint16
	control             ControlByte
}

// Byte 1 bits of RESERVE(10) and RELEASE(10).
const (
	cdbBitThirdParty = 0x10
	cdbBitLongID     = 0x02
)

// cdbAppendReservation appends a RESERVE or RELEASE CDB of either size.
func cdbAppendReservation(b []byte, op, op6 OpCode, f cdbReservation10) ([]byte, error) {
	if op == op6 {
		if f.thirdParty || f.longID || f.thirdPartyDeviceID != 0 || f.parameterListLength != 0 {
			return b, &CDBFieldError{Op: op, Byte: 1, Bit: 4, Reason: "the 6-byte form has no 3RDPTY, LONGID, THIRD-PARTY DEVICE ID or PARAMETER LIST LENGTH field"}
		}
		return append(b, byte(op), 0, 0, 0, 0, byte(f.control)), nil
	}
	b = append(b, byte(op), cdbBit(f.thirdParty, cdbBitThirdParty)|cdbBit(f.longID, cdbBitLongID), 0, f.thirdPartyDeviceID, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, f.parameterListLength)
	return append(b, byte(f.control)), nil
}

// cdbDecodeReservation reads a length-checked RESERVE or RELEASE CDB.
func cdbDecodeReservation(op, op6 OpCode, cdb []byte) cdbReservation10 {
	if op == op6 {
		return cdbReservation10{control: ControlByte(cdb[5])}
	}
	return cdbReservation10{
		thirdParty:          cdb[1]&cdbBitThirdParty != 0,
		longID:              cdb[1]&cdbBitLongID != 0,
		thirdPartyDeviceID:  cdb[3],
		parameterListLength: binary.BigEndian.Uint16(cdb[7:9]),
		control:             ControlByte(cdb[9]),
	}
}

// Reserve is RESERVE(6) or RESERVE(10), the SPC-2 reservation commands
// (see cdbReservation10 for the layouts). The 6-byte form has only Control.
type Reserve struct {
	// Op is OpReserve6 or OpReserve10; zero encodes as RESERVE(6).
	Op                  OpCode
	ThirdParty          bool        // 3RDPTY
	LongID              bool        // LONGID
	ThirdPartyDeviceID  uint8       // THIRD-PARTY DEVICE ID
	ParameterListLength uint16      // PARAMETER LIST LENGTH, in bytes; RESERVE(10) only
	Control             ControlByte // CONTROL byte
}

// OpCode returns Op, or OpReserve6 for a zero Op.
func (r *Reserve) OpCode() OpCode {
	if r.Op == 0 {
		return OpReserve6
	}
	return r.Op
}

// MarshalBinary returns the CDB.
func (r *Reserve) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (r *Reserve) AppendBinary(b []byte) ([]byte, error) {
	op := r.OpCode()
	if err := cdbCheckOp(op, OpReserve6, OpReserve10); err != nil {
		return b, err
	}
	return cdbAppendReservation(b, op, OpReserve6, cdbReservation10{r.ThirdParty, r.LongID, r.ThirdPartyDeviceID, r.ParameterListLength, r.Control})
}

// UnmarshalBinary decodes a RESERVE CDB. Third-party and extent
// reservations are the target's to refuse.
func (r *Reserve) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpReserve6, OpReserve10)
	if err != nil {
		return err
	}
	f := cdbDecodeReservation(op, OpReserve6, cdb)
	*r = Reserve{Op: op, ThirdParty: f.thirdParty, LongID: f.longID, ThirdPartyDeviceID: f.thirdPartyDeviceID,
		ParameterListLength: f.parameterListLength, Control: f.control}
	return nil
}

// Release is RELEASE(6) or RELEASE(10), the SPC-2 reservation commands
// (see cdbReservation10 for the layouts). The 6-byte form has only Control.
type Release struct {
	// Op is OpRelease6 or OpRelease10; zero encodes as RELEASE(6).
	Op                  OpCode
	ThirdParty          bool        // 3RDPTY
	LongID              bool        // LONGID
	ThirdPartyDeviceID  uint8       // THIRD-PARTY DEVICE ID
	ParameterListLength uint16      // PARAMETER LIST LENGTH, in bytes; RELEASE(10) only
	Control             ControlByte // CONTROL byte
}

// OpCode returns Op, or OpRelease6 for a zero Op.
func (r *Release) OpCode() OpCode {
	if r.Op == 0 {
		return OpRelease6
	}
	return r.Op
}

// MarshalBinary returns the CDB.
func (r *Release) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 10)) }

// AppendBinary appends the CDB to b.
func (r *Release) AppendBinary(b []byte) ([]byte, error) {
	op := r.OpCode()
	if err := cdbCheckOp(op, OpRelease6, OpRelease10); err != nil {
		return b, err
	}
	return cdbAppendReservation(b, op, OpRelease6, cdbReservation10{r.ThirdParty, r.LongID, r.ThirdPartyDeviceID, r.ParameterListLength, r.Control})
}

// UnmarshalBinary decodes a RELEASE CDB.
func (r *Release) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpRelease6, OpRelease10)
	if err != nil {
		return err
	}
	f := cdbDecodeReservation(op, OpRelease6, cdb)
	*r = Release{Op: op, ThirdParty: f.thirdParty, LongID: f.longID, ThirdPartyDeviceID: f.thirdPartyDeviceID,
		ParameterListLength: f.parameterListLength, Control: f.control}
	return nil
}
