package cluster

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
)

// countingDevice is a memDevice that logs the kind of every call ('R',
// 'W', 'S'), so that a test can count the round-trip batches a format
// costs: a batch is a run of calls of one kind (the cache issues each
// run concurrently).
type countingDevice struct {
	*memDevice
	mu       sync.Mutex
	calls    []byte
	failNext error
}

func (d *countingDevice) log(k byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, k)
	err := d.failNext
	d.failNext = nil
	return err
}

func (d *countingDevice) ReadAt(p []byte, off int64) (int, error) {
	if err := d.log('R'); err != nil {
		return 0, err
	}
	return d.memDevice.ReadAt(p, off)
}

func (d *countingDevice) WriteAt(p []byte, off int64) (int, error) {
	if err := d.log('W'); err != nil {
		return 0, err
	}
	return d.memDevice.WriteAt(p, off)
}

func (d *countingDevice) Sync(ctx context.Context) error {
	if err := d.log('S'); err != nil {
		return err
	}
	return d.memDevice.Sync(ctx)
}

// batches returns the runs of calls of one kind, e.g. "RWS", and the
// number of calls of kind k.
func (d *countingDevice) batches(k byte) (string, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var runs []byte
	n := 0
	for _, c := range d.calls {
		if len(runs) == 0 || runs[len(runs)-1] != c {
			runs = append(runs, c)
		}
		if c == k {
			n++
		}
	}
	return string(runs), n
}

// fuaDevice is a countingDevice that also writes with Force Unit Access,
// logged as 'F'.
type fuaDevice struct{ *countingDevice }

func (d fuaDevice) WriteAtFUA(_ context.Context, p []byte, off int64) (int, error) {
	if err := d.log('F'); err != nil {
		return 0, err
	}
	return d.memDevice.WriteAt(p, off)
}

func (d *countingDevice) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = nil
}

func TestFormatDiskRoundTrips(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		size  int64
		bs    int
		fresh string // the batches of a fresh format with FUA writes
	}{
		{"16MiB-512", 16 << 20, 512, "F"},
		{"64MiB-512", 64 << 20, 512, "WS"},
		{"64MiB-4k", 64 << 20, 4096, "F"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dev := &countingDevice{memDevice: newMemDevice(tt.size, tt.bs)}
			if err := FormatDisk(ctx, dev, "rt", FormatOptions{}); err != nil {
				t.Fatal(err)
			}
			// One batch of reads (both GPT areas), one of writes, one sync.
			if runs, reads := dev.batches('R'); runs != "RWS" || reads > 2 {
				t.Errorf("format calls %q (%d reads): want batches \"RWS\" with at most 2 reads", dev.calls, reads)
			}
			dev.reset()
			got, err := ReadLabel(ctx, dev)
			if err != nil || got != "rt" {
				t.Fatalf("ReadLabel = %q, %v; want \"rt\"", got, err)
			}
			if runs, reads := dev.batches('R'); runs != "R" || reads > 1 {
				t.Errorf("ReadLabel calls %q: want one read", dev.calls)
			}

			// A fresh disk on a device with FUA writes: nothing read;
			// one batch of FUA writes when they are few, else one batch
			// of writes and a sync.
			fresh := fuaDevice{&countingDevice{memDevice: newMemDevice(tt.size, tt.bs)}}
			if err := FormatDisk(ctx, fresh, "rt", FormatOptions{Fresh: true}); err != nil {
				t.Fatal(err)
			}
			if runs, n := fresh.batches('F'); runs != tt.fresh || n > formatFUAMax {
				t.Errorf("fresh format calls %q: want batches %q", fresh.calls, tt.fresh)
			}
			if got, err := ReadLabel(ctx, fresh); err != nil || got != "rt" {
				t.Fatalf("ReadLabel after the fresh format = %q, %v; want \"rt\"", got, err)
			}
		})
	}
}

func TestBlockCache(t *testing.T) {
	ctx := context.Background()
	dev := &countingDevice{memDevice: newMemDevice(1<<20, 512)}
	for i := range dev.data {
		dev.data[i] = byte(i / 512)
	}
	c := newBlockCache(dev, false)
	// A miss reads its whole read-ahead window once.
	got := make([]byte, 1024)
	if _, err := c.ReadAt(got, 512); err != nil {
		t.Fatal(err)
	}
	if got[0] != 1 || got[512] != 2 {
		t.Fatalf("read blocks %d and %d, want 1 and 2", got[0], got[512])
	}
	if _, err := c.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	if _, n := dev.batches('R'); n != 1 {
		t.Fatalf("%d device reads for two reads in one window, want 1", n)
	}
	// Writes stay in memory and read back, until a flush.
	w := bytes.Repeat([]byte{0xaa}, 1536)
	if _, err := c.WriteAt(w, 1<<19); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteAt(w[:512], 1<<19+1536); err != nil {
		t.Fatal(err)
	}
	if dev.data[1<<19] == 0xaa {
		t.Fatal("write reached the device before the flush")
	}
	if _, err := c.ReadAt(got[:512], 1<<19+512); err != nil || got[0] != 0xaa {
		t.Fatalf("read of a written block = %#x, %v; want 0xaa", got[0], err)
	}
	// A failed flush keeps the blocks dirty for the next one.
	dev.failNext = errors.New("link down")
	if err := c.Sync(ctx); err == nil {
		t.Fatal("Sync succeeded over a failing write")
	}
	dev.reset()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if runs, n := dev.batches('W'); runs != "WS" || n != 1 {
		t.Errorf("flush calls %q: want one coalesced write, then a sync", dev.calls)
	}
	if !bytes.Equal(dev.data[1<<19:1<<19+2048], bytes.Repeat([]byte{0xaa}, 2048)) || dev.data[1<<19+2048] == 0xaa {
		t.Error("flush wrote the wrong bytes")
	}
	// Unaligned or out-of-range I/O is refused.
	if _, err := c.ReadAt(got[:100], 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("unaligned read = %v, want ErrInvalid", err)
	}
	if _, err := c.WriteAt(got[:512], 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("write past the end = %v, want ErrInvalid", err)
	}
}

func TestBlockCacheFUA(t *testing.T) {
	ctx := context.Background()
	block := bytes.Repeat([]byte{0x5a}, 512)
	// Nothing flushed before: the sync flush writes FUA and sends no
	// SYNCHRONIZE CACHE.
	dev := fuaDevice{&countingDevice{memDevice: newMemDevice(1<<20, 512)}}
	c := newBlockCache(dev, true)
	if _, err := c.WriteAt(block, 4096); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if string(dev.calls) != "F" {
		t.Fatalf("calls %q: want one FUA write", dev.calls)
	}
	// A flush without sync wrote blocks before: only a SYNCHRONIZE CACHE
	// makes those durable, so the sync flush writes plainly and syncs.
	dev.reset()
	if _, err := c.WriteAt(block, 8192); err != nil {
		t.Fatal(err)
	}
	if err := c.flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteAt(block, 16384); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if string(dev.calls) != "WWS" {
		t.Fatalf("calls %q: want a write, then a write and a sync", dev.calls)
	}
	// Synced: FUA again.
	dev.reset()
	if _, err := c.WriteAt(block, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if string(dev.calls) != "F" {
		t.Fatalf("calls %q after a sync: want one FUA write", dev.calls)
	}
	got := make([]byte, 512)
	for _, off := range []int64{0, 4096, 8192, 16384} {
		if _, err := dev.memDevice.ReadAt(got, off); err != nil || !bytes.Equal(got, block) {
			t.Fatalf("block at %d not on the device: %v", off, err)
		}
	}
}
