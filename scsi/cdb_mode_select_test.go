package scsi

import "testing"

func modeSelectCases() []cdbCase {
	return []cdbCase{
		{"(6) PF SP", "15 11 00 00 18 00", &ModeSelect{Op: OpModeSelect6, PF: true, SP: true, ParameterListLength: 24}},
		{"(6) empty", "15 00 00 00 00 00", &ModeSelect{Op: OpModeSelect6}},
		{"(10) PF", "55 10 00 00 00 00 00 01 00 04", &ModeSelect{Op: OpModeSelect10, PF: true, ParameterListLength: 256, Control: 4}},
	}
}

func TestCDBModeSelect(t *testing.T) {
	testCDBGolden(t, modeSelectCases())
	if op := (&ModeSelect{ParameterListLength: 300}).OpCode(); op != OpModeSelect10 {
		t.Errorf("300 bytes: %v", op)
	}
	_, err := (&ModeSelect{Op: OpModeSelect6, ParameterListLength: 300}).MarshalBinary()
	cdbWantFieldError(t, "(6) length", err, 4, -1)
}
