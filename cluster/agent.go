package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/initiator"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/target"
)

// OperationRunner runs cluster operations for the agent's
// POST /v1/operations (the Runner implements it).
type OperationRunner interface {
	// Run runs req, reporting each step's start and end to progress (which
	// may be called from several goroutines, never after Run returns).
	Run(ctx context.Context, req OperationRequest, progress func(ProgressEvent)) (OperationResult, error)
}

// AgentConfig configures an Agent.
type AgentConfig struct {
	// Node is the node's name. Required.
	Node string
	// InitiatorName is the node initiator's iSCSI name, put in the node's
	// igroup. Required.
	InitiatorName string
	// Engine is the node's initiator engine. Required.
	Engine Engine
	// Storage is the storage system's management API client. Required.
	Storage *target.Client
	// Token is the bearer token every request but GET /v1/health must
	// carry. Required (at least 16 characters).
	Token string
	// Operations runs POST /v1/operations; nil answers 501 until
	// SetOperations wires one.
	Operations OperationRunner
	// Logger receives the agent's log; the zero value is silent.
	Logger zerolog.Logger
	// Registry receives the agent's metrics; nil means a registry of its
	// own, which /metrics serves either way.
	Registry *prometheus.Registry
	// RecentRequests bounds the answers kept for idempotent repeats; zero
	// means DefaultRecentRequests.
	RecentRequests int
	// MaxBody bounds request bodies in bytes; zero means
	// DefaultAgentMaxBody.
	MaxBody int64
}

// Agent defaults.
const (
	// DefaultRecentRequests is how many request answers an agent keeps
	// for repeats with the same request id.
	DefaultRecentRequests = 1024
	// DefaultAgentMaxBody bounds a request body: 1 MiB.
	DefaultAgentMaxBody = 1 << 20
	// MinTokenLength is the shortest bearer token accepted.
	MinTokenLength = 16
	// maxIGroupName is the storage system's limit on group names.
	maxIGroupName = 64
)

