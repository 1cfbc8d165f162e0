package iscsi

import (
	"bytes"
	"testing"
)

func TestTextResponseCodec(t *testing.T) {
	fresh := func() *TextResponse { return new(TextResponse) }
	tests := []struct {
		name string
		p    *TextResponse
		want string
	}{{
		name: "final SendTargets answer",
		p: &TextResponse{
			Final: true, ITT: 5, TTT: 0xffffffff, StatSN: 0x01020304, ExpCmdSN: 0x11, MaxCmdSN: 0x50,
			Data: []byte("TargetName=iqn.x\x00"),
		},
		want: `24 80 00 00 | 00 00 00 11 | 00 00 00 00 | 00 00 00 00
		       00 00 00 05 | ff ff ff ff | 01 02 03 04 | 00 00 00 11
		       00 00 00 50 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       5461726765744e616d653d69716e2e7800 000000`,
	}, {
		name: "continued with LUN",
		p: &TextResponse{
			Continue: true, LUN: 0x0102030405060708, ITT: 6, TTT: 0x1234, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 3,
			Data: []byte("a=b\x00"),
		},
		want: `24 40 00 00 | 00 00 00 04 | 01 02 03 04 | 05 06 07 08
		       00 00 00 06 | 00 00 12 34 | 00 00 00 01 | 00 00 00 02
		       00 00 00 03 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       613d6200`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestTextResponseRules(t *testing.T) {
	valid, err := (&TextResponse{Continue: true}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(valid)
	bad[1] = 0xc0
	smWantErrIs(t, new(TextResponse).UnmarshalBinary(bad), ErrInvalidField)
	_, err = (&TextResponse{Final: true, Continue: true}).MarshalBinary()
	smWantErrIs(t, err, ErrInvalidField)
}

func FuzzTextResponse(f *testing.F) {
	smFuzzCodec(f,
		&TextResponse{Final: true, ITT: 1, TTT: 0xffffffff, Data: []byte("TargetName=iqn.2024-01.x:y\x00")},
		&TextResponse{Continue: true, TTT: 3},
	)
}
