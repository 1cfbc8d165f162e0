package cluster

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// wantConflictNaming fails the test unless err is ErrConflict and its text
// has want.
func wantConflictNaming(t *testing.T, what string, err error, want string) {
	t.Helper()
	wantErrIs(t, what, err, ErrConflict)
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error %q, want it to say %q", what, err, want)
	}
}

// wantOwner fails the test unless the group's owner is node.
func wantOwner(t *testing.T, s *Store, group, node string) {
	t.Helper()
	got, err := s.Owner(testContext(t), group)
	if err != nil {
		t.Fatalf("Owner %s: %v", group, err)
	}
	if got != node {
		t.Fatalf("Owner %s = %s, want %s", group, got, node)
	}
}

func TestCampaignTwoNodes(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	_, err := s.Owner(ctx, "g")
	wantErrIs(t, "Owner before any campaign", err, ErrNotFound)

	// Both nodes campaign at once: exactly one wins, the other is told
	// who did.
	nodes := []string{"n1", "n2"}
	owns := make([]*Ownership, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { owns[i], errs[i] = s.Campaign(ctx, "g", n, 0) })
	}
	wg.Wait()
	var winner, loser int
	switch {
	case errs[0] == nil && errs[1] != nil:
		winner, loser = 0, 1
	case errs[1] == nil && errs[0] != nil:
		winner, loser = 1, 0
	default:
		t.Fatalf("Campaign errors %v, want exactly one", errs)
	}
	own := owns[winner]
	defer own.Resign(ctx)
	if own.Node() != nodes[winner] || own.Group() != "g" {
		t.Fatalf("Ownership node %s group %s, want %s g", own.Node(), own.Group(), nodes[winner])
	}
	wantConflictNaming(t, "losing Campaign", errs[loser], "group g is owned by node "+nodes[winner])
	wantOwner(t, s, "g", nodes[winner])

	// A later campaign fails at once too, and the loser left no key.
	_, err = s.Campaign(ctx, "g", nodes[loser], 0)
	wantConflictNaming(t, "second Campaign", err, "owned by node "+nodes[winner])
	resp, err := s.client.Get(ctx, s.electionPrefix("g")+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 1 {
		t.Fatalf("election keys: %v %v, want 1", resp, err)
	}

	// The owner campaigning again on a new session is refused as well:
	// the group is held by its first session.
	_, err = s.Campaign(ctx, "g", nodes[winner], 0)
	wantConflictNaming(t, "Campaign by the owner again", err, "owned by node "+nodes[winner])

	// Another group is independent.
	other, err := s.Campaign(ctx, "g2", nodes[loser], 0)
	if err != nil {
		t.Fatalf("Campaign g2: %v", err)
	}
	defer other.Resign(ctx)
	wantOwner(t, s, "g2", nodes[loser])
}

func TestCampaignResign(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	o1, err := s.Campaign(ctx, "g", "n1", 0)
	if err != nil {
		t.Fatalf("Campaign n1: %v", err)
	}
	_, err = s.Campaign(ctx, "g", "n2", 0)
	wantConflictNaming(t, "Campaign n2", err, "owned by node n1")
	if err := o1.Resign(ctx); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	<-o1.Done()
	if err := o1.Resign(ctx); err != nil {
		t.Fatalf("second Resign: %v", err)
	}
	_, err = s.Owner(ctx, "g")
	wantErrIs(t, "Owner after Resign", err, ErrNotFound)

	o2, err := s.Campaign(ctx, "g", "n2", 0)
	if err != nil {
		t.Fatalf("Campaign n2 after Resign: %v", err)
	}
	defer o2.Resign(ctx)
	wantOwner(t, s, "g", "n2")
}

