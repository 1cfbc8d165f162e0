package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/lunarsan/lunar/target"
)

// runnerTestToken is the storage API token of the tests.
const runnerTestToken = "runner-test-token-0123456789"

// runnerFakeMode is how a fake node answers a call.
type runnerFakeMode int

const (
	rfOK    runnerFakeMode = iota // answers at once
	rfFail                        // fails at once
	rfBlock                       // waits until its context ends
	rfGate                        // waits for the cluster's release channel (or its context)
)

// runnerFakes is a set of fake node agents that log their calls.
type runnerFakes struct {
	mu         sync.Mutex
	nodes      map[string]*runnerFakeNode
	extra      map[string]NodeAPI // other agents (an unreachable one)
	log        []string           // "node op start", "node op end", in order
	running    int
	maxRunning int
	started    chan string   // a gated call began (node name)
	release    chan struct{} // lets one gated call finish
}

func newRunnerFakes() *runnerFakes {
	return &runnerFakes{nodes: make(map[string]*runnerFakeNode), started: make(chan string, 64), release: make(chan struct{})}
}

// runnerFakeNode is one node's fake agent: a NodeAPI.
type runnerFakeNode struct {
	c          *runnerFakes
	name       string
	connect    runnerFakeMode
	disconnect runnerFakeMode
	format     runnerFakeMode

	// guarded by c.mu
	connected   map[string]bool // WWN → connected
	disconnects []string        // request ids
	labels      []string        // ExpectLabel of each connect
	lunIDs      []*uint64       // LUNID of each connect
	formats     int
}

func (c *runnerFakes) add(name string, connect runnerFakeMode) *runnerFakeNode {
	n := &runnerFakeNode{c: c, name: name, connect: connect, connected: make(map[string]bool)}
	c.mu.Lock()
	c.nodes[name] = n
	c.mu.Unlock()
	return n
}

// resolve is a RunnerConfig.Agents over the fake nodes.
func (c *runnerFakes) resolve(_ context.Context, node string) (NodeAPI, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.extra[node]; ok {
		return a, nil
	}
	n, ok := c.nodes[node]
	if !ok {
		return nil, fmt.Errorf("%w: node %s", ErrNotFound, node)
	}
	return n, nil
}

func (c *runnerFakes) logged() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.log)
}

func (c *runnerFakes) maxConcurrent() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxRunning
}

// behave runs one call's behaviour.
func (n *runnerFakeNode) behave(ctx context.Context, op string, mode runnerFakeMode) error {
	c := n.c
	c.mu.Lock()
	c.log = append(c.log, n.name+" "+op+" start")
	c.running++
	c.maxRunning = max(c.maxRunning, c.running)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running--
		c.log = append(c.log, n.name+" "+op+" end")
		c.mu.Unlock()
	}()
	switch mode {
	case rfFail:
		return fmt.Errorf("%s: %s: injected failure", n.name, op)
	case rfBlock:
		<-ctx.Done()
		return fmt.Errorf("%s: %s: %w", n.name, op, ctx.Err())
	case rfGate:
		c.started <- n.name
		select {
		case <-c.release:
		case <-ctx.Done():
			return fmt.Errorf("%s: %s: %w", n.name, op, ctx.Err())
		}
	}
	return nil
}

func runnerFakeSteps(start time.Time, steps ...Step) []StepTiming {
	out := make([]StepTiming, len(steps))
	for i, s := range steps {
		out[i] = StepTiming{Step: s, Start: start, Duration: time.Since(start)}
	}
	return out
}

// Connect implements NodeAPI.
func (n *runnerFakeNode) Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	start := time.Now()
	if req.WWN == "" || req.LUN == "" || req.Portal == "" || req.Timeout <= 0 {
		return ConnectResponse{}, fmt.Errorf("%w: connect request %+v", ErrInvalid, req)
	}
	if err := n.behave(ctx, "connect", n.connect); err != nil {
		return ConnectResponse{}, err
	}
	n.c.mu.Lock()
	n.connected[req.WWN] = true
	n.labels = append(n.labels, req.ExpectLabel)
	n.lunIDs = append(n.lunIDs, req.LUNID)
	n.c.mu.Unlock()
	steps := []Step{StepMap, StepLogin, StepArrival}
	if req.ExpectLabel != "" {
		steps = append(steps, StepVerify)
	}
	return ConnectResponse{RequestID: req.RequestID, Node: n.name, Disk: DiskStatus{WWN: req.WWN, Target: "iqn.2026-01.test:tgt", Portal: req.Portal}, Steps: runnerFakeSteps(start, steps...)}, nil
}

