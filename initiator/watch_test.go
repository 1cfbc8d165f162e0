package initiator

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

// watchTimeout bounds every wait of the watcher tests; none is expected
// to come near it.
const watchTimeout = 10 * time.Second

// watchStart runs w until the test ends and returns a function that
// stops it and returns Run's error.
func watchStart(t *testing.T, w *Watcher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var stopped atomic.Bool
	var err error
	stop = func() error {
		if stopped.CompareAndSwap(false, true) {
			cancel()
			select {
			case err = <-done:
			case <-time.After(watchTimeout):
				t.Fatal("Run did not return")
			}
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// wantEvent waits for the next disk event and checks its kind and LUN.
func wantEvent(t *testing.T, w *Watcher, kind DiskEventKind, lun uint64) DiskEvent {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("Events closed")
		}
		if ev.Kind != kind || ev.Disk.LUN != lun {
			t.Fatalf("event = %v LUN %d, want %v LUN %d", ev.Kind, ev.Disk.LUN, kind, lun)
		}
		return ev
	case <-time.After(watchTimeout):
		t.Fatalf("no %v event for LUN %d", kind, lun)
	}
	return DiskEvent{}
}

// wantDisk waits for the disk with wwn.
func wantDisk(t *testing.T, w *Watcher, wwn string) DiskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchTimeout)
	defer cancel()
	d, err := w.WaitForDisk(ctx, wwn)
	if err != nil {
		t.Fatalf("WaitForDisk(%s) = %v", wwn, err)
	}
	return d
}

func TestWatcherEvents(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	events := make(chan Event)
	w := NewWatcher(x, events, WatchConfig{})
	stop := watchStart(t, w)
	ev := wantEvent(t, w, DiskArrived, 0)
	if ev.Disk.WWN != diskWWN(0) || ev.Disk.Size != 4096 {
		t.Errorf("arrival = %+v", ev.Disk)
	}

	// A new LU and REPORTED LUNS DATA HAS CHANGED.
	lu1 := diskNewLU(t, 1, 8192, 512)
	x.mapLU(1, lu1)
	events <- Event{Kind: EventUnitAttention, LUN: 0, Sense: scsi.SenseReportedLUNsDataHasChanged}
	ev = wantEvent(t, w, DiskArrived, 1)
	if ev.Disk.WWN != diskWWN(1) || ev.Disk.Serial != "SER0001" {
		t.Errorf("arrival = %+v", ev.Disk)
	}

	// Resize and CAPACITY DATA HAS CHANGED.
	if err := lu1.Resize(16384); err != nil {
		t.Fatal(err)
	}
	events <- Event{Kind: EventUnitAttention, LUN: 1, Sense: scsi.SenseCapacityDataHasChanged}
	ev = wantEvent(t, w, DiskResized, 1)
	if ev.Disk.Size != 16384 || ev.Previous.Size != 8192 {
		t.Errorf("resize = %+v", ev)
	}

	// Removal, reported by an asynchronous message.
	x.unmapLU(0)
	events <- Event{Kind: EventAsync}
	ev = wantEvent(t, w, DiskDeparted, 0)
	if ev.Disk.WWN != diskWWN(0) {
		t.Errorf("departure = %+v", ev.Disk)
	}

	// Back after a reconnect, at another LUN: departs from 1, arrives at 5.
	x.unmapLU(1)
	x.mapLU(5, lu1)
	events <- Event{Kind: EventState, State: StateReconnecting}
	events <- Event{Kind: EventState, State: StateLoggedIn}
	wantEvent(t, w, DiskDeparted, 1)
	wantEvent(t, w, DiskArrived, 5)
	if got := w.Disks(); len(got) != 1 || got[0].LUN != 5 {
		t.Errorf("Disks = %+v", got)
	}

	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if _, ok := <-w.Events(); ok {
		t.Error("Events not closed after Run returned")
	}
	if err := w.Run(context.Background()); !errors.Is(err, ErrWatcherRunning) {
		t.Errorf("second Run = %v, want ErrWatcherRunning", err)
	}
	if _, err := w.WaitForDisk(context.Background(), diskWWN(9)); !errors.Is(err, ErrWatcherStopped) {
		t.Errorf("WaitForDisk after Run = %v, want ErrWatcherStopped", err)
	}
	if d, err := w.WaitForDisk(context.Background(), diskWWN(1)); err != nil || d.LUN != 5 {
		t.Errorf("WaitForDisk(present) after Run = %+v, %v", d, err)
	}
}

