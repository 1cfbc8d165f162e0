package scsi

import "fmt"

// SenseKey is the SENSE KEY field of sense data (SPC-4 section 4.5.6):
// the general category of the condition being reported.
type SenseKey uint8

// The sense keys of SPC-4.
const (
	SenseKeyNoSense        SenseKey = 0x0
	SenseKeyRecoveredError SenseKey = 0x1
	SenseKeyNotReady       SenseKey = 0x2
	SenseKeyMediumError    SenseKey = 0x3
	SenseKeyHardwareError  SenseKey = 0x4
	SenseKeyIllegalRequest SenseKey = 0x5
	SenseKeyUnitAttention  SenseKey = 0x6
	SenseKeyDataProtect    SenseKey = 0x7
	SenseKeyBlankCheck     SenseKey = 0x8
	SenseKeyVendorSpecific SenseKey = 0x9
	SenseKeyCopyAborted    SenseKey = 0xa
	SenseKeyAbortedCommand SenseKey = 0xb
	SenseKeyVolumeOverflow SenseKey = 0xd
	SenseKeyMiscompare     SenseKey = 0xe
	SenseKeyCompleted      SenseKey = 0xf
)

var senseKeyNames = [16]string{
	SenseKeyNoSense:        "NO SENSE",
	SenseKeyRecoveredError: "RECOVERED ERROR",
	SenseKeyNotReady:       "NOT READY",
	SenseKeyMediumError:    "MEDIUM ERROR",
	SenseKeyHardwareError:  "HARDWARE ERROR",
	SenseKeyIllegalRequest: "ILLEGAL REQUEST",
	SenseKeyUnitAttention:  "UNIT ATTENTION",
	SenseKeyDataProtect:    "DATA PROTECT",
	SenseKeyBlankCheck:     "BLANK CHECK",
	SenseKeyVendorSpecific: "VENDOR SPECIFIC",
	SenseKeyCopyAborted:    "COPY ABORTED",
	SenseKeyAbortedCommand: "ABORTED COMMAND",
	0xc:                    "RESERVED (0Ch)",
	SenseKeyVolumeOverflow: "VOLUME OVERFLOW",
	SenseKeyMiscompare:     "MISCOMPARE",
	SenseKeyCompleted:      "COMPLETED",
}

// String returns the key's name as SPC-4 spells it.
func (k SenseKey) String() string {
	if int(k) < len(senseKeyNames) {
		return senseKeyNames[k]
	}
	return fmt.Sprintf("sense key 0x%02x", uint8(k))
}

// SenseCode is an ADDITIONAL SENSE CODE and ADDITIONAL SENSE CODE QUALIFIER
// pair held as ASC<<8 | ASCQ (SPC-4 section 4.5.6), so that
// 24/00 INVALID FIELD IN CDB is SenseCode(0x2400).
type SenseCode uint16

// NewSenseCode returns the SenseCode of an ASC and ASCQ pair.
func NewSenseCode(asc, ascq uint8) SenseCode { return SenseCode(asc)<<8 | SenseCode(ascq) }

// ASC returns the ADDITIONAL SENSE CODE byte.
func (c SenseCode) ASC() uint8 { return uint8(c >> 8) }

// ASCQ returns the ADDITIONAL SENSE CODE QUALIFIER byte.
func (c SenseCode) ASCQ() uint8 { return uint8(c) }

