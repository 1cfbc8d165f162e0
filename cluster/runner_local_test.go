package cluster

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// runnerLocalSize is the LUN size of the in-process cluster tests: big
// enough to format (FAT16).
const runnerLocalSize = 16 << 20

// startRunnerLocal starts a Local cluster of n nodes with a Runner wired
// into every agent (node1 is the active node of the tests).
func startRunnerLocal(t *testing.T, n int) (*Local, []*Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	l, err := StartLocal(ctx, LocalConfig{Nodes: n})
	if err != nil {
		t.Fatalf("StartLocal: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Local.Close: %v", err)
		}
	})
	runners, err := l.StartRunners(zerolog.Nop())
	if err != nil {
		t.Fatalf("StartRunners: %v", err)
	}
	return l, runners
}

// wantDisk checks whether a node's agent has the disk.
func wantDisk(t *testing.T, node *LocalNode, wwn string, want bool) {
	t.Helper()
	disks, err := node.Agent.Disks(t.Context())
	if err != nil {
		t.Fatalf("%s: Disks: %v", node.Info.Name, err)
	}
	has := slices.ContainsFunc(disks, func(d DiskStatus) bool { return d.WWN == wwn })
	if has != want {
		t.Errorf("%s: has disk %s: %v, want %v (%+v)", node.Info.Name, wwn, has, want, disks)
	}
}

// wantLabel reads the partition label back on a node.
func wantLabel(t *testing.T, node *LocalNode, wwn, label string) {
	t.Helper()
	dev, err := node.Engine().Open(t.Context(), wwn)
	if err != nil {
		t.Fatalf("%s: open %s: %v", node.Info.Name, wwn, err)
	}
	got, err := ReadLabel(t.Context(), dev)
	if err != nil || got != label {
		t.Errorf("%s: label %q, %v; want %q", node.Info.Name, got, err, label)
	}
}

// wantNoSessions checks that no initiator is logged in to the target.
func wantNoSessions(t *testing.T, l *Local) {
	t.Helper()
	sessions, err := l.Storage.Sessions(t.Context())
	if err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	for _, s := range sessions {
		if s.Type == "Normal" {
			t.Errorf("session left: %s on %s (LUNs %v)", s.Initiator, s.Target, s.LUNs)
		}
	}
}

func TestRunnerLocalOperations(t *testing.T) {
	for _, mode := range []Mode{ModeParallel, ModeSerial} {
		t.Run(string(mode), func(t *testing.T) {
			l, _ := startRunnerLocal(t, 4)
			ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
			defer cancel()
			active := l.Nodes[0]
			names := []string{"node1", "node2", "node3", "node4"}

			// create, through the active node's HTTP API; the passive
			// nodes default to every live node.
			var events int
			res, err := active.Client.RunOperation(ctx, OperationRequest{
				Kind: OpCreate, Group: "g1", Resource: "d1", Size: runnerLocalSize, Portal: l.Portal, Mode: mode,
			}, func(ProgressEvent) { events++ })
			if err != nil {
				t.Fatalf("create: %v (%+v)", err, res)
			}
			wantRunnerNodeOrder(t, res, names...)
			wantRunnerStatuses(t, res, map[string]NodeStatus{"node1": NodeOK, "node2": NodeOK, "node3": NodeOK, "node4": NodeOK})
			if res.Mode != mode || res.Disk == nil || events == 0 {
				t.Fatalf("mode %q, disk %+v, %d progress events", res.Mode, res.Disk, events)
			}
			for _, p := range res.Nodes[1:] {
				if !runnerHasStep(p, StepVerify) {
					t.Errorf("%s: no verify step: %+v", p.Node, p.Steps)
				}
			}
			wwn := res.Disk.WWN
			for _, n := range l.Nodes {
				wantDisk(t, n, wwn, true)
			}
			wantLabel(t, l.Nodes[3], wwn, "d1")
			g, err := l.Store.Group(ctx, "g1")
			if err != nil {
				t.Fatalf("group: %v", err)
			}
			if g.Owner != "node1" || len(g.Resources) != 1 || !slices.Equal(g.Resources[0].PossibleOwners, names) || g.Resources[0].WWN != wwn {
				t.Fatalf("group %+v", g)
			}
			if g.Resources[0].Target != l.TargetName || g.Resources[0].Portal != l.Portal {
				t.Errorf("resource target %q portal %q, want %q %q", g.Resources[0].Target, g.Resources[0].Portal, l.TargetName, l.Portal)
			}

			// disconnect, connect and delete, also over HTTP.
			run := func(req OperationRequest) OperationResult {
				t.Helper()
				req.Mode = mode
				res, err := active.Client.RunOperation(ctx, req, nil)
				if err != nil {
					t.Fatalf("%s: %v (%+v)", req.Kind, err, res)
				}
				return res
			}
			res = run(OperationRequest{Kind: OpDisconnect, Group: "g1", Resource: "d1"})
			wantRunnerStatuses(t, res, map[string]NodeStatus{"node1": NodeOK, "node2": NodeOK, "node3": NodeOK, "node4": NodeOK})
			for _, n := range l.Nodes {
				wantDisk(t, n, wwn, false)
			}
			if g, err := l.Store.Group(ctx, "g1"); err != nil || len(g.Resources) != 0 {
				t.Errorf("group after disconnect %+v, %v", g, err)
			}

			// connect again: the label is still there.
			res = run(OperationRequest{Kind: OpConnect, Group: "g1", Resource: "d1", Portal: l.Portal})
			for _, n := range l.Nodes {
				wantDisk(t, n, wwn, true)
			}
			wantLabel(t, l.Nodes[1], wwn, "d1")

			// delete: the LUN is gone and nobody is logged in.
			res = run(OperationRequest{Kind: OpDelete, Group: "g1", Resource: "d1"})
			if !runnerHasStep(res.Nodes[0], StepDeleteLUN) {
				t.Errorf("no delete-lun step: %+v", res.Nodes[0].Steps)
			}
			for _, n := range l.Nodes {
				wantDisk(t, n, wwn, false)
			}
			wantRunnerNoLUN(t, l.Storage, "d1")
			wantNoSessions(t, l)
			ops, err := l.Store.Operations(ctx, "g1", 0)
			if err != nil || len(ops) != 4 {
				t.Errorf("operation log: %d, %v; want 4", len(ops), err)
			}
		})
	}
}

