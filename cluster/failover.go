package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/errgroup"

	"github.com/lunarsan/lunar/scsi"
)

// Failover operations, recorded in the operation log (Runner.Run does not
// run them: a Failover does).
const (
	// OpFailover is a takeover after the owner's lease expired.
	OpFailover OperationKind = "failover"
	// OpMove is a planned move: the owner resigned for a named node.
	OpMove OperationKind = "move"
)

// Failover defaults.
const (
	// DefaultFailoverResync is how often a Failover lists the groups even
	// when etcd's watch is silent.
	DefaultFailoverResync = 5 * time.Second
	// failoverBackoff bounds the wait between attempts after an error.
	failoverBackoff     = 2 * time.Second
	failoverMinBackoff  = 100 * time.Millisecond
	failoverStepTimeout = 30 * time.Second
)

// FailoverConfig configures a Failover.
type FailoverConfig struct {
	// Runner is the node's runner: the Failover hands it the groups it
	// takes over and takes the node name, Store and ownership TTL from
	// its config. Required.
	Runner *Runner
	// Agent is the node's agent, which connects the disks. Required.
	Agent *Agent
	// Probe is how often the owner checks it still holds each disk's
	// reservation (a fenced owner drops its claim); zero means a third of
	// the ownership TTL, negative turns the probe off.
	Probe time.Duration
	// Resync is how often the groups are listed when etcd's watch is
	// silent; zero means DefaultFailoverResync.
	Resync time.Duration
	// Agents resolves another node's agent for a planned move (the
	// owner's resign endpoint); nil means AgentResolver(store, the
	// agent's token, nil).
	Agents func(ctx context.Context, node string) (NodeAPI, error)
	// OnTakeover, when set, is called with each takeover's record (for
	// benchmarks and tests).
	OnTakeover func(OperationResult)
	// Logger receives the failover's events; the zero value is silent.
	Logger zerolog.Logger
}

// Failover is a node's failover loop. For every resource group the node
// is a possible owner of, it watches the group's election in etcd: when
// the owner's lease is gone it campaigns, and the winner connects each
// disk, registers its key, PREEMPT AND ABORTs the old owner's key (so the
// old owner cannot write even if it still runs), checks that READ
// RESERVATION shows itself, records itself as the group's owner and hands
// the ownership to its Runner. Losers stay passive. When the node owns a
// group it watches its ownership and its reservations: if it loses either
// it drops its claim, releases the group's disks and, once the new owner
// is recorded, connects them again as a passive node (see fence.go for
// the rule). It also serves planned moves (Takeover and Resign).
type Failover struct {
	cfg    FailoverConfig
	node   string
	store  *Store
	runner *Runner
	agent  *Agent
	ttl    time.Duration
	fence  *Fence
	fErr   error // why fence is nil
	log    zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	started  bool
	watchers map[string]context.CancelFunc
	rejoin   map[string]bool // groups lost, waiting to connect again as passive
	moving   map[string]bool // groups a planned move is taking over
}