// Disconnect implements NodeAPI.
func (n *runnerFakeNode) Disconnect(ctx context.Context, req DisconnectRequest) (DisconnectResponse, error) {
	start := time.Now()
	n.c.mu.Lock()
	n.disconnects = append(n.disconnects, req.RequestID)
	n.c.mu.Unlock()
	if err := n.behave(ctx, "disconnect", n.disconnect); err != nil {
		return DisconnectResponse{}, err
	}
	n.c.mu.Lock()
	delete(n.connected, req.WWN)
	n.c.mu.Unlock()
	return DisconnectResponse{RequestID: req.RequestID, Node: n.name, Steps: runnerFakeSteps(start, StepFlush, StepRelease, StepUnmap, StepLogout)}, nil
}

// Format implements NodeAPI.
func (n *runnerFakeNode) Format(ctx context.Context, req FormatRequest) (FormatResponse, error) {
	start := time.Now()
	if err := n.behave(ctx, "format", n.format); err != nil {
		return FormatResponse{}, err
	}
	n.c.mu.Lock()
	n.formats++
	n.c.mu.Unlock()
	return FormatResponse{RequestID: req.RequestID, Node: n.name, Steps: runnerFakeSteps(start, StepFormat)}, nil
}

// Disks implements NodeAPI.
func (n *runnerFakeNode) Disks(context.Context) ([]DiskStatus, error) {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	var out []DiskStatus
	for w := range n.connected {
		out = append(out, DiskStatus{WWN: w})
	}
	return out, nil
}

func (n *runnerFakeNode) isConnected(wwn string) bool {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.connected[wwn]
}

func (n *runnerFakeNode) disconnectCount() int {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return len(n.disconnects)
}

// runnerTestStore returns a Store on the shared etcd under a prefix of the
// test's own.
func runnerTestStore(t *testing.T) *Store {
	t.Helper()
	e := sharedEtcd.get(t)
	c, err := NewEtcdClient(t.Context(), e.Endpoints())
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	// A prefix of its own per run: -count=N reuses the shared etcd.
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(StoreConfig{Client: c, Prefix: "/runner-test/" + t.Name() + "-" + hex.EncodeToString(b[:]) + "/"})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

// runnerTestStorage starts the storage system's management API (no iSCSI) on
// a temporary directory and returns its client.
func runnerTestStorage(t *testing.T) *target.Client {
	t.Helper()
	st, err := target.OpenStore(target.StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	api, err := target.NewAPIServer(target.APIConfig{Store: st, Token: runnerTestToken})
	if err != nil {
		t.Fatalf("NewAPIServer: %v", err)
	}
	srv := httptest.NewServer(api.Handler())
	tr := &http.Transport{}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		st.Close()
	})
	return target.NewClient(srv.URL, runnerTestToken, &http.Client{Transport: tr})
}

// runnerTestEnv is a runner on node "a0" with fake agents.
type runnerTestEnv struct {
	t       *testing.T
	store   *Store
	storage *target.Client
	fakes   *runnerFakes
	self    *runnerFakeNode
	runner  *Runner
}

func newRunnerTestEnv(t *testing.T, passives map[string]runnerFakeMode) *runnerTestEnv {
	t.Helper()
	env := &runnerTestEnv{t: t, store: runnerTestStore(t), storage: runnerTestStorage(t), fakes: newRunnerFakes()}
	env.self = env.fakes.add("a0", rfOK)
	for n, m := range passives {
		env.fakes.add(n, m)
	}
	env.runner = env.newRunner("a0", env.self, env.store, env.storage)
	return env
}

func (env *runnerTestEnv) newRunner(node string, self NodeAPI, store *Store, storage *target.Client) *Runner {
	env.t.Helper()
	r, err := NewRunner(RunnerConfig{Node: node, Self: self, Store: store, Storage: storage, Agents: env.fakes.resolve})
	if err != nil {
		env.t.Fatalf("NewRunner: %v", err)
	}
	env.t.Cleanup(func() {
		if err := r.Close(); err != nil {
			env.t.Errorf("runner Close: %v", err)
		}
	})
	return r
}

func (env *runnerTestEnv) node(name string) *runnerFakeNode {
	env.fakes.mu.Lock()
	defer env.fakes.mu.Unlock()
	return env.fakes.nodes[name]
}

// runnerCreateReq is a create of resource r1 in group g1.
func runnerCreateReq(passive ...string) OperationRequest {
	return OperationRequest{Kind: OpCreate, Group: "g1", Resource: "r1", Size: 1 << 20, Portal: "127.0.0.1:3260", Passive: passive, NodeTimeout: 30 * time.Second}
}

// runnerProgressLog collects progress events; it is deliberately not
// synchronised, so the race detector catches concurrent calls.
type runnerProgressLog struct{ events []ProgressEvent }

func (p *runnerProgressLog) add(ev ProgressEvent) { p.events = append(p.events, ev) }

func (p *runnerProgressLog) final(node string) (NodeStatus, bool) {
	for i := len(p.events) - 1; i >= 0; i-- {
		if ev := p.events[i]; ev.Node == node && ev.Done && ev.Status != NodeRunning {
			return ev.Status, true
		}
	}
	return "", false
}