// IGroupName returns the name of node's initiator group on the storage
// system: "lunar-node-" and the node's name with every character outside
// [a-zA-Z0-9._-] replaced by '_', cut to 64 characters.
func IGroupName(node string) string {
	var b strings.Builder
	b.WriteString("lunar-node-")
	for _, r := range node {
		if b.Len() >= maxIGroupName {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Agent is a node's agent: it connects LUNs to the node (mapping its
// initiator on the storage system, logging in, waiting for the disk),
// disconnects and formats them, in process (it implements NodeAPI) and
// over HTTP (Handler). It is safe for concurrent use.
type Agent struct {
	cfg     AgentConfig
	igroup  string
	metrics *agentMetrics
	handler http.Handler

	ops sync.RWMutex
	run OperationRunner

	failover atomic.Pointer[Failover] // serves the takeover/resign endpoints (failover.go)

	reqMu  sync.Mutex
	recent map[string]*agentCall // by kind and request id
	order  []string              // recent's keys, oldest first

	mu        sync.Mutex
	closed    bool
	defTarget string // the storage system's default target, once known
	// groupReady: the node's igroup was seen to exist and hold its
	// initiator, so a map sends the map alone (mapLUN).
	groupReady atomic.Bool
	inflight   map[TargetRef]int           // connects between login and their end
	connected  map[string]connectedDisk    // by lower-case WWN
	logins     map[TargetRef]struct{}      // targets this agent logged in to
	logouts    map[TargetRef]chan struct{} // logouts in progress, closed when done
}

// connectedDisk is a disk the agent connected.
type connectedDisk struct {
	ref TargetRef
	lun string
}

// agentCall is one request's answer, shared by its repeats.
type agentCall struct {
	fingerprint string
	done        chan struct{}
	value       any
	err         error
}

var _ NodeAPI = (*Agent)(nil)

// NewAgent returns the agent of cfg.Node. Close releases it (not its
// Engine, which the caller closes).
func NewAgent(cfg AgentConfig) (*Agent, error) {
	switch {
	case cfg.Node == "":
		return nil, fmt.Errorf("%w: agent: no node name", ErrInvalid)
	case cfg.InitiatorName == "":
		return nil, fmt.Errorf("%w: agent: no initiator name", ErrInvalid)
	case cfg.Engine == nil:
		return nil, fmt.Errorf("%w: agent: no initiator engine", ErrInvalid)
	case cfg.Storage == nil:
		return nil, fmt.Errorf("%w: agent: no storage API client", ErrInvalid)
	case len(cfg.Token) < MinTokenLength:
		return nil, fmt.Errorf("%w: agent: token of %d characters: want at least %d", ErrInvalid, len(cfg.Token), MinTokenLength)
	}
	if cfg.RecentRequests <= 0 {
		cfg.RecentRequests = DefaultRecentRequests
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultAgentMaxBody
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	m, err := newAgentMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:       cfg,
		igroup:    IGroupName(cfg.Node),
		metrics:   m,
		run:       cfg.Operations,
		recent:    make(map[string]*agentCall),
		inflight:  make(map[TargetRef]int),
		connected: make(map[string]connectedDisk),
		logins:    make(map[TargetRef]struct{}),
		logouts:   make(map[TargetRef]chan struct{}),
	}
	a.handler = a.newHandler()
	return a, nil
}

// Node returns the agent's node name.
func (a *Agent) Node() string { return a.cfg.Node }

// IGroup returns the node's initiator group name on the storage system.
func (a *Agent) IGroup() string { return a.igroup }

// Engine returns the agent's initiator engine.
func (a *Agent) Engine() Engine { return a.cfg.Engine }

// SetOperations wires the runner of POST /v1/operations (after both the
// agent and the runner exist); nil unwires it.
func (a *Agent) SetOperations(r OperationRunner) {
	a.ops.Lock()
	defer a.ops.Unlock()
	a.run = r
}

func (a *Agent) operations() OperationRunner {
	a.ops.RLock()
	defer a.ops.RUnlock()
	return a.run
}

// Close makes every later request fail with ErrUnavailable. It does not
// close the Engine.
func (a *Agent) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return nil
}

func (a *Agent) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// once runs fn for the request id of kind, or returns the answer of the
// earlier request with that id (waiting for it when it still runs). A
// repeat whose fields differ fails with ErrConflict. Answers that say the
// storage or the node was unreachable, or that were cancelled, are not
// kept, so a retry runs again.
func (a *Agent) once(ctx context.Context, kind, id, fingerprint string, fn func() (any, error)) (any, error) {
	if id == "" {
		return fn()
	}
	key := kind + "/" + id
	a.reqMu.Lock()
	c, ok := a.recent[key]
	if !ok {
		c = &agentCall{fingerprint: fingerprint, done: make(chan struct{})}
		a.recent[key] = c
		a.order = append(a.order, key)
		for len(a.order) > a.cfg.RecentRequests {
			delete(a.recent, a.order[0])
			a.order = a.order[1:]
		}
	}
	a.reqMu.Unlock()
	if ok {
		if c.fingerprint != fingerprint {
			return nil, fmt.Errorf("%w: request id %s was used for another %s request", ErrConflict, id, kind)
		}
		select {
		case <-c.done:
			return c.value, c.err
		case <-ctx.Done():
			return nil, ctxError(ctx, kind+" "+id)
		}
	}
	c.value, c.err = fn()
	if c.err != nil && (errors.Is(c.err, ErrUnavailable) || errors.Is(c.err, context.Canceled)) {
		a.reqMu.Lock()
		if a.recent[key] == c {
			delete(a.recent, key)
			if i := slices.Index(a.order, key); i >= 0 {
				a.order = slices.Delete(a.order, i, i+1)
			}
		}
		a.reqMu.Unlock()
	}
	close(c.done)
	return c.value, c.err
}

// onceAs is once for a typed answer.
func onceAs[T any](a *Agent, ctx context.Context, kind, id, fingerprint string, fn func() (T, error)) (T, error) {
	v, err := a.once(ctx, kind, id, fingerprint, func() (any, error) { return fn() })
	t, _ := v.(T)
	return t, err
}

// begin starts one request's work: it refuses when the agent is closed,
// bounds ctx by timeout (DefaultNodeTimeout when zero) and returns the
// recorder of the request's steps.
func (a *Agent) begin(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc, *stepRecorder, error) {
	if a.isClosed() {
		return ctx, func() {}, nil, fmt.Errorf("%w: agent of %s is closed", ErrUnavailable, a.cfg.Node)
	}
	if timeout == 0 {
		timeout = DefaultNodeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, cancel, &stepRecorder{a: a}, nil
}

// stepRecorder times steps into a list.
type stepRecorder struct {
	a     *Agent
	steps []StepTiming
}

// do runs fn as step s and records its timing and error.
func (r *stepRecorder) do(s Step, fn func() error) error {
	start := time.Now()
	err := fn()
	st := StepTiming{Step: s, Start: start, Duration: time.Since(start)}
	if err != nil {
		st.Error = err.Error()
	}
	r.steps = append(r.steps, st)
	r.a.metrics.observeStep(s, st.Duration, err)
	return err
}

// Connect maps the node's initiator to the LUN (creating or joining the
// node's igroup), logs in or reuses the session, waits for the disk with
// the request's WWN and, when ExpectLabel is set, checks the disk's GPT
// partition name. Repeats with the same RequestID return the first
// answer.
func (a *Agent) Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	if err := validateConnect(req); err != nil {
		a.metrics.count("connect", err)
		return ConnectResponse{}, err
	}
	lunID := "-"
	if req.LUNID != nil {
		lunID = strconv.FormatUint(*req.LUNID, 10)
	}
	fp := fmt.Sprintf("%s|%s|%s|%s|%s|%d|%t|%t|%s", req.LUN, strings.ToLower(req.WWN), req.Target, req.Portal, req.ExpectLabel, req.Timeout, req.Mapped, req.Owner, lunID)
	return onceAs(a, ctx, "connect", req.RequestID, fp, func() (ConnectResponse, error) {
		resp, err := a.connect(ctx, req)
		a.metrics.count("connect", err)
		return resp, err
	})
}

func validateConnect(req ConnectRequest) error {
	switch {
	case req.LUN == "":
		return fmt.Errorf("%w: connect: no LUN name", ErrInvalid)
	case req.WWN == "":
		return fmt.Errorf("%w: connect: no WWN", ErrInvalid)
	case req.Portal == "":
		return fmt.Errorf("%w: connect: no portal", ErrInvalid)
	case req.Timeout < 0:
		return fmt.Errorf("%w: connect: negative timeout %v", ErrInvalid, req.Timeout)
	}
	if _, _, err := net.SplitHostPort(req.Portal); err != nil {
		return fmt.Errorf("%w: connect: portal %q: want host:port", ErrInvalid, req.Portal)
	}
	return nil
}

func (a *Agent) connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	resp := ConnectResponse{RequestID: req.RequestID, Node: a.cfg.Node}
	ctx, cancel, rec, err := a.begin(ctx, req.Timeout)
	if err != nil {
		return resp, err
	}
	defer cancel()
	name, err := a.targetName(ctx, req.Target)
	lunID := req.LUNID
	if err == nil && !req.Mapped {
		err = rec.do(StepMap, func() error {
			var err error
			lunID, err = a.mapLUN(ctx, name, req.LUN)
			return err
		})
		resp.Steps = rec.steps
	}
	if err != nil {
		return resp, fmt.Errorf("connect %s on %s: map: %w", req.LUN, a.cfg.Node, err)
	}
	ref := TargetRef{Name: name, Portal: req.Portal}
	// From the login on, the target's session is in use: a disconnect of
	// another disk must not log it out under this connect.
	a.mu.Lock()
	a.inflight[ref]++
	a.logins[ref] = struct{}{}
	loggingOut := a.logouts[ref]
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.inflight[ref]--
		if a.inflight[ref] <= 0 {
			delete(a.inflight, ref)
		}
		a.mu.Unlock()
	}()
	err = rec.do(StepLogin, func() error {
		if loggingOut != nil {
			// A disconnect is logging the session out: log in anew
			// after it.
			select {
			case <-loggingOut:
			case <-ctx.Done():
				return ctxError(ctx, "wait for the logout of "+ref.Name)
			}
		}
		err := a.cfg.Engine.Login(ctx, ref)
		if loginUnauthorized(err) && !req.Mapped {
			// The group may have lost the initiator since it was last
			// looked at: check it, map again, log in again.
			a.groupReady.Store(false)
			if lunID, err = a.mapLUN(ctx, ref.Name, req.LUN); err != nil {
				return fmt.Errorf("map again after a login refused for authorization: %w", err)
			}
			err = a.cfg.Engine.Login(ctx, ref)
		}
		return err
	})
	resp.Steps = rec.steps
	if err != nil {
		return resp, fmt.Errorf("connect %s on %s: login: %w", req.LUN, a.cfg.Node, timeoutErr(ctx, err))
	}
	err = rec.do(StepArrival, func() error {
		var d DiskStatus
		var err error
		if w, ok := a.cfg.Engine.(initiator.LUNWaiter); ok && lunID != nil {
			d, err = w.WaitForDiskAt(ctx, ref, req.WWN, *lunID)
		} else {
			d, err = a.cfg.Engine.WaitForDisk(ctx, ref, req.WWN)
		}
		resp.Disk = d
		if err != nil {
			return err
		}
		// Every node that connects a disk registers its reservation key
		// on it (fence.go), so it can take the disk over and be fenced;
		// the owner-to-be registers with its reservation.
		if req.Owner {
			return nil
		}
		if err := a.registerKey(ctx, ref, req.WWN); err != nil {
			return fmt.Errorf("register the reservation key: %w", err)
		}
		return nil
	})
	resp.Steps = rec.steps
	if err != nil {
		return resp, fmt.Errorf("connect %s on %s: disk %s did not arrive: %w", req.LUN, a.cfg.Node, req.WWN, timeoutErr(ctx, err))
	}
	a.mu.Lock()
	a.connected[strings.ToLower(req.WWN)] = connectedDisk{ref: ref, lun: req.LUN}
	a.mu.Unlock()
	if req.ExpectLabel != "" {
		err = rec.do(StepVerify, func() error {
			dev, err := a.cfg.Engine.Open(ctx, req.WWN)
			if err != nil {
				return err
			}
			label, err := ReadLabel(ctx, dev)
			if err != nil {
				return err
			}
			if label != req.ExpectLabel {
				return fmt.Errorf("%w: disk %s is labelled %q, want %q", ErrConflict, req.WWN, label, req.ExpectLabel)
			}
			return nil
		})
		resp.Steps = rec.steps
		if err != nil {
			return resp, fmt.Errorf("connect %s on %s: verify: %w", req.LUN, a.cfg.Node, timeoutErr(ctx, err))
		}
	}
	return resp, nil
}

