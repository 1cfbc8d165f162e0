package openiscsi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/initiator"
)

// EngineName is the Name of the Engine.
const EngineName = "open-iscsi"

// Defaults of the zero-valued Config fields.
const (
	DefaultIscsiadm          = "iscsiadm"
	DefaultMkfs              = "mkfs.ext4"
	DefaultSysfs             = "/sys"
	DefaultDev               = "/dev"
	DefaultInitiatorNameFile = "/etc/iscsi/initiatorname.iscsi"
	// DefaultMinBackoff and DefaultMaxBackoff bound the waits between a
	// disk wait's rescans, doubling from the first to the second.
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
	// DefaultCloseTimeout bounds each logout in Close.
	DefaultCloseTimeout = 10 * time.Second
)

// Config configures an Engine.
type Config struct {
	// InitiatorName, when set, must be the host's initiator name, which
	// iscsid reads from InitiatorNameFile at its start; New fails when
	// they differ.
	InitiatorName string
	// InitiatorNameFile is open-iscsi's initiator name file; "" means
	// DefaultInitiatorNameFile.
	InitiatorNameFile string
	// CHAP, when set, is what the initiator proves to the targets (set
	// in each node record as node.session.auth.username/password).
	CHAP *initiator.CHAP
	// MutualCHAP, when set, is what the targets must prove back
	// (node.session.auth.username_in/password_in).
	MutualCHAP *initiator.CHAP
	// Iscsiadm is the iscsiadm program; "" means DefaultIscsiadm (found
	// in PATH).
	Iscsiadm string
	// Mkfs is the mkfs.ext4 (or mke2fs) program Format runs; "" means
	// DefaultMkfs.
	Mkfs string
	// Sysfs is where sysfs is mounted; "" means DefaultSysfs.
	Sysfs string
	// Dev is where the device nodes are; "" means DefaultDev.
	Dev string
	// Run runs the programs; nil means ExecRunner.
	Run Runner
	// MinBackoff and MaxBackoff bound the waits between rescans while a
	// disk is awaited; zero means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// LogoutOnClose makes Close log out of the sessions this engine
	// logged in to. By default the kernel's sessions outlive the agent,
	// as the disks an application uses must: a disconnect logs out.
	LogoutOnClose bool
	// Logger receives the engine's log; the zero value is silent.
	Logger zerolog.Logger
}

// Engine is an initiator.Engine over the Linux kernel's iSCSI initiator:
// it drives iscsid through iscsiadm (discovery, node records with CHAP,
// login, logout, rescans) and finds disks in sysfs by the WWN of their
// Device Identification VPD page, as /dev/sdX. Calls that change
// open-iscsi's node database run one at a time; waits for disks overlap.
// It is safe for concurrent use.
type Engine struct {
	cfg Config
	adm *iscsiadm
	sys sysfs

	mu      sync.Mutex
	closed  bool
	opened  map[string]*Device           // by lower-case WWN
	logins  map[initiator.TargetRef]bool // sessions this engine logged in to
	formats map[string]*sync.Mutex       // one format per disk at a time
}

var (
	_ initiator.Engine    = (*Engine)(nil)
	_ initiator.Formatter = (*Engine)(nil)
)