func wantRunnerStatuses(t *testing.T, res OperationResult, want map[string]NodeStatus) {
	t.Helper()
	for _, n := range res.Nodes {
		w, ok := want[n.Node]
		if !ok {
			t.Errorf("unexpected node %s in result", n.Node)
			continue
		}
		if n.Status != w {
			t.Errorf("node %s: status %s (%s), want %s", n.Node, n.Status, n.Error, w)
		}
	}
	if len(res.Nodes) != len(want) {
		t.Errorf("result has %d nodes, want %d", len(res.Nodes), len(want))
	}
}

func wantRunnerNodeOrder(t *testing.T, res OperationResult, want ...string) {
	t.Helper()
	var got []string
	for _, n := range res.Nodes {
		got = append(got, n.Node)
	}
	if !slices.Equal(got, want) {
		t.Errorf("result nodes %v, want %v", got, want)
	}
}

func wantRunnerNoLUN(t *testing.T, storage *target.Client, name string) {
	t.Helper()
	_, err := storage.LUN(context.Background(), name)
	if !target.IsNotFound(err) {
		t.Errorf("LUN %s: err %v, want not found (deleted)", name, err)
	}
}

func wantRunnerNoGroup(t *testing.T, store *Store, name string) {
	t.Helper()
	g, err := store.Group(context.Background(), name)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("group %s: %+v, %v; want ErrNotFound", name, g, err)
	}
}

func runnerHasStep(n NodeResult, s Step) bool {
	return slices.ContainsFunc(n.Steps, func(st StepTiming) bool { return st.Step == s })
}

func TestRunnerCreateDisconnectDelete(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfOK, "p3": rfOK})
	ctx := t.Context()
	var prog runnerProgressLog
	res, err := env.runner.Run(ctx, runnerCreateReq("p1", "p2", "p3"), prog.add)
	if err != nil {
		t.Fatalf("create: %v (%+v)", err, res)
	}
	wantRunnerNodeOrder(t, res, "a0", "p1", "p2", "p3")
	wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeOK, "p3": NodeOK})
	if res.ID == "" || res.Mode != ModeParallel || res.Active <= 0 || res.FanOut <= 0 || res.Total < res.Active+res.FanOut {
		t.Errorf("result id %q mode %q active %v fan-out %v total %v", res.ID, res.Mode, res.Active, res.FanOut, res.Total)
	}
	active := res.Nodes[0]
	for _, s := range []Step{StepCreateLUN, StepMap, StepLogin, StepArrival, StepFormat, StepRegister} {
		if !runnerHasStep(active, s) {
			t.Errorf("active node has no %s step: %+v", s, active.Steps)
		}
	}
	lun, err := env.storage.LUN(ctx, "r1")
	if err != nil {
		t.Fatalf("LUN r1: %v", err)
	}
	if res.Disk == nil || res.Disk.WWN != lun.WWN || res.Disk.Size != 1<<20 || res.Disk.Target != "iqn.2026-01.test:tgt" {
		t.Fatalf("result disk %+v, LUN %+v", res.Disk, lun)
	}
	for _, n := range []string{"a0", "p1", "p2", "p3"} {
		if !env.node(n).isConnected(lun.WWN) {
			t.Errorf("node %s not connected", n)
		}
		if st, ok := prog.final(n); !ok || st != NodeOK {
			t.Errorf("node %s: final progress status %q (found %v), want ok", n, st, ok)
		}
	}
	for _, n := range []string{"p1", "p2", "p3"} {
		if got := env.node(n).labels; !slices.Equal(got, []string{"r1"}) {
			t.Errorf("node %s: connect ExpectLabel %q, want [r1]", n, got)
		}
	}
	if env.self.formats != 1 {
		t.Errorf("active node formatted %d times, want 1", env.self.formats)
	}
	g, err := env.store.Group(ctx, "g1")
	if err != nil {
		t.Fatalf("group: %v", err)
	}
	if g.Owner != "a0" || !slices.Equal(g.Nodes, []string{"a0", "p1", "p2", "p3"}) || len(g.Resources) != 1 {
		t.Fatalf("group %+v", g)
	}
	if d := g.Resources[0]; d.WWN != lun.WWN || d.State != DiskOnline || !slices.Equal(d.PossibleOwners, []string{"a0", "p1", "p2", "p3"}) {
		t.Errorf("resource %+v", d)
	}
	if owner, err := env.store.Owner(ctx, "g1"); err != nil || owner != "a0" {
		t.Errorf("owner %q, %v; want a0", owner, err)
	}
	rec, err := env.store.Operation(ctx, res.ID)
	if err != nil || rec.Kind != OpCreate || len(rec.Nodes) != 4 {
		t.Errorf("recorded operation %+v, %v", rec, err)
	}

	// A retry with the same id returns the first answer, doing nothing.
	again := runnerCreateReq("p1", "p2", "p3")
	again.ID = res.ID
	res2, err := env.runner.Run(ctx, again, nil)
	if err != nil || res2.ID != res.ID || res2.Disk == nil || res2.Disk.WWN != lun.WWN {
		t.Errorf("retry: %+v, %v", res2, err)
	}

	// A second create of the same resource conflicts.
	if _, err := env.runner.Run(ctx, runnerCreateReq("p1"), nil); !errors.Is(err, ErrConflict) {
		t.Errorf("create again: %v, want ErrConflict", err)
	}

	// Disconnect: passives first, then the active node; the resource
	// leaves the group.
	res, err = env.runner.Run(ctx, OperationRequest{Kind: OpDisconnect, Group: "g1", Resource: "r1"}, nil)
	if err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	wantRunnerNodeOrder(t, res, "a0", "p1", "p2", "p3")
	log := env.fakes.logged()
	selfAt := slices.Index(log, "a0 disconnect start")
	for _, n := range []string{"p1", "p2", "p3"} {
		if i := slices.Index(log, n+" disconnect end"); i < 0 || i > selfAt {
			t.Errorf("%s disconnect ended at %d, the active node's began at %d: %v", n, i, selfAt, log)
		}
		if env.node(n).isConnected(lun.WWN) {
			t.Errorf("node %s still connected", n)
		}
	}
	g, err = env.store.Group(ctx, "g1")
	if err != nil || len(g.Resources) != 0 {
		t.Errorf("group after disconnect %+v, %v", g, err)
	}

	// Connect the existing LUN again, then delete it.
	res, err = env.runner.Run(ctx, OperationRequest{Kind: OpConnect, Group: "g1", Resource: "r1", Portal: "127.0.0.1:3260"}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeOK, "p3": NodeOK})
	if runnerHasStep(res.Nodes[0], StepCreateLUN) || runnerHasStep(res.Nodes[0], StepFormat) {
		t.Errorf("connect created or formatted: %+v", res.Nodes[0].Steps)
	}
	res, err = env.runner.Run(ctx, OperationRequest{Kind: OpDelete, Group: "g1", Resource: "r1"}, nil)
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if !runnerHasStep(res.Nodes[0], StepDeleteLUN) || !runnerHasStep(res.Nodes[0], StepUnregister) {
		t.Errorf("delete steps %+v", res.Nodes[0].Steps)
	}
	wantRunnerNoLUN(t, env.storage, "r1")
	g, err = env.store.Group(ctx, "g1")
	if err != nil || len(g.Resources) != 0 {
		t.Errorf("group after delete %+v, %v", g, err)
	}
	ops, err := env.store.Operations(ctx, "g1", 0)
	if err != nil || len(ops) != 4 {
		t.Errorf("operation log: %d entries, %v; want 4 (create, disconnect, connect, delete)", len(ops), err)
	}
}

