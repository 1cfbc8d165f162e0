package iscsi

import (
	"bytes"
	"testing"
)

func TestTextRequestCodec(t *testing.T) {
	fresh := func() *TextRequest { return new(TextRequest) }
	tests := []struct {
		name string
		p    *TextRequest
		want string
	}{{
		name: "SendTargets",
		p: &TextRequest{
			Immediate: true, Final: true, LUN: 0x0001000000000000,
			ITT: 0x00000005, TTT: 0xffffffff, CmdSN: 0x10, ExpStatSN: 0x20,
			Data: []byte("SendTargets=All\x00"),
		},
		want: `44 80 00 00 | 00 00 00 10 | 00 01 00 00 | 00 00 00 00
		       00 00 00 05 | ff ff ff ff | 00 00 00 10 | 00 00 00 20
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       53656e64546172676574733d416c6c00`,
	}, {
		name: "continued, not immediate, padded",
		p: &TextRequest{
			Continue: true, ITT: 0x01020304, TTT: 0x0a0b0c0d, CmdSN: 0xfffffffe, ExpStatSN: 1,
			Data: []byte("X-a=b"),
		},
		want: `04 40 00 00 | 00 00 00 05 | 00 00 00 00 | 00 00 00 00
		       01 02 03 04 | 0a 0b 0c 0d | ff ff ff fe | 00 00 00 01
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       582d613d62 000000`,
	}, {
		name: "empty, neither F nor C",
		p:    &TextRequest{ITT: 9, TTT: 0x77},
		want: `04 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 09 | 00 00 00 77 | 00 00 00 00 | 00 00 00 00
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestTextRequestRules(t *testing.T) {
	valid, err := (&TextRequest{Final: true}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(valid)
	bad[1] = 0xc0
	smWantErrIs(t, new(TextRequest).UnmarshalBinary(bad), ErrInvalidField)
	_, err = (&TextRequest{Final: true, Continue: true}).MarshalBinary()
	smWantErrIs(t, err, ErrInvalidField)
	ahs := append(bytes.Clone(valid), 0, 0, 0, 0)
	ahs[4] = 1
	smWantErrIs(t, new(TextRequest).UnmarshalBinary(ahs), ErrAHSLength)
}

func FuzzTextRequest(f *testing.F) {
	smFuzzCodec(f,
		&TextRequest{Immediate: true, Final: true, ITT: 1, TTT: 0xffffffff, Data: []byte("SendTargets=All\x00")},
		&TextRequest{Continue: true, LUN: 5},
	)
}
