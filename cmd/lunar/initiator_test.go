package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lunarsan/lunar/target"
)

const (
	cliInitTarget    = "iqn.2026-11.org.lunar:cli-initiator"
	cliInitInitiator = "iqn.2026-11.org.example:cli-host"
	cliInitSize      = 4 << 20
)

// cliInitTargetEnv starts lunar's target in-process on loopback with one
// 4 MiB LUN mapped at LUN 0 to cliInitInitiator, and returns its portal
// and store.
func cliInitTargetEnv(t *testing.T) (string, *target.Store) {
	t.Helper()
	store, err := target.OpenStore(target.StoreConfig{DataDir: t.TempDir(), DefaultTarget: cliInitTarget})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.CreateLUN(ctx, target.LUNCreate{Name: "disk0", Size: cliInitSize}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateIGroup(ctx, target.IGroupCreate{Name: "hosts", Initiators: []string{cliInitInitiator}}); err != nil {
		t.Fatal(err)
	}
	id := uint64(0)
	if _, err := store.Map(ctx, target.MapCreate{LUN: "disk0", IGroup: "hosts", LUNID: &id}); err != nil {
		t.Fatal(err)
	}
	srv, err := target.NewServer(target.ServerConfig{Directory: store, Executor: &target.Engine{}})
	if err != nil {
		t.Fatal(err)
	}
	store.SetOnViewChange(srv.ViewChanged)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
		<-done
		store.Close()
	})
	return ln.Addr().String(), store
}

// initArgs prefixes args with "initiator" and the test's initiator name.
func initArgs(args ...string) []string {
	return append([]string{"initiator", "--initiator-name", cliInitInitiator}, args...)
}

func TestCLIInitiatorDiscoverAndLs(t *testing.T) {
	portal, _ := cliInitTargetEnv(t)

	out := runOK(t, initArgs("discover", portal)...)
	if !strings.Contains(out, "TARGET") || !strings.Contains(out, cliInitTarget) || !strings.Contains(out, portal) {
		t.Fatalf("discover printed %q", out)
	}
	out = runOK(t, initArgs("discover", portal, "-o", "json")...)
	var disc []discoveredJSON
	if err := json.Unmarshal([]byte(out), &disc); err != nil {
		t.Fatalf("discover json %q: %v", out, err)
	}
	if len(disc) != 1 || disc[0].Target != cliInitTarget || len(disc[0].Portals) == 0 {
		t.Fatalf("discover json = %+v", disc)
	}

	out = runOK(t, initArgs("ls", portal)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TARGET") {
		t.Fatalf("ls printed %q", out)
	}
	for _, w := range []string{cliInitTarget, "naa.", "4M", "512", "LUNAR"} {
		if !strings.Contains(strings.ToUpper(lines[1]), strings.ToUpper(w)) {
			t.Errorf("ls row %q lacks %q", lines[1], w)
		}
	}
	out = runOK(t, initArgs("ls", portal, "--target", cliInitTarget, "--output", "json")...)
	var luns []lunJSON
	if err := json.Unmarshal([]byte(out), &luns); err != nil {
		t.Fatalf("ls json %q: %v", out, err)
	}
	if len(luns) != 1 || luns[0].Target != cliInitTarget || luns[0].LUN != 0 || luns[0].Size != cliInitSize ||
		luns[0].BlockSize != 512 || !strings.HasPrefix(luns[0].WWN, "naa.") {
		t.Fatalf("ls json = %+v", luns)
	}

	runErr(t, []string{"discover"}, initArgs("ls", portal, "--target", "iqn.2026-11.org.lunar:nope")...)
	runErr(t, []string{"--output"}, initArgs("discover", portal, "-o", "yaml")...)
}