// runnerWaitStarted receives n gated starts or fails the test.
func runnerWaitStarted(t *testing.T, ctx context.Context, c *runnerFakes, n int) []string {
	t.Helper()
	var got []string
	for range n {
		select {
		case s := <-c.started:
			got = append(got, s)
		case <-ctx.Done():
			t.Fatalf("only %d of %d calls started: %v", len(got), n, c.logged())
		}
	}
	return got
}

// runnerAsync runs req in a goroutine; the returned function waits for it.
func runnerAsync(ctx context.Context, r *Runner, req OperationRequest) func() (OperationResult, error) {
	type out struct {
		res OperationResult
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := r.Run(ctx, req, nil)
		ch <- out{res, err}
	}()
	return func() (OperationResult, error) { o := <-ch; return o.res, o.err }
}

func TestRunnerParallelRunsAllAtOnce(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfGate, "p2": rfGate, "p3": rfGate, "p4": rfGate})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	wait := runnerAsync(ctx, env.runner, runnerCreateReq("p1", "p2", "p3", "p4"))
	// Every passive node is inside its connect before any may finish.
	runnerWaitStarted(t, ctx, env.fakes, 4)
	for range 4 {
		env.fakes.release <- struct{}{}
	}
	res, err := wait()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := env.fakes.maxConcurrent(); got != 4 {
		t.Errorf("%d calls at once, want 4", got)
	}
	wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeOK, "p3": NodeOK, "p4": NodeOK})
}

