package scsi

import (
	"encoding/binary"
	"fmt"
)

// PRInServiceAction is the SERVICE ACTION field of a PERSISTENT RESERVE IN
// CDB (SPC-4 section 6.15.1, table 166).
type PRInServiceAction uint8

// The PERSISTENT RESERVE IN service actions of SPC-4 table 166.
const (
	PRInReadKeys           PRInServiceAction = 0x00
	PRInReadReservation    PRInServiceAction = 0x01
	PRInReportCapabilities PRInServiceAction = 0x02
	PRInReadFullStatus     PRInServiceAction = 0x03
)

// String returns the service action's name as SPC-4 spells it.
func (a PRInServiceAction) String() string {
	switch a {
	case PRInReadKeys:
		return "READ KEYS"
	case PRInReadReservation:
		return "READ RESERVATION"
	case PRInReportCapabilities:
		return "REPORT CAPABILITIES"
	case PRInReadFullStatus:
		return "READ FULL STATUS"
	}
	return fmt.Sprintf("PERSISTENT RESERVE IN service action 0x%02x", uint8(a))
}

// PROutServiceAction is the SERVICE ACTION field of a PERSISTENT RESERVE
// OUT CDB (SPC-4 section 6.16.2, table 184).
type PROutServiceAction uint8

// The PERSISTENT RESERVE OUT service actions of SPC-4 table 184.
const (
	PROutRegister                     PROutServiceAction = 0x00
	PROutReserve                      PROutServiceAction = 0x01
	PROutRelease                      PROutServiceAction = 0x02
	PROutClear                        PROutServiceAction = 0x03
	PROutPreempt                      PROutServiceAction = 0x04
	PROutPreemptAndAbort              PROutServiceAction = 0x05
	PROutRegisterAndIgnoreExistingKey PROutServiceAction = 0x06
	PROutRegisterAndMove              PROutServiceAction = 0x07
)

// String returns the service action's name as SPC-4 spells it.
func (a PROutServiceAction) String() string {
	switch a {
	case PROutRegister:
		return "REGISTER"
	case PROutReserve:
		return "RESERVE"
	case PROutRelease:
		return "RELEASE"
	case PROutClear:
		return "CLEAR"
	case PROutPreempt:
		return "PREEMPT"
	case PROutPreemptAndAbort:
		return "PREEMPT AND ABORT"
	case PROutRegisterAndIgnoreExistingKey:
		return "REGISTER AND IGNORE EXISTING KEY"
	case PROutRegisterAndMove:
		return "REGISTER AND MOVE"
	}
	return fmt.Sprintf("PERSISTENT RESERVE OUT service action 0x%02x", uint8(a))
}

// PRType is the TYPE field of a persistent reservation (SPC-4 section
// 6.15.3.4, table 174), carried in the PERSISTENT RESERVE OUT CDB and in
// PERSISTENT RESERVE IN parameter data.
type PRType uint8

// The persistent reservation types of SPC-4 table 174.
const (
	PRTypeWriteExclusive                 PRType = 0x1
	PRTypeExclusiveAccess                PRType = 0x3
	PRTypeWriteExclusiveRegistrantsOnly  PRType = 0x5
	PRTypeExclusiveAccessRegistrantsOnly PRType = 0x6
	PRTypeWriteExclusiveAllRegistrants   PRType = 0x7
	PRTypeExclusiveAccessAllRegistrants  PRType = 0x8
)

// String returns the reservation type's name as SPC-4 spells it.
func (t PRType) String() string {
	switch t {
	case PRTypeWriteExclusive:
		return "Write Exclusive"
	case PRTypeExclusiveAccess:
		return "Exclusive Access"
	case PRTypeWriteExclusiveRegistrantsOnly:
		return "Write Exclusive - Registrants Only"
	case PRTypeExclusiveAccessRegistrantsOnly:
		return "Exclusive Access - Registrants Only"
	case PRTypeWriteExclusiveAllRegistrants:
		return "Write Exclusive - All Registrants"
	case PRTypeExclusiveAccessAllRegistrants:
		return "Exclusive Access - All Registrants"
	}
	return fmt.Sprintf("reservation type 0x%x", uint8(t))
}

// PRScopeLU is the only persistent reservation SCOPE SPC-4 defines:
// LU_SCOPE, the reservation applies to the full logical unit (SPC-4
// section 6.15.3.3, table 173).
const PRScopeLU = 0x0

// PersistentReserveIn is the PERSISTENT RESERVE IN CDB (SPC-4 section
// 6.15.1):
//
//	byte 0    OPERATION CODE (5Eh)
//	byte 1    reserved (7-5) | SERVICE ACTION (4-0)
//	byte 2-6  reserved
//	byte 7-8  ALLOCATION LENGTH
//	byte 9    CONTROL
type PersistentReserveIn struct {
	ServiceAction    PRInServiceAction // SERVICE ACTION, 5 bits; decoding rejects values above READ FULL STATUS (03h)
	AllocationLength uint16            // ALLOCATION LENGTH, in bytes, of the parameter data to return
	Control          ControlByte       // CONTROL byte
}

