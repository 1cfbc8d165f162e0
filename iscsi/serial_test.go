package iscsi

import (
	"math"
	"testing"
)

func wantBool(t *testing.T, what string, got, want bool) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestSNCompareTable(t *testing.T) {
	tests := []struct {
		a, b    uint32
		cmp     int
		defined bool
	}{
		{0, 0, 0, true},
		{0, 1, -1, true},
		{1, 0, 1, true},
		{math.MaxUint32, 0, -1, true}, // wraps: 0xffffffff < 0
		{0, math.MaxUint32, 1, true},
		{math.MaxUint32 - 5, 3, -1, true},
		{0, 1<<31 - 1, -1, true},
		{1<<31 - 1, 0, 1, true},
		{0, 1 << 31, 0, false}, // undefined
		{1 << 31, 0, 0, false},
		{5, 5 + 1<<31, 0, false},
		{0, 1<<31 + 1, 1, true}, // farther than half: 0 is after
		{100, 44, 1, true},
		{44, 100, -1, true},
		{0xfffffff0, 0x10, -1, true},
	}
	for _, tt := range tests {
		cmp, def := SNCompare(tt.a, tt.b)
		if cmp != tt.cmp || def != tt.defined {
			t.Errorf("SNCompare(%#x, %#x) = %d, %v; want %d, %v", tt.a, tt.b, cmp, def, tt.cmp, tt.defined)
		}
		wantBool(t, "SNLess", SNLess(tt.a, tt.b), tt.defined && tt.cmp < 0)
		wantBool(t, "SNGreater", SNGreater(tt.a, tt.b), tt.defined && tt.cmp > 0)
		wantBool(t, "SNLessEq", SNLessEq(tt.a, tt.b), tt.defined && tt.cmp <= 0)
		wantBool(t, "SNGreaterEq", SNGreaterEq(tt.a, tt.b), tt.defined && tt.cmp >= 0)
	}
}

// TestSNCompareAroundWrap checks every pair in a band around the wrap
// point and around the half-way point against an independent model using
// 64-bit integers.
func TestSNCompareAroundWrap(t *testing.T) {
	model := func(a, b uint32) (int, bool) {
		// RFC 1982 section 3.2, literally, in 64-bit arithmetic.
		i1, i2 := int64(a), int64(b)
		const half = int64(1) << 31
		switch {
		case i1 == i2:
			return 0, true
		case (i1 < i2 && i2-i1 < half) || (i1 > i2 && i1-i2 > half):
			return -1, true
		case (i1 < i2 && i2-i1 > half) || (i1 > i2 && i1-i2 < half):
			return 1, true
		}
		return 0, false
	}
	var centres = []uint32{0, 1 << 31, 1<<31 - 1, math.MaxUint32, 1 << 30, 3 << 30}
	var pts []uint32
	for _, c := range centres {
		for d := int64(-40); d <= 40; d++ {
			pts = append(pts, uint32(int64(c)+d))
		}
	}
	for _, a := range pts {
		for _, b := range pts {
			wc, wd := model(a, b)
			gc, gd := SNCompare(a, b)
			if gc != wc || gd != wd {
				t.Fatalf("SNCompare(%#x, %#x) = %d, %v; model %d, %v", a, b, gc, gd, wc, wd)
			}
			if SNLess(a, b) != (wd && wc < 0) || SNGreater(a, b) != (wd && wc > 0) {
				t.Fatalf("SNLess/SNGreater(%#x, %#x) disagree with model %d, %v", a, b, wc, wd)
			}
			if wd && int64(SNDiff(a, b))*int64(wc) <= 0 && wc != 0 {
				t.Fatalf("SNDiff(%#x, %#x) = %d has the wrong sign (cmp %d)", a, b, SNDiff(a, b), wc)
			}
		}
	}
}

func TestSNDiff(t *testing.T) {
	tests := []struct {
		a, b uint32
		want int32
	}{
		{5, 3, 2},
		{3, 5, -2},
		{1, math.MaxUint32, 2},
		{math.MaxUint32, 1, -2},
		{1<<31 - 1, 0, math.MaxInt32},
		{0, 1 << 31, math.MinInt32}, // undefined order: documented value
		{1 << 31, 0, math.MinInt32},
	}
	for _, tt := range tests {
		if got := SNDiff(tt.a, tt.b); got != tt.want {
			t.Errorf("SNDiff(%#x, %#x) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSNWindow(t *testing.T) {
	tests := []struct {
		name    string
		lo, hi  uint32
		valid   bool
		size    uint32
		in, out []uint32
	}{
		{"one slot", 10, 10, true, 1, []uint32{10}, []uint32{9, 11, 0}},
		{"plain", 10, 19, true, 10, []uint32{10, 15, 19}, []uint32{9, 20, 1 << 31}},
		{"closed", 10, 9, true, 0, nil, []uint32{9, 10, 11, 0, math.MaxUint32}},
		{"closed at wrap", 0, math.MaxUint32, true, 0, nil, []uint32{0, math.MaxUint32, 1}},
		{"wrapping", math.MaxUint32 - 1, 2, true, 5,
			[]uint32{math.MaxUint32 - 1, math.MaxUint32, 0, 1, 2},
			[]uint32{math.MaxUint32 - 2, 3, 1 << 31}},
		{"max less than exp-1", 10, 8, false, 0, nil, []uint32{8, 9, 10}},
		{"max far below", 10, 1, false, 0, nil, []uint32{1, 5, 10}},
		{"largest", 0, 1<<31 - 1, true, 1 << 31, []uint32{0, 1<<31 - 1}, []uint32{1 << 31, math.MaxUint32}},
		{"beyond largest", 0, 1 << 31, false, 0, nil, []uint32{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantBool(t, "SNWindowValid", SNWindowValid(tt.lo, tt.hi), tt.valid)
			if got := SNWindowSize(tt.lo, tt.hi); got != tt.size {
				t.Errorf("SNWindowSize(%#x, %#x) = %d, want %d", tt.lo, tt.hi, got, tt.size)
			}
			for _, sn := range tt.in {
				if !SNInWindow(sn, tt.lo, tt.hi) {
					t.Errorf("SNInWindow(%#x, %#x, %#x) = false, want true", sn, tt.lo, tt.hi)
				}
			}
			for _, sn := range tt.out {
				if SNInWindow(sn, tt.lo, tt.hi) {
					t.Errorf("SNInWindow(%#x, %#x, %#x) = true, want false", sn, tt.lo, tt.hi)
				}
			}
		})
	}
}

// TestSNInWindowMatchesCompare checks SNInWindow against the definition
// ExpCmdSN <= sn <= MaxCmdSN for small windows placed across the wrap.
func TestSNInWindowMatchesCompare(t *testing.T) {
	for _, lo := range []uint32{0, 1, math.MaxUint32, math.MaxUint32 - 3, 1 << 31, 1<<31 - 2} {
		for w := uint32(0); w <= 6; w++ {
			hi := lo + w - 1 // w slots; w == 0 is the closed window
			for d := int64(-8); d <= 8; d++ {
				sn := uint32(int64(lo) + d)
				want := w > 0 && SNLessEq(lo, sn) && SNLessEq(sn, hi)
				if got := SNInWindow(sn, lo, hi); got != want {
					t.Fatalf("SNInWindow(%#x, %#x, %#x) = %v, want %v", sn, lo, hi, got, want)
				}
			}
		}
	}
}
