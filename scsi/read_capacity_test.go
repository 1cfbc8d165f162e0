package scsi

import (
	"errors"
	"testing"
)

func TestReadCapacity10Data(t *testing.T) {
	tests := []struct {
		name string
		d    ReadCapacity10Data
		hex  string
		back ReadCapacity10Data
	}{
		{"1 GiB of 512", ReadCapacity10Data{LastLBA: 0x1fffff, BlockLength: 512}, "001fffff 00000200",
			ReadCapacity10Data{LastLBA: 0x1fffff, BlockLength: 512}},
		{"clamped", ReadCapacity10Data{LastLBA: 0x1_0000_0000, BlockLength: 4096}, "ffffffff 00001000",
			ReadCapacity10Data{LastLBA: ReadCapacity10Max, BlockLength: 4096}},
	}
	for _, tc := range tests {
		b, err := tc.d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want := sivHex(t, tc.hex)
		sivWantBytes(t, tc.name, b, want)
		var got ReadCapacity10Data
		if err := got.UnmarshalBinary(b); err != nil || got != tc.back {
			t.Errorf("%s: decode %+v, %v; want %+v", tc.name, got, err, tc.back)
		}
		sivWantPrefixesTruncated(t, tc.name, want, func(p []byte) error { return new(ReadCapacity10Data).UnmarshalBinary(p) })
	}
	clamped := ReadCapacity10Data{LastLBA: ReadCapacity10Max}
	if !clamped.NeedsReadCapacity16() || (&ReadCapacity10Data{LastLBA: 5}).NeedsReadCapacity16() {
		t.Error("NeedsReadCapacity16 wrong")
	}
}

func TestReadCapacity16Data(t *testing.T) {
	tests := []struct {
		name string
		d    ReadCapacity16Data
		hex  string
	}{
		{"plain", ReadCapacity16Data{LastLBA: 0x1_ffff_ffff, BlockLength: 512},
			"00000001ffffffff 00000200 00 00 0000 00000000000000000000000000000000"},
		{"thin, 4K physical, aligned 7, type 2 protection",
			ReadCapacity16Data{LastLBA: 0x3fff, BlockLength: 512, ProtectionType: 1, ProtectionEnabled: true,
				PIExponent: 2, LogicalPerPhysicalExponent: 3, LBPME: true, LBPRZ: true, LowestAlignedLBA: 7},
			"0000000000003fff 00000200 03 23 c007 00000000000000000000000000000000"},
		{"all field bits", ReadCapacity16Data{LastLBA: ^uint64(0), BlockLength: ^uint32(0), ProtectionType: 7,
			PIExponent: 15, LogicalPerPhysicalExponent: 15, LowestAlignedLBA: 0x3fff},
			"ffffffffffffffff ffffffff 0e ff 3fff 00000000000000000000000000000000"},
	}
	for _, tc := range tests {
		b, err := tc.d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want := sivHex(t, tc.hex)
		sivWantBytes(t, tc.name, b, want)
		var got ReadCapacity16Data
		if err := got.UnmarshalBinary(b); err != nil || got != tc.d {
			t.Errorf("%s: decode %+v, %v; want %+v", tc.name, got, err, tc.d)
		}
		sivWantPrefixesTruncated(t, tc.name, want, func(p []byte) error { return new(ReadCapacity16Data).UnmarshalBinary(p) })
	}
	d := ReadCapacity16Data{LastLBA: 2047, BlockLength: 512}
	if d.Blocks() != 2048 || d.Bytes() != 1<<20 {
		t.Errorf("Blocks %d Bytes %d", d.Blocks(), d.Bytes())
	}
	for _, bad := range []ReadCapacity16Data{{ProtectionType: 8}, {PIExponent: 16},
		{LogicalPerPhysicalExponent: 16}, {LowestAlignedLBA: 0x4000}} {
		_, err := bad.MarshalBinary()
		if !errors.Is(err, ErrInvalidField) {
			t.Errorf("%+v: error %v, want ErrInvalidField", bad, err)
		}
	}
}

func FuzzReadCapacityData(f *testing.F) {
	f.Add(sivHex(f, "001fffff 00000200"))
	f.Add(sivHex(f, "0000000000003fff 00000200 03 23 c007 00000000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d10 ReadCapacity10Data
		if err := d10.UnmarshalBinary(b); err == nil {
			enc, _ := d10.MarshalBinary()
			var again ReadCapacity10Data
			if err := again.UnmarshalBinary(enc); err != nil || again != d10 {
				t.Fatalf("READ CAPACITY(10) unstable: %+v then %+v, %v", d10, again, err)
			}
		} else if !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error %v", err)
		}
		var d16 ReadCapacity16Data
		if err := d16.UnmarshalBinary(b); err == nil {
			enc, err := d16.MarshalBinary()
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			var again ReadCapacity16Data
			if err := again.UnmarshalBinary(enc); err != nil || again != d16 {
				t.Fatalf("READ CAPACITY(16) unstable: %+v then %+v, %v", d16, again, err)
			}
		} else if !errors.Is(err, ErrTruncated) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
