package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// failoverTTL is the ownership lease of the failover tests.
const failoverTTL = 2 * time.Second

// failoverEnv is a Local cluster whose nodes run a Runner and a Failover.
type failoverEnv struct {
	l         *Local
	runners   map[string]*Runner
	takeovers chan OperationResult
}

// startFailoverLocal starts n nodes; the nodes named in manual get no
// runner or failover (the test builds its own).
func startFailoverLocal(t *testing.T, n int, manual ...string) *failoverEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	env := &failoverEnv{runners: map[string]*Runner{}, takeovers: make(chan OperationResult, 16)}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	l, err := StartLocal(ctx, LocalConfig{Nodes: n})
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	env.l = l
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Local.Close: %v", err)
		}
		for _, r := range env.runners {
			_ = r.Close()
		}
	})
	resolve := AgentResolver(l.Store, l.Token, &http.Client{Transport: tr})
	for i, node := range l.Nodes {
		if slices.Contains(manual, node.Info.Name) {
			continue
		}
		r, err := NewRunner(RunnerConfig{Node: node.Info.Name, Self: node.Agent, Store: l.Store, Storage: l.Storage,
			Agents: resolve, OwnershipTTL: failoverTTL})
		if err != nil {
			t.Fatalf("NewRunner: %v", err)
		}
		env.runners[node.Info.Name] = r
		if _, err := l.StartFailover(i, r, FailoverConfig{OnTakeover: func(r OperationResult) { env.takeovers <- r }, Resync: time.Second}); err != nil {
			t.Fatalf("StartFailover: %v", err)
		}
	}
	return env
}

func (env *failoverEnv) node(name string) *LocalNode {
	for _, n := range env.l.Nodes {
		if n.Info.Name == name {
			return n
		}
	}
	return nil
}

// create makes group g with one disk d1 owned by node1.
func (env *failoverEnv) create(t *testing.T, r *Runner, passive ...string) DiskResource {
	t.Helper()
	return env.createSize(t, r, 1<<20, passive...)
}

// createSize is create with a disk of size bytes.
func (env *failoverEnv) createSize(t *testing.T, r *Runner, size int64, passive ...string) DiskResource {
	t.Helper()
	res, err := r.Run(t.Context(), OperationRequest{Kind: OpCreate, Group: "g", Resource: "d1", Size: size,
		Portal: env.l.Portal, NoFormat: true, Passive: passive}, nil)
	if err != nil {
		t.Fatalf("create: %v (%+v)", err, res)
	}
	if !runnerHasStep(res.Nodes[0], StepReserve) {
		t.Errorf("the active node has no reserve step: %+v", res.Nodes[0].Steps)
	}
	return *res.Disk
}

// waitTakeover waits for a takeover record without error.
func (env *failoverEnv) waitTakeover(t *testing.T, within time.Duration) OperationResult {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case r := <-env.takeovers:
			if r.Error == "" {
				return r
			}
			t.Logf("takeover failed: %s", r.Error)
		case <-timer.C:
			t.Fatalf("no takeover within %v", within)
		}
	}
}