// NewFailover returns the failover loop of cfg.Runner's node; Start runs
// it, Close stops it.
func NewFailover(cfg FailoverConfig) (*Failover, error) {
	switch {
	case cfg.Runner == nil:
		return nil, fmt.Errorf("%w: failover: Runner is nil", ErrInvalid)
	case cfg.Agent == nil:
		return nil, fmt.Errorf("%w: failover: Agent is nil", ErrInvalid)
	case cfg.Runner.cfg.Node != cfg.Agent.Node():
		return nil, fmt.Errorf("%w: failover: runner of node %q, agent of node %q", ErrInvalid, cfg.Runner.cfg.Node, cfg.Agent.Node())
	}
	rc := cfg.Runner.cfg
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultFailoverResync
	}
	if cfg.Probe == 0 {
		cfg.Probe = max(rc.OwnershipTTL/3, 100*time.Millisecond)
	}
	if cfg.Agents == nil {
		cfg.Agents = AgentResolver(rc.Store, cfg.Agent.cfg.Token, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Failover{
		cfg: cfg, node: rc.Node, store: rc.Store, runner: cfg.Runner, agent: cfg.Agent, ttl: rc.OwnershipTTL,
		log: cfg.Logger.With().Str("node", rc.Node).Str("component", "failover").Logger(),
		ctx: ctx, cancel: cancel,
		watchers: make(map[string]context.CancelFunc),
		rejoin:   make(map[string]bool),
		moving:   make(map[string]bool),
	}
	f.fence, f.fErr = NewFence(cfg.Agent.Engine(), rc.Node)
	return f, nil
}

// Node returns the failover's node name.
func (f *Failover) Node() string { return f.node }

// Start runs the loop in the background until Close or Crash.
func (f *Failover) Start() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.ctx.Err() != nil {
		return
	}
	f.started = true
	f.wg.Go(f.run)
}

// Close stops the loop and waits for it. The groups the node owns stay
// with its Runner (Runner.Close resigns them).
func (f *Failover) Close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// Crash stops the loop as a crash of the node would: the ownership
// sessions of the node's Runner stop being renewed without being revoked,
// so the other nodes see the leases expire after their TTL (for tests and
// benchmarks; Local.StopNode calls it).
func (f *Failover) Crash() {
	f.cancel()
	f.wg.Wait()
	r := f.runner
	r.mu.Lock()
	owned := r.owned
	r.owned = make(map[string]*Ownership)
	r.mu.Unlock()
	for _, o := range owned {
		o.sess.Orphan()
	}
}

// run lists the groups and keeps one watcher per group the node may own.
func (f *Failover) run() {
	ctx := f.ctx
	defer func() {
		f.mu.Lock()
		for g, stop := range f.watchers {
			stop()
			delete(f.watchers, g)
		}
		f.mu.Unlock()
	}()
	wch := f.store.client.Watch(clientv3.WithRequireLeader(ctx), f.store.key("groups")+"/", clientv3.WithPrefix(), clientv3.WithFilterDelete())
	tick := time.NewTicker(f.cfg.Resync)
	defer tick.Stop()
	for {
		f.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case _, ok := <-wch:
			if !ok {
				// The watch ended (etcd lost): rely on the ticker until
				// a new one can be made.
				wch = f.store.client.Watch(clientv3.WithRequireLeader(ctx), f.store.key("groups")+"/", clientv3.WithPrefix(), clientv3.WithFilterDelete())
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}
	}
}

