package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lunarsan/lunar/target"
)

// operation is one Run's state.
type operation struct {
	r          *Runner
	req        OperationRequest
	res        *OperationResult
	started    time.Time
	explicitID bool

	emitMu     sync.Mutex
	progress   func(ProgressEvent)
	lastActive ProgressEvent

	apiMu sync.Mutex
	apis  map[string]NodeAPI

	group        Group
	groupExists  bool
	campaigned   bool // this run campaigned for a group that did not exist
	groupCreated bool

	active    NodeResult
	activeErr error
	// activeMu guards active.Steps and activeErr: the reserve and the
	// format run at once.
	activeMu  sync.Mutex
	passives  []NodeResult
	passiveOf []string // the passive nodes, in order

	disk        DiskResource // the resource being made, or the one recorded
	prior       []string     // the resource's possible owners before the run
	createdLUN  bool
	selfTouched bool // the active node's connect was called
}

// nodeCall is one node's part: it returns the node's steps.
type nodeCall func(ctx context.Context, api NodeAPI, node string) ([]StepTiming, error)

func (o *operation) name() string {
	return fmt.Sprintf("%s of %q in group %q", o.req.Kind, o.req.Resource, o.req.Group)
}

func (o *operation) requestID(node, what string) string {
	return o.req.ID + "-" + what + "-" + node
}

func (o *operation) emitter(progress func(ProgressEvent)) { o.progress = progress }

// emit calls progress, one call at a time.
func (o *operation) emit(ev ProgressEvent) {
	if o.progress == nil {
		return
	}
	o.emitMu.Lock()
	defer o.emitMu.Unlock()
	if ev.Role == RoleActive {
		o.lastActive = ev
	}
	o.progress(ev)
}

// emitSteps reports steps that ran on a node: a start event for every
// step but the first (whose start was reported when the call began) and
// a done event for every step; the last carries final.
func (o *operation) emitSteps(node string, role Role, steps []StepTiming, startSent bool, final NodeStatus) {
	for i, st := range steps {
		if i > 0 || !startSent {
			o.emit(ProgressEvent{Time: st.Start, Node: node, Role: role, Step: st.Step, Status: NodeRunning})
		}
		status := NodeRunning
		if i == len(steps)-1 {
			status = final
		}
		o.emit(ProgressEvent{Time: st.Start.Add(st.Duration), Node: node, Role: role, Step: st.Step, Done: true, Status: status, Error: st.Error})
	}
}

// stepOrder is the order of the steps an agent reports, to name the step
// that failed when the agent reports none.
var stepOrder = []Step{StepMap, StepLogin, StepArrival, StepVerify, StepFlush, StepRelease, StepUnmap, StepLogout}

// fillSteps returns the steps of a call that began at start with first,
// adding a failed step when err is not nil and no step carries it.
func fillSteps(start time.Time, first Step, steps []StepTiming, err error) []StepTiming {
	steps = slices.Clone(steps)
	if err == nil {
		return steps
	}
	for _, st := range steps {
		if st.Error != "" {
			return steps
		}
	}
	step, at := first, start
	if n := len(steps); n > 0 {
		last := steps[n-1]
		at = last.Start.Add(last.Duration)
		if i := slices.Index(stepOrder, last.Step); i >= 0 && i+1 < len(stepOrder) {
			step = stepOrder[i+1]
		}
	}
	if at.Before(start) {
		at = start
	}
	return append(steps, StepTiming{Step: step, Start: at, Duration: time.Since(at), Error: err.Error()})
}

// activeStep runs one step of the active node and records it. A failed
// step that is not part of a rollback fails the active node.
func (o *operation) activeStep(ctx context.Context, step Step, undo bool, fn func(ctx context.Context) error) error {
	start := time.Now()
	o.emit(ProgressEvent{Time: start, Node: o.r.cfg.Node, Role: RoleActive, Step: step, Status: NodeRunning})
	err := fn(ctx)
	st := StepTiming{Step: step, Start: start, Duration: time.Since(start)}
	o.activeMu.Lock()
	if err != nil {
		st.Error = err.Error()
		if !undo && o.activeErr == nil {
			o.activeErr = err
		}
	}
	o.active.Steps = append(o.active.Steps, st)
	o.activeMu.Unlock()
	o.emit(ProgressEvent{Time: start.Add(st.Duration), Node: o.r.cfg.Node, Role: RoleActive, Step: step, Done: true, Status: NodeRunning, Error: st.Error})
	return err
}

