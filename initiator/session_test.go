package initiator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

const (
	sessTestTarget    = "iqn.2026-11.org.lunar:initiator-test"
	sessTestInitiator = "iqn.2026-11.org.example:host1"
	sessTestLUN       = "disk0"
	sessTestBlock     = 512
	sessTestSize      = 8 << 20
	sessTestTimeout   = 20 * time.Second
)

// sessEnv is lunar's own target running in-process: a Store with one LUN
// mapped at LUN 0 to sessTestInitiator, the Engine and a Server on
// loopback, which the test may stop and start again on the same address.
type sessEnv struct {
	tb    testing.TB
	store *target.Store
	addr  string
	scfg  target.ServerConfig

	mu   sync.Mutex
	srv  *target.Server
	done chan error
}

// sessStart starts the target; cleanup stops it and checks for leaked
// goroutines.
func sessStart(tb testing.TB, scfg target.ServerConfig) *sessEnv {
	tb.Helper()
	before := runtime.NumGoroutine()
	store, err := target.OpenStore(target.StoreConfig{DataDir: tb.TempDir(), DefaultTarget: sessTestTarget})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := store.CreateLUN(ctx, target.LUNCreate{Name: sessTestLUN, Size: sessTestSize}); err != nil {
		tb.Fatal(err)
	}
	if _, err := store.CreateIGroup(ctx, target.IGroupCreate{Name: "hosts", Initiators: []string{sessTestInitiator}}); err != nil {
		tb.Fatal(err)
	}
	id := uint64(0)
	if _, err := store.Map(ctx, target.MapCreate{LUN: sessTestLUN, IGroup: "hosts", LUNID: &id}); err != nil {
		tb.Fatal(err)
	}
	e := &sessEnv{tb: tb, store: store, scfg: scfg}
	e.scfg.Directory = store
	e.scfg.Executor = &target.Engine{}
	e.start("127.0.0.1:0")
	tb.Cleanup(func() {
		e.stop()
		store.Close()
		sessWantNoLeak(tb, before)
	})
	return e
}

// start serves the store on addr.
func (e *sessEnv) start(addr string) {
	e.tb.Helper()
	srv, err := target.NewServer(e.scfg)
	if err != nil {
		e.tb.Fatal(err)
	}
	e.store.SetOnViewChange(srv.ViewChanged)
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	if err != nil {
		e.tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	e.mu.Lock()
	e.srv, e.done, e.addr = srv, done, ln.Addr().String()
	e.mu.Unlock()
}

// stop closes the server and its connections.
func (e *sessEnv) stop() {
	e.mu.Lock()
	srv, done := e.srv, e.done
	e.srv = nil
	e.mu.Unlock()
	if srv == nil {
		return
	}
	e.store.SetOnViewChange(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Close(ctx)
	<-done
}

// config returns a session Config for the environment.
func (e *sessEnv) config() Config {
	return Config{
		InitiatorName: sessTestInitiator,
		TargetName:    sessTestTarget,
		Portal:        e.addr,
		LoginTimeout:  5 * time.Second,
	}
}

// sessDial logs in and closes the session at cleanup.
func sessDial(tb testing.TB, cfg Config) *Session {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
	defer cancel()
	s, err := Dial(ctx, cfg)
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// sessWantNoLeak waits for the goroutine count to fall back to before.
func sessWantNoLeak(tb testing.TB, before int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			tb.Errorf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
			return
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a stand-in for work
	}
}

// sessReadCmd builds a READ(10) of blocks blocks at lba into buf.
func sessReadCmd(tb testing.TB, lba uint64, buf []byte) *Command {
	tb.Helper()
	r := scsi.Read{LBA: lba, Blocks: uint32(len(buf) / sessTestBlock)}
	cdb, err := r.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return &Command{CDB: cdb, DataIn: buf}
}

// sessWriteCmd builds a WRITE(10) of buf at lba.
func sessWriteCmd(tb testing.TB, lba uint64, buf []byte) *Command {
	tb.Helper()
	w := scsi.Write{LBA: lba, Blocks: uint32(len(buf) / sessTestBlock)}
	cdb, err := w.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return &Command{CDB: cdb, DataOut: buf}
}

// sessPattern fills a buffer that names its LBA and a generation.
func sessPattern(lba uint64, gen int, n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 16 {
		copy(b[i:], fmt.Sprintf("%08x-%06d\n", lba+uint64(i/sessTestBlock), gen%1000000))
	}
	return b
}

// sessExec runs cmd and fails the test on error.
func sessExec(tb testing.TB, s *Session, cmd *Command) Response {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
	defer cancel()
	resp, err := s.Execute(ctx, cmd)
	if err != nil {
		tb.Fatalf("Execute %x: %v", cmd.CDB[0], err)
	}
	return resp
}

// sessWantErr checks that err matches want.
func sessWantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("error %v, want %v", err, want)
	}
}

