package scsi

import "testing"

func rsocCases() []cdbCase {
	return []cdbCase{
		{"RSOC all", "a3 0c 00 00 00 00 00 00 02 00 00 00", &ReportSupportedOperationCodes{AllocationLength: 512}},
		{"RSOC one with SA", "a3 0c 82 9e 00 10 00 00 00 20 00 00",
			&ReportSupportedOperationCodes{RCTD: true, ReportingOptions: ReportingOptionsOpCodeServiceAction,
				RequestedOpCode: OpServiceActionIn16, RequestedServiceAction: 0x10, AllocationLength: 32}},
		{"RSOC one", "a3 0c 01 28 00 00 00 00 00 14 00 04",
			&ReportSupportedOperationCodes{ReportingOptions: ReportingOptionsOpCode, RequestedOpCode: OpRead10, AllocationLength: 20, Control: 4}},
		{"RSOC any", "a3 0c 03 12 00 00 00 00 00 14 00 00",
			&ReportSupportedOperationCodes{ReportingOptions: ReportingOptionsOpCodeAnyServiceAction, RequestedOpCode: OpInquiry, AllocationLength: 20}},
		{"RSTMF", "a3 0d 80 00 00 00 00 00 00 10 00 00", &ReportSupportedTaskManagementFunctions{RepD: true, AllocationLength: 16}},
		{"RSTMF 4", "a3 0d 00 00 00 00 00 00 00 04 00 04", &ReportSupportedTaskManagementFunctions{AllocationLength: 4, Control: 4}},
	}
}

func TestCDBReportSupportedOperationCodes(t *testing.T) {
	testCDBGolden(t, rsocCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"reporting options 100b", "a3 0c 04 00 00 00 00 00 02 00 00 00", 2, 2},
		{"reporting options 111b", "a3 0c 87 00 00 00 00 00 02 00 00 00", 2, 2},
	})
	_, err := (&ReportSupportedOperationCodes{ReportingOptions: 8}).MarshalBinary()
	cdbWantFieldError(t, "reporting options", err, 2, 2)
}
