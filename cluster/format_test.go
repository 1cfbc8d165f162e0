package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/filesystem"
)

// memDevice is a BlockDevice in memory that refuses unaligned I/O, as an
// initiator.Disk does.
type memDevice struct {
	mu    sync.Mutex
	data  []byte
	bs    int
	syncs int
}

func newMemDevice(size int64, bs int) *memDevice {
	return &memDevice{data: make([]byte, size), bs: bs}
}

func (m *memDevice) check(p []byte, off int64) error {
	if off%int64(m.bs) != 0 || len(p)%m.bs != 0 {
		return fmt.Errorf("unaligned I/O: %d bytes at %d", len(p), off)
	}
	if off < 0 || off+int64(len(p)) > int64(len(m.data)) {
		return fmt.Errorf("I/O beyond the end: %d bytes at %d", len(p), off)
	}
	return nil
}

func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(p, off); err != nil {
		return 0, err
	}
	return copy(p, m.data[off:]), nil
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(p, off); err != nil {
		return 0, err
	}
	return copy(m.data[off:], p), nil
}

func (m *memDevice) Size() int64       { return int64(len(m.data)) }
func (m *memDevice) BlockSize() uint32 { return uint32(m.bs) }
func (m *memDevice) Sync(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs++
	return nil
}

func TestFormatDiskReadLabel(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		size  int64
		bs    int
		label string
		fs    filesystem.Type
	}{
		{"64MiB-fat32", 64 << 20, 512, "data-volume-01", filesystem.TypeFat32},
		{"64MiB-4k-fat32", 64 << 20, 4096, "db", filesystem.TypeFat32},
		{"16MiB-fat16", 16 << 20, 512, "small", filesystem.TypeFat16},
		{"4MiB-floor", MinFormatSize, 512, "tiny", filesystem.TypeFat16},
	}
	for _, tt := range tests {
		for _, fresh := range []bool{false, true} {
			name := tt.name
			if fresh {
				name += "-fresh-fua"
			}
			t.Run(name, func(t *testing.T) {
				dev := newMemDevice(tt.size, tt.bs)
				// A fresh disk is formatted through a device with FUA
				// writes: no sync needed.
				var bd BlockDevice = dev
				counted := &countingDevice{memDevice: dev}
				if fresh {
					bd = fuaDevice{counted}
				}
				if err := FormatDisk(ctx, bd, tt.label, FormatOptions{Fresh: fresh}); err != nil {
					t.Fatalf("FormatDisk: %v", err)
				}
				if !fresh && dev.syncs == 0 {
					t.Error("FormatDisk did not sync the device")
				}
				if calls := string(counted.calls); fresh && strings.Trim(calls, "F") != "" && !strings.HasSuffix(calls, "S") {
					t.Errorf("fresh format calls %q: want FUA writes only, or a sync last", calls)
				}
				got, err := ReadLabel(ctx, dev)
				if err != nil {
					t.Fatalf("ReadLabel: %v", err)
				}
				if got != tt.label {
					t.Errorf("ReadLabel = %q, want %q", got, tt.label)
				}
				// The filesystem inside is what go-diskfs reads back.
				d, err := diskfs.OpenBackend(newDiskBackend(dev), diskfs.WithSectorSize(diskfs.SectorSize(tt.bs)))
				if err != nil {
					t.Fatalf("OpenBackend: %v", err)
				}
				if tt.bs == 512 { // go-diskfs v1.9.4 does not read back FAT32 on 4 KiB sectors
					fsys, err := d.GetFilesystem(1)
					if err != nil {
						t.Fatalf("GetFilesystem: %v", err)
					}
					if fsys.Type() != tt.fs {
						t.Errorf("filesystem type = %v, want %v", fsys.Type(), tt.fs)
					}
					if lbl := fsys.Label(); lbl != FATLabel(tt.label) && lbl != fmt.Sprintf("%-11s", FATLabel(tt.label)) {
						t.Errorf("FAT label = %q, want %q", lbl, FATLabel(tt.label))
					}
				}
				// The partition starts at 1 MiB.
				pt, err := d.GetPartitionTable()
				if err != nil {
					t.Fatal(err)
				}
				if p := pt.GetPartitions()[0]; p.GetStart() != FormatAlign || (p.GetStart()+p.GetSize())%FormatAlign != 0 {
					t.Errorf("partition at %d size %d: want both ends 1 MiB aligned", p.GetStart(), p.GetSize())
				}
			})
		}
	}
}

func TestFormatDiskRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		size  int64
		bs    int
		label string
	}{
		{"too-small", MinFormatSize - 512, 512, "x"},
		{"empty-label", 64 << 20, 512, ""},
		{"long-label", 64 << 20, 512, string(bytes.Repeat([]byte("a"), MaxPartitionName+1))},
		{"small-4k", 16 << 20, 4096, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := FormatDisk(ctx, newMemDevice(tt.size, tt.bs), tt.label, FormatOptions{})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("FormatDisk = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReadLabelBlankDisk(t *testing.T) {
	_, err := ReadLabel(context.Background(), newMemDevice(8<<20, 512))
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadLabel of a blank disk = %v, want ErrNotFound", err)
	}
}

func TestFATLabel(t *testing.T) {
	for in, want := range map[string]string{
		"data":             "DATA",
		"data-volume-0001": "DATA-VOLUME",
		"a.b c":            "A_B C",
	} {
		if got := FATLabel(in); got != want {
			t.Errorf("FATLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiskBackendUnaligned(t *testing.T) {
	dev := newMemDevice(4096, 512)
	b := newDiskBackend(dev)
	msg := []byte("hello, unaligned world that crosses a block boundary")
	if _, err := b.WriteAt(msg, 500); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := b.ReadAt(got, 500); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read back %q, want %q", got, msg)
	}
	if !bytes.Equal(dev.data[500:500+len(msg)], msg) || dev.data[499] != 0 || dev.data[500+len(msg)] != 0 {
		t.Fatal("write touched bytes outside its range")
	}
	if _, err := b.WriteAt(msg, 4096-10); err == nil {
		t.Fatal("write past the end succeeded")
	}
}