// activeCall runs a call of the active node's agent that reports its own
// steps, bounded by the node timeout.
func (o *operation) activeCall(ctx context.Context, first Step, call nodeCall) error {
	start := time.Now()
	o.emit(ProgressEvent{Time: start, Node: o.r.cfg.Node, Role: RoleActive, Step: first, Status: NodeRunning})
	cctx, cancel := context.WithTimeout(ctx, o.req.NodeTimeout)
	steps, err := call(cctx, o.r.cfg.Self, o.r.cfg.Node)
	cancel()
	steps = fillSteps(start, first, steps, err)
	o.activeMu.Lock()
	if err != nil && o.activeErr == nil {
		o.activeErr = err
	}
	o.active.Steps = append(o.active.Steps, steps...)
	o.activeMu.Unlock()
	o.emitSteps(o.r.cfg.Node, RoleActive, steps, true, NodeRunning)
	return err
}

// closeActive sets the active node's status and total and sends its last
// event.
func (o *operation) closeActive() {
	a := &o.active
	a.Status = NodeOK
	if o.activeErr != nil {
		a.Status, a.Error = NodeFailed, o.activeErr.Error()
	}
	if n := len(a.Steps); n > 0 {
		last := a.Steps[n-1]
		a.Total = last.Start.Add(last.Duration).Sub(a.Steps[0].Start)
	}
	o.emitMu.Lock()
	last := o.lastActive
	o.emitMu.Unlock()
	if last.Step != "" && last.Status == NodeRunning {
		last.Time, last.Done, last.Status = time.Now(), true, a.Status
		o.emit(last)
	}
}

// api resolves a passive node's agent, once per run.
func (o *operation) api(ctx context.Context, node string) (NodeAPI, error) {
	o.apiMu.Lock()
	a, ok := o.apis[node]
	o.apiMu.Unlock()
	if ok {
		return a, nil
	}
	a, err := o.r.cfg.Agents(ctx, node)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("%w: node %q has no agent", ErrNotFound, node)
	}
	o.apiMu.Lock()
	if o.apis == nil {
		o.apis = make(map[string]NodeAPI)
	}
	o.apis[node] = a
	o.apiMu.Unlock()
	return a, nil
}

// fanOut runs call on every node, in parallel (bounded by MaxParallel) or
// one at a time, and returns the nodes' results in the order of nodes. A
// node's failure does not stop the others.
func (o *operation) fanOut(ctx context.Context, nodes []string, first Step, call nodeCall) []NodeResult {
	results := make([]NodeResult, len(nodes))
	if o.req.Mode == ModeSerial {
		for i, n := range nodes {
			results[i] = o.runNode(ctx, n, first, call)
		}
		return results
	}
	var g errgroup.Group
	if o.req.MaxParallel > 0 {
		g.SetLimit(o.req.MaxParallel)
	}
	for i, n := range nodes {
		g.Go(func() error {
			results[i] = o.runNode(ctx, n, first, call)
			return nil
		})
	}
	_ = g.Wait() // the goroutines never fail: their outcome is in results
	return results
}

// runNode runs one passive node's part under the node timeout.
func (o *operation) runNode(ctx context.Context, node string, first Step, call nodeCall) NodeResult {
	nr := NodeResult{Node: node, Role: RolePassive, Status: NodeRunning}
	start := time.Now()
	if err := ctx.Err(); err != nil {
		nr.Status, nr.Error = NodeSkipped, "not started: "+err.Error()
		o.emit(ProgressEvent{Time: start, Node: node, Role: RolePassive, Step: first, Done: true, Status: nr.Status, Error: nr.Error})
		return nr
	}
	o.emit(ProgressEvent{Time: start, Node: node, Role: RolePassive, Step: first, Status: NodeRunning})
	api, err := o.api(ctx, node)
	if err != nil {
		nr.Status = NodeFailed
		if errors.Is(err, ErrNotFound) {
			nr.Status = NodeSkipped
		}
		nr.Error = err.Error()
		nr.Total = time.Since(start)
		o.emit(ProgressEvent{Time: time.Now(), Node: node, Role: RolePassive, Step: first, Done: true, Status: nr.Status, Error: nr.Error})
		return nr
	}
	nctx, cancel := context.WithTimeout(ctx, o.req.NodeTimeout)
	steps, err := call(nctx, api, node)
	expired := errors.Is(nctx.Err(), context.DeadlineExceeded)
	cancel()
	nr.Steps = fillSteps(start, first, steps, err)
	nr.Total = time.Since(start)
	switch {
	case err == nil:
		nr.Status = NodeOK
	case ctx.Err() != nil:
		nr.Status, nr.Error = NodeFailed, fmt.Sprintf("cancelled: %v", err)
	case expired || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout):
		nr.Status, nr.Error = NodeTimedOut, err.Error()
	default:
		nr.Status, nr.Error = NodeFailed, err.Error()
	}
	o.emitSteps(node, RolePassive, nr.Steps, true, nr.Status)
	return nr
}

