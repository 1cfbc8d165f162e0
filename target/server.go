package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/iscsi"
)

// Errors of the iSCSI layer.
var (
	// ErrServerClosed is returned by Serve after Close.
	ErrServerClosed = errors.New("target: server closed")
	// ErrServerConfig means a ServerConfig is invalid.
	ErrServerConfig = errors.New("target: invalid server configuration")
)

// Defaults of ServerConfig.
const (
	// DefaultQueueDepth is the command window of a session.
	DefaultQueueDepth = 128
	// DefaultMaxRecvDataSegmentLength is the largest data segment the
	// target declares it receives.
	DefaultMaxRecvDataSegmentLength = 262144
	// DefaultMaxOutstandingR2T is the target's ceiling on outstanding
	// R2Ts per task.
	DefaultMaxOutstandingR2T = 4
	// DefaultTPGT is the target portal group tag.
	DefaultTPGT = 1
	// MaxTransferLength is the largest Expected Data Transfer Length a
	// command may carry; longer commands are rejected before any buffer
	// is allocated.
	MaxTransferLength = 16 << 20
)

// ServerConfig configures a Server. The zero value of every field but
// Directory and Executor is a documented default.
type ServerConfig struct {
	// Directory answers login and discovery questions. Required.
	Directory Directory
	// Executor runs SCSI tasks. Required.
	Executor Executor
	// Logger receives the server's log; the zero value is silent.
	Logger zerolog.Logger
	// QueueDepth is the command window of each session (MaxCmdSN -
	// ExpCmdSN + 1 with no command outstanding). Zero means 128.
	QueueDepth int
	// MaxRecvDataSegmentLength is the largest data segment the target
	// accepts, declared at login. Zero means 262144.
	MaxRecvDataSegmentLength uint32
	// MaxBurstLength is the target's ceiling for MaxBurstLength. Zero
	// means 262144.
	MaxBurstLength uint32
	// FirstBurstLength is the target's ceiling for FirstBurstLength. Zero
	// means 65536.
	FirstBurstLength uint32
	// MaxOutstandingR2T is the target's ceiling for MaxOutstandingR2T.
	// Zero means 4.
	MaxOutstandingR2T uint32
	// NoImmediateData refuses immediate data (ImmediateData=No). The zero
	// value accepts it, the RFC default.
	NoImmediateData bool
	// InitialR2T requires an R2T before any write data (InitialR2T=Yes).
	// The zero value lets initiators send unsolicited Data-Out up to
	// FirstBurstLength (InitialR2T=No where the initiator agrees).
	InitialR2T bool
	// HeaderDigests accepts CRC32C header digests when an initiator
	// offers them; the zero value accepts only None.
	HeaderDigests bool
	// DataDigests accepts CRC32C data digests when an initiator offers
	// them; the zero value accepts only None.
	DataDigests bool
	// MaxSessionsPerInitiator bounds the sessions one initiator name may
	// hold at once; zero means no bound.
	MaxSessionsPerInitiator int
	// NopInInterval is how often an idle connection is pinged with a
	// NOP-In that asks for an answer; zero turns pings off.
	NopInInterval time.Duration
	// NopInTimeout is how long the target waits for the answer to a ping
	// before it drops the connection. Zero means NopInInterval.
	NopInTimeout time.Duration
	// TPGT is the target portal group tag of every portal. Zero means 1.
	TPGT uint16
}

// withDefaults returns c with zero fields set to their defaults.
func (c ServerConfig) withDefaults() ServerConfig {
	if c.QueueDepth == 0 {
		c.QueueDepth = DefaultQueueDepth
	}
	if c.MaxRecvDataSegmentLength == 0 {
		c.MaxRecvDataSegmentLength = DefaultMaxRecvDataSegmentLength
	}
	if c.MaxBurstLength == 0 {
		c.MaxBurstLength = iscsi.DefaultMaxBurstLength
	}
	if c.FirstBurstLength == 0 {
		c.FirstBurstLength = iscsi.DefaultFirstBurstLength
	}
	if c.MaxOutstandingR2T == 0 {
		c.MaxOutstandingR2T = DefaultMaxOutstandingR2T
	}
	if c.NopInTimeout == 0 {
		c.NopInTimeout = c.NopInInterval
	}
	if c.TPGT == 0 {
		c.TPGT = DefaultTPGT
	}
	return c
}

