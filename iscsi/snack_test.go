package iscsi

import (
	"bytes"
	"testing"
)

func TestSNACKRequestCodec(t *testing.T) {
	fresh := func() *SNACKRequest { return new(SNACKRequest) }
	tests := []struct {
		name string
		p    *SNACKRequest
		want string
	}{{
		name: "Data/R2T SNACK",
		p: &SNACKRequest{Type: SNACKDataR2T, ITT: 0x01020304, TTT: 0xffffffff, ExpStatSN: 0x55,
			BegRun: 3, RunLength: 2},
		want: `10 80 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       01 02 03 04 | ff ff ff ff | 00 00 00 00 | 00 00 00 55
		       00 00 00 00 | 00 00 00 00 | 00 00 00 03 | 00 00 00 02`,
	}, {
		name: "DataACK with LUN",
		p: &SNACKRequest{Type: SNACKDataACK, LUN: 0x0001000000000000, ITT: 0xffffffff, TTT: 0x0badcafe,
			ExpStatSN: 0x10, BegRun: 0x20},
		want: `10 82 00 00 | 00 00 00 00 | 00 01 00 00 | 00 00 00 00
		       ff ff ff ff | 0b ad ca fe | 00 00 00 00 | 00 00 00 10
		       00 00 00 00 | 00 00 00 00 | 00 00 00 20 | 00 00 00 00`,
	}, {
		name: "R-Data SNACK",
		p:    &SNACKRequest{Type: SNACKRData, ITT: 7, TTT: 0x99},
		want: `10 83 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 07 | 00 00 00 99 | 00 00 00 00 | 00 00 00 00
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestSNACKRequestRules(t *testing.T) {
	valid, err := (&SNACKRequest{Type: SNACKStatus}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Clone(valid), 1, 2, 3, 4)
	b[7] = 4
	smWantErrIs(t, new(SNACKRequest).UnmarshalBinary(b), ErrDataSegmentLength)
	_, err = (&SNACKRequest{Type: 0x10}).MarshalBinary()
	smWantErrIs(t, err, ErrInvalidField)
	for typ, want := range map[SNACKType]string{
		SNACKDataR2T: "Data/R2T SNACK", SNACKStatus: "Status SNACK", SNACKDataACK: "DataACK",
		SNACKRData: "R-Data SNACK", 4: "SNACK type 4",
	} {
		if got := typ.String(); got != want {
			t.Errorf("SNACKType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func FuzzSNACKRequest(f *testing.F) {
	smFuzzCodec(f,
		&SNACKRequest{Type: SNACKStatus, ITT: 0xffffffff, TTT: 0xffffffff, BegRun: 5},
		&SNACKRequest{Type: SNACKDataACK, LUN: 1, TTT: 9, BegRun: 3},
	)
}