// undoPassives runs an undo call (a rollback disconnect or reconnect) on
// the passive nodes at idx, recording it as a StepRollback step.
func (o *operation) undoPassives(ctx context.Context, idx []int, call nodeCall) {
	var g errgroup.Group
	if o.req.MaxParallel > 0 {
		g.SetLimit(o.req.MaxParallel)
	}
	undo := func(i int) {
		nr := &o.passives[i]
		start := time.Now()
		o.emit(ProgressEvent{Time: start, Node: nr.Node, Role: RolePassive, Step: StepRollback, Status: nr.Status})
		api, err := o.api(ctx, nr.Node)
		if err == nil {
			nctx, cancel := context.WithTimeout(ctx, o.req.NodeTimeout)
			_, err = call(nctx, api, nr.Node)
			cancel()
		}
		st := StepTiming{Step: StepRollback, Start: start, Duration: time.Since(start)}
		if err != nil {
			st.Error = err.Error()
		}
		nr.Steps = append(nr.Steps, st)
		nr.Total = time.Since(start) + nr.Total
		o.emit(ProgressEvent{Time: time.Now(), Node: nr.Node, Role: RolePassive, Step: StepRollback, Done: true, Status: nr.Status, Error: st.Error})
	}
	for _, i := range idx {
		if o.req.Mode == ModeSerial {
			undo(i)
			continue
		}
		g.Go(func() error { undo(i); return nil })
	}
	_ = g.Wait()
}

// prepare reads the group, takes its ownership and picks the passive
// nodes, before anything changes.
func (o *operation) prepare(ctx context.Context) error {
	r, req := o.r, o.req
	g, err := r.cfg.Store.Group(ctx, req.Group)
	switch {
	case err == nil:
		o.group, o.groupExists = g, true
	case errors.Is(err, ErrNotFound):
		if req.Kind == OpDisconnect || req.Kind == OpDelete {
			return fmt.Errorf("%s: %w", o.name(), err)
		}
	default:
		return fmt.Errorf("%s: refusing to start, the group cannot be read: %w", o.name(), err)
	}
	campaigned, err := r.ownership(ctx, req.Group, o.groupExists, o.group.Owner)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name(), err)
	}
	o.campaigned = campaigned && !o.groupExists
	err = o.pick(ctx)
	if err != nil && o.campaigned {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
		r.resign(rctx, req.Group)
		cancel()
	}
	return err
}

