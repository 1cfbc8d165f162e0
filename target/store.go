package target

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Store errors. Every error a Store operation returns for a bad request
// is a *StoreError that wraps exactly one of these; match with errors.Is.
var (
	// ErrStoreInvalid means a request is malformed: a bad name, size,
	// block size, iSCSI name, LUN id or CHAP secret.
	ErrStoreInvalid = errors.New("target: invalid request")
	// ErrStoreNotFound means a named LUN, initiator group, target, map or
	// CHAP credential does not exist.
	ErrStoreNotFound = errors.New("target: not found")
	// ErrStoreConflict means the request contradicts the current
	// configuration: a name already taken, a LUN id in use, a LUN still
	// mapped, a shrink without force.
	ErrStoreConflict = errors.New("target: conflict")
	// ErrStoreClosed means the Store was closed.
	ErrStoreClosed = errors.New("target: store closed")
)

// StoreError is a refused Store request. Code is a stable, machine
// readable reason (for example "lun_not_found"), which the management API
// returns as its error code.
type StoreError struct {
	// Kind is ErrStoreInvalid, ErrStoreNotFound or ErrStoreConflict.
	Kind error
	// Code is the stable error code.
	Code string
	// Message says what is wrong and, where it helps, what to do.
	Message string
}

// Error returns the message prefixed with the package name.
func (e *StoreError) Error() string { return "target: " + e.Message }

// Unwrap returns Kind.
func (e *StoreError) Unwrap() error { return e.Kind }

func storeInvalid(code, format string, args ...any) error {
	return &StoreError{Kind: ErrStoreInvalid, Code: code, Message: fmt.Sprintf(format, args...)}
}

func storeNotFound(code, format string, args ...any) error {
	return &StoreError{Kind: ErrStoreNotFound, Code: code, Message: fmt.Sprintf(format, args...)}
}

