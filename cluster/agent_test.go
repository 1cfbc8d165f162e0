package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
	"github.com/lunarsan/lunar/target"
)

// newTestAgent returns an agent of node on tt with an engine of its own.
func newTestAgent(t *testing.T, tt *agentTarget, node string) *Agent {
	t.Helper()
	iqn := LocalInitiatorPrefix + node
	a, err := NewAgent(AgentConfig{
		Node: node, InitiatorName: iqn, Engine: newAgentEngine(t, iqn), Storage: tt.storage, Token: agentTestToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// mapsOf lists the maps of lun to igroup.
func mapsOf(t *testing.T, tt *agentTarget, igroup, lun string) []target.MapInfo {
	t.Helper()
	maps, err := tt.storage.Maps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []target.MapInfo
	for _, m := range maps {
		if m.IGroup == igroup && m.LUN == lun {
			out = append(out, m)
		}
	}
	return out
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func wantSteps(t *testing.T, what string, got []StepTiming, want ...Step) {
	t.Helper()
	var names []Step
	for _, s := range got {
		names = append(names, s.Step)
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("%s: steps %v, want %v", what, names, want)
	}
}

func TestIGroupName(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                 "lunar-node-node1",
		"a b/c":                 "lunar-node-a_b_c",
		strings.Repeat("x", 80): "lunar-node-" + strings.Repeat("x", 53),
	} {
		if got := IGroupName(in); got != want || len(got) > 64 {
			t.Errorf("IGroupName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAgentConnectIdempotent(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	lun := tt.createLUN(t, "vol1", 16<<20)
	a := newTestAgent(t, tt, "n1")
	req := ConnectRequest{RequestID: "r1", LUN: "vol1", WWN: lun.WWN, Portal: tt.portal, Timeout: 20 * time.Second}
	resp, err := a.Connect(ctx, req)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	wantSteps(t, "connect", resp.Steps, StepMap, StepLogin, StepArrival)
	if !strings.EqualFold(resp.Disk.WWN, lun.WWN) || resp.Disk.Size != lun.Size || resp.Disk.Target != tt.targetName || resp.Node != "n1" {
		t.Fatalf("connect answer %+v, want disk %s of %d bytes", resp, lun.WWN, lun.Size)
	}
	again, err := a.Connect(ctx, req)
	if err != nil {
		t.Fatalf("repeat Connect: %v", err)
	}
	if !reflect.DeepEqual(again, resp) {
		t.Fatalf("repeat answer differs:\n%+v\n%+v", again, resp)
	}
	if n := len(mapsOf(t, tt, a.IGroup(), "vol1")); n != 1 {
		t.Fatalf("%d maps of vol1 to %s, want 1", n, a.IGroup())
	}
	// Another request id for the same disk: the map exists already.
	req.RequestID = "r2"
	if _, err := a.Connect(ctx, req); err != nil {
		t.Fatalf("Connect with a new id: %v", err)
	}
	// The same id with other fields is a conflict.
	req.LUN = "other"
	_, err = a.Connect(ctx, req)
	wantErr(t, "reused request id", err, ErrConflict)
	disks, _ := a.Disks(ctx)
	if len(disks) != 1 {
		t.Fatalf("Disks = %+v, want one", disks)
	}
}

func TestAgentConnectConcurrentNodes(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	lun := tt.createLUN(t, "shared", 16<<20)
	agents := []*Agent{newTestAgent(t, tt, "p1"), newTestAgent(t, tt, "p2"), newTestAgent(t, tt, "p3")}
	var wg sync.WaitGroup
	errs := make([]error, len(agents))
	resps := make([]ConnectResponse, len(agents))
	for i, a := range agents {
		wg.Go(func() {
			resps[i], errs[i] = a.Connect(ctx, ConnectRequest{RequestID: "c", LUN: "shared", WWN: lun.WWN, Portal: tt.portal})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if !strings.EqualFold(resps[i].Disk.WWN, lun.WWN) {
			t.Fatalf("node %d sees %+v", i, resps[i].Disk)
		}
		if n := len(mapsOf(t, tt, agents[i].IGroup(), "shared")); n != 1 {
			t.Fatalf("node %d: %d maps", i, n)
		}
	}
}

func TestAgentConnectErrors(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	lun := tt.createLUN(t, "vol", 8<<20)
	a := newTestAgent(t, tt, "n1")

	_, err := a.Connect(ctx, ConnectRequest{LUN: "missing", WWN: "naa.600000000000000000000000000000aa", Portal: tt.portal})
	wantErr(t, "connect of a LUN that does not exist", err, ErrNotFound)

	_, err = a.Connect(ctx, ConnectRequest{LUN: "vol", Portal: tt.portal})
	wantErr(t, "connect with no WWN", err, ErrInvalid)
	_, err = a.Connect(ctx, ConnectRequest{LUN: "vol", WWN: lun.WWN, Portal: "nowhere"})
	wantErr(t, "connect with a bad portal", err, ErrInvalid)

	// The map succeeds but the disk waited for never arrives.
	start := time.Now()
	resp, err := a.Connect(ctx, ConnectRequest{LUN: "vol", WWN: "naa.600000000000000000000000000000bb", Portal: tt.portal, Timeout: 300 * time.Millisecond})
	wantErr(t, "connect of a disk that never arrives", err, ErrTimeout)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timed out after %v, want about 300ms", el)
	}
	wantSteps(t, "timed out connect", resp.Steps, StepMap, StepLogin, StepArrival)
	if resp.Steps[2].Error == "" {
		t.Fatal("the arrival step carries no error")
	}

	// The storage API unreachable.
	down := target.NewClient("http://127.0.0.1:1", agentTestToken, &http.Client{})
	b, err := NewAgent(AgentConfig{Node: "n2", InitiatorName: "iqn.2026-11.org.lunar:n2", Engine: newAgentEngine(t, "iqn.2026-11.org.lunar:n2"), Storage: down, Token: agentTestToken})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Connect(ctx, ConnectRequest{LUN: "vol", WWN: lun.WWN, Portal: tt.portal})
	wantErr(t, "connect with the storage API down", err, ErrUnavailable)
}

func TestAgentDisconnect(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	l1 := tt.createLUN(t, "d1", 8<<20)
	l2 := tt.createLUN(t, "d2", 8<<20)
	a := newTestAgent(t, tt, "n1")
	iqn := LocalInitiatorPrefix + "n1"
	for _, l := range []target.LUNInfo{l1, l2} {
		if _, err := a.Connect(ctx, ConnectRequest{LUN: l.Name, WWN: l.WWN, Portal: tt.portal}); err != nil {
			t.Fatal(err)
		}
	}
	sessions := func() int {
		ss, err := tt.storage.Sessions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return countAgentSessions(ss, iqn)
	}
	if n := sessions(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	resp, err := a.Disconnect(ctx, DisconnectRequest{RequestID: "x1", LUN: "d1", WWN: l1.WWN})
	if err != nil {
		t.Fatalf("Disconnect d1: %v", err)
	}
	wantSteps(t, "disconnect d1", resp.Steps, StepFlush, StepRelease, StepUnmap)
	if n := len(mapsOf(t, tt, a.IGroup(), "d1")); n != 0 {
		t.Fatalf("d1 still mapped %d times", n)
	}
	if n := sessions(); n != 1 {
		t.Fatalf("%d sessions after the first disconnect, want 1 (d2 is on it)", n)
	}
	resp, err = a.Disconnect(ctx, DisconnectRequest{RequestID: "x2", LUN: "d2", WWN: l2.WWN})
	if err != nil {
		t.Fatalf("Disconnect d2: %v", err)
	}
	wantSteps(t, "disconnect d2", resp.Steps, StepFlush, StepRelease, StepUnmap, StepLogout)
	if n := sessions(); n != 0 {
		t.Fatalf("%d sessions after the last disconnect, want 0", n)
	}
	if disks, _ := a.Disks(ctx); len(disks) != 0 {
		t.Fatalf("Disks = %+v", disks)
	}
	// Again, with a new id: nothing to do, still success.
	if _, err := a.Disconnect(ctx, DisconnectRequest{RequestID: "x3", LUN: "d2", WWN: l2.WWN}); err != nil {
		t.Fatalf("repeat Disconnect: %v", err)
	}
	_, err = a.Disconnect(ctx, DisconnectRequest{})
	wantErr(t, "disconnect of nothing", err, ErrInvalid)
}

func TestAgentFormatVerify(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	lun := tt.createLUN(t, "fmt", 64<<20)
	active, passive := newTestAgent(t, tt, "act"), newTestAgent(t, tt, "pas")
	if _, err := active.Connect(ctx, ConnectRequest{LUN: "fmt", WWN: lun.WWN, Portal: tt.portal}); err != nil {
		t.Fatal(err)
	}
	resp, err := active.Format(ctx, FormatRequest{RequestID: "f", WWN: lun.WWN, Label: "fmt-volume"})
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	wantSteps(t, "format", resp.Steps, StepFormat)
	cr, err := passive.Connect(ctx, ConnectRequest{LUN: "fmt", WWN: lun.WWN, Portal: tt.portal, ExpectLabel: "fmt-volume"})
	if err != nil {
		t.Fatalf("Connect with ExpectLabel: %v", err)
	}
	wantSteps(t, "verify connect", cr.Steps, StepMap, StepLogin, StepArrival, StepVerify)
	dev, err := passive.Engine().Open(ctx, lun.WWN)
	if err != nil {
		t.Fatal(err)
	}
	if label, err := ReadLabel(ctx, dev); err != nil || label != "fmt-volume" {
		t.Fatalf("ReadLabel on the passive node = %q, %v", label, err)
	}
	_, err = passive.Connect(ctx, ConnectRequest{RequestID: "v2", LUN: "fmt", WWN: lun.WWN, Portal: tt.portal, ExpectLabel: "other"})
	wantErr(t, "verify of the wrong label", err, ErrConflict)
	_, err = active.Format(ctx, FormatRequest{WWN: "naa.600000000000000000000000000000cc", Label: "x"})
	wantErr(t, "format of a disk not connected", err, ErrNotFound)
}

// fakeRunner is an OperationRunner that reports two steps, or blocks
// until its context ends.
type fakeRunner struct {
	block    bool
	started  chan struct{}
	canceled chan struct{}
	err      error
}

func (f *fakeRunner) Run(ctx context.Context, req OperationRequest, progress func(ProgressEvent)) (OperationResult, error) {
	progress(ProgressEvent{Node: "n1", Role: RoleActive, Step: StepCreateLUN, Status: NodeRunning})
	progress(ProgressEvent{Node: "n1", Role: RoleActive, Step: StepCreateLUN, Done: true, Status: NodeOK})
	if f.block {
		close(f.started)
		<-ctx.Done()
		close(f.canceled)
		return OperationResult{}, ctx.Err()
	}
	res := OperationResult{ID: req.ID, Kind: req.Kind, Group: req.Group, Resource: req.Resource,
		Nodes: []NodeResult{{Node: "n1", Role: RoleActive, Status: NodeOK}}}
	if f.err != nil {
		res.Error = f.err.Error()
	}
	return res, f.err
}

func TestAgentHTTP(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	lun := tt.createLUN(t, "h", 8<<20)
	a := newTestAgent(t, tt, "web")
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := NewAgentClient(srv.URL, agentTestToken, srv.Client())

	// Health needs no token; everything else does.
	if err := NewAgentClient(srv.URL, "", srv.Client()).Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	_, err := NewAgentClient(srv.URL, "wrong-token-wrong-token", srv.Client()).Disks(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("Disks with a wrong token = %v, want 401", err)
	}
	for _, path := range []string{PathDisks, PathMetrics} {
		r, _ := http.Get(srv.URL + path)
		r.Body.Close()
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without a token: %d, want 401", path, r.StatusCode)
		}
	}

	// Bad JSON bodies.
	for _, body := range []string{`{`, `{"lun":"h","bogus":1}`, `{"lun":"h"} {}`, `[]`} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+PathConnect, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+agentTestToken)
		r, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb ErrorBody
		_ = json.NewDecoder(r.Body).Decode(&eb)
		r.Body.Close()
		if r.StatusCode != http.StatusBadRequest || eb.Error == "" {
			t.Fatalf("body %s: %d %q, want 400 with a message", body, r.StatusCode, eb.Error)
		}
	}

	// The NodeAPI over HTTP.
	resp, err := c.Connect(ctx, ConnectRequest{RequestID: "h1", LUN: "h", WWN: lun.WWN, Portal: tt.portal})
	if err != nil {
		t.Fatalf("Connect over HTTP: %v", err)
	}
	if !strings.EqualFold(resp.Disk.WWN, lun.WWN) || len(resp.Steps) != 3 {
		t.Fatalf("answer %+v", resp)
	}
	disks, err := c.Disks(ctx)
	if err != nil || len(disks) != 1 {
		t.Fatalf("Disks over HTTP = %+v, %v", disks, err)
	}
	_, err = c.Connect(ctx, ConnectRequest{LUN: "nope", WWN: lun.WWN, Portal: tt.portal})
	wantErr(t, "connect of a missing LUN over HTTP", err, ErrNotFound)
	_, err = c.Format(ctx, FormatRequest{WWN: lun.WWN})
	wantErr(t, "format with no label over HTTP", err, ErrInvalid)
	if _, err := c.Disconnect(ctx, DisconnectRequest{LUN: "h", WWN: lun.WWN}); err != nil {
		t.Fatalf("Disconnect over HTTP: %v", err)
	}
	m, err := c.Metrics(ctx)
	if err != nil || !strings.Contains(m, `lunar_agent_requests_total{request="connect",status="ok"}`) ||
		!strings.Contains(m, `lunar_agent_step_duration_seconds_bucket{status="ok",step="arrival"`) {
		t.Fatalf("metrics (%v):\n%s", err, m)
	}

	// No runner: 501.
	_, err = c.RunOperation(ctx, OperationRequest{Kind: OpCreate}, nil)
	if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented {
		t.Fatalf("RunOperation with no runner = %v, want 501", err)
	}
}

func TestAgentOperationsStream(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	a := newTestAgent(t, tt, "ops")
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := NewAgentClient(srv.URL, agentTestToken, srv.Client())

	a.SetOperations(&fakeRunner{})
	var events []ProgressEvent
	res, err := c.RunOperation(ctx, OperationRequest{ID: "op1", Kind: OpCreate, Group: "g", Resource: "r"}, func(ev ProgressEvent) {
		events = append(events, ev)
	})
	if err != nil {
		t.Fatalf("RunOperation: %v", err)
	}
	if res.ID != "op1" || len(res.Nodes) != 1 || len(events) != 2 || !events[1].Done {
		t.Fatalf("result %+v, events %+v", res, events)
	}

	// The raw stream: NDJSON, one object a line.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+PathOperations, strings.NewReader(`{"id":"op2","kind":"create"}`))
	req.Header.Set("Authorization", "Bearer "+agentTestToken)
	r, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := r.Header.Get("Content-Type"); ct != NDJSONContentType {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(r.Body)
	var lines []OperationLine
	for sc.Scan() {
		var l OperationLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	r.Body.Close()
	if len(lines) != 3 || lines[0].Progress == nil || lines[2].Result == nil || lines[2].Result.ID != "op2" {
		t.Fatalf("stream lines %+v", lines)
	}

	// A failed operation: the result and the error, with its status.
	a.SetOperations(&fakeRunner{err: ErrConflict})
	res, err = c.RunOperation(ctx, OperationRequest{ID: "op3", Kind: OpCreate}, nil)
	wantErr(t, "failed operation", err, ErrConflict)
	if res.ID != "op3" {
		t.Fatalf("failed operation's result %+v", res)
	}

	// The client cancels: the runner's context ends.
	fr := &fakeRunner{block: true, started: make(chan struct{}), canceled: make(chan struct{})}
	a.SetOperations(fr)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.RunOperation(cctx, OperationRequest{ID: "op4", Kind: OpCreate}, nil)
		done <- err
	}()
	<-fr.started
	cancel()
	<-fr.canceled
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled RunOperation = %v, want context.Canceled", err)
	}
}

func TestLocalStartClose(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := StartLocal(ctx, LocalConfig{Dir: t.TempDir(), Nodes: 3})
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	for _, n := range l.Nodes {
		n.Agent.SetOperations(&fakeRunner{})
	}
	nodes, err := l.Store.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || len(l.Nodes) != 3 {
		t.Fatalf("nodes in etcd %+v, local %d: want 3", nodes, len(l.Nodes))
	}
	for i, n := range l.Nodes {
		if err := n.Client.Health(ctx); err != nil {
			t.Fatalf("node %d health: %v", i, err)
		}
	}
	// A LUN connected on two nodes through their HTTP APIs.
	lun, err := l.Storage.CreateLUN(ctx, target.LUNCreate{Name: "local1", Size: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes[:2] {
		if _, err := n.Client.Connect(ctx, ConnectRequest{LUN: "local1", WWN: lun.WWN, Portal: l.Portal}); err != nil {
			t.Fatalf("%s: connect: %v", n.Info.Name, err)
		}
	}
	if _, err := l.Nodes[0].Client.RunOperation(ctx, OperationRequest{ID: "x", Kind: OpCreate}, nil); err != nil {
		t.Fatalf("RunOperation through the wired runner: %v", err)
	}
	// Kill a node: its API is gone and its registration revoked.
	if err := l.StopNode(1); err != nil {
		t.Fatalf("StopNode: %v", err)
	}
	wantErr(t, "health of a stopped node", l.Nodes[1].Client.Health(ctx), ErrUnavailable)
	if _, err := l.Store.Node(ctx, l.Nodes[1].Info.Name); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stopped node still registered: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The test's own HTTP clients keep idle connections: close them.
	for _, n := range l.Nodes {
		n.Client.hc.CloseIdleConnections()
	}
	if leaked := leakcheck.Wait(before, leakcheck.Grace); leaked != "" {
		t.Fatalf("goroutines left after Close:\n%s", leaked)
	}
}

// TestAgentGroupChangedBehindIt: once its group is known, a connect maps
// without looking the group up; a group deleted, or an initiator taken
// out of it, since then is noticed and made good.
func TestAgentGroupChangedBehindIt(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	a := newTestAgent(t, tt, "n1")
	connect := func(id, name string) {
		t.Helper()
		lun := tt.createLUN(t, name, 16<<20)
		resp, err := a.Connect(ctx, ConnectRequest{RequestID: id, LUN: name, WWN: lun.WWN, Portal: tt.portal, Timeout: 20 * time.Second})
		if err != nil {
			t.Fatalf("Connect %s: %v", name, err)
		}
		if !strings.EqualFold(resp.Disk.WWN, lun.WWN) {
			t.Fatalf("connected %+v, want %s", resp.Disk, lun.WWN)
		}
		if n := len(mapsOf(t, tt, a.IGroup(), name)); n != 1 {
			t.Fatalf("%d maps of %s", n, name)
		}
	}
	connect("r1", "v1")
	if !a.groupReady.Load() {
		t.Fatal("the group is not marked ready after a connect")
	}
	// Everything disconnected (the session logs out), the initiator taken
	// out of the group: the next connect's login is refused, the agent
	// puts the initiator back and logs in.
	if _, err := a.Disconnect(ctx, DisconnectRequest{RequestID: "d1", LUN: "v1", WWN: mapsWWN(t, tt, "v1"), Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if _, err := tt.storage.RemoveInitiator(ctx, a.IGroup(), LocalInitiatorPrefix+"n1"); err != nil {
		t.Fatal(err)
	}
	connect("r2", "v2")
	// The group deleted: the map finds it missing and makes it again.
	if _, err := a.Disconnect(ctx, DisconnectRequest{RequestID: "d2", LUN: "v2", WWN: mapsWWN(t, tt, "v2"), Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := tt.storage.DeleteIGroup(ctx, a.IGroup(), true); err != nil {
		t.Fatal(err)
	}
	connect("r3", "v3")
}

// mapsWWN returns the WWN of the LUN name.
func mapsWWN(t *testing.T, tt *agentTarget, name string) string {
	t.Helper()
	info, err := tt.storage.LUN(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return info.WWN
}

// lunWaitEngine is a UserspaceEngine that records the LUNs WaitForDiskAt
// was given.
type lunWaitEngine struct {
	*UserspaceEngine
	mu   sync.Mutex
	luns []uint64
}

func (e *lunWaitEngine) WaitForDiskAt(ctx context.Context, t TargetRef, wwn string, lun uint64) (DiskStatus, error) {
	e.mu.Lock()
	e.luns = append(e.luns, lun)
	e.mu.Unlock()
	return e.UserspaceEngine.WaitForDiskAt(ctx, t, wwn, lun)
}

// A connect looks for the disk at the LUN number its map got, or at the
// one the request names when the LUN is mapped already.
func TestAgentConnectWaitsAtMappedLUN(t *testing.T) {
	tt := startAgentTarget(t)
	ctx := context.Background()
	first := tt.createLUN(t, "first", 8<<20)
	second := tt.createLUN(t, "second", 8<<20)
	const node = "n1"
	iqn := LocalInitiatorPrefix + node
	e := &lunWaitEngine{UserspaceEngine: newAgentEngine(t, iqn)}
	a, err := NewAgent(AgentConfig{Node: node, InitiatorName: iqn, Engine: e, Storage: tt.storage, Token: agentTestToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if _, err := a.Connect(ctx, ConnectRequest{RequestID: "c1", LUN: "first", WWN: first.WWN, Portal: tt.portal, Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	resp, err := a.Connect(ctx, ConnectRequest{RequestID: "c2", LUN: "second", WWN: second.WWN, Portal: tt.portal, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	maps := mapsOf(t, tt, a.IGroup(), "second")
	if len(maps) != 1 || resp.Disk.LUN != maps[0].LUNID {
		t.Fatalf("disk at LUN %d, maps %+v", resp.Disk.LUN, maps)
	}
	// Mapped already, the LUN given by the caller.
	at := maps[0].LUNID
	if _, err := a.Connect(ctx, ConnectRequest{RequestID: "c3", LUN: "second", WWN: second.WWN, Portal: tt.portal, Mapped: true, LUNID: &at, Timeout: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if want := []uint64{0, at, at}; !reflect.DeepEqual(e.luns, want) {
		t.Fatalf("WaitForDiskAt given LUNs %v, want %v", e.luns, want)
	}
}
