package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// groupLockTTL is the lease TTL of a group lock: a crashed operator's lock
// expires this long after its last renewal.
const groupLockTTL = 10 * time.Second

// Ownership is a node's ownership of a resource group: it leads the
// group's election for as long as its session's lease is renewed.
type Ownership struct {
	store    *Store
	group    string
	node     string
	sess     *concurrency.Session
	election *concurrency.Election

	mu       sync.Mutex
	resigned bool
}

// electionPrefix is the election's prefix for a group; the candidates'
// keys are below it, one per lease.
func (s *Store) electionPrefix(group string) string {
	return s.key("election", group)
}

// leader returns the node leading a group's election, or "" when none.
func (s *Store) leader(ctx context.Context, group string) (string, error) {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.electionPrefix(group)+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", etcdError("owner of group "+group, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// ownedByErr is the conflict error for a group led by another node.
func ownedByErr(group, node string) error {
	return fmt.Errorf("cluster: %w: group %s is owned by node %s", ErrConflict, group, node)
}

// Owner returns the node that owns a group, or ErrNotFound when none does.
func (s *Store) Owner(ctx context.Context, group string) (string, error) {
	if err := validName("group", group); err != nil {
		return "", err
	}
	node, err := s.leader(ctx, group)
	if err != nil {
		return "", err
	}
	if node == "" {
		return "", fmt.Errorf("cluster: owner of group %s: %w", group, ErrNotFound)
	}
	return node, nil
}

// Campaign makes node the owner of group, holding it under a lease of ttl
// (zero means 10 s). It does not wait: when another node owns the group,
// or another session of the same node still does, it returns ErrConflict
// naming that owner.
func (s *Store) Campaign(ctx context.Context, group, node string, ttl time.Duration) (*Ownership, error) {
	if err := validName("group", group); err != nil {
		return nil, err
	}
	if err := validName("node", node); err != nil {
		return nil, err
	}
	// Cheap check first, so a busy group costs no lease.
	owner, err := s.leader(ctx, group)
	if err != nil {
		return nil, err
	}
	if owner != "" && owner != node {
		return nil, ownedByErr(group, owner)
	}
	sess, err := s.newSession(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("cluster: campaign for group %s: %w", group, err)
	}
	// Join the election the way concurrency.Election.Campaign does (same
	// key, same value), but read the leader in the same transaction
	// instead of waiting for the earlier candidates to go.
	pfx := s.electionPrefix(group)
	myKey := fmt.Sprintf("%s/%x", pfx, sess.Lease())
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(myKey), "=", 0)).
		Then(
			clientv3.OpPut(myKey, node, clientv3.WithLease(sess.Lease())),
			clientv3.OpGet(pfx+"/", clientv3.WithFirstCreate()...),
		).
		Commit()
	if err != nil {
		s.endSession(context.WithoutCancel(ctx), sess)
		return nil, etcdError("campaign for group "+group, err)
	}
	myRev := resp.Header.Revision
	if !resp.Succeeded {
		// A brand new lease cannot have a key yet.
		s.endSession(context.WithoutCancel(ctx), sess)
		return nil, fmt.Errorf("cluster: campaign for group %s: %w: candidate key %s exists", group, ErrConflict, myKey)
	}
	first := resp.Responses[1].GetResponseRange().Kvs
	if len(first) == 0 || first[0].CreateRevision != myRev {
		// Lost the race to an earlier candidate: withdraw (revoking the
		// lease deletes the key) and name the winner.
		s.endSession(context.WithoutCancel(ctx), sess)
		winner := node
		if len(first) > 0 {
			winner = string(first[0].Value)
		}
		return nil, ownedByErr(group, winner)
	}
	o := &Ownership{
		store:    s,
		group:    group,
		node:     node,
		sess:     sess,
		election: concurrency.ResumeElection(sess, pfx, myKey, myRev),
	}
	s.log.Debug().Str("group", group).Str("node", node).Msg("group owned")
	return o, nil
}

