package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// nodeDirWait waits until cond holds, checking it as the watch's events
// arrive (every millisecond), for at most ten seconds.
func nodeDirWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 10s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNodeDirectory(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	r1, err := s.RegisterNode(ctx, NodeInfo{Name: "n1", AgentURL: "http://127.0.0.1:1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	resolve := AgentResolver(s, "token", nil)
	url := func(ctx context.Context, node string) string {
		a, err := resolve(ctx, node)
		if err != nil {
			return "error: " + err.Error()
		}
		return a.(*AgentClient).base
	}
	if got := url(ctx, "n1"); got != "http://127.0.0.1:1" {
		t.Fatalf("n1 = %s", got)
	}
	// From now on a lookup sends no request: a context that has ended
	// (which any etcd request would fail with) still resolves.
	dead, cancel := context.WithCancel(ctx)
	cancel()
	if got := url(dead, "n1"); got != "http://127.0.0.1:1" {
		t.Fatalf("n1 with an ended context = %s: the lookup asked etcd", got)
	}
	// The watch brings a new node, a node registered again elsewhere and
	// a node gone.
	r2, err := s.RegisterNode(ctx, NodeInfo{Name: "n2", AgentURL: "http://127.0.0.1:2"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	nodeDirWait(t, "n2 registered", func() bool { return url(dead, "n2") == "http://127.0.0.1:2" })
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	nodeDirWait(t, "n1 gone", func() bool { return url(dead, "n1") != "http://127.0.0.1:1" })
	if _, err := resolve(ctx, "n1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("n1 after its registration closed: %v, want ErrNotFound", err)
	}
	r1, err = s.RegisterNode(ctx, NodeInfo{Name: "n1", AgentURL: "http://127.0.0.1:11"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	nodeDirWait(t, "n1 registered again", func() bool { return url(dead, "n1") == "http://127.0.0.1:11" })
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	nodeDirWait(t, "n2 gone", func() bool { return url(dead, "n2") != "http://127.0.0.1:2" })
	if _, err := resolve(ctx, "bad/name"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v, want ErrInvalid", err)
	}

	// A directory whose watch ended reads etcd again and starts a new
	// watch at the next lookup.
	d := s.nodeDir()
	d.mu.Lock()
	d.nodes, d.live = nil, false
	d.gen++
	d.mu.Unlock()
	if got := url(dead, "n1"); got == "http://127.0.0.1:11" {
		t.Fatal("a directory without its watch answered from memory")
	}
	if got := url(ctx, "n1"); got != "http://127.0.0.1:11" {
		t.Fatalf("n1 after the watch ended = %s", got)
	}
	if got := url(dead, "n1"); got != "http://127.0.0.1:11" {
		t.Fatalf("n1 from the new watch = %s", got)
	}
}
