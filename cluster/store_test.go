package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// newTestStore returns a Store on the shared etcd under a prefix of the
// test's own, with its own client.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	c := newTestClient(t, sharedEtcd.get(t))
	// The clock keeps -count=N runs of one test apart.
	s, err := NewStore(StoreConfig{Client: c, Prefix: fmt.Sprintf("/test/%s/%d/", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

// testContext returns a context that ends with the test or after a
// generous bound.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantNodeNames fails the test unless the nodes have exactly the names.
func wantNodeNames(t *testing.T, nodes []NodeInfo, names ...string) {
	t.Helper()
	var got []string
	for _, n := range nodes {
		got = append(got, n.Name)
	}
	if !slices.Equal(got, names) {
		t.Fatalf("nodes %q, want %q", got, names)
	}
}

// waitDeleted waits, through a watch from rev, until key is deleted.
func waitDeleted(ctx context.Context, t *testing.T, c *clientv3.Client, key string, rev int64) {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for wr := range c.Watch(wctx, key, clientv3.WithRev(rev)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("watch %s: %v", key, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return
			}
		}
	}
	t.Fatalf("watch %s ended before the key was deleted: %v", key, ctx.Err())
}

func TestStoreConfig(t *testing.T) {
	_, err := NewStore(StoreConfig{})
	wantErrIs(t, "NewStore without a client", err, ErrInvalid)
	c := newTestClient(t, sharedEtcd.get(t))
	_, err = NewStore(StoreConfig{Client: c, RequestTimeout: -1})
	wantErrIs(t, "NewStore with a negative timeout", err, ErrInvalid)
	s, err := NewStore(StoreConfig{Client: c})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	if s.Prefix() != DefaultPrefix || s.timeout != DefaultRequestTimeout || s.Client() != c {
		t.Fatalf("defaults: prefix %q timeout %v, want %q %v", s.Prefix(), s.timeout, DefaultPrefix, DefaultRequestTimeout)
	}
}

func TestStoreValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"n1", true},
		{"Node_2.a-b", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"..\x00", false},
	}
	for _, tc := range tests {
		err := validName("group", tc.name)
		if tc.ok && err != nil {
			t.Errorf("validName(%q) = %v, want nil", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("validName(%q) = %v, want ErrInvalid", tc.name, err)
		}
	}

	s := newTestStore(t)
	ctx := testContext(t)
	_, err := s.RegisterNode(ctx, NodeInfo{Name: "a/b"}, 0)
	wantErrIs(t, "RegisterNode a/b", err, ErrInvalid)
	_, err = s.CreateGroup(ctx, Group{Name: "g", Nodes: []string{"bad name"}})
	wantErrIs(t, "CreateGroup with a bad node", err, ErrInvalid)
	_, err = s.Group(ctx, "")
	wantErrIs(t, "Group empty", err, ErrInvalid)
	err = s.RecordOperation(ctx, OperationResult{ID: "op", Group: "g"})
	wantErrIs(t, "RecordOperation without a start time", err, ErrInvalid)
	_, err = s.Campaign(ctx, "g", "", 0)
	wantErrIs(t, "Campaign without a node", err, ErrInvalid)
	_, err = s.LockGroup(ctx, "g", "op/1")
	wantErrIs(t, "LockGroup with a bad op id", err, ErrInvalid)
}

func TestStoreRegisterNode(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	started := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	info := NodeInfo{Name: "n2", InitiatorName: "iqn.2025-01.test:n2", AgentURL: "http://127.0.0.1:1", Engine: "userspace", Started: started}
	r2, err := s.RegisterNode(ctx, info, 0)
	if err != nil {
		t.Fatalf("RegisterNode n2: %v", err)
	}
	defer r2.Close()
	r1, err := s.RegisterNode(ctx, NodeInfo{Name: "n1"}, 0)
	if err != nil {
		t.Fatalf("RegisterNode n1: %v", err)
	}
	defer r1.Close()

	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	wantNodeNames(t, nodes, "n1", "n2")
	got, err := s.Node(ctx, "n2")
	if err != nil {
		t.Fatalf("Node n2: %v", err)
	}
	if got.InitiatorName != info.InitiatorName || got.AgentURL != info.AgentURL || got.Engine != info.Engine || !got.Started.Equal(started) {
		t.Fatalf("Node n2 = %+v, want %+v", got, info)
	}
	_, err = s.Node(ctx, "n3")
	wantErrIs(t, "Node n3", err, ErrNotFound)
}

