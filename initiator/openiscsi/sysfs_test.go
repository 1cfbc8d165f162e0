package openiscsi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The vpd_pg83 and vpd_pg80 files of a real disk (testdata/sysfs-layout.txt):
// lunar's target's LUN as a Debian 6.1 kernel exposes it.
const (
	realPg83 = "00 83 00 91 01 03 00 10 66 c7 56 ed c7 1d 93 96 61 e3 24 ca e9 ed 0b 05 02 01 00 21 4c 55 4e 41 52 20 20 20 44 43 37 31 44 39 33 39 36 36 31 45 33 32 34 43 41 45 39 45 44 30 42 30 35 53 98 00 24 69 71 6e 2e 32 30 32 36 2d 31 31 2e 6f 72 67 2e 6c 75 6e 61 72 3a 76 6d 2c 74 2c 30 78 30 30 30 31 00 00 00 01 14 00 04 00 00 00 01 01 15 00 04 00 00 00 01 53 a8 00 1c 69 71 6e 2e 32 30 32 36 2d 31 31 2e 6f 72 67 2e 6c 75 6e 61 72 3a 76 6d 00 00 00 00"
	realPg80 = "00 80 00 19 44 43 37 31 44 39 33 39 36 36 31 45 33 32 34 43 41 45 39 45 44 30 42 30 35"
	realWWN  = "naa.66c756edc71d939661e324cae9ed0b05"
)

func TestRealSysfsLayoutFixture(t *testing.T) {
	// The fixture holds the same bytes the constants above do.
	fx := readFixture(t, "sysfs-layout.txt")
	if !strings.Contains(fx, "vpd_pg83  "+realPg83) || !strings.Contains(fx, "wwid "+realWWN) {
		t.Fatal("testdata/sysfs-layout.txt and realPg83/realWWN differ")
	}
	if !strings.Contains(fx, "block /sys/block/sda -> ../devices/platform/host0/session1/target0:0:0/0:0:0:0/block/sda") {
		t.Fatal("the fake sysfs layout no longer matches the captured one")
	}
}

func TestSysfsDisksRealVPD(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(1, "iqn.2026-11.org.lunar:vm", "10.99.1.1", "3260")
	h.addDisk(1, 0, "sda", realWWN, 131072, true)
	// Replace the built page with the real one, and drop wwid: the WWN
	// must come from decoding vpd_pg83.
	dev := filepath.Join(h.sys, "devices/platform/host0/session1/target0:0:0/0:0:0:0")
	h.write(filepath.Join(dev, "vpd_pg83"), string(hexBytes(t, realPg83)))
	h.write(filepath.Join(dev, "vpd_pg80"), string(hexBytes(t, realPg80)))
	disks, err := sysfs{root: h.sys}.disks()
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "disks", disks, []sysDisk{{
		Name: "sda", HCTL: "0:0:0:0", LUN: 0, SID: 1, WWN: realWWN, Serial: "DC71D939661E324CAE9ED0B05",
		Size: 64 << 20, BlockSize: 512,
	}})
	ss, err := sysfs{root: h.sys}.sessions()
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "sessions", ss, []sysSession{{SID: 1, Target: "iqn.2026-11.org.lunar:vm", Portal: "10.99.1.1:3260"}})
}

func TestSysfsWWIDFallbackAndSkips(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(2, "iqn.t:a", "192.0.2.1", "3260")
	h.addSession(5, "iqn.t:b", "2001:db8::1", "3261")
	h.addDisk(2, 1, "sdb", "naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa", 2048, false)
	h.addDisk(5, 7, "sdc", "naa.50014050000000aa", 4096, false)
	// sdb: an unreadable page 83, so wwid names it.
	h.write(filepath.Join(h.sys, "devices/platform/host0/session2/target0:0:0/0:0:0:1/vpd_pg83"), "\x00\x83")
	// A local disk (not under an iSCSI session) and a non-sd device.
	h.write(filepath.Join(h.sys, "devices/pci0000:00/0000:00:1f.2/ata1/host9/target9:0:0/9:0:0:0/block/sdz/size"), "10\n")
	h.link("../../../9:0:0:0", filepath.Join(h.sys, "devices/pci0000:00/0000:00:1f.2/ata1/host9/target9:0:0/9:0:0:0/block/sdz/device"))
	h.link("../devices/pci0000:00/0000:00:1f.2/ata1/host9/target9:0:0/9:0:0:0/block/sdz", filepath.Join(h.sys, "block/sdz"))
	h.mkdir(filepath.Join(h.sys, "block/vda"))
	disks, err := sysfs{root: h.sys}.disks()
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 3 {
		t.Fatalf("disks %+v: want sdb, sdc, sdz", disks)
	}
	if d := disks[0]; d.Name != "sdb" || d.WWN != "naa.6001405aaaaaaaaaaaaaaaaaaaaaaaaa" || d.SID != 2 || d.LUN != 1 || d.Size != 1<<20 {
		t.Fatalf("sdb: %+v", d)
	}
	if d := disks[1]; d.Name != "sdc" || d.SID != 5 || d.LUN != 7 || d.Serial != "SERsdc" {
		t.Fatalf("sdc: %+v", d)
	}
	if d := disks[2]; d.Name != "sdz" || d.SID != -1 {
		t.Fatalf("sdz: %+v", d)
	}
	ss, err := sysfs{root: h.sys}.sessions()
	if err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "sessions", ss, []sysSession{
		{SID: 2, Target: "iqn.t:a", Portal: "192.0.2.1:3260"},
		{SID: 5, Target: "iqn.t:b", Portal: "[2001:db8::1]:3261"},
	})
}

func TestSysfsNoISCSI(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "block"), 0o755); err != nil {
		t.Fatal(err)
	}
	ss, err := sysfs{root: root}.sessions()
	if err != nil || len(ss) != 0 {
		t.Fatalf("sessions %v, %v: want none without iscsi_session", ss, err)
	}
	if _, err := (sysfs{root: filepath.Join(root, "nope")}).disks(); err == nil {
		t.Fatal("disks of a missing sysfs: want an error")
	}
}

func TestSessionOf(t *testing.T) {
	for path, want := range map[string]int{
		"/sys/devices/platform/host0/session1/target0:0:0/0:0:0:0":  1,
		"/sys/devices/platform/host3/session17/target3:0:0/3:0:0:2": 17,
		"/sys/devices/pci0000:00/host9/target9:0:0/9:0:0:0":         -1,
		"/sys/devices/platform/host0/sessionX/target0:0:0/0:0:0:0":  -1,
	} {
		if got := sessionOf(path); got != want {
			t.Errorf("sessionOf(%s) = %d, want %d", path, got, want)
		}
	}
}
