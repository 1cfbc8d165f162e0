package scsi

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

var goldenReportLUNs = []byte{
	0x00, 0x00, 0x00, 0x18, // LUN LIST LENGTH 24
	0x00, 0x00, 0x00, 0x00, // reserved
	0x00, 0x00, 0, 0, 0, 0, 0, 0, // LUN 0
	0x00, 0x07, 0, 0, 0, 0, 0, 0, // LUN 7
	0x41, 0x2c, 0, 0, 0, 0, 0, 0, // LUN 300 (flat)
}

func TestReportLUNsGolden(t *testing.T) {
	d := &ReportLUNsData{LUNs: []LUN{EncodeLUN(0), EncodeLUN(7), EncodeLUN(300)}}
	got, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenReportLUNs) {
		t.Fatalf("MarshalBinary = % x, %v\nwant % x", got, err, goldenReportLUNs)
	}
	var back ReportLUNsData
	if err := back.UnmarshalBinary(goldenReportLUNs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.LUNs, d.LUNs) || back.ListLength != 24 || !back.Complete() {
		t.Fatalf("decoded %+v", back)
	}
}

func TestReportLUNsEmpty(t *testing.T) {
	got, err := (&ReportLUNsData{}).MarshalBinary()
	if err != nil || !bytes.Equal(got, make([]byte, 8)) {
		t.Fatalf("empty = % x, %v", got, err)
	}
}

func TestReportLUNsAlloc(t *testing.T) {
	d := &ReportLUNsData{LUNs: []LUN{EncodeLUN(0), EncodeLUN(7), EncodeLUN(300)}}
	for alloc := range uint32(len(goldenReportLUNs) + 4) {
		got, err := d.MarshalAlloc(alloc)
		if err != nil {
			t.Fatal(err)
		}
		want := goldenReportLUNs[:min(int(alloc), len(goldenReportLUNs))]
		if !bytes.Equal(got, want) {
			t.Fatalf("alloc %d: % x, want % x", alloc, got, want)
		}
	}
}

func TestReportLUNsTruncated(t *testing.T) {
	for i := range 8 {
		var d ReportLUNsData
		if err := d.UnmarshalBinary(goldenReportLUNs[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: err = %v", i, err)
		}
	}
	// Prefixes cut by an allocation length decode the whole entries held
	// and keep the header's list length.
	for i := 8; i < len(goldenReportLUNs); i++ {
		var d ReportLUNsData
		if err := d.UnmarshalBinary(goldenReportLUNs[:i]); err != nil {
			t.Fatalf("prefix %d: %v", i, err)
		}
		if d.ListLength != 24 || len(d.LUNs) != (i-8)/8 || d.Complete() {
			t.Errorf("prefix %d: %+v", i, d)
		}
	}
}

func TestReportLUNsBadLength(t *testing.T) {
	b := slices.Clone(goldenReportLUNs)
	b[3] = 0x17
	var d ReportLUNsData
	err := d.UnmarshalBinary(b)
	var pe *ParameterFieldError
	if !errors.As(err, &pe) || pe.Byte != 0 {
		t.Fatalf("err = %v", err)
	}
	// Extra bytes past the list length are ignored.
	b = append(slices.Clone(goldenReportLUNs), 1, 2, 3, 4, 5, 6, 7, 8)
	if err := d.UnmarshalBinary(b); err != nil || len(d.LUNs) != 3 {
		t.Fatalf("trailing: %v %+v", err, d)
	}
}

func FuzzReportLUNs(f *testing.F) {
	f.Add(goldenReportLUNs)
	f.Add(goldenReportLUNs[:13])
	f.Add([]byte{0xff, 0xff, 0xff, 0xf8, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d ReportLUNsData
		if err := d.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var d2 ReportLUNsData
		if err := d2.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(d.LUNs, d2.LUNs) || !d2.Complete() {
			t.Fatalf("unstable: %v vs %v", d.LUNs, d2.LUNs)
		}
	})
}