// timeoutErr makes err an ErrTimeout when ctx's deadline passed, and an
// engine's initiator.ErrEngine* error the cluster sentinel it means.
func timeoutErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return engineErr(err)
}

// engineErr wraps an engine's initiator.ErrEngineNotFound, -Unavailable
// or -Invalid error in ErrNotFound, ErrUnavailable or ErrInvalid.
func engineErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, initiator.ErrEngineNotFound) && !errors.Is(err, ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, initiator.ErrEngineUnavailable) && !errors.Is(err, ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, initiator.ErrEngineInvalid) && !errors.Is(err, ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// targetName returns name, or the storage system's default target when it
// is empty.
func (a *Agent) targetName(ctx context.Context, name string) (string, error) {
	if name != "" {
		return name, nil
	}
	a.mu.Lock()
	def := a.defTarget
	a.mu.Unlock()
	if def != "" {
		return def, nil
	}
	targets, err := a.cfg.Storage.Targets(ctx)
	if err != nil {
		return "", storageError(ctx, "list the targets", err)
	}
	for _, t := range targets {
		if t.Default {
			a.mu.Lock()
			a.defTarget = t.Name
			a.mu.Unlock()
			return t.Name, nil
		}
	}
	return "", fmt.Errorf("%w: the storage system has no default target: name one", ErrNotFound)
}

// mapLUN makes sure the node's igroup holds its initiator and maps lun on
// targetName; a map that exists already is success. The igroup look-up
// and the map go out together (one round trip when the igroup is ready);
// a map refused for want of the igroup is sent again once it exists.
func (a *Agent) mapLUN(ctx context.Context, targetName, lun string) (lunID *uint64, err error) {
	mapIt := func() error {
		m, err := a.cfg.Storage.Map(ctx, target.MapCreate{LUN: lun, IGroup: a.igroup, Target: targetName})
		switch {
		case err == nil:
			lunID = &m.LUNID
		case apiCode(err) != "lun_already_mapped":
			return err
		}
		return nil
	}
	if a.groupReady.Load() {
		// The group was ready the last time: the map alone. A group
		// deleted since is found here; an initiator taken out of it
		// shows as a login refused for authorization (connect).
		err := mapIt()
		if apiCode(err) != "igroup_not_found" {
			if err != nil {
				return nil, storageError(ctx, "map LUN "+lun+" to group "+a.igroup, err)
			}
			return lunID, nil
		}
		a.groupReady.Store(false)
	}
	var mapErr error
	mapped := make(chan struct{})
	go func() {
		defer close(mapped)
		mapErr = mapIt()
	}()
	g, err := a.cfg.Storage.IGroup(ctx, a.igroup)
	<-mapped
	switch {
	case err == nil:
		if !slices.ContainsFunc(g.Initiators, func(s string) bool { return strings.EqualFold(s, a.cfg.InitiatorName) }) {
			if _, err := a.cfg.Storage.AddInitiator(ctx, a.igroup, a.cfg.InitiatorName); err != nil && apiCode(err) != "initiator_exists" {
				return nil, storageError(ctx, "add initiator "+a.cfg.InitiatorName+" to group "+a.igroup, err)
			}
		}
	case target.IsNotFound(err):
		_, err := a.cfg.Storage.CreateIGroup(ctx, target.IGroupCreate{Name: a.igroup, Initiators: []string{a.cfg.InitiatorName}})
		if err != nil {
			if apiCode(err) != "igroup_exists" {
				return nil, storageError(ctx, "create group "+a.igroup, err)
			}
			// Another connect created it first: join it.
			if _, err := a.cfg.Storage.AddInitiator(ctx, a.igroup, a.cfg.InitiatorName); err != nil && apiCode(err) != "initiator_exists" {
				return nil, storageError(ctx, "add initiator "+a.cfg.InitiatorName+" to group "+a.igroup, err)
			}
		}
	default:
		return nil, storageError(ctx, "look up group "+a.igroup, err)
	}
	if apiCode(mapErr) == "igroup_not_found" {
		// The map raced ahead of the igroup's creation: again.
		mapErr = mapIt()
	}
	if mapErr != nil {
		return nil, storageError(ctx, "map LUN "+lun+" to group "+a.igroup, mapErr)
	}
	a.groupReady.Store(true)
	return lunID, nil
}

// loginUnauthorized reports whether err is a login the target refused for
// authorization: the initiator is in no group that sees a LUN there.
func loginUnauthorized(err error) bool {
	var le *iscsi.LoginError
	return errors.As(err, &le) && le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailAuthorizationFailure
}

// apiCode returns the storage API's error code of err, if it is one.
func apiCode(err error) string {
	var ae *target.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

// storageError wraps an error of the storage API in the cluster sentinel
// its status means: 404 ErrNotFound, 409 ErrConflict, 400 ErrInvalid, an
// unreachable API or a 5xx ErrUnavailable, a deadline ErrTimeout.
func storageError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w: storage API: %s: %w", ErrTimeout, what, err)
		}
		return fmt.Errorf("cluster: storage API: %s: %w", what, ctx.Err())
	}
	var ae *target.APIError
	if !errors.As(err, &ae) {
		return fmt.Errorf("%w: storage API: %s: %w", ErrUnavailable, what, err)
	}
	var kind error
	switch {
	case ae.Status == http.StatusNotFound:
		kind = ErrNotFound
	case ae.Status == http.StatusConflict:
		kind = ErrConflict
	case ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity:
		kind = ErrInvalid
	case ae.Status >= 500:
		kind = ErrUnavailable
	default:
		return fmt.Errorf("cluster: storage API: %s: %w", what, err)
	}
	return fmt.Errorf("%w: storage API: %s: %w", kind, what, err)
}

