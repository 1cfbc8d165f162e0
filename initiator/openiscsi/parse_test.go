package openiscsi

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The testdata files are real iscsiadm outputs (open-iscsi 2.1.8, Debian
// bookworm) captured in a VM of scripts/vm/run-cluster-test.sh with
// LUNAR_VM_FIXTURES=1; testdata/README.md says how.

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func TestParseSessions(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Session
	}{
		{"fixture", readFixture(t, "session.txt"), []Session{
			{Transport: "tcp", SID: 1, Portal: "10.99.1.1:3260", TPGT: 1, Target: "iqn.2026-11.org.lunar:vm"},
		}},
		{"two and noise", "iscsiadm: something\ntcp: [3] 10.0.0.1:3260,1 iqn.a:x (non-flash)\ntcp: [12] [fe80::1]:3261,7 iqn.b:y (non-flash)\ntcp: [x] 1.2.3.4:3260,1 iqn.c\n", []Session{
			{Transport: "tcp", SID: 3, Portal: "10.0.0.1:3260", TPGT: 1, Target: "iqn.a:x"},
			{Transport: "tcp", SID: 12, Portal: "[fe80::1]:3261", TPGT: 7, Target: "iqn.b:y"},
		}},
		{"none", "iscsiadm: No active sessions.\n", nil},
		{"bad portal", "tcp: [1] 10.0.0.1,1 iqn.a:x\ntcp: [1] 10.0.0.1:3260 iqn.a:x\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantEqual(t, "sessions", ParseSessions(tt.in), tt.want)
		})
	}
}

func TestParseDiscovery(t *testing.T) {
	got := ParseDiscovery(readFixture(t, "discovery.txt") + "[2001:db8::1]:3260,2 iqn.2026-11.org.lunar:other\n" + readFixture(t, "discovery-unresolvable.txt"))
	wantEqual(t, "targets", got, []DiscoveredTarget{
		{Portal: "10.99.1.1:3260", TPGT: 1, Target: "iqn.2026-11.org.lunar:vm"},
		{Portal: "[2001:db8::1]:3260", TPGT: 2, Target: "iqn.2026-11.org.lunar:other"},
	})
	for _, f := range []string{"discovery-unresolvable.txt", "discovery-refused.txt"} {
		if got := ParseDiscovery(readFixture(t, f)); len(got) != 0 {
			t.Fatalf("%s parsed as targets: %+v", f, got)
		}
	}
}

func TestParseSessionDetail(t *testing.T) {
	got := ParseSessionDetail(readFixture(t, "session-P3.txt"))
	wantEqual(t, "detail", got, []SessionDetail{{
		Target: "iqn.2026-11.org.lunar:vm", Portal: "10.99.1.1:3260", SID: 1, State: "LOGGED_IN", Host: 0,
		LUNs: []AttachedLUN{{LUN: 0, Disk: "sda", State: "running"}},
	}})
}

func TestParseSessionDetailTwoSessionsAndLUNs(t *testing.T) {
	in := `iSCSI Transport Class version 2.0-870
version 2.1.8
Target: iqn.a:x (non-flash)
	Current Portal: 10.0.0.1:3260,1
	Persistent Portal: 10.0.0.1:3260,1
		SID: 4
		iSCSI Session State: LOGGED_IN
		Host Number: 5	State: running
		scsi5 Channel 00 Id 0 Lun: 0
		scsi5 Channel 00 Id 0 Lun: 3
			Attached scsi disk sdc		State: running
	Current Portal: 10.0.0.2:3260,1
	Persistent Portal: 10.0.0.2:3260,1
		SID: 5
		iSCSI Session State: FREE
Target: iqn.b:y (non-flash)
	Current Portal: 10.0.0.3:3260,1
		SID: 6
`
	got := ParseSessionDetail(in)
	wantEqual(t, "detail", got, []SessionDetail{
		{Target: "iqn.a:x", Portal: "10.0.0.1:3260", SID: 4, State: "LOGGED_IN", Host: 5,
			LUNs: []AttachedLUN{{LUN: 0}, {LUN: 3, Disk: "sdc", State: "running"}}},
		{Target: "iqn.a:x", Portal: "10.0.0.2:3260", SID: 5, State: "FREE", Host: -1},
		{Target: "iqn.b:y", Portal: "10.0.0.3:3260", SID: 6, Host: -1},
	})
}

// FuzzParse checks the parsers never panic on any input.
func FuzzParse(f *testing.F) {
	for _, n := range []string{"session.txt", "session-P3.txt", "discovery.txt", "discovery-refused.txt", "login-exists.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		ParseSessions(s)
		ParseDiscovery(s)
		ParseSessionDetail(s)
	})
}