// wantHolder checks through node's fence that key holds d's reservation
// and which keys are registered.
func wantHolder(t *testing.T, node *LocalNode, wwn string, holder string, absent ...string) {
	t.Helper()
	f, err := NewFence(node.Engine(), node.Info.Name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Reservation(t.Context(), wwn)
	if err != nil {
		t.Fatalf("READ RESERVATION through %s: %v", node.Info.Name, err)
	}
	if !r.Reserved || r.Key != NodeKey(holder) || r.Type != FenceType {
		t.Errorf("reservation %+v, want %s's key %#x type %v", r, holder, NodeKey(holder), FenceType)
	}
	keys, err := f.Keys(t.Context(), wwn)
	if err != nil {
		t.Fatalf("READ KEYS: %v", err)
	}
	for _, n := range absent {
		if slices.Contains(keys.Keys, NodeKey(n)) {
			t.Errorf("%s's key is still registered: %x", n, keys.Keys)
		}
	}
}

// wantWritable writes and reads back a block through node.
func wantWritable(t *testing.T, node *LocalNode, wwn string, off int64) {
	t.Helper()
	dev, err := node.Engine().Open(t.Context(), wwn)
	if err != nil {
		t.Fatalf("%s: open: %v", node.Info.Name, err)
	}
	buf := bytes.Repeat([]byte{0x5a}, 512)
	if _, err := dev.WriteAt(buf, off); err != nil {
		t.Fatalf("%s: write: %v", node.Info.Name, err)
	}
	got := make([]byte, 512)
	if _, err := dev.ReadAt(got, off); err != nil || !bytes.Equal(got, buf) {
		t.Fatalf("%s: read back: %v", node.Info.Name, err)
	}
}

func TestNodeKey(t *testing.T) {
	seen := map[uint64]string{}
	for _, n := range []string{"node1", "node2", "node3", "a", ""} {
		k := NodeKey(n)
		if k == 0 || k != NodeKey(n) {
			t.Fatalf("NodeKey(%q) = %#x", n, k)
		}
		if o, ok := seen[k]; ok {
			t.Fatalf("NodeKey(%q) = NodeKey(%q)", n, o)
		}
		seen[k] = n
	}
}

// TestFailoverCrash: the owner's agent stops (a crash: its lease expires)
// and a passive node takes the group over, fences the old key and can
// write; the other passive node stays passive.
func TestFailoverCrash(t *testing.T) {
	env := startFailoverLocal(t, 3)
	d := env.create(t, env.runners["node1"])
	n1, n2 := env.node("node1"), env.node("node2")
	wantHolder(t, n2, d.WWN, "node1")

	killed := time.Now()
	if err := env.l.StopNode(0); err != nil {
		t.Fatal(err)
	}
	res := env.waitTakeover(t, 20*time.Second)
	online := time.Since(killed)
	winner := res.Nodes[0].Node
	t.Logf("failover to %s in %v (record: %v); steps %+v", winner, online, res.Total, res.Nodes[0].Steps)
	if res.Kind != OpFailover || winner == "node1" {
		t.Fatalf("takeover %+v", res)
	}
	owner, err := env.l.Store.Owner(t.Context(), "g")
	if err != nil || owner != winner {
		t.Fatalf("owner %q, %v; want %s", owner, err, winner)
	}
	g, err := env.l.Store.Group(t.Context(), "g")
	if err != nil || g.Owner != winner {
		t.Fatalf("group owner %q, %v", g.Owner, err)
	}
	w := env.node(winner)
	wantHolder(t, w, d.WWN, winner, "node1")
	wantWritable(t, w, d.WWN, 4096)
	if env.runners[winner].owning("g") == nil {
		t.Errorf("the winner's runner does not own the group")
	}
	for name, r := range env.runners {
		if name != winner && r.owning("g") != nil {
			t.Errorf("%s's runner owns the group too", name)
		}
	}
	ops, err := env.l.Store.Operations(t.Context(), "g", 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, op := range ops {
		if op.Kind == OpFailover && op.Error == "" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d failover records, want 1", n)
	}
	_ = n1
}

// TestFailoverRace: two possible owners race for a group without an
// owner: exactly one wins.
func TestFailoverRace(t *testing.T) {
	env := startFailoverLocal(t, 3)
	ctx := t.Context()
	// A group whose recorded owner (node1, whose agent is dead) holds no
	// lease: node2 and node3 both see it ownerless.
	if err := env.l.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if _, err := env.l.Store.CreateGroup(ctx, Group{Name: "r", Owner: "node1", Nodes: []string{"node1", "node2", "node3"}}); err != nil {
		t.Fatal(err)
	}
	f2, f3 := env.node("node2").Failover(), env.node("node3").Failover()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, f := range []*Failover{f2, f3} {
		wg.Go(func() { _, errs[i] = f.failover(ctx, "r", time.Now()) })
	}
	wg.Wait()
	res := env.waitTakeover(t, 20*time.Second)
	winner := res.Nodes[0].Node
	owner, err := env.l.Store.Owner(ctx, "r")
	if err != nil || owner != winner {
		t.Fatalf("owner %q, %v; takeover by %s", owner, err, winner)
	}
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrConflict) {
			t.Errorf("failover %d: %v, want nil or ErrConflict", i, err)
		}
	}
	owners := 0
	for _, name := range []string{"node2", "node3"} {
		if env.runners[name].owning("r") != nil {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("%d runners own the group, want 1", owners)
	}
	select {
	case r := <-env.takeovers:
		if r.Error == "" {
			t.Errorf("a second takeover succeeded: %+v", r)
		}
	default:
	}
}

// TestFailoverMove: a planned move through the target node's agent API.
func TestFailoverMove(t *testing.T) {
	env := startFailoverLocal(t, 3)
	d := env.create(t, env.runners["node1"])
	n2 := env.node("node2")
	res, err := n2.Client.Takeover(t.Context(), "g")
	if err != nil {
		t.Fatalf("Takeover: %v", err)
	}
	if res.Kind != OpMove || res.Nodes[0].Node != "node2" || !runnerHasStep(res.Nodes[0], StepResign) {
		t.Fatalf("move %+v", res)
	}
	t.Logf("move in %v: %+v", res.Total, res.Nodes[0].Steps)
	if owner, err := env.l.Store.Owner(t.Context(), "g"); err != nil || owner != "node2" {
		t.Fatalf("owner %q, %v", owner, err)
	}
	wantHolder(t, n2, d.WWN, "node2")
	wantWritable(t, n2, d.WWN, 8192)
	if env.runners["node2"].owning("g") == nil || env.runners["node1"].owning("g") != nil {
		t.Errorf("runners' ownership: node2 %v node1 %v", env.runners["node2"].owning("g"), env.runners["node1"].owning("g"))
	}
	// The old owner cannot run operations on the group any more.
	_, err = env.runners["node1"].Run(t.Context(), OperationRequest{Kind: OpConnect, Group: "g", Resource: "d1", Portal: env.l.Portal}, nil)
	if !errors.Is(err, ErrNotOwner) {
		t.Errorf("operation on the old owner: %v, want ErrNotOwner", err)
	}
	// The reservation view through the agent API.
	rs, err := n2.Client.Reservations(t.Context(), "g")
	if err != nil || len(rs) != 1 || rs[0].HolderNode != "node2" {
		t.Fatalf("Reservations = %+v, %v", rs, err)
	}
	// The old owner rejoins as a passive node: its key comes back.
	f, _ := NewFence(n2.Engine(), "node2")
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		keys, err := f.Keys(t.Context(), d.WWN)
		if err == nil && slices.Contains(keys.Keys, NodeKey("node1")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node1 did not rejoin: keys %x, %v", keys.Keys, err)
		}
		<-tick.C
	}
	wantHolder(t, n2, d.WWN, "node2")
}

