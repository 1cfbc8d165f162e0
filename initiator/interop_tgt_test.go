//go:build interop

package initiator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

const (
	tgtTestTarget = "iqn.2026-11.org.lunar:tgt-interop"
	tgtCHAPUser   = "host1"
	tgtCHAPPass   = "initiator-secret"
	tgtOutUser    = "tgtd"
	tgtOutPass    = "target-secret-1"
)

// tgtFreePort returns a loopback port nobody listens on now.
func tgtFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tgtStart runs tgtd with one target bound to sessTestInitiator, a disk at
// LUN 1 and CHAP both ways, and returns its portal.
func tgtStart(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("tgtd"); err != nil {
		t.Skip("tgtd not installed")
	}
	ctl := strconv.Itoa(100 + os.Getpid()%800)
	port := tgtFreePort(t)
	cmd := exec.Command("tgtd", "-f", "-C", ctl, "--iscsi", fmt.Sprintf("portal=127.0.0.1:%d", port))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	adm := func(args ...string) error {
		out, err := exec.Command("tgtadm", append([]string{"-C", ctl, "--lld", "iscsi"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("tgtadm %v: %v: %s", args, err, out)
		}
		return nil
	}
	t.Cleanup(func() {
		adm("--op", "delete", "--force", "--mode", "target", "--tid", "1")
		adm("--op", "delete", "--mode", "system")
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for adm("--op", "show", "--mode", "target") != nil {
		if time.Now().After(deadline) {
			t.Fatal("tgtd did not start")
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, sessTestSize); err != nil {
		t.Fatal(err)
	}
	for _, a := range [][]string{
		{"--op", "new", "--mode", "target", "--tid", "1", "-T", tgtTestTarget},
		{"--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", img},
		{"--op", "bind", "--mode", "target", "--tid", "1", "-Q", sessTestInitiator},
		{"--op", "new", "--mode", "account", "--user", tgtCHAPUser, "--password", tgtCHAPPass},
		{"--op", "bind", "--mode", "account", "--tid", "1", "--user", tgtCHAPUser},
		{"--op", "new", "--mode", "account", "--user", tgtOutUser, "--password", tgtOutPass},
		{"--op", "bind", "--mode", "account", "--tid", "1", "--user", tgtOutUser, "--outgoing"},
	} {
		if err := adm(a...); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func TestInteropTgt(t *testing.T) {
	portal := tgtStart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{
		InitiatorName: sessTestInitiator, TargetName: tgtTestTarget, Portal: portal,
		CHAP:       &CHAP{Name: tgtCHAPUser, Secret: []byte(tgtCHAPPass)},
		MutualCHAP: tgtMutual(), CHAPAlgorithms: tgtAlgs(),
	}
	// tgtd binds these accounts to the target only, so its discovery
	// session accepts AuthMethod=None, which one-way CHAP offers too.
	dcfg := cfg
	dcfg.MutualCHAP = nil
	targets, err := Discover(ctx, dcfg)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	if len(targets) != 1 || targets[0].Name != tgtTestTarget {
		t.Fatalf("targets %+v", targets)
	}
	// Wrong credentials: the target's login verdict.
	bad := cfg
	bad.CHAP, bad.MutualCHAP = &CHAP{Name: tgtCHAPUser, Secret: []byte("wrong-secret!")}, nil
	var le *iscsi.LoginError
	if _, err := Dial(ctx, bad); !errors.As(err, &le) || le.Class != iscsi.LoginClassInitiatorError {
		t.Fatalf("wrong CHAP secret: %v", err)
	}
	s, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer s.Close()
	// LUN 1 is the disk. Concurrent writes over the whole LUN, then
	// verified reads.
	const chunk = 256 << 10
	errs := make(chan error, sessTestSize/chunk)
	for off := 0; off < sessTestSize; off += chunk {
		go func(off int) {
			lba := uint64(off / sessTestBlock)
			c := sessWriteCmd(t, lba, sessPattern(lba, 5, chunk))
			c.LUN = 1
			_, err := s.Execute(ctx, c)
			errs <- err
		}(off)
	}
	for off := 0; off < sessTestSize; off += chunk {
		if err := <-errs; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	for off := 0; off < sessTestSize; off += chunk {
		lba := uint64(off / sessTestBlock)
		buf := make([]byte, chunk)
		c := sessReadCmd(t, lba, buf)
		c.LUN = 1
		if _, err := s.Execute(ctx, c); err != nil {
			t.Fatalf("read: %v", err)
		}
		if !bytes.Equal(buf, sessPattern(lba, 5, chunk)) {
			t.Fatalf("LBA %d: data differs", lba)
		}
	}
	// REPORT LUNS, INQUIRY and VPD through the disk layer: tgtd's LUN 0
	// is its controller (not a disk), LUN 1 the disk with a WWN.
	infos, err := Rescan(ctx, s)
	if err != nil {
		t.Fatalf("Rescan: %v", err)
	}
	var disk *DiskInfo
	for i := range infos {
		if infos[i].LUN == 1 {
			disk = &infos[i]
		}
	}
	if disk == nil || !disk.IsDisk() || disk.Size != sessTestSize || disk.WWN == "" {
		t.Fatalf("Rescan found %+v, want LUN 1 as a %d-byte disk with a WWN", infos, sessTestSize)
	}
	d, err := OpenDisk(ctx, s, 1)
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	if d.WWN() != disk.WWN || d.Size() != sessTestSize {
		t.Fatalf("OpenDisk: WWN %q size %d, Rescan said %q %d", d.WWN(), d.Size(), disk.WWN, disk.Size)
	}
	if err := s.LUNReset(ctx, 1); err != nil {
		t.Fatalf("LUNReset: %v", err)
	}
	c := &Command{LUN: 1, CDB: make([]byte, 6)}
	if _, err := s.Execute(ctx, c); err != nil {
		t.Fatalf("TEST UNIT READY after reset: %v", err)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// tgtMutual is the mutual CHAP setting of the interop test; TGT_ONEWAY=1
// turns it off.
func tgtMutual() *CHAP {
	if os.Getenv("TGT_ONEWAY") != "" {
		return nil
	}
	return &CHAP{Name: tgtOutUser, Secret: []byte(tgtOutPass)}
}

// tgtAlgs is the CHAP algorithm list of the interop test; TGT_MD5=1 offers
// MD5 alone.
func tgtAlgs() []iscsi.CHAPAlgorithm {
	if os.Getenv("TGT_MD5") != "" {
		return []iscsi.CHAPAlgorithm{iscsi.CHAPMD5}
	}
	return nil
}