// validate checks c after defaults are applied.
func (c ServerConfig) validate() error {
	switch {
	case c.Directory == nil:
		return fmt.Errorf("%w: Directory is nil", ErrServerConfig)
	case c.Executor == nil:
		return fmt.Errorf("%w: Executor is nil", ErrServerConfig)
	case c.QueueDepth < 1 || c.QueueDepth > 1<<16:
		return fmt.Errorf("%w: QueueDepth %d: want 1 to 65536", ErrServerConfig, c.QueueDepth)
	case c.MaxRecvDataSegmentLength < iscsi.MinMaxDataSegmentLength || c.MaxRecvDataSegmentLength > iscsi.MaxMaxDataSegmentLength:
		return fmt.Errorf("%w: MaxRecvDataSegmentLength %d: want %d to %d", ErrServerConfig,
			c.MaxRecvDataSegmentLength, iscsi.MinMaxDataSegmentLength, iscsi.MaxMaxDataSegmentLength)
	case c.MaxBurstLength < 512 || c.MaxBurstLength > iscsi.MaxMaxDataSegmentLength:
		return fmt.Errorf("%w: MaxBurstLength %d: want 512 to %d", ErrServerConfig, c.MaxBurstLength, iscsi.MaxMaxDataSegmentLength)
	case c.FirstBurstLength < 512 || c.FirstBurstLength > iscsi.MaxMaxDataSegmentLength:
		return fmt.Errorf("%w: FirstBurstLength %d: want 512 to %d", ErrServerConfig, c.FirstBurstLength, iscsi.MaxMaxDataSegmentLength)
	case c.MaxOutstandingR2T > 65535:
		return fmt.Errorf("%w: MaxOutstandingR2T %d: want 1 to 65535", ErrServerConfig, c.MaxOutstandingR2T)
	case c.MaxSessionsPerInitiator < 0:
		return fmt.Errorf("%w: MaxSessionsPerInitiator %d is negative", ErrServerConfig, c.MaxSessionsPerInitiator)
	case c.NopInInterval < 0 || c.NopInTimeout < 0:
		return fmt.Errorf("%w: negative NOP-In interval or timeout", ErrServerConfig)
	}
	return nil
}

// Server is an iSCSI target: it accepts connections on portals, logs
// initiators in, and runs their sessions. It is safe for concurrent use.
type Server struct {
	cfg ServerConfig
	log zerolog.Logger
	// quick is cfg.Executor when it tells quick commands, else nil.
	quick QuickExecutor

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	sessions  map[*session]struct{}
	byTSIH    map[uint16]*session
	nextTSIH  uint16

	// wg counts every goroutine the server starts.
	wg sync.WaitGroup
	// taskCount counts SCSI tasks in flight; drainSig is signalled when
	// it drops to zero, for Close.
	taskCount atomic.Int64
	drainSig  chan struct{}

	stats serverCounters
	bufs  connBufPool
	// taskPool holds *sessTask values for reuse.
	taskPool sync.Pool
	// readBufs holds the connections' read buffers (*[]byte of
	// connReadBufSize bytes).
	readBufs sync.Pool
}

// NewServer returns a Server configured by cfg.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	quick, _ := cfg.Executor.(QuickExecutor)
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		quick:     quick,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		sessions:  make(map[*session]struct{}),
		byTSIH:    make(map[uint16]*session),
		drainSig:  make(chan struct{}, 1),
	}, nil
}

// Serve accepts connections on l until Close, serving each as an iSCSI
// portal. advertise is the "host:port" put in SendTargets' TargetAddress
// for connections accepted on l, so that a peer behind NAT or in a VM
// learns an address it can reach; empty means l's own address. Serve may
// be called for several listeners. It returns ErrServerClosed after
// Close, or the listener's error.
func (s *Server) Serve(l net.Listener, advertise string) error {
	if advertise == "" {
		advertise = l.Addr().String()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	p := &portal{advertise: advertise, tpgt: s.cfg.TPGT}
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			var ne net.Error
			s.mu.Lock()
			closed := s.closed
			if closed || !errors.As(err, &ne) || !ne.Timeout() {
				delete(s.listeners, l)
				s.mu.Unlock()
				if closed {
					return ErrServerClosed
				}
				return err
			}
			s.mu.Unlock()
			// A temporary accept failure (EMFILE and the like): back
			// off and retry, as net/http does. Close closes l, which
			// ends the retries.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.startConn(nc, p) {
			nc.Close()
		}
	}
}

