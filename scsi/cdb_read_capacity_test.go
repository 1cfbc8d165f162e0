package scsi

import "testing"

func readCapacityCases() []cdbCase {
	return []cdbCase{
		{"RC10", "25 00 00 00 00 00 00 00 00 00", &ReadCapacity10{}},
		{"RC10 PMI", "25 00 12 34 56 78 00 00 01 00", &ReadCapacity10{LBA: 0x12345678, PMI: true}},
		{"RC16 32", "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00", &ReadCapacity16{AllocationLength: 32}},
		{"RC16 PMI", "9e 10 01 02 03 04 05 06 07 08 00 01 00 00 01 04",
			&ReadCapacity16{LBA: 0x0102030405060708, AllocationLength: 0x10000, PMI: true, Control: 0x04}},
	}
}

func TestCDBReadCapacity(t *testing.T) {
	testCDBGolden(t, readCapacityCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"RC10 LBA without PMI", "25 00 00 00 00 01 00 00 00 00", 2, -1},
		{"RC16 LBA without PMI", "9e 10 80 00 00 00 00 00 00 00 00 00 00 20 00 00", 2, -1},
	})
}