// pick finds the resource in the group and the passive nodes.
func (o *operation) pick(ctx context.Context) error {
	req, self := o.req, o.r.cfg.Node
	i := slices.IndexFunc(o.group.Resources, func(d DiskResource) bool { return d.Name == req.Resource })
	switch req.Kind {
	case OpCreate:
		if i >= 0 {
			return fmt.Errorf("%s: %w: the group already has resource %q (connect adds nodes to it)", o.name(), ErrConflict, req.Resource)
		}
	case OpConnect:
		if i >= 0 {
			o.disk = o.group.Resources[i]
			o.prior = slices.Clone(o.disk.PossibleOwners)
		}
	case OpDelete:
		if i >= 0 {
			o.disk = o.group.Resources[i]
			o.prior = slices.Clone(o.disk.PossibleOwners)
			break
		}
		// A disconnect removed the resource from the group; its LUN may
		// still be on the storage system. Delete that: every node's
		// disconnect of a disk it does not have is a no-op.
		info, err := o.r.cfg.Storage.LUN(ctx, req.Resource)
		if err != nil {
			err = storageErr("LUN "+req.Resource, err)
			if errors.Is(err, ErrNotFound) {
				return fmt.Errorf("%s: %w: the group has no resource %q and the storage system no such LUN", o.name(), ErrNotFound, req.Resource)
			}
			return fmt.Errorf("%s: %w", o.name(), err)
		}
		o.setLUN(info)
	default:
		if i < 0 {
			return fmt.Errorf("%s: %w: the group has no resource %q", o.name(), ErrNotFound, req.Resource)
		}
		o.disk = o.group.Resources[i]
		o.prior = slices.Clone(o.disk.PossibleOwners)
	}
	switch {
	case len(req.Passive) > 0:
		o.passiveOf = slices.Clone(req.Passive)
	case (req.Kind == OpDisconnect || req.Kind == OpDelete) && len(o.disk.PossibleOwners) > 0:
		o.passiveOf = without(o.disk.PossibleOwners, self)
	case o.groupExists:
		o.passiveOf = without(o.group.Nodes, self)
	default:
		nodes, err := o.r.cfg.Store.Nodes(ctx)
		if err != nil {
			return fmt.Errorf("%s: refusing to start, the live nodes cannot be listed: %w", o.name(), err)
		}
		for _, n := range nodes {
			if n.Name != self {
				o.passiveOf = append(o.passiveOf, n.Name)
			}
		}
	}
	return nil
}

// setLUN fills the resource from the storage system's LUN.
func (o *operation) setLUN(info target.LUNInfo) {
	o.disk.Name = info.Name
	o.disk.WWN = info.WWN
	o.disk.Serial = info.Serial
	o.disk.Path = info.Path
	o.disk.Size = info.Size
	o.disk.Portal = o.req.Portal
	if o.req.Target != "" {
		o.disk.Target = o.req.Target
	}
}

// connectCall connects a node to the resource's LUN.
func (o *operation) connectCall(expectLabel string) nodeCall {
	return func(ctx context.Context, api NodeAPI, node string) ([]StepTiming, error) {
		resp, err := api.Connect(ctx, ConnectRequest{
			RequestID: o.requestID(node, "connect"), LUN: o.disk.Name, WWN: o.disk.WWN,
			Target: o.req.Target, Portal: o.disk.Portal, ExpectLabel: expectLabel, Timeout: o.req.NodeTimeout,
		})
		return resp.Steps, err
	}
}

// disconnectCall disconnects a node from the resource's LUN; what tells
// the request id apart (disconnect, rollback).
func (o *operation) disconnectCall(what string) nodeCall {
	return func(ctx context.Context, api NodeAPI, node string) ([]StepTiming, error) {
		resp, err := api.Disconnect(ctx, DisconnectRequest{
			RequestID: o.requestID(node, what), LUN: o.disk.Name, WWN: o.disk.WWN,
			Target: o.disk.Target, Timeout: o.req.NodeTimeout,
		})
		return resp.Steps, err
	}
}

