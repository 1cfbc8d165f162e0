package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/lunarsan/lunar/initiator"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Fencing: the owner of a resource group holds a SCSI-3 persistent
// reservation of type Write Exclusive – Registrants Only on each of the
// group's disks, every node that connected a disk registers its key on
// it, and a node that takes a group over registers its key and PREEMPT
// AND ABORTs the old owner's key, as fence_scsi does. A preempted node's
// I_T nexus is no longer registered, so the target answers its writes
// with RESERVATION CONFLICT whatever the election in etcd says.
//
// The rule for a fenced node: it re-registers its key on a disk only
// after it has released the disk (Engine.Release, which makes every
// handle opened before fail) and connected it again, so no write queued
// under its old ownership can pass under the new registration. A
// Failover follows the rule when its node loses a group: it drops its
// claim, releases the group's disks, waits for the new owner and
// connects them again (which registers the key) as a passive node.

// FenceType is the persistent reservation a group's owner holds on each
// disk: Write Exclusive – Registrants Only (type 5). The owner and the
// registered passive nodes may write; a preempted node may not.
const FenceType = scsi.PRTypeWriteExclusiveRegistrantsOnly

// Steps of the fencing and of a failover (they extend contract.go's).
const (
	StepPRRegister Step = "pr-register" // the node registers its key on the disk
	StepReserve    Step = "reserve"     // the owner holds the reservation
	StepDetect     Step = "detect"      // the owner's lease was seen gone
	StepCampaign   Step = "campaign"    // the node won the group's election
	StepFence      Step = "fence"       // PREEMPT AND ABORT of the old owner's key
	StepCheck      Step = "check"       // READ RESERVATION shows this node
	StepOwner      Step = "owner"       // the group records the new owner
	StepResign     Step = "resign"      // the old owner resigned (planned move)
)

// ErrNoReservations is returned when a node's initiator engine cannot
// send persistent reservation commands (it does not implement Reserver):
// such a node cannot fence, so it refuses to take a group over.
var ErrNoReservations = errors.New("cluster: the initiator engine has no persistent reservations (it does not implement Reserver); this node cannot fence the old owner, so it cannot take a group over")

// ErrFenced reports a node that lost a disk's reservation: another node
// preempted its key.
var ErrFenced = errors.New("cluster: fenced: another node holds the disk's reservation")

// Reserver is an Engine that sends PERSISTENT RESERVE IN and OUT to a
// connected disk. The UserspaceEngine implements it; an engine without
// it cannot fence.
type Reserver interface {
	// PersistentReserveIn runs PERSISTENT RESERVE IN with service action
	// sa on the connected disk wwn, reading into buf; it returns how many
	// bytes the target sent.
	PersistentReserveIn(ctx context.Context, wwn string, sa scsi.PRInServiceAction, buf []byte) (int, error)
	// PersistentReserveOut runs PERSISTENT RESERVE OUT with service
	// action sa and type typ on the connected disk wwn, with the
	// parameter list params.
	PersistentReserveOut(ctx context.Context, wwn string, sa scsi.PROutServiceAction, typ scsi.PRType, params scsi.PROutParameters) error
}

var _ Reserver = (*UserspaceEngine)(nil)

// NodeKey returns node's persistent reservation key: the 64-bit FNV-1a
// hash of "lunar-node:" and its name, never zero (zero means "no key" to
// the target).
func NodeKey(node string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("lunar-node:" + node))
	k := h.Sum64()
	if k == 0 {
		k = 1
	}
	return k
}

// IsReservationConflict reports whether err is the target's RESERVATION
// CONFLICT status (a fenced node's write).
func IsReservationConflict(err error) bool {
	var se *initiator.StatusError
	return errors.As(err, &se) && se.Status == scsi.StatusReservationConflict
}

// prRetries bounds the retries of a PR command that met a unit attention
// (a preemption or a reset reported to this nexus).
const prRetries = 4

// prAlloc is the allocation length of READ KEYS: room for 1000 keys.
const prAlloc = 8 + 8*1000

// userspaceDisk returns the initiator disk of a connected disk.
func (e *UserspaceEngine) initiatorDisk(ctx context.Context, wwn string) (*initiator.Disk, error) {
	dev, err := e.Open(ctx, wwn)
	if err != nil {
		return nil, err
	}
	ud, ok := dev.(*userspaceDevice)
	if !ok {
		return nil, fmt.Errorf("%w: disk %s has no initiator disk", ErrInvalid, wwn)
	}
	return ud.disk, nil
}

