package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/initiator"
)

// Defaults of the zero-valued UserspaceConfig fields.
const (
	// DefaultRescanInterval is the backstop rescan period of each
	// session's watcher: disks arrive on the target's REPORTED LUNS DATA
	// HAS CHANGED unit attention, this only catches a lost one.
	DefaultRescanInterval = 5 * time.Second
	// DefaultLogoutTimeout bounds each session's logout in Close.
	DefaultLogoutTimeout = 5 * time.Second
)

// UserspaceEngineName is the Name of the UserspaceEngine.
const UserspaceEngineName = "userspace"

// UserspaceConfig configures a UserspaceEngine.
type UserspaceConfig struct {
	// InitiatorName is the node's iSCSI initiator name. Required.
	InitiatorName string
	// CHAP, when set, is what the initiator proves to the targets.
	CHAP *initiator.CHAP
	// MutualCHAP, when set, is what the targets must prove back.
	MutualCHAP *initiator.CHAP
	// RescanInterval is the backstop rescan period of each session's
	// watcher; zero means DefaultRescanInterval, negative turns it off
	// (rescans then happen on unit attentions and asynchronous events
	// only).
	RescanInterval time.Duration
	// Session tunes the sessions (queue depth, timeouts, reconnect); its
	// InitiatorName, Portal, TargetName, CHAP, MutualCHAP and Logger are
	// set from the rest of this config.
	Session initiator.Config
	// Logger receives the engine's log; the zero value is silent.
	Logger zerolog.Logger
	// RewritePortal, when set, maps a target's portal to the address the
	// engine dials (a link emulator in front of the target, for
	// benchmarks); sessions and disks keep the portal they were given.
	RewritePortal func(portal string) string
}

// UserspaceEngine is the Engine of lunar's own initiator: one
// initiator.Session per target, each with an initiator.Watcher that keeps
// its disks up to date from the target's unit attentions. It is safe for
// concurrent use.
type UserspaceEngine struct {
	cfg    UserspaceConfig
	ctx    context.Context // the engine's lifetime: ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watchers

	mu       sync.Mutex
	closed   bool
	sessions map[TargetRef]*userspaceSession
	disks    map[string]*userspaceDisk // by lower-case WWN
}

// userspaceSession is one target's session, or the dial in progress.
type userspaceSession struct {
	ref     TargetRef
	ready   chan struct{} // closed when the dial ended
	err     error         // the dial's error, set before ready closes
	sess    *initiator.Session
	watcher *initiator.Watcher
	stop    context.CancelFunc // stops the watcher
	done    chan struct{}      // closed when the watcher's Run returned
}

// userspaceDisk is a disk the node connected (WaitForDisk found it).
type userspaceDisk struct {
	ref    TargetRef
	info   initiator.DiskInfo
	sess   *userspaceSession
	opened *userspaceDevice // nil until Open
}

var _ Engine = (*UserspaceEngine)(nil)

// NewUserspaceEngine returns an engine that logs in as cfg.InitiatorName.
// Close releases it.
func NewUserspaceEngine(cfg UserspaceConfig) *UserspaceEngine {
	if cfg.RescanInterval == 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &UserspaceEngine{
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		sessions: make(map[TargetRef]*userspaceSession),
		disks:    make(map[string]*userspaceDisk),
	}
}

// Name returns "userspace".
func (e *UserspaceEngine) Name() string { return UserspaceEngineName }

// errEngineClosed is returned by every call after Close.
var errEngineClosed = fmt.Errorf("%w: initiator engine closed", ErrUnavailable)

// Login logs in to t, or returns at once when a live session to t exists;
// concurrent Logins to one target dial once. A target that cannot be
// reached or refuses the login fails with ErrUnavailable.
func (e *UserspaceEngine) Login(ctx context.Context, t TargetRef) error {
	_, err := e.session(ctx, t)
	return err
}

// session returns t's live session, dialling it when there is none.
func (e *UserspaceEngine) session(ctx context.Context, t TargetRef) (*userspaceSession, error) {
	if t.Name == "" || t.Portal == "" {
		return nil, fmt.Errorf("%w: target %q at portal %q: both are required", ErrInvalid, t.Name, t.Portal)
	}
	for {
		e.mu.Lock()
		if e.closed {
			e.mu.Unlock()
			return nil, errEngineClosed
		}
		s, ok := e.sessions[t]
		if !ok {
			s = &userspaceSession{ref: t, ready: make(chan struct{})}
			e.sessions[t] = s
			e.mu.Unlock()
			e.dial(ctx, s)
			if s.err != nil {
				return nil, s.err
			}
			return s, nil
		}
		e.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctxError(ctx, "login to "+t.Name)
		}
		if s.err == nil {
			switch s.sess.State() {
			case initiator.StateFailed, initiator.StateClosed:
				// A dead session: drop it and dial again.
				e.forget(s)
				continue
			}
			return s, nil
		}
		// The other dial failed (perhaps under its caller's context):
		// try again under ours unless ours has ended.
		if err := ctx.Err(); err != nil {
			return nil, ctxError(ctx, "login to "+t.Name)
		}
	}
}