// CampaignWait makes node the owner of group, waiting as long as ctx
// allows for the current owner to resign or lose its lease (failover).
func (s *Store) CampaignWait(ctx context.Context, group, node string, ttl time.Duration) (*Ownership, error) {
	if err := validName("group", group); err != nil {
		return nil, err
	}
	if err := validName("node", node); err != nil {
		return nil, err
	}
	sess, err := s.newSession(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("cluster: campaign for group %s: %w", group, err)
	}
	el := concurrency.NewElection(sess, s.electionPrefix(group))
	if err := el.Campaign(ctx, node); err != nil {
		// Campaign withdrew its key when ctx ended; the revoke below
		// covers every other case.
		s.endSession(context.WithoutCancel(ctx), sess)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cluster: campaign for group %s: %w", group, ctx.Err())
		}
		return nil, etcdError("campaign for group "+group, err)
	}
	s.log.Debug().Str("group", group).Str("node", node).Msg("group owned after waiting")
	return &Ownership{store: s, group: group, node: node, sess: sess, election: el}, nil
}

// Node returns the owning node's name.
func (o *Ownership) Node() string { return o.node }

// Group returns the owned group's name.
func (o *Ownership) Group() string { return o.group }

// Done returns a channel that is closed when the ownership ends: its
// lease could not be renewed in time (another node may take the group
// over), or it was resigned.
func (o *Ownership) Done() <-chan struct{} { return o.sess.Done() }

// Resign gives the group up so another node can win it; calling it again
// does nothing.
func (o *Ownership) Resign(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.resigned {
		return nil
	}
	o.resigned = true
	rctx, cancel := o.store.request(ctx)
	err := o.election.Resign(rctx)
	cancel()
	// Revoking the lease removes the key even if the delete above failed.
	return errors.Join(etcdError("resign group "+o.group, err), o.store.endSession(ctx, o.sess))
}

// GroupLock is the lock an operation holds on its group while it runs.
type GroupLock struct {
	store *Store
	group string
	opID  string
	key   string
	rev   int64
	sess  *concurrency.Session

	mu       sync.Mutex
	unlocked bool
}

// LockGroup locks a group for operation opID. It does not wait: when
// another operation holds the lock it returns ErrConflict naming it. The
// lock lives under a 10 s lease that is renewed until Unlock, so a
// crashed operator's lock expires.
func (s *Store) LockGroup(ctx context.Context, group, opID string) (*GroupLock, error) {
	if err := validName("group", group); err != nil {
		return nil, err
	}
	if err := validName("operation", opID); err != nil {
		return nil, err
	}
	sess, err := s.newSession(ctx, groupLockTTL)
	if err != nil {
		return nil, fmt.Errorf("cluster: lock group %s: %w", group, err)
	}
	// One key holding the operation's id, created only if absent: the
	// holder is known atomically with the lock.
	key := s.key("lock", group)
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, opID, clientv3.WithLease(sess.Lease()))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		s.endSession(context.WithoutCancel(ctx), sess)
		return nil, etcdError("lock group "+group, err)
	}
	if !resp.Succeeded {
		s.endSession(context.WithoutCancel(ctx), sess)
		holder := "?"
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			holder = string(kvs[0].Value)
		}
		return nil, fmt.Errorf("cluster: lock group %s: %w: operation %s is running on group %s", group, ErrConflict, holder, group)
	}
	return &GroupLock{store: s, group: group, opID: opID, key: key, rev: resp.Header.Revision, sess: sess}, nil
}

// Done returns a channel that is closed when the lock ends: its lease
// could not be renewed in time, or it was unlocked.
func (l *GroupLock) Done() <-chan struct{} { return l.sess.Done() }

// Unlock releases the lock; calling it again does nothing.
func (l *GroupLock) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.unlocked {
		return nil
	}
	l.unlocked = true
	rctx, cancel := l.store.request(ctx)
	_, err := l.store.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.key), "=", l.rev)).
		Then(clientv3.OpDelete(l.key)).
		Commit()
	cancel()
	// Revoking the lease removes the key even if the delete above failed.
	return errors.Join(etcdError("unlock group "+l.group, err), l.store.endSession(ctx, l.sess))
}
