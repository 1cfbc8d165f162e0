package cluster

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodeDirectory keeps the registered nodes' records in memory: read with
// one request, then kept current by a watch on their keys, so that finding
// a node's agent (AgentResolver, once per node and operation) costs no
// etcd request. A name it does not hold, and any lookup while its watch
// is not running, is read from etcd (Store.Node) as before; a broken
// watch (the client closing, the leader lost, the revision compacted) is
// started again, with a fresh read, by the next lookup.
type nodeDirectory struct {
	store *Store

	mu    sync.Mutex
	nodes map[string]NodeInfo
	live  bool // the watch runs and nodes is current
	gen   int  // counts the watches started, so a dead one cannot end its successor's
}

// nodeDir returns s's node directory, created at the first call.
func (s *Store) nodeDir() *nodeDirectory {
	s.dirOnce.Do(func() { s.dir = &nodeDirectory{store: s} })
	return s.dir
}

// node returns the record of the registered node name, or ErrNotFound.
func (d *nodeDirectory) node(ctx context.Context, name string) (NodeInfo, error) {
	d.mu.Lock()
	live := d.live
	n, ok := d.nodes[name]
	d.mu.Unlock()
	if ok {
		return n, nil
	}
	if !live {
		d.start(ctx)
	}
	return d.store.Node(ctx, name)
}

// start reads every node and watches their keys from the revision read,
// unless a watch runs already. A failed read leaves the directory off (the
// next lookup tries again).
func (d *nodeDirectory) start(ctx context.Context) {
	s := d.store
	rctx, cancel := s.request(ctx)
	defer cancel()
	prefix := s.key("nodes") + "/"
	resp, err := s.client.Get(rctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return
	}
	nodes := make(map[string]NodeInfo, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var n NodeInfo
		if json.Unmarshal(kv.Value, &n) == nil {
			nodes[strings.TrimPrefix(string(kv.Key), prefix)] = n
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live {
		return // another lookup started one meanwhile
	}
	// The watch lives as long as the client (its context ends when the
	// client closes) or until etcd ends it.
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(s.client.Ctx()))
	wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	d.nodes, d.live = nodes, true
	d.gen++
	go d.follow(wch, stop, prefix, d.gen)
}

// follow applies the watch's events until it ends, then turns the
// directory off.
func (d *nodeDirectory) follow(wch clientv3.WatchChan, stop context.CancelFunc, prefix string, gen int) {
	defer stop()
	for wr := range wch {
		if wr.Err() != nil || wr.Canceled {
			break
		}
		d.mu.Lock()
		if d.gen != gen {
			d.mu.Unlock()
			return // a newer watch keeps the directory
		}
		for _, ev := range wr.Events {
			name := strings.TrimPrefix(string(ev.Kv.Key), prefix)
			var n NodeInfo
			if ev.Type == clientv3.EventTypeDelete || json.Unmarshal(ev.Kv.Value, &n) != nil {
				delete(d.nodes, name)
				continue
			}
			d.nodes[name] = n
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	if d.gen == gen {
		d.nodes, d.live = nil, false
	}
	d.mu.Unlock()
}