// The additional sense codes lunar reports or reacts to, named after SPC-4
// Annex D. The comment after each gives ASC/ASCQ in hex.
const (
	SenseNoAdditionalSense                     SenseCode = 0x0000 // 00/00
	SenseLUNotReadyCauseNotReportable          SenseCode = 0x0400 // 04/00
	SenseLUBecomingReady                       SenseCode = 0x0401 // 04/01
	SenseLUNotReadyInitializingCommandRequired SenseCode = 0x0402 // 04/02
	SenseLUNotReadyManualInterventionRequired  SenseCode = 0x0403 // 04/03
	SenseLUNotAccessibleAsymmetricTransition   SenseCode = 0x040a // 04/0A
	SenseLUNotAccessibleTargetPortStandby      SenseCode = 0x040b // 04/0B
	SenseLUNotAccessibleTargetPortUnavailable  SenseCode = 0x040c // 04/0C
	SenseLUCommunicationFailure                SenseCode = 0x0800 // 08/00
	SenseWriteError                            SenseCode = 0x0c00 // 0C/00
	SenseInvalidFieldInCommandInformationUnit  SenseCode = 0x0e03 // 0E/03
	SenseLogicalBlockGuardCheckFailed          SenseCode = 0x1001 // 10/01
	SenseLogicalBlockApplicationTagCheckFailed SenseCode = 0x1002 // 10/02
	SenseLogicalBlockReferenceTagCheckFailed   SenseCode = 0x1003 // 10/03
	SenseUnrecoveredReadError                  SenseCode = 0x1100 // 11/00
	SenseParameterListLengthError              SenseCode = 0x1a00 // 1A/00
	SenseMiscompareDuringVerify                SenseCode = 0x1d00 // 1D/00
	SenseInvalidCommandOperationCode           SenseCode = 0x2000 // 20/00
	SenseLBAOutOfRange                         SenseCode = 0x2100 // 21/00
	SenseInvalidFieldInCDB                     SenseCode = 0x2400 // 24/00
	SenseLUNotSupported                        SenseCode = 0x2500 // 25/00
	SenseInvalidFieldInParameterList           SenseCode = 0x2600 // 26/00
	SenseParameterNotSupported                 SenseCode = 0x2601 // 26/01
	SenseParameterValueInvalid                 SenseCode = 0x2602 // 26/02
	SenseInvalidReleaseOfPersistentReservation SenseCode = 0x2604 // 26/04
	SenseTooManyTargetDescriptors              SenseCode = 0x2606 // 26/06
	SenseTooManySegmentDescriptors             SenseCode = 0x2608 // 26/08
	SenseWriteProtected                        SenseCode = 0x2700 // 27/00
	SenseSpaceAllocationFailedWriteProtect     SenseCode = 0x2707 // 27/07
	SenseNotReadyToReadyChange                 SenseCode = 0x2800 // 28/00
	SensePowerOnReset                          SenseCode = 0x2900 // 29/00
	SensePowerOnOccurred                       SenseCode = 0x2901 // 29/01
	SenseSCSIBusResetOccurred                  SenseCode = 0x2902 // 29/02
	SenseBusDeviceResetFunctionOccurred        SenseCode = 0x2903 // 29/03
	SenseDeviceInternalReset                   SenseCode = 0x2904 // 29/04
	SenseITNexusLossOccurred                   SenseCode = 0x2907 // 29/07
	SenseParametersChanged                     SenseCode = 0x2a00 // 2A/00
	SenseModeParametersChanged                 SenseCode = 0x2a01 // 2A/01
	SenseReservationsPreempted                 SenseCode = 0x2a03 // 2A/03
	SenseReservationsReleased                  SenseCode = 0x2a04 // 2A/04
	SenseRegistrationsPreempted                SenseCode = 0x2a05 // 2A/05
	SenseAsymmetricAccessStateChanged          SenseCode = 0x2a06 // 2A/06
	SenseCapacityDataHasChanged                SenseCode = 0x2a09 // 2A/09
	SenseCommandSequenceError                  SenseCode = 0x2c00 // 2C/00
	SenseCommandsClearedByAnotherInitiator     SenseCode = 0x2f00 // 2F/00
	SenseThinProvisioningSoftThresholdReached  SenseCode = 0x3807 // 38/07
	SenseSavingParametersNotSupported          SenseCode = 0x3900 // 39/00
	SenseMediumNotPresent                      SenseCode = 0x3a00 // 3A/00
	SenseMicrocodeHasBeenChanged               SenseCode = 0x3f01 // 3F/01
	SenseInquiryDataHasChanged                 SenseCode = 0x3f03 // 3F/03
	SenseReportedLUNsDataHasChanged            SenseCode = 0x3f0e // 3F/0E
	SenseInternalTargetFailure                 SenseCode = 0x4400 // 44/00
	SenseInvalidMessageError                   SenseCode = 0x4900 // 49/00
	SenseDataPhaseError                        SenseCode = 0x4b00 // 4B/00
	SenseOverlappedCommandsAttempted           SenseCode = 0x4e00 // 4E/00
	SenseMediumRemovalPrevented                SenseCode = 0x5302 // 53/02
	SenseInsufficientResources                 SenseCode = 0x5503 // 55/03
	SenseInsufficientRegistrationResources     SenseCode = 0x5504 // 55/04
)