func storeConflict(code, format string, args ...any) error {
	return &StoreError{Kind: ErrStoreConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Store limits and defaults.
const (
	// DefaultOUI is the IEEE company id put in LUN WWNs when
	// StoreConfig.OUI is zero (ASCII "lun").
	DefaultOUI = 0x6c756e
	// DefaultTargetPrefix starts the default target's IQN; the rest is
	// derived from the host name.
	DefaultTargetPrefix = "iqn.2026-11.org.lunar:"
	// MaxLUNSize is the largest LUN size the store accepts (1 PiB).
	MaxLUNSize = 1 << 50
	// MaxLUNID is the largest LUN id a map may use: the 14-bit flat space
	// LUN of SAM-5.
	MaxLUNID = scsi.MaxFlatLUN
	// MaxIGroupInitiators bounds the initiators in one initiator group.
	MaxIGroupInitiators = 4096
	// MaxTargetAlias bounds a target alias (a 255-byte text value, RFC
	// 7143 section 6.1).
	MaxTargetAlias = 255
)

// storeNameRE is what LUN and initiator group names must match.
var storeNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)

// StoreConfig configures a Store. The zero value of every field but
// DataDir has a documented default.
type StoreConfig struct {
	// DataDir holds config.json and the LUN files under luns/. It is
	// created when absent.
	DataDir string
	// OUI is the 24-bit IEEE company id in new LUN WWNs; zero means
	// DefaultOUI. It is recorded in config.json at first start.
	OUI uint32
	// DefaultTarget is the IQN of the target created at first start;
	// empty means DefaultTargetPrefix plus a name derived from the host
	// name ("default" when none fits).
	DefaultTarget string
	// OnViewChange is called after every change with, per target, the
	// initiators whose view of that target changed. It runs while the
	// store serialises changes: it may read the Directory but must not
	// change the store. SetOnViewChange replaces it.
	OnViewChange func(target string, initiators []string)
	// OpenBackend opens a LUN's backing file, creating it (sparse when
	// thin, allocated when thick) or resizing it to size. Nil means
	// OpenFileBackend.
	OpenBackend func(path string, size int64, thin bool) (Backend, error)
	// Rand is the source of WWNs and serials; nil means crypto/rand.
	Rand io.Reader
	// Logger receives the store's events; the zero value is silent.
	Logger zerolog.Logger
}

// LUNCreate is a request to create a LUN.
type LUNCreate struct {
	// Name is the LUN's name: 1 to 64 of [a-zA-Z0-9._-].
	Name string `json:"name"`
	// Size is the capacity in bytes: positive and a multiple of
	// BlockSize.
	Size int64 `json:"size"`
	// BlockSize is 512 or 4096; zero means 512.
	BlockSize uint32 `json:"block_size,omitempty"`
	// Thick allocates the whole file at creation; otherwise it is sparse.
	Thick bool `json:"thick,omitempty"`
	// Maps maps the new LUN at once, in the same configuration change: a
	// LUN and its first maps in one request (one round trip), and no
	// LUN left behind when a map is refused. Each map's LUN is the new
	// LUN's name (leave it empty).
	Maps []MapCreate `json:"maps,omitempty"`
}

// LUNResize is a request to change a LUN's size.
type LUNResize struct {
	// Size is the new capacity in bytes.
	Size int64 `json:"size"`
	// Force allows shrinking, which discards the LUN's tail.
	Force bool `json:"force,omitempty"`
}

// IGroupCreate is a request to create an initiator group.
type IGroupCreate struct {
	// Name is the group's name: 1 to 64 of [a-zA-Z0-9._-].
	Name string `json:"name"`
	// Initiators are the member initiators' iSCSI names.
	Initiators []string `json:"initiators"`
}

// MapCreate is a request to map a LUN to an initiator group.
type MapCreate struct {
	// LUN is the LUN's name.
	LUN string `json:"lun"`
	// IGroup is the initiator group's name.
	IGroup string `json:"igroup"`
	// Target is the target's IQN; empty means the default target.
	Target string `json:"target,omitempty"`
	// LUNID is the LUN number the group's initiators see; nil means the
	// lowest free one.
	LUNID *uint64 `json:"lun_id,omitempty"`
}

// TargetCreate is a request to create a target.
type TargetCreate struct {
	// Name is the target's iSCSI name.
	Name string `json:"name"`
	// Alias is the optional TargetAlias.
	Alias string `json:"alias,omitempty"`
}

// CHAPSecret is a CHAP user name and secret, as the API carries it.
type CHAPSecret struct {
	// Name is the CHAP user name (CHAP_N).
	Name string `json:"name"`
	// Secret is the shared secret: 12 to 255 bytes.
	Secret string `json:"secret"`
}

// LUNInfo describes a LUN.
type LUNInfo struct {
	// Name is the LUN's name.
	Name string `json:"name"`
	// Size is the capacity in bytes.
	Size int64 `json:"size"`
	// BlockSize is the logical block size.
	BlockSize uint32 `json:"block_size"`
	// Thin reports a sparse (thin-provisioned) LUN.
	Thin bool `json:"thin"`
	// WWN is the NAA-6 identifier as "naa." and 32 hex digits.
	WWN string `json:"wwn"`
	// Serial is the unit serial number.
	Serial string `json:"serial"`
	// Path is the backing file.
	Path string `json:"path"`
	// Maps lists where the LUN is mapped.
	Maps []MapInfo `json:"maps"`
	// Initiators lists, per target, the initiators that see the LUN.
	Initiators []InitiatorLUN `json:"initiators"`
	// Sessions lists the logged-in sessions that see the LUN (filled in
	// by the management API from the server's sessions).
	Sessions []LUNSession `json:"sessions,omitempty"`
}

// LUNSession is a session that sees a LUN.
type LUNSession struct {
	// Target is the target's IQN.
	Target string `json:"target"`
	// Initiator is the initiator's iSCSI name.
	Initiator string `json:"initiator"`
	// ISID is the session's ISID in hex.
	ISID string `json:"isid"`
	// TSIH is the target-assigned session handle.
	TSIH uint16 `json:"tsih"`
	// LUNID is the LUN number the session sees the LUN at.
	LUNID uint64 `json:"lun_id"`
}

// InitiatorLUN is one initiator's sight of a LUN through a target.
type InitiatorLUN struct {
	// Target is the target's IQN.
	Target string `json:"target"`
	// Initiator is the initiator's iSCSI name.
	Initiator string `json:"initiator"`
	// LUNID is the LUN number the initiator sees.
	LUNID uint64 `json:"lun_id"`
}

// MapInfo is one LUN map.
type MapInfo struct {
	// Target is the target's IQN.
	Target string `json:"target"`
	// IGroup is the initiator group.
	IGroup string `json:"igroup"`
	// LUN is the LUN's name.
	LUN string `json:"lun"`
	// LUNID is the LUN number the group sees.
	LUNID uint64 `json:"lun_id"`
}

// IGroupInfo describes an initiator group.
type IGroupInfo struct {
	// Name is the group's name.
	Name string `json:"name"`
	// Initiators are the members, normalised and sorted.
	Initiators []string `json:"initiators"`
	// Maps lists the group's LUN maps.
	Maps []MapInfo `json:"maps"`
}

// TargetInfo describes a target.
type TargetInfo struct {
	// Name is the target's IQN.
	Name string `json:"name"`
	// Alias is the TargetAlias, if any.
	Alias string `json:"alias,omitempty"`
	// Default reports the default target.
	Default bool `json:"default"`
	// MutualCHAP is the user name the target proves itself with, if
	// mutual CHAP is set.
	MutualCHAP string `json:"mutual_chap,omitempty"`
	// Maps counts the LUN maps on the target.
	Maps int `json:"maps"`
}

// CHAPInfo says which CHAP user name an initiator must use (the secret is
// never shown).
type CHAPInfo struct {
	// Initiator is the initiator's iSCSI name.
	Initiator string `json:"initiator"`
	// Name is the CHAP user name.
	Name string `json:"name"`
}

// storeLUN is a LUN's open state.
type storeLUN struct {
	lu      *LU
	backend Backend
}

// Store is the target's configuration: targets, LUNs, initiator groups,
// LUN maps and CHAP credentials, persisted in a data directory. It
// implements Directory with lock-free lookups of immutable snapshots.
// Its methods are safe for concurrent use; changes are serialised.
type Store struct {
	dir         string
	openBackend func(path string, size int64, thin bool) (Backend, error)
	rand        io.Reader
	log         zerolog.Logger

	mu     sync.Mutex // serialises changes; guards conf, luns, closed
	conf   *storeConfig
	luns   map[string]*storeLUN
	closed bool
	// queued holds the changes waiting for the next group commit: the
	// goroutine that next takes the committer token commits all of them
	// with one write.
	queueMu sync.Mutex
	queued  []*storeChange
	// committer is the group-commit token: the goroutine that holds it
	// (a value in the channel) commits the queued changes. A waiter
	// selects on it and on its own outcome, so that a change another
	// goroutine committed returns at once instead of queueing for mu
	// behind the next commit's fsync.
	committer chan struct{}
	// cur is conf for the readers that need no lock (IGroup, Maps, ...):
	// a configuration is replaced, never changed, once current, so they
	// never wait for a commit's write.
	cur atomic.Pointer[storeConfig]
	// persistHook, when set (tests), runs before each persistence step
	// and aborts the write at that step when it returns an error, as a
	// crash there would.
	persistHook func(step string) error

	snap     atomic.Pointer[storeSnapshot]
	onChange atomic.Pointer[func(target string, initiators []string)]
}

// NewStore opens the store in dataDir, creating it at first start, with
// the defaults of StoreConfig.
func NewStore(dataDir string) (*Store, error) {
	return OpenStore(StoreConfig{DataDir: dataDir})
}

// OpenStore opens the store cfg describes: it loads config.json (or
// writes the first one, with the default target), then opens every LUN's
// backing file.
func OpenStore(cfg StoreConfig) (*Store, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("target: store needs a data directory")
	}
	if cfg.OUI > 0xffffff {
		return nil, fmt.Errorf("target: OUI %#x: want at most 24 bits", cfg.OUI)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("target: data directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, storeLUNDir), 0o700); err != nil {
		return nil, fmt.Errorf("target: data directory: %w", err)
	}
	s := &Store{
		dir:         dir,
		openBackend: cfg.OpenBackend,
		rand:        cfg.Rand,
		log:         cfg.Logger,
		luns:        make(map[string]*storeLUN),
		committer:   make(chan struct{}, 1),
	}
	if s.openBackend == nil {
		s.openBackend = storeOpenFileBackend
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if cfg.OnViewChange != nil {
		fn := cfg.OnViewChange
		s.onChange.Store(&fn)
	}
	storeRemoveTemps(dir)
	conf, err := storeLoad(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		conf, err = storeInitialConfig(cfg)
		if err != nil {
			return nil, err
		}
		if err := s.persist(conf); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	for _, l := range conf.LUNs {
		st, err := s.openLUN(l, false)
		if err != nil {
			s.closeLUNs()
			return nil, err
		}
		s.luns[l.Name] = st
	}
	s.conf = conf
	s.cur.Store(conf)
	s.snap.Store(storeBuildSnapshot(conf, s.luns))
	s.log.Info().Str("dir", dir).Int("luns", len(conf.LUNs)).Msg("store opened")
	return s, nil
}

// storeInitialConfig is the configuration of a new data directory.
func storeInitialConfig(cfg StoreConfig) (*storeConfig, error) {
	oui := cfg.OUI
	if oui == 0 {
		oui = DefaultOUI
	}
	name := cfg.DefaultTarget
	if name == "" {
		host, _ := os.Hostname()
		name = storeDefaultTargetName(host)
	}
	n, err := iscsi.NormalizeName(name)
	if err != nil {
		return nil, fmt.Errorf("target: default target %q: %w", name, err)
	}
	return &storeConfig{
		Version:       storeConfigVersion,
		OUI:           oui,
		DefaultTarget: n,
		Targets:       []storeTargetConf{{Name: n}},
	}, nil
}

// storeDefaultTargetName derives the default target's IQN from a host
// name: lower case, only letters, digits, '-' and '.', or "default".
func storeDefaultTargetName(host string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			b.WriteRune(r)
		}
	}
	suffix := strings.Trim(b.String(), ".-")
	if suffix == "" || len(suffix) > 64 {
		suffix = "default"
	}
	name := DefaultTargetPrefix + suffix
	if _, err := iscsi.ParseName(name); err != nil {
		return DefaultTargetPrefix + "default"
	}
	return name
}

// DataDir returns the store's data directory (absolute).
func (s *Store) DataDir() string { return s.dir }

// DefaultTarget returns the default target's IQN.
func (s *Store) DefaultTarget() string {
	return s.snap.Load().defaultTarget
}

// SetOnViewChange replaces the view-change callback (see
// StoreConfig.OnViewChange); nil removes it.
func (s *Store) SetOnViewChange(fn func(target string, initiators []string)) {
	if fn == nil {
		s.onChange.Store(nil)
		return
	}
	s.onChange.Store(&fn)
}

// Close closes every LUN's backend (syncing it). The Directory stays
// readable; changes fail with ErrStoreClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeLUNs()
}