// reconcile starts a watcher for each group the node may own.
func (f *Failover) reconcile(ctx context.Context) {
	groups, err := f.store.Groups(ctx)
	if err != nil {
		f.log.Debug().Err(err).Msg("listing the groups")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, g := range groups {
		if _, ok := f.watchers[g.Name]; ok || !possibleOwner(g, f.node) {
			continue
		}
		wctx, stop := context.WithCancel(ctx)
		f.watchers[g.Name] = stop
		name := g.Name
		f.wg.Go(func() {
			f.watch(wctx, name)
			f.mu.Lock()
			delete(f.watchers, name)
			f.mu.Unlock()
			stop()
		})
	}
}

// possibleOwner reports whether node may own g: a member or a possible
// owner of one of its disks.
func possibleOwner(g Group, node string) bool {
	if slices.Contains(g.Nodes, node) || g.Owner == node {
		return true
	}
	for _, d := range g.Resources {
		if slices.Contains(d.PossibleOwners, node) {
			return true
		}
	}
	return false
}

// wait waits d or until ctx ends; it reports whether ctx is still alive.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// leader returns a group's election leader ("" for none) and the
// revision it was read at.
func (f *Failover) leader(ctx context.Context, group string) (string, int64, error) {
	rctx, cancel := f.store.request(ctx)
	defer cancel()
	resp, err := f.store.client.Get(rctx, f.store.electionPrefix(group)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, etcdError("owner of group "+group, err)
	}
	if len(resp.Kvs) == 0 {
		return "", resp.Header.Revision, nil
	}
	return string(resp.Kvs[0].Value), resp.Header.Revision, nil
}

// waitElection waits for a change of a group's election after rev (a
// candidate's key deleted or added), at most the resync period.
func (f *Failover) waitElection(ctx context.Context, group string, rev int64) {
	wctx, cancel := context.WithTimeout(ctx, f.cfg.Resync)
	defer cancel()
	wch := f.store.client.Watch(clientv3.WithRequireLeader(wctx), f.store.electionPrefix(group)+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for {
		select {
		case <-wctx.Done():
			return
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil || len(resp.Events) > 0 {
				if !ok || resp.Err() != nil {
					wait(wctx, failoverMinBackoff)
				}
				return
			}
		}
	}
}

// watch is one group's watcher.
func (f *Failover) watch(ctx context.Context, group string) {
	backoff := failoverMinBackoff
	fail := func(err error, msg string) bool {
		f.log.Debug().Err(err).Str("group", group).Msg(msg)
		ok := wait(ctx, backoff)
		backoff = min(2*backoff, failoverBackoff)
		return ok
	}
	for ctx.Err() == nil {
		leader, rev, err := f.leader(ctx, group)
		if err != nil {
			if !fail(err, "reading the group's owner") {
				return
			}
			continue
		}
		f.mu.Lock()
		rejoin, moving := f.rejoin[group], f.moving[group]
		f.mu.Unlock()
		switch {
		case moving:
			// A planned move runs its own campaign.
			f.waitElection(ctx, group, rev)
		case leader == f.node:
			o := f.runner.owning(group)
			if o == nil {
				// A key of this node without a session here (a
				// campaign in progress): wait for it to settle.
				f.waitElection(ctx, group, rev)
				continue
			}
			backoff = failoverMinBackoff
			f.hold(ctx, group, o)
			continue
		case leader != "" && rejoin:
			if err := f.rejoinGroup(ctx, group, leader); err != nil {
				if !fail(err, "rejoining the group as a passive node") {
					return
				}
				continue
			}
			backoff = failoverMinBackoff
		case leader != "":
			f.waitElection(ctx, group, rev)
		default:
			detected := time.Now()
			if _, err := f.failover(ctx, group, detected); err != nil {
				if errors.Is(err, ErrNotFound) && ctx.Err() == nil {
					// The group is gone or no longer lists this node.
					if _, gerr := f.store.Group(ctx, group); errors.Is(gerr, ErrNotFound) {
						return
					}
				}
				if !fail(err, "taking the group over") {
					return
				}
				continue
			}
			backoff = failoverMinBackoff
		}
	}
}

// hold watches a group this node owns until the ownership ends or
// another node holds a disk's reservation; then it drops the claim.
func (f *Failover) hold(ctx context.Context, group string, o *Ownership) {
	// The group as last read: a cut-off owner still knows its disks.
	var g *Group
	if cur, err := f.store.Group(ctx, group); err == nil {
		g = &cur
	}
	var tick <-chan time.Time
	if f.cfg.Probe > 0 && f.fence != nil {
		t := time.NewTicker(f.cfg.Probe)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.Done():
			f.lost(ctx, g, o, "the ownership's lease ended")
			return
		case <-tick:
			if cur, err := f.store.Group(ctx, group); err == nil {
				g = &cur
			}
			if holder, fenced := f.fencedOn(ctx, g); fenced {
				f.lost(ctx, g, o, fmt.Sprintf("the disks' reservation is held by key %#016x", holder))
				return
			}
		}
	}
}

// fencedOn reports whether another key holds the reservation of a disk of
// group that this node has connected.
func (f *Failover) fencedOn(ctx context.Context, g *Group) (uint64, bool) {
	if g == nil {
		return 0, false
	}
	for _, d := range g.Resources {
		pctx, cancel := context.WithTimeout(ctx, f.cfg.Probe+time.Second)
		r, err := f.fence.Reservation(pctx, d.WWN)
		cancel()
		if err == nil && r.Reserved && r.Key != f.fence.Key() {
			return r.Key, true
		}
	}
	return 0, false
}

// lost drops the node's claim on a group: the runner forgets the
// ownership (it resigns it, in case etcd still lists it), the disks are
// released, and the group waits to be joined again as a passive node.
func (f *Failover) lost(ctx context.Context, g *Group, o *Ownership, why string) {
	group := o.Group()
	f.log.Warn().Str("group", group).Str("why", why).Msg("lost the group: dropping the claim and rejoining as a passive node")
	f.runner.forget(group, o)
	f.mu.Lock()
	f.rejoin[group] = true
	f.mu.Unlock()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	// The disks go first: a cut-off owner's resign waits for etcd.
	if g != nil {
		for _, d := range g.Resources {
			_ = f.agent.Engine().Release(rctx, d.WWN)
		}
	}
	_ = o.Resign(rctx)
	if cur, err := f.store.Group(rctx, group); err == nil {
		g = &cur
	}
	if g == nil {
		return
	}
	for _, d := range g.Resources {
		_ = f.agent.Engine().Release(rctx, d.WWN)
	}
}

// rejoinGroup connects the group's disks again on a node that lost it,
// once the new owner is recorded (so the new owner has fenced the old key
// already and the new registration survives).
func (f *Failover) rejoinGroup(ctx context.Context, group, leader string) error {
	g, err := f.store.Group(ctx, group)
	if err != nil {
		return err
	}
	if g.Owner != leader {
		return fmt.Errorf("%w: group %s: waiting for the new owner %s to record itself (recorded %s)", ErrConflict, group, leader, g.Owner)
	}
	id := newFailoverID()
	for _, d := range g.Resources {
		if !slices.Contains(d.PossibleOwners, f.node) {
			continue
		}
		// Release first: the rule of fence.go (no handle opened under
		// the old ownership survives the new registration).
		_ = f.agent.Engine().Release(ctx, d.WWN)
		cctx, cancel := context.WithTimeout(ctx, failoverStepTimeout)
		_, err := f.agent.Connect(cctx, ConnectRequest{RequestID: id + "-rejoin-" + d.Name, LUN: d.Name, WWN: d.WWN, Target: d.Target, Portal: d.Portal})
		cancel()
		if err != nil {
			return fmt.Errorf("rejoin group %s: connect %s: %w", group, d.Name, err)
		}
	}
	f.mu.Lock()
	delete(f.rejoin, group)
	f.mu.Unlock()
	f.log.Info().Str("group", group).Str("owner", leader).Msg("rejoined the group as a passive node")
	return nil
}

func newFailoverID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// failover campaigns for a group without an owner and takes it over when
// it wins. A lost race returns ErrConflict (the node stays passive).
func (f *Failover) failover(ctx context.Context, group string, detected time.Time) (OperationResult, error) {
	if f.fence == nil {
		return OperationResult{}, fmt.Errorf("failover of group %s: %w", group, f.fErr)
	}
	g, err := f.store.Group(ctx, group)
	if err != nil {
		return OperationResult{}, err
	}
	if !possibleOwner(g, f.node) {
		return OperationResult{}, fmt.Errorf("%w: node %s is no possible owner of group %s", ErrNotFound, f.node, group)
	}
	start := time.Now()
	o, err := f.store.Campaign(ctx, group, f.node, f.ttl)
	camp := StepTiming{Step: StepCampaign, Start: start, Duration: time.Since(start)}
	if err != nil {
		return OperationResult{}, err
	}
	pre := []StepTiming{{Step: StepDetect, Start: detected, Duration: 0}, camp}
	return f.takeover(ctx, g, o, OpFailover, detected, pre)
}

// takeover makes the node, which leads group's election with o, its
// owner: every disk connected, registered, the old owner preempted and
// the reservation checked, in parallel; then the record in etcd and the
// runner. On failure it resigns so another node can try.
func (f *Failover) takeover(ctx context.Context, g Group, o *Ownership, kind OperationKind, started time.Time, pre []StepTiming) (OperationResult, error) {
	res := OperationResult{ID: newFailoverID(), Kind: kind, Group: g.Name, Mode: ModeParallel, Started: started}
	nr := NodeResult{Node: f.node, Role: RoleActive, Status: NodeRunning, Steps: pre}
	var victims []uint64
	if g.Owner != "" && g.Owner != f.node {
		victims = append(victims, NodeKey(g.Owner))
	}
	connected := map[string]bool{}
	if disks, err := f.agent.Engine().Disks(ctx); err == nil {
		for _, d := range disks {
			connected[strings.ToLower(d.WWN)] = true
		}
	}
	var mu sync.Mutex
	add := func(steps ...StepTiming) {
		mu.Lock()
		nr.Steps = append(nr.Steps, steps...)
		mu.Unlock()
	}
	fanStart := time.Now()
	var eg errgroup.Group
	for _, d := range g.Resources {
		eg.Go(func() error {
			dctx, cancel := context.WithTimeout(ctx, failoverStepTimeout)
			defer cancel()
			if !connected[strings.ToLower(d.WWN)] {
				resp, err := f.agent.Connect(dctx, ConnectRequest{RequestID: res.ID + "-connect-" + d.Name, LUN: d.Name, WWN: d.WWN, Target: d.Target, Portal: d.Portal})
				add(resp.Steps...)
				if err != nil {
					return fmt.Errorf("connect %s: %w", d.Name, err)
				}
			}
			fs, err := f.fence.Takeover(dctx, d.WWN, victims...)
			for _, st := range []StepTiming{fs.Register, fs.Fence, fs.Check} {
				if st.Step != "" {
					add(st)
				}
			}
			if err != nil {
				return fmt.Errorf("disk %s: %w", d.Name, err)
			}
			return nil
		})
	}
	err := eg.Wait()
	res.FanOut = time.Since(fanStart)
	if err == nil {
		start := time.Now()
		_, err = f.store.UpdateGroup(ctx, g.Name, func(cur *Group) error {
			cur.Owner = f.node
			cur.Nodes = union(cur.Nodes, f.node)
			for i := range cur.Resources {
				cur.Resources[i].State = DiskOnline
			}
			return nil
		})
		st := StepTiming{Step: StepOwner, Start: start, Duration: time.Since(start)}
		if err != nil {
			st.Error = err.Error()
		}
		nr.Steps = append(nr.Steps, st)
	}
	nr.Status = NodeOK
	if err != nil {
		nr.Status, nr.Error = NodeFailed, err.Error()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
		_ = o.Resign(rctx)
		cancel()
	} else {
		f.runner.adopt(o)
		f.mu.Lock()
		delete(f.rejoin, g.Name)
		f.mu.Unlock()
	}
	if n := len(nr.Steps); n > 0 {
		nr.Total = time.Since(nr.Steps[0].Start)
	}
	res.Nodes = []NodeResult{nr}
	res.Active = time.Since(started)
	out, err := finish(&res, started, err)
	if err != nil {
		err = fmt.Errorf("%s of group %s on %s: %w", kind, g.Name, f.node, err)
		out.Error = err.Error()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	if rerr := f.store.RecordOperation(rctx, out); rerr != nil {
		f.log.Warn().Err(rerr).Str("group", g.Name).Msg("recording the takeover")
	}
	cancel()
	f.log.Info().Str("group", g.Name).Str("kind", string(kind)).Str("old_owner", g.Owner).Dur("total", out.Total).AnErr("error", err).Msg("group taken over")
	if f.cfg.OnTakeover != nil {
		f.cfg.OnTakeover(out)
	}
	return out, err
}

// Resign gives up a group this node owns for a planned move: it flushes
// the group's disks and resigns the election; the node's watcher then
// releases the disks and, once the new owner has recorded itself,
// connects them again as a passive node.
func (f *Failover) Resign(ctx context.Context, group string) error {
	o := f.runner.owning(group)
	if o == nil {
		return fmt.Errorf("%w: node %s does not hold group %s", ErrNotOwner, f.node, group)
	}
	if g, err := f.store.Group(ctx, group); err == nil {
		for _, d := range g.Resources {
			if dev, err := f.agent.Engine().Open(ctx, d.WWN); err == nil {
				_ = dev.Sync(ctx)
			}
		}
	}
	f.mu.Lock()
	f.rejoin[group] = true
	f.mu.Unlock()
	f.runner.forget(group, o)
	return o.Resign(ctx)
}

// Takeover moves a group to this node (the target side of a planned
// move): it queues in the group's election, asks the owner to resign,
// and once elected fences the old owner's key on every disk as a failover
// does. A group without an owner is simply taken.
func (f *Failover) Takeover(ctx context.Context, group string) (OperationResult, error) {
	if f.fence == nil {
		return OperationResult{}, fmt.Errorf("move of group %s: %w", group, f.fErr)
	}
	started := time.Now()
	g, err := f.store.Group(ctx, group)
	if err != nil {
		return OperationResult{}, err
	}
	if !possibleOwner(g, f.node) {
		return OperationResult{}, fmt.Errorf("%w: node %s is not a member or possible owner of group %s", ErrInvalid, f.node, group)
	}
	owner, rev, err := f.leader(ctx, group)
	if err != nil {
		return OperationResult{}, err
	}
	if owner == f.node {
		return OperationResult{}, fmt.Errorf("%w: node %s owns group %s already", ErrConflict, f.node, group)
	}
	f.mu.Lock()
	if f.moving[group] {
		f.mu.Unlock()
		return OperationResult{}, fmt.Errorf("%w: a move of group %s to %s is running", ErrConflict, group, f.node)
	}
	f.moving[group] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.moving, group)
		f.mu.Unlock()
	}()

	// Queue in the election, then watch for our key to be in place before
	// asking the owner to resign: the queue then hands the group to this
	// node, not to another possible owner.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := f.store.client.Watch(cctx, f.store.electionPrefix(group)+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	type won struct {
		o   *Ownership
		err error
	}
	wonc := make(chan won, 1)
	campStart := time.Now()
	go func() {
		o, err := f.store.CampaignWait(cctx, group, f.node, f.ttl)
		wonc <- won{o, err}
	}()
	var resign StepTiming
	if owner != "" {
	queued:
		for {
			select {
			case w := <-wonc:
				// Elected at once: the owner went away meanwhile.
				wonc <- w
				break queued
			case resp, ok := <-wch:
				if !ok {
					return OperationResult{}, fmt.Errorf("%w: move of group %s: the election's watch ended: %w", ErrUnavailable, group, ctx.Err())
				}
				for _, ev := range resp.Events {
					if ev.Type == clientv3.EventTypePut && string(ev.Kv.Value) == f.node {
						break queued
					}
				}
			}
		}
		start := time.Now()
		err := f.askResign(ctx, owner, group)
		resign = StepTiming{Step: StepResign, Start: start, Duration: time.Since(start)}
		if err != nil {
			resign.Error = err.Error()
			f.log.Warn().Err(err).Str("group", group).Str("owner", owner).Msg("the owner did not resign; waiting for its lease to end")
		}
	}
	var w won
	select {
	case w = <-wonc:
	case <-ctx.Done():
		return OperationResult{}, ctxError(ctx, "move of group "+group)
	}
	if w.err != nil {
		return OperationResult{}, w.err
	}
	camp := StepTiming{Step: StepCampaign, Start: campStart, Duration: time.Since(campStart)}
	pre := []StepTiming{camp}
	if resign.Step != "" {
		pre = []StepTiming{resign, camp}
	}
	// The group as it is now: the old owner is the recorded one.
	if cur, err := f.store.Group(ctx, group); err == nil {
		g = cur
	}
	return f.takeover(context.WithoutCancel(ctx), g, w.o, OpMove, started, pre)
}

