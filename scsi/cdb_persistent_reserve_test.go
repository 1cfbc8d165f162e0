package scsi

import (
	"strings"
	"testing"
)

func persistentReserveCases() []cdbCase {
	return []cdbCase{
		{"IN READ KEYS", "5e 00 00 00 00 00 00 10 00 00", &PersistentReserveIn{ServiceAction: PRInReadKeys, AllocationLength: 4096}},
		{"IN READ RESERVATION", "5e 01 00 00 00 00 00 00 18 00", &PersistentReserveIn{ServiceAction: PRInReadReservation, AllocationLength: 24}},
		{"IN REPORT CAPABILITIES", "5e 02 00 00 00 00 00 00 08 04",
			&PersistentReserveIn{ServiceAction: PRInReportCapabilities, AllocationLength: 8, Control: 4}},
		{"IN READ FULL STATUS", "5e 03 00 00 00 00 00 20 00 00", &PersistentReserveIn{ServiceAction: PRInReadFullStatus, AllocationLength: 8192}},
		{"OUT REGISTER", "5f 00 00 00 00 00 00 00 18 00", &PersistentReserveOut{ServiceAction: PROutRegister, ParameterListLength: 24}},
		{"OUT RESERVE WERO", "5f 01 05 00 00 00 00 00 18 00",
			&PersistentReserveOut{ServiceAction: PROutReserve, Type: PRTypeWriteExclusiveRegistrantsOnly, ParameterListLength: 24}},
		{"OUT RELEASE EA", "5f 02 03 00 00 00 00 00 18 00",
			&PersistentReserveOut{ServiceAction: PROutRelease, Type: PRTypeExclusiveAccess, ParameterListLength: 24}},
		{"OUT CLEAR", "5f 03 00 00 00 00 00 00 18 00", &PersistentReserveOut{ServiceAction: PROutClear, ParameterListLength: 24}},
		{"OUT PREEMPT", "5f 04 01 00 00 00 00 00 18 00",
			&PersistentReserveOut{ServiceAction: PROutPreempt, Type: PRTypeWriteExclusive, ParameterListLength: 24}},
		{"OUT PREEMPT AND ABORT", "5f 05 05 00 00 00 00 00 18 00",
			&PersistentReserveOut{ServiceAction: PROutPreemptAndAbort, Type: PRTypeWriteExclusiveRegistrantsOnly, ParameterListLength: 24}},
		{"OUT REGISTER AND IGNORE", "5f 06 00 00 00 00 00 00 18 04",
			&PersistentReserveOut{ServiceAction: PROutRegisterAndIgnoreExistingKey, ParameterListLength: 24, Control: 4}},
		{"OUT REGISTER AND MOVE", "5f 07 f8 00 00 01 02 03 04 00",
			&PersistentReserveOut{ServiceAction: PROutRegisterAndMove, Scope: 0xf, Type: PRTypeExclusiveAccessAllRegistrants, ParameterListLength: 0x01020304}},
	}
}

func TestCDBPersistentReserve(t *testing.T) {
	testCDBGolden(t, persistentReserveCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"IN service action 04h", "5e 04 00 00 00 00 00 10 00 00", 1, 4},
		{"IN service action 1Fh", "5e 1f 00 00 00 00 00 10 00 00", 1, 4},
		{"OUT service action 08h", "5f 08 00 00 00 00 00 00 18 00", 1, 4},
	})
	for _, tc := range []struct {
		name      string
		c         Command
		byte, bit int
	}{
		{"IN SA", &PersistentReserveIn{ServiceAction: 0x20}, 1, 4},
		{"OUT SA", &PersistentReserveOut{ServiceAction: 0x20}, 1, 4},
		{"OUT scope", &PersistentReserveOut{Scope: 0x10}, 2, 7},
		{"OUT type", &PersistentReserveOut{Type: 0x10}, 2, 3},
	} {
		_, err := tc.c.MarshalBinary()
		cdbWantFieldError(t, tc.name, err, tc.byte, tc.bit)
	}
}

func TestPRStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{PRInReadKeys.String(), "READ KEYS"},
		{PRInReadFullStatus.String(), "READ FULL STATUS"},
		{PRInServiceAction(9).String(), "PERSISTENT RESERVE IN service action 0x09"},
		{PROutPreemptAndAbort.String(), "PREEMPT AND ABORT"},
		{PROutRegisterAndIgnoreExistingKey.String(), "REGISTER AND IGNORE EXISTING KEY"},
		{PROutServiceAction(0x1f).String(), "PERSISTENT RESERVE OUT service action 0x1f"},
		{PRTypeWriteExclusiveRegistrantsOnly.String(), "Write Exclusive - Registrants Only"},
		{PRTypeExclusiveAccessAllRegistrants.String(), "Exclusive Access - All Registrants"},
		{PRType(2).String(), "reservation type 0x2"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for sa := range PRInServiceAction(4) {
		if strings.Contains(sa.String(), "0x") {
			t.Errorf("PR IN %d has no name", sa)
		}
	}
	for sa := range PROutServiceAction(8) {
		if strings.Contains(sa.String(), "0x") {
			t.Errorf("PR OUT %d has no name", sa)
		}
	}
	for _, ty := range []PRType{1, 3, 5, 6, 7, 8} {
		if strings.Contains(ty.String(), "0x") {
			t.Errorf("type %d has no name", ty)
		}
	}
}
