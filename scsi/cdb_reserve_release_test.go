package scsi

import "testing"

func reserveReleaseCases() []cdbCase {
	return []cdbCase{
		{"RESERVE(6)", "16 00 00 00 00 00", &Reserve{Op: OpReserve6}},
		{"RESERVE(10)", "56 00 00 00 00 00 00 00 00 00", &Reserve{Op: OpReserve10}},
		{"RESERVE(10) third party", "56 12 00 07 00 00 00 00 18 00",
			&Reserve{Op: OpReserve10, ThirdParty: true, LongID: true, ThirdPartyDeviceID: 7, ParameterListLength: 24}},
		{"RELEASE(6)", "17 00 00 00 00 04", &Release{Op: OpRelease6, Control: 4}},
		{"RELEASE(10) third party", "57 10 00 05 00 00 00 00 00 00", &Release{Op: OpRelease10, ThirdParty: true, ThirdPartyDeviceID: 5}},
	}
}

func TestCDBReserveRelease(t *testing.T) {
	testCDBGolden(t, reserveReleaseCases())
	if (&Reserve{}).OpCode() != OpReserve6 || (&Release{}).OpCode() != OpRelease6 {
		t.Errorf("zero Op does not pick the 6-byte form")
	}
	_, err := (&Reserve{ThirdParty: true}).MarshalBinary()
	cdbWantFieldError(t, "RESERVE(6) 3RDPTY", err, 1, 4)
	_, err = (&Release{ParameterListLength: 8}).MarshalBinary()
	cdbWantFieldError(t, "RELEASE(6) length", err, 1, 4)
}
