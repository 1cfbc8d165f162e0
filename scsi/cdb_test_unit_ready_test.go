package scsi

import "testing"

func testUnitReadyCases() []cdbCase {
	return []cdbCase{
		{"plain", "00 00 00 00 00 00", &TestUnitReady{}},
		{"NACA", "00 00 00 00 00 04", &TestUnitReady{Control: 0x04}},
	}
}

func TestCDBTestUnitReady(t *testing.T) { testCDBGolden(t, testUnitReadyCases()) }
