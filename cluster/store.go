package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultPrefix is the key prefix a Store uses when its config gives none.
const DefaultPrefix = "/lunar/"

// DefaultRequestTimeout bounds each etcd request of a Store when its config
// gives no timeout.
const DefaultRequestTimeout = 5 * time.Second

// storeDefaultTTL is the lease TTL of a registration or ownership when the
// caller gives none.
const storeDefaultTTL = 10 * time.Second

// storeUpdateAttempts is how often UpdateGroup tries before it reports
// ErrConflict.
const storeUpdateAttempts = 5

// maxStoreNameLen bounds node, group and operation names.
const maxStoreNameLen = 64

// StoreConfig configures a Store.
type StoreConfig struct {
	// Client is the etcd client; required. The Store does not close it.
	Client *clientv3.Client
	// Prefix is put before every key; empty means DefaultPrefix. It should
	// end with "/".
	Prefix string
	// Logger receives debug messages; the zero value is silent.
	Logger zerolog.Logger
	// RequestTimeout bounds each etcd request; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Store keeps the cluster's state in etcd: the registered nodes, the
// resource groups, the operation log, the groups' owners and their
// operation locks. Values are JSON. Its methods are safe for concurrent
// use; every error caused by etcd being unreachable or slow wraps
// ErrUnavailable.
//
// Keys, under the prefix:
//
//	nodes/<node>                       NodeInfo, under the node's lease
//	groups/<group>                     Group
//	ops/<group>/<started ns>-<id>      OperationResult
//	ops-by-id/<id>                     the operation's key above
//	election/<group>/<lease>           the owner's node name (concurrency.Election)
//	lock/<group>                       the running operation's id, under the lock's lease
type Store struct {
	client  *clientv3.Client
	prefix  string
	log     zerolog.Logger
	timeout time.Duration

	dirOnce sync.Once
	dir     *nodeDirectory // see nodeDir
}

// NewStore returns a Store using cfg.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("cluster: store: %w: no etcd client", ErrInvalid)
	}
	if cfg.RequestTimeout < 0 {
		return nil, fmt.Errorf("cluster: store: %w: negative request timeout %v", ErrInvalid, cfg.RequestTimeout)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	return &Store{client: cfg.Client, prefix: cfg.Prefix, log: cfg.Logger, timeout: cfg.RequestTimeout}, nil
}

// Client returns the Store's etcd client.
func (s *Store) Client() *clientv3.Client { return s.client }

// Prefix returns the Store's key prefix.
func (s *Store) Prefix() string { return s.prefix }

// key joins the prefix, a kind and names with "/".
func (s *Store) key(kind string, names ...string) string {
	k := s.prefix + kind
	for _, n := range names {
		k += "/" + n
	}
	return k
}

// request returns a context for one etcd request: ctx bounded by the
// request timeout.
func (s *Store) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// validName checks that a node, group or operation name is non-empty, at
// most 64 bytes and made of letters, digits, '.', '_' and '-'.
func validName(what, name string) error {
	if name == "" {
		return fmt.Errorf("cluster: %w: empty %s name", ErrInvalid, what)
	}
	if len(name) > maxStoreNameLen {
		return fmt.Errorf("cluster: %w: %s name %q is %d bytes, at most %d", ErrInvalid, what, name, len(name), maxStoreNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return fmt.Errorf("cluster: %w: %s name %q has %q (want letters, digits, '.', '_', '-')", ErrInvalid, what, name, c)
		}
	}
	return nil
}

// storeLeaseSeconds converts a TTL to etcd's whole seconds, rounding up; zero
// or less means storeDefaultTTL.
func storeLeaseSeconds(ttl time.Duration) int {
	if ttl <= 0 {
		ttl = storeDefaultTTL
	}
	return int((ttl + time.Second - 1) / time.Second)
}