// askResign asks owner's agent to resign group.
func (f *Failover) askResign(ctx context.Context, owner, group string) error {
	if owner == f.node {
		return f.Resign(ctx, group)
	}
	api, err := f.cfg.Agents(ctx, owner)
	if err != nil {
		return err
	}
	switch a := api.(type) {
	case *AgentClient:
		return a.Resign(ctx, group)
	case *Agent:
		fo := a.failover.Load()
		if fo == nil {
			return fmt.Errorf("%w: node %s runs no failover", ErrUnavailable, owner)
		}
		return fo.Resign(ctx, group)
	}
	return fmt.Errorf("%w: node %s: cannot ask it to resign", ErrInvalid, owner)
}

// adopt makes o the runner's ownership of its group (a takeover won it).
func (r *Runner) adopt(o *Ownership) {
	r.mu.Lock()
	old := r.owned[o.group]
	r.owned[o.group] = o
	r.mu.Unlock()
	if old != nil && old != o {
		ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
		_ = old.Resign(ctx)
		cancel()
	}
}

// owning returns the runner's live ownership of group, or nil.
func (r *Runner) owning(group string) *Ownership {
	r.mu.Lock()
	o := r.owned[group]
	r.mu.Unlock()
	if o == nil {
		return nil
	}
	select {
	case <-o.Done():
		return nil
	default:
		return o
	}
}