// portal is what a connection knows of the listener it came through.
type portal struct {
	advertise string
	tpgt      uint16
}

// startConn registers a connection and starts its goroutines; it
// reports false once the server is closed.
func (s *Server) startConn(nc net.Conn, p *portal) bool {
	c, err := newConn(s, nc, p)
	if err != nil {
		s.log.Error().Err(err).Msg("iscsi: new connection")
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.stats.connections.Add(1)
	s.wg.Add(1)
	go c.serve()
	return true
}

// removeConn forgets a closed connection.
func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.stats.connections.Add(-1)
	}
	s.mu.Unlock()
}

// Close shuts the server down: it stops the listeners, asks every session
// to log out with an Asynchronous Message, waits for the tasks in flight
// to complete (or aborts them when ctx ends), then closes every
// connection and waits for every goroutine of the server to return. It
// returns ctx's error if tasks had to be aborted.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	sessions := s.sessionList()
	s.mu.Unlock()

	for _, se := range sessions {
		se.requestLogout()
	}
	var err error
wait:
	for s.taskCount.Load() > 0 {
		select {
		case <-s.drainSig:
		case <-ctx.Done():
			err = ctx.Err()
			for _, se := range sessions {
				se.abortAll(false)
			}
			break wait
		}
	}

	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close(errShutdown)
	}
	s.wg.Wait()
	return err
}

var errShutdown = errors.New("target: server shutting down")

// sessionList returns the sessions; s.mu must be held.
func (s *Server) sessionList() []*session {
	out := make([]*session, 0, len(s.sessions))
	for se := range s.sessions {
		out = append(out, se)
	}
	return out
}

// sessions returns a snapshot of the sessions.
func (s *Server) sessionSnapshot() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessionList()
}

// ViewChanged tells the server that the LUN map of each of initiators on
// target changed: every session of theirs on that target gets the unit
// attention REPORTED LUNS DATA HAS CHANGED from the engine and an
// Asynchronous Message carrying the same sense, and sees the new view
// from its next command on.
func (s *Server) ViewChanged(target string, initiators []string) {
	for _, se := range s.sessionSnapshot() {
		if se.target != target || !slices.Contains(initiators, se.initiator) {
			continue
		}
		se.viewChanged()
	}
}

// SessionInfo describes one session, for the management API.
type SessionInfo struct {
	// Initiator is the initiator's iSCSI name.
	Initiator string
	// ISID is the initiator part of the session identifier.
	ISID iscsi.ISID
	// TSIH is the target-assigned session handle.
	TSIH uint16
	// Target is the target's name; empty for a discovery session.
	Target string
	// Type is Normal or Discovery.
	Type iscsi.SessionType
	// Connections lists the session's connections.
	Connections []ConnInfo
	// Params are the negotiated parameters.
	Params iscsi.SessionParams
	// LUNs lists the LUN numbers the session sees.
	LUNs []uint64
}

// ConnInfo describes one connection of a session.
type ConnInfo struct {
	// CID is the connection ID.
	CID uint16
	// RemoteAddr is the initiator's address.
	RemoteAddr string
	// LocalAddr is the portal address the connection reached.
	LocalAddr string
}

// Sessions returns a snapshot of every session, in TSIH order.
func (s *Server) Sessions() []SessionInfo {
	list := s.sessionSnapshot()
	out := make([]SessionInfo, 0, len(list))
	for _, se := range list {
		out = append(out, se.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return int(a.TSIH) - int(b.TSIH) })
	return out
}

// Error kinds counted in ServerStats.Errors.
const (
	// ErrorKindLogin counts refused logins.
	ErrorKindLogin = "login"
	// ErrorKindProtocol counts protocol errors answered with a Reject or
	// a closed connection.
	ErrorKindProtocol = "protocol"
	// ErrorKindDigest counts header and data digest errors.
	ErrorKindDigest = "digest"
	// ErrorKindTimeout counts connections dropped for an unanswered
	// NOP-In ping.
	ErrorKindTimeout = "timeout"
	// ErrorKindPanic counts recovered panics.
	ErrorKindPanic = "panic"
	// ErrorKindIO counts connections ended by an I/O error.
	ErrorKindIO = "io"
	// ErrorKindDropped counts PDUs dropped silently (CmdSN outside the
	// window, Data-Out for a finished task).
	ErrorKindDropped = "dropped"
)

