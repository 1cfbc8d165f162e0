package scsi

import "testing"

func inquiryCDBCases() []cdbCase {
	return []cdbCase{
		{"standard 36", "12 00 00 00 24 00", &Inquiry{AllocationLength: 36}},
		{"VPD 83h 4096", "12 01 83 10 00 00", &Inquiry{EVPD: true, PageCode: 0x83, AllocationLength: 4096}},
		{"VPD 00h NACA", "12 01 00 00 ff 04", &Inquiry{EVPD: true, AllocationLength: 255, Control: 0x04}},
	}
}

func TestCDBInquiry(t *testing.T) {
	testCDBGolden(t, inquiryCDBCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"page code without EVPD", "12 00 83 00 ff 00", 2, -1},
		{"page code 01h without EVPD", "12 00 01 00 ff 00", 2, -1},
	})
}