func TestRunnerSerialOneAtATime(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfOK, "p3": rfOK})
	req := runnerCreateReq("p3", "p1", "p2")
	req.Mode = ModeSerial
	res, err := env.runner.Run(t.Context(), req, nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if res.Mode != ModeSerial {
		t.Errorf("mode %q", res.Mode)
	}
	wantRunnerNodeOrder(t, res, "a0", "p3", "p1", "p2")
	var fan []string
	for _, l := range env.fakes.logged() {
		if strings.HasPrefix(l, "p") {
			fan = append(fan, l)
		}
	}
	want := []string{"p3 connect start", "p3 connect end", "p1 connect start", "p1 connect end", "p2 connect start", "p2 connect end"}
	if !slices.Equal(fan, want) {
		t.Errorf("serial calls %v, want %v", fan, want)
	}
	for i := 2; i < len(res.Nodes); i++ {
		prev, cur := res.Nodes[i-1], res.Nodes[i]
		if cur.Steps[0].Start.Before(prev.Steps[len(prev.Steps)-1].Start) {
			t.Errorf("node %s started before node %s ended", cur.Node, prev.Node)
		}
	}
}

func TestRunnerMaxParallel(t *testing.T) {
	const n, limit = 5, 2
	passives := map[string]runnerFakeMode{}
	var names []string
	for i := range n {
		name := fmt.Sprintf("p%d", i+1)
		passives[name] = rfGate
		names = append(names, name)
	}
	env := newRunnerTestEnv(t, passives)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req := runnerCreateReq(names...)
	req.MaxParallel = limit
	wait := runnerAsync(ctx, env.runner, req)
	runnerWaitStarted(t, ctx, env.fakes, limit)
	for range n - limit {
		env.fakes.release <- struct{}{}
		runnerWaitStarted(t, ctx, env.fakes, 1)
	}
	for range limit {
		env.fakes.release <- struct{}{}
	}
	res, err := wait()
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if got := env.fakes.maxConcurrent(); got != limit {
		t.Errorf("%d calls at once, want %d", got, limit)
	}
	if len(res.Nodes) != n+1 {
		t.Errorf("%d nodes in the result", len(res.Nodes))
	}
}

func TestRunnerPartialKeep(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfFail, "p3": rfOK})
	// "dead" is registered but its agent does not answer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + l.Addr().String()
	l.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	env.fakes.extra = map[string]NodeAPI{"dead": NewAgentClient(deadURL, runnerTestToken, &http.Client{Transport: tr})}
	res, err := env.runner.Run(t.Context(), runnerCreateReq("p1", "p2", "dead", "p3", "gone"), nil)
	if !errors.Is(err, ErrPartialFailure) {
		t.Fatalf("create: %v, want ErrPartialFailure", err)
	}
	wantRunnerNodeOrder(t, res, "a0", "p1", "p2", "dead", "p3", "gone")
	wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeFailed, "dead": NodeFailed, "p3": NodeOK, "gone": NodeSkipped})
	if res.RolledBack || res.Disk == nil || !strings.Contains(err.Error(), "p2") {
		t.Errorf("rolled back %v, disk %+v, err %v", res.RolledBack, res.Disk, err)
	}
	g, err := env.store.Group(t.Context(), "g1")
	if err != nil || len(g.Resources) != 1 {
		t.Fatalf("group %+v, %v", g, err)
	}
	if got := g.Resources[0].PossibleOwners; !slices.Equal(got, []string{"a0", "p1", "p3"}) {
		t.Errorf("possible owners %v, want [a0 p1 p3]", got)
	}
	// The failed node's half-made connect is cleaned up; the others keep
	// the disk.
	if env.node("p2").disconnectCount() != 1 || env.node("p1").disconnectCount() != 0 {
		t.Errorf("disconnects: p2 %d, p1 %d", env.node("p2").disconnectCount(), env.node("p1").disconnectCount())
	}
	if _, err := env.storage.LUN(t.Context(), "r1"); err != nil {
		t.Errorf("LUN kept: %v", err)
	}
}

func TestRunnerPartialRollback(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfFail, "p3": rfOK})
	req := runnerCreateReq("p1", "p2", "p3")
	req.OnPartialFailure = RollbackPartial
	res, err := env.runner.Run(t.Context(), req, nil)
	if !errors.Is(err, ErrPartialFailure) || !strings.Contains(err.Error(), "p2") {
		t.Fatalf("create: %v, want ErrPartialFailure naming p2", err)
	}
	if !res.RolledBack || res.Disk != nil {
		t.Errorf("rolled back %v, disk %+v", res.RolledBack, res.Disk)
	}
	for _, n := range []string{"a0", "p1", "p3"} {
		if env.node(n).disconnectCount() != 1 {
			t.Errorf("node %s: %d disconnects, want 1", n, env.node(n).disconnectCount())
		}
		if disks, _ := env.node(n).Disks(t.Context()); len(disks) != 0 {
			t.Errorf("node %s still connected", n)
		}
	}
	if !runnerHasStep(res.Nodes[1], StepRollback) || !runnerHasStep(res.Nodes[0], StepDeleteLUN) {
		t.Errorf("steps: active %+v, p1 %+v", res.Nodes[0].Steps, res.Nodes[1].Steps)
	}
	wantRunnerNoLUN(t, env.storage, "r1")
	wantRunnerNoGroup(t, env.store, "g1")
	if _, err := env.store.Owner(t.Context(), "g1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("owner of the unrecorded group: %v, want ErrNotFound", err)
	}
}