// execPR runs a PR command, retrying on unit attentions.
func execPR(ctx context.Context, d *initiator.Disk, cmd *initiator.Command) (initiator.Response, error) {
	var (
		resp initiator.Response
		err  error
	)
	for range prRetries {
		resp, err = d.Exec(ctx, cmd)
		var se *scsi.SenseError
		if err == nil || !errors.As(err, &se) || se.Key != scsi.SenseKeyUnitAttention {
			return resp, err
		}
	}
	return resp, err
}

// PersistentReserveIn sends PERSISTENT RESERVE IN through the disk's raw
// command path.
func (e *UserspaceEngine) PersistentReserveIn(ctx context.Context, wwn string, sa scsi.PRInServiceAction, buf []byte) (int, error) {
	if len(buf) > 0xffff {
		buf = buf[:0xffff]
	}
	d, err := e.initiatorDisk(ctx, wwn)
	if err != nil {
		return 0, err
	}
	cdb, err := (&scsi.PersistentReserveIn{ServiceAction: sa, AllocationLength: uint16(len(buf))}).MarshalBinary()
	if err != nil {
		return 0, fmt.Errorf("%w: PERSISTENT RESERVE IN: %w", ErrInvalid, err)
	}
	resp, err := execPR(ctx, d, &initiator.Command{CDB: cdb, DataIn: buf})
	if err != nil {
		return 0, prError(ctx, "PERSISTENT RESERVE IN "+sa.String()+" on "+wwn, err)
	}
	return resp.DataIn, nil
}

// PersistentReserveOut sends PERSISTENT RESERVE OUT through the disk's
// raw command path.
func (e *UserspaceEngine) PersistentReserveOut(ctx context.Context, wwn string, sa scsi.PROutServiceAction, typ scsi.PRType, params scsi.PROutParameters) error {
	d, err := e.initiatorDisk(ctx, wwn)
	if err != nil {
		return err
	}
	cmd, err := PROut{Action: sa, Type: typ, Params: params}.command()
	if err != nil {
		return err
	}
	if _, err := execPR(ctx, d, cmd); err != nil {
		return prError(ctx, "PERSISTENT RESERVE OUT "+sa.String()+" on "+wwn, err)
	}
	return nil
}

// PROut is one PERSISTENT RESERVE OUT of a batch.
type PROut struct {
	// Action is the service action.
	Action scsi.PROutServiceAction
	// Type is the reservation type (RESERVE, RELEASE, PREEMPT).
	Type scsi.PRType
	// Params is the parameter list.
	Params scsi.PROutParameters
}

// command returns o as a PERSISTENT RESERVE OUT command (scope: the
// logical unit).
func (o PROut) command() (*initiator.Command, error) {
	data, err := o.Params.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: PERSISTENT RESERVE OUT parameters: %w", ErrInvalid, err)
	}
	cdb, err := (&scsi.PersistentReserveOut{ServiceAction: o.Action, Scope: scsi.PRScopeLU, Type: o.Type, ParameterListLength: uint32(len(data))}).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: PERSISTENT RESERVE OUT: %w", ErrInvalid, err)
	}
	return &initiator.Command{CDB: cdb, DataOut: data}, nil
}

// orderedReserver is a Reserver that sends several PERSISTENT RESERVE OUT
// commands in one round trip, each ORDERED behind the ones before it
// (UserspaceEngine).
type orderedReserver interface {
	PersistentReserveOutInOrder(ctx context.Context, wwn string, outs ...PROut) []error
}

var _ orderedReserver = (*UserspaceEngine)(nil)

