package cluster

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// startTestEtcd starts an etcd of the test's own in a temporary directory,
// stopped when the test ends.
func startTestEtcd(t *testing.T) *Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	e, err := StartEtcd(ctx, EtcdConfig{Dir: t.TempDir(), UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("StartEtcd: %v", err)
	}
	t.Logf("etcd started in %v at %v", time.Since(start), e.Endpoints())
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Etcd.Close: %v", err)
		}
	})
	return e
}

// newTestClient connects to e, closed when the test ends.
func newTestClient(t *testing.T, e *Etcd) *clientv3.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewEtcdClient(ctx, e.Endpoints())
	if err != nil {
		t.Fatalf("NewEtcdClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wantErrIs fails the test unless errors.Is(err, target).
func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func TestEtcdStartPutGetClose(t *testing.T) {
	e := startTestEtcd(t)
	if len(e.Endpoints()) != 1 {
		t.Fatalf("Endpoints() = %v, want one", e.Endpoints())
	}
	c := newTestClient(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	resp, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("Get = %v, want k=v", resp.Kvs)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestEtcdRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEtcd(ctx, EtcdConfig{Dir: dir, UnsafeNoFsync: true})
	if err != nil {
		t.Fatalf("StartEtcd: %v", err)
	}
	c, err := NewEtcdClient(ctx, e.Endpoints())
	if err != nil {
		e.Close()
		t.Fatalf("NewEtcdClient: %v", err)
	}
	_, err = c.Put(ctx, "k", "kept")
	c.Close()
	e.Close()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}

	// A restart on the same directory (new free ports) finds the key.
	e = func() *Etcd {
		start := time.Now()
		e, err := StartEtcd(ctx, EtcdConfig{Dir: dir, UnsafeNoFsync: true})
		if err != nil {
			t.Fatalf("StartEtcd again: %v", err)
		}
		t.Logf("etcd restarted in %v", time.Since(start))
		t.Cleanup(func() { e.Close() })
		return e
	}()
	c = newTestClient(t, e)
	resp, err := c.Get(ctx, "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "kept" {
		t.Fatalf("Get after restart = %v, want k=kept", resp.Kvs)
	}
}

func TestEtcdConfigInvalid(t *testing.T) {
	ctx := context.Background()
	_, err := StartEtcd(ctx, EtcdConfig{})
	wantErrIs(t, "StartEtcd without a directory", err, ErrInvalid)
	_, err = StartEtcd(ctx, EtcdConfig{Dir: t.TempDir(), ClientURL: "no-host"})
	wantErrIs(t, "StartEtcd with a bad client URL", err, ErrInvalid)
	_, err = NewEtcdClient(ctx, nil)
	wantErrIs(t, "NewEtcdClient without endpoints", err, ErrInvalid)
}

func TestEtcdClientUnavailable(t *testing.T) {
	e := startTestEtcd(t)
	endpoints := e.Endpoints()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := NewEtcdClient(ctx, endpoints)
	if err == nil {
		c.Close()
	}
	wantErrIs(t, "NewEtcdClient to a stopped etcd", err, ErrUnavailable)
}

func TestEtcdStoppedStoreUnavailable(t *testing.T) {
	e := startTestEtcd(t)
	c := newTestClient(t, e)
	s, err := NewStore(StoreConfig{Client: c, Prefix: "/stopped/", RequestTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	ctx := context.Background()
	reg, err := s.RegisterNode(ctx, NodeInfo{Name: "n1"}, time.Second)
	if err != nil {
		t.Fatalf("RegisterNode: %v", err)
	}
	if _, err := s.CreateGroup(ctx, Group{Name: "g", Owner: "n1"}); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("etcd closed in %v with a client connected", time.Since(start))

	// Every call returns (the background context has no deadline: only
	// the request timeout ends them) with ErrUnavailable.
	calls := []struct {
		name string
		call func() error
	}{
		{"Nodes", func() error { _, err := s.Nodes(ctx); return err }},
		{"Node", func() error { _, err := s.Node(ctx, "n1"); return err }},
		{"RegisterNode", func() error { _, err := s.RegisterNode(ctx, NodeInfo{Name: "n2"}, time.Second); return err }},
		{"CreateGroup", func() error { _, err := s.CreateGroup(ctx, Group{Name: "h"}); return err }},
		{"Group", func() error { _, err := s.Group(ctx, "g"); return err }},
		{"Groups", func() error { _, err := s.Groups(ctx); return err }},
		{"UpdateGroup", func() error {
			_, err := s.UpdateGroup(ctx, "g", func(*Group) error { return nil })
			return err
		}},
		{"DeleteGroup", func() error { return s.DeleteGroup(ctx, "g") }},
		{"RecordOperation", func() error {
			return s.RecordOperation(ctx, OperationResult{ID: "op1", Group: "g", Started: time.Unix(1, 0)})
		}},
		{"Operation", func() error { _, err := s.Operation(ctx, "op1"); return err }},
		{"Operations", func() error { _, err := s.Operations(ctx, "g", 0); return err }},
		{"Campaign", func() error { _, err := s.Campaign(ctx, "g", "n1", time.Second); return err }},
		{"CampaignWait", func() error { _, err := s.CampaignWait(ctx, "g", "n1", time.Second); return err }},
		{"Owner", func() error { _, err := s.Owner(ctx, "g"); return err }},
		{"LockGroup", func() error { _, err := s.LockGroup(ctx, "g", "op1"); return err }},
		{"NodeRegistration.Close", reg.Close},
	}
	errs := make([]error, len(calls))
	took := make([]time.Duration, len(calls))
	var wg sync.WaitGroup
	for i, tc := range calls {
		wg.Go(func() {
			start := time.Now()
			errs[i] = tc.call()
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, tc := range calls {
		wantErrIs(t, tc.name+" with etcd stopped", errs[i], ErrUnavailable)
		t.Logf("%s failed after %v: %v", tc.name, took[i], errs[i])
	}
}

// TestEtcdQuietLifecycle checks that starting and closing an embedded
// member logs no error (its benign start-up and shut-down messages go to
// debug level), while other errors stay errors.
func TestEtcdQuietLifecycle(t *testing.T) {
	var buf safeBuffer
	e, err := StartEtcd(t.Context(), EtcdConfig{Dir: t.TempDir(), UnsafeNoFsync: true, Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatalf("StartEtcd: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if out := buf.String(); strings.Contains(out, `"level":"error"`) {
		t.Errorf("errors logged by a normal start and close:\n%s", out)
	}
	if etcdBenignError("failed to save raft snapshot") {
		t.Error("an unexpected etcd error would be hidden")
	}
}

// safeBuffer is a bytes.Buffer safe for the concurrent writes of etcd's
// goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
