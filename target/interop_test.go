//go:build interop

package target

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// interopRun runs a libiscsi tool against the server and returns its
// output; the test is skipped if the tool is not installed.
func interopRun(t *testing.T, tool string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed", tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// TestInteropLibiscsi runs libiscsi's iscsi-ls, iscsi-inq and
// iscsi-readcapacity16 against the server with the real engine over a
// 1 MiB LU, with and without digests and CHAP.
func TestInteropLibiscsi(t *testing.T) {
	env := connStart(t, ServerConfig{Executor: &Engine{}, HeaderDigests: true, DataDigests: true,
		NopInInterval: time.Second})
	url := fmt.Sprintf("iscsi://%s/%s/0", env.addr, connTestTarget)

	t.Run("iscsi-ls", func(t *testing.T) {
		out := interopRun(t, "iscsi-ls", "-i", connTestInitiator, "-s", "iscsi://"+env.addr)
		if !strings.Contains(out, connTestTarget) || strings.Contains(out, connTestTarget2) {
			t.Fatalf("iscsi-ls output:\n%s", out)
		}
		// A stranger learns nothing.
		out = interopRun(t, "iscsi-ls", "-i", connTestStranger, "iscsi://"+env.addr)
		if strings.Contains(out, "iqn.2026-11.org.lunar") {
			t.Fatalf("iscsi-ls output for a stranger:\n%s", out)
		}
	})
	t.Run("iscsi-inq", func(t *testing.T) {
		out := interopRun(t, "iscsi-inq", "-i", connTestInitiator, url)
		if !strings.Contains(strings.ToLower(out), "type") {
			t.Fatalf("iscsi-inq output:\n%s", out)
		}
		interopRun(t, "iscsi-inq", "-i", connTestInitiator, "-e", "1", "-c", "0x83", url)
	})
	t.Run("iscsi-readcapacity16", func(t *testing.T) {
		out := interopRun(t, "iscsi-readcapacity16", "-i", connTestInitiator, "-s", url)
		if strings.TrimSpace(out) != "1048576" {
			t.Fatalf("iscsi-readcapacity16 -s: %q, want 1048576", out)
		}
	})
	t.Run("CHAP", func(t *testing.T) {
		env.dir.setAccess(connTestTarget2, connTestInitiator, Access{Allowed: true,
			CHAP: &CHAPCredentials{Name: "host1", Secret: []byte("host1-secret-123")}})
		env.dir.mu.Lock()
		env.dir.views[[2]string{connTestTarget2, connTestInitiator}] = env.dir.views[[2]string{connTestTarget, connTestInitiator}]
		env.dir.mu.Unlock()
		good := fmt.Sprintf("iscsi://host1%%host1-secret-123@%s/%s/0", env.addr, connTestTarget2)
		if out := interopRun(t, "iscsi-readcapacity16", "-i", connTestInitiator, "-s", good); strings.TrimSpace(out) != "1048576" {
			t.Fatalf("with CHAP: %q", out)
		}
		bad := fmt.Sprintf("iscsi://host1%%wrong-secret-999@%s/%s/0", env.addr, connTestTarget2)
		path, err := exec.LookPath("iscsi-readcapacity16")
		if err != nil {
			t.Skip("iscsi-readcapacity16 not installed")
		}
		if out, err := exec.Command(path, "-i", connTestInitiator, "-s", bad).CombinedOutput(); err == nil {
			t.Fatalf("a wrong CHAP secret logged in: %s", out)
		}
	})
	if n := env.srv.Stats().Errors[ErrorKindPanic]; n != 0 {
		t.Fatalf("%d panics", n)
	}
}

// TestInteropConformanceISCSI runs the iSCSI families of libiscsi's
// iscsi-test-cu (CmdSN, DataSN, residuals, NOP, ...) against the server
// with the real engine.
func TestInteropConformanceISCSI(t *testing.T) {
	path, err := exec.LookPath("iscsi-test-cu")
	if err != nil {
		t.Skip("iscsi-test-cu not installed")
	}
	dir := newConnFakeDir(t)
	lu, err := NewLU(LUConfig{Name: "big", BlockSize: 512, Backend: NewMemBackend(64 << 20)})
	if err != nil {
		t.Fatal(err)
	}
	dir.views[[2]string{connTestTarget, connTestInitiator}] = connFakeView{luns: map[uint64]*LU{0: lu}}
	dir.access[[2]string{connTestTarget, "iqn.2026-11.org.example:host2"}] = Access{Allowed: true}
	dir.views[[2]string{connTestTarget, "iqn.2026-11.org.example:host2"}] = connFakeView{luns: map[uint64]*LU{0: lu}}
	env := connStart(t, ServerConfig{Directory: dir, Executor: &Engine{}})
	url := fmt.Sprintf("iscsi://%s/%s/0", env.addr, connTestTarget)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-i", connTestInitiator, "-I", "iqn.2026-11.org.example:host2",
		"--test=iSCSI", "--dataloss", url).CombinedOutput()
	t.Logf("iscsi-test-cu iSCSI:\n%s", out)
	if err != nil {
		t.Fatalf("iscsi-test-cu: %v", err)
	}
	if env.srv.Stats().Errors[ErrorKindPanic] != 0 {
		t.Fatal("panics during the conformance run")
	}
}
