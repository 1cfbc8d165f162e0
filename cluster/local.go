package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lunarsan/lunar/target"
)

// Local defaults.
const (
	// DefaultLocalNodes is the number of node agents StartLocal starts
	// when LocalConfig.Nodes is zero.
	DefaultLocalNodes = 3
	// DefaultNodePrefix names the local nodes: node1, node2, ...
	DefaultNodePrefix = "node"
	// LocalInitiatorPrefix starts each local node's initiator name; the
	// node's name follows.
	LocalInitiatorPrefix = "iqn.2026-11.org.lunar:"
	// LocalNodeTTL is the lease of the local nodes' registrations.
	LocalNodeTTL = 10 * time.Second
	// localShutdownTimeout bounds each server's graceful shutdown.
	localShutdownTimeout = 10 * time.Second
)

// LocalConfig configures a Local cluster.
type LocalConfig struct {
	// Dir holds etcd's data (etcd/) and the target's (target/); empty
	// means a temporary directory removed by Close.
	Dir string
	// Nodes is the number of node agents; zero means DefaultLocalNodes.
	Nodes int
	// NodePrefix names the nodes (prefix and 1, 2, ...); empty means
	// DefaultNodePrefix.
	NodePrefix string
	// Logger receives every component's log; the zero value is silent.
	Logger zerolog.Logger
	// NodeLink, when set, gives node i (from 0) its own addresses of the
	// target's portal and management API (a link emulator in front of
	// them, for benchmarks): the node's engine dials nodePortal whatever
	// portal a connect names, and its agent calls nodeStorageURL.
	NodeLink func(i int, portal, storageURL string) (nodePortal, nodeStorageURL string, err error)
	// Latency, when positive, puts each node behind its own emulated link
	// (toxiproxy, as lunar bench connect does) to the target's portal and
	// management API with this round-trip time; ignored with NodeLink.
	Latency time.Duration
}

// Local is a whole cluster in one process, on loopback: an embedded etcd,
// a lunar target (iSCSI portal and management API) and node agents, each
// with its own userspace initiator and HTTP API, registered in etcd. For
// tests and `lunar demo`.
type Local struct {
	// Etcd is the embedded etcd.
	Etcd *Etcd
	// Store is the cluster state in it.
	Store *Store
	// Storage is a client of the target's management API.
	Storage *target.Client
	// Portal is the target's iSCSI portal, "127.0.0.1:port".
	Portal string
	// TargetName is the target's default IQN.
	TargetName string
	// StorageURL is the management API's base URL.
	StorageURL string
	// Token is the bearer token of the management API and every agent.
	Token string
	// Nodes are the node agents, in order.
	Nodes []*LocalNode

	dir       string
	removeDir bool
	links     *nodeLinks // with LocalConfig.Latency
	runners   []*Runner  // from StartRunners
	runnerTr  *http.Transport
	client    *clientv3.Client
	tstore    *target.Store
	srv       *target.Server
	api       *target.APIServer
	wg        sync.WaitGroup // the target's servers
	closeOnce sync.Once
	closeErr  error
}

// LocalNode is one node agent of a Local cluster.
type LocalNode struct {
	// Info is the node as registered in etcd.
	Info NodeInfo
	// Agent is the node's agent, callable in process.
	Agent *Agent
	// Client is an HTTP client of the node's agent API.
	Client *AgentClient
	// Storage is the node's client of the target's management API
	// (through its link when it has one).
	Storage *target.Client

	engine    *UserspaceEngine
	transport *http.Transport // the node's connections to the storage API
	server    *http.Server
	served    chan struct{} // closed when Serve returned
	reg       *NodeRegistration
	fo        *Failover // from Local.StartFailover
	stopMu    sync.Mutex
	stopped   bool
}

// Engine returns the node's initiator engine.
func (n *LocalNode) Engine() *UserspaceEngine { return n.engine }

