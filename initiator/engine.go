package initiator

import (
	"context"
	"errors"
	"io"
)

// This file is the contract of a node's initiator engine, which the
// cluster package's node agent drives: lunar's own userspace initiator
// (cluster.UserspaceEngine) and the Linux kernel's through open-iscsi
// (initiator/openiscsi) both implement Engine.

// Sentinel errors an Engine wraps (with %w) so that callers can tell its
// failures apart without knowing the engine; context errors are returned
// wrapped as they are (context.DeadlineExceeded for a deadline).
var (
	// ErrEngineNotFound: the disk or session is not known to the engine.
	ErrEngineNotFound = errors.New("initiator: engine: not found")
	// ErrEngineUnavailable: the target, the engine's daemon or a device
	// cannot be reached, or the target refused the login.
	ErrEngineUnavailable = errors.New("initiator: engine: unavailable")
	// ErrEngineInvalid: a request or the engine's configuration is
	// malformed.
	ErrEngineInvalid = errors.New("initiator: engine: invalid request")
)

// DiskStatus is a disk connected on a node.
type DiskStatus struct {
	// WWN is the LUN's NAA identifier.
	WWN string `json:"wwn"`
	// Serial is the unit serial number.
	Serial string `json:"serial"`
	// Target is the target IQN.
	Target string `json:"target"`
	// Portal is the target portal.
	Portal string `json:"portal"`
	// LUN is the LUN number the node sees.
	LUN uint64 `json:"lun"`
	// Size is the capacity in bytes.
	Size int64 `json:"size"`
	// BlockSize is the logical block size.
	BlockSize uint32 `json:"block_size"`
	// Path is the node-local device path where the engine has one
	// (/dev/sdX for open-iscsi), empty for the userspace engine.
	Path string `json:"path,omitempty"`
}

// BlockDevice is a connected disk as the format step sees it.
type BlockDevice interface {
	io.ReaderAt
	io.WriterAt
	// Size is the capacity in bytes.
	Size() int64
	// BlockSize is the logical block size.
	BlockSize() uint32
	// Sync flushes the device's write cache.
	Sync(ctx context.Context) error
}

// TargetRef names a target and the portal to reach it.
type TargetRef struct {
	// Name is the target IQN.
	Name string `json:"name"`
	// Portal is "host:port".
	Portal string `json:"portal"`
}

// Engine is a node's initiator engine: lunar's userspace initiator or the
// Linux kernel's through open-iscsi. Its methods are safe for concurrent
// use; waits for different disks overlap.
type Engine interface {
	// Name names the engine ("userspace", "open-iscsi").
	Name() string
	// Login logs in to the target or reuses the session already there.
	Login(ctx context.Context, t TargetRef) error
	// WaitForDisk rescans as needed and returns once the disk with the
	// WWN is present on the target's session.
	WaitForDisk(ctx context.Context, t TargetRef, wwn string) (DiskStatus, error)
	// Open returns the connected disk for I/O.
	Open(ctx context.Context, wwn string) (BlockDevice, error)
	// Release flushes the disk and forgets it on the node.
	Release(ctx context.Context, wwn string) error
	// Logout logs out of the target's session (the caller checks no
	// disk is left on it).
	Logout(ctx context.Context, t TargetRef) error
	// Disks lists the connected disks.
	Disks(ctx context.Context) ([]DiskStatus, error)
	// Close logs out of every session.
	Close() error
}

// LUNWaiter is implemented by an Engine that can wait for a disk at the
// LUN number the storage system gave it (the map's LUN ID): lunar's
// userspace engine then identifies that LUN in the same round trip as the
// REPORT LUNS of its scan (RescanExpecting). WaitForDiskAt returns what
// WaitForDisk returns, wherever the disk turns out to be.
type LUNWaiter interface {
	WaitForDiskAt(ctx context.Context, t TargetRef, wwn string, lun uint64) (DiskStatus, error)
}

// Formatter is implemented by an Engine that formats its disks itself
// (open-iscsi: a GPT with one partition named label, then mkfs.ext4 on the
// partition with the filesystem label label). A caller formats through it
// when the engine has it, and with its own portable format otherwise.
type Formatter interface {
	// Format writes the partition table and filesystem on the connected
	// disk wwn; its previous contents are lost.
	Format(ctx context.Context, wwn, label string) error
}