// PersistentReserveOutInOrder sends outs to the connected disk wwn as one
// batch (initiator.ExecuteInOrder), every command after the first
// ORDERED: each runs after the one before it completed, and the batch
// costs one round trip. It returns each command's error at its index; a
// command that met a unit attention is not sent again (the caller falls
// back to one command at a time).
func (e *UserspaceEngine) PersistentReserveOutInOrder(ctx context.Context, wwn string, outs ...PROut) []error {
	errs := make([]error, len(outs))
	d, err := e.initiatorDisk(ctx, wwn)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	cmds := make([]*initiator.Command, len(outs))
	for i, o := range outs {
		if cmds[i], errs[i] = o.command(); errs[i] != nil {
			return errs
		}
		if i > 0 {
			cmds[i].Attr = iscsi.TaskAttrOrdered
		}
	}
	_, cerrs := d.ExecInOrder(ctx, cmds...)
	for i, err := range cerrs {
		if err != nil {
			errs[i] = prError(ctx, "PERSISTENT RESERVE OUT "+outs[i].Action.String()+" on "+wwn, err)
		}
	}
	return errs
}

// prError wraps a PR command's failure: a RESERVATION CONFLICT stays
// recognisable (IsReservationConflict) and becomes ErrConflict, an ended
// context ErrTimeout or its error, anything else ErrUnavailable.
func prError(ctx context.Context, what string, err error) error {
	switch {
	case IsReservationConflict(err):
		return fmt.Errorf("%w: %s: %w", ErrConflict, what, err)
	case ctx.Err() != nil:
		return ctxError(ctx, what)
	}
	var se *scsi.SenseError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
}

// Fence runs one node's persistent reservation commands on the disks its
// engine has connected.
type Fence struct {
	r    Reserver
	node string
	key  uint64
}

// NewFence returns node's Fence over engine, or ErrNoReservations when
// the engine cannot send PR commands.
func NewFence(engine Engine, node string) (*Fence, error) {
	r, ok := engine.(Reserver)
	if !ok {
		name := "nil"
		if engine != nil {
			name = engine.Name()
		}
		return nil, fmt.Errorf("%w (engine %s on node %s)", ErrNoReservations, name, node)
	}
	return &Fence{r: r, node: node, key: NodeKey(node)}, nil
}

// Key returns the node's reservation key.
func (f *Fence) Key() uint64 { return f.key }

// Node returns the node's name.
func (f *Fence) Node() string { return f.node }

// Register registers the node's key on the disk (REGISTER AND IGNORE
// EXISTING KEY, so it works whatever the nexus had registered before).
func (f *Fence) Register(ctx context.Context, wwn string) error {
	return f.r.PersistentReserveOut(ctx, wwn, scsi.PROutRegisterAndIgnoreExistingKey, 0, scsi.PROutParameters{ServiceActionKey: f.key})
}

// RegisterAndReserve registers the node's key and takes the disk's
// reservation: on an engine that batches PR commands
// (PersistentReserveOutInOrder) the REGISTER and an ORDERED RESERVE behind
// it go out together, one round trip; any failure there, or another
// engine, takes the way of Register and then Reserve.
func (f *Fence) RegisterAndReserve(ctx context.Context, wwn string) error {
	if o, ok := f.r.(orderedReserver); ok {
		errs := o.PersistentReserveOutInOrder(ctx, wwn,
			PROut{Action: scsi.PROutRegisterAndIgnoreExistingKey, Params: scsi.PROutParameters{ServiceActionKey: f.key}},
			PROut{Action: scsi.PROutReserve, Type: FenceType, Params: scsi.PROutParameters{Key: f.key}})
		if errs[0] == nil && errs[1] == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxError(ctx, "reserve "+wwn)
		}
	}
	if err := f.Register(ctx, wwn); err != nil {
		return err
	}
	return f.Reserve(ctx, wwn)
}

// Unregister removes the node's registration from the disk (REGISTER AND
// IGNORE EXISTING KEY with key zero).
func (f *Fence) Unregister(ctx context.Context, wwn string) error {
	return f.r.PersistentReserveOut(ctx, wwn, scsi.PROutRegisterAndIgnoreExistingKey, 0, scsi.PROutParameters{})
}

// Keys reads the registered keys (READ KEYS).
func (f *Fence) Keys(ctx context.Context, wwn string) (scsi.PRReadKeysData, error) {
	buf := make([]byte, prAlloc)
	n, err := f.r.PersistentReserveIn(ctx, wwn, scsi.PRInReadKeys, buf)
	if err != nil {
		return scsi.PRReadKeysData{}, err
	}
	var d scsi.PRReadKeysData
	if err := d.UnmarshalBinary(buf[:n]); err != nil {
		return d, fmt.Errorf("%w: READ KEYS of %s: %w", ErrUnavailable, wwn, err)
	}
	return d, nil
}