func TestCLIInitiatorReadWrite(t *testing.T) {
	portal, _ := cliInitTargetEnv(t)
	dir := t.TempDir()
	data := make([]byte, 5*512)
	for i := range data {
		data[i] = byte(i*31 + i/512)
	}
	in := filepath.Join(dir, "in")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tgt := []string{"--target", cliInitTarget, "--lun", "0"}
	runOK(t, initArgs(append([]string{"write", portal, "--lba", "100", "--in", in}, tgt...)...)...)

	outFile := filepath.Join(dir, "out")
	runOK(t, initArgs(append([]string{"read", portal, "--lba", "100", "--blocks", "5", "--out", outFile}, tgt...)...)...)
	got, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	// To standard output: the two middle blocks.
	out := runOK(t, initArgs(append([]string{"read", portal, "--lba", "101", "--blocks", "2"}, tgt...)...)...)
	if out != string(data[512:3*512]) {
		t.Fatalf("read to stdout: %d bytes, not the blocks written", len(out))
	}

	partial := filepath.Join(dir, "partial")
	if err := os.WriteFile(partial, data[:700], 0o600); err != nil {
		t.Fatal(err)
	}
	runErr(t, []string{"700 bytes", "partial block"}, initArgs(append([]string{"write", portal, "--lba", "0", "--in", partial}, tgt...)...)...)
	runErr(t, []string{"--blocks"}, initArgs(append([]string{"read", portal, "--lba", "0"}, tgt...)...)...)
	runErr(t, []string{"beyond the end"}, initArgs(append([]string{"read", portal, "--lba", "8190", "--blocks", "4"}, tgt...)...)...)
	runErr(t, []string{"--target is required"}, initArgs("read", portal, "--blocks", "1")...)
}

// benchNumbers matches a summary row's numbers.
var benchNumbers = regexp.MustCompile(`\d+(\.\d+)?`)

func TestCLIInitiatorBench(t *testing.T) {
	portal, _ := cliInitTargetEnv(t)
	tgt := []string{"--target", cliInitTarget, "--lun", "0"}

	for _, rw := range []string{"randread", "mix", "write"} {
		out := runOK(t, initArgs(append([]string{"bench", portal, "--rw", rw, "--bs", "4K", "--qd", "8", "--duration", "1s"}, tgt...)...)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if !strings.HasPrefix(lines[0], "TEST") || !strings.Contains(lines[0], "IOPS") || !strings.Contains(lines[0], "P99") {
			t.Fatalf("%s: bench printed %q", rw, out)
		}
		if strings.Contains(out, "\r") {
			t.Errorf("%s: progress line printed to a non-terminal: %q", rw, out)
		}
		for _, l := range lines[1:] {
			if n := len(benchNumbers.FindAllString(l, -1)); n < 9 {
				t.Errorf("%s: row %q has %d numbers", rw, l, n)
			}
		}
	}
	out := runOK(t, initArgs(append([]string{"bench", portal, "--rw", "read", "--bs", "8K", "--duration", "1s", "-o", "json"}, tgt...)...)...)
	var rows []benchRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("bench json %q: %v", out, err)
	}
	if len(rows) != 1 || rows[0].Ops == 0 || rows[0].IOPS <= 0 || rows[0].P99US < rows[0].P50US || rows[0].Errors != 0 {
		t.Fatalf("bench json = %+v", rows)
	}

	out = runOK(t, initArgs("bench", portal, "--target", cliInitTarget, "--login-cycles", "20", "-o", "json")...)
	rows = nil
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("login bench json %q: %v", out, err)
	}
	if len(rows) != 1 || rows[0].Kind != "login+logout" || rows[0].Ops != 20 || rows[0].MeanUS <= 0 {
		t.Fatalf("login bench = %+v", rows)
	}
	out = runOK(t, initArgs("bench", portal, "--target", cliInitTarget, "--login-cycles", "20")...)
	if !strings.Contains(out, "login+logout") || !strings.Contains(out, "MEAN(µs)") {
		t.Fatalf("login bench printed %q", out)
	}

	// With shared buffers every write sends the same pattern; with one
	// buffer per slot the slots' patterns differ.
	for _, buffers := range []string{"shared", "slot"} {
		runOK(t, initArgs(append([]string{"bench", portal, "--rw", "write", "--bs", "4K", "--qd", "4", "--buffers", buffers,
			"--duration", "1s"}, tgt...)...)...)
		first := runOK(t, initArgs(append([]string{"read", portal, "--lba", "0", "--blocks", "8"}, tgt...)...)...)
		seen := map[string]bool{}
		for lba := int64(0); lba < int64(cliInitSize)/4096; lba += 97 {
			blk := runOK(t, initArgs(append([]string{"read", portal, "--lba", fmt.Sprint(lba * 8), "--blocks", "8"}, tgt...)...)...)
			seen[blk] = true
		}
		if shared := first == string(benchPattern(4096, 0)); shared != (buffers == "shared") || (len(seen) == 1) != shared {
			t.Errorf("--buffers %s: first 4 KiB is the shared pattern: %v; %d different 4 KiB contents", buffers, shared, len(seen))
		}
	}
	runErr(t, []string{"--buffers"}, initArgs(append([]string{"bench", portal, "--buffers", "pooled"}, tgt...)...)...)
	runErr(t, []string{"--rw"}, initArgs(append([]string{"bench", portal, "--rw", "sideways"}, tgt...)...)...)
	runErr(t, []string{"--bs", "multiple"}, initArgs(append([]string{"bench", portal, "--bs", "1000"}, tgt...)...)...)
}

