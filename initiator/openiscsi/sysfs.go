package openiscsi

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lunarsan/lunar/scsi"
)

// sysDisk is a SCSI disk found in sysfs under an iSCSI session.
type sysDisk struct {
	Name      string // block device name, "sda"
	HCTL      string // "2:0:0:1"
	LUN       uint64
	SID       int // iSCSI session id; -1 when not under an iSCSI session
	WWN       string
	Serial    string
	Size      int64
	BlockSize uint32
}

// sysSession is an iSCSI session found in sysfs.
type sysSession struct {
	SID    int
	Target string
	Portal string // "host:port" of its first connection; empty when unknown
}

// sysfs reads the kernel's view of iSCSI sessions and SCSI disks under
// root (normally /sys).
type sysfs struct {
	root string
}

// disks lists the sd block devices under root/block, each with its
// session and identity. A disk whose files cannot be read is skipped.
func (s sysfs) disks() ([]sysDisk, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "block"))
	if err != nil {
		return nil, fmt.Errorf("openiscsi: sysfs: %w", err)
	}
	var out []sysDisk
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "sd") {
			continue
		}
		d, ok := s.disk(e.Name())
		if ok {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b sysDisk) int { return strings.Compare(a.HCTL, b.HCTL) })
	return out, nil
}

// disk reads one block device's sysfs directory.
func (s sysfs) disk(name string) (sysDisk, bool) {
	blk := filepath.Join(s.root, "block", name)
	devPath, err := filepath.EvalSymlinks(filepath.Join(blk, "device"))
	if err != nil {
		return sysDisk{}, false
	}
	d := sysDisk{Name: name, HCTL: filepath.Base(devPath), SID: sessionOf(devPath)}
	if f := strings.Split(d.HCTL, ":"); len(f) == 4 {
		d.LUN, _ = strconv.ParseUint(f[3], 10, 64)
	}
	if n, ok := readInt(filepath.Join(blk, "size")); ok {
		// sysfs counts 512-byte sectors whatever the block size.
		d.Size = n * 512
	}
	if n, ok := readInt(filepath.Join(blk, "queue", "logical_block_size")); ok && n > 0 && n <= 1<<20 {
		d.BlockSize = uint32(n)
	}
	d.WWN = deviceWWN(filepath.Join(blk, "device"))
	if b, err := os.ReadFile(filepath.Join(blk, "device", "vpd_pg80")); err == nil {
		var p scsi.VPDUnitSerialNumber
		if p.UnmarshalBinary(b) == nil {
			d.Serial = strings.TrimSpace(p.Serial)
		}
	}
	return d, true
}

// deviceWWN names a SCSI device by its Device Identification VPD page
// (vpd_pg83, binary: the NAA designator, as lunar's userspace initiator
// names disks), else by the kernel's wwid file. Empty when neither names
// it.
func deviceWWN(dev string) string {
	if b, err := os.ReadFile(filepath.Join(dev, "vpd_pg83")); err == nil {
		var p scsi.VPDDeviceIdentification
		if p.UnmarshalBinary(b) == nil {
			if w, ok := p.WWN(); ok {
				return w
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dev, "wwid")); err == nil {
		w := strings.TrimSpace(string(b))
		if strings.HasPrefix(strings.ToLower(w), "naa.") {
			return strings.ToLower(w)
		}
		return w
	}
	return ""
}

// sessionOf returns N of the "sessionN" component of a SCSI device's
// sysfs path (.../host2/session1/target2:0:0/2:0:0:1), -1 when the
// device is not under an iSCSI session.
func sessionOf(devPath string) int {
	for _, c := range strings.Split(filepath.ToSlash(devPath), "/") {
		if n, ok := strings.CutPrefix(c, "session"); ok {
			if sid, err := strconv.Atoi(n); err == nil {
				return sid
			}
		}
	}
	return -1
}

// sessions lists the iSCSI sessions under root/class/iscsi_session with
// their target names and portals.
func (s sysfs) sessions() ([]sysSession, error) {
	dir := filepath.Join(s.root, "class", "iscsi_session")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		// No iSCSI transport loaded: no session.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("openiscsi: sysfs: %w", err)
	}
	var out []sysSession
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "session")
		if !ok {
			continue
		}
		sid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		ss := sysSession{SID: sid, Target: readString(filepath.Join(dir, e.Name(), "targetname"))}
		ss.Portal = s.connectionPortal(sid)
		out = append(out, ss)
	}
	slices.SortFunc(out, func(a, b sysSession) int { return a.SID - b.SID })
	return out, nil
}

// connectionPortal reads connection SID:0's address and port.
func (s sysfs) connectionPortal(sid int) string {
	dir := filepath.Join(s.root, "class", "iscsi_connection", fmt.Sprintf("connection%d:0", sid))
	for _, pair := range [][2]string{{"persistent_address", "persistent_port"}, {"address", "port"}} {
		addr := readString(filepath.Join(dir, pair[0]))
		port := readString(filepath.Join(dir, pair[1]))
		if addr != "" && port != "" {
			return net.JoinHostPort(addr, port)
		}
	}
	return ""
}

// deleteDevice asks the kernel to remove a SCSI device (its disk goes
// away; a rescan brings it back while the LUN is still mapped).
func (s sysfs) deleteDevice(name string) error {
	p := filepath.Join(s.root, "block", name, "device", "delete")
	if err := os.WriteFile(p, []byte("1\n"), 0o200); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("openiscsi: delete SCSI device of %s: %w", name, err)
	}
	return nil
}

// present reports whether the block device name still exists.
func (s sysfs) present(name string) bool {
	_, err := os.Lstat(filepath.Join(s.root, "block", name))
	return err == nil
}

// partition returns the name of partition n of the block device name
// (name1, or namep1 for names ending in a digit) and whether it exists.
func (s sysfs) partition(name string, n int) (string, bool) {
	part := name + strconv.Itoa(n)
	if name != "" && name[len(name)-1] >= '0' && name[len(name)-1] <= '9' {
		part = name + "p" + strconv.Itoa(n)
	}
	_, err := os.Stat(filepath.Join(s.root, "block", name, part))
	return part, err == nil
}

func readString(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(p string) (int64, bool) {
	n, err := strconv.ParseInt(readString(p), 10, 64)
	return n, err == nil
}
