package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/target"
)

// Runner defaults.
const (
	// DefaultOwnershipTTL is the TTL of the etcd session that holds a
	// group's ownership when RunnerConfig.OwnershipTTL is zero.
	DefaultOwnershipTTL = 15 * time.Second
	// DefaultRollbackTimeout bounds a rollback (which runs on a fresh
	// context, so that a cancelled operation still cleans up) when
	// RunnerConfig.RollbackTimeout is zero.
	DefaultRollbackTimeout = 2 * time.Minute
	// stateTimeout bounds the etcd writes made on a fresh context after
	// the operation's context ended (unlock, record).
	stateTimeout = 10 * time.Second
)

// ErrPartialFailure reports an operation in which some nodes did not
// succeed; the OperationResult lists every node with its status and error.
var ErrPartialFailure = errors.New("cluster: some nodes failed")

// RunnerConfig configures a Runner. Node, Self, Store, Storage and Agents
// are required; the zero value of every other field is a documented
// default.
type RunnerConfig struct {
	// Node is the name of the node the runner runs on (the active node of
	// the groups it operates on).
	Node string
	// Self is this node's own agent (called in process).
	Self NodeAPI
	// Store is the cluster state in etcd.
	Store *Store
	// Storage is the storage system's management API.
	Storage *target.Client
	// Agents resolves a passive node's agent; an error wrapping
	// ErrNotFound marks the node skipped (not registered or not alive),
	// any other error marks it failed. AgentResolver builds one.
	Agents func(ctx context.Context, node string) (NodeAPI, error)
	// OwnershipTTL is the TTL of the etcd session holding the ownership
	// of the groups this node owns; zero means DefaultOwnershipTTL.
	OwnershipTTL time.Duration
	// RollbackTimeout bounds a rollback; zero means
	// DefaultRollbackTimeout.
	RollbackTimeout time.Duration
	// Logger receives the operations' events; the zero value is silent.
	Logger zerolog.Logger
}

// Runner runs the cluster operations (create, connect, disconnect,
// delete) of the resource groups its node owns: the active node's own
// part, then the passive nodes in parallel (or one at a time in serial
// mode), then the group's record in etcd. It implements OperationRunner.
//
// Run is safe for concurrent use; operations on one group are serialised
// by the group's lock in etcd (a second one gets ErrConflict). The runner
// keeps the ownership of every group it has operated on until Close.
type Runner struct {
	cfg RunnerConfig
	log zerolog.Logger

	mu    sync.Mutex
	owned map[string]*Ownership // group → this node's ownership
}

// NewRunner returns the runner cfg describes.
func NewRunner(cfg RunnerConfig) (*Runner, error) {
	switch {
	case cfg.Node == "":
		return nil, fmt.Errorf("%w: runner: Node is empty", ErrInvalid)
	case cfg.Self == nil:
		return nil, fmt.Errorf("%w: runner: Self is nil", ErrInvalid)
	case cfg.Store == nil:
		return nil, fmt.Errorf("%w: runner: Store is nil", ErrInvalid)
	case cfg.Storage == nil:
		return nil, fmt.Errorf("%w: runner: Storage is nil", ErrInvalid)
	case cfg.Agents == nil:
		return nil, fmt.Errorf("%w: runner: Agents is nil", ErrInvalid)
	case cfg.OwnershipTTL < 0 || cfg.RollbackTimeout < 0:
		return nil, fmt.Errorf("%w: runner: negative OwnershipTTL or RollbackTimeout", ErrInvalid)
	}
	if cfg.OwnershipTTL == 0 {
		cfg.OwnershipTTL = DefaultOwnershipTTL
	}
	if cfg.RollbackTimeout == 0 {
		cfg.RollbackTimeout = DefaultRollbackTimeout
	}
	return &Runner{cfg: cfg, log: cfg.Logger, owned: make(map[string]*Ownership)}, nil
}

// Close resigns the ownership of every group the runner holds.
func (r *Runner) Close() error {
	r.mu.Lock()
	owned := r.owned
	r.owned = make(map[string]*Ownership)
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	var errs []error
	for group, o := range owned {
		if err := o.Resign(ctx); err != nil {
			errs = append(errs, fmt.Errorf("resign group %q: %w", group, err))
		}
	}
	return errors.Join(errs...)
}

// AgentResolver returns a RunnerConfig.Agents that finds a node's agent
// URL in store and calls it over HTTP with token (hc nil: the default
// client). A node that is not registered gives ErrNotFound. The nodes'
// records are kept in memory by a watch on their keys (store's node
// directory), so a lookup costs no etcd request.
func AgentResolver(store *Store, token string, hc *http.Client) func(ctx context.Context, node string) (NodeAPI, error) {
	dir := store.nodeDir()
	return func(ctx context.Context, node string) (NodeAPI, error) {
		if err := validName("node", node); err != nil {
			return nil, err
		}
		info, err := dir.node(ctx, node)
		if err != nil {
			return nil, err
		}
		if info.AgentURL == "" {
			return nil, fmt.Errorf("%w: node %q has no agent URL", ErrNotFound, node)
		}
		return NewAgentClient(info.AgentURL, token, hc), nil
	}
}