// New returns an engine. It checks cfg.InitiatorName against the host's
// initiator name file when both are there.
func New(cfg Config) (*Engine, error) {
	if cfg.Iscsiadm == "" {
		cfg.Iscsiadm = DefaultIscsiadm
	}
	if cfg.Mkfs == "" {
		cfg.Mkfs = DefaultMkfs
	}
	if cfg.Sysfs == "" {
		cfg.Sysfs = DefaultSysfs
	}
	if cfg.Dev == "" {
		cfg.Dev = DefaultDev
	}
	if cfg.InitiatorNameFile == "" {
		cfg.InitiatorNameFile = DefaultInitiatorNameFile
	}
	if cfg.Run == nil {
		cfg.Run = ExecRunner
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.InitiatorName != "" {
		host, err := ReadInitiatorName(cfg.InitiatorNameFile)
		if err == nil && host != cfg.InitiatorName {
			return nil, engineError(ErrInvalid, "initiator name %q, but iscsid logs in as %q (%s): set InitiatorName=%s there and restart iscsid, or use the host's name",
				cfg.InitiatorName, host, cfg.InitiatorNameFile, cfg.InitiatorName)
		}
	}
	return &Engine{
		cfg:     cfg,
		adm:     newIscsiadm(cfg.Iscsiadm, cfg.Run),
		sys:     sysfs{root: cfg.Sysfs},
		opened:  make(map[string]*Device),
		logins:  make(map[initiator.TargetRef]bool),
		formats: make(map[string]*sync.Mutex),
	}, nil
}

// ReadInitiatorName reads the InitiatorName= line of open-iscsi's
// initiator name file.
func ReadInitiatorName(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("openiscsi: initiator name: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "InitiatorName="); ok && v != "" {
			return v, nil
		}
	}
	return "", engineError(ErrSetup, "%s has no InitiatorName= line", path)
}

// Name returns "open-iscsi".
func (e *Engine) Name() string { return EngineName }

var errClosed = engineError(ErrFailed, "engine closed")

func (e *Engine) isClosed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closed
}

func checkRef(t initiator.TargetRef) error {
	if t.Name == "" || t.Portal == "" {
		return engineError(ErrInvalid, "target %q at portal %q: both are required", t.Name, t.Portal)
	}
	if _, _, err := net.SplitHostPort(t.Portal); err != nil {
		return engineError(ErrInvalid, "portal %q: want host:port", t.Portal)
	}
	return nil
}

// ctxErr wraps an ended context's error (context.DeadlineExceeded for a
// deadline) naming what was being done.
func ctxErr(ctx context.Context, what string) error {
	return fmt.Errorf("openiscsi: %s: %w", what, ctx.Err())
}

// sessionsFor returns the kernel's sessions to t: those at t's portal, or
// when none is, every session to t's target name (a portal given by host
// name, or the target advertising another address).
func (e *Engine) sessionsFor(t initiator.TargetRef) ([]sysSession, error) {
	all, err := e.sys.sessions()
	if err != nil {
		return nil, err
	}
	var exact, named []sysSession
	for _, s := range all {
		if s.Target != t.Name {
			continue
		}
		named = append(named, s)
		if samePortal(s.Portal, t.Portal) {
			exact = append(exact, s)
		}
	}
	if len(exact) > 0 {
		return exact, nil
	}
	return named, nil
}

func samePortal(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	if pa != pb {
		return false
	}
	ia, ib := net.ParseIP(ha), net.ParseIP(hb)
	if ia != nil && ib != nil {
		return ia.Equal(ib)
	}
	return strings.EqualFold(ha, hb)
}

