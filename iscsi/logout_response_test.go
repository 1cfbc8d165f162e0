package iscsi

import (
	"bytes"
	"testing"
)

func TestLogoutResponseCodec(t *testing.T) {
	fresh := func() *LogoutResponse { return new(LogoutResponse) }
	tests := []struct {
		name string
		p    *LogoutResponse
		want string
	}{{
		name: "closed successfully",
		p:    &LogoutResponse{Response: LogoutSuccess, ITT: 0x0a, StatSN: 0x01020304, ExpCmdSN: 0x11, MaxCmdSN: 0x12},
		want: `26 80 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 0a | 00 00 00 00 | 01 02 03 04 | 00 00 00 11
		       00 00 00 12 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}, {
		name: "cleanup failed with times",
		p: &LogoutResponse{Response: LogoutCleanupFailed, ITT: 0xffeeddcc, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 3,
			Time2Wait: 0x0002, Time2Retain: 0x0014},
		want: `26 80 03 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       ff ee dd cc | 00 00 00 00 | 00 00 00 01 | 00 00 00 02
		       00 00 00 03 | 00 00 00 00 | 00 02 00 14 | 00 00 00 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestLogoutResponseRules(t *testing.T) {
	valid, err := (&LogoutResponse{}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b := append(bytes.Clone(valid), 1, 2, 3, 4)
	b[7] = 4
	smWantErrIs(t, new(LogoutResponse).UnmarshalBinary(b), ErrDataSegmentLength)
}

func TestLogoutResponseCodeString(t *testing.T) {
	for c, want := range map[LogoutResponseCode]string{
		LogoutSuccess:              "connection or session closed successfully",
		LogoutCIDNotFound:          "CID not found",
		LogoutRecoveryNotSupported: "connection recovery is not supported",
		LogoutCleanupFailed:        "cleanup failed",
		9:                          "logout response 0x09",
	} {
		if got := c.String(); got != want {
			t.Errorf("LogoutResponseCode(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
}

func FuzzLogoutResponse(f *testing.F) {
	smFuzzCodec(f,
		&LogoutResponse{Response: LogoutSuccess, ITT: 1, StatSN: 2, ExpCmdSN: 3, MaxCmdSN: 4},
		&LogoutResponse{Response: LogoutCIDNotFound, Time2Wait: 2, Time2Retain: 20},
	)
}