// Run runs one operation and returns its result, which lists every node.
// progress, when not nil, receives an event when a node starts or ends a
// step; the runner serialises its calls (it is never called concurrently).
//
// The result is complete even when err is not nil. An operation in which
// some passive nodes failed returns an error wrapping ErrPartialFailure
// (with keep the resource is recorded with the nodes that succeeded; with
// rollback RolledBack is set). A cancelled ctx rolls the operation back on
// a fresh context and returns an error wrapping ctx's error.
func (r *Runner) Run(ctx context.Context, req OperationRequest, progress func(ProgressEvent)) (OperationResult, error) {
	started := time.Now()
	explicitID := req.ID != ""
	res := OperationResult{ID: req.ID, Kind: req.Kind, Group: req.Group, Resource: req.Resource, Mode: req.Mode, Started: started}
	if err := r.normalise(&req); err != nil {
		return finish(&res, started, err)
	}
	res.ID, res.Mode = req.ID, req.Mode
	op := &operation{r: r, req: req, res: &res, started: started, explicitID: explicitID,
		active: NodeResult{Node: r.cfg.Node, Role: RoleActive, Status: NodeRunning}}
	op.emitter(progress)

	lock, err := r.cfg.Store.LockGroup(ctx, req.Group, req.ID)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return finish(&res, started, fmt.Errorf("%s: group %q is busy: %w", op.name(), req.Group, err))
		}
		return finish(&res, started, fmt.Errorf("%s: refusing to start, the group lock cannot be taken: %w", op.name(), err))
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
		defer cancel()
		if err := lock.Unlock(uctx); err != nil {
			r.log.Warn().Err(err).Str("group", req.Group).Str("op", req.ID).Msg("unlocking the group")
		}
	}()
	if explicitID {
		if prev, err := r.cfg.Store.Operation(ctx, req.ID); err == nil {
			if prev.Error != "" {
				return prev, fmt.Errorf("%s (already run): %s", op.name(), prev.Error)
			}
			return prev, nil
		} else if !errors.Is(err, ErrNotFound) {
			return finish(&res, started, fmt.Errorf("%s: refusing to start: %w", op.name(), err))
		}
	}
	if err := op.prepare(ctx); err != nil {
		return finish(&res, started, err)
	}

	switch req.Kind {
	case OpCreate, OpConnect:
		err = op.runConnect(ctx)
	default:
		err = op.runDisconnect(ctx)
	}
	op.closeActive()
	if op.campaigned && !op.groupCreated {
		// A new group this run did not record: give its election up.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
		r.resign(rctx, req.Group)
		cancel()
	}
	res.Nodes = append([]NodeResult{op.active}, op.passives...)
	out, err := finish(&res, started, err)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	if rerr := r.cfg.Store.RecordOperation(rctx, out); rerr != nil {
		r.log.Warn().Err(rerr).Str("op", req.ID).Msg("recording the operation")
	}
	return out, err
}

// finish sets the result's total and error text.
func finish(res *OperationResult, started time.Time, err error) (OperationResult, error) {
	res.Total = time.Since(started)
	if err != nil {
		res.Error = err.Error()
	}
	return *res, err
}

// normalise validates req and fills in its defaults.
func (r *Runner) normalise(req *OperationRequest) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch req.Kind {
	case OpCreate, OpConnect, OpDisconnect, OpDelete:
	case "":
		return bad("kind: missing (create, connect, disconnect or delete)")
	default:
		return bad("kind: %q is not create, connect, disconnect or delete", req.Kind)
	}
	if err := checkName("group", req.Group); err != nil {
		return err
	}
	if err := checkName("resource", req.Resource); err != nil {
		return err
	}
	if req.Kind == OpCreate {
		if req.Size <= 0 || req.Size%512 != 0 {
			return bad("size: %d bytes, want a positive multiple of 512", req.Size)
		}
	} else if req.Size != 0 {
		return bad("size: only create takes a size, %s got %d", req.Kind, req.Size)
	}
	if (req.Kind == OpCreate || req.Kind == OpConnect) && req.Portal == "" {
		return bad("portal: missing (host:port of the target portal)")
	}
	switch req.Mode {
	case "":
		req.Mode = ModeParallel
	case ModeParallel, ModeSerial:
	default:
		return bad("mode: %q is not parallel or serial", req.Mode)
	}
	switch req.OnPartialFailure {
	case "":
		req.OnPartialFailure = KeepPartial
	case KeepPartial, RollbackPartial:
	default:
		return bad("on_partial_failure: %q is not keep or rollback", req.OnPartialFailure)
	}
	if req.MaxParallel < 0 {
		return bad("max_parallel: %d is negative", req.MaxParallel)
	}
	if req.NodeTimeout < 0 {
		return bad("node_timeout: %v is negative", req.NodeTimeout)
	}
	if req.NodeTimeout == 0 {
		req.NodeTimeout = DefaultNodeTimeout
	}
	if req.NoFormat && req.Kind != OpCreate {
		return bad("no_format: only create formats")
	}
	seen := make(map[string]bool, len(req.Passive))
	for _, n := range req.Passive {
		switch {
		case n == "":
			return bad("passive: empty node name")
		case n == r.cfg.Node:
			return bad("passive: %q is the active node", n)
		case seen[n]:
			return bad("passive: %q listed twice", n)
		}
		seen[n] = true
	}
	if req.ID != "" {
		if err := checkName("id", req.ID); err != nil {
			return err
		}
	} else {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("operation id: %w", err)
		}
		req.ID = hex.EncodeToString(b[:])
	}
	return nil
}