// Login logs in to t, or returns at once when the kernel has a session to
// it. Under the node database lock it runs SendTargets discovery at t's
// portal, creates t's node record when discovery did not (a target that
// advertises another address), sets CHAP in the record and logs in. A
// refused login fails with an *ExitError matching ErrAuthFailed (24) or
// ErrLoginFailed; an ended context with its error.
func (e *Engine) Login(ctx context.Context, t initiator.TargetRef) error {
	if err := checkRef(t); err != nil {
		return err
	}
	if e.isClosed() {
		return errClosed
	}
	if ss, err := e.sessionsFor(t); err == nil && len(ss) > 0 {
		return nil
	}
	if err := e.adm.lock(ctx); err != nil {
		return err
	}
	defer e.adm.unlock()
	// Another Login may have logged in while this one waited.
	if ss, err := e.sessionsFor(t); err == nil && len(ss) > 0 {
		return nil
	}
	node := []string{"-m", "node", "-T", t.Name, "-p", t.Portal}
	out, err := e.adm.exec(ctx, "discovery at "+t.Portal, "", "-m", "discovery", "-t", "st", "-p", t.Portal)
	if ctx.Err() != nil {
		return ctxErr(ctx, "discovery at "+t.Portal)
	}
	found := false
	if err == nil {
		for _, d := range ParseDiscovery(out) {
			if d.Target == t.Name && samePortal(d.Portal, t.Portal) {
				found = true
			}
		}
	} else {
		e.cfg.Logger.Debug().Err(err).Str("portal", t.Portal).Msg("discovery failed; creating the node record")
	}
	if !found {
		if _, err := e.adm.exec(ctx, "create the node record of "+t.Name, "", append(node, "-o", "new")...); err != nil {
			return err
		}
	}
	set := func(name, value string, secret bool) error {
		s := ""
		if secret {
			s = value
		}
		_, err := e.adm.exec(ctx, "set "+name+" of "+t.Name, s, append(node, "-o", "update", "-n", name, "-v", value)...)
		return err
	}
	if c := e.cfg.CHAP; c != nil {
		if err := set("node.session.auth.authmethod", "CHAP", false); err != nil {
			return err
		}
		if err := set("node.session.auth.username", c.Name, false); err != nil {
			return err
		}
		if err := set("node.session.auth.password", string(c.Secret), true); err != nil {
			return err
		}
		if m := e.cfg.MutualCHAP; m != nil {
			if err := set("node.session.auth.username_in", m.Name, false); err != nil {
				return err
			}
			if err := set("node.session.auth.password_in", string(m.Secret), true); err != nil {
				return err
			}
		}
	}
	_, err = e.adm.exec(ctx, "login to "+t.Name+" at "+t.Portal, "", append(node, "--login")...)
	if err != nil && !errors.Is(err, ErrSessionExists) {
		if ctx.Err() != nil {
			return ctxErr(ctx, "login to "+t.Name)
		}
		return err
	}
	e.mu.Lock()
	e.logins[t] = true
	e.mu.Unlock()
	e.cfg.Logger.Info().Str("target", t.Name).Str("portal", t.Portal).Msg("logged in")
	return nil
}

// rescan asks the kernel to scan session sid for new LUNs (REPORT LUNS).
// It does not touch the node database, so rescans run concurrently.
func (e *Engine) rescan(ctx context.Context, sid int) error {
	_, err := e.adm.exec(ctx, "rescan session "+strconv.Itoa(sid), "", "-m", "session", "-r", strconv.Itoa(sid), "--rescan")
	return err
}

// findDisk returns the disk with the WWN, when it is on one of sids (any
// session when sids is nil) and its device node exists.
func (e *Engine) findDisk(wwn string, sids []int) (sysDisk, bool, error) {
	disks, err := e.sys.disks()
	if err != nil {
		return sysDisk{}, false, err
	}
	for _, d := range disks {
		if !strings.EqualFold(d.WWN, wwn) || d.SID < 0 || d.Size == 0 {
			continue
		}
		if sids != nil && !slices.Contains(sids, d.SID) {
			continue
		}
		if _, err := os.Stat(filepath.Join(e.cfg.Dev, d.Name)); err != nil {
			continue
		}
		return d, true, nil
	}
	return sysDisk{}, false, nil
}

// WaitForDisk returns once the disk whose WWN is wwn is present on t's
// session, as /dev/sdX. It looks in sysfs, and while the disk is not
// there it rescans the session and looks again, waiting between rounds
// from MinBackoff doubling to MaxBackoff, until ctx ends (then it fails
// with ctx's error: context.DeadlineExceeded for a deadline). Waits for
// different disks overlap.
func (e *Engine) WaitForDisk(ctx context.Context, t initiator.TargetRef, wwn string) (initiator.DiskStatus, error) {
	if wwn == "" {
		return initiator.DiskStatus{}, engineError(ErrInvalid, "no WWN to wait for")
	}
	if err := checkRef(t); err != nil {
		return initiator.DiskStatus{}, err
	}
	backoff := e.cfg.MinBackoff
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for round := 0; ; round++ {
		if e.isClosed() {
			return initiator.DiskStatus{}, errClosed
		}
		ss, err := e.sessionsFor(t)
		if err != nil {
			return initiator.DiskStatus{}, err
		}
		if len(ss) == 0 {
			return initiator.DiskStatus{}, engineError(ErrNoObjects, "no session to %s at %s: log in first", t.Name, t.Portal)
		}
		sids := make([]int, len(ss))
		for i, s := range ss {
			sids[i] = s.SID
		}
		d, ok, err := e.findDisk(wwn, sids)
		if err != nil {
			return initiator.DiskStatus{}, err
		}
		if ok {
			st := e.status(d, ss)
			e.cfg.Logger.Debug().Str("wwn", wwn).Str("path", st.Path).Int("rounds", round).Msg("disk arrived")
			return st, nil
		}
		// The kernel scans a session at login but not when a LUN is
		// mapped later (the REPORTED LUNS DATA HAS CHANGED unit attention
		// is only logged): rescan, then look again.
		for _, sid := range sids {
			if err := e.rescan(ctx, sid); err != nil && ctx.Err() == nil {
				e.cfg.Logger.Debug().Err(err).Int("sid", sid).Msg("rescan")
			}
		}
		if d, ok, _ := e.findDisk(wwn, sids); ok {
			return e.status(d, ss), nil
		}
		if timer == nil {
			timer = time.NewTimer(backoff)
		} else {
			timer.Reset(backoff)
		}
		select {
		case <-ctx.Done():
			return initiator.DiskStatus{}, ctxErr(ctx, "disk "+wwn+" did not arrive on "+t.Name)
		case <-timer.C:
		}
		backoff = min(2*backoff, e.cfg.MaxBackoff)
	}
}