func TestRunnerNodeTimesOutAlone(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfBlock, "p3": rfOK})
	req := runnerCreateReq("p1", "p2", "p3")
	req.NodeTimeout = 500 * time.Millisecond
	res, err := env.runner.Run(t.Context(), req, nil)
	if !errors.Is(err, ErrPartialFailure) {
		t.Fatalf("create: %v, want ErrPartialFailure", err)
	}
	wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeTimedOut, "p3": NodeOK})
	g, err := env.store.Group(t.Context(), "g1")
	if err != nil || !slices.Equal(g.Resources[0].PossibleOwners, []string{"a0", "p1", "p3"}) {
		t.Errorf("group %+v, %v", g, err)
	}
}

func TestRunnerCancelMidFanOutRollsBack(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfGate, "p3": rfGate})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	guard, stop := context.WithTimeout(t.Context(), 60*time.Second)
	defer stop()
	wait := runnerAsync(ctx, env.runner, runnerCreateReq("p1", "p2", "p3"))
	runnerWaitStarted(t, guard, env.fakes, 2)
	// p1 answers at once, but its call may not have run yet: the
	// rollback must find it connected.
	for !slices.Contains(env.fakes.logged(), "p1 connect end") {
		if guard.Err() != nil {
			t.Fatalf("p1 never connected: %v", env.fakes.logged())
		}
		runtime.Gosched()
	}
	cancel() // Ctrl-C while p2 and p3 connect
	res, err := wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("create: %v, want context.Canceled", err)
	}
	if !res.RolledBack {
		t.Errorf("not rolled back")
	}
	for _, n := range []string{"a0", "p1", "p2", "p3"} {
		if env.node(n).disconnectCount() != 1 {
			t.Errorf("node %s: %d disconnects, want 1", n, env.node(n).disconnectCount())
		}
	}
	wantRunnerNoLUN(t, env.storage, "r1")
	wantRunnerNoGroup(t, env.store, "g1")
}

func TestRunnerActiveFailsNoFanOut(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	env.self.format = rfFail
	res, err := env.runner.Run(t.Context(), runnerCreateReq("p1"), nil)
	if err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("create: %v, want the format error", err)
	}
	if got := env.fakes.logged(); slices.Contains(got, "p1 connect start") {
		t.Errorf("a passive node was driven after the active node failed: %v", got)
	}
	if res.Nodes[0].Status != NodeFailed || !res.RolledBack || env.self.disconnectCount() != 1 {
		t.Errorf("active %+v, rolled back %v, disconnects %d", res.Nodes[0], res.RolledBack, env.self.disconnectCount())
	}
	wantRunnerNoLUN(t, env.storage, "r1")
	wantRunnerNoGroup(t, env.store, "g1")
}

func TestRunnerConcurrentRunConflicts(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfGate})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	wait := runnerAsync(ctx, env.runner, runnerCreateReq("p1"))
	runnerWaitStarted(t, ctx, env.fakes, 1)
	// A second operator, on this node or another, gets the conflict.
	other := env.newRunner("a1", env.fakes.add("a1", rfOK), env.store, env.storage)
	for _, r := range []*Runner{env.runner, other} {
		req := runnerCreateReq("p1")
		req.Resource = "r2"
		if _, err := r.Run(ctx, req, nil); !errors.Is(err, ErrConflict) {
			t.Errorf("second run: %v, want ErrConflict", err)
		}
	}
	env.fakes.release <- struct{}{}
	if _, err := wait(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	if _, err := env.storage.LUN(ctx, "r2"); !target.IsNotFound(err) {
		t.Errorf("LUN r2 of the refused run: %v, want not found", err)
	}
}

