package scsi

import (
	"encoding/binary"
	"fmt"
)

// SelectReport is the SELECT REPORT field of REPORT LUNS (SPC-4 section
// 6.33, table 248; 10h to 12h from SPC-5).
type SelectReport uint8

// The SELECT REPORT values. Values F8h to FFh are vendor specific; the
// others not listed are reserved.
const (
	SelectReportLogicalUnits          SelectReport = 0x00 // logical units, no well known LUs
	SelectReportWellKnown             SelectReport = 0x01 // well known logical units only
	SelectReportAll                   SelectReport = 0x02 // all logical units
	SelectReportAdministrative        SelectReport = 0x10 // administrative logical units
	SelectReportAdministrativeAndSubs SelectReport = 0x11 // administrative and their subsidiaries
	SelectReportSubsidiary            SelectReport = 0x12 // subsidiaries of the addressed LU
	selectReportVendorSpecificFirst   SelectReport = 0xf8
	reportLUNsMinimumAllocationLength              = 16
)

// ReportLUNs is the REPORT LUNS CDB (SPC-4 section 6.33); its parameter
// data is ReportLUNsData:
//
//	byte 0     OPERATION CODE (A0h)
//	byte 1     reserved
//	byte 2     SELECT REPORT
//	byte 3-5   reserved
//	byte 6-9   ALLOCATION LENGTH
//	byte 10    reserved
//	byte 11    CONTROL
type ReportLUNs struct {
	SelectReport     SelectReport // SELECT REPORT: which logical units to list; decoding rejects reserved values
	AllocationLength uint32       // at least 16
	Control          ControlByte  // CONTROL byte
}

// OpCode returns OpReportLUNs.
func (r *ReportLUNs) OpCode() OpCode { return OpReportLUNs }

// MarshalBinary returns the CDB.
func (r *ReportLUNs) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 12)) }

// AppendBinary appends the CDB to b.
func (r *ReportLUNs) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, byte(OpReportLUNs), 0, byte(r.SelectReport), 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, r.AllocationLength)
	return append(b, 0, byte(r.Control)), nil
}

// UnmarshalBinary decodes a REPORT LUNS CDB. A reserved SELECT REPORT
// value is a *CDBFieldError at byte 2, an ALLOCATION LENGTH below 16 one
// at byte 6. Whether the target supports a defined SELECT REPORT value is
// the target's decision.
func (r *ReportLUNs) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpReportLUNs); err != nil {
		return err
	}
	sr := SelectReport(cdb[2])
	switch {
	case sr <= SelectReportAll, sr >= SelectReportAdministrative && sr <= SelectReportSubsidiary,
		sr >= selectReportVendorSpecificFirst:
	default:
		// SPC-4 4.2.5.1: a reserved value in a CDB field is answered with
		// INVALID FIELD IN CDB.
		return &CDBFieldError{Op: OpReportLUNs, Byte: 2, Bit: -1,
			Reason: fmt.Sprintf("SELECT REPORT 0x%02x is reserved", uint8(sr))}
	}
	al := binary.BigEndian.Uint32(cdb[6:10])
	if al < reportLUNsMinimumAllocationLength {
		// SPC-4 6.33: "If the ALLOCATION LENGTH field is less than 16
		// bytes, the device server shall terminate the command with CHECK
		// CONDITION status, with the sense key set to ILLEGAL REQUEST, and
		// the additional sense code set to INVALID FIELD IN CDB."
		return &CDBFieldError{Op: OpReportLUNs, Byte: 6, Bit: -1,
			Reason: fmt.Sprintf("ALLOCATION LENGTH %d, want at least %d", al, reportLUNsMinimumAllocationLength)}
	}
	*r = ReportLUNs{SelectReport: sr, AllocationLength: al, Control: ControlByte(cdb[11])}
	return nil
}