// newSession grants a lease of ttl and keeps it alive until the session
// is closed or the lease is lost.
func (s *Store) newSession(ctx context.Context, ttl time.Duration) (*concurrency.Session, error) {
	secs := storeLeaseSeconds(ttl)
	rctx, cancel := s.request(ctx)
	defer cancel()
	lease, err := s.client.Grant(rctx, int64(secs))
	if err != nil {
		return nil, etcdError("grant lease", err)
	}
	// The session's keep-alive runs on the client's context, not ctx: it
	// outlives this call.
	sess, err := concurrency.NewSession(s.client, concurrency.WithLease(lease.ID), concurrency.WithTTL(secs))
	if err != nil {
		s.revoke(context.WithoutCancel(ctx), lease.ID)
		return nil, etcdError("keep lease alive", err)
	}
	return sess, nil
}

// endSession stops renewing a session's lease and revokes it, which
// deletes every key attached to it.
func (s *Store) endSession(ctx context.Context, sess *concurrency.Session) error {
	sess.Orphan()
	return s.revoke(ctx, sess.Lease())
}

// revoke revokes a lease within the request timeout.
func (s *Store) revoke(ctx context.Context, id clientv3.LeaseID) error {
	rctx, cancel := s.request(ctx)
	defer cancel()
	_, err := s.client.Revoke(rctx, id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// Expired already: its keys are gone, which is what revoking
		// is for.
		return nil
	}
	return etcdError("revoke lease", err)
}

// NodeRegistration is a node's registration: its key lives as long as the
// lease is renewed.
type NodeRegistration struct {
	store *Store
	sess  *concurrency.Session
	key   string
}

// RegisterNode records the node under a lease of ttl (zero means 10 s)
// and keeps the lease alive until the registration is closed or lost. A
// registration of the same name is replaced.
func (s *Store) RegisterNode(ctx context.Context, info NodeInfo, ttl time.Duration) (*NodeRegistration, error) {
	if err := validName("node", info.Name); err != nil {
		return nil, err
	}
	val, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("cluster: register node %s: %w", info.Name, err)
	}
	sess, err := s.newSession(ctx, ttl)
	if err != nil {
		return nil, fmt.Errorf("cluster: register node %s: %w", info.Name, err)
	}
	key := s.key("nodes", info.Name)
	rctx, cancel := s.request(ctx)
	defer cancel()
	if _, err := s.client.Put(rctx, key, string(val), clientv3.WithLease(sess.Lease())); err != nil {
		s.endSession(context.WithoutCancel(ctx), sess)
		return nil, etcdError("register node "+info.Name, err)
	}
	s.log.Debug().Str("node", info.Name).Int64("lease", int64(sess.Lease())).Msg("node registered")
	return &NodeRegistration{store: s, sess: sess, key: key}, nil
}

// Done returns a channel that is closed when the registration ends: its
// lease could not be renewed in time, or it was closed.
func (r *NodeRegistration) Done() <-chan struct{} { return r.sess.Done() }

// Close stops renewing the lease and revokes it, which removes the node's
// key at once.
func (r *NodeRegistration) Close() error {
	return r.store.endSession(context.Background(), r.sess)
}

// Nodes lists the registered nodes, by name.
func (s *Store) Nodes(ctx context.Context) ([]NodeInfo, error) {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.key("nodes")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, etcdError("list nodes", err)
	}
	nodes := make([]NodeInfo, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n NodeInfo
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("cluster: node key %s: %w", kv.Key, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// Node returns one registered node, or ErrNotFound.
func (s *Store) Node(ctx context.Context, name string) (NodeInfo, error) {
	if err := validName("node", name); err != nil {
		return NodeInfo{}, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.key("nodes", name))
	if err != nil {
		return NodeInfo{}, etcdError("get node "+name, err)
	}
	if len(resp.Kvs) == 0 {
		return NodeInfo{}, fmt.Errorf("cluster: node %s: %w", name, ErrNotFound)
	}
	var n NodeInfo
	if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
		return NodeInfo{}, fmt.Errorf("cluster: node %s: %w", name, err)
	}
	return n, nil
}

// validGroup checks a group's names before it is written.
func validGroup(g Group) error {
	if err := validName("group", g.Name); err != nil {
		return err
	}
	if g.Owner != "" {
		if err := validName("node", g.Owner); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		if err := validName("node", n); err != nil {
			return err
		}
	}
	return nil
}

// encodeStoredGroup marshals a group without its revision, which etcd keeps.
func encodeStoredGroup(g Group) (string, error) {
	g.Revision = 0
	b, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("cluster: group %s: %w", g.Name, err)
	}
	return string(b), nil
}