// The failover's agent API paths ({group} is the group's name).
const (
	// PathTakeover is POST: move the group to this node.
	PathTakeover = "/v1/groups/{group}/takeover"
	// PathResign is POST: this node, the owner, gives the group up.
	PathResign = "/v1/groups/{group}/resign"
	// PathReservation is GET: the reservation and keys of the group's
	// disks as this node reads them.
	PathReservation = "/v1/groups/{group}/reservation"
)

// ResignResponse answers POST /v1/groups/{group}/resign.
type ResignResponse struct {
	// Node is the node that resigned.
	Node string `json:"node"`
	// Group is the group.
	Group string `json:"group"`
}

// DiskReservation is a disk's persistent reservation as a node reads it.
type DiskReservation struct {
	// Name is the disk resource's name.
	Name string `json:"name"`
	// WWN is the disk's WWN.
	WWN string `json:"wwn"`
	// Reserved reports whether a reservation is held.
	Reserved bool `json:"reserved"`
	// Holder is the holder's key.
	Holder uint64 `json:"holder"`
	// HolderNode names the node whose key is Holder, if one of the
	// group's nodes.
	HolderNode string `json:"holder_node,omitempty"`
	// Type is the reservation type.
	Type uint8 `json:"type"`
	// Keys are the registered keys.
	Keys []uint64 `json:"keys"`
	// Error is why the disk could not be read.
	Error string `json:"error,omitempty"`
}

