package target

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Errors of the file backend.
var (
	// ErrBackendSize means an existing backing file does not have the
	// size asked for; OpenFileBackend does not resize it on its own.
	ErrBackendSize = errors.New("target: backing file size differs")
	// errBackendClosed is returned by a backend used after Close.
	errBackendClosed = errors.New("target: backend closed")
)

// fileBackend is a Backend over a regular file: pread/pwrite, fdatasync,
// and hole punching for unmap.
type fileBackend struct {
	f  *os.File
	fd int
	// thin says the file is sparse; Resize then grows it with ftruncate
	// rather than fallocate.
	thin bool

	mu     sync.RWMutex // write-held by Resize and Close
	size   int64
	closed bool
}

// OpenFileBackend opens the backing file at path, creating it when it does
// not exist. A new file is size bytes long: sparse (ftruncate) when thin,
// fully allocated (fallocate) otherwise. An existing file must already be
// size bytes long (size <= 0 accepts any size); resize it with Resize.
func OpenFileBackend(path string, size int64, thin bool) (Backend, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if size <= 0 {
			f.Close()
			os.Remove(path)
			return nil, fmt.Errorf("target: new backing file %s needs a size above zero, got %d", path, size)
		}
		b := &fileBackend{f: f, fd: int(f.Fd()), thin: thin}
		if err := b.grow(0, size); err != nil {
			f.Close()
			os.Remove(path)
			return nil, err
		}
		b.size = size
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("target: sync new backing file %s: %w", path, err)
		}
		return b, nil
	case errors.Is(err, os.ErrExist):
		f, err = os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("target: open backing file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("target: stat backing file: %w", err)
		}
		if !st.Mode().IsRegular() {
			f.Close()
			return nil, fmt.Errorf("target: backing file %s is not a regular file (%v)", path, st.Mode())
		}
		if size > 0 && st.Size() != size {
			f.Close()
			return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBackendSize, path, st.Size(), size)
		}
		return &fileBackend{f: f, fd: int(f.Fd()), thin: thin, size: st.Size()}, nil
	default:
		return nil, fmt.Errorf("target: create backing file: %w", err)
	}
}

// grow extends the file from old to size bytes: ftruncate for a thin
// file, fallocate for a thick one.
func (b *fileBackend) grow(old, size int64) error {
	if b.thin {
		if err := b.f.Truncate(size); err != nil {
			return fmt.Errorf("target: grow backing file to %d bytes: %w", size, err)
		}
		return nil
	}
	if err := unix.Fallocate(b.fd, 0, old, size-old); err != nil {
		return fmt.Errorf("target: allocate %d bytes of backing file: %w", size-old, err)
	}
	return nil
}

// ReadAt reads with pread. A range past the end of the file (only
// possible if someone truncated it underneath us) reads as zeros.
func (b *fileBackend) ReadAt(p []byte, off int64) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return 0, errBackendClosed
	}
	n, err := b.f.ReadAt(p, off)
	if err == io.EOF && off+int64(len(p)) <= b.size {
		clear(p[n:])
		return len(p), nil
	}
	return n, err
}

// WriteAt writes with pwrite; it refuses to write beyond Size.
func (b *fileBackend) WriteAt(p []byte, off int64) (int, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return 0, errBackendClosed
	}
	if off < 0 || off > b.size || int64(len(p)) > b.size-off {
		return 0, fmt.Errorf("target: write of %d bytes at %d beyond a %d-byte backend", len(p), off, b.size)
	}
	return b.f.WriteAt(p, off)
}

// Size returns the size in bytes.
func (b *fileBackend) Size() int64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.size
}

// Sync is fdatasync.
func (b *fileBackend) Sync() error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errBackendClosed
	}
	if err := unix.Fdatasync(b.fd); err != nil {
		return fmt.Errorf("target: fdatasync: %w", err)
	}
	return nil
}

// Unmap punches a hole (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE); the
// range then reads back as zeros. A filesystem that cannot punch holes
// gives ErrUnmapUnsupported.
func (b *fileBackend) Unmap(off, n int64) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return errBackendClosed
	}
	if off < 0 || n < 0 || off > b.size || n > b.size-off {
		return fmt.Errorf("target: unmap of %d bytes at %d beyond a %d-byte backend", n, off, b.size)
	}
	if n == 0 {
		return nil
	}
	err := unix.Fallocate(b.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: %w", ErrUnmapUnsupported, err)
	default:
		return fmt.Errorf("target: punch hole of %d bytes at %d: %w", n, off, err)
	}
}

// Resize grows or shrinks the file; a thick file's new space is
// allocated.
func (b *fileBackend) Resize(size int64) error {
	if size <= 0 {
		return fmt.Errorf("target: resize to %d bytes: want a size above zero", size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBackendClosed
	}
	if size > b.size {
		if err := b.grow(b.size, size); err != nil {
			return err
		}
	} else if err := b.f.Truncate(size); err != nil {
		return fmt.Errorf("target: shrink backing file to %d bytes: %w", size, err)
	}
	b.size = size
	if err := b.f.Sync(); err != nil {
		return fmt.Errorf("target: sync resized backing file: %w", err)
	}
	return nil
}

// Close syncs and closes the file.
func (b *fileBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBackendClosed
	}
	b.closed = true
	serr := unix.Fdatasync(b.fd)
	cerr := b.f.Close()
	if serr != nil {
		return fmt.Errorf("target: fdatasync on close: %w", serr)
	}
	return cerr
}

// luExtent reports whether the byte at off is allocated (data) or in a
// hole, and where that run ends (SEEK_HOLE / SEEK_DATA), at most Size.
func (b *fileBackend) luExtent(off int64) (mapped bool, end int64, err error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false, 0, errBackendClosed
	}
	if off >= b.size {
		return true, b.size, nil
	}
	data, err := unix.Seek(b.fd, off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		// No data at or after off: a hole to the end of the file.
		return false, b.size, nil
	}
	if err != nil {
		return true, b.size, fmt.Errorf("target: SEEK_DATA: %w", err)
	}
	if data > off {
		return false, min(data, b.size), nil
	}
	hole, err := unix.Seek(b.fd, off, unix.SEEK_HOLE)
	if err != nil {
		return true, b.size, fmt.Errorf("target: SEEK_HOLE: %w", err)
	}
	return true, min(hole, b.size), nil
}

// luExtentReporter is implemented by backends that know which byte
// ranges are allocated (GET LBA STATUS asks them).
type luExtentReporter interface {
	luExtent(off int64) (mapped bool, end int64, err error)
}