// status describes a sysfs disk, with its session's target and portal.
func (e *Engine) status(d sysDisk, ss []sysSession) initiator.DiskStatus {
	st := initiator.DiskStatus{
		WWN: d.WWN, Serial: d.Serial, LUN: d.LUN, Size: d.Size, BlockSize: d.BlockSize,
		Path: filepath.Join(e.cfg.Dev, d.Name),
	}
	for _, s := range ss {
		if s.SID == d.SID {
			st.Target, st.Portal = s.Target, s.Portal
		}
	}
	return st
}

// Open returns the disk wwn's /dev node opened for direct I/O (the same
// Device for every Open until Release). A disk not on any iSCSI session
// fails with ErrNoDisk.
func (e *Engine) Open(ctx context.Context, wwn string) (initiator.BlockDevice, error) {
	return e.open(ctx, wwn)
}

func (e *Engine) open(ctx context.Context, wwn string) (*Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxErr(ctx, "open disk "+wwn)
	}
	key := strings.ToLower(wwn)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, errClosed
	}
	if dev, ok := e.opened[key]; ok {
		e.mu.Unlock()
		return dev, nil
	}
	e.mu.Unlock()
	d, ok, err := e.findDisk(wwn, nil)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, engineError(ErrNoDisk, "disk %s is not connected on this host", wwn)
	}
	dev, err := OpenDevice(filepath.Join(e.cfg.Dev, d.Name), d.Size, d.BlockSize)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur, ok := e.opened[key]; ok {
		dev.Close()
		return cur, nil
	}
	e.opened[key] = dev
	return dev, nil
}

// Release flushes the disk wwn (fsync, then BLKFLSBUF) and deletes its
// SCSI device through sysfs, then waits until the kernel removed it. A
// disk that is not there is released already.
func (e *Engine) Release(ctx context.Context, wwn string) error {
	key := strings.ToLower(wwn)
	e.mu.Lock()
	dev := e.opened[key]
	delete(e.opened, key)
	delete(e.formats, key)
	e.mu.Unlock()
	if dev != nil {
		dev.Close()
	}
	d, ok, err := e.findDisk(wwn, nil)
	if err != nil || !ok {
		return err
	}
	if err := flushDevice(filepath.Join(e.cfg.Dev, d.Name)); err != nil {
		return engineError(ErrBusy, "release %s (%s): %v", wwn, d.Name, err)
	}
	if err := e.sys.deleteDevice(d.Name); err != nil {
		return engineError(ErrBusy, "release %s: %v", wwn, err)
	}
	if err := e.waitGone(ctx, d.Name); err != nil {
		return err
	}
	e.cfg.Logger.Info().Str("wwn", wwn).Str("disk", d.Name).Msg("released")
	return nil
}

