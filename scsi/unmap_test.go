package scsi

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

var goldenUnmap = []byte{
	0x00, 0x26, // UNMAP DATA LENGTH 38
	0x00, 0x20, // BLOCK DESCRIPTOR DATA LENGTH 32
	0, 0, 0, 0, // reserved
	0, 0, 0, 0, 0, 0, 0x10, 0x00, 0x00, 0x00, 0x00, 0x08, 0, 0, 0, 0, // LBA 4096, 8 blocks
	0x01, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, // LBA 2^56+1, max blocks
}

var goldenUnmapList = UnmapParameterList{Descriptors: []UnmapBlockDescriptor{
	{LBA: 4096, Blocks: 8},
	{LBA: 1<<56 | 1, Blocks: 0xffffffff},
}}

func TestUnmapGolden(t *testing.T) {
	got, err := goldenUnmapList.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenUnmap) {
		t.Fatalf("MarshalBinary = % x, %v", got, err)
	}
	var l UnmapParameterList
	if err := l.UnmarshalBinary(goldenUnmap); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(l.Descriptors, goldenUnmapList.Descriptors) {
		t.Fatalf("decoded %+v", l)
	}
}

func TestUnmapEmpty(t *testing.T) {
	var l UnmapParameterList
	if err := l.UnmarshalBinary(nil); err != nil || l.Descriptors != nil {
		t.Fatalf("empty: %v %+v", err, l)
	}
	got, _ := (&UnmapParameterList{}).MarshalBinary()
	if !bytes.Equal(got, []byte{0, 6, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("no descriptors = % x", got)
	}
	if err := l.UnmarshalBinary(got); err != nil || len(l.Descriptors) != 0 {
		t.Fatalf("header only: %v %+v", err, l)
	}
}

func TestUnmapTruncated(t *testing.T) {
	for i := 1; i < len(goldenUnmap); i++ {
		var l UnmapParameterList
		if err := l.UnmarshalBinary(goldenUnmap[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: err = %v", i, err)
		}
	}
}

func TestUnmapBadLengths(t *testing.T) {
	b := slices.Clone(goldenUnmap)
	b[1] = 0x25 // data length 37 < 32 + 6
	var l UnmapParameterList
	var pe *ParameterFieldError
	if err := l.UnmarshalBinary(b); !errors.As(err, &pe) || pe.Byte != 0 {
		t.Fatalf("err = %v", err)
	}
	// A block descriptor length that is not a multiple of 16: the
	// incomplete last descriptor is ignored.
	b = slices.Clone(goldenUnmap)
	b[1], b[3] = 0x25, 0x1f
	if err := l.UnmarshalBinary(b); err != nil || len(l.Descriptors) != 1 {
		t.Fatalf("partial descriptor: %v %+v", err, l)
	}
}

func FuzzUnmapList(f *testing.F) {
	f.Add(goldenUnmap)
	f.Add([]byte{0, 6, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l UnmapParameterList
		if err := l.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var l2 UnmapParameterList
		if err := l2.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		if len(l.Descriptors) != len(l2.Descriptors) || (len(l.Descriptors) > 0 && !slices.Equal(l.Descriptors, l2.Descriptors)) {
			t.Fatalf("unstable: %+v vs %+v", l, l2)
		}
	})
}
