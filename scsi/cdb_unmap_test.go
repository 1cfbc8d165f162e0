package scsi

import "testing"

func unmapCDBCases() []cdbCase {
	return []cdbCase{
		{"one descriptor", "42 00 00 00 00 00 00 00 18 00", &Unmap{ParameterListLength: 24}},
		{"ANCHOR group", "42 01 00 00 00 00 03 01 00 04", &Unmap{Anchor: true, Group: 3, ParameterListLength: 256, Control: 4}},
	}
}

func TestCDBUnmap(t *testing.T) {
	testCDBGolden(t, unmapCDBCases())
	_, err := (&Unmap{Group: 0x20}).MarshalBinary()
	cdbWantFieldError(t, "group", err, 6, 4)
}
