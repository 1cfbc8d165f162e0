package target

import (
	"sync"
	"testing"
)

func TestRangeLockExcludesOverlaps(t *testing.T) {
	var l luRangeLock
	var mu sync.Mutex
	inside := map[uint64]int{} // block -> holders
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				lba := uint64((g + i) % 10)
				n := uint64(1 + i%3)
				l.lock(lba, n)
				mu.Lock()
				for b := lba; b < lba+n; b++ {
					inside[b]++
					if inside[b] > 1 {
						t.Errorf("block %d held twice", b)
					}
				}
				mu.Unlock()
				mu.Lock()
				for b := lba; b < lba+n; b++ {
					inside[b]--
				}
				mu.Unlock()
				l.unlock(lba, n)
			}
		})
	}
	wg.Wait()
	if len(l.held) != 0 {
		t.Errorf("%d ranges still held", len(l.held))
	}
	l.lock(5, 0) // zero length takes nothing
	l.lock(5, 1)
	l.unlock(5, 1)
}
