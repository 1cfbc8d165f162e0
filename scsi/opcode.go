package scsi

import "fmt"

// OpCode is a CDB's operation code (byte 0).
type OpCode uint8

// The operation codes lunar encodes and decodes (SPC-4, SBC-3).
const (
	OpTestUnitReady             OpCode = 0x00
	OpRequestSense              OpCode = 0x03
	OpRead6                     OpCode = 0x08
	OpWrite6                    OpCode = 0x0a
	OpInquiry                   OpCode = 0x12
	OpModeSelect6               OpCode = 0x15
	OpReserve6                  OpCode = 0x16
	OpRelease6                  OpCode = 0x17
	OpModeSense6                OpCode = 0x1a
	OpStartStopUnit             OpCode = 0x1b
	OpPreventAllowMediumRemoval OpCode = 0x1e
	OpReadCapacity10            OpCode = 0x25
	OpRead10                    OpCode = 0x28
	OpWrite10                   OpCode = 0x2a
	OpWriteAndVerify10          OpCode = 0x2e
	OpVerify10                  OpCode = 0x2f
	OpPreFetch10                OpCode = 0x34
	OpSynchronizeCache10        OpCode = 0x35
	OpWriteSame10               OpCode = 0x41
	OpUnmap                     OpCode = 0x42
	OpModeSelect10              OpCode = 0x55
	OpReserve10                 OpCode = 0x56
	OpRelease10                 OpCode = 0x57
	OpModeSense10               OpCode = 0x5a
	OpPersistentReserveIn       OpCode = 0x5e
	OpPersistentReserveOut      OpCode = 0x5f
	OpExtendedCDB               OpCode = 0x7e
	OpVariableLengthCDB         OpCode = 0x7f
	OpORWrite16                 OpCode = 0x8b
	OpCompareAndWrite           OpCode = 0x89
	OpRead16                    OpCode = 0x88
	OpWrite16                   OpCode = 0x8a
	OpWriteAndVerify16          OpCode = 0x8e
	OpVerify16                  OpCode = 0x8f
	OpPreFetch16                OpCode = 0x90
	OpSynchronizeCache16        OpCode = 0x91
	OpWriteSame16               OpCode = 0x93
	OpServiceActionIn16         OpCode = 0x9e
	OpReportLUNs                OpCode = 0xa0
	OpMaintenanceIn             OpCode = 0xa3
	OpRead12                    OpCode = 0xa8
	OpWrite12                   OpCode = 0xaa
)

// Service actions under OpServiceActionIn16 and OpMaintenanceIn.
const (
	SAReadCapacity16                = 0x10
	SAGetLBAStatus                  = 0x12
	SAReportSupportedOperationCodes = 0x0c
	SAReportSupportedTaskMgmtFuncs  = 0x0d
	serviceActionMask               = 0x1f
	cdbGroupLengthUnknown           = 0
)

var opNames = map[OpCode]string{
	OpTestUnitReady:             "TEST UNIT READY",
	OpRequestSense:              "REQUEST SENSE",
	OpRead6:                     "READ(6)",
	OpWrite6:                    "WRITE(6)",
	OpInquiry:                   "INQUIRY",
	OpModeSelect6:               "MODE SELECT(6)",
	OpReserve6:                  "RESERVE(6)",
	OpRelease6:                  "RELEASE(6)",
	OpModeSense6:                "MODE SENSE(6)",
	OpStartStopUnit:             "START STOP UNIT",
	OpPreventAllowMediumRemoval: "PREVENT ALLOW MEDIUM REMOVAL",
	OpReadCapacity10:            "READ CAPACITY(10)",
	OpRead10:                    "READ(10)",
	OpWrite10:                   "WRITE(10)",
	OpWriteAndVerify10:          "WRITE AND VERIFY(10)",
	OpVerify10:                  "VERIFY(10)",
	OpPreFetch10:                "PRE-FETCH(10)",
	OpSynchronizeCache10:        "SYNCHRONIZE CACHE(10)",
	OpWriteSame10:               "WRITE SAME(10)",
	OpUnmap:                     "UNMAP",
	OpModeSelect10:              "MODE SELECT(10)",
	OpReserve10:                 "RESERVE(10)",
	OpRelease10:                 "RELEASE(10)",
	OpModeSense10:               "MODE SENSE(10)",
	OpPersistentReserveIn:       "PERSISTENT RESERVE IN",
	OpPersistentReserveOut:      "PERSISTENT RESERVE OUT",
	OpExtendedCDB:               "EXTENDED CDB",
	OpVariableLengthCDB:         "VARIABLE LENGTH CDB",
	OpORWrite16:                 "ORWRITE(16)",
	OpCompareAndWrite:           "COMPARE AND WRITE",
	OpRead16:                    "READ(16)",
	OpWrite16:                   "WRITE(16)",
	OpWriteAndVerify16:          "WRITE AND VERIFY(16)",
	OpVerify16:                  "VERIFY(16)",
	OpPreFetch16:                "PRE-FETCH(16)",
	OpSynchronizeCache16:        "SYNCHRONIZE CACHE(16)",
	OpWriteSame16:               "WRITE SAME(16)",
	OpServiceActionIn16:         "SERVICE ACTION IN(16)",
	OpReportLUNs:                "REPORT LUNS",
	OpMaintenanceIn:             "MAINTENANCE IN",
	OpRead12:                    "READ(12)",
	OpWrite12:                   "WRITE(12)",
}

// String returns the command's name as SPC-4 and SBC-3 spell it.
func (o OpCode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("operation code 0x%02x", uint8(o))
}

// CDBLength returns the length of a CDB with this operation code, from its
// group code (SPC-4 section 4.2.5.1), or 0 where the group gives none
// (variable-length and vendor-specific groups).
func (o OpCode) CDBLength() int {
	switch o >> 5 {
	case 0:
		return 6
	case 1, 2:
		return 10
	case 4:
		return 16
	case 5:
		return 12
	}
	return cdbGroupLengthUnknown
}