// Disconnect flushes and releases the disk, removes the LUN's map to the
// node's igroup and logs out of the target when no disk is left on its
// session. Disconnecting a disk that is not connected (or a LUN that is
// not mapped) is success, so a disconnect can be repeated and undoes a
// connect that failed half-way.
func (a *Agent) Disconnect(ctx context.Context, req DisconnectRequest) (DisconnectResponse, error) {
	if err := validateDisconnect(req); err != nil {
		a.metrics.count("disconnect", err)
		return DisconnectResponse{}, err
	}
	fp := fmt.Sprintf("%s|%s|%s|%d", req.LUN, strings.ToLower(req.WWN), req.Target, req.Timeout)
	return onceAs(a, ctx, "disconnect", req.RequestID, fp, func() (DisconnectResponse, error) {
		resp, err := a.disconnect(ctx, req)
		a.metrics.count("disconnect", err)
		return resp, err
	})
}

func validateDisconnect(req DisconnectRequest) error {
	switch {
	case req.LUN == "" && req.WWN == "":
		return fmt.Errorf("%w: disconnect: no LUN name or WWN", ErrInvalid)
	case req.Timeout < 0:
		return fmt.Errorf("%w: disconnect: negative timeout %v", ErrInvalid, req.Timeout)
	}
	return nil
}