var senseCodeNames = map[SenseCode]string{
	SenseNoAdditionalSense:                     "NO ADDITIONAL SENSE INFORMATION",
	SenseLUNotReadyCauseNotReportable:          "LOGICAL UNIT NOT READY, CAUSE NOT REPORTABLE",
	SenseLUBecomingReady:                       "LOGICAL UNIT IS IN PROCESS OF BECOMING READY",
	SenseLUNotReadyInitializingCommandRequired: "LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED",
	SenseLUNotReadyManualInterventionRequired:  "LOGICAL UNIT NOT READY, MANUAL INTERVENTION REQUIRED",
	SenseLUNotAccessibleAsymmetricTransition:   "LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION",
	SenseLUNotAccessibleTargetPortStandby:      "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE",
	SenseLUNotAccessibleTargetPortUnavailable:  "LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE STATE",
	SenseLUCommunicationFailure:                "LOGICAL UNIT COMMUNICATION FAILURE",
	SenseWriteError:                            "WRITE ERROR",
	SenseInvalidFieldInCommandInformationUnit:  "INVALID FIELD IN COMMAND INFORMATION UNIT",
	SenseLogicalBlockGuardCheckFailed:          "LOGICAL BLOCK GUARD CHECK FAILED",
	SenseLogicalBlockApplicationTagCheckFailed: "LOGICAL BLOCK APPLICATION TAG CHECK FAILED",
	SenseLogicalBlockReferenceTagCheckFailed:   "LOGICAL BLOCK REFERENCE TAG CHECK FAILED",
	SenseUnrecoveredReadError:                  "UNRECOVERED READ ERROR",
	SenseParameterListLengthError:              "PARAMETER LIST LENGTH ERROR",
	SenseMiscompareDuringVerify:                "MISCOMPARE DURING VERIFY OPERATION",
	SenseInvalidCommandOperationCode:           "INVALID COMMAND OPERATION CODE",
	SenseLBAOutOfRange:                         "LOGICAL BLOCK ADDRESS OUT OF RANGE",
	SenseInvalidFieldInCDB:                     "INVALID FIELD IN CDB",
	SenseLUNotSupported:                        "LOGICAL UNIT NOT SUPPORTED",
	SenseInvalidFieldInParameterList:           "INVALID FIELD IN PARAMETER LIST",
	SenseParameterNotSupported:                 "PARAMETER NOT SUPPORTED",
	SenseParameterValueInvalid:                 "PARAMETER VALUE INVALID",
	SenseInvalidReleaseOfPersistentReservation: "INVALID RELEASE OF PERSISTENT RESERVATION",
	SenseTooManyTargetDescriptors:              "TOO MANY TARGET DESCRIPTORS",
	SenseTooManySegmentDescriptors:             "TOO MANY SEGMENT DESCRIPTORS",
	SenseWriteProtected:                        "WRITE PROTECTED",
	SenseSpaceAllocationFailedWriteProtect:     "SPACE ALLOCATION FAILED WRITE PROTECT",
	SenseNotReadyToReadyChange:                 "NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED",
	SensePowerOnReset:                          "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED",
	SensePowerOnOccurred:                       "POWER ON OCCURRED",
	SenseSCSIBusResetOccurred:                  "SCSI BUS RESET OCCURRED",
	SenseBusDeviceResetFunctionOccurred:        "BUS DEVICE RESET FUNCTION OCCURRED",
	SenseDeviceInternalReset:                   "DEVICE INTERNAL RESET",
	SenseITNexusLossOccurred:                   "I_T NEXUS LOSS OCCURRED",
	SenseParametersChanged:                     "PARAMETERS CHANGED",
	SenseModeParametersChanged:                 "MODE PARAMETERS CHANGED",
	SenseReservationsPreempted:                 "RESERVATIONS PREEMPTED",
	SenseReservationsReleased:                  "RESERVATIONS RELEASED",
	SenseRegistrationsPreempted:                "REGISTRATIONS PREEMPTED",
	SenseAsymmetricAccessStateChanged:          "ASYMMETRIC ACCESS STATE CHANGED",
	SenseCapacityDataHasChanged:                "CAPACITY DATA HAS CHANGED",
	SenseCommandSequenceError:                  "COMMAND SEQUENCE ERROR",
	SenseCommandsClearedByAnotherInitiator:     "COMMANDS CLEARED BY ANOTHER INITIATOR",
	SenseThinProvisioningSoftThresholdReached:  "THIN PROVISIONING SOFT THRESHOLD REACHED",
	SenseSavingParametersNotSupported:          "SAVING PARAMETERS NOT SUPPORTED",
	SenseMediumNotPresent:                      "MEDIUM NOT PRESENT",
	SenseMicrocodeHasBeenChanged:               "MICROCODE HAS BEEN CHANGED",
	SenseInquiryDataHasChanged:                 "INQUIRY DATA HAS CHANGED",
	SenseReportedLUNsDataHasChanged:            "REPORTED LUNS DATA HAS CHANGED",
	SenseInternalTargetFailure:                 "INTERNAL TARGET FAILURE",
	SenseInvalidMessageError:                   "INVALID MESSAGE ERROR",
	SenseDataPhaseError:                        "DATA PHASE ERROR",
	SenseOverlappedCommandsAttempted:           "OVERLAPPED COMMANDS ATTEMPTED",
	SenseMediumRemovalPrevented:                "MEDIUM REMOVAL PREVENTED",
	SenseInsufficientResources:                 "INSUFFICIENT RESOURCES",
	SenseInsufficientRegistrationResources:     "INSUFFICIENT REGISTRATION RESOURCES",
}

// String returns the code's SPC-4 name, or "ASC xxh ASCQ yyh" for a code
// lunar does not name.
func (c SenseCode) String() string {
	if s, ok := senseCodeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ASC %02Xh ASCQ %02Xh", c.ASC(), c.ASCQ())
}

// Hex returns the code as SPC-4 writes it, "24/00".
func (c SenseCode) Hex() string { return fmt.Sprintf("%02X/%02X", c.ASC(), c.ASCQ()) }
