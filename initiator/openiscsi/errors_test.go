package openiscsi

import (
	"errors"
	"strings"
	"testing"

	"github.com/lunarsan/lunar/initiator"
)

// Every documented exit code (iscsiadm(8), EXIT STATUS) maps to one
// sentinel and one engine sentinel.
func TestExitCodeMapping(t *testing.T) {
	want := map[ExitCode]error{
		1: ErrFailed, 2: ErrNoObjects, 3: ErrFailed, 4: ErrConnect, 5: ErrLoginFailed, 6: ErrSetup,
		7: ErrInvalid, 8: ErrConnect, 9: ErrDaemon, 10: ErrFailed, 11: ErrConnect, 12: ErrSetup,
		13: ErrSetup, 14: ErrSetup, 15: ErrSessionExists, 16: ErrInvalid, 17: ErrFailed, 18: ErrDaemon,
		19: ErrLoginFailed, 20: ErrDaemon, 21: ErrNoObjects, 22: ErrSetup, 23: ErrSetup, 24: ErrAuthFailed,
		25: ErrFailed, 26: ErrFailed, 27: ErrInvalid, 28: ErrBusy, 29: ErrBusy, 30: ErrInvalid,
		31: ErrFailed, 32: ErrConnect, 33: ErrFailed, 255: ErrFailed,
	}
	sentinels := []error{ErrSessionExists, ErrNoObjects, ErrAuthFailed, ErrLoginFailed, ErrConnect, ErrDaemon, ErrBusy, ErrInvalid, ErrSetup, ErrFailed}
	for code, w := range want {
		err := error(&ExitError{Op: "op", Code: code, Output: "line 1\niscsiadm: last line\n\n"})
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == w) {
				t.Errorf("code %d: errors.Is(%v) = %v, want %v", code, s, got, s == w)
			}
		}
		switch w {
		case ErrSessionExists:
			if errors.Is(err, initiator.ErrEngineUnavailable) || errors.Is(err, initiator.ErrEngineNotFound) {
				t.Errorf("code 15 matches an engine failure")
			}
		case ErrNoObjects:
			if !errors.Is(err, initiator.ErrEngineNotFound) {
				t.Errorf("code %d: not ErrEngineNotFound", code)
			}
		case ErrInvalid:
			if !errors.Is(err, initiator.ErrEngineInvalid) {
				t.Errorf("code %d: not ErrEngineInvalid", code)
			}
		default:
			if !errors.Is(err, initiator.ErrEngineUnavailable) {
				t.Errorf("code %d: not ErrEngineUnavailable", code)
			}
		}
		if !strings.HasSuffix(err.Error(), ": iscsiadm: last line") {
			t.Errorf("code %d: %q does not end with iscsiadm's last line", code, err)
		}
	}
	if ExitLoginAuthFailed.String() != "login refused: authentication or authorization failure" || ExitCode(40).String() != "exit status 40" {
		t.Errorf("String: %q %q", ExitLoginAuthFailed, ExitCode(40))
	}
	for c := ExitSuccess; c <= ExitSessionNotConnected; c++ {
		if strings.HasPrefix(c.String(), "exit status") {
			t.Errorf("code %d has no name", c)
		}
	}
}

// The real outputs of failed runs, with their real exit codes.
func TestExitErrorFixtures(t *testing.T) {
	for _, tt := range []struct {
		file string
		code ExitCode
		want error
		last string
	}{
		{"discovery-refused.txt", 11, ErrConnect, "iscsiadm: Could not perform SendTargets discovery: iSCSI PDU timed out"},
		{"discovery-unresolvable.txt", 4, ErrConnect, "iscsiadm: Could not perform SendTargets discovery: encountered connection failure"},
		{"login-exists.txt", 15, ErrSessionExists, "iscsiadm: Could not log into all portals"},
		{"login-no-record.txt", 21, ErrNoObjects, "iscsiadm: No records found"},
		{"rescan-bad-sid.txt", 22, ErrSetup, "iscsiadm: Could not get session info for sid 99"},
	} {
		err := &ExitError{Op: "op", Code: tt.code, Output: readFixture(t, tt.file)}
		if !errors.Is(err, tt.want) || !strings.HasSuffix(err.Error(), ": "+tt.last) {
			t.Errorf("%s: %v: want %v ending with %q", tt.file, err, tt.want, tt.last)
		}
	}
}

func TestExt4Label(t *testing.T) {
	for in, want := range map[string]string{
		"data1":                  "data1",
		"exactly-16-bytes":       "exactly-16-bytes",
		"a-much-longer-resource": "a-much-longer-re",
		"ééééééééé":              "éééééééé", // 2-byte runes: cut at 16 bytes
		"aéééééééé":              "aééééééé", // 17 bytes: cut before the last rune
	} {
		if got := Ext4Label(in); got != want || len(got) > MaxExt4Label {
			t.Errorf("Ext4Label(%q) = %q, want %q", in, got, want)
		}
	}
}