func TestCLIInitiatorCHAP(t *testing.T) {
	portal, store := cliInitTargetEnv(t)
	ctx := context.Background()
	if err := store.SetCHAP(ctx, cliInitInitiator, target.CHAPSecret{Name: "host1", Secret: "initiator-secret"}); err != nil {
		t.Fatal(err)
	}
	if err := store.SetTargetCHAP(ctx, cliInitTarget, target.CHAPSecret{Name: "lunar", Secret: "target-secret-1"}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := func(name, secret string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	right, wrong := file("right", "initiator-secret"), file("wrong", "initiator-wrong!")
	mutual, mutualWrong := file("mutual", "target-secret-1"), file("mutual-wrong", "target-secret-2")

	out := runOK(t, initArgs("ls", portal, "--chap-user", "host1", "--chap-secret-file", right)...)
	if !strings.Contains(out, cliInitTarget) {
		t.Fatalf("ls with CHAP printed %q", out)
	}
	runOK(t, initArgs("ls", portal, "--target", cliInitTarget, "--chap-user", "host1", "--chap-secret-file", right,
		"--mutual-user", "lunar", "--mutual-secret-file", mutual)...)

	runErr(t, []string{"CHAP", "--chap-secret-file"}, initArgs("ls", portal, "--target", cliInitTarget,
		"--chap-user", "host1", "--chap-secret-file", wrong)...)
	runErr(t, []string{"CHAP"}, initArgs("ls", portal, "--target", cliInitTarget)...)
	runErr(t, []string{"CHAP"}, initArgs("bench", portal, "--target", cliInitTarget, "--login-cycles", "2",
		"--chap-user", "host1", "--chap-secret-file", right, "--mutual-user", "lunar", "--mutual-secret-file", mutualWrong)...)
	runErr(t, []string{"--chap-secret-file"}, initArgs("discover", portal, "--chap-user", "host1")...)
	runErr(t, []string{"one-way CHAP"}, initArgs("discover", portal, "--mutual-user", "lunar", "--mutual-secret-file", mutual)...)
}

func TestDefaultInitiatorName(t *testing.T) {
	a, b := defaultInitiatorName(), defaultInitiatorName()
	if a != b || !strings.HasPrefix(a, initiatorIQNPrefix) || len(a) == len(initiatorIQNPrefix) {
		t.Fatalf("defaultInitiatorName = %q, %q", a, b)
	}
	if strings.ContainsAny(a[len(initiatorIQNPrefix):], " _/A") {
		t.Fatalf("defaultInitiatorName %q has characters an IQN does not allow", a)
	}
}
