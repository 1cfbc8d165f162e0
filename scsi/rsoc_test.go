package scsi

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

var goldenRSOCAll = []byte{
	0x00, 0x00, 0x00, 0x1c, // command data length 28
	0x28, 0, 0x00, 0x00, 0, 0x00, 0x00, 0x0a, // READ(10)
	0x9e, 0, 0x00, 0x10, 0, 0x03, 0x00, 0x10, // READ CAPACITY(16), SERVACTV, CTDP
	0x00, 0x0a, 0, 0x00, 0, 0, 0, 30, 0, 0, 0, 60, // timeouts
}

var goldenRSOCAllData = SupportedOpCodes{Commands: []CommandDescriptor{
	{Op: OpRead10, CDBLength: 10},
	{Op: OpServiceActionIn16, ServiceAction: SAReadCapacity16, ServiceActionValid: true, CDBLength: 16,
		Timeouts: &CommandTimeouts{Nominal: 30, Recommended: 60}},
}}

func TestRSOCAll(t *testing.T) {
	got, err := goldenRSOCAllData.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenRSOCAll) {
		t.Fatalf("% x %v", got, err)
	}
	var back SupportedOpCodes
	if err := back.UnmarshalBinary(goldenRSOCAll); err != nil || !reflect.DeepEqual(back.Commands, goldenRSOCAllData.Commands) || !back.Complete() {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenRSOCAll {
		err := back.UnmarshalBinary(goldenRSOCAll[:i])
		want := 0
		if i >= 12 {
			want = 1
		}
		if i < 4 {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("prefix %d: %v", i, err)
			}
		} else if err != nil || len(back.Commands) != want || back.Complete() {
			t.Errorf("prefix %d: %+v %v", i, back, err)
		}
	}
	if got, _ := goldenRSOCAllData.MarshalAlloc(9); !bytes.Equal(got, goldenRSOCAll[:9]) {
		t.Fatalf("alloc: % x", got)
	}
	bad := slices.Clone(goldenRSOCAll)
	bad[21] = 0x0b
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 20 {
		t.Fatalf("bad timeouts length: %v", err)
	}
}

var goldenRSOCOne = []byte{
	0x00, 0x83, 0x00, 0x0a, // CTDP, SUPPORT 3, CDB size 10
	0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x07, // READ(10) usage
	0x00, 0x0a, 0, 0x00, 0, 0, 0, 5, 0, 0, 0, 10,
}

func TestRSOCOne(t *testing.T) {
	d := SupportedOpCode{Support: CommandSupportStandard, CDBUsage: []byte{0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0x07},
		Timeouts: &CommandTimeouts{Nominal: 5, Recommended: 10}}
	got, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenRSOCOne) {
		t.Fatalf("% x %v", got, err)
	}
	var back SupportedOpCode
	if err := back.UnmarshalBinary(goldenRSOCOne); err != nil || !reflect.DeepEqual(back, d) {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenRSOCOne {
		if err := back.UnmarshalBinary(goldenRSOCOne[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	none := SupportedOpCode{Support: CommandSupportNone}
	got, _ = none.MarshalBinary()
	if !bytes.Equal(got, []byte{0, 1, 0, 0}) {
		t.Fatalf("not supported: % x", got)
	}
	if got, _ := d.MarshalAlloc(6); !bytes.Equal(got, goldenRSOCOne[:6]) {
		t.Fatalf("alloc: % x", got)
	}
}

func TestSupportedTMFs(t *testing.T) {
	s := SupportedTMFs{ATS: true, ATSS: true, CTSS: true, LURS: true, QTS: true, TRS: true, ITNRS: true, TMFTMOV: true}
	want := []byte{0xde, 0x01, 0x01, 0x00}
	got, err := s.MarshalBinary()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("% x %v", got, err)
	}
	var back SupportedTMFs
	if err := back.UnmarshalBinary(want); err != nil || back != s {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range want {
		if err := back.UnmarshalBinary(want[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	if got, _ := s.MarshalAlloc(2); !bytes.Equal(got, want[:2]) {
		t.Fatalf("alloc: % x", got)
	}
}
