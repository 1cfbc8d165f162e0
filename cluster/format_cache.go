package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Block cache tuning.
const (
	// formatReadAhead is how much a cache miss reads around the block it
	// misses: go-diskfs reads a GPT header, then its partition entries,
	// then a boot sector and so on, one small read after another; one
	// 64 KiB read answers the whole GPT area (34 blocks of 512 bytes, or
	// 6 of 4 KiB) in one round trip.
	formatReadAhead = 64 << 10
	// formatMaxDirty bounds the bytes a cache holds unwritten: beyond it
	// a write flushes first, so a huge FAT does not all sit in memory.
	formatMaxDirty = 32 << 20
	// formatFlushers is how many extents a flush writes at once: the
	// session runs many commands at a time, so writing the GPT areas, the
	// boot sectors and the FATs together costs about one round trip.
	formatFlushers = 32
	// formatSmallExtent bounds one write of a flush that fits in one
	// batch of them: 64 KiB, the iSCSI default FirstBurstLength (RFC 7143
	// section 13.14), so every write goes as unsolicited data and none
	// waits a round trip for an R2T. A larger flush writes extents of up
	// to formatLargeExtent: fewer commands matter more there.
	formatSmallExtent = 64 << 10
	formatLargeExtent = 1 << 20
	// formatFUAMax is the most writes a sync flush sends with Force Unit
	// Access instead of following them with SYNCHRONIZE CACHE: each FUA
	// write costs the device a flush of its own, which beats a round
	// trip for a few writes (a small disk's GPT and FAT) but not for
	// many.
	formatFUAMax = 8
)

// blockCache is a write-back cache of whole blocks over a BlockDevice, so
// that go-diskfs's many small sequential reads and writes become a few
// round trips: a miss reads formatReadAhead bytes around it (several
// misses of one ReadAt are read at once), writes stay in memory, and
// flush writes the dirty blocks coalesced into extents, concurrently,
// then syncs the device. It is a BlockDevice itself (aligned I/O only)
// and safe for concurrent use; its ReadAt and WriteAt use no context
// (go-diskfs passes none), flush and prefetch take one.
type blockCache struct {
	dev BlockDevice
	bs  int64
	// zero makes a miss a block of zeros instead of a read: the device
	// is known to hold nothing yet (a LUN this operation created).
	zero bool

	mu     sync.Mutex
	blocks map[int64][]byte // by block number; nil entries do not occur
	dirty  map[int64]bool
	// unsynced is set when a flush without sync wrote blocks that only a
	// SYNCHRONIZE CACHE makes durable.
	unsynced bool
}

var _ BlockDevice = (*blockCache)(nil)

// fuaWriter is a BlockDevice that writes with Force Unit Access
// (userspaceDevice): a write durable when it returns.
type fuaWriter interface {
	WriteAtFUA(ctx context.Context, p []byte, off int64) (int, error)
}

// newBlockCache caches dev; with zero, blocks never written read as zeros
// without a read from dev.
func newBlockCache(dev BlockDevice, zero bool) *blockCache {
	return &blockCache{dev: dev, bs: int64(dev.BlockSize()), zero: zero, blocks: make(map[int64][]byte), dirty: make(map[int64]bool)}
}

// Size is the device's size.
func (c *blockCache) Size() int64 { return c.dev.Size() }

// BlockSize is the device's block size.
func (c *blockCache) BlockSize() uint32 { return c.dev.BlockSize() }

// Sync writes the dirty blocks and syncs the device.
func (c *blockCache) Sync(ctx context.Context) error { return c.flush(ctx, true) }

// span checks that off and n are block aligned and inside the device,
// and returns the first block and the block count.
func (c *blockCache) span(off int64, n int) (int64, int64, error) {
	if off < 0 || off%c.bs != 0 || int64(n)%c.bs != 0 || off+int64(n) > c.dev.Size() {
		return 0, 0, fmt.Errorf("%w: block cache: %d bytes at %d (block size %d, disk of %d bytes)", ErrInvalid, n, off, c.bs, c.dev.Size())
	}
	return off / c.bs, int64(n) / c.bs, nil
}

// ReadAt reads whole blocks at off, fetching the ones not cached.
func (c *blockCache) ReadAt(p []byte, off int64) (int, error) {
	first, n, err := c.span(off, len(p))
	if err != nil {
		return 0, err
	}
	if err := c.fetch(context.Background(), []blockRange{{first, first + n}}); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range n {
		b, ok := c.blocks[first+i]
		if !ok { // evicted by a flush between fetch and here: cannot happen, flush keeps blocks
			return 0, fmt.Errorf("%w: block cache: block %d vanished", ErrInvalid, first+i)
		}
		copy(p[i*c.bs:], b)
	}
	return len(p), nil
}