// OpCode returns OpPersistentReserveIn.
func (p *PersistentReserveIn) OpCode() OpCode { return OpPersistentReserveIn }

// MarshalBinary returns the CDB.
func (p *PersistentReserveIn) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, 10))
}

// AppendBinary appends the CDB to b.
func (p *PersistentReserveIn) AppendBinary(b []byte) ([]byte, error) {
	if !cdbFits(uint64(p.ServiceAction), 5) {
		return b, cdbFitErr(OpPersistentReserveIn, 1, 4, "SERVICE ACTION", uint64(p.ServiceAction), 5)
	}
	b = append(b, byte(OpPersistentReserveIn), byte(p.ServiceAction), 0, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, p.AllocationLength)
	return append(b, byte(p.Control)), nil
}

// UnmarshalBinary decodes a PERSISTENT RESERVE IN CDB. A service action
// SPC-4 does not define is a *CDBFieldError at byte 1 bit 4.
func (p *PersistentReserveIn) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpPersistentReserveIn); err != nil {
		return err
	}
	sa := PRInServiceAction(cdb[1] & serviceActionMask)
	if sa > PRInReadFullStatus {
		// SPC-4 4.2.5.1: an unsupported service action is answered with
		// ILLEGAL REQUEST, INVALID FIELD IN CDB.
		return cdbErrServiceAction(OpPersistentReserveIn, uint8(sa))
	}
	*p = PersistentReserveIn{
		ServiceAction:    sa,
		AllocationLength: binary.BigEndian.Uint16(cdb[7:9]),
		Control:          ControlByte(cdb[9]),
	}
	return nil
}

// PersistentReserveOut is the PERSISTENT RESERVE OUT CDB (SPC-4 section
// 6.16.1):
//
//	byte 0    OPERATION CODE (5Fh)
//	byte 1    reserved (7-5) | SERVICE ACTION (4-0)
//	byte 2    SCOPE (7-4) | TYPE (3-0)
//	byte 3-4  reserved
//	byte 5-8  PARAMETER LIST LENGTH
//	byte 9    CONTROL
type PersistentReserveOut struct {
	ServiceAction PROutServiceAction // SERVICE ACTION, 5 bits; decoding rejects values above REGISTER AND MOVE (07h)
	// Scope is SCOPE, 4 bits; PRScopeLU is the only value SPC-4 defines.
	// Which service actions use Scope and Type, and so whether a value is
	// invalid, is the target's to check.
	Scope uint8
	Type  PRType // TYPE, 4 bits
	// ParameterListLength is PARAMETER LIST LENGTH: the number of bytes of
	// Data-Out, a PROutParameters (24 bytes without SPEC_I_PT) or a
	// PRRegisterAndMoveParameters.
	ParameterListLength uint32
	Control             ControlByte // CONTROL byte
}

// OpCode returns OpPersistentReserveOut.
func (p *PersistentReserveOut) OpCode() OpCode { return OpPersistentReserveOut }

// MarshalBinary returns the CDB.
func (p *PersistentReserveOut) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, 10))
}

// AppendBinary appends the CDB to b.
func (p *PersistentReserveOut) AppendBinary(b []byte) ([]byte, error) {
	op := OpPersistentReserveOut
	if !cdbFits(uint64(p.ServiceAction), 5) {
		return b, cdbFitErr(op, 1, 4, "SERVICE ACTION", uint64(p.ServiceAction), 5)
	}
	if !cdbFits(uint64(p.Scope), 4) {
		return b, cdbFitErr(op, 2, 7, "SCOPE", uint64(p.Scope), 4)
	}
	if !cdbFits(uint64(p.Type), 4) {
		return b, cdbFitErr(op, 2, 3, "TYPE", uint64(p.Type), 4)
	}
	b = append(b, byte(op), byte(p.ServiceAction), p.Scope<<4|byte(p.Type), 0, 0)
	b = binary.BigEndian.AppendUint32(b, p.ParameterListLength)
	return append(b, byte(p.Control)), nil
}

// UnmarshalBinary decodes a PERSISTENT RESERVE OUT CDB. A service action
// SPC-4 does not define is a *CDBFieldError at byte 1 bit 4.
func (p *PersistentReserveOut) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpPersistentReserveOut); err != nil {
		return err
	}
	sa := PROutServiceAction(cdb[1] & serviceActionMask)
	if sa > PROutRegisterAndMove {
		// SPC-4 4.2.5.1: an unsupported service action is answered with
		// ILLEGAL REQUEST, INVALID FIELD IN CDB.
		return cdbErrServiceAction(OpPersistentReserveOut, uint8(sa))
	}
	*p = PersistentReserveOut{
		ServiceAction:       sa,
		Scope:               cdb[2] >> 4,
		Type:                PRType(cdb[2] & 0x0f),
		ParameterListLength: binary.BigEndian.Uint32(cdb[5:9]),
		Control:             ControlByte(cdb[9]),
	}
	return nil
}
