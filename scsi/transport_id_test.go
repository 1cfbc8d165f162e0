package scsi

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// "iqn.2024-01.x:a" is 15 bytes: with its NUL, 16, padded to the minimum
// of 20.
var goldenTIDDevice = []byte{
	0x05, 0x00, 0x00, 0x14,
	'i', 'q', 'n', '.', '2', '0', '2', '4', '-', '0', '1', '.', 'x', ':', 'a', 0,
	0, 0, 0, 0,
}

// Port format: 15 + 5 + 12 + NUL = 33, padded to 36.
var goldenTIDPort = slices.Concat([]byte{0x45, 0x00, 0x00, 0x24},
	[]byte("iqn.2024-01.x:a,i,0x400001370000"), []byte{0, 0, 0, 0})

func TestTransportIDGolden(t *testing.T) {
	tests := []struct {
		id     ISCSITransportID
		golden []byte
	}{
		{ISCSITransportID{Name: "iqn.2024-01.x:a"}, goldenTIDDevice},
		{ISCSITransportID{Name: "iqn.2024-01.x:a", Port: true, ISID: 0x400001370000}, goldenTIDPort},
	}
	for _, tt := range tests {
		got, err := tt.id.MarshalBinary()
		if err != nil || !bytes.Equal(got, tt.golden) || tt.id.Len() != len(tt.golden) {
			t.Errorf("%v: % x, %v\nwant % x", tt.id, got, err, tt.golden)
		}
		var back ISCSITransportID
		if err := back.UnmarshalBinary(tt.golden); err != nil || back != tt.id {
			t.Errorf("decode %v: %+v, %v", tt.id, back, err)
		}
		for i := range tt.golden {
			if _, _, err := ParseTransportID(tt.golden[:i]); !errors.Is(err, ErrTruncated) {
				t.Errorf("%v prefix %d: %v", tt.id, i, err)
			}
		}
	}
	if s := (ISCSITransportID{Name: "iqn.x", Port: true, ISID: 0x23d000000001}).String(); s != "iqn.x,i,0x23d000000001" {
		t.Errorf("String() = %q", s)
	}
	// A name that needs no padding beyond its NUL: 23 bytes + NUL = 24.
	long := ISCSITransportID{Name: "iqn.2024-01.com.example"}
	b, _ := long.MarshalBinary()
	if len(b) != 28 || b[3] != 24 || b[27] != 0 {
		t.Errorf("24-byte name: % x", b)
	}
}

func TestTransportIDErrors(t *testing.T) {
	var pe *ParameterFieldError
	mod := func(b []byte, i int, v byte) []byte { c := slices.Clone(b); c[i] = v; return c }
	tests := []struct {
		name      string
		b         []byte
		byt, bitN int
	}{
		{"fibre channel", mod(goldenTIDDevice, 0, 0x00), 0, 3},
		{"format 2", mod(goldenTIDDevice, 0, 0x85), 0, 7},
		{"length 16", mod(goldenTIDDevice, 3, 0x10)[:20], 2, 7},
		{"length 22", append(mod(goldenTIDDevice, 3, 0x16), 0, 0), 2, 7},
		{"no NUL", slices.Concat(goldenTIDDevice[:4], bytes.Repeat([]byte{'a'}, 20)), 23, 7},
		{"empty name", slices.Concat(goldenTIDDevice[:4], make([]byte, 20)), 4, 7},
		{"no separator", mod(goldenTIDDevice, 0, 0x45), 4, 7},
		{"bad ISID", mod(goldenTIDPort, 4+20, 'g'), 4 + 20, 7},
		{"long ISID", slices.Concat([]byte{0x45, 0, 0, 0x24}, []byte("iqn.2024-01.x:a,i,0x4000013700001"), []byte{0, 0, 0}), 4 + 20, 7},
	}
	for _, tt := range tests {
		_, _, err := ParseTransportID(tt.b)
		if !errors.As(err, &pe) || pe.Byte != tt.byt || pe.Bit != tt.bitN {
			t.Errorf("%s: err = %v, want byte %d bit %d", tt.name, err, tt.byt, tt.bitN)
		}
	}
	var id ISCSITransportID
	if err := id.UnmarshalBinary(append(slices.Clone(goldenTIDDevice), 0, 0, 0, 0)); !errors.As(err, &pe) {
		t.Errorf("trailing bytes: %v", err)
	}
	for _, bad := range []ISCSITransportID{{}, {Name: "a\x00b"}, {Name: string(make([]byte, 224))}, {Name: "x", Port: true, ISID: 1 << 48}} {
		if _, err := bad.MarshalBinary(); !errors.Is(err, ErrInvalidField) {
			t.Errorf("marshal %q: %v", bad.Name, err)
		}
	}
}

func FuzzTransportID(f *testing.F) {
	f.Add(goldenTIDDevice)
	f.Add(goldenTIDPort)
	f.Fuzz(func(t *testing.T, b []byte) {
		id, n, err := ParseTransportID(b)
		if err != nil {
			return
		}
		if n > len(b) || n < 24 {
			t.Fatalf("length %d of %d", n, len(b))
		}
		enc, err := id.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", id, err)
		}
		id2, n2, err := ParseTransportID(enc)
		if err != nil || id2 != id || n2 != len(enc) {
			t.Fatalf("unstable: %+v vs %+v (%v)", id, id2, err)
		}
	})
}