func TestWatcherIgnoresOtherEvents(t *testing.T) {
	x := newDiskEngine()
	events := make(chan Event)
	w := NewWatcher(x, events, WatchConfig{})
	watchStart(t, w)
	// These do not call for a rescan.
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	events <- Event{Kind: EventUnitAttention, Sense: scsi.SenseModeParametersChanged}
	events <- Event{Kind: EventState, State: StateReconnecting}
	// This does: the arrival is the first event.
	events <- Event{Kind: EventUnitAttention, Sense: scsi.SensePowerOnReset}
	wantEvent(t, w, DiskArrived, 0)
	for _, ev := range []Event{
		{Kind: EventUnitAttention, Sense: scsi.SenseModeParametersChanged},
		{Kind: EventState, State: StateFailed},
		{Kind: EventKind(99)},
	} {
		if watchTriggers(ev) {
			t.Errorf("watchTriggers(%+v) = true", ev)
		}
	}
}

func TestWatcherFromSessionUnitAttention(t *testing.T) {
	// The executor reports the unit attention a READ gets after the LUN
	// map changed, as a Session does, and the watcher picks the new disk
	// up from it.
	x := newDiskEngine()
	x.retryUA = true
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	d, err := OpenDisk(context.Background(), x, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatcher(x, x.events, WatchConfig{})
	watchStart(t, w)
	wantEvent(t, w, DiskArrived, 0)
	x.mapLU(3, diskNewLU(t, 3, 4096, 512))
	if _, err := d.ReadAt(make([]byte, 512), 0); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, DiskArrived, 3)
}

func TestWaitForDisk(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	events := make(chan Event)
	w := NewWatcher(x, events, WatchConfig{})

	// Waiting before Run has started is fine: the first scan answers.
	early := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchTimeout)
		defer cancel()
		_, err := w.WaitForDisk(ctx, diskWWN(0))
		early <- err
	}()
	watchStart(t, w)
	if err := <-early; err != nil {
		t.Fatalf("WaitForDisk(present at start) = %v", err)
	}
	// Present: at once, whatever the case of the WWN.
	if d := wantDisk(t, w, "NAA.6C000000000000000000000000001000"); d.LUN != 0 {
		t.Errorf("disk = %+v", d)
	}

	// Absent: waits until it arrives.
	got := make(chan DiskInfo, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchTimeout)
		defer cancel()
		d, err := w.WaitForDisk(ctx, diskWWN(2))
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	x.mapLU(2, diskNewLU(t, 2, 4096, 512))
	events <- Event{Kind: EventUnitAttention, Sense: scsi.SenseReportedLUNsDataHasChanged}
	if d := <-got; d.LUN != 2 || d.WWN != diskWWN(2) {
		t.Errorf("WaitForDisk = %+v", d)
	}

	// Never arrives: ctx's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.WaitForDisk(ctx, diskWWN(7)); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitForDisk(cancelled) = %v", err)
	}
}

func TestWatcherPollOnly(t *testing.T) {
	x := newDiskEngine()
	w := NewWatcher(x, nil, WatchConfig{PollInterval: 5 * time.Millisecond})
	watchStart(t, w)
	x.mapLU(4, diskNewLU(t, 4, 4096, 512))
	wantDisk(t, w, diskWWN(4))
	wantEvent(t, w, DiskArrived, 4)
}

func TestWatcherEventsClosed(t *testing.T) {
	x := newDiskEngine()
	events := make(chan Event)
	w := NewWatcher(x, events, WatchConfig{})
	stop := watchStart(t, w)
	close(events)
	for range w.Events() {
	}
	if err := stop(); err != nil {
		t.Errorf("Run after the session's events closed = %v, want nil", err)
	}
}