// dial logs s in and starts its watcher; on failure it removes s from the
// map so the next Login dials again.
func (e *UserspaceEngine) dial(ctx context.Context, s *userspaceSession) {
	defer close(s.ready)
	cfg := e.cfg.Session
	cfg.InitiatorName = e.cfg.InitiatorName
	cfg.Portal = s.ref.Portal
	if e.cfg.RewritePortal != nil {
		cfg.Portal = e.cfg.RewritePortal(s.ref.Portal)
	}
	cfg.TargetName = s.ref.Name
	cfg.CHAP = e.cfg.CHAP
	cfg.MutualCHAP = e.cfg.MutualCHAP
	cfg.Logger = e.cfg.Logger
	// The dial ends with the caller's context or the engine's.
	dctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(e.ctx, cancel)
	sess, err := initiator.Dial(dctx, cfg)
	stop()
	cancel()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			s.err = ctxError(ctx, "login to "+s.ref.Name)
		case e.ctx.Err() != nil:
			s.err = errEngineClosed
		default:
			s.err = fmt.Errorf("%w: login to %s at %s: %w", ErrUnavailable, s.ref.Name, s.ref.Portal, err)
		}
		e.mu.Lock()
		if e.sessions[s.ref] == s {
			delete(e.sessions, s.ref)
		}
		e.mu.Unlock()
		return
	}
	poll := max(e.cfg.RescanInterval, 0)
	s.sess = sess
	s.watcher = initiator.NewWatcher(sess, sess.Events(), initiator.WatchConfig{PollInterval: poll, Logger: e.cfg.Logger})
	wctx, wcancel := context.WithCancel(e.ctx)
	s.stop = wcancel
	s.done = make(chan struct{})
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		wcancel()
		close(s.done)
		_ = sess.Close()
		s.err = errEngineClosed
		return
	}
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		defer close(s.done)
		_ = s.watcher.Run(wctx)
	}()
}

// forget removes a dead session and its disks and closes it.
func (e *UserspaceEngine) forget(s *userspaceSession) {
	e.mu.Lock()
	if e.sessions[s.ref] == s {
		delete(e.sessions, s.ref)
	}
	for k, d := range e.disks {
		if d.sess == s {
			delete(e.disks, k)
		}
	}
	e.mu.Unlock()
	s.stop()
	_ = s.sess.Close()
}

// WaitForDisk rescans t's session once and then waits until its watcher
// finds the disk whose WWN is wwn, which the target's REPORTED LUNS DATA
// HAS CHANGED unit attention triggers. It logs in first when needed. A
// context that ends first fails with ErrTimeout for a deadline.
func (e *UserspaceEngine) WaitForDisk(ctx context.Context, t TargetRef, wwn string) (DiskStatus, error) {
	return e.waitForDisk(ctx, t, wwn, initiator.Rescan)
}

// WaitForDiskAt is WaitForDisk for a disk the storage system maps at LUN
// lun (initiator.LUNWaiter): its scan identifies lun in the round trip of
// its REPORT LUNS.
func (e *UserspaceEngine) WaitForDiskAt(ctx context.Context, t TargetRef, wwn string, lun uint64) (DiskStatus, error) {
	return e.waitForDisk(ctx, t, wwn, func(ctx context.Context, ex initiator.Executor) ([]initiator.DiskInfo, error) {
		return initiator.RescanExpecting(ctx, ex, lun)
	})
}