// runConnect runs create and connect.
func (o *operation) runConnect(ctx context.Context) error {
	req, r := o.req, o.r
	selfMapped := false   // the create mapped the LUN to the active node's group
	var selfLUNID *uint64 // at this LUN number
	if req.Kind == OpCreate {
		err := o.activeStep(ctx, StepCreateLUN, false, func(ctx context.Context) error {
			// The LUN and its map to the active node's group in one
			// request; a node whose group does not exist yet maps it
			// itself in its connect (StepMap creates the group).
			create := target.LUNCreate{Name: req.Resource, Size: req.Size,
				Maps: []target.MapCreate{{IGroup: IGroupName(r.cfg.Node), Target: req.Target}}}
			info, err := r.cfg.Storage.CreateLUN(ctx, create)
			if apiCode(err) == "igroup_not_found" {
				create.Maps = nil
				info, err = r.cfg.Storage.CreateLUN(ctx, create)
			}
			if err != nil {
				return storageErr("create LUN "+req.Resource, err)
			}
			o.createdLUN = true
			o.setLUN(info)
			if len(info.Maps) == 1 {
				selfMapped = true
				selfLUNID = &info.Maps[0].LUNID
				if o.disk.Target == "" {
					o.disk.Target = info.Maps[0].Target
				}
			}
			return nil
		})
		if err != nil {
			return o.failActive(ctx, err)
		}
	} else {
		info, err := r.cfg.Storage.LUN(ctx, req.Resource)
		if err != nil {
			err = storageErr("LUN "+req.Resource, err)
			if errors.Is(err, ErrNotFound) {
				err = fmt.Errorf("%w (create it first, or run create)", err)
			}
			return fmt.Errorf("%s: %w", o.name(), err)
		}
		if o.disk.WWN != "" && o.disk.WWN != info.WWN {
			return fmt.Errorf("%s: %w: the group records WWN %s, the storage system's LUN has %s", o.name(), ErrConflict, o.disk.WWN, info.WWN)
		}
		o.setLUN(info)
	}

	o.selfTouched = true
	var selfTarget string
	// A disk this operation creates is new to every node: the active
	// node registers its key together with its reservation.
	rs, canReserve := r.cfg.Self.(reserver)
	owner := canReserve && req.Kind == OpCreate
	first := StepMap
	if selfMapped {
		first = StepLogin
	}
	err := o.activeCall(ctx, first, func(ctx context.Context, api NodeAPI, node string) ([]StepTiming, error) {
		resp, err := api.Connect(ctx, ConnectRequest{
			RequestID: o.requestID(node, "connect"), LUN: o.disk.Name, WWN: o.disk.WWN,
			Target: o.disk.Target, Portal: o.disk.Portal, Timeout: req.NodeTimeout, Mapped: selfMapped,
			LUNID: selfLUNID, Owner: owner,
		})
		selfTarget = resp.Disk.Target
		return resp.Steps, err
	})
	if err != nil {
		return o.failActive(ctx, fmt.Errorf("connect: %w", err))
	}
	if o.disk.Target == "" {
		o.disk.Target = selfTarget
	}
	// The owner holds the disk's Write Exclusive – Registrants Only
	// reservation (fence.go), and a disk it creates gets its partition
	// table and filesystem: both at once (the key is registered, the
	// format's writes are the owner's either way), so the two cost one
	// round trip rather than two.
	var reserveErr, formatErr error
	var wg sync.WaitGroup
	if canReserve {
		wg.Go(func() {
			reserveErr = o.activeStep(ctx, StepReserve, false, func(ctx context.Context) error {
				if owner {
					return rs.RegisterAndReserve(ctx, o.disk.WWN)
				}
				return rs.Reserve(ctx, o.disk.WWN)
			})
		})
	}
	expect := ""
	if req.Kind == OpCreate && !req.NoFormat {
		expect = req.Resource
		wg.Go(func() {
			formatErr = o.activeStep(ctx, StepFormat, false, func(ctx context.Context) error {
				fctx, cancel := context.WithTimeout(ctx, req.NodeTimeout)
				defer cancel()
				_, err := r.cfg.Self.Format(fctx, FormatRequest{RequestID: o.requestID(r.cfg.Node, "format"), WWN: o.disk.WWN, Label: req.Resource, Fresh: o.createdLUN})
				return err
			})
		})
	}
	wg.Wait()
	if reserveErr != nil {
		return o.failActive(ctx, fmt.Errorf("reserve: %w", reserveErr))
	}
	if formatErr != nil {
		return o.failActive(ctx, fmt.Errorf("format: %w", formatErr))
	}
	o.res.Active = time.Since(o.started)

	fan := time.Now()
	o.passives = o.fanOut(ctx, o.passiveOf, StepMap, o.connectCall(expect))
	o.res.FanOut = time.Since(fan)
	if err := ctx.Err(); err != nil {
		o.rollbackConnect(ctx)
		return fmt.Errorf("%s: cancelled during the fan-out, rolled back: %w", o.name(), err)
	}
	failed := summary(o.passives)
	if failed != "" && req.OnPartialFailure == RollbackPartial {
		o.rollbackConnect(ctx)
		return fmt.Errorf("%s: %w: %s; rolled back", o.name(), ErrPartialFailure, failed)
	}
	if failed != "" {
		// Keep: undo what the failed nodes may have half made.
		var idx []int
		for i, p := range o.passives {
			if p.Status != NodeOK && len(p.Steps) > 0 && !slices.Contains(o.prior, p.Node) {
				idx = append(idx, i)
			}
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RollbackTimeout)
		o.undoPassives(rctx, idx, o.disconnectCall("cleanup"))
		cancel()
	}
	owners := []string{r.cfg.Node}
	for _, p := range o.passives {
		if p.Status == NodeOK {
			owners = append(owners, p.Node)
		}
	}
	if err := o.activeStep(ctx, StepRegister, false, func(ctx context.Context) error { return o.register(ctx, owners) }); err != nil {
		o.rollbackConnect(ctx)
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%s: cancelled, rolled back: %w (%w)", o.name(), cerr, err)
		}
		return fmt.Errorf("%s: register the resource: %w; rolled back", o.name(), err)
	}
	disk := o.disk
	o.res.Disk = &disk
	if failed != "" {
		return fmt.Errorf("%s: %w: %s; recorded with %s", o.name(), ErrPartialFailure, failed, strings.Join(o.disk.PossibleOwners, ", "))
	}
	return nil
}

