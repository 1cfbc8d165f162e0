package target

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBackends(t *testing.T) {
	for _, kind := range []string{"mem", "thin", "thick"} {
		t.Run(kind, func(t *testing.T) {
			var b Backend
			if kind == "mem" {
				b = NewMemBackend(8192)
			} else {
				var err error
				b, err = OpenFileBackend(filepath.Join(t.TempDir(), "b.img"), 8192, kind == "thin")
				if err != nil {
					t.Fatal(err)
				}
			}
			if b.Size() != 8192 {
				t.Fatalf("Size %d", b.Size())
			}
			data := bytes.Repeat([]byte{7}, 8192)
			if _, err := b.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := b.WriteAt(data[:1], 8192); err == nil {
				t.Error("write beyond the end accepted")
			}
			if err := b.Unmap(4096, 4096); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 8192)
			if _, err := b.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:4096], data[:4096]) || !bytes.Equal(got[4096:], make([]byte, 4096)) {
				t.Error("unmapped range does not read as zeros")
			}
			if er, ok := b.(luExtentReporter); ok {
				if mapped, end, err := er.luExtent(4096); err != nil || mapped || end != 8192 {
					t.Errorf("extent at 4096: mapped %v end %d %v", mapped, end, err)
				}
				if mapped, end, err := er.luExtent(0); err != nil || !mapped || end != 4096 {
					t.Errorf("extent at 0: mapped %v end %d %v", mapped, end, err)
				}
			}
			if err := b.Resize(16384); err != nil || b.Size() != 16384 {
				t.Fatalf("Resize: %v, size %d", err, b.Size())
			}
			if _, err := b.ReadAt(got, 8192); err != nil || !bytes.Equal(got, make([]byte, 8192)) {
				t.Errorf("grown space: %v", err)
			}
			if err := b.Resize(4096); err != nil || b.Size() != 4096 {
				t.Fatalf("shrink: %v, size %d", err, b.Size())
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := b.ReadAt(got[:1], 0); !errors.Is(err, errBackendClosed) {
				t.Errorf("read after Close: %v", err)
			}
		})
	}
}

func TestOpenFileBackendExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.img")
	b, err := OpenFileBackend(path, 4096, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt([]byte("hello"), 100); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", st.Mode(), err)
	}
	if _, err := OpenFileBackend(path, 8192, false); !errors.Is(err, ErrBackendSize) {
		t.Errorf("size mismatch: %v", err)
	}
	b, err = OpenFileBackend(path, 0, false)
	if err != nil || b.Size() != 4096 {
		t.Fatalf("reopen: %v", err)
	}
	defer b.Close()
	got := make([]byte, 5)
	if _, err := b.ReadAt(got, 100); err != nil || string(got) != "hello" {
		t.Errorf("reopened data %q %v", got, err)
	}
	if _, err := OpenFileBackend(filepath.Join(t.TempDir(), "new.img"), 0, true); err == nil {
		t.Error("new file without a size accepted")
	}
}

func TestNewLUValidates(t *testing.T) {
	for _, cfg := range []LUConfig{
		{BlockSize: 1024, Backend: NewMemBackend(4096)},
		{BlockSize: 512},
		{BlockSize: 4096, Backend: NewMemBackend(1000)},
		{BlockSize: 512, Backend: NewMemBackend(0)},
	} {
		if _, err := NewLU(cfg); !errors.Is(err, ErrLUConfig) {
			t.Errorf("NewLU(%+v): %v", cfg, err)
		}
	}
	lu, err := NewLU(LUConfig{BlockSize: 4096, Backend: NewMemBackend(8192)})
	if err != nil || lu.Blocks() != 2 || lu.BlockSize() != 4096 {
		t.Fatalf("NewLU: %v", err)
	}
	if err := lu.Resize(5000); !errors.Is(err, ErrLUConfig) {
		t.Errorf("Resize to a partial block: %v", err)
	}
}