// SetFailover wires the failover that serves the agent's takeover,
// resign and reservation endpoints; nil unwires it (503).
func (a *Agent) SetFailover(f *Failover) { a.failover.Store(f) }

// failoverRoutes adds the failover's endpoints to the agent's API.
func (a *Agent) failoverRoutes(mux *http.ServeMux) {
	get := func(w http.ResponseWriter) *Failover {
		f := a.failover.Load()
		if f == nil {
			writeError(w, fmt.Errorf("%w: node %s runs no failover", ErrUnavailable, a.cfg.Node))
		}
		return f
	}
	mux.Handle("POST "+PathTakeover, a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := get(w); f != nil {
			res, err := f.Takeover(r.Context(), r.PathValue("group"))
			if err != nil && res.ID == "" {
				writeError(w, err)
				return
			}
			writeJSON(w, StatusOf(err), res)
		}
	})))
	mux.Handle("POST "+PathResign, a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := get(w); f != nil {
			group := r.PathValue("group")
			if err := f.Resign(r.Context(), group); err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, ResignResponse{Node: a.cfg.Node, Group: group})
		}
	})))
	mux.Handle("GET "+PathReservation, a.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := get(w); f != nil {
			out, err := f.Reservations(r.Context(), r.PathValue("group"))
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, out)
		}
	})))
}