// decodeStoredGroup unmarshals a group and sets its revision.
func decodeStoredGroup(val []byte, rev int64) (Group, error) {
	var g Group
	if err := json.Unmarshal(val, &g); err != nil {
		return Group{}, fmt.Errorf("cluster: group value: %w", err)
	}
	g.Revision = rev
	return g, nil
}

// CreateGroup records a new group; ErrConflict if one of that name
// exists. The returned group has its Revision set.
func (s *Store) CreateGroup(ctx context.Context, g Group) (Group, error) {
	if err := validGroup(g); err != nil {
		return Group{}, err
	}
	val, err := encodeStoredGroup(g)
	if err != nil {
		return Group{}, err
	}
	key := s.key("groups", g.Name)
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Txn(rctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val)).
		Commit()
	if err != nil {
		return Group{}, etcdError("create group "+g.Name, err)
	}
	if !resp.Succeeded {
		return Group{}, fmt.Errorf("cluster: create group %s: %w: group %s already exists", g.Name, ErrConflict, g.Name)
	}
	g.Revision = resp.Header.Revision
	return g, nil
}

// Group returns a group with its Revision set, or ErrNotFound.
func (s *Store) Group(ctx context.Context, name string) (Group, error) {
	if err := validName("group", name); err != nil {
		return Group{}, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.key("groups", name))
	if err != nil {
		return Group{}, etcdError("get group "+name, err)
	}
	if len(resp.Kvs) == 0 {
		return Group{}, fmt.Errorf("cluster: group %s: %w", name, ErrNotFound)
	}
	return decodeStoredGroup(resp.Kvs[0].Value, resp.Kvs[0].ModRevision)
}

// Groups lists the groups, by name.
func (s *Store) Groups(ctx context.Context) ([]Group, error) {
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.key("groups")+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, etcdError("list groups", err)
	}
	groups := make([]Group, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		g, err := decodeStoredGroup(kv.Value, kv.ModRevision)
		if err != nil {
			return nil, fmt.Errorf("cluster: key %s: %w", kv.Key, err)
		}
		groups = append(groups, g)
	}
	return groups, nil
}

// UpdateGroup reads the group, lets fn change it and writes it back only
// if nobody wrote it in between; on such a race it reads again and calls
// fn again, up to 5 times, then returns ErrConflict. fn gets a fresh copy
// each time and must not change the name; an error from fn aborts the
// update and is returned as is. ErrNotFound if the group does not exist.
func (s *Store) UpdateGroup(ctx context.Context, name string, fn func(*Group) error) (Group, error) {
	if err := validName("group", name); err != nil {
		return Group{}, err
	}
	key := s.key("groups", name)
	for attempt := range storeUpdateAttempts {
		if attempt > 0 {
			// Back off a little at random so racing writers spread out.
			t := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(5*time.Millisecond))))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return Group{}, fmt.Errorf("cluster: update group %s: %w", name, ctx.Err())
			}
		}
		g, err := s.Group(ctx, name)
		if err != nil {
			return Group{}, err
		}
		read := g.Revision
		if err := fn(&g); err != nil {
			return Group{}, err
		}
		if g.Name != name {
			return Group{}, fmt.Errorf("cluster: update group %s: %w: renamed to %q", name, ErrInvalid, g.Name)
		}
		if err := validGroup(g); err != nil {
			return Group{}, err
		}
		val, err := encodeStoredGroup(g)
		if err != nil {
			return Group{}, err
		}
		rctx, cancel := s.request(ctx)
		resp, err := s.client.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", read)).
			Then(clientv3.OpPut(key, val)).
			Commit()
		cancel()
		if err != nil {
			return Group{}, etcdError("update group "+name, err)
		}
		if resp.Succeeded {
			g.Revision = resp.Header.Revision
			return g, nil
		}
		s.log.Debug().Str("group", name).Int("attempt", attempt+1).Msg("group changed while updating, retrying")
	}
	return Group{}, fmt.Errorf("cluster: update group %s: %w: it changed under %d attempts", name, ErrConflict, storeUpdateAttempts)
}