func TestRunnerNotOwner(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	ctx := t.Context()
	if _, err := env.runner.Run(ctx, runnerCreateReq("p1"), nil); err != nil {
		t.Fatalf("create: %v", err)
	}
	// Another node's runner may not operate on a0's group.
	other := env.newRunner("p1", env.node("p1"), env.store, env.storage)
	_, err := other.Run(ctx, OperationRequest{Kind: OpDisconnect, Group: "g1", Resource: "r1"}, nil)
	if !errors.Is(err, ErrNotOwner) || !strings.Contains(err.Error(), `"a0"`) {
		t.Errorf("disconnect on p1: %v, want ErrNotOwner naming a0", err)
	}
	// A group recorded as ours but led by another node's session.
	if _, err := env.store.CreateGroup(ctx, Group{Name: "g2", Owner: "p1", Nodes: []string{"p1"}}); err != nil {
		t.Fatal(err)
	}
	own, err := env.store.Campaign(ctx, "g2", "a0", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Resign(context.Background())
	req := runnerCreateReq()
	req.Group = "g2"
	if _, err := other.Run(ctx, req, nil); !errors.Is(err, ErrNotOwner) {
		t.Errorf("create in g2 led by a0: %v, want ErrNotOwner", err)
	}
	if env.node("p1").disconnectCount() != 0 {
		t.Errorf("the refused operations changed something")
	}
	if _, err := env.storage.LUN(ctx, "r1"); err != nil {
		t.Errorf("LUN r1: %v", err)
	}
}

func TestRunnerStorageDown(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	down := target.NewClient(url, runnerTestToken, &http.Client{Transport: tr})
	r := env.newRunner("a0", env.self, env.store, down)
	res, err := r.Run(t.Context(), runnerCreateReq("p1"), nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "create LUN") {
		t.Fatalf("create: %v, want ErrUnavailable from create LUN", err)
	}
	if res.Error == "" || res.Nodes[0].Status != NodeFailed {
		t.Errorf("result %+v", res)
	}
	wantRunnerNoGroup(t, env.store, "g1")
	if _, err := env.store.Owner(t.Context(), "g1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("owner of g1: %v, want ErrNotFound", err)
	}
	if got := env.fakes.logged(); len(got) != 0 {
		t.Errorf("nodes were called: %v", got)
	}
	// Connect of an existing LUN fails the same way, before any change.
	if _, err := r.Run(t.Context(), OperationRequest{Kind: OpConnect, Group: "g1", Resource: "r1", Portal: "127.0.0.1:3260"}, nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("connect: %v, want ErrUnavailable", err)
	}
	wantRunnerNoGroup(t, env.store, "g1")
}

func TestRunnerEtcdDown(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dead, err := NewStore(StoreConfig{Client: c, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := env.newRunner("a0", env.self, dead, env.storage)
	_, err = r.Run(t.Context(), runnerCreateReq("p1"), nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("create: %v, want ErrUnavailable, refusing to start", err)
	}
	if got := env.fakes.logged(); len(got) != 0 {
		t.Errorf("nodes were called: %v", got)
	}
	if luns, err := env.storage.LUNs(t.Context()); err != nil || len(luns) != 0 {
		t.Errorf("LUNs %+v, %v; want none", luns, err)
	}
}

func TestRunnerConnectMissingLUN(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	_, err := env.runner.Run(t.Context(), OperationRequest{Kind: OpConnect, Group: "g1", Resource: "nope", Portal: "127.0.0.1:3260"}, nil)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("connect: %v, want ErrNotFound", err)
	}
	wantRunnerNoGroup(t, env.store, "g1")
	for _, kind := range []OperationKind{OpDisconnect, OpDelete} {
		if _, err := env.runner.Run(t.Context(), OperationRequest{Kind: kind, Group: "g1", Resource: "nope"}, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", kind, err)
		}
	}
}

func TestRunnerDisconnectPartial(t *testing.T) {
	for _, policy := range []PartialFailure{KeepPartial, RollbackPartial} {
		t.Run(string(policy), func(t *testing.T) {
			env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK, "p2": rfOK})
			if _, err := env.runner.Run(t.Context(), runnerCreateReq("p1", "p2"), nil); err != nil {
				t.Fatalf("create: %v", err)
			}
			env.node("p2").disconnect = rfFail
			res, err := env.runner.Run(t.Context(), OperationRequest{Kind: OpDelete, Group: "g1", Resource: "r1", OnPartialFailure: policy}, nil)
			if !errors.Is(err, ErrPartialFailure) {
				t.Fatalf("delete: %v, want ErrPartialFailure", err)
			}
			wantRunnerStatuses(t, res, map[string]NodeStatus{"a0": NodeOK, "p1": NodeOK, "p2": NodeFailed})
			if _, err := env.storage.LUN(t.Context(), "r1"); err != nil {
				t.Errorf("LUN deleted although p2 still has it: %v", err)
			}
			g, err := env.store.Group(t.Context(), "g1")
			if err != nil || len(g.Resources) != 1 {
				t.Fatalf("group %+v, %v", g, err)
			}
			d := g.Resources[0]
			switch policy {
			case KeepPartial:
				if d.State != DiskOffline || !slices.Equal(d.PossibleOwners, []string{"p2"}) || env.self.disconnectCount() != 1 {
					t.Errorf("resource %+v, active disconnects %d", d, env.self.disconnectCount())
				}
			case RollbackPartial:
				if !res.RolledBack || d.State != DiskOnline || env.self.disconnectCount() != 0 || !env.node("p1").isConnected(d.WWN) {
					t.Errorf("rolled back %v, resource %+v, active disconnects %d", res.RolledBack, d, env.self.disconnectCount())
				}
			}
		})
	}
}

