package scsi

import "testing"

func startStopUnitCases() []cdbCase {
	return []cdbCase{
		{"IMMED START", "1b 01 00 00 01 00", &StartStopUnit{Immed: true, Start: true}},
		{"stop", "1b 00 00 00 00 00", &StartStopUnit{}},
		{"standby eject", "1b 00 00 05 33 00", &StartStopUnit{PowerConditionModifier: 5, PowerCondition: 3, LoEj: true, Start: true}},
		{"NO_FLUSH force standby", "1b 00 00 00 b4 04", &StartStopUnit{PowerCondition: 0xb, NoFlush: true, Control: 4}},
	}
}

func TestCDBStartStopUnit(t *testing.T) {
	testCDBGolden(t, startStopUnitCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"power condition 4h", "1b 00 00 00 40 00", 4, 7},
		{"power condition Fh", "1b 00 00 00 f0 00", 4, 7},
	})
	_, err := (&StartStopUnit{PowerCondition: 0x10}).MarshalBinary()
	cdbWantFieldError(t, "power condition", err, 4, 7)
	_, err = (&StartStopUnit{PowerConditionModifier: 0x10}).MarshalBinary()
	cdbWantFieldError(t, "modifier", err, 3, 3)
}