// waitGone waits until block device name left sysfs.
func (e *Engine) waitGone(ctx context.Context, name string) error {
	backoff := 10 * time.Millisecond
	t := time.NewTimer(backoff)
	defer t.Stop()
	for e.sys.present(name) {
		select {
		case <-ctx.Done():
			return ctxErr(ctx, "wait for "+name+" to go away")
		case <-t.C:
		}
		backoff = min(2*backoff, e.cfg.MaxBackoff)
		t.Reset(backoff)
	}
	return nil
}

// Logout logs out of the kernel's sessions to t that have no disk left
// (a session that still carries a disk is kept: another application may
// use it) and deletes t's node record. No session is success.
func (e *Engine) Logout(ctx context.Context, t initiator.TargetRef) error {
	if err := checkRef(t); err != nil {
		return err
	}
	ss, err := e.sessionsFor(t)
	if err != nil {
		return err
	}
	disks, err := e.sys.disks()
	if err != nil {
		return err
	}
	if err := e.adm.lock(ctx); err != nil {
		return err
	}
	defer e.adm.unlock()
	kept := 0
	for _, s := range ss {
		if slices.ContainsFunc(disks, func(d sysDisk) bool { return d.SID == s.SID }) {
			kept++
			e.cfg.Logger.Info().Int("sid", s.SID).Str("target", t.Name).Msg("session still has disks; not logging out")
			continue
		}
		_, err := e.adm.exec(ctx, "logout of session "+strconv.Itoa(s.SID)+" to "+t.Name, "", "-m", "session", "-r", strconv.Itoa(s.SID), "--logout")
		if err != nil && !errors.Is(err, ErrNoObjects) {
			if ctx.Err() != nil {
				return ctxErr(ctx, "logout of "+t.Name)
			}
			return err
		}
	}
	e.mu.Lock()
	delete(e.logins, t)
	e.mu.Unlock()
	if kept == 0 {
		// No session left: drop the record so the host does not log in
		// again at boot.
		_, err := e.adm.exec(ctx, "delete the node record of "+t.Name, "", "-m", "node", "-T", t.Name, "-p", t.Portal, "-o", "delete")
		if err != nil && !errors.Is(err, ErrNoObjects) {
			e.cfg.Logger.Debug().Err(err).Msg("delete node record")
		}
	}
	return nil
}

// Disks lists the disks on the kernel's iSCSI sessions, by target, portal
// and LUN.
func (e *Engine) Disks(ctx context.Context) ([]initiator.DiskStatus, error) {
	ss, err := e.sys.sessions()
	if err != nil {
		return nil, err
	}
	disks, err := e.sys.disks()
	if err != nil {
		return nil, err
	}
	out := make([]initiator.DiskStatus, 0, len(disks))
	for _, d := range disks {
		if d.SID < 0 || d.Size == 0 {
			continue
		}
		out = append(out, e.status(d, ss))
	}
	slices.SortFunc(out, func(a, b initiator.DiskStatus) int {
		return cmp.Or(strings.Compare(a.Target, b.Target), strings.Compare(a.Portal, b.Portal), cmp.Compare(a.LUN, b.LUN))
	})
	return out, nil
}

// Sessions lists the kernel's iSCSI sessions (iscsiadm -m session); none
// is an empty list.
func (e *Engine) Sessions(ctx context.Context) ([]Session, error) {
	out, err := e.adm.exec(ctx, "list sessions", "", "-m", "session")
	if errors.Is(err, ErrNoObjects) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseSessions(out), nil
}

// Close closes the opened devices and, with LogoutOnClose, logs out of
// the sessions this engine logged in to (each bounded by
// DefaultCloseTimeout). Later calls fail.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	devs := e.opened
	e.opened = make(map[string]*Device)
	refs := make([]initiator.TargetRef, 0, len(e.logins))
	for t := range e.logins {
		refs = append(refs, t)
	}
	e.mu.Unlock()
	for _, d := range devs {
		d.Close()
	}
	if !e.cfg.LogoutOnClose {
		return nil
	}
	var errs []error
	for _, t := range refs {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultCloseTimeout)
		errs = append(errs, e.Logout(ctx, t))
		cancel()
	}
	return errors.Join(errs...)
}