func (a *Agent) disconnect(ctx context.Context, req DisconnectRequest) (DisconnectResponse, error) {
	resp := DisconnectResponse{RequestID: req.RequestID, Node: a.cfg.Node}
	ctx, cancel, rec, err := a.begin(ctx, req.Timeout)
	if err != nil {
		return resp, err
	}
	defer cancel()
	key := strings.ToLower(req.WWN)
	a.mu.Lock()
	cd, known := a.connected[key]
	a.mu.Unlock()
	lun := req.LUN
	if lun == "" {
		lun = cd.lun
	}
	if req.WWN != "" {
		err := rec.do(StepFlush, func() error {
			if !known {
				return nil
			}
			dev, err := a.cfg.Engine.Open(ctx, req.WWN)
			if errors.Is(err, ErrNotFound) || errors.Is(err, initiator.ErrEngineNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return dev.Sync(ctx)
		})
		resp.Steps = rec.steps
		if err != nil {
			return resp, fmt.Errorf("disconnect %s on %s: flush: %w", req.WWN, a.cfg.Node, timeoutErr(ctx, err))
		}
		err = rec.do(StepRelease, func() error { return a.cfg.Engine.Release(ctx, req.WWN) })
		resp.Steps = rec.steps
		if err != nil {
			return resp, fmt.Errorf("disconnect %s on %s: release: %w", req.WWN, a.cfg.Node, timeoutErr(ctx, err))
		}
		a.mu.Lock()
		delete(a.connected, key)
		a.mu.Unlock()
	}
	var targetName string
	if lun != "" {
		err := rec.do(StepUnmap, func() error {
			name := req.Target
			if name == "" && known {
				name = cd.ref.Name
			}
			name, err := a.targetName(ctx, name)
			if err != nil {
				return err
			}
			targetName = name
			return a.unmapLUN(ctx, name, lun)
		})
		resp.Steps = rec.steps
		if err != nil {
			return resp, fmt.Errorf("disconnect %s on %s: unmap: %w", lun, a.cfg.Node, err)
		}
	}
	if targetName == "" {
		targetName = cd.ref.Name
		if targetName == "" {
			targetName = req.Target
		}
	}
	// Log out of the sessions to that target that nothing uses any more.
	for _, ref := range a.idleSessions(ctx, targetName, cd.ref) {
		err := rec.do(StepLogout, func() error { return a.logoutIfIdle(ctx, ref) })
		resp.Steps = rec.steps
		if err != nil {
			return resp, fmt.Errorf("disconnect on %s: logout of %s: %w", a.cfg.Node, ref.Name, timeoutErr(ctx, err))
		}
	}
	return resp, nil
}

// unmapLUN removes the map of lun to the node's igroup on targetName; no
// map is success.
func (a *Agent) unmapLUN(ctx context.Context, targetName, lun string) error {
	// The node's own group's maps, not every map of the storage system:
	// a disconnect costs the same with 1 or 1,000 nodes.
	g, err := a.cfg.Storage.IGroup(ctx, a.igroup)
	if target.IsNotFound(err) {
		return nil // no group, nothing mapped to it
	}
	if err != nil {
		return storageError(ctx, "look up group "+a.igroup, err)
	}
	for _, m := range g.Maps {
		if m.IGroup != a.igroup || m.LUN != lun || m.Target != targetName {
			continue
		}
		if err := a.cfg.Storage.Unmap(ctx, m.Target, m.IGroup, m.LUNID); err != nil && !target.IsNotFound(err) {
			return storageError(ctx, "unmap LUN "+lun+" from group "+a.igroup, err)
		}
	}
	return nil
}

// idleSessions lists the targets (by name, or ref itself) this agent
// logged in to that no connect uses and no connected disk is on.
func (a *Agent) idleSessions(ctx context.Context, name string, ref TargetRef) []TargetRef {
	a.mu.Lock()
	var cands []TargetRef
	for r := range a.logins {
		if r == ref || (name != "" && r.Name == name) {
			cands = append(cands, r)
		}
	}
	a.mu.Unlock()
	slices.SortFunc(cands, func(x, y TargetRef) int { return strings.Compare(x.Portal, y.Portal) })
	var out []TargetRef
	for _, r := range cands {
		if a.sessionIdle(ctx, r) {
			out = append(out, r)
		}
	}
	return out
}

// sessionIdle reports whether no connect runs on ref and no disk is
// connected there.
func (a *Agent) sessionIdle(ctx context.Context, ref TargetRef) bool {
	a.mu.Lock()
	busy := a.inflight[ref] > 0
	for _, cd := range a.connected {
		if cd.ref == ref {
			busy = true
		}
	}
	a.mu.Unlock()
	if busy {
		return false
	}
	disks, err := a.cfg.Engine.Disks(ctx)
	if err != nil {
		return false
	}
	for _, d := range disks {
		if d.Target == ref.Name && d.Portal == ref.Portal {
			return false
		}
	}
	return true
}

// logoutIfIdle logs out of ref when it is still idle, with connects kept
// out while it decides.
func (a *Agent) logoutIfIdle(ctx context.Context, ref TargetRef) error {
	a.mu.Lock()
	if a.inflight[ref] > 0 {
		a.mu.Unlock()
		return nil
	}
	for _, cd := range a.connected {
		if cd.ref == ref {
			a.mu.Unlock()
			return nil
		}
	}
	if _, busy := a.logouts[ref]; busy {
		a.mu.Unlock()
		return nil
	}
	delete(a.logins, ref)
	done := make(chan struct{})
	a.logouts[ref] = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.logouts, ref)
		a.mu.Unlock()
		close(done)
	}()
	return a.cfg.Engine.Logout(ctx, ref)
}

