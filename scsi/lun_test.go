package scsi

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncodeLUN(t *testing.T) {
	tests := []struct {
		n    uint16
		want []byte
	}{
		{0, []byte{0x00, 0x00, 0, 0, 0, 0, 0, 0}},
		{1, []byte{0x00, 0x01, 0, 0, 0, 0, 0, 0}},
		{255, []byte{0x00, 0xff, 0, 0, 0, 0, 0, 0}},
		{256, []byte{0x41, 0x00, 0, 0, 0, 0, 0, 0}},
		{300, []byte{0x41, 0x2c, 0, 0, 0, 0, 0, 0}},
		{16383, []byte{0x7f, 0xff, 0, 0, 0, 0, 0, 0}},
		{16384, []byte{0xd2, 0x00, 0x40, 0x00, 0, 0, 0, 0}},
		{65535, []byte{0xd2, 0x00, 0xff, 0xff, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		l := EncodeLUN(tt.n)
		got, err := l.MarshalBinary()
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("EncodeLUN(%d) = % x, %v; want % x", tt.n, got, err, tt.want)
		}
		n, err := l.Number()
		if err != nil || n != tt.n {
			t.Errorf("EncodeLUN(%d).Number() = %d, %v", tt.n, n, err)
		}
		var back LUN
		if err := back.UnmarshalBinary(got); err != nil || back != l {
			t.Errorf("UnmarshalBinary(% x) = %v, %v; want %v", got, back, err, l)
		}
	}
}

func TestLUNNumberFlatSmall(t *testing.T) {
	// Flat space addressing may also carry numbers below 256.
	l, err := FlatLUN(5)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(l) != 0x4005000000000000 {
		t.Fatalf("FlatLUN(5) = %#x", uint64(l))
	}
	if n, err := l.Number(); err != nil || n != 5 {
		t.Fatalf("Number() = %d, %v", n, err)
	}
	if l.Method() != LUNAddressFlat {
		t.Fatalf("Method() = %v", l.Method())
	}
	if _, err := FlatLUN(MaxFlatLUN + 1); !errors.Is(err, ErrLUNAddressing) {
		t.Fatalf("FlatLUN(16384) err = %v", err)
	}
}

func TestLUNNumberRejects(t *testing.T) {
	tests := []struct {
		name string
		lun  LUN
		m    LUNAddressMethod
	}{
		{"peripheral bus 1", 0x0105000000000000, LUNAddressPeripheral},
		{"second level", 0x0005000100000000, LUNAddressPeripheral},
		{"flat second level", 0x4005400100000000, LUNAddressFlat},
		{"logical unit addressing", 0x8123000000000000, LUNAddressLogicalUnit},
		{"well-known REPORT LUNS", 0xc101000000000000, LUNAddressExtended},
		{"extended flat too big", 0xd201000000000000, LUNAddressExtended},
		{"extended flat trailing", 0xd200000100000001, LUNAddressExtended},
	}
	for _, tt := range tests {
		_, err := tt.lun.Number()
		var ae *LUNAddressError
		if !errors.As(err, &ae) || !errors.Is(err, ErrLUNAddressing) {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if ae.Method != tt.m || ae.LUN != tt.lun {
			t.Errorf("%s: error = %+v", tt.name, ae)
		}
		if got := tt.lun.String(); got[:2] != "0x" {
			t.Errorf("%s: String() = %q", tt.name, got)
		}
	}
}

func TestLUNString(t *testing.T) {
	if got := EncodeLUN(300).String(); got != "300" {
		t.Errorf("String() = %q", got)
	}
	if got := LUN(0xc101000000000000).String(); got != "0xc101000000000000" {
		t.Errorf("String() = %q", got)
	}
	for m := LUNAddressMethod(0); m < 5; m++ {
		if m.String() == "" {
			t.Errorf("empty name for %d", m)
		}
	}
}

func TestLUNUnmarshalLengths(t *testing.T) {
	full := []byte{0, 1, 0, 0, 0, 0, 0, 0}
	for i := range full {
		var l LUN
		if err := l.UnmarshalBinary(full[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: err = %v", i, err)
		}
	}
	var l LUN
	if err := l.UnmarshalBinary(append(full, 0)); !errors.Is(err, ErrInvalidField) {
		t.Errorf("9 bytes: err = %v", err)
	}
}
