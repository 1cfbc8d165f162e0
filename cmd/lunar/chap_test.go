package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLICHAP(t *testing.T) {
	s, flags := cliTestAPI(t)
	with := func(args ...string) []string { return append(args, flags...) }
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("a-secret-of-16-b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("tiny"), 0o600); err != nil {
		t.Fatal(err)
	}
	// CHAP applies to initiators that may log in: give this one a LUN.
	runOK(t, with("igroup", "create", "g", cliTestInit1)...)
	runOK(t, with("lun", "create", "a", "--size", "4K")...)
	runOK(t, with("lun", "map", "a", "--igroup", "g")...)
	runErr(t, []string{"--secret-file"}, with("chap", "set", cliTestInit1, "--user", "u1")...)
	runErr(t, []string{"--user"}, with("chap", "set", cliTestInit1, "--secret-file", secret)...)
	runErr(t, []string{"secret"}, with("chap", "set", cliTestInit1, "--user", "u1", "--secret-file", short)...)
	runOK(t, with("chap", "set", cliTestInit1, "--user", "u1", "--secret-file", secret)...)

	// The store now demands CHAP from that initiator, with the secret
	// read from the file (trailing newline dropped).
	a := s.Access(s.DefaultTarget(), cliTestInit1)
	if a.CHAP == nil || a.CHAP.Name != "u1" || string(a.CHAP.Secret) != "a-secret-of-16-b" {
		t.Fatalf("access after chap set: %+v", a.CHAP)
	}
	out := runOK(t, with("chap", "list")...)
	if !strings.Contains(out, cliTestInit1) || !strings.Contains(out, "u1") || strings.Contains(out, "a-secret") {
		t.Fatalf("chap list printed %q", out)
	}
	runOK(t, with("chap", "set-target", s.DefaultTarget(), "--user", "tgt", "--secret-file", secret)...)
	if a := s.Access(s.DefaultTarget(), cliTestInit1); a.MutualCHAP == nil || a.MutualCHAP.Name != "tgt" {
		t.Fatalf("mutual CHAP: %+v", a.MutualCHAP)
	}
	runOK(t, with("chap", "clear-target", s.DefaultTarget())...)
	runOK(t, with("chap", "clear", cliTestInit1)...)
	if a := s.Access(s.DefaultTarget(), cliTestInit1); a.CHAP != nil || a.MutualCHAP != nil {
		t.Fatalf("after clear: %+v", a)
	}
}
