package openiscsi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Device over a regular file (O_DIRECT works on ext4 and xfs; the test
// skips where the file system refuses it): unaligned reads and writes of
// any size land where a plain file would put them.
func TestDeviceUnalignedIO(t *testing.T) {
	const size = 3<<20 + 4096
	p := filepath.Join(t.TempDir(), "disk")
	if err := os.WriteFile(p, make([]byte, size), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDevice(p, size, 512)
	if errors.Is(err, syscall.EINVAL) {
		t.Skip("no O_DIRECT on this file system")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	shadow := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		off := rng.Int64N(size)
		n := rng.IntN(int(min(size-off, 1<<21+777)))
		if i%10 == 0 {
			off, n = off/512*512, (n/512)*512
		}
		buf := make([]byte, n)
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		if w, err := d.WriteAt(buf, off); err != nil || w != n {
			t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", n, off, w, err)
		}
		copy(shadow[off:], buf)
		roff := rng.Int64N(size)
		rn := rng.IntN(int(min(size-roff, 1<<21)))
		got := make([]byte, rn)
		if r, err := d.ReadAt(got, roff); err != nil || r != rn {
			t.Fatalf("ReadAt(%d at %d) = %d, %v", rn, roff, r, err)
		}
		if !bytes.Equal(got, shadow[roff:roff+int64(rn)]) {
			t.Fatalf("round %d: read at %d differs", i, roff)
		}
	}
	if err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file, shadow) {
		t.Fatal("the file differs from what was written")
	}
	// The end of the disk.
	tail := make([]byte, 1000)
	if n, err := d.ReadAt(tail, size-600); n != 600 || err != io.EOF {
		t.Fatalf("read across the end = %d, %v: want 600, io.EOF", n, err)
	}
	if _, err := d.WriteAt(tail, size-600); !errors.Is(err, ErrInvalid) {
		t.Fatalf("write across the end: %v, want ErrInvalid", err)
	}
	if _, err := d.ReadAt(tail, -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative offset: %v", err)
	}
	d.Close()
	if _, err := d.ReadAt(tail, 0); err == nil {
		t.Fatal("read after Close succeeded")
	}
}
