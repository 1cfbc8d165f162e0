package iscsi

import (
	"bytes"
	"testing"
)

func TestLogoutRequestCodec(t *testing.T) {
	fresh := func() *LogoutRequest { return new(LogoutRequest) }
	tests := []struct {
		name string
		p    *LogoutRequest
		want string
	}{{
		name: "close session",
		p:    &LogoutRequest{Immediate: true, Reason: CloseSession, ITT: 0x0a, CmdSN: 0x10, ExpStatSN: 0x20},
		want: `46 80 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 0a | 00 00 00 00 | 00 00 00 10 | 00 00 00 20
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}, {
		name: "remove connection for recovery",
		p:    &LogoutRequest{Reason: RemoveConnectionForRecovery, ITT: 0xdeadbeef, CID: 0x0102, CmdSN: 1, ExpStatSN: 2},
		want: `06 82 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       de ad be ef | 01 02 00 00 | 00 00 00 01 | 00 00 00 02
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestLogoutRequestRules(t *testing.T) {
	valid, err := (&LogoutRequest{Reason: CloseConnection, CID: 3}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("data segment", func(t *testing.T) {
		b := append(bytes.Clone(valid), 'a', '=', 'b', 0)
		b[7] = 4
		smWantErrIs(t, new(LogoutRequest).UnmarshalBinary(b), ErrDataSegmentLength)
	})
	t.Run("AHS", func(t *testing.T) {
		b := append(bytes.Clone(valid), 0, 0, 0, 0)
		b[4] = 1
		smWantErrIs(t, new(LogoutRequest).UnmarshalBinary(b), ErrAHSLength)
	})
	t.Run("reason too wide", func(t *testing.T) {
		_, err := (&LogoutRequest{Reason: 0x80}).MarshalBinary()
		smWantErrIs(t, err, ErrInvalidField)
	})
	t.Run("F bit ignored on decode", func(t *testing.T) {
		b := bytes.Clone(valid)
		b[1] &^= 0x80
		var p LogoutRequest
		if err := p.UnmarshalBinary(b); err != nil || p.Reason != CloseConnection || p.CID != 3 {
			t.Fatalf("got %+v, %v", p, err)
		}
	})
}

func TestLogoutReasonString(t *testing.T) {
	for r, want := range map[LogoutReason]string{
		CloseSession:                "close the session",
		CloseConnection:             "close the connection",
		RemoveConnectionForRecovery: "remove the connection for recovery",
		3:                           "logout reason 0x03",
	} {
		if got := r.String(); got != want {
			t.Errorf("LogoutReason(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

func FuzzLogoutRequest(f *testing.F) {
	smFuzzCodec(f,
		&LogoutRequest{Immediate: true, Reason: CloseSession, ITT: 1, CmdSN: 2, ExpStatSN: 3},
		&LogoutRequest{Reason: CloseConnection, CID: 7},
	)
}
