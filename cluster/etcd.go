package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdDialTimeout bounds NewEtcdClient's connection and its health probe.
const etcdDialTimeout = 5 * time.Second

// etcdStartAttempts is how often StartEtcd retries when a port it picked
// was taken by someone else between picking and binding.
const etcdStartAttempts = 3

// EtcdConfig configures an embedded single-member etcd.
type EtcdConfig struct {
	// Dir is the data directory; required. An existing member's data in
	// it is reused.
	Dir string
	// Name is the member's name; empty means "lunar".
	Name string
	// ClientURL is the URL clients connect to ("http://host:port"); empty
	// means http://127.0.0.1 on a free port.
	ClientURL string
	// PeerURL is the member's peer URL; empty means http://127.0.0.1 on a
	// free port.
	PeerURL string
	// Logger receives etcd's error-level messages; the zero value is
	// silent.
	Logger zerolog.Logger
	// UnsafeNoFsync skips fsync of etcd's write-ahead log and database:
	// faster, but a machine crash may lose or corrupt the data. For tests
	// and demos only, never for a cluster's real state.
	UnsafeNoFsync bool
}

// Etcd is a running embedded single-member etcd.
type Etcd struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
	// endStreams ends the clients' open streams (watches, lease
	// keep-alives) at Close, which otherwise waits seconds for them.
	endStreams context.CancelFunc
}

// StartEtcd starts an embedded single-member etcd in cfg.Dir and returns
// once it serves clients, or with an error when ctx ends first. Its own
// logging goes to cfg.Logger at error level only.
func StartEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("cluster: etcd: %w: no data directory", ErrInvalid)
	}
	if cfg.Name == "" {
		cfg.Name = "lunar"
	}
	var err error
	for range etcdStartAttempts {
		var e *Etcd
		var picked bool
		e, picked, err = startEtcdOnce(ctx, cfg)
		if err == nil {
			return e, nil
		}
		// Only a port we picked can have been taken in between; retry
		// with fresh ones.
		if !picked || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, err
}

// startEtcdOnce makes one start attempt; picked reports that it chose a
// port itself.
func startEtcdOnce(ctx context.Context, cfg EtcdConfig) (_ *Etcd, picked bool, _ error) {
	clientURL, pickedClient, err := etcdURL(cfg.ClientURL)
	if err != nil {
		return nil, false, fmt.Errorf("cluster: etcd client URL: %w", err)
	}
	peerURL, pickedPeer, err := etcdURL(cfg.PeerURL)
	if err != nil {
		return nil, false, fmt.Errorf("cluster: etcd peer URL: %w", err)
	}
	picked = pickedClient || pickedPeer

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(cfg.Name)
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync
	// Snapshot often enough that a restart replays a short log, and
	// compact hourly so a long-running set-up's database stays bounded.
	ec.SnapshotCount = 10000
	// A single member has no peers to miss: short ticks make its first
	// election, and so the start, take tens of milliseconds rather than
	// about a second (the shortest lease TTL becomes 1 s).
	ec.TickMs, ec.ElectionMs = 10, 100
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(zerologCore{log: cfg.Logger}))
	streams, endStreams := context.WithCancel(context.Background())
	ec.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.ChainStreamInterceptor(endableStreams(streams))}

	ee, err := embed.StartEtcd(ec)
	if err != nil {
		endStreams()
		return nil, picked, fmt.Errorf("cluster: start etcd: %w", err)
	}
	select {
	case <-ee.Server.ReadyNotify():
	case err := <-ee.Err():
		endStreams()
		ee.Close()
		return nil, picked, fmt.Errorf("cluster: start etcd: %w", err)
	case <-ctx.Done():
		endStreams()
		ee.Close()
		return nil, picked, fmt.Errorf("cluster: start etcd: %w", ctx.Err())
	}
	e := &Etcd{etcd: ee, endStreams: endStreams}
	for _, u := range ee.Config().AdvertiseClientUrls {
		e.endpoints = append(e.endpoints, u.String())
	}
	return e, picked, nil
}

// etcdURL parses a configured URL or, when it is empty, picks a free
// port on 127.0.0.1.
func etcdURL(s string) (_ *url.URL, picked bool, _ error) {
	if s != "" {
		u, err := url.Parse(s)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if u.Host == "" {
			return nil, false, fmt.Errorf("%w: %q has no host", ErrInvalid, s)
		}
		return u, false, nil
	}
	// embed binds its listeners itself, so reserve a free port by binding
	// and releasing it; StartEtcd retries if someone takes it meanwhile.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, true, err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, true, err
	}
	return &url.URL{Scheme: "http", Host: addr}, true, nil
}