// waitForDisk is WaitForDisk with rescan, the scan it runs up front.
func (e *UserspaceEngine) waitForDisk(ctx context.Context, t TargetRef, wwn string, rescan func(context.Context, initiator.Executor) ([]initiator.DiskInfo, error)) (DiskStatus, error) {
	if wwn == "" {
		return DiskStatus{}, fmt.Errorf("%w: no WWN to wait for", ErrInvalid)
	}
	s, err := e.session(ctx, t)
	if err != nil {
		return DiskStatus{}, err
	}
	info, found := findDisk(s.watcher.Disks(), wwn)
	if !found {
		// One rescan up front, in case the unit attention that announced
		// the disk was seen by someone else's command before the watcher
		// existed; then wait for the watcher.
		if infos, err := rescan(ctx, s.sess); err == nil {
			info, found = findDisk(infos, wwn)
		}
	}
	if !found {
		info, err = s.watcher.WaitForDisk(ctx, wwn)
		if err != nil {
			if ctx.Err() != nil {
				return DiskStatus{}, ctxError(ctx, "disk "+wwn+" did not arrive")
			}
			return DiskStatus{}, fmt.Errorf("%w: disk %s on %s: %w", ErrUnavailable, wwn, t.Name, err)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return DiskStatus{}, errEngineClosed
	}
	key := strings.ToLower(wwn)
	d, ok := e.disks[key]
	if !ok || d.sess != s {
		d = &userspaceDisk{ref: t, sess: s}
		e.disks[key] = d
	}
	d.info = info
	return d.status(), nil
}

func findDisk(infos []initiator.DiskInfo, wwn string) (initiator.DiskInfo, bool) {
	for _, d := range infos {
		if d.IsDisk() && strings.EqualFold(d.WWN, wwn) {
			return d, true
		}
	}
	return initiator.DiskInfo{}, false
}

func (d *userspaceDisk) status() DiskStatus {
	return DiskStatus{
		WWN:       d.info.WWN,
		Serial:    d.info.Serial,
		Target:    d.ref.Name,
		Portal:    d.ref.Portal,
		LUN:       d.info.LUN,
		Size:      d.info.Size,
		BlockSize: uint32(d.info.BlockSize),
	}
}

// Open returns the connected disk wwn for I/O (the same device for every
// Open until Release). A disk WaitForDisk has not found fails with
// ErrNotFound.
func (e *UserspaceEngine) Open(ctx context.Context, wwn string) (BlockDevice, error) {
	key := strings.ToLower(wwn)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errEngineClosed
	}
	d, ok := e.disks[key]
	if !ok {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: disk %s is not connected on this node", ErrNotFound, wwn)
	}
	if d.opened != nil {
		dev := d.opened
		e.mu.Unlock()
		return dev, nil
	}
	sess, info := d.sess.sess, d.info
	lun := info.LUN
	e.mu.Unlock()
	// The arrival's scan read the identity, capacity and limits: no
	// command needed.
	disk, err := initiator.NewDisk(ctx, sess, info, initiator.DiskConfig{})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctxError(ctx, "open disk "+wwn)
		}
		return nil, fmt.Errorf("%w: open disk %s: %w", ErrUnavailable, wwn, err)
	}
	if !strings.EqualFold(disk.WWN(), wwn) {
		return nil, fmt.Errorf("%w: LUN %d now holds disk %s, not %s", ErrNotFound, lun, disk.WWN(), wwn)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.disks[key]; !ok || cur != d {
		return nil, fmt.Errorf("%w: disk %s was released while it opened", ErrNotFound, wwn)
	}
	if d.opened == nil {
		d.opened = &userspaceDevice{disk: disk}
	}
	return d.opened, nil
}

// Release syncs the disk wwn when it was opened and forgets it. An
// unknown disk is released already.
func (e *UserspaceEngine) Release(ctx context.Context, wwn string) error {
	key := strings.ToLower(wwn)
	e.mu.Lock()
	d, ok := e.disks[key]
	delete(e.disks, key)
	e.mu.Unlock()
	if !ok || d.opened == nil {
		return nil
	}
	// Handles opened before fail from now on (fence.go: a fenced node
	// re-registers only after its old handles are released).
	defer d.opened.released.Store(true)
	if err := d.opened.Sync(ctx); err != nil {
		if ctx.Err() != nil {
			return ctxError(ctx, "sync disk "+wwn)
		}
		return fmt.Errorf("%w: sync disk %s: %w", ErrUnavailable, wwn, err)
	}
	return nil
}

