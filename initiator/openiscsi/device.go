package openiscsi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// bounceSize is the size of a device's aligned I/O buffer: larger requests
// are split.
const bounceSize = 1 << 20

// Device is a disk's /dev node opened with O_DIRECT, as an
// initiator.BlockDevice: reads and writes bypass the page cache, so what
// one node writes another reads from the disk itself. Requests of any
// size and offset work (partial blocks are read, modified and written);
// they go through one page-aligned buffer, one request at a time.
type Device struct {
	path string
	size int64
	bs   int64

	mu     sync.Mutex
	f      *os.File
	buf    []byte // page-aligned (mmap), bounceSize bytes
	closed bool
}

// OpenDevice opens path (a block device) for direct I/O; size and
// blockSize are the disk's.
func OpenDevice(path string, size int64, blockSize uint32) (*Device, error) {
	if blockSize == 0 || blockSize&(blockSize-1) != 0 || blockSize > bounceSize {
		return nil, fmt.Errorf("%w: %s: block size %d", ErrInvalid, path, blockSize)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		return nil, fmt.Errorf("openiscsi: open %s: %w", path, err)
	}
	buf, err := unix.Mmap(-1, 0, bounceSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("openiscsi: I/O buffer for %s: %w", path, err)
	}
	return &Device{path: path, size: size, bs: int64(blockSize), f: f, buf: buf}, nil
}

// Path is the device node's path.
func (d *Device) Path() string { return d.path }

// Size is the capacity in bytes.
func (d *Device) Size() int64 { return d.size }

// BlockSize is the logical block size.
func (d *Device) BlockSize() uint32 { return uint32(d.bs) }

var errDeviceClosed = errors.New("openiscsi: device closed")

// ReadAt reads len(p) bytes at off; it returns io.EOF for a read that
// reaches the end of the disk.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrInvalid, off)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errDeviceClosed
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= d.size {
			return n, io.EOF
		}
		start := pos / d.bs * d.bs
		end := min(roundUp(off+int64(len(p)), d.bs), start+bounceSize, d.size)
		if _, err := d.f.ReadAt(d.buf[:end-start], start); err != nil {
			return n, fmt.Errorf("openiscsi: read %s at %d: %w", d.path, start, err)
		}
		n += copy(p[n:], d.buf[pos-start:end-start])
	}
	return n, nil
}

// WriteAt writes p at off; a write past the end of the disk fails.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > d.size {
		return 0, fmt.Errorf("%w: write of %d bytes at %d on a disk of %d", ErrInvalid, len(p), off, d.size)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, errDeviceClosed
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		start := pos / d.bs * d.bs
		end := min(roundUp(off+int64(len(p)), d.bs), start+bounceSize, d.size)
		chunk := d.buf[:end-start]
		// Partial blocks at either end: read them first.
		if pos != start {
			if _, err := d.f.ReadAt(chunk[:d.bs], start); err != nil {
				return n, fmt.Errorf("openiscsi: read %s at %d: %w", d.path, start, err)
			}
		}
		if last := end - d.bs; end > off+int64(len(p)) && (last != start || pos == start) {
			if _, err := d.f.ReadAt(chunk[last-start:], last); err != nil {
				return n, fmt.Errorf("openiscsi: read %s at %d: %w", d.path, last, err)
			}
		}
		c := copy(chunk[pos-start:], p[n:])
		if _, err := d.f.WriteAt(chunk, start); err != nil {
			return n, fmt.Errorf("openiscsi: write %s at %d: %w", d.path, start, err)
		}
		n += c
	}
	return n, nil
}

// Sync flushes the disk's write cache (fsync on a block device sends the
// disk a cache flush: SYNCHRONIZE CACHE).
func (d *Device) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errDeviceClosed
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("openiscsi: sync %s: %w", d.path, err)
	}
	return nil
}

// Close closes the device node.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.f.Close()
	_ = unix.Munmap(d.buf)
	d.buf = nil
	return err
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// flushDevice writes back and drops a block device's cached pages: fsync
// (a cache flush to the disk) then BLKFLSBUF.
func flushDevice(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("openiscsi: flush %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("openiscsi: fsync %s: %w", path, err)
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKFLSBUF, 0); err != nil {
		return fmt.Errorf("openiscsi: BLKFLSBUF %s: %w", path, err)
	}
	return nil
}
