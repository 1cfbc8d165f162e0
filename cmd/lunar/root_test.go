package main

import (
	"bytes"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "lunar ") || !strings.Contains(out, "go1.") {
		t.Fatalf("version printed %q", out)
	}
}

func TestBadLogFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--log-level", "loud", "version"},
		{"--log-format", "xml", "version"},
	} {
		_, _, err := run(t, args...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if !strings.Contains(err.Error(), args[1]) {
			t.Errorf("%v: error %q does not name the bad value", args, err)
		}
	}
}

func TestVersionRejectsArgs(t *testing.T) {
	if _, _, err := run(t, "version", "extra"); err == nil {
		t.Fatal("version accepted an argument")
	}
}