// TestFailoverNoReservations: an engine without PR cannot fence.
func TestFailoverNoReservations(t *testing.T) {
	if _, err := NewFence(noPREngine{}, "n"); !errors.Is(err, ErrNoReservations) {
		t.Fatalf("NewFence = %v, want ErrNoReservations", err)
	}
}

// noPREngine is an Engine without Reserver.
type noPREngine struct{ Engine }

func (noPREngine) Name() string { return "none" }

// writeOutcome is what the old owner's writer learnt of one write.
type writeOutcome struct {
	ok       bool
	conflict bool
	err      error
	sent     time.Time // when the write was issued
}

// TestFailoverCutOffOwner: the owner is cut off from etcd (a proxy in
// front of its etcd connection is stopped) but keeps running and keeps
// writing numbered blocks; after the failover its writes fail with
// RESERVATION CONFLICT; the disk holds every acknowledged write, no write
// issued after the preempt, and none refused.
func TestFailoverCutOffOwner(t *testing.T) {
	env := startFailoverLocal(t, 3, "node1")
	ctx := t.Context()
	l := env.l
	n1 := env.node("node1")

	// node1's own etcd client, through a proxy.
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	up := strings.TrimPrefix(l.Etcd.Endpoints()[0], "http://")
	px := toxiproxy.NewProxy(srv, "etcd-node1", "127.0.0.1:0", up)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	cli, err := NewEtcdClient(ctx, []string{"http://" + px.Listen})
	if err != nil {
		t.Fatal(err)
	}
	store1, err := NewStore(StoreConfig{Client: cli, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r1, err := NewRunner(RunnerConfig{Node: "node1", Self: n1.Agent, Store: store1, Storage: l.Storage,
		Agents: AgentResolver(store1, l.Token, nil), OwnershipTTL: failoverTTL})
	if err != nil {
		t.Fatal(err)
	}
	f1, err := NewFailover(FailoverConfig{Runner: r1, Agent: n1.Agent, Resync: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f1.Start()
	t.Cleanup(func() {
		_ = f1.Close()
		px.Stop()
		_ = r1.Close()
		_ = cli.Close()
	})

	d := env.createSize(t, r1, 8<<20, "node2", "node3")
	dev, err := n1.Engine().Open(ctx, d.WWN)
	if err != nil {
		t.Fatal(err)
	}
	disk := dev.(*userspaceDevice).disk
	blocks := int(d.Size / 512)

	// The writer: block i holds "lunar-fo", then i.
	outcomes := make([]writeOutcome, blocks)
	started := make(chan struct{})
	fenced := make(chan struct{})
	var wg sync.WaitGroup
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() {
		// One write every 2 ms: about 1000 writes before the failover.
		pace := time.NewTicker(2 * time.Millisecond)
		defer pace.Stop()
		conflicts := 0
		for i := 1; i < blocks && wctx.Err() == nil; i++ {
			<-pace.C
			buf := make([]byte, 512)
			copy(buf, "lunar-fo")
			binary.BigEndian.PutUint64(buf[8:], uint64(i))
			o := &outcomes[i]
			o.sent = time.Now()
			cctx, cancel := context.WithTimeout(wctx, time.Second)
			_, err := disk.WriteAtContext(cctx, buf, int64(i)*512)
			cancel()
			switch {
			case err == nil:
				o.ok = true
			case IsReservationConflict(err):
				o.conflict, o.err = true, err
				conflicts++
				if conflicts == 1 {
					close(fenced)
				}
			default:
				o.err = err
			}
			if i == 50 {
				close(started)
			}
			if conflicts >= 20 {
				return
			}
		}
	})
	<-started
	cut := time.Now()
	px.Stop() // node1 loses etcd; its ownership lease expires
	res := env.waitTakeover(t, 30*time.Second)
	t.Logf("cut-off owner: failover to %s %v after the cut; steps %+v", res.Nodes[0].Node, time.Since(cut), res.Nodes[0].Steps)
	var fenceEnd time.Time
	for _, st := range res.Nodes[0].Steps {
		if st.Step == StepFence {
			fenceEnd = st.Start.Add(st.Duration)
		}
	}
	select {
	case <-fenced:
	case <-time.After(20 * time.Second):
		t.Fatal("the old owner's writes never met RESERVATION CONFLICT")
	}
	wg.Wait()

	w := env.node(res.Nodes[0].Node)
	wantHolder(t, w, d.WWN, w.Info.Name, "node1")
	wdev, err := w.Engine().Open(ctx, d.WWN)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, d.Size)
	if _, err := wdev.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	firstConflict := 0
	acked, unknown := 0, 0
	for i := 1; i < blocks; i++ {
		o := outcomes[i]
		if o.conflict && firstConflict == 0 {
			firstConflict = i
		}
		if o.ok {
			acked++
			if firstConflict != 0 {
				t.Errorf("write %d acknowledged after the first conflict (write %d)", i, firstConflict)
			}
			// A write issued once the preempt had completed must meet
			// the reservation. (Its acknowledgement may be observed
			// after the fence even when the target ran it before.)
			if !fenceEnd.IsZero() && o.sent.After(fenceEnd) {
				t.Errorf("write %d issued at %v, after the preempt ended at %v, was acknowledged", i, o.sent, fenceEnd)
			}
		}
		if !o.ok && !o.conflict && o.err != nil {
			unknown++
			t.Logf("write %d: %v", i, o.err)
		}
		b := data[i*512 : (i+1)*512]
		if !bytes.HasPrefix(b, []byte("lunar-fo")) {
			if o.ok {
				t.Errorf("acknowledged write %d is not on the disk", i)
			}
			continue
		}
		if got := binary.BigEndian.Uint64(b[8:]); got != uint64(i) {
			t.Errorf("block %d holds write %d", i, got)
		}
		switch {
		case o.conflict:
			t.Errorf("block %d holds write %d, which was refused with RESERVATION CONFLICT", i, i)
		case !o.ok && !fenceEnd.IsZero() && o.sent.After(fenceEnd):
			t.Errorf("block %d holds write %d, issued at %v after the preempt ended at %v", i, i, o.sent, fenceEnd)
		case !o.ok:
			// Issued before the preempt and never answered: PREEMPT AND
			// ABORT lets a write already running finish, then aborts the
			// task without a response, so it may have landed.
			t.Logf("block %d holds write %d, issued before the preempt and aborted unanswered (%v)", i, i, o.err)
		}
	}
	t.Logf("old owner: %d writes acknowledged, first conflict at write %d, %d without an answer", acked, firstConflict, unknown)
	if firstConflict == 0 {
		t.Fatal("no conflict seen")
	}
}

// TestRegisterAndReserve: the owner's one-round-trip registration and
// reservation is idempotent, and refused to a node while another holds
// the disk (the batch's RESERVE conflicts, the one-at-a-time path names
// the holder).
func TestRegisterAndReserve(t *testing.T) {
	env := startFailoverLocal(t, 2)
	d := env.create(t, env.runners["node1"], "node2")
	n1, n2 := env.node("node1"), env.node("node2")
	wantHolder(t, n2, d.WWN, "node1")
	f1, err := NewFence(n1.Engine(), "node1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f1.RegisterAndReserve(t.Context(), d.WWN); err != nil {
		t.Fatalf("the holder again: %v", err)
	}
	f2, err := NewFence(n2.Engine(), "node2")
	if err != nil {
		t.Fatal(err)
	}
	err = f2.RegisterAndReserve(t.Context(), d.WWN)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "reserved by key") {
		t.Fatalf("another node's RegisterAndReserve = %v, want ErrConflict naming the holder's key", err)
	}
	wantHolder(t, n1, d.WWN, "node1")
}