func (s *Store) closeLUNs() error {
	var errs []error
	for name, l := range s.luns {
		if err := l.lu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("target: close LUN %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// storeLUNDir is the LUN files' directory under the data directory.
const storeLUNDir = "luns"

// lunPath returns the backing file of LUN name: always under the data
// directory's luns/, never a path from the user. name has been validated
// against storeNameRE, which admits no path separator.
func (s *Store) lunPath(name string) string {
	return filepath.Join(s.dir, storeLUNDir, name+".img")
}

// openLUN opens (create: creates) a LUN's backend and logical unit.
func (s *Store) openLUN(l storeLUNConf, create bool) (*storeLUN, error) {
	naa, err := scsi.ParseNAA(l.WWN)
	if err != nil || len(naa) != 16 {
		return nil, fmt.Errorf("target: LUN %s: bad WWN %q in config", l.Name, l.WWN)
	}
	path := s.lunPath(l.Name)
	if create {
		// A file the configuration does not name was never acknowledged
		// (a crash between creating it and persisting): replace it.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("target: LUN %s: %w", l.Name, err)
		}
	}
	b, err := s.openBackend(path, l.Size, l.Thin)
	if err != nil {
		return nil, fmt.Errorf("target: LUN %s: open %s: %w", l.Name, path, err)
	}
	cfg := LUConfig{Name: l.Name, Serial: l.Serial, BlockSize: l.BlockSize, Backend: b, Thin: l.Thin}
	copy(cfg.NAA[:], naa)
	lu, err := NewLU(cfg)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("target: LUN %s: %w", l.Name, err)
	}
	if err := lu.RestorePersistentReservations(l.PR, s.prPersister(l.Name)); err != nil {
		b.Close()
		return nil, fmt.Errorf("target: LUN %s: %w", l.Name, err)
	}
	return &storeLUN{lu: lu, backend: b}, nil
}

// storeChange is one change queued for a group commit; done receives its
// outcome.
type storeChange struct {
	fn   func(c *storeConfig) error
	done chan error
}

// change runs one serialised change: fn edits a copy of the
// configuration (returning a StoreError to refuse), the copy is persisted
// atomically, then it becomes current, views are rebuilt and the
// view-change callback runs.
//
// Changes that arrive while another is being written are committed
// together (group commit): each is applied in arrival order on its own copy
// (a refused change leaves no trace), then one write persists all those
// accepted and each caller gets its own outcome. Many nodes mapping their
// igroups at once thus cost a few fsyncs, not one each.
func (s *Store) change(ctx context.Context, fn func(c *storeConfig) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	me := &storeChange{fn: fn, done: make(chan error, 1)}
	s.queueMu.Lock()
	s.queued = append(s.queued, me)
	s.queueMu.Unlock()

	select {
	case err := <-me.done: // committed by the goroutine that held the token
		return err
	case s.committer <- struct{}{}:
	}
	// The token's holder commits everything queued, this change included
	// unless the previous holder took it (then its outcome is sent
	// already).
	s.mu.Lock()
	s.queueMu.Lock()
	batch := s.queued
	s.queued = nil
	s.queueMu.Unlock()
	if len(batch) > 0 {
		s.commit(batch)
	}
	s.mu.Unlock()
	<-s.committer
	return <-me.done
}

// commit applies and persists a batch of queued changes (s.mu held) and
// sends each its outcome.
func (s *Store) commit(batch []*storeChange) {
	if s.closed {
		for _, c := range batch {
			c.done <- ErrStoreClosed
		}
		return
	}
	next := s.conf
	accepted := batch[:0:0]
	for _, c := range batch {
		try := next.clone()
		if err := c.fn(try); err != nil {
			c.done <- err
			continue
		}
		next = try
		accepted = append(accepted, c)
	}
	if len(accepted) == 0 {
		return
	}
	err := s.persist(next)
	if err == nil || errors.Is(err, errStoreUnsynced) {
		s.apply(next)
	}
	for _, c := range accepted {
		c.done <- err
	}
}

// apply makes c current (s.mu held): rebuilds the views and reports the
// initiators whose view changed.
func (s *Store) apply(c *storeConfig) {
	s.conf = c
	s.cur.Store(c)
	old := s.snap.Load()
	next := storeBuildSnapshot(c, s.luns)
	s.snap.Store(next)
	if p := s.onChange.Load(); p != nil {
		for _, ch := range storeDiff(old, next) {
			(*p)(ch.target, ch.initiators)
		}
	}
}

// CreateLUN creates a LUN with a new WWN and serial, and its backing
// file.
func (s *Store) CreateLUN(ctx context.Context, req LUNCreate) (LUNInfo, error) {
	if req.BlockSize == 0 {
		req.BlockSize = 512
	}
	if err := storeCheckName("LUN", req.Name); err != nil {
		return LUNInfo{}, err
	}
	if req.BlockSize != 512 && req.BlockSize != 4096 {
		return LUNInfo{}, storeInvalid("invalid_block_size", "block size %d: want 512 or 4096", req.BlockSize)
	}
	if err := storeCheckSize(req.Size, req.BlockSize); err != nil {
		return LUNInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return LUNInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return LUNInfo{}, ErrStoreClosed
	}
	if _, ok := s.conf.lun(req.Name); ok {
		return LUNInfo{}, storeConflict("lun_exists", "LUN %s already exists: pick another name or delete it first", req.Name)
	}
	next := s.conf.clone()
	wwn, serial, err := s.newIdentity(next)
	if err != nil {
		return LUNInfo{}, err
	}
	l := storeLUNConf{Name: req.Name, Size: req.Size, BlockSize: req.BlockSize, Thin: !req.Thick, WWN: wwn, Serial: serial}
	next.LUNs = append(next.LUNs, l)
	next.sort()
	for _, m := range req.Maps {
		if m.LUN != "" && m.LUN != req.Name {
			return LUNInfo{}, storeInvalid("invalid_map", "map of LUN %s in the create request of LUN %s: leave the map's LUN empty", m.LUN, req.Name)
		}
		if m.LUNID != nil && *m.LUNID > MaxLUNID {
			return LUNInfo{}, storeInvalid("invalid_lun_id", "LUN id %d: want 0 to %d", *m.LUNID, MaxLUNID)
		}
		m.LUN = req.Name
		if _, err := next.addMap(m); err != nil {
			return LUNInfo{}, err
		}
	}
	// The file first, then the configuration: a crash in between leaves
	// an unnamed file, which the next create of that name replaces.
	st, err := s.openLUN(l, true)
	if err != nil {
		return LUNInfo{}, err
	}
	if err := s.persist(next); err != nil {
		if errors.Is(err, errStoreUnsynced) {
			s.luns[l.Name] = st
			s.apply(next)
			return LUNInfo{}, err
		}
		st.lu.Close()
		os.Remove(s.lunPath(l.Name))
		return LUNInfo{}, err
	}
	s.luns[l.Name] = st
	s.apply(next)
	s.log.Info().Str("lun", l.Name).Int64("size", l.Size).Str("wwn", wwn).Msg("LUN created")
	return s.conf.lunInfo(s, l), nil
}

// newIdentity draws a WWN and serial used by no LUN, present or retired.
func (s *Store) newIdentity(c *storeConfig) (wwn, serial string, err error) {
	for range 16 {
		var b [16]byte
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return "", "", fmt.Errorf("target: random WWN: %w", err)
		}
		vendor := binary.BigEndian.Uint64(b[0:8]) & (1<<36 - 1)
		ext := binary.BigEndian.Uint64(b[8:16])
		d := scsi.VPDNAA6Designator(c.OUI, vendor, ext)
		wwn = scsi.FormatNAA(d.Designator)
		serial = strings.ToUpper(fmt.Sprintf("%09x%016x", vendor, ext))
		if !c.identityUsed(wwn, serial) {
			return wwn, serial, nil
		}
	}
	return "", "", errors.New("target: could not draw an unused WWN")
}