// Format writes a GPT with one partition named req.Label and a FAT
// filesystem labelled after it on the connected disk req.WWN.
func (a *Agent) Format(ctx context.Context, req FormatRequest) (FormatResponse, error) {
	switch {
	case req.WWN == "":
		return FormatResponse{}, fmt.Errorf("%w: format: no WWN", ErrInvalid)
	case req.Label == "":
		return FormatResponse{}, fmt.Errorf("%w: format: no label", ErrInvalid)
	}
	fp := fmt.Sprintf("%s|%s|%t", strings.ToLower(req.WWN), req.Label, req.Fresh)
	return onceAs(a, ctx, "format", req.RequestID, fp, func() (FormatResponse, error) {
		resp := FormatResponse{RequestID: req.RequestID, Node: a.cfg.Node}
		ctx, cancel, rec, err := a.begin(ctx, 0)
		if err != nil {
			return resp, err
		}
		defer cancel()
		err = rec.do(StepFormat, func() error {
			if f, ok := a.cfg.Engine.(initiator.Formatter); ok {
				// The engine formats itself (open-iscsi: GPT, then
				// mkfs.ext4 on the partition).
				return engineErr(f.Format(ctx, req.WWN, req.Label))
			}
			dev, err := a.cfg.Engine.Open(ctx, req.WWN)
			if err != nil {
				return err
			}
			return FormatDisk(ctx, dev, req.Label, FormatOptions{Fresh: req.Fresh})
		})
		resp.Steps = rec.steps
		a.metrics.count("format", err)
		if err != nil {
			return resp, fmt.Errorf("format %s on %s: %w", req.WWN, a.cfg.Node, err)
		}
		return resp, nil
	})
}

