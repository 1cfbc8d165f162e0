package scsi

import "testing"

func getLBAStatusCases() []cdbCase {
	return []cdbCase{
		{"GET LBA STATUS", "9e 12 00 00 00 00 00 00 10 00 00 00 10 00 00 00", &GetLBAStatus{LBA: 0x1000, AllocationLength: 4096}},
		{"high LBA", "9e 12 ff 00 00 00 00 00 00 01 00 00 00 18 00 04",
			&GetLBAStatus{LBA: 0xff00000000000001, AllocationLength: 24, Control: 4}},
	}
}

func TestCDBGetLBAStatus(t *testing.T) { testCDBGolden(t, getLBAStatusCases()) }