// failActive rolls back after the active node's part failed.
func (o *operation) failActive(ctx context.Context, err error) error {
	o.res.Active = time.Since(o.started)
	o.rollbackConnect(ctx)
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: cancelled, rolled back: %w (%w)", o.name(), cerr, err)
	}
	rolled := ""
	if o.res.RolledBack {
		rolled = "; rolled back"
	}
	return fmt.Errorf("%s: active node %s: %w%s", o.name(), o.r.cfg.Node, err, rolled)
}

// register records the resource in the group (creating a new group).
func (o *operation) register(ctx context.Context, owners []string) error {
	self := o.r.cfg.Node
	disk := o.disk
	disk.PossibleOwners, disk.State = owners, DiskOnline
	if disk.Created.IsZero() {
		disk.Created = time.Now().UTC()
	}
	members := union([]string{self}, o.passiveOf...)
	if !o.groupExists {
		_, err := o.r.cfg.Store.CreateGroup(ctx, Group{Name: o.req.Group, Owner: self, Nodes: members, Resources: []DiskResource{disk}})
		if err != nil {
			return err
		}
		o.groupCreated = true
		o.disk = disk
		return nil
	}
	var recorded DiskResource
	_, err := o.r.cfg.Store.UpdateGroup(ctx, o.req.Group, func(g *Group) error {
		if g.Owner != self {
			return fmt.Errorf("%w: group %q is now owned by %q", ErrNotOwner, g.Name, g.Owner)
		}
		g.Nodes = union(g.Nodes, members...)
		recorded = disk
		i := slices.IndexFunc(g.Resources, func(d DiskResource) bool { return d.Name == disk.Name })
		if i < 0 {
			g.Resources = append(g.Resources, disk)
			return nil
		}
		d := &g.Resources[i]
		if d.WWN != disk.WWN {
			return fmt.Errorf("%w: resource %q has WWN %s, the LUN %s", ErrConflict, d.Name, d.WWN, disk.WWN)
		}
		d.PossibleOwners = union(d.PossibleOwners, owners...)
		d.State = DiskOnline
		if d.Target == "" {
			d.Target = disk.Target
		}
		recorded = *d
		return nil
	})
	if err != nil {
		return err
	}
	o.disk = recorded
	return nil
}

// rollbackConnect undoes what a create or connect made, on a fresh
// context: the passive nodes' and the active node's connects (those that
// were not connected before) and the LUN it created.
func (o *operation) rollbackConnect(ctx context.Context) {
	r := o.r
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.RollbackTimeout)
	defer cancel()
	var idx []int
	for i, p := range o.passives {
		if len(p.Steps) > 0 && !slices.Contains(o.prior, p.Node) {
			idx = append(idx, i)
		}
	}
	o.undoPassives(rctx, idx, o.disconnectCall("rollback"))
	if o.selfTouched && !slices.Contains(o.prior, r.cfg.Node) {
		_ = o.activeStep(rctx, StepRollback, true, func(ctx context.Context) error {
			dctx, cancel := context.WithTimeout(ctx, o.req.NodeTimeout)
			defer cancel()
			_, err := o.disconnectCall("rollback")(dctx, r.cfg.Self, r.cfg.Node)
			return err
		})
	}
	if o.createdLUN {
		_ = o.activeStep(rctx, StepDeleteLUN, true, func(ctx context.Context) error {
			return storageErr("delete LUN "+o.disk.Name, r.cfg.Storage.DeleteLUN(ctx, o.disk.Name, true))
		})
	}
	o.res.RolledBack = true
}