// StartLocal starts a Local cluster. On error everything started is
// stopped again.
func StartLocal(ctx context.Context, cfg LocalConfig) (_ *Local, err error) {
	if cfg.Nodes < 0 {
		return nil, fmt.Errorf("%w: local cluster: %d nodes", ErrInvalid, cfg.Nodes)
	}
	if cfg.Nodes == 0 {
		cfg.Nodes = DefaultLocalNodes
	}
	if cfg.NodePrefix == "" {
		cfg.NodePrefix = DefaultNodePrefix
	}
	l := &Local{dir: cfg.Dir}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	if l.dir == "" {
		if l.dir, err = os.MkdirTemp("", "lunar-local-"); err != nil {
			return nil, fmt.Errorf("cluster: local: %w", err)
		}
		l.removeDir = true
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("cluster: local: token: %w", err)
	}
	l.Token = hex.EncodeToString(tok[:])

	// etcd and the Store.
	l.Etcd, err = StartEtcd(ctx, EtcdConfig{Dir: filepath.Join(l.dir, "etcd"), Logger: cfg.Logger, UnsafeNoFsync: true})
	if err != nil {
		return nil, fmt.Errorf("cluster: local: %w", err)
	}
	l.client, err = NewEtcdClient(ctx, l.Etcd.Endpoints())
	if err != nil {
		return nil, fmt.Errorf("cluster: local: %w", err)
	}
	l.Store, err = NewStore(StoreConfig{Client: l.client, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("cluster: local: %w", err)
	}

	// The target.
	if err := l.startTarget(cfg.Logger); err != nil {
		return nil, err
	}
	if cfg.Latency > 0 && cfg.NodeLink == nil {
		if l.links, err = newNodeLinks(cfg.Logger); err != nil {
			return nil, fmt.Errorf("cluster: local: %w", err)
		}
		cfg.NodeLink = l.links.add
	}

	// The agents.
	for i := range cfg.Nodes {
		name := fmt.Sprintf("%s%d", cfg.NodePrefix, i+1)
		n, err := l.startNode(ctx, i, name, cfg)
		if n != nil {
			l.Nodes = append(l.Nodes, n)
		}
		if err != nil {
			return nil, err
		}
	}
	if l.links != nil {
		if err := l.links.setLatency(cfg.Latency); err != nil {
			return nil, fmt.Errorf("cluster: local: %w", err)
		}
	}
	return l, nil
}

// StartRunners wires an operation Runner into every node's agent (each
// with the node's own storage client), so any node can run operations as
// the active node of its groups; Close closes them.
func (l *Local) StartRunners(log zerolog.Logger) ([]*Runner, error) {
	if l.runnerTr == nil {
		l.runnerTr = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	}
	resolve := AgentResolver(l.Store, l.Token, &http.Client{Transport: l.runnerTr})
	var runners []*Runner
	for _, n := range l.Nodes {
		r, err := NewRunner(RunnerConfig{Node: n.Info.Name, Self: n.Agent, Store: l.Store, Storage: n.Storage, Agents: resolve, Logger: log})
		if err != nil {
			return runners, fmt.Errorf("cluster: local: runner of %s: %w", n.Info.Name, err)
		}
		n.Agent.SetOperations(r)
		runners = append(runners, r)
		l.runners = append(l.runners, r)
	}
	return runners, nil
}

// startTarget starts the target's store, iSCSI server and API.
func (l *Local) startTarget(log zerolog.Logger) error {
	var err error
	l.tstore, err = target.OpenStore(target.StoreConfig{DataDir: filepath.Join(l.dir, "target"), Logger: log})
	if err != nil {
		return fmt.Errorf("cluster: local: target store: %w", err)
	}
	l.srv, err = target.NewServer(target.ServerConfig{Directory: l.tstore, Executor: &target.Engine{}, Logger: log})
	if err != nil {
		return fmt.Errorf("cluster: local: target server: %w", err)
	}
	l.tstore.SetOnViewChange(l.srv.ViewChanged)
	l.api, err = target.NewAPIServer(target.APIConfig{Store: l.tstore, Token: l.Token, Sessions: l.srv.Sessions, Logger: log})
	if err != nil {
		return fmt.Errorf("cluster: local: target API: %w", err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("cluster: local: iSCSI portal: %w", err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pl.Close()
		return fmt.Errorf("cluster: local: target API: %w", err)
	}
	l.wg.Go(func() { _ = l.srv.Serve(pl, "") })
	l.wg.Go(func() { _ = l.api.Serve(al) })
	l.Portal = pl.Addr().String()
	l.StorageURL = "http://" + al.Addr().String()
	l.TargetName = l.tstore.DefaultTarget()
	l.Storage = target.NewClient(l.StorageURL, l.Token, &http.Client{})
	return nil
}

// startNode starts one node: engine, agent, HTTP server, registration.
// The node is returned (for Close to stop) even with an error.
func (l *Local) startNode(ctx context.Context, i int, name string, cfg LocalConfig) (*LocalNode, error) {
	iqn := LocalInitiatorPrefix + name
	ecfg := UserspaceConfig{InitiatorName: iqn, Logger: cfg.Logger}
	storageURL := l.StorageURL
	if cfg.NodeLink != nil {
		var portal string
		var err error
		if portal, storageURL, err = cfg.NodeLink(i, l.Portal, l.StorageURL); err != nil {
			return nil, fmt.Errorf("cluster: local: node %s: link: %w", name, err)
		}
		ecfg.RewritePortal = func(string) string { return portal }
	}
	// Each node keeps its own connections to the storage API, as a
	// node's process would: one shared pool (http.DefaultTransport keeps
	// 2 idle connections per host, 100 in all) closed and dialled most
	// of 64 nodes' connections again at every burst of requests.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	storage := target.NewClient(storageURL, l.Token, &http.Client{Transport: tr})
	n := &LocalNode{engine: NewUserspaceEngine(ecfg), Storage: storage, transport: tr}
	agent, err := NewAgent(AgentConfig{
		Node: name, InitiatorName: iqn, Engine: n.engine, Storage: storage, Token: l.Token, Logger: cfg.Logger,
	})
	if err != nil {
		_ = n.engine.Close()
		return nil, fmt.Errorf("cluster: local: node %s: %w", name, err)
	}
	n.Agent = agent
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = n.engine.Close()
		return nil, fmt.Errorf("cluster: local: node %s: %w", name, err)
	}
	url := "http://" + ln.Addr().String()
	n.server = &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	n.served = make(chan struct{})
	go func() {
		defer close(n.served)
		_ = n.server.Serve(ln)
	}()
	n.Client = NewAgentClient(url, l.Token, &http.Client{})
	n.Info = NodeInfo{Name: name, InitiatorName: iqn, AgentURL: url, Engine: n.engine.Name(), Started: time.Now().UTC()}
	n.reg, err = l.Store.RegisterNode(ctx, n.Info, LocalNodeTTL)
	if err != nil {
		return n, fmt.Errorf("cluster: local: register node %s: %w", name, err)
	}
	return n, nil
}

// StopNode kills node i as a crash would: its HTTP server closes at once
// (connections dropped), its initiator sessions end and its registration
// is revoked. Stopping a stopped node does nothing.
func (l *Local) StopNode(i int) error {
	if i < 0 || i >= len(l.Nodes) {
		return fmt.Errorf("%w: local cluster: no node %d (have %d)", ErrInvalid, i, len(l.Nodes))
	}
	return l.Nodes[i].stop()
}

func (n *LocalNode) stop() error {
	n.stopMu.Lock()
	defer n.stopMu.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	var errs []error
	if n.fo != nil {
		n.fo.Crash()
	}
	if n.server != nil {
		// Close, not Shutdown: a dead node does not finish its requests.
		if err := n.server.Close(); err != nil {
			errs = append(errs, err)
		}
		<-n.served
	}
	if n.Agent != nil {
		_ = n.Agent.Close()
	}
	if err := n.engine.Close(); err != nil {
		errs = append(errs, err)
	}
	if n.transport != nil {
		n.transport.CloseIdleConnections()
	}
	if n.reg != nil {
		if err := n.reg.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster: stop node %s: %w", n.Info.Name, err)
	}
	return nil
}

// Close stops every node, the target, the etcd client and etcd, and
// removes the temporary directory it made. No goroutine of the cluster is
// left when it returns.
func (l *Local) Close() error {
	l.closeOnce.Do(func() {
		var (
			errs []error
			mu   sync.Mutex
			wg   sync.WaitGroup
		)
		for _, r := range l.runners {
			if err := r.Close(); err != nil {
				errs = append(errs, fmt.Errorf("runner: %w", err))
			}
		}
		for _, n := range l.Nodes {
			wg.Go(func() {
				if err := n.stop(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if l.runnerTr != nil {
			l.runnerTr.CloseIdleConnections()
		}
		if l.links != nil {
			l.links.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), localShutdownTimeout)
		defer cancel()
		if l.api != nil {
			if err := l.api.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("target API: %w", err))
			}
		}
		if l.srv != nil {
			if err := l.srv.Close(ctx); err != nil && !errors.Is(err, target.ErrServerClosed) {
				errs = append(errs, fmt.Errorf("target server: %w", err))
			}
		}
		l.wg.Wait()
		if l.tstore != nil {
			if err := l.tstore.Close(); err != nil {
				errs = append(errs, fmt.Errorf("target store: %w", err))
			}
		}
		if l.client != nil {
			if err := l.client.Close(); err != nil {
				errs = append(errs, fmt.Errorf("etcd client: %w", err))
			}
		}
		if l.Etcd != nil {
			if err := l.Etcd.Close(); err != nil {
				errs = append(errs, fmt.Errorf("etcd: %w", err))
			}
		}
		if l.removeDir {
			if err := os.RemoveAll(l.dir); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("cluster: local: close: %w", err)
		}
	})
	return l.closeErr
}