// ResizeLUN changes a LUN's size; shrinking needs req.Force. The logical
// unit raises CAPACITY DATA HAS CHANGED on every nexus.
func (s *Store) ResizeLUN(ctx context.Context, name string, req LUNResize) (LUNInfo, error) {
	if err := ctx.Err(); err != nil {
		return LUNInfo{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return LUNInfo{}, ErrStoreClosed
	}
	i, ok := s.conf.lun(name)
	if !ok {
		return LUNInfo{}, storeNotFound("lun_not_found", "LUN %s not found: see lunar lun list", name)
	}
	old := s.conf.LUNs[i]
	if err := storeCheckSize(req.Size, old.BlockSize); err != nil {
		return LUNInfo{}, err
	}
	if req.Size < old.Size && !req.Force {
		return LUNInfo{}, storeConflict("shrink_refused", "LUN %s: shrinking from %d to %d bytes discards data: use force to shrink", name, old.Size, req.Size)
	}
	if req.Size == old.Size {
		return s.conf.lunInfo(s, old), nil
	}
	next := s.conf.clone()
	next.LUNs[i].Size = req.Size
	st := s.luns[name]
	if err := storeResizeLU(st, req.Size); err != nil {
		return LUNInfo{}, fmt.Errorf("target: resize LUN %s: %w", name, err)
	}
	if err := s.persist(next); err != nil {
		if errors.Is(err, errStoreUnsynced) {
			s.apply(next)
			return LUNInfo{}, err
		}
		if rerr := storeResizeLU(st, old.Size); rerr != nil {
			s.log.Error().Err(rerr).Str("lun", name).Msg("resize rollback failed")
		}
		return LUNInfo{}, err
	}
	s.apply(next)
	s.log.Info().Str("lun", name).Int64("size", req.Size).Msg("LUN resized")
	return s.conf.lunInfo(s, next.LUNs[i]), nil
}

// DeleteLUN deletes a LUN and its backing file. A mapped LUN is refused
// unless force, which unmaps it everywhere first. Its WWN and serial are
// retired, never to be reused.
func (s *Store) DeleteLUN(ctx context.Context, name string, force bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	i, ok := s.conf.lun(name)
	if !ok {
		return storeNotFound("lun_not_found", "LUN %s not found: see lunar lun list", name)
	}
	next := s.conf.clone()
	maps := next.mapsWhere(func(m storeMapConf) bool { return m.LUN == name })
	if len(maps) > 0 && !force {
		return storeConflict("lun_mapped", "LUN %s is mapped %d time(s): unmap it first or use force", name, len(maps))
	}
	l := next.LUNs[i]
	next.Maps = slices.DeleteFunc(next.Maps, func(m storeMapConf) bool { return m.LUN == name })
	next.LUNs = slices.Delete(next.LUNs, i, i+1)
	next.RetiredWWNs = append(next.RetiredWWNs, l.WWN)
	next.RetiredSerials = append(next.RetiredSerials, l.Serial)
	// The configuration first, then the file: a crash in between leaves
	// an unnamed file, never a LUN without its file.
	err := s.persist(next)
	if err != nil && !errors.Is(err, errStoreUnsynced) {
		return err
	}
	st := s.luns[name]
	delete(s.luns, name)
	s.apply(next)
	if err := st.lu.Close(); err != nil {
		s.log.Warn().Err(err).Str("lun", name).Msg("closing deleted LUN")
	}
	if err := os.Remove(s.lunPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn().Err(err).Str("lun", name).Msg("removing deleted LUN's file")
	}
	s.log.Info().Str("lun", name).Msg("LUN deleted")
	return err
}

// LUNs lists every LUN, sorted by name.
func (s *Store) LUNs() []LUNInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LUNInfo, 0, len(s.conf.LUNs))
	for _, l := range s.conf.LUNs {
		out = append(out, s.conf.lunInfo(s, l))
	}
	return out
}

