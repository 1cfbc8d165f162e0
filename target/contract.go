package target

import (
	"context"
	"io"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// This file is the contract between the target's three layers: the SCSI
// engine (logical units over backends, unit attentions), the iSCSI layer
// (portals, login, sessions, connections, tasks) and the storage
// management layer (the configuration store, access control and the
// management API). Each layer depends on the others only through what is
// declared here.

// Backend is where a logical unit's blocks live: a regular file, or memory
// in tests. Offsets and lengths are in bytes; the logical unit keeps them
// within Size and aligned to its block size.
type Backend interface {
	io.ReaderAt
	io.WriterAt
	// Size returns the backend's size in bytes.
	Size() int64
	// Sync makes every completed write stable (fdatasync for files).
	Sync() error
	// Unmap deallocates a byte range so that it reads back as zeros
	// (hole punching for files). Backends that cannot return
	// ErrUnmapUnsupported.
	Unmap(off, n int64) error
	// Resize grows or shrinks the backend to size bytes.
	Resize(size int64) error
	// Close releases the backend; it syncs first.
	Close() error
}

// View is what one initiator sees through one target: its LUN map,
// resolved to logical units. Views are immutable snapshots; a management
// change builds a new one.
type View interface {
	// Lookup returns the logical unit mapped at LUN number n.
	Lookup(n uint64) (*LU, bool)
	// LUNs returns the mapped LUN numbers in ascending order.
	LUNs() []uint64
}

// Task is one SCSI command handed from the iSCSI layer to the SCSI engine,
// with its write data already gathered.
type Task struct {
	// Ctx is cancelled when the task is aborted (ABORT TASK, ABORT TASK
	// SET, LUN RESET, connection loss); the engine stops at the next
	// block boundary and reports TASK ABORTED.
	Ctx context.Context
	// Nexus is the I_T nexus the command arrived on.
	Nexus *Nexus
	// View is the initiator's LUN map at the time the command arrived.
	View View
	// LUN is the addressed LUN number (decoded SAM LUN structure).
	LUN uint64
	// CDB is the command descriptor block.
	CDB []byte
	// Attr is the task attribute.
	Attr iscsi.TaskAttr
	// ExpectedDataTransferLength is the initiator's Expected Data
	// Transfer Length.
	ExpectedDataTransferLength uint32
	// DataOut holds the write data received (at most the Expected Data
	// Transfer Length); nil for commands without Data-Out.
	DataOut []byte
	// DataIn is the buffer for read data, len = the Expected Data
	// Transfer Length (capped by the layer that allocates it). The
	// engine fills a prefix and reports its length in Result.DataIn.
	DataIn []byte
}

// Result is the SCSI engine's answer to a Task.
type Result struct {
	// Status is the SCSI status.
	Status scsi.Status
	// Sense is the sense data for CHECK CONDITION, encoded as the LU's
	// D_SENSE setting asks (fixed or descriptor format).
	Sense []byte
	// DataIn is how many bytes of Task.DataIn hold read data.
	DataIn int
	// Transfer is how many bytes the command itself would move (the
	// parameter data available, cut at its allocation length, or blocks
	// times block size), from which the
	// iSCSI layer computes residual overflow and underflow against the
	// Expected Data Transfer Length (RFC 7143 section 11.4.5).
	Transfer int
}

// Executor runs SCSI tasks. *Engine implements it.
type Executor interface {
	// Execute runs t and returns its result. It never panics on any CDB
	// or data; it blocks until the task completes or t.Ctx is done.
	Execute(t *Task) Result
}

// Directory is what the iSCSI layer asks the storage management layer
// during login and discovery. The management layer's *Store implements
// it; tests may supply their own.
type Directory interface {
	// Targets returns the names of every target, sorted.
	Targets() []string
	// TargetAlias returns a target's alias and whether the target exists.
	TargetAlias(target string) (alias string, ok bool)
	// Access reports whether initiator may log in to target (it has at
	// least one LUN mapped there) and the CHAP credentials that apply.
	Access(target, initiator string) Access
	// View returns the initiator's current view of target.
	View(target, initiator string) View
}

// Access is the outcome of an access-control lookup.
type Access struct {
	// Allowed reports whether the initiator may log in.
	Allowed bool
	// CHAP, when set, requires CHAP: the initiator must prove Secret
	// under Name.
	CHAP *CHAPCredentials
	// MutualCHAP, when set, is what the target proves back.
	MutualCHAP *CHAPCredentials
}

// CHAPCredentials is a CHAP user name and secret.
type CHAPCredentials struct {
	// Name is the CHAP_N value.
	Name string
	// Secret is the shared secret.
	Secret []byte
}

// QuickExecutor is an Executor that tells, from a CDB alone, the commands
// it completes at once: no backend I/O, no waiting on anything but a
// short lock (INQUIRY, REPORT LUNS, READ CAPACITY, TEST UNIT READY, ...).
// The iSCSI layer runs those on the connection's reader goroutine instead
// of handing them to a task worker, which spares a goroutine switch each
// and keeps a burst of them (a disk scan) in one reply write.
type QuickExecutor interface {
	Executor
	Quick(cdb []byte) bool
}
