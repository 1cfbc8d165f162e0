package target

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lunarsan/lunar/scsi"
)

// ErrUnmapUnsupported is returned by a Backend that cannot deallocate.
var ErrUnmapUnsupported = errors.New("target: backend cannot unmap")

// ErrLUConfig means a LUConfig or a Resize request is not valid.
var ErrLUConfig = errors.New("target: invalid logical unit configuration")

// LUConfig describes a logical unit.
type LUConfig struct {
	// Name is the LUN's name in the store (for people and logs).
	Name string
	// NAA is the 16-byte NAA-6 identifier reported in VPD page 0x83.
	NAA [16]byte
	// Serial is the unit serial number (VPD page 0x80).
	Serial string
	// BlockSize is the logical block size: 512 or 4096.
	BlockSize uint32
	// Backend holds the blocks; its size is the LU's capacity.
	Backend Backend
	// Thin marks a thin-provisioned LU: UNMAP and WRITE SAME with UNMAP
	// deallocate.
	Thin bool
	// WriteCacheDisabled makes every write reach stable storage before
	// GOOD (WCE=0 in the caching mode page).
	WriteCacheDisabled bool
	// ReadOnly write-protects the LU.
	ReadOnly bool
}

// LU is a logical unit: the SCSI engine's state for one LUN. It is safe
// for concurrent use; commands run on it in parallel.
type LU struct {
	cfg    LUConfig
	bs     uint32
	shift  uint // log2(bs)
	blocks atomic.Uint64
	closed atomic.Bool

	// Mode parameters that MODE SELECT changes (lu_mode.go).
	modeMu sync.Mutex // serialises MODE SELECT
	wce    atomic.Bool
	dsense atomic.Bool

	locks luRangeLock

	// pr holds the reservations (pr.go).
	pr luPR

	// Unit attention log: the conditions established for every nexus
	// (but except), numbered by generation. Nexuses merge what they have
	// not seen (see Nexus).
	uaMu  sync.Mutex
	uaGen atomic.Uint64
	uaLog []luUAEvent
}

// luUAEvent is a unit attention condition established at generation gen
// for every nexus but except.
type luUAEvent struct {
	gen    uint64
	code   scsi.SenseCode
	except *Nexus
	// match, when set, limits the condition to the nexuses it selects
	// (persistent reservations, pr.go).
	match func(*Nexus) bool
}

// luUALogMax bounds the unit attention log; a nexus idle for longer than
// that many events gets the ones still logged.
const luUALogMax = 32

// NewLU returns a logical unit over cfg.Backend. The backend's size must be
// a multiple of the block size and at least one block.
func NewLU(cfg LUConfig) (*LU, error) {
	var shift uint
	switch cfg.BlockSize {
	case 512:
		shift = 9
	case 4096:
		shift = 12
	default:
		return nil, fmt.Errorf("%w: block size %d, want 512 or 4096", ErrLUConfig, cfg.BlockSize)
	}
	if cfg.Backend == nil {
		return nil, fmt.Errorf("%w: no backend", ErrLUConfig)
	}
	size := cfg.Backend.Size()
	if size < int64(cfg.BlockSize) || size%int64(cfg.BlockSize) != 0 {
		return nil, fmt.Errorf("%w: backend size %d is not a positive multiple of block size %d", ErrLUConfig, size, cfg.BlockSize)
	}
	lu := &LU{cfg: cfg, bs: cfg.BlockSize, shift: shift}
	lu.blocks.Store(uint64(size) >> shift)
	lu.wce.Store(!cfg.WriteCacheDisabled)
	return lu, nil
}

// Close syncs and closes the backend. Commands after Close fail with NOT
// READY.
func (lu *LU) Close() error {
	if lu.closed.Swap(true) {
		return nil
	}
	return lu.cfg.Backend.Close()
}

// BlockSize returns the logical block size in bytes.
func (lu *LU) BlockSize() uint32 { return lu.bs }

// Blocks returns the capacity in logical blocks.
func (lu *LU) Blocks() uint64 { return lu.blocks.Load() }

// Config returns the configuration the logical unit was created with,
// with WriteCacheDisabled reflecting the current caching mode page.
func (lu *LU) Config() LUConfig {
	c := lu.cfg
	c.WriteCacheDisabled = !lu.wce.Load()
	return c
}

// Resize grows or shrinks the backend to size bytes (a positive multiple
// of the block size) and establishes CAPACITY DATA HAS CHANGED (2A/09) for
// every nexus (SBC-3 section 4.8).
func (lu *LU) Resize(size int64) error {
	if size < int64(lu.bs) || size%int64(lu.bs) != 0 {
		return fmt.Errorf("%w: size %d is not a positive multiple of block size %d", ErrLUConfig, size, lu.bs)
	}
	if err := lu.cfg.Backend.Resize(size); err != nil {
		return err
	}
	lu.blocks.Store(uint64(size) >> lu.shift)
	lu.establishUA(scsi.SenseCapacityDataHasChanged, nil)
	return nil
}

// Reset applies the effects of a LOGICAL UNIT RESET received on from.
// SAM-5 section 6.3.3 (logical unit reset): the logical unit shall
// "establish a unit attention condition for the SCSI initiator port
// associated with every I_T nexus" with BUS DEVICE RESET FUNCTION
// OCCURRED (29/03) — the nexus that asked included. Aborting the tasks is
// the iSCSI layer's part (it cancels their contexts).
func (lu *LU) Reset(from *Nexus) {
	_ = from
	lu.prResetSPC2()
	lu.establishUA(scsi.SenseBusDeviceResetFunctionOccurred, nil)
}

// ModeParametersChanged establishes MODE PARAMETERS CHANGED (2A/01) for
// every nexus but from (SPC-4 section 7.5.1: "the device server shall
// establish a unit attention condition ... for the initiator port
// associated with every I_T nexus except the I_T nexus on which the MODE
// SELECT command was received").
func (lu *LU) ModeParametersChanged(from *Nexus) {
	lu.establishUA(scsi.SenseModeParametersChanged, from)
}

// establishUA logs a unit attention condition for every nexus but except.
func (lu *LU) establishUA(code scsi.SenseCode, except *Nexus) {
	lu.establishUAEvent(luUAEvent{code: code, except: except})
}

// establishUAWhere logs a unit attention condition for the nexuses match
// selects.
func (lu *LU) establishUAWhere(code scsi.SenseCode, match func(*Nexus) bool) {
	lu.establishUAEvent(luUAEvent{code: code, match: match})
}

// establishUAEvent logs ev with the next generation.
func (lu *LU) establishUAEvent(ev luUAEvent) {
	lu.uaMu.Lock()
	defer lu.uaMu.Unlock()
	g := lu.uaGen.Load() + 1
	if len(lu.uaLog) >= luUALogMax {
		copy(lu.uaLog, lu.uaLog[1:])
		lu.uaLog = lu.uaLog[:len(lu.uaLog)-1]
	}
	ev.gen = g
	lu.uaLog = append(lu.uaLog, ev)
	lu.uaGen.Store(g)
}

// luUAMerge adds to st the conditions logged after generation since that
// apply to n, and returns the generation merged up to.
func (lu *LU) luUAMerge(since uint64, n *Nexus, st *nexusLU) uint64 {
	lu.uaMu.Lock()
	defer lu.uaMu.Unlock()
	for _, ev := range lu.uaLog {
		if ev.gen > since && ev.except != n && (ev.match == nil || ev.match(n)) {
			st.add(ev.code)
		}
	}
	return lu.uaGen.Load()
}
