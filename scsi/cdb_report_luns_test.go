package scsi

import "testing"

func reportLUNsCDBCases() []cdbCase {
	return []cdbCase{
		{"4096", "a0 00 00 00 00 00 00 00 10 00 00 00", &ReportLUNs{AllocationLength: 4096}},
		{"all 16", "a0 00 02 00 00 00 00 00 00 10 00 00", &ReportLUNs{SelectReport: SelectReportAll, AllocationLength: 16}},
		{"well known", "a0 00 01 00 00 00 ff ff ff ff 00 04", &ReportLUNs{SelectReport: SelectReportWellKnown, AllocationLength: 0xffffffff, Control: 4}},
		{"subsidiary", "a0 00 12 00 00 00 00 00 01 00 00 00", &ReportLUNs{SelectReport: SelectReportSubsidiary, AllocationLength: 256}},
		{"vendor", "a0 00 f8 00 00 00 00 00 01 00 00 00", &ReportLUNs{SelectReport: 0xf8, AllocationLength: 256}},
	}
}

func TestCDBReportLUNs(t *testing.T) {
	testCDBGolden(t, reportLUNsCDBCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"allocation length 15", "a0 00 00 00 00 00 00 00 00 0f 00 00", 6, -1},
		{"allocation length 0", "a0 00 00 00 00 00 00 00 00 00 00 00", 6, -1},
		{"select report 03h", "a0 00 03 00 00 00 00 00 10 00 00 00", 2, -1},
		{"select report 13h", "a0 00 13 00 00 00 00 00 10 00 00 00", 2, -1},
		{"select report F7h", "a0 00 f7 00 00 00 00 00 10 00 00 00", 2, -1},
	})
}