// WriteAt stores whole blocks at off in the cache; they reach the device
// at the next flush (or now, when too much is dirty).
func (c *blockCache) WriteAt(p []byte, off int64) (int, error) {
	first, n, err := c.span(off, len(p))
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	for i := range n {
		b := c.blocks[first+i]
		if b == nil {
			b = make([]byte, c.bs)
			c.blocks[first+i] = b
		}
		copy(b, p[i*c.bs:(i+1)*c.bs])
		c.dirty[first+i] = true
	}
	over := int64(len(c.dirty))*c.bs > formatMaxDirty
	c.mu.Unlock()
	if over {
		if err := c.flush(context.Background(), false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// blockRange is the blocks [start, end).
type blockRange struct{ start, end int64 }

// prefetch reads the byte ranges given as (offset, length) pairs, clipped
// to the device, in one concurrent batch.
func (c *blockCache) prefetch(ctx context.Context, ranges ...[2]int64) error {
	var rs []blockRange
	size := c.dev.Size()
	for _, r := range ranges {
		start, end := max(r[0], 0), min(r[0]+r[1], size)
		if start >= end {
			continue
		}
		rs = append(rs, blockRange{start / c.bs, (end + c.bs - 1) / c.bs})
	}
	return c.fetch(ctx, rs)
}

// fetch makes every block of rs cached: the missing ones are read in
// windows of formatReadAhead, aligned, all at once. Blocks cached (or
// written) meanwhile are not overwritten.
func (c *blockCache) fetch(ctx context.Context, rs []blockRange) error {
	ra := max(formatReadAhead/c.bs, 1)
	total := c.dev.Size() / c.bs
	var windows []blockRange
	c.mu.Lock()
	for _, r := range rs {
		for b := r.start; b < r.end; b++ {
			if _, ok := c.blocks[b]; ok {
				continue
			}
			if c.zero {
				c.blocks[b] = make([]byte, c.bs)
				continue
			}
			w := blockRange{b / ra * ra, min(b/ra*ra+ra, total)}
			if len(windows) == 0 || windows[len(windows)-1] != w {
				windows = append(windows, w)
			}
			b = w.end - 1
		}
	}
	c.mu.Unlock()
	if len(windows) == 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(formatFlushers)
	for _, w := range windows {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			buf := make([]byte, (w.end-w.start)*c.bs)
			if _, err := c.dev.ReadAt(buf, w.start*c.bs); err != nil {
				return err
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			for i := w.start; i < w.end; i++ {
				if _, ok := c.blocks[i]; !ok {
					c.blocks[i] = buf[(i-w.start)*c.bs : (i-w.start+1)*c.bs : (i-w.start+1)*c.bs]
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// flush writes the dirty blocks, coalesced into extents (of at most
// formatSmallExtent bytes when they all fit in one batch of those, else
// formatLargeExtent), formatFlushers at a time, and then syncs the device
// when sync is set. The blocks stay cached, clean. A sync flush of at
// most formatFUAMax extents on a device that writes with Force Unit
// Access, with no unsynced flush before it, writes them FUA instead and
// sends no SYNCHRONIZE CACHE: the writes and the sync in one round trip
// rather than two.
func (c *blockCache) flush(ctx context.Context, sync bool) error {
	c.mu.Lock()
	nums := make([]int64, 0, len(c.dirty))
	for b := range c.dirty {
		nums = append(nums, b)
	}
	slices.Sort(nums)
	maxExtent := max(int64(formatLargeExtent)/c.bs, 1)
	if int64(len(nums))*c.bs <= formatFlushers*formatSmallExtent {
		maxExtent = max(int64(formatSmallExtent)/c.bs, 1)
	}
	type extent struct {
		off  int64
		data []byte
	}
	var extents []extent
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 && int64(j-i) < maxExtent {
			j++
		}
		buf := make([]byte, 0, int64(j-i)*c.bs)
		for _, b := range nums[i:j] {
			buf = append(buf, c.blocks[b]...)
		}
		extents = append(extents, extent{nums[i] * c.bs, buf})
		i = j
	}
	clear(c.dirty)
	fua, durable := c.dev.(fuaWriter)
	durable = durable && sync && !c.unsynced && len(extents) <= formatFUAMax
	c.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(formatFlushers)
	for _, e := range extents {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			var err error
			if durable {
				_, err = fua.WriteAtFUA(gctx, e.data, e.off)
			} else {
				_, err = c.dev.WriteAt(e.data, e.off)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		// Keep the blocks dirty so that a retry writes them again.
		c.mu.Lock()
		for _, e := range extents {
			for b := e.off / c.bs; b < (e.off+int64(len(e.data)))/c.bs; b++ {
				c.dirty[b] = true
			}
		}
		c.mu.Unlock()
		return err
	}
	switch {
	case durable:
		return nil
	case !sync:
		c.mu.Lock()
		c.unsynced = c.unsynced || len(extents) > 0
		c.mu.Unlock()
		return nil
	}
	if err := c.dev.Sync(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	c.unsynced = false
	c.mu.Unlock()
	return nil
}
