package initiator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/scsi"
)

// Errors of the Watcher.
var (
	// ErrWatcherRunning means Run was called on a Watcher that is running
	// or has run: a Watcher runs once.
	ErrWatcherRunning = errors.New("initiator: watcher already run")
	// ErrWatcherStopped means the Watcher's Run has returned, so a disk
	// that is not present now never will be.
	ErrWatcherStopped = errors.New("initiator: watcher stopped")
)

// watchEventBuffer is the capacity of the Events channel.
const watchEventBuffer = 256

// DiskEventKind says what happened to a disk.
type DiskEventKind uint8

// The kinds of disk events.
const (
	// DiskArrived: a disk appeared (or was found by the first scan, or
	// moved to another LUN).
	DiskArrived DiskEventKind = iota + 1
	// DiskDeparted: a disk is no longer reported (or moved away from its
	// LUN).
	DiskDeparted
	// DiskResized: a disk's capacity or block size changed.
	DiskResized
)

// String names the kind.
func (k DiskEventKind) String() string {
	switch k {
	case DiskArrived:
		return "arrived"
	case DiskDeparted:
		return "departed"
	case DiskResized:
		return "resized"
	}
	return fmt.Sprintf("DiskEventKind(%d)", uint8(k))
}

// DiskEvent is a change a Watcher found between two scans.
type DiskEvent struct {
	// Kind is what happened.
	Kind DiskEventKind
	// Disk is the disk as the latest scan found it (as the previous one
	// did, for DiskDeparted).
	Disk DiskInfo
	// Previous is the disk as the previous scan found it, for
	// DiskResized.
	Previous DiskInfo
}

// WatchConfig configures a Watcher. The zero value watches session events
// only and logs nothing.
type WatchConfig struct {
	// PollInterval, when positive, also rescans this often, for targets
	// that raise no unit attention when their LUNs change. Zero (or a
	// negative value) rescans on events only.
	PollInterval time.Duration
	// Logger receives failed rescans at debug level; the zero value is
	// silent.
	Logger zerolog.Logger
}

// Watcher keeps the set of disks a session reaches up to date and reports
// arrivals, departures and resizes. Run drives it: it rescans (see
// Rescan) when it starts, on the unit attentions REPORTED LUNS DATA HAS
// CHANGED (3F/0E), CAPACITY DATA HAS CHANGED (2A/09), INQUIRY DATA HAS
// CHANGED (3F/03) and the 29/xx resets, on every asynchronous message, when
// the session is logged in again after a reconnect, and every
// PollInterval. Events that arrive during a rescan cause one more rescan
// after it, however many they are.
//
// Only direct-access block devices are tracked, keyed by WWN (units
// without one by LUN). WaitForDisk, Disks and Events are safe to call from
// any goroutine, before, during and after Run.
type Watcher struct {
	ex      Executor
	events  <-chan Event
	cfg     WatchConfig
	out     chan DiskEvent
	started atomic.Bool
	dropped atomic.Uint64

	mu      sync.Mutex
	disks   map[string]DiskInfo // by watchKey
	changed chan struct{}       // closed and replaced when disks changes or Run ends
	done    bool                // Run has returned
}

// NewWatcher returns a Watcher of the disks ex reaches, driven by events
// (a Session's event channel; nil to poll only).
func NewWatcher(ex Executor, events <-chan Event, cfg WatchConfig) *Watcher {
	cfg.PollInterval = max(cfg.PollInterval, 0)
	return &Watcher{
		ex:      ex,
		events:  events,
		cfg:     cfg,
		out:     make(chan DiskEvent, watchEventBuffer),
		disks:   make(map[string]DiskInfo),
		changed: make(chan struct{}),
	}
}

// Events returns the channel on which Run reports disk events, in the
// order it found them; the first scan reports every disk present as
// DiskArrived. It is closed when Run returns. The channel holds a few
// hundred events; when the reader falls further behind, new events are
// dropped (and counted by Dropped) rather than stalling rescans — Disks
// and WaitForDisk always reflect the latest scan.
func (w *Watcher) Events() <-chan DiskEvent { return w.out }

// Dropped returns how many events were dropped because Events was full.
func (w *Watcher) Dropped() uint64 { return w.dropped.Load() }

// Disks returns the disks the latest scan found, by LUN.
func (w *Watcher) Disks() []DiskInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]DiskInfo, 0, len(w.disks))
	for _, d := range w.disks {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DiskInfo) int { return cmp.Compare(a.LUN, b.LUN) })
	return out
}