func TestStoreRegistrationClose(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	r, err := s.RegisterNode(ctx, NodeInfo{Name: "n1"}, 0)
	if err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-r.Done()
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	wantNodeNames(t, nodes)
	_, err = s.Node(ctx, "n1")
	wantErrIs(t, "Node after Close", err, ErrNotFound)
}

func TestStoreRegistrationLeaseExpiry(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	r, err := s.RegisterNode(ctx, NodeInfo{Name: "n1"}, time.Second)
	if err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}
	key := s.key("nodes", "n1")
	resp, err := s.client.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("Get %s: %v %v", key, resp, err)
	}
	// Stop renewing the lease without revoking it, as a crashed agent
	// would: etcd deletes the key when the lease expires.
	r.sess.Orphan()
	<-r.Done()
	waitDeleted(ctx, t, s.client, key, resp.Kvs[0].ModRevision+1)
	_, err = s.Node(ctx, "n1")
	wantErrIs(t, "Node after the lease expired", err, ErrNotFound)
}

func TestStoreCreateGroup(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	g, err := s.CreateGroup(ctx, Group{Name: "g1", Owner: "n1", Nodes: []string{"n1", "n2"}})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	if g.Revision == 0 {
		t.Fatalf("CreateGroup revision 0")
	}
	_, err = s.CreateGroup(ctx, Group{Name: "g1", Owner: "n2"})
	wantErrIs(t, "CreateGroup twice", err, ErrConflict)
	if !strings.Contains(err.Error(), "g1 already exists") {
		t.Fatalf("CreateGroup twice: %v, want it to name the group", err)
	}
	got, err := s.Group(ctx, "g1")
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	if got.Owner != "n1" || !slices.Equal(got.Nodes, []string{"n1", "n2"}) || got.Revision != g.Revision {
		t.Fatalf("Group = %+v, want %+v", got, g)
	}
	if _, err := s.CreateGroup(ctx, Group{Name: "g0"}); err != nil {
		t.Fatalf("CreateGroup g0: %v", err)
	}
	groups, err := s.Groups(ctx)
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	if len(groups) != 2 || groups[0].Name != "g0" || groups[1].Name != "g1" || groups[1].Revision != g.Revision {
		t.Fatalf("Groups = %+v, want g0, g1", groups)
	}

	if err := s.DeleteGroup(ctx, "g1"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	_, err = s.Group(ctx, "g1")
	wantErrIs(t, "Group after delete", err, ErrNotFound)
	wantErrIs(t, "DeleteGroup twice", s.DeleteGroup(ctx, "g1"), ErrNotFound)
	_, err = s.UpdateGroup(ctx, "g1", func(*Group) error { return nil })
	wantErrIs(t, "UpdateGroup of a deleted group", err, ErrNotFound)
}

func TestStoreUpdateGroup(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	if _, err := s.CreateGroup(ctx, Group{Name: "g"}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	g, err := s.UpdateGroup(ctx, "g", func(g *Group) error {
		g.Owner = "n1"
		g.Revision = 12345 // ignored: etcd keeps the revision
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateGroup: %v", err)
	}
	got, err := s.Group(ctx, "g")
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	if got.Owner != "n1" || got.Revision != g.Revision {
		t.Fatalf("Group = %+v, want owner n1 revision %d", got, g.Revision)
	}

	errStop := errors.New("stop")
	_, err = s.UpdateGroup(ctx, "g", func(*Group) error { return errStop })
	wantErrIs(t, "UpdateGroup with a failing fn", err, errStop)
	_, err = s.UpdateGroup(ctx, "g", func(g *Group) error { g.Name = "h"; return nil })
	wantErrIs(t, "UpdateGroup renaming", err, ErrInvalid)
	if after, err := s.Group(ctx, "g"); err != nil || after.Revision != g.Revision {
		t.Fatalf("failed updates wrote the group: %+v %v", after, err)
	}
}

func TestStoreUpdateGroupRace(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	if _, err := s.CreateGroup(ctx, Group{Name: "g"}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	const perWriter = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	calls := make([]int, 2) // fn calls: more than perWriter means races were retried
	for w, prefix := range []string{"a", "b"} {
		wg.Go(func() {
			for i := range perWriter {
				name := fmt.Sprintf("%s-%02d", prefix, i)
				for {
					_, err := s.UpdateGroup(ctx, "g", func(g *Group) error {
						calls[w]++
						g.Resources = append(g.Resources, DiskResource{Name: name})
						return nil
					})
					if errors.Is(err, ErrConflict) {
						// Nothing was written; try again.
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateGroup: %v", err)
	}
	g, err := s.Group(ctx, "g")
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	seen := map[string]int{}
	for _, r := range g.Resources {
		seen[r.Name]++
	}
	if len(g.Resources) != 2*perWriter || len(seen) != 2*perWriter {
		t.Fatalf("%d resources (%d distinct), want %d: %v", len(g.Resources), len(seen), 2*perWriter, seen)
	}
	t.Logf("fn calls per writer for %d updates each: %v", perWriter, calls)
}

func TestStoreOperations(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		r := OperationResult{
			ID:      fmt.Sprintf("op%d", i),
			Kind:    OpCreate,
			Group:   "g",
			Started: base.Add(time.Duration(i) * time.Second),
			Nodes:   []NodeResult{{Node: "n1", Role: RoleActive, Status: NodeOK}},
		}
		if err := s.RecordOperation(ctx, r); err != nil {
			t.Fatalf("RecordOperation %s: %v", r.ID, err)
		}
	}
	if err := s.RecordOperation(ctx, OperationResult{ID: "other", Group: "g2", Started: base.Add(time.Hour)}); err != nil {
		t.Fatalf("RecordOperation other: %v", err)
	}

	ids := func(ops []OperationResult) []string {
		var out []string
		for _, r := range ops {
			out = append(out, r.ID)
		}
		return out
	}
	ops, err := s.Operations(ctx, "g", 3)
	if err != nil {
		t.Fatalf("Operations: %v", err)
	}
	if want := []string{"op4", "op3", "op2"}; !slices.Equal(ids(ops), want) {
		t.Fatalf("Operations limit 3 = %q, want %q", ids(ops), want)
	}
	ops, err = s.Operations(ctx, "g", 0)
	if err != nil {
		t.Fatalf("Operations: %v", err)
	}
	if want := []string{"op4", "op3", "op2", "op1", "op0"}; !slices.Equal(ids(ops), want) {
		t.Fatalf("Operations = %q, want %q", ids(ops), want)
	}

	// Recording an id again replaces its entry.
	final := ops[2]
	final.Error = "failed late"
	if err := s.RecordOperation(ctx, final); err != nil {
		t.Fatalf("RecordOperation again: %v", err)
	}
	got, err := s.Operation(ctx, "op2")
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if got.Error != "failed late" || got.Group != "g" || !got.Started.Equal(final.Started) || len(got.Nodes) != 1 {
		t.Fatalf("Operation op2 = %+v, want %+v", got, final)
	}
	ops, err = s.Operations(ctx, "g", 0)
	if err != nil || len(ops) != 5 {
		t.Fatalf("Operations after re-recording: %q %v, want 5", ids(ops), err)
	}
	_, err = s.Operation(ctx, "nope")
	wantErrIs(t, "Operation nope", err, ErrNotFound)
}