// Disks lists the node's connected disks.
func (a *Agent) Disks(ctx context.Context) ([]DiskStatus, error) {
	return a.cfg.Engine.Disks(ctx)
}

// agentMetrics are the agent's Prometheus metrics.
type agentMetrics struct {
	requests *prometheus.CounterVec
	steps    *prometheus.HistogramVec
}

func newAgentMetrics(reg *prometheus.Registry) (*agentMetrics, error) {
	m := &agentMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lunar", Subsystem: "agent", Name: "requests_total",
			Help: "Connect, disconnect and format requests by outcome.",
		}, []string{"request", "status"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "lunar", Subsystem: "agent", Name: "step_duration_seconds",
			Help:    "Duration of each step of the node's requests.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"step", "status"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.steps} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: agent metrics: %w", ErrInvalid, err)
		}
	}
	return m, nil
}

// statusLabel names an outcome for the metrics.
func statusLabel(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrConflict):
		return "conflict"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	}
	return "error"
}

func (m *agentMetrics) count(request string, err error) {
	m.requests.WithLabelValues(request, statusLabel(err)).Inc()
}

func (m *agentMetrics) observeStep(s Step, d time.Duration, err error) {
	m.steps.WithLabelValues(string(s), statusLabel(err)).Observe(d.Seconds())
}
