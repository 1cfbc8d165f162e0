package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lunarsan/lunar/target"
)

const (
	cliTestInit1 = "iqn.1993-08.org.debian:01:cli1"
	cliTestInit2 = "iqn.1993-08.org.debian:01:cli2"
)

// cliTestAPI starts a store and a real API server in-process and returns
// the flags that point the CLI at it.
func cliTestAPI(t *testing.T) (*target.Store, []string) {
	t.Helper()
	dir := t.TempDir()
	s, err := target.OpenStore(target.StoreConfig{DataDir: dir, DefaultTarget: "iqn.2026-11.org.lunar:cli"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := target.LoadOrCreateToken(filepath.Join(dir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := target.NewAPIServer(target.APIConfig{Store: s, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.Close(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		s.Close()
	})
	return s, []string{"--api", "http://" + l.Addr().String(), "--data", dir}
}

// runOK runs the CLI and fails the test on an error.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, args...)
	if err != nil {
		t.Fatalf("lunar %s: %v (stderr %s)", strings.Join(args, " "), err, errOut)
	}
	return out
}

// runErr runs the CLI and wants an error mentioning each of want.
func runErr(t *testing.T, want []string, args ...string) {
	t.Helper()
	_, _, err := run(t, args...)
	if err == nil {
		t.Fatalf("lunar %s: no error", strings.Join(args, " "))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("lunar %s: error %q does not mention %q", strings.Join(args, " "), err, w)
		}
	}
}

func TestCLILUNs(t *testing.T) {
	s, flags := cliTestAPI(t)
	with := func(args ...string) []string { return append(args, flags...) }

	out := runOK(t, with("lun", "create", "db", "--size", "1M")...)
	if !strings.Contains(out, "db") || !strings.Contains(out, "naa.6") || !strings.Contains(out, "1M") {
		t.Fatalf("create printed %q", out)
	}
	out = runOK(t, with("lun", "create", "big", "--size", "8K", "--block-size", "4096", "--thick", "-o", "json")...)
	var info target.LUNInfo
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if info.Size != 8192 || info.BlockSize != 4096 || info.Thin {
		t.Fatalf("created %+v", info)
	}
	runErr(t, []string{"lun_exists"}, with("lun", "create", "db", "--size", "1M")...)
	runErr(t, []string{"--size", "10G"}, with("lun", "create", "x", "--size", "ten")...)
	runErr(t, []string{"--size is required"}, with("lun", "create", "x")...)
	runErr(t, []string{"invalid_size", "multiple"}, with("lun", "create", "x", "--size", "1000")...)
	runErr(t, []string{"invalid_name"}, with("lun", "create", "../x", "--size", "1M")...)
	runErr(t, []string{"igroup_not_found"}, with("lun", "create", "mapped", "--size", "1M", "--map", "nope")...)
	runOK(t, with("igroup", "create", "early", cliTestInit2)...)
	out = runOK(t, with("lun", "create", "mapped", "--size", "1M", "--map", "early", "-o", "json")...)
	info = target.LUNInfo{}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if len(info.Maps) != 1 || info.Maps[0].IGroup != "early" || info.Maps[0].LUNID != 0 {
		t.Fatalf("create --map: maps %+v", info.Maps)
	}
	runErr(t, []string{"--output", "table or json"}, with("lun", "list", "-o", "xml")...)

	out = runOK(t, with("lun", "list")...)
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "db") || !strings.Contains(out, "big") {
		t.Fatalf("list printed %q", out)
	}
	out = runOK(t, with("lun", "resize", "db", "--size", "2M")...)
	if !strings.Contains(out, "2M") {
		t.Fatalf("resize printed %q", out)
	}
	runErr(t, []string{"shrink_refused", "force"}, with("lun", "resize", "db", "--size", "1M")...)
	runOK(t, with("lun", "resize", "db", "--size", "1M", "--force")...)

	runOK(t, with("igroup", "create", "hosts", cliTestInit1)...)
	out = runOK(t, with("lun", "map", "db", "--igroup", "hosts")...)
	if !strings.Contains(out, "hosts") || !strings.Contains(out, "iqn.2026-11.org.lunar:cli") {
		t.Fatalf("map printed %q", out)
	}
	runOK(t, with("lun", "map", "big", "--igroup", "hosts", "--lun-id", "7")...)
	runErr(t, []string{"lun_already_mapped"}, with("lun", "map", "big", "--igroup", "hosts", "--lun-id", "0")...)
	runErr(t, []string{"--igroup is required"}, with("lun", "map", "big")...)
	if v := s.View("iqn.2026-11.org.lunar:cli", cliTestInit1).LUNs(); len(v) != 2 || v[1] != 7 {
		t.Fatalf("view %v", v)
	}
	out = runOK(t, with("lun", "show", "db")...)
	for _, w := range []string{"WWN:", "Serial:", "hosts", cliTestInit1} {
		if !strings.Contains(out, w) {
			t.Fatalf("show printed %q: no %q", out, w)
		}
	}
	runErr(t, []string{"lun_not_found"}, with("lun", "show", "nope")...)
	runErr(t, []string{"lun_mapped", "force"}, with("lun", "delete", "db")...)
	runErr(t, []string{"not mapped to group other"}, with("lun", "unmap", "db", "--igroup", "other")...)
	out = runOK(t, with("lun", "unmap", "db", "--igroup", "hosts")...)
	if !strings.Contains(out, "unmapped") {
		t.Fatalf("unmap printed %q", out)
	}
	runOK(t, with("lun", "delete", "db")...)
	runOK(t, with("lun", "delete", "big", "--force")...)
	runOK(t, with("lun", "delete", "mapped", "--force")...)
	out = runOK(t, with("lun", "list", "-o", "json")...)
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("list after deletes %q", out)
	}
}

func TestCLIIGroupsAndSessions(t *testing.T) {
	_, flags := cliTestAPI(t)
	with := func(args ...string) []string { return append(args, flags...) }
	out := runOK(t, with("igroup", "create", "g", cliTestInit1)...)
	if !strings.Contains(out, cliTestInit1) {
		t.Fatalf("create printed %q", out)
	}
	runErr(t, []string{"invalid_initiator", "iqn."}, with("igroup", "create", "h", "bogus")...)
	runOK(t, with("igroup", "add", "g", cliTestInit2)...)
	runErr(t, []string{"initiator_exists"}, with("igroup", "add", "g", cliTestInit2)...)
	out = runOK(t, with("igroup", "list")...)
	if !strings.Contains(out, cliTestInit2) {
		t.Fatalf("list printed %q", out)
	}
	runOK(t, with("igroup", "remove", "g", cliTestInit2)...)
	out = runOK(t, with("igroup", "show", "g", "-o", "json")...)
	var g target.IGroupInfo
	if err := json.Unmarshal([]byte(out), &g); err != nil || len(g.Initiators) != 1 {
		t.Fatalf("show %q: %v", out, err)
	}
	runOK(t, with("lun", "create", "a", "--size", "4K")...)
	runOK(t, with("lun", "map", "a", "--igroup", "g")...)
	runErr(t, []string{"igroup_mapped", "force"}, with("igroup", "delete", "g")...)
	runOK(t, with("igroup", "delete", "g", "--force")...)
	runErr(t, []string{"igroup_not_found"}, with("igroup", "delete", "g")...)

	out = runOK(t, with("session", "list")...)
	if !strings.Contains(out, "INITIATOR") {
		t.Fatalf("session list printed %q", out)
	}
	out = runOK(t, with("session", "list", "-o", "json")...)
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("session list json %q", out)
	}
}

func TestCLIClientErrors(t *testing.T) {
	_, flags := cliTestAPI(t)
	// flags: --api URL --data DIR
	api, dir := flags[1], flags[3]
	runErr(t, []string{"token", "--token-file"}, "lun", "list", "--api", api, "--data", t.TempDir())
	bad := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(bad, []byte("not-the-token-not-the-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runErr(t, []string{"refused the token"}, "lun", "list", "--api", api, "--token-file", bad)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	runErr(t, []string{"lunar target serve is running"}, "lun", "list", "--api", dead, "--data", dir)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"512": 512, "4K": 4096, "4k": 4096, "1M": 1 << 20, "1MiB": 1 << 20, "10G": 10 << 30,
		"1GB": 1 << 30, "2T": 2 << 40, "1P": 1 << 50, "100B": 100,
	} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1G", "1.5G", "G", "1X", "99999999999999P"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q): no error", in)
		}
	}
	for n, want := range map[int64]string{512: "512", 4096: "4K", 1 << 30: "1G", 1536: "1536", 3 << 40: "3T"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
