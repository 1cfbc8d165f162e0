package scsi

import (
	"encoding/binary"
	"fmt"
)

// ReportingOptions is the REPORTING OPTIONS field of REPORT SUPPORTED
// OPERATION CODES (SPC-4 section 6.35.1, table 261).
type ReportingOptions uint8

// The reporting options of SPC-4 table 261; 100b to 111b are reserved.
const (
	// ReportingOptionsAll lists every supported command.
	ReportingOptionsAll ReportingOptions = 0x0
	// ReportingOptionsOpCode describes the command with REQUESTED
	// OPERATION CODE, which must have no service actions.
	ReportingOptionsOpCode ReportingOptions = 0x1
	// ReportingOptionsOpCodeServiceAction describes the command with
	// REQUESTED OPERATION CODE and REQUESTED SERVICE ACTION, which must
	// have service actions.
	ReportingOptionsOpCodeServiceAction ReportingOptions = 0x2
	// ReportingOptionsOpCodeAnyServiceAction describes the command with
	// REQUESTED OPERATION CODE and, if it has service actions, REQUESTED
	// SERVICE ACTION.
	ReportingOptionsOpCodeAnyServiceAction ReportingOptions = 0x3
)

// ReportSupportedOperationCodes is REPORT SUPPORTED OPERATION CODES,
// service action 0Ch of MAINTENANCE IN (SPC-4 section 6.35):
//
//	byte 0     OPERATION CODE (A3h)
//	byte 1     reserved (7-5) | SERVICE ACTION (4-0) (0Ch)
//	byte 2     RCTD (7) | reserved (6-3) | REPORTING OPTIONS (2-0)
//	byte 3     REQUESTED OPERATION CODE
//	byte 4-5   REQUESTED SERVICE ACTION
//	byte 6-9   ALLOCATION LENGTH
//	byte 10    reserved
//	byte 11    CONTROL
type ReportSupportedOperationCodes struct {
	RCTD                   bool             // RCTD: return command timeouts descriptors
	ReportingOptions       ReportingOptions // REPORTING OPTIONS, 3 bits; decoding rejects the reserved 100b to 111b
	RequestedOpCode        OpCode           // REQUESTED OPERATION CODE; unused with ReportingOptionsAll
	RequestedServiceAction uint16           // REQUESTED SERVICE ACTION; used with reporting options 010b and 011b
	AllocationLength       uint32           // ALLOCATION LENGTH, in bytes, of the parameter data to return
	Control                ControlByte      // CONTROL byte
}

// OpCode returns OpMaintenanceIn.
func (r *ReportSupportedOperationCodes) OpCode() OpCode { return OpMaintenanceIn }

// MarshalBinary returns the CDB.
func (r *ReportSupportedOperationCodes) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 12))
}

// AppendBinary appends the CDB to b.
func (r *ReportSupportedOperationCodes) AppendBinary(b []byte) ([]byte, error) {
	if !cdbFits(uint64(r.ReportingOptions), 3) {
		return b, cdbFitErr(OpMaintenanceIn, 2, 2, "REPORTING OPTIONS", uint64(r.ReportingOptions), 3)
	}
	b = append(b, byte(OpMaintenanceIn), SAReportSupportedOperationCodes,
		cdbBit(r.RCTD, 0x80)|byte(r.ReportingOptions), byte(r.RequestedOpCode))
	b = binary.BigEndian.AppendUint16(b, r.RequestedServiceAction)
	b = binary.BigEndian.AppendUint32(b, r.AllocationLength)
	return append(b, 0, byte(r.Control)), nil
}

// UnmarshalBinary decodes a REPORT SUPPORTED OPERATION CODES CDB. A
// reserved REPORTING OPTIONS value is a *CDBFieldError at byte 2 bit 2.
// Whether the requested operation code has service actions (which
// options 001b and 010b require) is the target's to check.
func (r *ReportSupportedOperationCodes) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpMaintenanceIn)
	if err != nil {
		return err
	}
	if err := cdbCheckSA(op, cdb, SAReportSupportedOperationCodes); err != nil {
		return err
	}
	ro := ReportingOptions(cdb[2] & 0x07)
	if ro > ReportingOptionsOpCodeAnyServiceAction {
		// SPC-4 6.35.1, table 261: REPORTING OPTIONS 100b to 111b are
		// reserved; a reserved CDB field value is answered with INVALID
		// FIELD IN CDB (SPC-4 4.2.5.1).
		return &CDBFieldError{Op: op, Byte: 2, Bit: 2, Reason: fmt.Sprintf("REPORTING OPTIONS %03bb is reserved", uint8(ro))}
	}
	*r = ReportSupportedOperationCodes{
		RCTD:                   cdb[2]&0x80 != 0,
		ReportingOptions:       ro,
		RequestedOpCode:        OpCode(cdb[3]),
		RequestedServiceAction: binary.BigEndian.Uint16(cdb[4:6]),
		AllocationLength:       binary.BigEndian.Uint32(cdb[6:10]),
		Control:                ControlByte(cdb[11]),
	}
	return nil
}

// ReportSupportedTaskManagementFunctions is REPORT SUPPORTED TASK
// MANAGEMENT FUNCTIONS, service action 0Dh of MAINTENANCE IN (SPC-4
// section 6.36):
//
//	byte 0     OPERATION CODE (A3h)
//	byte 1     reserved (7-5) | SERVICE ACTION (4-0) (0Dh)
//	byte 2     REPD (7) | reserved (6-0)
//	byte 3-5   reserved
//	byte 6-9   ALLOCATION LENGTH
//	byte 10    reserved
//	byte 11    CONTROL
type ReportSupportedTaskManagementFunctions struct {
	RepD             bool        // REPD: return extended parameter data
	AllocationLength uint32      // ALLOCATION LENGTH, in bytes, of the parameter data to return
	Control          ControlByte // CONTROL byte
}

// OpCode returns OpMaintenanceIn.
func (r *ReportSupportedTaskManagementFunctions) OpCode() OpCode { return OpMaintenanceIn }

// MarshalBinary returns the CDB.
func (r *ReportSupportedTaskManagementFunctions) MarshalBinary() ([]byte, error) {
	return r.AppendBinary(make([]byte, 0, 12))
}

// AppendBinary appends the CDB to b.
func (r *ReportSupportedTaskManagementFunctions) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpMaintenanceIn), SAReportSupportedTaskMgmtFuncs, cdbBit(r.RepD, 0x80), 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, r.AllocationLength)
	return append(b, 0, byte(r.Control)), nil
}

// UnmarshalBinary decodes a REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
// CDB.
func (r *ReportSupportedTaskManagementFunctions) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpMaintenanceIn)
	if err != nil {
		return err
	}
	if err := cdbCheckSA(op, cdb, SAReportSupportedTaskMgmtFuncs); err != nil {
		return err
	}
	*r = ReportSupportedTaskManagementFunctions{
		RepD:             cdb[2]&0x80 != 0,
		AllocationLength: binary.BigEndian.Uint32(cdb[6:10]),
		Control:          ControlByte(cdb[11]),
	}
	return nil
}
