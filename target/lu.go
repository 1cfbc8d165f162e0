package target

import (
	"errors"
	"fmt"
)

// ErrUnmapUnsupported is returned by a Backend that cannot deallocate.
var ErrUnmapUnsupported = errors.New("target: backend cannot unmap")

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

// LU is a logical unit: the SCSI engine's state for one LUN.
type LU struct {
	cfg LUConfig
}

// NewLU returns a logical unit over cfg.Backend.
func NewLU(cfg LUConfig) (*LU, error) {
	if cfg.BlockSize != 512 && cfg.BlockSize != 4096 {
		return nil, fmt.Errorf("target: block size %d: want 512 or 4096", cfg.BlockSize)
	}
	if cfg.Backend == nil {
		return nil, errors.New("target: LU without a backend")
	}
	return &LU{cfg: cfg}, nil
}