func TestCampaignWaitFailover(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	o1, err := s.Campaign(ctx, "g", "n1", time.Second)
	if err != nil {
		t.Fatalf("Campaign n1: %v", err)
	}

	// Watch the election so the test knows when n2 has joined it.
	pfx := s.electionPrefix("g") + "/"
	watch := s.client.Watch(ctx, pfx, clientv3.WithPrefix(), clientv3.WithRev(o1.election.Rev()+1))

	type result struct {
		own *Ownership
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, err := s.CampaignWait(ctx, "g", "n2", time.Second)
		done <- result{o, err}
	}()
	for joined := false; !joined; {
		wr, ok := <-watch
		if !ok {
			t.Fatalf("watch ended: %v", ctx.Err())
		}
		for _, ev := range wr.Events {
			joined = joined || ev.Type == clientv3.EventTypePut
		}
	}
	select {
	case r := <-done:
		t.Fatalf("CampaignWait returned while n1 owns the group: %v %v", r.own, r.err)
	default:
	}
	wantOwner(t, s, "g", "n1")

	// n1 crashes: its lease is no longer renewed, expires, and n2 wins.
	o1.sess.Orphan()
	<-o1.Done()
	r := <-done
	if r.err != nil {
		t.Fatalf("CampaignWait: %v", r.err)
	}
	defer r.own.Resign(ctx)
	if r.own.Node() != "n2" {
		t.Fatalf("CampaignWait node %s, want n2", r.own.Node())
	}
	wantOwner(t, s, "g", "n2")
	_, err = s.Campaign(ctx, "g", "n1", 0)
	wantConflictNaming(t, "Campaign n1 after failover", err, "owned by node n2")
}

func TestCampaignWaitCancelled(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	o1, err := s.Campaign(ctx, "g", "n1", 0)
	if err != nil {
		t.Fatalf("Campaign n1: %v", err)
	}
	defer o1.Resign(ctx)
	wctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.CampaignWait(wctx, "g", "n2", 0)
	if err == nil {
		t.Fatalf("CampaignWait with a cancelled context won")
	}
	wantOwner(t, s, "g", "n1")
}

func TestLockGroup(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	l1, err := s.LockGroup(ctx, "g", "op1")
	if err != nil {
		t.Fatalf("LockGroup op1: %v", err)
	}
	_, err = s.LockGroup(ctx, "g", "op2")
	wantConflictNaming(t, "LockGroup op2", err, "operation op1 is running on group g")
	_, err = s.LockGroup(ctx, "g", "op1")
	wantConflictNaming(t, "LockGroup op1 again", err, "operation op1 is running on group g")

	// Another group is independent.
	l3, err := s.LockGroup(ctx, "h", "op3")
	if err != nil {
		t.Fatalf("LockGroup h: %v", err)
	}
	defer l3.Unlock(ctx)

	if err := l1.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	<-l1.Done()
	if err := l1.Unlock(ctx); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	l2, err := s.LockGroup(ctx, "g", "op2")
	if err != nil {
		t.Fatalf("LockGroup op2 after Unlock: %v", err)
	}
	// The first lock's late Unlock must not release the second.
	if err := l1.Unlock(ctx); err != nil {
		t.Fatalf("third Unlock: %v", err)
	}
	_, err = s.LockGroup(ctx, "g", "op4")
	wantConflictNaming(t, "LockGroup op4", err, "operation op2 is running")
	if err := l2.Unlock(ctx); err != nil {
		t.Fatalf("Unlock op2: %v", err)
	}
}

func TestLockGroupExpires(t *testing.T) {
	s := newTestStore(t)
	ctx := testContext(t)
	l1, err := s.LockGroup(ctx, "g", "op1")
	if err != nil {
		t.Fatalf("LockGroup op1: %v", err)
	}
	// The operator crashes: revoking its lease (what expiry does after
	// 10 s) frees the group.
	l1.sess.Orphan()
	if err := s.revoke(ctx, l1.sess.Lease()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	l2, err := s.LockGroup(ctx, "g", "op2")
	if err != nil {
		t.Fatalf("LockGroup after the holder's lease ended: %v", err)
	}
	if err := l2.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	// Unlocking the expired lock is harmless.
	if err := l1.Unlock(ctx); err != nil {
		t.Fatalf("Unlock of the expired lock: %v", err)
	}
}