var errorKinds = []string{ErrorKindLogin, ErrorKindProtocol, ErrorKindDigest, ErrorKindTimeout,
	ErrorKindPanic, ErrorKindIO, ErrorKindDropped}

// serverCounters are the server's live counters.
type serverCounters struct {
	commands    atomic.Uint64
	bytesIn     atomic.Uint64
	bytesOut    atomic.Uint64
	logins      atomic.Uint64
	sessions    atomic.Int64
	connections atomic.Int64
	errs        [7]atomic.Uint64
	// latency holds the command latency histograms, indexed by the
	// latencyOp constants.
	latency [latencyOps]latencyHist
}

func (c *serverCounters) err(kind string) {
	if i := slices.Index(errorKinds, kind); i >= 0 {
		c.errs[i].Add(1)
	}
}

// ServerStats is a snapshot of the server's counters, for metrics.
type ServerStats struct {
	// Commands counts SCSI commands executed.
	Commands uint64
	// BytesIn counts SCSI write data received.
	BytesIn uint64
	// BytesOut counts SCSI read data sent.
	BytesOut uint64
	// Logins counts successful logins.
	Logins uint64
	// Sessions is the number of sessions now in the full feature phase.
	Sessions int64
	// Connections is the number of open connections.
	Connections int64
	// Errors counts errors by kind (the ErrorKind constants).
	Errors map[string]uint64
	// Latency holds the SCSI command latency histograms: "read" (READ
	// 6/10/12/16), "write" (WRITE 6/10/12/16) and "other", in that
	// order. A command's latency runs from the arrival of its SCSI
	// Command PDU (so it includes gathering its write data) to the
	// queueing of its status, in buckets from 50 µs to 10 s.
	Latency []LatencyHistogram
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		Commands:    s.stats.commands.Load(),
		BytesIn:     s.stats.bytesIn.Load(),
		BytesOut:    s.stats.bytesOut.Load(),
		Logins:      s.stats.logins.Load(),
		Sessions:    s.stats.sessions.Load(),
		Connections: s.stats.connections.Load(),
		Errors:      make(map[string]uint64, len(errorKinds)),
	}
	for i, k := range errorKinds {
		st.Errors[k] = s.stats.errs[i].Load()
	}
	st.Latency = make([]LatencyHistogram, latencyOps)
	for i := range st.Latency {
		st.Latency[i] = s.stats.latency[i].snapshot(latencyOpNames[i])
	}
	return st
}

// Operation kinds of the latency histograms.
const (
	latencyRead = iota
	latencyWrite
	latencyOther
	latencyOps
)

var latencyOpNames = [latencyOps]string{"read", "write", "other"}

// latencyBuckets are the upper bounds, in seconds, of the command
// latency histogram buckets, from 50 µs to 10 s; a last bucket counts
// everything slower.
var latencyBuckets = [...]float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// latencyBoundsNs are latencyBuckets in nanoseconds.
var latencyBoundsNs = func() (b [len(latencyBuckets)]int64) {
	for i, s := range latencyBuckets {
		b[i] = int64(s * 1e9)
	}
	return b
}()

// latencyHist is a fixed-bucket histogram of command latencies with
// atomic counters: observing takes no lock. A snapshot taken while
// observations land may be off by the ones in flight, as Prometheus
// client histograms are.
type latencyHist struct {
	// buckets counts the observations of each bucket (not cumulative);
	// the last one is +Inf.
	buckets [len(latencyBuckets) + 1]atomic.Uint64
	count   atomic.Uint64
	sumNs   atomic.Uint64
}

// observe records one latency.
func (h *latencyHist) observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := 0
	for i < len(latencyBoundsNs) && ns > latencyBoundsNs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(uint64(ns))
	h.count.Add(1)
}

// snapshot returns the histogram in the cumulative form Prometheus
// exports.
func (h *latencyHist) snapshot(op string) LatencyHistogram {
	out := LatencyHistogram{Op: op, Buckets: make(map[float64]uint64, len(latencyBuckets))}
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += h.buckets[i].Load()
		out.Buckets[ub] = cum
	}
	// The count is at least the sum of the buckets, so that the
	// exported +Inf bucket never falls below a finite one.
	out.Count = max(h.count.Load(), cum+h.buckets[len(latencyBuckets)].Load())
	out.Sum = float64(h.sumNs.Load()) / 1e9
	return out
}