// LUN describes one LUN.
func (s *Store) LUN(name string) (LUNInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.conf.lun(name)
	if !ok {
		return LUNInfo{}, storeNotFound("lun_not_found", "LUN %s not found: see lunar lun list", name)
	}
	return s.conf.lunInfo(s, s.conf.LUNs[i]), nil
}

// LogicalUnit returns the logical unit of LUN name.
func (s *Store) LogicalUnit(name string) (*LU, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.luns[name]
	if !ok {
		return nil, false
	}
	return st.lu, true
}

// CreateIGroup creates an initiator group.
func (s *Store) CreateIGroup(ctx context.Context, req IGroupCreate) (IGroupInfo, error) {
	if err := storeCheckName("initiator group", req.Name); err != nil {
		return IGroupInfo{}, err
	}
	if len(req.Initiators) > MaxIGroupInitiators {
		return IGroupInfo{}, storeInvalid("too_many_initiators", "%d initiators: at most %d per group", len(req.Initiators), MaxIGroupInitiators)
	}
	var members []string
	for _, in := range req.Initiators {
		n, err := storeCheckInitiator(in)
		if err != nil {
			return IGroupInfo{}, err
		}
		if slices.Contains(members, n) {
			return IGroupInfo{}, storeInvalid("duplicate_initiator", "initiator %s is listed twice", n)
		}
		members = append(members, n)
	}
	slices.Sort(members)
	var info IGroupInfo
	err := s.change(ctx, func(c *storeConfig) error {
		if _, ok := c.igroup(req.Name); ok {
			return storeConflict("igroup_exists", "initiator group %s already exists: add initiators to it with lunar igroup add", req.Name)
		}
		g := storeIGroupConf{Name: req.Name, Initiators: members}
		c.IGroups = append(c.IGroups, g)
		c.sort()
		info = c.igroupInfo(g)
		return nil
	})
	return info, err
}

