package wire

import (
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b []byte
	b = AppendUint8(b, 0x01)
	b = AppendUint16(b, 0x0203)
	b = AppendUint24(b, 0x040506)
	b = AppendUint32(b, 0x0708090a)
	b = AppendUint64(b, 0x0b0c0d0e0f101112)
	b = AppendZeros(b, 2)
	if len(b) != 1+2+3+4+8+2 {
		t.Fatalf("len = %d", len(b))
	}
	v8, r, ok := ConsumeUint8(b)
	if !ok || v8 != 1 {
		t.Fatalf("u8 = %#x %v", v8, ok)
	}
	v16, r, ok := ConsumeUint16(r)
	if !ok || v16 != 0x0203 {
		t.Fatalf("u16 = %#x", v16)
	}
	v24, r, ok := ConsumeUint24(r)
	if !ok || v24 != 0x040506 {
		t.Fatalf("u24 = %#x", v24)
	}
	v32, r, ok := ConsumeUint32(r)
	if !ok || v32 != 0x0708090a {
		t.Fatalf("u32 = %#x", v32)
	}
	v64, r, ok := ConsumeUint64(r)
	if !ok || v64 != 0x0b0c0d0e0f101112 {
		t.Fatalf("u64 = %#x", v64)
	}
	z, r, ok := ConsumeBytes(r, 2)
	if !ok || z[0] != 0 || z[1] != 0 || len(r) != 0 {
		t.Fatalf("zeros = %v rest %v", z, r)
	}
	if _, _, ok := ConsumeUint32(r); ok {
		t.Fatal("consume from empty succeeded")
	}
	if _, _, ok := ConsumeBytes(b, -1); ok {
		t.Fatal("negative length accepted")
	}
}

func TestUint48(t *testing.T) {
	b := make([]byte, 6)
	PutUint48(b, 0x0000_1234_5678_9abc)
	if got := Uint48(b); got != 0x123456789abc {
		t.Fatalf("Uint48 = %#x", got)
	}
	PutUint24(b, 0xfedcba)
	if got := Uint24(b); got != 0xfedcba {
		t.Fatalf("Uint24 = %#x", got)
	}
}

func TestPad4(t *testing.T) {
	for n, want := range []int{0, 3, 2, 1, 0, 3} {
		if got := Pad4(n); got != want {
			t.Errorf("Pad4(%d) = %d, want %d", n, got, want)
		}
	}
}