// DeleteGroup removes a group's record (its operation log stays), or
// returns ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	if err := validName("group", name); err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Delete(rctx, s.key("groups", name))
	if err != nil {
		return etcdError("delete group "+name, err)
	}
	if resp.Deleted == 0 {
		return fmt.Errorf("cluster: group %s: %w", name, ErrNotFound)
	}
	return nil
}

// opKey is an operation's key in its group's log: the start time in
// zero-padded nanoseconds sorts the log by time.
func (s *Store) opKey(r OperationResult) string {
	return s.key("ops", r.Group, fmt.Sprintf("%020d-%s", r.Started.UnixNano(), r.ID))
}

// RecordOperation writes an operation's result to its group's log;
// recording the same ID again replaces the entry. ID, Group and Started
// are required.
func (s *Store) RecordOperation(ctx context.Context, r OperationResult) error {
	if err := validName("operation", r.ID); err != nil {
		return err
	}
	if err := validName("group", r.Group); err != nil {
		return err
	}
	if r.Started.UnixNano() <= 0 {
		return fmt.Errorf("cluster: record operation %s: %w: start time %v", r.ID, ErrInvalid, r.Started)
	}
	val, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cluster: record operation %s: %w", r.ID, err)
	}
	key := s.opKey(r)
	idx := s.key("ops-by-id", r.ID)
	rctx, cancel := s.request(ctx)
	defer cancel()
	for range storeUpdateAttempts {
		prev, err := s.client.Get(rctx, idx)
		if err != nil {
			return etcdError("record operation "+r.ID, err)
		}
		var cmp clientv3.Cmp
		ops := []clientv3.Op{clientv3.OpPut(key, string(val)), clientv3.OpPut(idx, key)}
		if len(prev.Kvs) == 0 {
			cmp = clientv3.Compare(clientv3.CreateRevision(idx), "=", 0)
		} else {
			cmp = clientv3.Compare(clientv3.ModRevision(idx), "=", prev.Kvs[0].ModRevision)
			if old := string(prev.Kvs[0].Value); old != key {
				ops = append(ops, clientv3.OpDelete(old))
			}
		}
		resp, err := s.client.Txn(rctx).If(cmp).Then(ops...).Commit()
		if err != nil {
			return etcdError("record operation "+r.ID, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("cluster: record operation %s: %w: recorded concurrently", r.ID, ErrConflict)
}

// Operation returns a recorded operation, or ErrNotFound.
func (s *Store) Operation(ctx context.Context, id string) (OperationResult, error) {
	if err := validName("operation", id); err != nil {
		return OperationResult{}, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	for range storeUpdateAttempts {
		idx, err := s.client.Get(rctx, s.key("ops-by-id", id))
		if err != nil {
			return OperationResult{}, etcdError("get operation "+id, err)
		}
		if len(idx.Kvs) == 0 {
			return OperationResult{}, fmt.Errorf("cluster: operation %s: %w", id, ErrNotFound)
		}
		// Read at the index's revision so a concurrent re-record cannot
		// move the entry away in between.
		resp, err := s.client.Get(rctx, string(idx.Kvs[0].Value), clientv3.WithRev(idx.Header.Revision))
		if err != nil {
			return OperationResult{}, etcdError("get operation "+id, err)
		}
		if len(resp.Kvs) == 0 {
			continue
		}
		var r OperationResult
		if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
			return OperationResult{}, fmt.Errorf("cluster: operation %s: %w", id, err)
		}
		return r, nil
	}
	return OperationResult{}, fmt.Errorf("cluster: operation %s: %w", id, ErrNotFound)
}

// Operations returns a group's recorded operations, newest first, at most
// limit of them (zero or less: all).
func (s *Store) Operations(ctx context.Context, group string, limit int) ([]OperationResult, error) {
	if err := validName("group", group); err != nil {
		return nil, err
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}
	if limit > 0 {
		opts = append(opts, clientv3.WithLimit(int64(limit)))
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	resp, err := s.client.Get(rctx, s.key("ops", group)+"/", opts...)
	if err != nil {
		return nil, etcdError("list operations of group "+group, err)
	}
	ops := make([]OperationResult, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var r OperationResult
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, fmt.Errorf("cluster: operation key %s: %w", kv.Key, err)
		}
		ops = append(ops, r)
	}
	return ops, nil
}
