package iscsi

import (
	"bytes"
	"errors"
	"testing"
)

// ahsItem is one AHS as a reader returns it.
type ahsItem struct {
	typ  AHSType
	data []byte
}

// readAllAHS reads every AHS in area.
func readAllAHS(area []byte) ([]ahsItem, error) {
	var items []ahsItem
	r := NewAHSReader(area)
	for r.Next() {
		items = append(items, ahsItem{r.Type(), r.Data()})
	}
	return items, r.Err()
}

func TestAHSReader(t *testing.T) {
	area := []byte{
		0x00, 0x03, 0x01, 0x00, // AHSLength 3, Extended CDB
		0xaa, 0xbb, 0x00, 0x00, // two CDB bytes, padding
		0x00, 0x05, 0x82, 0x00, // AHSLength 5, reserved bit set, Bidi Read
		0x00, 0x00, 0x10, 0x00, // length 4096
		0x00, 0x00, 0x3f, 0x00, // AHSLength 0, type 63: header only, padded
	}
	items, err := readAllAHS(area)
	if err != nil {
		t.Fatalf("Err = %v", err)
	}
	want := []ahsItem{
		{AHSExtendedCDB, []byte{0x00, 0xaa, 0xbb}},
		{AHSBidiReadLength, []byte{0x00, 0x00, 0x00, 0x10, 0x00}},
		{63, nil},
	}
	if len(items) != len(want) {
		t.Fatalf("read %d AHSs, want %d", len(items), len(want))
	}
	for i := range want {
		if items[i].typ != want[i].typ || !bytes.Equal(items[i].data, want[i].data) {
			t.Errorf("AHS %d = %v % x, want %v % x", i, items[i].typ, items[i].data, want[i].typ, want[i].data)
		}
	}

	// Every prefix that is a whole number of words either ends cleanly
	// between two AHSs or fails with ErrAHSLength; none panics.
	ends := map[int]bool{0: true, 8: true, 16: true, 20: true}
	for i := 0; i <= len(area); i += 4 {
		_, err := readAllAHS(area[:i])
		if ends[i] != (err == nil) || (err != nil && !errors.Is(err, ErrAHSLength)) {
			t.Errorf("prefix of %d bytes: Err = %v", i, err)
		}
	}
}

func TestAHSReaderErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		area []byte
	}{
		{"not whole words", []byte{0x00, 0x01, 0x01}},
		{"length past the area", []byte{0x00, 0x02, 0x01, 0x00}},
		{"second AHS past the area", []byte{0x00, 0x01, 0x01, 0x00, 0x00, 0x08, 0x02, 0x00, 0, 0, 0, 0}},
		{"maximum length", []byte{0xff, 0xff, 0x01, 0x00, 0, 0, 0, 0}},
	} {
		r := NewAHSReader(c.area)
		for r.Next() {
		}
		if err := r.Err(); !errors.Is(err, ErrAHSLength) {
			t.Errorf("%s: Err = %v, want ErrAHSLength", c.name, err)
		}
		if r.Next() {
			t.Errorf("%s: Next after an error = true", c.name)
		}
	}
}

func TestAppendAHS(t *testing.T) {
	for _, c := range []struct {
		name     string
		typ      AHSType
		specific []byte
		want     []byte
	}{
		{"empty", 60, nil, []byte{0x00, 0x00, 0x3c, 0x00}},
		{"one byte", AHSExtendedCDB, []byte{0x00}, []byte{0x00, 0x01, 0x01, 0x00}},
		{"two bytes", AHSExtendedCDB, []byte{0x00, 0x99}, []byte{0x00, 0x02, 0x01, 0x00, 0x99, 0x00, 0x00, 0x00}},
		{"bidi", AHSBidiReadLength, []byte{0x00, 0x00, 0x00, 0x02, 0x00}, []byte{0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00}},
	} {
		got, err := AppendAHS([]byte{0xee}, c.typ, c.specific)
		if err != nil || !bytes.Equal(got, taskCat([]byte{0xee}, c.want)) {
			t.Errorf("%s: AppendAHS = % x, %v; want ee % x", c.name, got, err, c.want)
		}
	}
	if _, err := AppendAHS(nil, 64, nil); !errors.Is(err, ErrInvalidField) {
		t.Errorf("AppendAHS type 64: %v, want ErrInvalidField", err)
	}
	if _, err := AppendAHS(nil, 1, make([]byte, 1<<16)); !errors.Is(err, ErrAHSLength) {
		t.Errorf("AppendAHS of 65536 bytes: %v, want ErrAHSLength", err)
	}
}

func TestAHSTypeString(t *testing.T) {
	for typ, want := range map[AHSType]string{
		AHSExtendedCDB:    "Extended CDB",
		AHSBidiReadLength: "Bidirectional Read Expected Data Transfer Length",
		7:                 "AHS type 7",
	} {
		if got := typ.String(); got != want {
			t.Errorf("AHSType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func FuzzAHSReader(f *testing.F) {
	f.Add([]byte{0x00, 0x03, 0x01, 0x00, 0xaa, 0xbb, 0x00, 0x00, 0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00})
	f.Add([]byte{0x00, 0x00, 0x3f, 0x00})
	f.Add([]byte{0xff, 0xff, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, area []byte) {
		items, err := readAllAHS(area)
		if err != nil {
			if !errors.Is(err, ErrAHSLength) {
				t.Fatalf("Err = %v, want ErrAHSLength", err)
			}
			return
		}
		// Writing the AHSs back gives the area again, apart from the
		// reserved bits of AHSType and the padding bytes; reading that
		// gives the same AHSs.
		var out []byte
		for _, it := range items {
			if out, err = AppendAHS(out, it.typ, it.data); err != nil {
				t.Fatalf("AppendAHS(%v, % x): %v", it.typ, it.data, err)
			}
		}
		if len(out) != len(area) {
			t.Fatalf("re-appended area has %d bytes, want %d", len(out), len(area))
		}
		again, err := readAllAHS(out)
		if err != nil || len(again) != len(items) {
			t.Fatalf("re-read %d AHSs, %v; want %d", len(again), err, len(items))
		}
		for i := range items {
			if again[i].typ != items[i].typ || !bytes.Equal(again[i].data, items[i].data) {
				t.Fatalf("AHS %d re-read as %v % x, want %v % x", i, again[i].typ, again[i].data, items[i].typ, items[i].data)
			}
		}
	})
}
