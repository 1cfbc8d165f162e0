package target

import "sync"

// luRangeLock serialises commands that modify overlapping ranges of
// logical blocks, so that COMPARE AND WRITE (SBC-3 section 5.2: the
// compare and the write are "an uninterrupted series of actions") and
// ORWRITE's read-modify-write are atomic against every other writer.
// Disjoint ranges proceed in parallel. It allocates only when more ranges
// are held at once than ever before.
type luRangeLock struct {
	mu   sync.Mutex
	cond sync.Cond
	held []luRange
}

// luRange is a held range of logical blocks [lba, lba+n).
type luRange struct {
	lba, n uint64
}

// overlaps reports whether two ranges share a block.
func (r luRange) overlaps(o luRange) bool {
	return r.lba < o.lba+o.n && o.lba < r.lba+r.n
}

// lock waits until no held range overlaps [lba, lba+n) and takes it.
// A zero-length range takes nothing.
func (l *luRangeLock) lock(lba, n uint64) {
	if n == 0 {
		return
	}
	r := luRange{lba: lba, n: n}
	l.mu.Lock()
	if l.cond.L == nil {
		l.cond.L = &l.mu
	}
	for l.overlapping(r) {
		l.cond.Wait()
	}
	l.held = append(l.held, r)
	l.mu.Unlock()
}

// unlock releases a range taken by lock with the same arguments.
func (l *luRangeLock) unlock(lba, n uint64) {
	if n == 0 {
		return
	}
	l.mu.Lock()
	for i, h := range l.held {
		if h.lba == lba && h.n == n {
			last := len(l.held) - 1
			l.held[i] = l.held[last]
			l.held = l.held[:last]
			break
		}
	}
	l.mu.Unlock()
	l.cond.Broadcast()
}

// overlapping reports whether r overlaps a held range; l.mu is held.
func (l *luRangeLock) overlapping(r luRange) bool {
	for _, h := range l.held {
		if h.overlaps(r) {
			return true
		}
	}
	return false
}