// Reservations reads, through this node, the reservation and keys of
// each disk of group.
func (f *Failover) Reservations(ctx context.Context, group string) ([]DiskReservation, error) {
	if f.fence == nil {
		return nil, f.fErr
	}
	g, err := f.store.Group(ctx, group)
	if err != nil {
		return nil, err
	}
	byKey := map[uint64]string{}
	for _, n := range union(g.Nodes, g.Owner) {
		byKey[NodeKey(n)] = n
	}
	out := make([]DiskReservation, 0, len(g.Resources))
	for _, d := range g.Resources {
		dr := DiskReservation{Name: d.Name, WWN: d.WWN}
		r, err := f.fence.Reservation(ctx, d.WWN)
		if err == nil {
			dr.Reserved, dr.Holder, dr.Type = r.Reserved, r.Key, uint8(r.Type)
			dr.HolderNode = byKey[r.Key]
			var keys scsi.PRReadKeysData
			keys, err = f.fence.Keys(ctx, d.WWN)
			dr.Keys = keys.Keys
		}
		if err != nil {
			dr.Error = err.Error()
		}
		out = append(out, dr)
	}
	return out, nil
}

// Takeover asks the node's agent to take group over (a planned move) and
// returns the move's record.
func (c *AgentClient) Takeover(ctx context.Context, group string) (OperationResult, error) {
	var res OperationResult
	err := c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/takeover", struct{}{}, &res)
	if err == nil && res.Error != "" {
		err = fmt.Errorf("cluster: %s", res.Error)
	}
	return res, err
}