// runnerKillOnConnect is a node's agent that kills the node as its
// connect begins: the node dies during the fan-out.
type runnerKillOnConnect struct {
	NodeAPI
	kill func()
}

func (k runnerKillOnConnect) Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	k.kill()
	return k.NodeAPI.Connect(ctx, req)
}

func TestRunnerLocalPassiveStopped(t *testing.T) {
	for _, tt := range []struct {
		name   string
		policy PartialFailure
		during bool // killed during the fan-out, else before
	}{
		{"before/keep", KeepPartial, false},
		{"before/rollback", RollbackPartial, false},
		{"during/keep", KeepPartial, true},
		{"during/rollback", RollbackPartial, true},
	} {
		policy := tt.policy
		t.Run(tt.name, func(t *testing.T) {
			l, runners := startRunnerLocal(t, 4)
			ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
			defer cancel()
			r := runners[0]
			if tt.during {
				tr := &http.Transport{}
				t.Cleanup(tr.CloseIdleConnections)
				resolve := AgentResolver(l.Store, l.Token, &http.Client{Transport: tr})
				var once sync.Once
				kill := func() {
					once.Do(func() {
						if err := l.StopNode(2); err != nil {
							t.Errorf("StopNode: %v", err)
						}
					})
				}
				var err error
				r, err = NewRunner(RunnerConfig{
					Node: "node1", Self: l.Nodes[0].Agent, Store: l.Store, Storage: l.Storage,
					Agents: func(ctx context.Context, node string) (NodeAPI, error) {
						a, err := resolve(ctx, node)
						if err != nil || node != "node3" {
							return a, err
						}
						return runnerKillOnConnect{NodeAPI: a, kill: kill}, nil
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
			} else if err := l.StopNode(2); err != nil { // node3 dies before the fan-out
				t.Fatalf("StopNode: %v", err)
			}
			res, err := r.Run(ctx, OperationRequest{
				Kind: OpCreate, Group: "g1", Resource: "d1", Size: runnerLocalSize, Portal: l.Portal,
				Passive: []string{"node2", "node3", "node4"}, OnPartialFailure: policy, NodeTimeout: 30 * time.Second,
			}, nil)
			if !errors.Is(err, ErrPartialFailure) {
				t.Fatalf("create: %v, want ErrPartialFailure", err)
			}
			wantRunnerNodeOrder(t, res, "node1", "node2", "node3", "node4")
			for _, n := range res.Nodes {
				dead := n.Node == "node3"
				if dead && n.Status != NodeSkipped && n.Status != NodeFailed || !dead && n.Status != NodeOK {
					t.Errorf("%s: %s (%s)", n.Node, n.Status, n.Error)
				}
				if dead && tt.during && n.Status != NodeFailed {
					t.Errorf("%s killed during its connect: %s, want failed", n.Node, n.Status)
				}
			}
			live := []*LocalNode{l.Nodes[0], l.Nodes[1], l.Nodes[3]}
			switch policy {
			case KeepPartial:
				wwn := res.Disk.WWN
				for _, n := range live {
					wantDisk(t, n, wwn, true)
				}
				g, err := l.Store.Group(ctx, "g1")
				if err != nil || !slices.Equal(g.Resources[0].PossibleOwners, []string{"node1", "node2", "node4"}) {
					t.Errorf("group %+v, %v", g, err)
				}
				if _, err := l.Storage.LUN(ctx, "d1"); err != nil {
					t.Errorf("LUN: %v", err)
				}
			case RollbackPartial:
				if !res.RolledBack || res.Disk != nil {
					t.Errorf("rolled back %v, disk %+v", res.RolledBack, res.Disk)
				}
				for _, n := range live {
					disks, err := n.Agent.Disks(ctx)
					if err != nil || len(disks) != 0 {
						t.Errorf("%s: disks %+v, %v", n.Info.Name, disks, err)
					}
				}
				wantRunnerNoLUN(t, l.Storage, "d1")
				wantRunnerNoGroup(t, l.Store, "g1")
				wantNoSessions(t, l)
				maps, err := l.Storage.Maps(ctx)
				if err != nil || len(maps) != 0 {
					t.Errorf("maps left: %+v, %v", maps, err)
				}
			}
		})
	}
}

// runnerCancelOnConnect cancels the operation as a node's connect begins
// (an operator's Ctrl-C during the fan-out).
type runnerCancelOnConnect struct {
	NodeAPI
	cancel context.CancelFunc
}

func (c runnerCancelOnConnect) Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error) {
	c.cancel()
	return c.NodeAPI.Connect(ctx, req)
}

func TestRunnerLocalCancelRollsBack(t *testing.T) {
	l, _ := startRunnerLocal(t, 4)
	guard, stop := context.WithTimeout(t.Context(), 120*time.Second)
	defer stop()
	ctx, cancel := context.WithCancel(guard)
	defer cancel()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	resolve := AgentResolver(l.Store, l.Token, &http.Client{Transport: tr})
	r, err := NewRunner(RunnerConfig{
		Node: "node1", Self: l.Nodes[0].Agent, Store: l.Store, Storage: l.Storage,
		Agents: func(ctx context.Context, node string) (NodeAPI, error) {
			a, err := resolve(ctx, node)
			if err != nil || node != "node4" {
				return a, err
			}
			return runnerCancelOnConnect{NodeAPI: a, cancel: cancel}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	res, err := r.Run(ctx, OperationRequest{
		Kind: OpCreate, Group: "g1", Resource: "d1", Size: runnerLocalSize, Portal: l.Portal, Mode: ModeSerial,
	}, nil)
	if !errors.Is(err, context.Canceled) || !res.RolledBack {
		t.Fatalf("create: %v, rolled back %v; want context.Canceled and a rollback", err, res.RolledBack)
	}
	// Serial: node2 and node3 connected, node4 was cancelled.
	wantRunnerStatuses(t, res, map[string]NodeStatus{"node1": NodeOK, "node2": NodeOK, "node3": NodeOK, "node4": NodeFailed})
	for _, n := range l.Nodes {
		disks, err := n.Agent.Disks(guard)
		if err != nil || len(disks) != 0 {
			t.Errorf("%s: disks %+v, %v", n.Info.Name, disks, err)
		}
	}
	wantRunnerNoLUN(t, l.Storage, "d1")
	wantRunnerNoGroup(t, l.Store, "g1")
	wantNoSessions(t, l)
	if maps, err := l.Storage.Maps(guard); err != nil || len(maps) != 0 {
		t.Errorf("maps left: %+v, %v", maps, err)
	}
}

// TestRunnerLocalDeleteAfterDisconnect checks that delete still removes
// the LUN when a disconnect already took the resource out of the group,
// and that deleting a resource that exists nowhere is ErrNotFound.
func TestRunnerLocalDeleteAfterDisconnect(t *testing.T) {
	l, _ := startRunnerLocal(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	active := l.Nodes[0]
	run := func(req OperationRequest) (OperationResult, error) {
		req.Target, req.Group = l.TargetName, "gd"
		return active.Client.RunOperation(ctx, req, nil)
	}
	if res, err := run(OperationRequest{Kind: OpCreate, Resource: "dd1", Size: 16 << 20, Portal: l.Portal, NoFormat: true}); err != nil {
		t.Fatalf("create: %v (%+v)", err, res)
	}
	if res, err := run(OperationRequest{Kind: OpDisconnect, Resource: "dd1"}); err != nil {
		t.Fatalf("disconnect: %v (%+v)", err, res)
	}
	res, err := run(OperationRequest{Kind: OpDelete, Resource: "dd1"})
	if err != nil {
		t.Fatalf("delete after disconnect: %v (%+v)", err, res)
	}
	if !runnerHasStep(res.Nodes[0], StepDeleteLUN) {
		t.Errorf("no delete-lun step: %+v", res.Nodes[0].Steps)
	}
	wantRunnerNoLUN(t, l.Storage, "dd1")
	wantNoSessions(t, l)
	if _, err := run(OperationRequest{Kind: OpDelete, Resource: "dd1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete of a resource that exists nowhere: %v, want ErrNotFound", err)
	}
}
