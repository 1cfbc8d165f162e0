package cluster

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/lunarsan/lunar/internal/gptlayout"
)

// Format layout.
const (
	// FormatAlign is the alignment of the partition's start and end: 1 MiB,
	// as partitioning tools align today.
	FormatAlign = gptlayout.Align
	// MinFormatSize is the smallest disk FormatDisk formats: 8 MiB, which
	// leaves a 6 MiB partition between the 1 MiB GPT areas at each end
	// (FAT16 needs 4085 clusters at least).
	MinFormatSize = gptlayout.MinDiskSize
	// MinFAT32Size is the smallest partition that gets FAT32: a FAT32
	// volume has at least 65525 clusters (fewer would be read as FAT16),
	// which with 512-byte clusters and the two FATs needs about 32.5 MiB.
	// Smaller partitions get FAT16 (512-byte blocks only).
	MinFAT32Size = 33 << 20
	// MaxFATLabel is the length of a FAT volume label.
	MaxFATLabel = 11
	// MaxPartitionName is the length of a GPT partition name in UTF-16
	// code units.
	MaxPartitionName = gptlayout.MaxPartitionName
)

// FATLabel returns the FAT volume label FormatDisk writes for label: upper
// case, characters FAT labels cannot hold replaced by '_', at most 11
// characters.
func FATLabel(label string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(label) {
		if b.Len() >= MaxFATLabel {
			break
		}
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == ' ':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// FormatOptions tune FormatDisk.
type FormatOptions struct {
	// Fresh says the disk holds nothing yet (a LUN the operation has just
	// created, thin and never written): blocks FormatDisk does not write
	// are taken as zeros and nothing is read first. (On a disk that was
	// written before, blocks FormatDisk writes in part are completed with
	// zeros, and the blocks it does not write keep what they held.)
	Fresh bool
}

// FormatDisk writes a GPT partition table on dev with one partition named
// label that spans the disk (its start and end aligned to 1 MiB) and a FAT
// filesystem labelled FATLabel(label) inside it: FAT32 when the partition
// holds MinFAT32Size bytes, FAT16 below that. It then syncs dev. A disk
// smaller than MinFormatSize, an empty label or one longer than
// MaxPartitionName characters fails with ErrInvalid.
//
// The disk's previous contents are lost. ctx is checked between the
// steps; the block I/O itself is bounded by the device. The writes go
// through a write-back cache, so the format costs a few round trips to
// the device: one batch of reads up front (none with opts.Fresh), one
// batch of writes, one sync (none when the device writes with Force Unit
// Access: the writes are durable as they complete).
func FormatDisk(ctx context.Context, dev BlockDevice, label string, opts FormatOptions) error {
	if label == "" || len([]rune(label)) > MaxPartitionName {
		return fmt.Errorf("%w: label %q: want 1 to %d characters", ErrInvalid, label, MaxPartitionName)
	}
	size, bs := dev.Size(), int64(dev.BlockSize())
	if bs != 512 && bs != 4096 {
		return fmt.Errorf("%w: block size %d: format needs 512 or 4096", ErrInvalid, bs)
	}
	if size < MinFormatSize {
		return fmt.Errorf("%w: disk of %d bytes is too small to format: want at least %d (8 MiB)", ErrInvalid, size, MinFormatSize)
	}
	// The partition: from 1 MiB to the last whole MiB before the final
	// one, which keeps the backup GPT (at most 33 sectors) clear.
	_, partSize := gptlayout.Partition(size)
	fsType := filesystem.TypeFat32
	if partSize < MinFAT32Size {
		if bs != 512 {
			return fmt.Errorf("%w: disk of %d bytes with %d-byte blocks is too small for FAT32 (want at least %d bytes)", ErrInvalid, size, bs, MinFAT32Size+2*FormatAlign)
		}
		fsType = filesystem.TypeFat16
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// go-diskfs does many small sequential reads and writes: serve them
	// from a write-back cache, with the two GPT areas read up front in
	// one batch (unless the disk is fresh) and everything written at the
	// end in another.
	cache := newBlockCache(dev, opts.Fresh)
	if !opts.Fresh {
		if err := cache.prefetch(ctx, [2]int64{0, formatReadAhead}, [2]int64{size - formatReadAhead, formatReadAhead}); err != nil {
			return fmt.Errorf("cluster: format: read the disk: %w", err)
		}
	}
	adapter := newDiskBackend(cache)
	d, err := diskfs.OpenBackend(adapter, diskfs.WithOpenMode(diskfs.ReadWrite), diskfs.WithSectorSize(diskfs.SectorSize(bs)))
	if err != nil {
		return fmt.Errorf("cluster: format: open the disk: %w", err)
	}
	table := gptlayout.Table(size, bs, label, gpt.MicrosoftBasicData)
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("cluster: format: write the partition table: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: fsType, VolumeLabel: FATLabel(label)}); err != nil {
		return fmt.Errorf("cluster: format: create the filesystem: %w", err)
	}
	if err := adapter.err(); err != nil {
		return fmt.Errorf("cluster: format: %w", err)
	}
	if err := cache.Sync(ctx); err != nil {
		return fmt.Errorf("cluster: format: write and sync: %w", err)
	}
	return nil
}

// ReadLabel reads the GPT on dev and returns its first partition's name,
// the label FormatDisk wrote. A disk with no GPT or no partition fails
// with ErrNotFound.
func ReadLabel(ctx context.Context, dev BlockDevice) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	bs := int(dev.BlockSize())
	if bs <= 0 {
		return "", fmt.Errorf("%w: block size %d", ErrInvalid, bs)
	}
	// The primary GPT (header and entries) in one read up front.
	cache := newBlockCache(dev, false)
	if err := cache.prefetch(ctx, [2]int64{0, formatReadAhead}); err != nil {
		return "", fmt.Errorf("cluster: read the GPT: %w", err)
	}
	t, err := gpt.Read(newDiskBackend(cache), bs, bs)
	if err != nil {
		return "", fmt.Errorf("%w: no GPT on the disk: %v", ErrNotFound, err)
	}
	for _, p := range t.Partitions {
		if p.Type != gpt.Unused && p.Start != 0 {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("%w: the GPT has no partition", ErrNotFound)
}

// diskBackend presents a BlockDevice as go-diskfs's backend.Storage: a
// regular file of the device's size whose reads and writes may be at any
// offset and length (go-diskfs writes 92-byte GPT headers, FAT entries
// and so on); unaligned ones become read-modify-write of whole blocks.
type diskBackend struct {
	dev BlockDevice
	bs  int64

	mu    sync.Mutex // serialises read-modify-write and the seek offset
	pos   int64
	first error // the first I/O error, kept in case go-diskfs drops one
}

var (
	_ backend.Storage      = (*diskBackend)(nil)
	_ backend.WritableFile = (*diskBackend)(nil)
	_ fs.FileInfo          = diskInfo{}
	_ io.ReaderAt          = (*diskBackend)(nil)
	_ io.WriterAt          = (*diskBackend)(nil)
)

func newDiskBackend(dev BlockDevice) *diskBackend {
	return &diskBackend{dev: dev, bs: int64(dev.BlockSize())}
}

func (b *diskBackend) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.first
}

func (b *diskBackend) keep(err error) error {
	if err != nil && b.first == nil {
		b.first = err
	}
	return err
}

// Stat reports a regular file of the device's size.
func (b *diskBackend) Stat() (fs.FileInfo, error) { return diskInfo{size: b.dev.Size()}, nil }

// Read reads at the seek offset.
func (b *diskBackend) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.readAt(p, b.pos)
	b.pos += int64(n)
	return n, err
}

// Seek moves the offset Read uses.
func (b *diskBackend) Seek(off int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += b.pos
	case io.SeekEnd:
		off += b.dev.Size()
	default:
		return 0, fmt.Errorf("%w: seek whence %d", ErrInvalid, whence)
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: seek to %d", ErrInvalid, off)
	}
	b.pos = off
	return off, nil
}

// Close does nothing: the device belongs to the caller.
func (b *diskBackend) Close() error { return nil }

// Sys reports that there is no OS file (no ioctls).
func (b *diskBackend) Sys() (*os.File, error) { return nil, backend.ErrNotSuitable }

// Writable returns the backend itself.
func (b *diskBackend) Writable() (backend.WritableFile, error) { return b, nil }

// Path is empty: the device has no path.
func (b *diskBackend) Path() string { return "" }

// ReadAt reads len(p) bytes at off.
func (b *diskBackend) ReadAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readAt(p, off)
}