// Resign asks the node's agent, the group's owner, to give group up.
func (c *AgentClient) Resign(ctx context.Context, group string) error {
	var res ResignResponse
	return c.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(group)+"/resign", struct{}{}, &res)
}

// Reservations reads the reservations of group's disks through the
// node's agent.
func (c *AgentClient) Reservations(ctx context.Context, group string) ([]DiskReservation, error) {
	var out []DiskReservation
	err := c.do(ctx, http.MethodGet, "/v1/groups/"+url.PathEscape(group)+"/reservation", nil, &out)
	return out, err
}

// Failover returns the node's Failover, nil when the Local runs none.
func (n *LocalNode) Failover() *Failover { return n.fo }

// StartFailover wires r as node i's runner and starts its Failover (cfg's
// Runner and Agent are set to the node's); StopNode then crashes it.
func (l *Local) StartFailover(i int, r *Runner, cfg FailoverConfig) (*Failover, error) {
	if i < 0 || i >= len(l.Nodes) {
		return nil, fmt.Errorf("%w: local cluster: no node %d (have %d)", ErrInvalid, i, len(l.Nodes))
	}
	n := l.Nodes[i]
	if n.fo != nil {
		return nil, fmt.Errorf("%w: local cluster: node %s runs a failover already", ErrConflict, n.Info.Name)
	}
	cfg.Runner, cfg.Agent = r, n.Agent
	fo, err := NewFailover(cfg)
	if err != nil {
		return nil, err
	}
	n.Agent.SetOperations(r)
	n.fo = fo
	n.Agent.SetFailover(fo)
	fo.Start()
	return fo, nil
}