// runDisconnect runs disconnect and delete: the passive nodes first, then
// the active node, then (delete) the LUN, then the group's record.
func (o *operation) runDisconnect(ctx context.Context) error {
	req, r := o.req, o.r
	fan := time.Now()
	o.passives = o.fanOut(ctx, o.passiveOf, StepFlush, o.disconnectCall("disconnect"))
	o.res.FanOut = time.Since(fan)
	var remaining []string
	for _, p := range o.passives {
		if p.Status != NodeOK {
			remaining = append(remaining, p.Node)
		}
	}
	failed := summary(o.passives)
	if cerr := ctx.Err(); cerr != nil {
		o.reconnect(ctx)
		return fmt.Errorf("%s: cancelled during the fan-out, reconnected the nodes: %w", o.name(), cerr)
	}
	if failed != "" && req.OnPartialFailure == RollbackPartial {
		o.reconnect(ctx)
		return fmt.Errorf("%s: %w: %s; rolled back (the nodes that disconnected are connected again)", o.name(), ErrPartialFailure, failed)
	}
	activeStart := time.Now()
	defer func() { o.res.Active = time.Since(activeStart) }()
	err := o.activeCall(ctx, StepFlush, o.disconnectCall("disconnect"))
	if err != nil {
		if ctx.Err() != nil || req.OnPartialFailure == RollbackPartial {
			o.reconnect(ctx)
			return fmt.Errorf("%s: active node %s: %w; rolled back", o.name(), r.cfg.Node, err)
		}
		remaining = append([]string{r.cfg.Node}, remaining...)
		if failed != "" {
			failed = r.cfg.Node + " failed: " + err.Error() + "; " + failed
		} else {
			failed = r.cfg.Node + " failed: " + err.Error()
		}
	}
	var lunErr error
	if req.Kind == OpDelete && len(remaining) == 0 {
		lunErr = o.activeStep(ctx, StepDeleteLUN, false, func(ctx context.Context) error {
			err := storageErr("delete LUN "+o.disk.Name, r.cfg.Storage.DeleteLUN(ctx, o.disk.Name, false))
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			return err
		})
	}
	// The record must follow what was done even when ctx ended meanwhile.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	remove := len(remaining) == 0 && lunErr == nil
	uerr := o.activeStep(uctx, StepUnregister, false, func(ctx context.Context) error {
		_, err := r.cfg.Store.UpdateGroup(ctx, req.Group, func(g *Group) error {
			i := slices.IndexFunc(g.Resources, func(d DiskResource) bool { return d.Name == req.Resource })
			if i < 0 {
				return nil
			}
			if remove {
				g.Resources = slices.Delete(g.Resources, i, i+1)
				return nil
			}
			d := &g.Resources[i]
			d.State = DiskOffline
			var still []string
			for _, n := range d.PossibleOwners {
				if slices.Contains(remaining, n) {
					still = append(still, n)
				}
			}
			d.PossibleOwners = still
			return nil
		})
		return err
	})
	switch {
	case lunErr != nil:
		return fmt.Errorf("%s: every node disconnected but %w; the resource is kept offline", o.name(), lunErr)
	case uerr != nil && failed == "":
		return fmt.Errorf("%s: unregister the resource: %w", o.name(), uerr)
	case failed != "":
		return fmt.Errorf("%s: %w: %s; the resource is kept offline with %s", o.name(), ErrPartialFailure, failed, strings.Join(remaining, ", "))
	}
	return nil
}

// reconnect connects again the passive nodes a disconnect or delete
// disconnected (the rollback of a disconnect), on a fresh context.
func (o *operation) reconnect(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.r.cfg.RollbackTimeout)
	defer cancel()
	var idx []int
	for i, p := range o.passives {
		if p.Status == NodeOK {
			idx = append(idx, i)
		}
	}
	o.undoPassives(rctx, idx, func(ctx context.Context, api NodeAPI, node string) ([]StepTiming, error) {
		resp, err := api.Connect(ctx, ConnectRequest{
			RequestID: o.requestID(node, "reconnect"), LUN: o.disk.Name, WWN: o.disk.WWN,
			Target: o.disk.Target, Portal: o.disk.Portal, Timeout: o.req.NodeTimeout,
		})
		return resp.Steps, err
	})
	o.res.RolledBack = true
}