func TestSessionWriteReadWholeLUN(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	if s.State() != StateLoggedIn {
		t.Fatalf("state %v", s.State())
	}
	p := s.Params()
	if p.TargetName != sessTestTarget || !p.ImmediateData || p.InitialR2T || p.InitiatorMaxRecvDSL != DefaultMaxRecvDataSegmentLength {
		t.Fatalf("params: %v", p)
	}
	// Writes of mixed sizes from many goroutines cover the whole LUN:
	// immediate data, unsolicited Data-Out and R2Ts beyond FirstBurstLength.
	const chunk = 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, sessTestSize/chunk)
	for off := 0; off < sessTestSize; off += chunk {
		wg.Add(1)
		go func(off int) {
			defer wg.Done()
			lba := uint64(off / sessTestBlock)
			ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
			defer cancel()
			if _, err := s.Execute(ctx, sessWriteCmd(t, lba, sessPattern(lba, 1, chunk))); err != nil {
				errs <- err
			}
		}(off)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Verified reads, concurrently, in sizes that need several Data-In.
	for _, size := range []int{4096, 1 << 20} {
		var rg sync.WaitGroup
		rerr := make(chan error, sessTestSize/size)
		for off := 0; off < sessTestSize; off += size {
			rg.Add(1)
			go func(off int) {
				defer rg.Done()
				lba := uint64(off / sessTestBlock)
				buf := make([]byte, size)
				ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
				defer cancel()
				resp, err := s.Execute(ctx, sessReadCmd(t, lba, buf))
				if err != nil {
					rerr <- err
					return
				}
				if resp.DataIn != size || resp.Residual != 0 || resp.Status != scsi.StatusGood {
					rerr <- fmt.Errorf("read at %d: %+v", lba, resp)
					return
				}
				want := sessPattern(lba, 1, size)
				if !bytes.Equal(buf, want) {
					rerr <- fmt.Errorf("read at LBA %d: data differs", lba)
				}
			}(off)
		}
		rg.Wait()
		close(rerr)
		for err := range rerr {
			t.Fatal(err)
		}
	}
}

func TestSessionCheckCondition(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	// A read beyond the end: ILLEGAL REQUEST, LBA OUT OF RANGE.
	buf := make([]byte, 4096)
	ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
	defer cancel()
	resp, err := s.Execute(ctx, sessReadCmd(t, sessTestSize/sessTestBlock, buf))
	if !errors.Is(err, scsi.LBAOutOfRange()) {
		t.Fatalf("error %v, want LBA OUT OF RANGE", err)
	}
	if resp.Status != scsi.StatusCheckCondition || len(resp.Sense) == 0 {
		t.Fatalf("response %+v", resp)
	}
	// A LUN that is not mapped.
	tur := &Command{LUN: 5, CDB: make([]byte, 6)}
	if _, err := s.Execute(ctx, tur); err == nil {
		t.Fatal("TEST UNIT READY on an unmapped LUN succeeded")
	}
	// Malformed commands never reach the wire.
	for _, c := range []*Command{nil, {}, {CDB: []byte{0}, LUN: 1 << 20}, {CDB: []byte{0}, DataIn: buf, DataOut: buf}} {
		if _, err := s.Execute(ctx, c); !errors.Is(err, ErrCommand) {
			t.Fatalf("command %+v: %v", c, err)
		}
	}
}

