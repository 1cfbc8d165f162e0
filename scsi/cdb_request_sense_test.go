package scsi

import "testing"

func requestSenseCases() []cdbCase {
	return []cdbCase{
		{"fixed 18", "03 00 00 00 12 00", &RequestSense{AllocationLength: 18}},
		{"descriptor 252", "03 01 00 00 fc 00", &RequestSense{Desc: true, AllocationLength: 252}},
	}
}

func TestCDBRequestSense(t *testing.T) { testCDBGolden(t, requestSenseCases()) }