// WaitForDisk returns the disk whose WWN is wwn (compared without regard
// to case) as soon as a scan finds it, at once when the latest scan
// already did. It returns ctx's error when ctx ends first, and
// ErrWatcherStopped when Run has returned without finding it.
func (w *Watcher) WaitForDisk(ctx context.Context, wwn string) (DiskInfo, error) {
	key := strings.ToLower(wwn)
	for {
		w.mu.Lock()
		d, ok := w.disks[key]
		done, ch := w.done, w.changed
		w.mu.Unlock()
		switch {
		case ok && wwn != "":
			return d, nil
		case done:
			return DiskInfo{}, fmt.Errorf("%w: %s not present", ErrWatcherStopped, wwn)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return DiskInfo{}, ctx.Err()
		}
	}
}

// Run watches until ctx ends (returning ctx's error) or the event channel
// is closed (the session is gone; returning nil). Rescans run on a
// goroutine of Run's own, which has stopped when Run returns. A failed
// rescan is logged and retried on the next trigger. Run may be called
// once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return ErrWatcherRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	kick := make(chan struct{}, 1)
	kick <- struct{}{} // the first scan
	var wg sync.WaitGroup
	wg.Go(func() { w.scanLoop(ctx, kick) })
	defer func() {
		cancel()
		wg.Wait()
		w.mu.Lock()
		w.done = true
		close(w.changed)
		w.mu.Unlock()
		close(w.out)
	}()
	var tick <-chan time.Time
	if w.cfg.PollInterval > 0 {
		t := time.NewTicker(w.cfg.PollInterval)
		defer t.Stop()
		tick = t.C
	}
	events := w.events
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if !watchTriggers(ev) {
				continue
			}
		case <-tick:
		}
		// Coalesce: a rescan already asked for covers this one too.
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// watchTriggers reports whether a session event calls for a rescan.
func watchTriggers(ev Event) bool {
	switch ev.Kind {
	case EventUnitAttention:
		switch ev.Sense {
		case scsi.SenseReportedLUNsDataHasChanged, scsi.SenseCapacityDataHasChanged, scsi.SenseInquiryDataHasChanged:
			return true
		}
		// 29/xx: power on, reset or I_T nexus loss; the LUN inventory may
		// be another one now.
		return ev.Sense.ASC() == 0x29
	case EventAsync:
		return true
	case EventState:
		return ev.State == StateLoggedIn
	}
	return false
}

// scanLoop rescans each time kick fires, until ctx ends.
func (w *Watcher) scanLoop(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		infos, err := Rescan(ctx, w.ex)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.cfg.Logger.Debug().Err(err).Msg("initiator: rescan failed")
			continue
		}
		for _, ev := range w.apply(infos) {
			select {
			case w.out <- ev:
			default:
				w.dropped.Add(1)
			}
		}
	}
}

// watchRank orders the kinds of one scan's events: departures, arrivals,
// resizes.
func watchRank(k DiskEventKind) int {
	switch k {
	case DiskDeparted:
		return 0
	case DiskArrived:
		return 1
	}
	return 2
}

// watchKey is the key a disk is tracked by: its WWN in lower case, or its
// LUN when it has none ("lun/3" cannot be a WWN, which starts "naa.",
// "eui." or "t10.").
func watchKey(d DiskInfo) string {
	if d.WWN != "" {
		return strings.ToLower(d.WWN)
	}
	return fmt.Sprintf("lun/%d", d.LUN)
}

// apply makes infos the current set of disks and returns the events that
// lead to it from the previous one: departures first, then arrivals, then
// resizes, each by LUN. A disk found at another LUN than before departs
// from the old one and arrives at the new one.
func (w *Watcher) apply(infos []DiskInfo) []DiskEvent {
	next := make(map[string]DiskInfo, len(infos))
	for _, d := range infos {
		if d.IsDisk() {
			next[watchKey(d)] = d
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var evs []DiskEvent
	for k, old := range w.disks {
		if d, ok := next[k]; !ok || d.LUN != old.LUN {
			evs = append(evs, DiskEvent{Kind: DiskDeparted, Disk: old})
		}
	}
	for k, d := range next {
		old, ok := w.disks[k]
		switch {
		case !ok || old.LUN != d.LUN:
			evs = append(evs, DiskEvent{Kind: DiskArrived, Disk: d})
		case old.Size != d.Size || old.BlockSize != d.BlockSize:
			evs = append(evs, DiskEvent{Kind: DiskResized, Disk: d, Previous: old})
		}
	}
	slices.SortFunc(evs, func(a, b DiskEvent) int {
		if c := cmp.Compare(watchRank(a.Kind), watchRank(b.Kind)); c != 0 {
			return c
		}
		return cmp.Compare(a.Disk.LUN, b.Disk.LUN)
	})
	w.disks = next
	// Wake WaitForDisk even when nothing changed: after the first scan
	// a waiter must re-check (the disk may have been there all along).
	close(w.changed)
	w.changed = make(chan struct{})
	return evs
}