func TestRunnerInvalid(t *testing.T) {
	env := newRunnerTestEnv(t, nil)
	ok := runnerCreateReq()
	tests := []struct {
		name  string
		edit  func(*OperationRequest)
		field string
	}{
		{"no kind", func(r *OperationRequest) { r.Kind = "" }, "kind"},
		{"bad kind", func(r *OperationRequest) { r.Kind = "move" }, "kind"},
		{"no group", func(r *OperationRequest) { r.Group = "" }, "group"},
		{"bad group", func(r *OperationRequest) { r.Group = "a/b" }, "group"},
		{"no resource", func(r *OperationRequest) { r.Resource = "" }, "resource"},
		{"no size", func(r *OperationRequest) { r.Size = 0 }, "size"},
		{"odd size", func(r *OperationRequest) { r.Size = 1000 }, "size"},
		{"no portal", func(r *OperationRequest) { r.Portal = "" }, "portal"},
		{"bad mode", func(r *OperationRequest) { r.Mode = "fast" }, "mode"},
		{"bad policy", func(r *OperationRequest) { r.OnPartialFailure = "ignore" }, "on_partial_failure"},
		{"negative max", func(r *OperationRequest) { r.MaxParallel = -1 }, "max_parallel"},
		{"negative timeout", func(r *OperationRequest) { r.NodeTimeout = -1 }, "node_timeout"},
		{"self passive", func(r *OperationRequest) { r.Passive = []string{"a0"} }, "passive"},
		{"twice passive", func(r *OperationRequest) { r.Passive = []string{"p1", "p1"} }, "passive"},
		{"bad id", func(r *OperationRequest) { r.ID = "x y" }, "id"},
		{"size on connect", func(r *OperationRequest) { r.Kind = OpConnect }, "size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := ok
			tt.edit(&req)
			res, err := env.runner.Run(t.Context(), req, nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("err %v, want ErrInvalid naming %s", err, tt.field)
			}
			if res.Error == "" {
				t.Errorf("result has no error text")
			}
		})
	}
	if got := env.fakes.logged(); len(got) != 0 {
		t.Errorf("nodes were called: %v", got)
	}
	if _, err := NewRunner(RunnerConfig{Node: "a0"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewRunner without Self: %v", err)
	}
}

func TestRunnerLostOwnership(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := env.runner.Run(ctx, runnerCreateReq("p1"), nil); err != nil {
		t.Fatalf("create: %v", err)
	}
	// The runner's ownership ends (as when its lease expires) and another
	// node takes the group over: later operations refuse.
	env.runner.mu.Lock()
	own := env.runner.owned["g1"]
	env.runner.mu.Unlock()
	if own == nil {
		t.Fatal("the runner holds no ownership of g1")
	}
	if err := own.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-own.Done():
	case <-ctx.Done():
		t.Fatal("ownership not ended")
	}
	thief, err := env.store.Campaign(ctx, "g1", "p1", 0)
	if err != nil {
		t.Fatal(err)
	}
	disconnect := OperationRequest{Kind: OpDisconnect, Group: "g1", Resource: "r1"}
	if _, err := env.runner.Run(ctx, disconnect, nil); !errors.Is(err, ErrNotOwner) {
		t.Errorf("disconnect after losing the group: %v, want ErrNotOwner", err)
	}
	if env.node("p1").disconnectCount() != 0 {
		t.Errorf("the refused disconnect reached a node")
	}
	// Once nobody leads, the recorded owner campaigns again.
	if err := thief.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.runner.Run(ctx, disconnect, nil); err != nil {
		t.Errorf("disconnect once the group is free: %v", err)
	}
}

// When the create maps the LUN to the active node's group in its own
// request, the active node's connect is told the LUN number of that map.
func TestRunnerCreateTellsActiveItsLUN(t *testing.T) {
	env := newRunnerTestEnv(t, map[string]runnerFakeMode{"p1": rfOK})
	ctx := t.Context()
	if _, err := env.storage.CreateIGroup(ctx, target.IGroupCreate{Name: IGroupName("a0"), Initiators: []string{"iqn.2026-01.test:a0"}}); err != nil {
		t.Fatal(err)
	}
	res, err := env.runner.Run(ctx, runnerCreateReq("p1"), nil)
	if err != nil {
		t.Fatalf("create: %v (%+v)", err, res)
	}
	maps, err := env.storage.Maps(ctx)
	if err != nil || len(maps) != 1 {
		t.Fatalf("maps %+v, %v", maps, err)
	}
	p1 := env.node("p1")
	env.fakes.mu.Lock()
	defer env.fakes.mu.Unlock()
	if got := env.self.lunIDs; len(got) != 1 || got[0] == nil || *got[0] != maps[0].LUNID {
		t.Fatalf("active connect LUNIDs %v, want the map's %d", got, maps[0].LUNID)
	}
	if got := p1.lunIDs; len(got) != 1 || got[0] != nil {
		t.Fatalf("passive connect LUNIDs %v, want none (it maps the LUN itself)", got)
	}
}