func TestSessionCancellationsNeverWedge(t *testing.T) {
	env := sessStart(t, target.ServerConfig{QueueDepth: 8})
	cfg := env.config()
	cfg.QueueDepth = 4
	s := sessDial(t, cfg)
	buf := make([]byte, 1<<20)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rb := make([]byte, 64<<10)
			for i := 0; i < 100; i++ {
				ctx, cancel := context.WithCancel(context.Background())
				if i%3 == 0 {
					cancel()
				} else {
					context.AfterFunc(ctx, func() {})
					go cancel()
				}
				var cmd *Command
				if i%2 == 0 {
					cmd = sessWriteCmd(t, uint64(i%64)*128, buf)
				} else {
					cmd = sessReadCmd(t, uint64(i%64)*128, rb)
				}
				_, err := s.Execute(ctx, cmd)
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Execute: %v", err)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	// The window and the slots are all back: a full queue depth of
	// normal commands completes.
	var ng sync.WaitGroup
	for i := 0; i < 16; i++ {
		ng.Add(1)
		go func(i int) {
			defer ng.Done()
			lba := uint64(i * 8)
			sessExec(t, s, sessWriteCmd(t, lba, sessPattern(lba, 7, 4096)))
			rb := make([]byte, 4096)
			sessExec(t, s, sessReadCmd(t, lba, rb))
			if !bytes.Equal(rb, sessPattern(lba, 7, 4096)) {
				t.Errorf("LBA %d: data differs", lba)
			}
		}(i)
	}
	ng.Wait()
	s.mu.Lock()
	free, n := len(s.free), len(s.slots)
	s.mu.Unlock()
	if free != n {
		t.Fatalf("%d of %d task slots free after the commands ended", free, n)
	}
}

func TestSessionLogoutAndClose(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
	defer cancel()
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if s.State() != StateClosed {
		t.Fatalf("state %v after Logout", s.State())
	}
	if _, err := s.Execute(ctx, &Command{CDB: make([]byte, 6)}); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Execute after Logout: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// The event channel reports the state change and is closed.
	var sawClosed bool
	for ev := range s.Events() {
		if ev.Kind == EventState && ev.State == StateClosed {
			sawClosed = true
		}
	}
	if !sawClosed {
		t.Fatal("no StateClosed event")
	}
	// Close with commands in flight never blocks.
	s2 := sessDial(t, env.config())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			s2.Execute(context.Background(), sessReadCmd(t, 0, buf))
		}()
	}
	s2.Close()
	wg.Wait()
}

func TestSessionEventsNeverBlock(t *testing.T) {
	s := &Session{events: make(chan Event, 2)}
	for i := 0; i < 5; i++ {
		s.emit(Event{Kind: EventAsync, LUN: uint64(i)})
	}
	if got := s.DroppedEvents(); got != 3 {
		t.Fatalf("dropped %d, want 3", got)
	}
	if ev := <-s.events; ev.LUN != 3 {
		t.Fatalf("oldest kept event LUN %d, want 3", ev.LUN)
	}
}

// Events emitted before anybody asks for the channel wait for it, in
// order, however many there are (up to the channel's buffer).
func TestSessionEventsBeforeEvents(t *testing.T) {
	var s Session
	const n = len(s.evEarly) + 2 // past the early slots: the channel is made
	for i := range n {
		s.emit(Event{Kind: EventAsync, LUN: uint64(i)})
	}
	ch := s.Events()
	for i := range n {
		if ev := <-ch; ev.LUN != uint64(i) {
			t.Fatalf("event %d: LUN %d, want %d", i, ev.LUN, i)
		}
	}
	if len(ch) != 0 || s.DroppedEvents() != 0 {
		t.Fatalf("%d more events, %d dropped; want none", len(ch), s.DroppedEvents())
	}
}

// A session that logs out before anybody asked for its events still
// hands them over, on a closed channel.
func TestSessionEventsAfterClose(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	if err := s.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	var states []State
	for ev := range s.Events() {
		if ev.Kind == EventState {
			states = append(states, ev.State)
		}
	}
	if len(states) == 0 || states[len(states)-1] != StateClosed {
		t.Fatalf("state events %v, want them to end with %v", states, StateClosed)
	}
}

func TestConfigValidate(t *testing.T) {
	good := Config{InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: "127.0.0.1:3260"}
	tests := []struct {
		name string
		mod  func(c *Config)
	}{
		{"no initiator", func(c *Config) { c.InitiatorName = "" }},
		{"bad initiator", func(c *Config) { c.InitiatorName = "host1" }},
		{"bad target", func(c *Config) { c.TargetName = "x" }},
		{"no portal", func(c *Config) { c.Portal = "" }},
		{"short secret", func(c *Config) { c.CHAP = &CHAP{Name: "u", Secret: []byte("short")} }},
		{"mutual without chap", func(c *Config) { c.MutualCHAP = &CHAP{Name: "t", Secret: []byte("0123456789abcdef")} }},
		{"small MRDSL", func(c *Config) { c.MaxRecvDataSegmentLength = 100 }},
		{"first burst above max", func(c *Config) { c.FirstBurstLength, c.MaxBurstLength = 1<<20, 65536 }},
		{"queue depth", func(c *Config) { c.QueueDepth = MaxQueueDepth + 1 }},
		{"digest", func(c *Config) { c.HeaderDigest = []string{"MD5"} }},
		{"reserved ISID", func(c *Config) { c.ISID = iscsi.ISID{0xc0} }},
	}
	c := good.withDefaults()
	if err := c.validate(true); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tt := range tests {
		c := good
		tt.mod(&c)
		c = c.withDefaults()
		if err := c.validate(true); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tt.name, err)
		}
	}
	if _, err := Dial(context.Background(), Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Dial with zero Config: %v", err)
	}
	// The derived ISID is stable per (initiator, target) and differs
	// between targets.
	a, b := good.withDefaults(), good.withDefaults()
	other := good
	other.TargetName = sessTestTarget + "2"
	if a.ISID != b.ISID || a.ISID == other.withDefaults().ISID || !a.ISID.Valid() {
		t.Fatalf("ISIDs %v %v %v", a.ISID, b.ISID, other.withDefaults().ISID)
	}
	if p := (Config{Portal: "10.0.0.1"}).withDefaults().Portal; p != "10.0.0.1:3260" {
		t.Fatalf("portal %q", p)
	}
	if !strings.Contains(ErrSessionFailed.Error(), "initiator:") {
		t.Fatal("error prefix")
	}
}

