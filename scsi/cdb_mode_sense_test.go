package scsi

import "testing"

func modeSenseCases() []cdbCase {
	return []cdbCase{
		{"(6) all pages", "1a 08 3f 00 ff 00", &ModeSense{Op: OpModeSense6, DBD: true, PageCode: 0x3f, AllocationLength: 255}},
		{"(6) changeable caching", "1a 00 48 00 14 00",
			&ModeSense{Op: OpModeSense6, PC: PageControlChangeable, PageCode: 0x08, AllocationLength: 20}},
		{"(6) all subpages", "1a 00 bf ff c0 04",
			&ModeSense{Op: OpModeSense6, PC: PageControlDefault, PageCode: 0x3f, SubpageCode: 0xff, AllocationLength: 192, Control: 4}},
		{"(10) saved control", "5a 18 ca 01 00 00 00 01 00 00",
			&ModeSense{Op: OpModeSense10, LLBAA: true, DBD: true, PC: PageControlSaved, PageCode: 0x0a, SubpageCode: 1, AllocationLength: 256}},
	}
}

func TestCDBModeSense(t *testing.T) {
	testCDBGolden(t, modeSenseCases())
	for _, tc := range []struct {
		m    ModeSense
		want OpCode
	}{
		{ModeSense{AllocationLength: 255}, OpModeSense6},
		{ModeSense{AllocationLength: 256}, OpModeSense10},
		{ModeSense{LLBAA: true}, OpModeSense10},
	} {
		if got := tc.m.OpCode(); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.m, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name      string
		m         ModeSense
		byte, bit int
	}{
		{"PC", ModeSense{PC: 4}, 2, 7},
		{"page code", ModeSense{PageCode: 0x40}, 2, 5},
		{"(6) LLBAA", ModeSense{Op: OpModeSense6, LLBAA: true}, 1, 4},
		{"(6) allocation length", ModeSense{Op: OpModeSense6, AllocationLength: 256}, 4, -1},
	} {
		_, err := tc.m.MarshalBinary()
		cdbWantFieldError(t, tc.name, err, tc.byte, tc.bit)
	}
}
