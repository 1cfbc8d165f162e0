package openiscsi

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

// fakeHost is a sysfs tree and a /dev directory in a temporary directory,
// laid out as a Debian 6.1 kernel lays them out for an iSCSI session
// (testdata/sysfs-layout.txt, captured in a VM):
//
//	block/sda -> ../devices/platform/host0/session1/target0:0:0/0:0:0:0/block/sda
//	block/sda/device -> ../../../0:0:0:0
//	class/iscsi_session/session1 -> ../../devices/platform/host0/session1/iscsi_session/session1
//	class/iscsi_connection/connection1:0 -> ../../devices/platform/host0/session1/connection1:0/iscsi_connection/connection1:0
type fakeHost struct {
	t    *testing.T
	sys  string
	dev  string
	mu   sync.Mutex
	host map[int]int // session id -> SCSI host number
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	root := t.TempDir()
	h := &fakeHost{t: t, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), host: map[int]int{}}
	for _, d := range []string{"block", "class/iscsi_session", "class/iscsi_connection", "devices/platform"} {
		h.mkdir(filepath.Join(h.sys, d))
	}
	h.mkdir(h.dev)
	return h
}

func (h *fakeHost) mkdir(p string) {
	h.t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) write(p, s string) {
	h.t.Helper()
	h.mkdir(filepath.Dir(p))
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fakeHost) link(target, p string) {
	h.t.Helper()
	h.mkdir(filepath.Dir(p))
	if err := os.Symlink(target, p); err != nil {
		h.t.Fatal(err)
	}
}

// addSession adds iSCSI session sid to target at addr:port.
func (h *fakeHost) addSession(sid int, target, addr, port string) {
	h.mu.Lock()
	hn := len(h.host)
	h.host[sid] = hn
	h.mu.Unlock()
	sess := fmt.Sprintf("devices/platform/host%d/session%d", hn, sid)
	h.write(filepath.Join(h.sys, sess, "iscsi_session", fmt.Sprintf("session%d", sid), "targetname"), target+"\n")
	conn := filepath.Join(sess, fmt.Sprintf("connection%d:0", sid), "iscsi_connection", fmt.Sprintf("connection%d:0", sid))
	for f, v := range map[string]string{"address": addr, "port": port, "persistent_address": addr, "persistent_port": port} {
		h.write(filepath.Join(h.sys, conn, f), v+"\n")
	}
	h.link(filepath.Join("../..", sess, "iscsi_session", fmt.Sprintf("session%d", sid)), filepath.Join(h.sys, "class/iscsi_session", fmt.Sprintf("session%d", sid)))
	h.link(filepath.Join("../..", conn), filepath.Join(h.sys, "class/iscsi_connection", fmt.Sprintf("connection%d:0", sid)))
}

// vpd83 is a Device Identification page with an NAA designator for the
// logical unit (and a T10 vendor ID one, as lunar's target sends).
func vpd83(t *testing.T, wwn string) []byte {
	t.Helper()
	id, err := scsi.ParseNAA(wwn)
	if err != nil {
		t.Fatal(err)
	}
	t10, err := scsi.VPDT10VendorIDDesignator("LUNAR", "SERIAL1")
	if err != nil {
		t.Fatal(err)
	}
	p := scsi.VPDDeviceIdentification{Designators: []scsi.VPDDesignator{scsi.VPDNAADesignator(id), t10}}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// addDisk adds disk name at LUN lun of session sid with the WWN in its
// vpd_pg83 (and wwid unless noWWID), sectors 512-byte sectors.
func (h *fakeHost) addDisk(sid int, lun int, name, wwn string, sectors int64, noWWID bool) {
	h.mu.Lock()
	hn := h.host[sid]
	h.mu.Unlock()
	hctl := fmt.Sprintf("%d:0:0:%d", hn, lun)
	sdev := fmt.Sprintf("devices/platform/host%d/session%d/target%d:0:0/%s", hn, sid, hn, hctl)
	h.write(filepath.Join(h.sys, sdev, "vpd_pg83"), string(vpd83(h.t, wwn)))
	ser, _ := (&scsi.VPDUnitSerialNumber{Serial: "SER" + name}).MarshalBinary()
	h.write(filepath.Join(h.sys, sdev, "vpd_pg80"), string(ser))
	if !noWWID {
		h.write(filepath.Join(h.sys, sdev, "wwid"), wwn+"\n")
	}
	h.write(filepath.Join(h.sys, sdev, "delete"), "")
	blk := filepath.Join(sdev, "block", name)
	h.write(filepath.Join(h.sys, blk, "size"), fmt.Sprintf("%d\n", sectors))
	h.write(filepath.Join(h.sys, blk, "queue", "logical_block_size"), "512\n")
	h.link("../../../"+hctl, filepath.Join(h.sys, blk, "device"))
	h.link(filepath.Join("..", blk), filepath.Join(h.sys, "block", name))
	h.write(filepath.Join(h.dev, name), "")
}

// removeDisk removes disk name as the kernel does after device/delete.
func (h *fakeHost) removeDisk(name string) {
	os.Remove(filepath.Join(h.sys, "block", name))
	os.Remove(filepath.Join(h.dev, name))
}

// call is one recorded iscsiadm run.
type call struct {
	args []string
}

func (c call) String() string { return strings.Join(c.args, " ") }

// recorder is an injected Runner: it records every call, tracks how many
// node database calls run at once, and answers through handle.
type recorder struct {
	mu       sync.Mutex
	calls    []call
	dbNow    int // node database calls running
	dbMax    int
	handle   func(ctx context.Context, args []string) (string, int)
	released chan struct{} // when set, node database calls wait for a token
	entered  chan string   // when set, told each node database call's args
}

// isDBCall reports whether args change the node database (the calls the
// engine must serialise).
func isDBCall(args []string) bool {
	s := strings.Join(args, " ")
	return strings.Contains(s, "-m discovery") || strings.Contains(s, "-m node") || strings.Contains(s, "--logout")
}

func (r *recorder) run(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	db := isDBCall(args)
	r.mu.Lock()
	r.calls = append(r.calls, call{args: slices.Clone(args)})
	if db {
		r.dbNow++
		r.dbMax = max(r.dbMax, r.dbNow)
	}
	r.mu.Unlock()
	defer func() {
		if db {
			r.mu.Lock()
			r.dbNow--
			r.mu.Unlock()
		}
	}()
	if db && r.entered != nil {
		r.entered <- strings.Join(args, " ")
	}
	if db && r.released != nil {
		select {
		case <-r.released:
		case <-ctx.Done():
			return nil, -1, fmt.Errorf("fake iscsiadm: %w", ctx.Err())
		}
	}
	out, code := "", 0
	if r.handle != nil {
		out, code = r.handle(ctx, args)
	}
	return []byte(out), code, nil
}

func (r *recorder) callList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = c.String()
	}
	return out
}

func (r *recorder) maxDB() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dbMax
}

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