// Reservation reads the disk's reservation (READ RESERVATION).
func (f *Fence) Reservation(ctx context.Context, wwn string) (scsi.PRReservationData, error) {
	buf := make([]byte, 24)
	n, err := f.r.PersistentReserveIn(ctx, wwn, scsi.PRInReadReservation, buf)
	if err != nil {
		return scsi.PRReservationData{}, err
	}
	var d scsi.PRReservationData
	if err := d.UnmarshalBinary(buf[:n]); err != nil {
		return d, fmt.Errorf("%w: READ RESERVATION of %s: %w", ErrUnavailable, wwn, err)
	}
	return d, nil
}

// Holds reports whether the node holds the disk's reservation of
// FenceType.
func (f *Fence) Holds(ctx context.Context, wwn string) (bool, error) {
	r, err := f.Reservation(ctx, wwn)
	if err != nil {
		return false, err
	}
	return r.Reserved && r.Key == f.key && r.Type == FenceType, nil
}

// Reserve makes the node hold the disk's reservation of FenceType: it
// registers the key, then reserves unless it holds the reservation
// already. A reservation another node holds fails with ErrConflict
// (preempt it with Takeover).
func (f *Fence) Reserve(ctx context.Context, wwn string) error {
	// The agent registered the key when the disk arrived, so RESERVE
	// alone usually does it in one round trip. SPC-4 (PERSISTENT RESERVE OUT, RESERVE): a RESERVE
	// from the holder with the same type and scope changes nothing and
	// completes with GOOD; from an unregistered nexus, or while another
	// key holds the reservation, it ends with RESERVATION CONFLICT, and
	// then the slow path below registers and tells the two apart.
	err := f.r.PersistentReserveOut(ctx, wwn, scsi.PROutReserve, FenceType, scsi.PROutParameters{Key: f.key})
	if err == nil || !IsReservationConflict(err) {
		return err
	}
	if err := f.Register(ctx, wwn); err != nil {
		return err
	}
	r, err := f.Reservation(ctx, wwn)
	if err != nil {
		return err
	}
	if r.Reserved {
		if r.Key == f.key && r.Type == FenceType {
			return nil
		}
		if r.Key != f.key {
			return fmt.Errorf("%w: disk %s is reserved by key %#016x, not %s's %#016x", ErrConflict, wwn, r.Key, f.node, f.key)
		}
	}
	return f.r.PersistentReserveOut(ctx, wwn, scsi.PROutReserve, FenceType, scsi.PROutParameters{Key: f.key})
}

// Preempt removes every registration of victim and aborts its tasks
// (PREEMPT AND ABORT of type FenceType): when victim holds the
// reservation, this node becomes its holder.
func (f *Fence) Preempt(ctx context.Context, wwn string, victim uint64) error {
	return f.r.PersistentReserveOut(ctx, wwn, scsi.PROutPreemptAndAbort, FenceType, scsi.PROutParameters{Key: f.key, ServiceActionKey: victim})
}

// FenceSteps are the timings of one disk's takeover.
type FenceSteps struct {
	// Register is the registration of the node's key.
	Register StepTiming
	// Fence is the preemption of the old keys and the reservation.
	Fence StepTiming
	// Check is the READ RESERVATION and READ KEYS that confirm it.
	Check StepTiming
}