// Endpoints returns the client URLs to pass to NewEtcdClient.
func (e *Etcd) Endpoints() []string {
	return append([]string(nil), e.endpoints...)
}

// Err returns a channel that receives an error if the embedded etcd
// fails while it runs; it is closed once the etcd has stopped.
func (e *Etcd) Err() <-chan error {
	return e.etcd.Err()
}

// Close stops the embedded etcd and waits until it has stopped; calling
// it again does nothing. Clients still connected see their watches and
// lease keep-alives end and their requests fail.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.endStreams()
		e.etcd.Close()
	})
	return nil
}

// endableStreams is a gRPC stream interceptor that ends every stream when
// ctx ends: etcd's graceful stop otherwise waits its whole request timeout
// (over 5 s) for clients' long-lived streams.
func endableStreams(ctx context.Context) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		sctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		return handler(srv, endableStream{ServerStream: ss, ctx: sctx})
	}
}

// endableStream is a server stream whose context also ends with the
// server.
type endableStream struct {
	grpc.ServerStream
	ctx context.Context
}

// Context returns the stream's context.
func (s endableStream) Context() context.Context { return s.ctx }

// NewEtcdClient connects to etcd and checks that it answers; an
// unreachable etcd gives an error wrapping ErrUnavailable. Closing the
// client is the caller's job.
func NewEtcdClient(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("cluster: etcd client: %w: no endpoints", ErrInvalid)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          etcdDialTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: etcd client %s: %w: %w", strings.Join(endpoints, ","), ErrUnavailable, err)
	}
	// clientv3.New connects lazily; a linearizable read proves that a
	// member answers and the cluster has a leader.
	pctx, cancel := context.WithTimeout(ctx, etcdDialTimeout)
	defer cancel()
	if _, err := c.Get(pctx, "health", clientv3.WithCountOnly()); err != nil {
		c.Close()
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("cluster: etcd %s: %w", strings.Join(endpoints, ","), ctx.Err())
		}
		return nil, fmt.Errorf("cluster: etcd %s: %w: %w", strings.Join(endpoints, ","), ErrUnavailable, err)
	}
	return c, nil
}

// etcdError wraps an error from an etcd call: a failure to reach etcd or
// get its answer in time wraps ErrUnavailable, the caller's cancellation
// stays context.Canceled.
func etcdError(what string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) {
		return fmt.Errorf("cluster: %s: %w: %w", what, ErrUnavailable, err)
	}
	return fmt.Errorf("cluster: %s: %w", what, err)
}

// isUnavailable reports whether err comes from etcd being unreachable,
// slow or without a leader rather than from the request itself.
func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code := codes.Unknown
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch code {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.PermissionDenied,
		codes.Unauthenticated, codes.OutOfRange, codes.AlreadyExists, codes.NotFound,
		codes.Canceled:
		return false
	}
	return true
}

// zerologCore is a zapcore.Core that hands etcd's error-level entries to a
// zerolog.Logger.
type zerologCore struct {
	log    zerolog.Logger
	fields []zapcore.Field
}

// Enabled passes errors and worse only: etcd is chatty below.
func (c zerologCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

// With returns a core that adds fields to every entry.
func (c zerologCore) With(fields []zapcore.Field) zapcore.Core {
	c.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return c
}

// Check adds the core to an enabled entry.
func (c zerologCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write logs one entry.
func (c zerologCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.Error()
	if etcdBenignError(e.Message) {
		ev = c.log.Debug()
	}
	ev.Str("component", "etcd").Fields(enc.Fields).Msg(e.Message)
	return nil
}

// etcdBenignError reports the error-level messages an embedded single
// member logs in normal operation: at start, before the cluster version
// is decided, it cannot update the storage version yet; at Close, its
// client listener's serve loop ends with "use of closed network
// connection". They are logged at debug level instead.
func etcdBenignError(msg string) bool {
	return strings.HasPrefix(msg, "setting up serving from embedded etcd failed") ||
		strings.HasPrefix(msg, "failed to update storage version")
}

// Sync has nothing to flush.
func (c zerologCore) Sync() error { return nil }