// WriteAt writes p at off.
func (b *diskBackend) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.writeAt(p, off)
}

func (b *diskBackend) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: read at %d", ErrInvalid, off)
	}
	size := b.dev.Size()
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	short := false
	if int64(want) > size-off {
		want = int(size - off)
		short = true
	}
	if want == 0 {
		return 0, nil
	}
	start := off - off%b.bs
	end := roundUp(off+int64(want), b.bs)
	if start == off && end == off+int64(want) {
		n, err := b.dev.ReadAt(p[:want], off)
		if err != nil {
			return n, b.keep(err)
		}
	} else {
		buf := make([]byte, end-start)
		if _, err := b.dev.ReadAt(buf, start); err != nil {
			return 0, b.keep(err)
		}
		copy(p[:want], buf[off-start:])
	}
	if short {
		return want, io.EOF
	}
	return want, nil
}

func (b *diskBackend) writeAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > b.dev.Size() {
		return 0, b.keep(fmt.Errorf("%w: write of %d bytes at %d beyond the disk's %d bytes", ErrInvalid, len(p), off, b.dev.Size()))
	}
	if len(p) == 0 {
		return 0, nil
	}
	start := off - off%b.bs
	end := roundUp(off+int64(len(p)), b.bs)
	if start == off && end == off+int64(len(p)) {
		n, err := b.dev.WriteAt(p, off)
		return n, b.keep(err)
	}
	buf := make([]byte, end-start)
	// Read only the partial blocks at either end.
	if _, err := b.dev.ReadAt(buf[:b.bs], start); err != nil {
		return 0, b.keep(err)
	}
	if end-start > b.bs && end != off+int64(len(p)) {
		if _, err := b.dev.ReadAt(buf[len(buf)-int(b.bs):], end-b.bs); err != nil {
			return 0, b.keep(err)
		}
	}
	copy(buf[off-start:], p)
	if _, err := b.dev.WriteAt(buf, start); err != nil {
		return 0, b.keep(err)
	}
	return len(p), nil
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// diskInfo is the fs.FileInfo of a diskBackend.
type diskInfo struct{ size int64 }

func (i diskInfo) Name() string       { return "lunar-disk" }
func (i diskInfo) Size() int64        { return i.size }
func (i diskInfo) Mode() fs.FileMode  { return 0o600 }
func (i diskInfo) ModTime() time.Time { return time.Time{} }
func (i diskInfo) IsDir() bool        { return false }
func (i diskInfo) Sys() any           { return nil }