// sessReader returns who reads s's connection.
func sessReader(s *Session) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.reader
}

// sessLaterHolds reports whether c waits in sessLater for its reader's
// start, and checks that every waiting connection knows its place.
func sessLaterHolds(t *testing.T, c *sessConn) bool {
	t.Helper()
	sessLater.mu.Lock()
	defer sessLater.mu.Unlock()
	held := false
	for i, p := range sessLater.pending {
		if p.c.laterAt != i+1 {
			t.Fatalf("pending start %d: its connection says it is at %d", i, p.c.laterAt-1)
		}
		held = held || p.c == c
	}
	if !held && c.laterAt != 0 {
		t.Fatalf("connection says it is at %d, not there", c.laterAt-1)
	}
	return held
}

// A session that ends before its reader's delayed start leaves the list
// of pending starts at once: a loop of short sessions kept about a
// second's worth of them (and their buffers) alive.
func TestSessionLaterForgetsEnded(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	var ss []*Session
	var cs []*sessConn
	for i := range 3 {
		cfg := env.config()
		// Three sessions, none reinstating another; each reader waits
		// sessReaderDelay to start.
		cfg.ISID = iscsi.ISID{0x80, 0, 0, 0x1a, 0x7e, byte(i + 1)}
		cfg.NOPInterval = time.Minute
		s := sessDial(t, cfg)
		s.mu.Lock()
		c := s.conn
		s.mu.Unlock()
		if !sessLaterHolds(t, c) {
			t.Fatalf("session %d: no pending reader start after the login", i)
		}
		ss, cs = append(ss, s), append(cs, c)
	}
	// The first, whose place the last takes, then the others.
	for _, i := range []int{0, 2, 1} {
		if err := ss[i].Logout(context.Background()); err != nil {
			t.Fatalf("session %d: Logout: %v", i, err)
		}
		if sessLaterHolds(t, cs[i]) {
			t.Fatalf("session %d: still waits for its reader's start after its logout", i)
		}
		for j, c := range cs {
			if ss[j].State() == StateLoggedIn && !sessLaterHolds(t, c) {
				t.Fatalf("session %d: lost its pending start when session %d logged out", j, i)
			}
		}
	}
}

// A reader started before its time leaves the pending starts, and the
// shared timer stops once nothing waits for it: a pending timer makes an
// idle thread of the runtime wake for every answer the reader takes.
func TestSessionLaterStopsTimer(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.NOPInterval = time.Minute // the reader waits sessReaderDelay
	s := sessDial(t, cfg)
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if !sessLaterHolds(t, c) {
		t.Fatal("no pending reader start after the login")
	}
	s.Events() // starts the reader
	if sessLaterHolds(t, c) {
		t.Fatal("the reader started and its pending start stayed")
	}
	sessLater.mu.Lock()
	n, armed := len(sessLater.pending), sessLater.timer != nil
	sessLater.mu.Unlock()
	if n == 0 && armed {
		t.Fatal("nothing waits to start, and the timer is still armed")
	}
}

// With keepalive pings, a session's reader (and with it the keepalive)
// starts a moment after the login when nothing starts it sooner; a
// session that logs out first never starts it: its Logout reads the
// answer itself.
func TestSessionReaderStartsLater(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.NOPInterval = 100 * time.Millisecond // the reader starts after it
	s := sessDial(t, cfg)
	if r := sessReader(s); r != connReaderNone {
		t.Fatalf("reader %d right after the login, want none yet", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		pinged := s.conn.reader == connReaderOn && s.pingSeq > 0
		s.mu.Unlock()
		if pinged {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reader and keepalive ping 5 s after the login (reader %d)", sessReader(s))
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The same initiator name: log the first session out, or the second
	// would reinstate it.
	if err := s.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	s2, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s2.mu.Lock()
	c := s2.conn
	s2.mu.Unlock()
	if err := s2.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	time.Sleep(3 * cfg.NOPInterval) // past the reader's start
	s2.mu.Lock()
	r := c.reader
	s2.mu.Unlock()
	if r != connReaderLogout {
		t.Fatalf("reader %d after the logout, want the Logout's own (%d)", r, connReaderLogout)
	}
}
