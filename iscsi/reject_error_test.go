package iscsi

import "testing"

func TestRejectErrorText(t *testing.T) {
	tests := []struct {
		e    RejectError
		want string
	}{
		{RejectError{Reason: RejectCommandNotSupported, Header: BHS{0x41, 16: 0, 0, 0, 9}},
			"iscsi: peer rejected SCSI Command (ITT 0x00000009): command not supported (0x05)"},
		{RejectError{Reason: RejectDataDigestError, Header: BHS{0x05, 16: 0xff, 0xff, 0xff, 0xff}},
			"iscsi: peer rejected SCSI Data-Out (ITT 0xffffffff): data digest error (0x02)"},
		{RejectError{Reason: 0x20, Header: BHS{0x1c}},
			"iscsi: peer rejected opcode 0x1c (ITT 0x00000000): reject reason 0x20 (0x20)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