// Logout logs out of t's session and forgets its disks. No session to t
// is success.
func (e *UserspaceEngine) Logout(ctx context.Context, t TargetRef) error {
	e.mu.Lock()
	s, ok := e.sessions[t]
	if ok {
		delete(e.sessions, t)
		for k, d := range e.disks {
			if d.sess == s {
				delete(e.disks, k)
			}
		}
	}
	e.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-s.ready:
	case <-ctx.Done():
		return ctxError(ctx, "logout of "+t.Name)
	}
	if s.err != nil {
		return nil
	}
	err := s.sess.Logout(ctx)
	s.stop()
	<-s.done
	// A connection that ended before the Logout Response leaves the
	// session logged out as well (the target ends it with the
	// connection).
	if err != nil && !errors.Is(err, initiator.ErrSessionClosed) && !errors.Is(err, initiator.ErrConnectionLost) {
		if ctx.Err() != nil {
			return ctxError(ctx, "logout of "+t.Name)
		}
		// The session is closed either way.
		return fmt.Errorf("%w: logout of %s: %w", ErrUnavailable, t.Name, err)
	}
	return nil
}

// Disks lists the connected disks, by target and LUN.
func (e *UserspaceEngine) Disks(ctx context.Context) ([]DiskStatus, error) {
	e.mu.Lock()
	out := make([]DiskStatus, 0, len(e.disks))
	for _, d := range e.disks {
		out = append(out, d.status())
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b DiskStatus) int {
		if c := strings.Compare(a.Target, b.Target); c != 0 {
			return c
		}
		if c := strings.Compare(a.Portal, b.Portal); c != 0 {
			return c
		}
		return int(a.LUN) - int(b.LUN)
	})
	return out, nil
}

// Sessions lists the targets the engine has a session to.
func (e *UserspaceEngine) Sessions() []TargetRef {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]TargetRef, 0, len(e.sessions))
	for ref, s := range e.sessions {
		select {
		case <-s.ready:
			if s.err == nil {
				out = append(out, ref)
			}
		default:
		}
	}
	slices.SortFunc(out, func(a, b TargetRef) int {
		return strings.Compare(a.Name+" "+a.Portal, b.Name+" "+b.Portal)
	})
	return out
}

// Close logs out of every session (each bounded by DefaultLogoutTimeout)
// and stops the watchers. It never hangs: a session whose logout is not
// answered is closed.
func (e *UserspaceEngine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	sessions := make([]*userspaceSession, 0, len(e.sessions))
	for _, s := range e.sessions {
		sessions = append(sessions, s)
	}
	e.sessions = make(map[TargetRef]*userspaceSession)
	e.disks = make(map[string]*userspaceDisk)
	e.mu.Unlock()
	// Dials in progress end with the engine's context.
	e.cancel()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Go(func() {
			<-s.ready
			if s.err != nil || s.sess == nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), DefaultLogoutTimeout)
			defer cancel()
			_ = s.sess.Logout(ctx)
			_ = s.sess.Close()
		})
	}
	wg.Wait()
	e.wg.Wait()
	return nil
}

// userspaceDevice is an initiator.Disk as a BlockDevice.
type userspaceDevice struct {
	disk     *initiator.Disk
	released atomic.Bool // Release forgot the disk: I/O fails
}

// errReleased fails the I/O of a device handle after Release.
var errReleased = fmt.Errorf("%w: the disk was released on this node: open it again", ErrNotFound)

// ReadAt reads whole blocks at off.
func (d *userspaceDevice) ReadAt(p []byte, off int64) (int, error) {
	if d.released.Load() {
		return 0, errReleased
	}
	return d.disk.ReadAt(p, off)
}

// WriteAt writes whole blocks at off.
func (d *userspaceDevice) WriteAt(p []byte, off int64) (int, error) {
	if d.released.Load() {
		return 0, errReleased
	}
	return d.disk.WriteAt(p, off)
}

// WriteAtFUA writes whole blocks at off with Force Unit Access: durable
// when it returns, no SYNCHRONIZE CACHE needed.
func (d *userspaceDevice) WriteAtFUA(ctx context.Context, p []byte, off int64) (int, error) {
	if d.released.Load() {
		return 0, errReleased
	}
	return d.disk.WriteAtFUA(ctx, p, off)
}

// Size is the capacity in bytes.
func (d *userspaceDevice) Size() int64 { return d.disk.Size() }

// BlockSize is the logical block size.
func (d *userspaceDevice) BlockSize() uint32 { return uint32(d.disk.BlockSize()) }

// Sync sends SYNCHRONIZE CACHE.
func (d *userspaceDevice) Sync(ctx context.Context) error { return d.disk.Sync(ctx) }

// ctxError turns an ended context into ErrTimeout (a deadline) or its own
// error (a cancellation), naming what was being waited for.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, what, ctx.Err())
	}
	return fmt.Errorf("cluster: %s: %w", what, ctx.Err())
}
