package target

import (
	"fmt"
	"io"
	"sync"
)

// memBackend is a Backend held in memory, for tests and benchmarks.
type memBackend struct {
	mu     sync.RWMutex
	data   []byte
	closed bool
}

// NewMemBackend returns an in-memory Backend of size bytes, all zero.
// A negative size is treated as zero.
func NewMemBackend(size int64) Backend {
	return &memBackend{data: make([]byte, max(size, 0))}
}

// ReadAt copies len(p) bytes at off into p; past the end it returns
// io.EOF with what was available.
func (m *memBackend) ReadAt(p []byte, off int64) (int, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return 0, errBackendClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("target: read at negative offset %d", off)
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the backend at off. It never grows the backend.
func (m *memBackend) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errBackendClosed
	}
	if off < 0 || off > int64(len(m.data)) || int64(len(p)) > int64(len(m.data))-off {
		return 0, fmt.Errorf("target: write of %d bytes at %d beyond a %d-byte backend", len(p), off, len(m.data))
	}
	return copy(m.data[off:], p), nil
}

// Size returns the size in bytes.
func (m *memBackend) Size() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return int64(len(m.data))
}

// Sync does nothing: memory is as stable as it gets.
func (m *memBackend) Sync() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return errBackendClosed
	}
	return nil
}

// Unmap zeroes the range.
func (m *memBackend) Unmap(off, n int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errBackendClosed
	}
	if off < 0 || n < 0 || off > int64(len(m.data)) || n > int64(len(m.data))-off {
		return fmt.Errorf("target: unmap of %d bytes at %d beyond a %d-byte backend", n, off, len(m.data))
	}
	clear(m.data[off : off+n])
	return nil
}

// Resize grows (with zeros) or shrinks the backend.
func (m *memBackend) Resize(size int64) error {
	if size < 0 {
		return fmt.Errorf("target: resize to negative size %d", size)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errBackendClosed
	}
	if size <= int64(cap(m.data)) {
		old := len(m.data)
		m.data = m.data[:size]
		if int(size) > old {
			clear(m.data[old:])
		}
		return nil
	}
	nd := make([]byte, size)
	copy(nd, m.data)
	m.data = nd
	return nil
}

// Close releases the memory.
func (m *memBackend) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errBackendClosed
	}
	m.closed, m.data = true, nil
	return nil
}