// DeleteIGroup deletes an initiator group; one with LUN maps is refused
// unless force, which removes its maps.
func (s *Store) DeleteIGroup(ctx context.Context, name string, force bool) error {
	return s.change(ctx, func(c *storeConfig) error {
		i, ok := c.igroup(name)
		if !ok {
			return storeNotFound("igroup_not_found", "initiator group %s not found: see lunar igroup list", name)
		}
		maps := c.mapsWhere(func(m storeMapConf) bool { return m.IGroup == name })
		if len(maps) > 0 && !force {
			return storeConflict("igroup_mapped", "initiator group %s has %d LUN map(s): unmap them first or use force", name, len(maps))
		}
		c.Maps = slices.DeleteFunc(c.Maps, func(m storeMapConf) bool { return m.IGroup == name })
		c.IGroups = slices.Delete(c.IGroups, i, i+1)
		return nil
	})
}

// AddInitiator adds an initiator to a group. It is refused when the
// initiator would then see two different LUNs at one LUN id.
func (s *Store) AddInitiator(ctx context.Context, group, initiator string) (IGroupInfo, error) {
	n, err := storeCheckInitiator(initiator)
	if err != nil {
		return IGroupInfo{}, err
	}
	var info IGroupInfo
	err = s.change(ctx, func(c *storeConfig) error {
		i, ok := c.igroup(group)
		if !ok {
			return storeNotFound("igroup_not_found", "initiator group %s not found: see lunar igroup list", group)
		}
		g := &c.IGroups[i]
		if slices.Contains(g.Initiators, n) {
			return storeConflict("initiator_exists", "initiator %s is already in group %s", n, group)
		}
		if len(g.Initiators) >= MaxIGroupInitiators {
			return storeInvalid("too_many_initiators", "group %s has %d initiators: at most %d", group, len(g.Initiators), MaxIGroupInitiators)
		}
		for _, m := range c.mapsWhere(func(m storeMapConf) bool { return m.IGroup == group }) {
			if other, ok := c.initiatorSees(m.Target, n, m.LUNID); ok && other.LUN != m.LUN {
				return storeConflict("lun_id_in_use", "initiator %s already sees LUN %s at LUN id %d on %s through group %s, where group %s maps LUN %s: change one of the maps first", n, other.LUN, m.LUNID, m.Target, other.IGroup, group, m.LUN)
			}
		}
		g.Initiators = append(g.Initiators, n)
		slices.Sort(g.Initiators)
		info = c.igroupInfo(*g)
		return nil
	})
	return info, err
}

// RemoveInitiator removes an initiator from a group.
func (s *Store) RemoveInitiator(ctx context.Context, group, initiator string) (IGroupInfo, error) {
	n, err := storeCheckInitiator(initiator)
	if err != nil {
		return IGroupInfo{}, err
	}
	var info IGroupInfo
	err = s.change(ctx, func(c *storeConfig) error {
		i, ok := c.igroup(group)
		if !ok {
			return storeNotFound("igroup_not_found", "initiator group %s not found: see lunar igroup list", group)
		}
		g := &c.IGroups[i]
		j := slices.Index(g.Initiators, n)
		if j < 0 {
			return storeNotFound("initiator_not_found", "initiator %s is not in group %s", n, group)
		}
		g.Initiators = slices.Delete(g.Initiators, j, j+1)
		info = c.igroupInfo(*g)
		return nil
	})
	return info, err
}

// IGroups lists every initiator group, sorted by name.
func (s *Store) IGroups() []IGroupInfo {
	c := s.cur.Load()
	out := make([]IGroupInfo, 0, len(c.IGroups))
	for _, g := range c.IGroups {
		out = append(out, c.igroupInfo(g))
	}
	return out
}

// IGroup describes one initiator group.
func (s *Store) IGroup(name string) (IGroupInfo, error) {
	c := s.cur.Load()
	i, ok := c.igroup(name)
	if !ok {
		return IGroupInfo{}, storeNotFound("igroup_not_found", "initiator group %s not found: see lunar igroup list", name)
	}
	return c.igroupInfo(c.IGroups[i]), nil
}

// Map maps a LUN to an initiator group on a target. Without an id it
// takes the lowest one free in the group and in each member's view; an id
// already used in the group, or at which a member already sees another
// LUN through another group, is refused.
func (s *Store) Map(ctx context.Context, req MapCreate) (MapInfo, error) {
	if req.LUNID != nil && *req.LUNID > MaxLUNID {
		return MapInfo{}, storeInvalid("invalid_lun_id", "LUN id %d: want 0 to %d", *req.LUNID, MaxLUNID)
	}
	var out MapInfo
	err := s.change(ctx, func(c *storeConfig) error {
		m, err := c.addMap(req)
		out = MapInfo(m)
		return err
	})
	return out, err
}