func TestWatcherCoalesces(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	var scans atomic.Int32
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpReportLUNs) {
			scans.Add(1)
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	events := make(chan Event) // unbuffered: each send is a receive by Run
	w := NewWatcher(x, events, WatchConfig{})
	stop := watchStart(t, w)
	<-entered // the first scan is blocked in REPORT LUNS
	for range 50 {
		events <- Event{Kind: EventUnitAttention, Sense: scsi.SenseReportedLUNsDataHasChanged}
	}
	close(release)
	<-entered // one more scan for the whole burst
	wantEvent(t, w, DiskArrived, 0)
	wantDisk(t, w, diskWWN(0))
	stop()
	if n := scans.Load(); n != 2 {
		t.Errorf("%d scans for a burst of 50 events during one scan, want 2", n)
	}
}

func TestWatcherScanErrorRetried(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	var fails atomic.Int32
	fails.Store(1)
	failed := make(chan struct{})
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpReportLUNs) && fails.Add(-1) == 0 {
			close(failed)
			return errors.New("connection lost")
		}
		return nil
	}
	events := make(chan Event)
	w := NewWatcher(x, events, WatchConfig{})
	watchStart(t, w)
	// The first scan fails; the session logging in again triggers another.
	<-failed
	events <- Event{Kind: EventState, State: StateLoggedIn}
	wantEvent(t, w, DiskArrived, 0)
}

func TestDiskEventKindString(t *testing.T) {
	for k, want := range map[DiskEventKind]string{DiskArrived: "arrived", DiskDeparted: "departed", DiskResized: "resized", 0: "DiskEventKind(0)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestWatcherOverSession(t *testing.T) {
	// Disk arrival, resize and departure end to end: the target's store
	// maps, resizes and unmaps LUNs; the session reports the
	// asynchronous message and unit attentions; the watcher rescans.
	const initiator = "iqn.2026-11.org.example:watch-e2e"
	e := diskE2EStart(t)
	wwn0 := e.createLUN(t, "w0", 1<<20, initiator, 0)
	s := e.dial(t, initiator)
	w := NewWatcher(s, s.Events(), WatchConfig{})
	stop := watchStart(t, w)
	wantEvent(t, w, DiskArrived, 0)
	if d := wantDisk(t, w, wwn0); d.Size != 1<<20 {
		t.Errorf("disk 0 = %+v", d)
	}

	// A new LUN: the Asynchronous Message REPORTED LUNS DATA HAS CHANGED.
	wwn1 := e.createLUN(t, "w1", 2<<20, initiator, 1)
	d1 := wantDisk(t, w, wwn1)
	if d1.LUN != 1 || d1.Size != 2<<20 || d1.WWN != strings.ToLower(wwn1) {
		t.Errorf("disk 1 = %+v", d1)
	}
	wantEvent(t, w, DiskArrived, 1)

	// A resize: CAPACITY DATA HAS CHANGED reaches the session on the next
	// command to the LUN.
	ctx := context.Background()
	if _, err := e.store.ResizeLUN(ctx, "w1", target.LUNResize{Size: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDisk(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadAt(make([]byte, 512), 0); err != nil {
		t.Fatal(err)
	}
	ev := wantEvent(t, w, DiskResized, 1)
	if ev.Disk.Size != 3<<20 || ev.Previous.Size != 2<<20 {
		t.Errorf("resize = %+v", ev)
	}
	if d.Size() != 3<<20 {
		t.Errorf("Disk opened after the resize has %d bytes", d.Size())
	}

	// Unmapped: departure.
	group := "g-" + strings.NewReplacer(":", "-", ".", "-").Replace(initiator)
	if err := e.store.Unmap(ctx, diskE2ETarget, group, 0); err != nil {
		t.Fatal(err)
	}
	wantEvent(t, w, DiskDeparted, 0)

	// Closing the session closes its events: Run returns nil.
	s.Close()
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
}