// Takeover makes the node the disk's reservation holder and removes the
// registrations of victims (the old owner's key): it registers its key,
// PREEMPT AND ABORTs the holder (when another key holds the
// reservation) and every victim still registered, reserves when no
// reservation is left, and checks that READ RESERVATION shows itself and
// READ KEYS no victim.
func (f *Fence) Takeover(ctx context.Context, wwn string, victims ...uint64) (FenceSteps, error) {
	var st FenceSteps
	timed := func(s Step, out *StepTiming, fn func() error) error {
		start := time.Now()
		err := fn()
		*out = StepTiming{Step: s, Start: start, Duration: time.Since(start)}
		if err != nil {
			out.Error = err.Error()
		}
		return err
	}
	if err := timed(StepPRRegister, &st.Register, func() error { return f.Register(ctx, wwn) }); err != nil {
		return st, fmt.Errorf("register key on %s: %w", wwn, err)
	}
	err := timed(StepFence, &st.Fence, func() error {
		r, err := f.Reservation(ctx, wwn)
		if err != nil {
			return err
		}
		done := map[uint64]bool{f.key: true}
		if r.Reserved && r.Key != f.key {
			if err := f.Preempt(ctx, wwn, r.Key); err != nil {
				return fmt.Errorf("preempt holder %#016x: %w", r.Key, err)
			}
			done[r.Key] = true
		}
		keys, err := f.Keys(ctx, wwn)
		if err != nil {
			return err
		}
		for _, v := range victims {
			if done[v] || !containsKey(keys.Keys, v) {
				continue
			}
			if err := f.Preempt(ctx, wwn, v); err != nil {
				return fmt.Errorf("preempt key %#016x: %w", v, err)
			}
			done[v] = true
		}
		holds, err := f.Holds(ctx, wwn)
		if err != nil || holds {
			return err
		}
		return f.Reserve(ctx, wwn)
	})
	if err != nil {
		return st, fmt.Errorf("fence %s: %w", wwn, err)
	}
	err = timed(StepCheck, &st.Check, func() error {
		r, err := f.Reservation(ctx, wwn)
		if err != nil {
			return err
		}
		if !r.Reserved || r.Key != f.key || r.Type != FenceType {
			return fmt.Errorf("%w: disk %s: reservation held=%v key %#016x type %v, want key %#016x type %v", ErrConflict, wwn, r.Reserved, r.Key, r.Type, f.key, FenceType)
		}
		keys, err := f.Keys(ctx, wwn)
		if err != nil {
			return err
		}
		for _, v := range victims {
			if v != f.key && containsKey(keys.Keys, v) {
				return fmt.Errorf("%w: disk %s still has key %#016x registered", ErrConflict, wwn, v)
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("check %s: %w", wwn, err)
	}
	return st, nil
}

func containsKey(keys []uint64, k uint64) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}

// fence returns the node's Fence; false when its engine has no persistent
// reservations, whose steps the agent then skips.
func (a *Agent) fence() (*Fence, bool) {
	f, err := NewFence(a.cfg.Engine, a.cfg.Node)
	return f, err == nil
}

// registerKey registers the node's key on a disk it just connected, when
// its engine has persistent reservations (an engine without them is
// skipped: its node cannot take groups over, which Failover reports).
//
// It follows the fenced node's rule: when the node has the disk open but
// its key is not registered (another node preempted it), it releases the
// disk first, so the handles opened before fail, and finds it again.
func (a *Agent) registerKey(ctx context.Context, ref TargetRef, wwn string) error {
	f, ok := a.fence()
	if !ok {
		return nil
	}
	if e, ok := a.cfg.Engine.(*UserspaceEngine); ok && e.isOpen(wwn) {
		keys, err := f.Keys(ctx, wwn)
		if err != nil {
			return err
		}
		if !containsKey(keys.Keys, f.key) {
			_ = e.Release(ctx, wwn) // a fenced node's flush fails: its writes are refused anyway
			if _, err := e.WaitForDisk(ctx, ref, wwn); err != nil {
				return err
			}
		}
	}
	return f.Register(ctx, wwn)
}

// isOpen reports whether the connected disk wwn has been opened.
func (e *UserspaceEngine) isOpen(wwn string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.disks[strings.ToLower(wwn)]
	return ok && d.opened != nil
}

// Reserve makes the node hold the Write Exclusive – Registrants Only
// reservation of a connected disk with its key (nothing to do when it
// holds it). An engine without persistent reservations is skipped.
func (a *Agent) Reserve(ctx context.Context, wwn string) error {
	f, ok := a.fence()
	if !ok {
		return nil
	}
	return f.Reserve(ctx, wwn)
}

// RegisterAndReserve registers the node's key on the connected disk wwn
// and takes its reservation (Fence.RegisterAndReserve): the owner's
// reserve step when its connect did not register (ConnectRequest.Owner).
// An engine without persistent reservations is skipped.
func (a *Agent) RegisterAndReserve(ctx context.Context, wwn string) error {
	f, ok := a.fence()
	if !ok {
		return nil
	}
	return f.RegisterAndReserve(ctx, wwn)
}

// reserver is a NodeAPI that can hold a disk's reservation (*Agent).
type reserver interface {
	Reserve(ctx context.Context, wwn string) error
	RegisterAndReserve(ctx context.Context, wwn string) error
}