// checkName checks a group or resource name: 1 to 64 of [a-zA-Z0-9._-]
// (the storage system's LUN names).
func checkName(field, s string) error {
	if s == "" {
		return fmt.Errorf("%w: %s: missing", ErrInvalid, field)
	}
	if len(s) > 64 {
		return fmt.Errorf("%w: %s: %d characters, want at most 64", ErrInvalid, field, len(s))
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %s: %q has %q, want only [a-zA-Z0-9._-]", ErrInvalid, field, s, c)
		}
	}
	return nil
}

// ownership makes sure this node owns group (campaigning for it when the
// runner does not hold it yet) and returns whether this call campaigned.
// exists says whether the group is recorded, owner is its recorded owner.
func (r *Runner) ownership(ctx context.Context, group string, exists bool, owner string) (bool, error) {
	if exists && owner != r.cfg.Node {
		return false, fmt.Errorf("%w: group %q is owned by node %q, run the operation there", ErrNotOwner, group, owner)
	}
	r.mu.Lock()
	o := r.owned[group]
	r.mu.Unlock()
	if o != nil {
		select {
		case <-o.Done():
			// The session expired: the ownership is lost. Campaign
			// again; if another node took the group over it leads and
			// the campaign fails.
			r.forget(group, o)
			r.log.Warn().Str("group", group).Msg("ownership of the group was lost; campaigning again")
		default:
			return false, nil
		}
	}
	o, err := r.cfg.Store.Campaign(ctx, group, r.cfg.Node, r.cfg.OwnershipTTL)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return false, fmt.Errorf("%w: group %q: %w", ErrNotOwner, group, err)
		}
		return false, fmt.Errorf("campaign for group %q: %w", group, err)
	}
	r.mu.Lock()
	r.owned[group] = o
	r.mu.Unlock()
	return true, nil
}

// forget drops o from the cache (if it is still the cached one).
func (r *Runner) forget(group string, o *Ownership) {
	r.mu.Lock()
	if r.owned[group] == o {
		delete(r.owned, group)
	}
	r.mu.Unlock()
}

// resign gives up a group's ownership this runner holds.
func (r *Runner) resign(ctx context.Context, group string) {
	r.mu.Lock()
	o := r.owned[group]
	delete(r.owned, group)
	r.mu.Unlock()
	if o == nil {
		return
	}
	if err := o.Resign(ctx); err != nil {
		r.log.Warn().Err(err).Str("group", group).Msg("resigning the group's ownership")
	}
}

// storageErr maps an error of the storage API to the package's sentinels.
func storageErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var ae *target.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusNotFound:
			return fmt.Errorf("storage: %s: %w: %w", what, ErrNotFound, err)
		case ae.Status == http.StatusConflict:
			return fmt.Errorf("storage: %s: %w: %w", what, ErrConflict, err)
		case ae.Status == http.StatusBadRequest:
			return fmt.Errorf("storage: %s: %w: %w", what, ErrInvalid, err)
		case ae.Status == http.StatusServiceUnavailable || ae.Status == http.StatusBadGateway:
			return fmt.Errorf("storage: %s: %w: %w", what, ErrUnavailable, err)
		}
		return fmt.Errorf("storage: %s: %w", what, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("storage: %s: %w", what, err)
	}
	return fmt.Errorf("storage: %s: %w: %w", what, ErrUnavailable, err)
}

// without returns names minus name, keeping the order.
func without(names []string, name string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

// union appends to a the names of b it does not hold yet.
func union(a []string, b ...string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// summary describes the nodes that did not succeed.
func summary(nodes []NodeResult) string {
	var parts []string
	for _, n := range nodes {
		if n.Status == NodeOK {
			continue
		}
		s := n.Node + " " + string(n.Status)
		if n.Error != "" {
			s += ": " + n.Error
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