// addMap adds the map req asks for to c, choosing the lowest free LUN id
// when req names none.
func (c *storeConfig) addMap(req MapCreate) (storeMapConf, error) {
	target := req.Target
	if target == "" {
		target = c.DefaultTarget
	}
	t, err := c.findTarget(target)
	if err != nil {
		return storeMapConf{}, err
	}
	if _, ok := c.lun(req.LUN); !ok {
		return storeMapConf{}, storeNotFound("lun_not_found", "LUN %s not found: create it with lunar lun create", req.LUN)
	}
	gi, ok := c.igroup(req.IGroup)
	if !ok {
		return storeMapConf{}, storeNotFound("igroup_not_found", "initiator group %s not found: create it with lunar igroup create", req.IGroup)
	}
	g := c.IGroups[gi]
	for _, m := range c.Maps {
		if m.Target == t && m.IGroup == g.Name && m.LUN == req.LUN {
			return storeMapConf{}, storeConflict("lun_already_mapped", "LUN %s is already mapped to group %s on %s at LUN id %d", req.LUN, g.Name, t, m.LUNID)
		}
	}
	free := func(id uint64) error {
		for _, m := range c.Maps {
			if m.Target == t && m.IGroup == g.Name && m.LUNID == id {
				return storeConflict("lun_id_in_use", "LUN id %d is taken by LUN %s in group %s on %s: pick another id or leave it out", id, m.LUN, g.Name, t)
			}
		}
		for _, in := range g.Initiators {
			if other, ok := c.initiatorSees(t, in, id); ok && other.LUN != req.LUN {
				return storeConflict("lun_id_in_use", "initiator %s of group %s already sees LUN %s at LUN id %d on %s through group %s: pick another id or leave it out", in, g.Name, other.LUN, id, t, other.IGroup)
			}
		}
		return nil
	}
	var id uint64
	if req.LUNID != nil {
		id = *req.LUNID
		if err := free(id); err != nil {
			return storeMapConf{}, err
		}
	} else {
		for id = 0; ; id++ {
			if id > MaxLUNID {
				return storeMapConf{}, storeConflict("no_free_lun_id", "no LUN id is free in group %s on %s", g.Name, t)
			}
			if free(id) == nil {
				if _, taken := c.anyInitiatorSees(t, g.Initiators, id); !taken {
					break
				}
			}
		}
	}
	m := storeMapConf{Target: t, IGroup: g.Name, LUN: req.LUN, LUNID: id}
	c.Maps = append(c.Maps, m)
	c.sort()
	return m, nil
}

// Unmap removes the map of LUN id lunID of a group on a target.
func (s *Store) Unmap(ctx context.Context, target, igroup string, lunID uint64) error {
	return s.change(ctx, func(c *storeConfig) error {
		if target == "" {
			target = c.DefaultTarget
		}
		t, err := c.findTarget(target)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(c.Maps, func(m storeMapConf) bool {
			return m.Target == t && m.IGroup == igroup && m.LUNID == lunID
		})
		if i < 0 {
			return storeNotFound("map_not_found", "no LUN is mapped at LUN id %d to group %s on %s: see lunar lun show", lunID, igroup, t)
		}
		c.Maps = slices.Delete(c.Maps, i, i+1)
		return nil
	})
}

// Maps lists every LUN map, sorted by target, group and LUN id.
func (s *Store) Maps() []MapInfo {
	c := s.cur.Load()
	out := make([]MapInfo, 0, len(c.Maps))
	for _, m := range c.Maps {
		out = append(out, MapInfo(m))
	}
	return out
}

// CreateTarget creates a target.
func (s *Store) CreateTarget(ctx context.Context, req TargetCreate) (TargetInfo, error) {
	n, err := iscsi.NormalizeName(req.Name)
	if err != nil {
		return TargetInfo{}, storeInvalid("invalid_target_name", "target name %q is not an iSCSI name (want iqn.YYYY-MM.reversed.domain[:suffix], eui. or naa.): %v", req.Name, err)
	}
	if len(req.Alias) > MaxTargetAlias || strings.ContainsRune(req.Alias, 0) {
		return TargetInfo{}, storeInvalid("invalid_alias", "alias: at most %d bytes, no NUL", MaxTargetAlias)
	}
	var info TargetInfo
	err = s.change(ctx, func(c *storeConfig) error {
		if _, ok := c.target(n); ok {
			return storeConflict("target_exists", "target %s already exists", n)
		}
		t := storeTargetConf{Name: n, Alias: req.Alias}
		c.Targets = append(c.Targets, t)
		c.sort()
		info = c.targetInfo(t)
		return nil
	})
	return info, err
}

// DeleteTarget deletes a target; one with LUN maps is refused unless
// force, which removes them. The default target cannot be deleted.
func (s *Store) DeleteTarget(ctx context.Context, name string, force bool) error {
	return s.change(ctx, func(c *storeConfig) error {
		t, err := c.findTarget(name)
		if err != nil {
			return err
		}
		if t == c.DefaultTarget {
			return storeConflict("target_is_default", "target %s is the default target and cannot be deleted", t)
		}
		maps := c.mapsWhere(func(m storeMapConf) bool { return m.Target == t })
		if len(maps) > 0 && !force {
			return storeConflict("target_mapped", "target %s has %d LUN map(s): unmap them first or use force", t, len(maps))
		}
		c.Maps = slices.DeleteFunc(c.Maps, func(m storeMapConf) bool { return m.Target == t })
		i, _ := c.target(t)
		c.Targets = slices.Delete(c.Targets, i, i+1)
		return nil
	})
}

// TargetList lists every target, sorted by name.
func (s *Store) TargetList() []TargetInfo {
	c := s.cur.Load()
	out := make([]TargetInfo, 0, len(c.Targets))
	for _, t := range c.Targets {
		out = append(out, c.targetInfo(t))
	}
	return out
}

// SetTargetCHAP sets the credentials a target proves itself with in
// mutual CHAP.
func (s *Store) SetTargetCHAP(ctx context.Context, target string, cred CHAPSecret) error {
	if err := storeCheckCHAP(cred); err != nil {
		return err
	}
	return s.change(ctx, func(c *storeConfig) error {
		t, err := c.findTarget(target)
		if err != nil {
			return err
		}
		i, _ := c.target(t)
		c.Targets[i].MutualCHAP = &storeCHAPConf{Name: cred.Name, Secret: cred.Secret}
		return nil
	})
}

// ClearTargetCHAP removes a target's mutual CHAP credentials.
func (s *Store) ClearTargetCHAP(ctx context.Context, target string) error {
	return s.change(ctx, func(c *storeConfig) error {
		t, err := c.findTarget(target)
		if err != nil {
			return err
		}
		i, _ := c.target(t)
		if c.Targets[i].MutualCHAP == nil {
			return storeNotFound("chap_not_found", "target %s has no mutual CHAP credentials", t)
		}
		c.Targets[i].MutualCHAP = nil
		return nil
	})
}

// SetCHAP sets the CHAP credentials an initiator must log in with.
func (s *Store) SetCHAP(ctx context.Context, initiator string, cred CHAPSecret) error {
	n, err := storeCheckInitiator(initiator)
	if err != nil {
		return err
	}
	if err := storeCheckCHAP(cred); err != nil {
		return err
	}
	return s.change(ctx, func(c *storeConfig) error {
		i := slices.IndexFunc(c.CHAP, func(x storeInitiatorCHAP) bool { return x.Initiator == n })
		e := storeInitiatorCHAP{Initiator: n, Name: cred.Name, Secret: cred.Secret}
		if i < 0 {
			c.CHAP = append(c.CHAP, e)
		} else {
			c.CHAP[i] = e
		}
		c.sort()
		return nil
	})
}

// ClearCHAP removes an initiator's CHAP credentials.
func (s *Store) ClearCHAP(ctx context.Context, initiator string) error {
	n, err := storeCheckInitiator(initiator)
	if err != nil {
		return err
	}
	return s.change(ctx, func(c *storeConfig) error {
		i := slices.IndexFunc(c.CHAP, func(x storeInitiatorCHAP) bool { return x.Initiator == n })
		if i < 0 {
			return storeNotFound("chap_not_found", "initiator %s has no CHAP credentials", n)
		}
		c.CHAP = slices.Delete(c.CHAP, i, i+1)
		return nil
	})
}

// CHAPList lists the initiators with CHAP credentials (names only).
func (s *Store) CHAPList() []CHAPInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CHAPInfo, 0, len(s.conf.CHAP))
	for _, x := range s.conf.CHAP {
		out = append(out, CHAPInfo{Initiator: x.Initiator, Name: x.Name})
	}
	return out
}

// storeCheckName validates a LUN or initiator group name.
func storeCheckName(what, name string) error {
	if !storeNameRE.MatchString(name) || name == "." || name == ".." {
		return storeInvalid("invalid_name", "%s name %q: want 1 to 64 letters, digits, '.', '_' or '-'", what, name)
	}
	return nil
}

// storeCheckSize validates a LUN size against its block size.
func storeCheckSize(size int64, bs uint32) error {
	if size <= 0 || size > MaxLUNSize {
		return storeInvalid("invalid_size", "size %d bytes: want more than 0 and at most %d (1 PiB)", size, int64(MaxLUNSize))
	}
	if size%int64(bs) != 0 {
		return storeInvalid("invalid_size", "size %d bytes is not a multiple of the %d-byte block size: round it to %d", size, bs, (size/int64(bs)+1)*int64(bs))
	}
	return nil
}

// storeCheckInitiator validates and normalises an initiator name.
func storeCheckInitiator(s string) (string, error) {
	n, err := iscsi.NormalizeName(s)
	if err != nil {
		return "", storeInvalid("invalid_initiator", "initiator %q is not an iSCSI name (want iqn.YYYY-MM.reversed.domain[:suffix], eui. or naa.): %v", s, err)
	}
	return n, nil
}

// storeCheckCHAP validates CHAP credentials.
func storeCheckCHAP(c CHAPSecret) error {
	if c.Name == "" || len(c.Name) > iscsi.MaxCHAPNameLen || strings.ContainsRune(c.Name, 0) {
		return storeInvalid("invalid_chap_name", "CHAP name: want 1 to %d bytes, no NUL", iscsi.MaxCHAPNameLen)
	}
	if err := iscsi.ValidateCHAPSecret([]byte(c.Secret)); err != nil {
		return storeInvalid("invalid_chap_secret", "CHAP secret of %d bytes: want %d to %d bytes (%v)", len(c.Secret), iscsi.MinCHAPSecretLen, iscsi.MaxCHAPSecretLen, err)
	}
	return nil
}

// storeRandomHex returns n random bytes in hex.
func storeRandomHex(r io.Reader, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// storeRandReader is the token's random source.
func storeRandReader() io.Reader { return rand.Reader }

// storeOpenFileBackend opens a LUN's file with the engine's file backend.
// A file whose size differs from the configuration's (a crash between
// resizing the file and persisting the new size) is brought back to the
// configured size: the configuration is what was acknowledged.
func storeOpenFileBackend(path string, size int64, thin bool) (Backend, error) {
	b, err := OpenFileBackend(path, size, thin)
	if !errors.Is(err, ErrBackendSize) {
		return b, err
	}
	b, err = OpenFileBackend(path, 0, thin)
	if err != nil {
		return nil, err
	}
	if err := b.Resize(size); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// storeResizeLU resizes a LUN's logical unit, which raises CAPACITY DATA
// HAS CHANGED on every nexus.
func storeResizeLU(st *storeLUN, size int64) error {
	return st.lu.Resize(size)
}

// StoreCounts are the store's sizes, for metrics.
type StoreCounts struct {
	// LUNs is the number of LUNs.
	LUNs int
	// Capacity is the LUNs' total size in bytes.
	Capacity int64
	// IGroups is the number of initiator groups.
	IGroups int
	// Maps is the number of LUN maps.
	Maps int
	// Targets is the number of targets.
	Targets int
}

// Counts returns the store's sizes.
func (s *Store) Counts() StoreCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := StoreCounts{LUNs: len(s.conf.LUNs), IGroups: len(s.conf.IGroups), Maps: len(s.conf.Maps), Targets: len(s.conf.Targets)}
	for _, l := range s.conf.LUNs {
		n.Capacity += l.Size
	}
	return n
}
