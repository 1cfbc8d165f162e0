package initiator

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

// asyncCounter checks that every done of a set of asynchronous commands
// runs exactly once.
type asyncCounter struct {
	started atomic.Int64 // commands Start accepted
	mu      sync.Mutex
	calls   map[int]int
	errs    map[int]error
	pending sync.WaitGroup
}

func newAsyncCounter() *asyncCounter {
	return &asyncCounter{calls: map[int]int{}, errs: map[int]error{}}
}

// start issues cmd as command id; done runs then before the counter
// notes the call.
func (a *asyncCounter) start(tb testing.TB, s *Session, ctx context.Context, id int, cmd *Command, then func(Response, error)) error {
	tb.Helper()
	a.pending.Add(1)
	err := s.Start(ctx, cmd, func(r Response, err error) {
		if then != nil {
			then(r, err)
		}
		a.mu.Lock()
		a.calls[id]++
		a.errs[id] = err
		a.mu.Unlock()
		a.pending.Done()
	})
	if err != nil {
		a.pending.Done()
	} else {
		a.started.Add(1)
	}
	return err
}

// wantOnce checks that commands 0..n-1 each had their done called once.
func (a *asyncCounter) wantOnce(tb testing.TB, n int) {
	tb.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for id := 0; id < n; id++ {
		if c := a.calls[id]; c != 1 {
			tb.Fatalf("command %d: done called %d times, want once", id, c)
		}
	}
	if len(a.calls) != n {
		tb.Fatalf("%d commands called back, want %d", len(a.calls), n)
	}
}

// asyncWantSlotsFree checks that every task slot is back.
func asyncWantSlotsFree(tb testing.TB, s *Session) {
	tb.Helper()
	s.mu.Lock()
	free, n := len(s.free), len(s.slots)
	s.mu.Unlock()
	if free != n {
		tb.Fatalf("%d of %d task slots free", free, n)
	}
	if k := len(s.sem); k != 0 {
		tb.Fatalf("%d queue depth tokens still taken", k)
	}
}

// asyncSettle runs plain commands until every task slot is free or 100
// have run: the done of a cancelled command can run before the answer to
// its ABORT TASK arrives, and that task management function holds a slot
// until then.
func asyncSettle(tb testing.TB, s *Session) {
	tb.Helper()
	for range 100 {
		s.mu.Lock()
		free, n := len(s.free), len(s.slots)
		s.mu.Unlock()
		if free == n {
			return
		}
		sessExec(tb, s, &Command{CDB: make([]byte, 6)})
	}
}

// TestSessionStartChains writes the whole LUN and reads it back with
// asynchronous commands, each callback issuing the next command of its
// chain, many chains at once.
func TestSessionStartChains(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.QueueDepth = 16
	s := sessDial(t, cfg)
	const chunk = 64 << 10
	// 8 chains and 4 Execute goroutines stay within the queue depth: a
	// chain's next Start never meets a full queue.
	const chains = 8
	const per = sessTestSize / chunk / chains
	ctx := context.Background()
	for _, write := range []bool{true, false} {
		var wg sync.WaitGroup
		var failed atomic.Value
		// Goroutines calling Execute share the session meanwhile; they
		// may find the queue depth taken and wait for it.
		stopSync := make(chan struct{})
		var syncWG sync.WaitGroup
		for g := 0; g < 4; g++ {
			syncWG.Add(1)
			go func() {
				defer syncWG.Done()
				for {
					select {
					case <-stopSync:
						return
					default:
					}
					if _, err := s.Execute(ctx, &Command{CDB: make([]byte, 6)}); err != nil {
						failed.Store(err)
						return
					}
				}
			}()
		}
		for ch := 0; ch < chains; ch++ {
			wg.Add(1)
			buf := make([]byte, chunk)
			var cmd *Command
			var next func(i int)
			next = func(i int) {
				if i == per {
					wg.Done()
					return
				}
				lba := uint64((ch*per + i) * chunk / sessTestBlock)
				if write {
					copy(buf, sessPattern(lba, 3, chunk))
					cmd = sessWriteCmd(t, lba, buf)
				} else {
					clear(buf)
					cmd = sessReadCmd(t, lba, buf)
				}
				err := s.Start(ctx, cmd, func(r Response, err error) {
					switch {
					case err != nil:
						failed.Store(err)
					case !write && (r.DataIn != chunk || !bytes.Equal(buf, sessPattern(lba, 3, chunk))):
						failed.Store(errors.New("read back data differs"))
					}
					next(i + 1)
				})
				if err != nil {
					failed.Store(err)
					wg.Done()
				}
			}
			next(0)
		}
		wg.Wait()
		close(stopSync)
		syncWG.Wait()
		if err, _ := failed.Load().(error); err != nil {
			t.Fatalf("write=%v: %v", write, err)
		}
	}
	asyncWantSlotsFree(t, s)
	// Execute and Start share the session.
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
}

// TestSessionStartErrors checks the commands Start refuses: done is never
// called for them.
func TestSessionStartErrors(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.QueueDepth = 2
	s := sessDial(t, cfg)
	ctx := context.Background()
	never := func(Response, error) { t.Error("done called for a command Start refused") }
	tur := &Command{CDB: make([]byte, 6)}
	if err := s.Start(ctx, tur, nil); !errors.Is(err, ErrCommand) {
		t.Fatalf("nil done: %v", err)
	}
	for _, c := range []*Command{nil, {}, {CDB: []byte{0}, LUN: 1 << 20}, {CDB: make([]byte, 6), Attr: 9}} {
		if err := s.Start(ctx, c, never); !errors.Is(err, ErrCommand) {
			t.Fatalf("command %+v: %v", c, err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Start(cctx, tur, never); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	// A full queue depth: a callback that holds the reader keeps the
	// answers to the next two commands unread, so they keep their
	// tokens and a third is refused. (A command's token is given back
	// before its done runs, so that done may issue the next.)
	entered, release := make(chan struct{}), make(chan struct{})
	a := newAsyncCounter()
	if err := a.start(t, s, ctx, 0, sessReadCmd(t, 0, make([]byte, 4096)), func(Response, error) {
		close(entered)
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	<-entered
	for i := 1; i <= 2; i++ {
		if err := a.start(t, s, ctx, i, sessReadCmd(t, 0, make([]byte, 4096)), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Start(ctx, tur, never); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("command beyond QueueDepth 2: %v", err)
	}
	close(release)
	a.pending.Wait()
	a.wantOnce(t, 3)
	// The encode failure left no CmdSN gap: commands still complete.
	sessExec(t, s, tur)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, tur, never); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

// TestSessionStartCancel cancels asynchronous commands in a tight loop,
// before and while they run: every done runs once, with the command's
// result or the context's error, and the window never wedges.
func TestSessionStartCancel(t *testing.T) {
	env := sessStart(t, target.ServerConfig{QueueDepth: 8})
	cfg := env.config()
	cfg.QueueDepth = 8
	s := sessDial(t, cfg)
	a := newAsyncCounter()
	buf := make([]byte, 1<<20)
	const n = 400
	var issued int
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		var cmd *Command
		if i%2 == 0 {
			cmd = sessWriteCmd(t, uint64(i%64)*128, buf)
		} else {
			cmd = sessReadCmd(t, uint64(i%64)*128, make([]byte, 64<<10))
		}
		err := a.start(t, s, ctx, issued, cmd, func(_ Response, err error) {
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("done: %v", err)
			}
		})
		switch {
		case err == nil:
			issued++
		case errors.Is(err, ErrQueueFull):
			// Wait for a slot with a plain command.
			sessExec(t, s, &Command{CDB: make([]byte, 6)})
		default:
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			cancel()
		case 1:
			go cancel()
		default:
			defer cancel()
		}
	}
	a.pending.Wait()
	a.wantOnce(t, issued)
	asyncSettle(t, s)
	asyncWantSlotsFree(t, s)
	// A full queue depth of normal commands completes.
	b := newAsyncCounter()
	for i := 0; i < 8; i++ {
		lba := uint64(i * 8)
		if err := b.start(t, s, context.Background(), i, sessWriteCmd(t, lba, sessPattern(lba, 9, 4096)), nil); err != nil {
			t.Fatal(err)
		}
	}
	b.pending.Wait()
	b.wantOnce(t, 8)
	for id, err := range b.errs {
		if err != nil {
			t.Fatalf("command %d: %v", id, err)
		}
	}
}

// TestSessionStartConnectionLoss loses the connection with asynchronous
// commands pending: when the session fails, and when it is closed, every
// done runs exactly once, with the typed error, before Close returns.
func TestSessionStartConnectionLoss(t *testing.T) {
	for _, how := range []string{"fail", "close"} {
		t.Run(how, func(t *testing.T) {
			env := sessStart(t, target.ServerConfig{})
			cfg := env.config()
			cfg.QueueDepth = 64
			cfg.Reconnect = ReconnectPolicy{Attempts: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
			s := sessDial(t, cfg)
			a := newAsyncCounter()
			var n atomic.Int64
			var issue func(id int)
			// Chains that go on until the session stops them; the
			// first 64 ids are the chains' heads.
			var ids atomic.Int64
			ids.Store(64)
			issue = func(id int) {
				lba := uint64(id%128) * 16
				err := a.start(t, s, context.Background(), id, sessReadCmd(t, lba, make([]byte, 8192)), func(_ Response, err error) {
					n.Add(1)
					if err == nil {
						issue(int(ids.Add(1) - 1))
					}
				})
				if err != nil && !errors.Is(err, ErrSessionFailed) && !errors.Is(err, ErrSessionClosed) {
					t.Errorf("Start: %v", err)
				}
			}
			for i := 0; i < 64; i++ {
				issue(i)
			}
			for n.Load() < 500 {
				runtime.Gosched()
			}
			switch how {
			case "fail":
				env.stop()
				a.pending.Wait()
				if st := s.State(); st != StateFailed {
					t.Fatalf("state %v", st)
				}
			case "close":
				s.Close()
				// Every callback ran before Close returned.
				a.mu.Lock()
				called := len(a.calls)
				a.mu.Unlock()
				if int64(called) != a.started.Load() {
					t.Fatalf("%d callbacks when Close returned, %d commands", called, a.started.Load())
				}
			}
			a.pending.Wait()
			a.mu.Lock()
			var failures int
			for _, err := range a.errs {
				if err == nil {
					continue
				}
				failures++
				want := ErrSessionClosed
				if how == "fail" {
					want = ErrSessionFailed
				}
				if !errors.Is(err, want) {
					a.mu.Unlock()
					t.Fatalf("done error %v, want %v", err, want)
				}
			}
			for id, c := range a.calls {
				if c != 1 {
					a.mu.Unlock()
					t.Fatalf("command %d: done called %d times", id, c)
				}
			}
			a.mu.Unlock()
			if failures == 0 {
				t.Fatal("no command was pending when the connection went")
			}
			asyncWantSlotsFree(t, s)
		})
	}
}

// TestSessionStartReconnect restarts the target under asynchronous
// chains: the commands are re-issued on the new connection and every
// acknowledged write reads back.
func TestSessionStartReconnect(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.Reconnect = ReconnectPolicy{Attempts: 100, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	s := sessDial(t, cfg)
	const chains = 8
	gens := make([]atomic.Int64, chains)
	var done atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var failed atomic.Value
	for ch := 0; ch < chains; ch++ {
		wg.Add(1)
		lba := uint64(ch * 8)
		buf := make([]byte, 4096)
		var next func(gen int)
		next = func(gen int) {
			if stop.Load() {
				wg.Done()
				return
			}
			copy(buf, sessPattern(lba, gen, 4096))
			err := s.Start(context.Background(), sessWriteCmd(t, lba, buf), func(_ Response, err error) {
				if err != nil {
					failed.Store(err)
					wg.Done()
					return
				}
				gens[ch].Store(int64(gen))
				done.Add(1)
				next(gen + 1)
			})
			if err != nil {
				failed.Store(err)
				wg.Done()
			}
		}
		next(1)
	}
	waitDone := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(sessTestTimeout)
		for done.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged", done.Load())
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}
	waitDone(200)
	addr := env.addr
	env.stop()
	before := done.Load()
	env.start(addr)
	waitDone(before + 200)
	stop.Store(true)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("write across the restart: %v", err)
	}
	for ch := range gens {
		lba := uint64(ch * 8)
		buf := make([]byte, 4096)
		sessExec(t, s, sessReadCmd(t, lba, buf))
		if !bytes.Equal(buf, sessPattern(lba, int(gens[ch].Load()), 4096)) {
			t.Fatalf("LBA %d: acknowledged generation %d lost", lba, gens[ch].Load())
		}
	}
	asyncWantSlotsFree(t, s)
}

// TestSessionStartUnitAttention checks that Start retries a command after
// an informational unit attention, as Execute does, and reports it.
func TestSessionStartUnitAttention(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	events := s.Events()
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
	// Resizing the LUN raises CAPACITY DATA HAS CHANGED on the session.
	if _, err := env.store.ResizeLUN(context.Background(), sessTestLUN, target.LUNResize{Size: 2 * sessTestSize}); err != nil {
		t.Skipf("the target cannot resize a LUN here: %v", err)
	}
	res := make(chan error, 1)
	if err := s.Start(context.Background(), sessReadCmd(t, 0, make([]byte, 4096)), func(_ Response, err error) { res <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatalf("read after the resize: %v", err)
	}
	deadline := time.After(sessTestTimeout)
	for {
		select {
		case ev := <-events:
			if ev.Kind == EventUnitAttention && ev.Sense == scsi.SenseCapacityDataHasChanged {
				return
			}
		case <-deadline:
			t.Fatal("no unit attention event")
		}
	}
}

// TestSessionLazyReader checks that a session without keepalive starts
// no goroutine until it needs one, logs out reading the answer itself,
// and still runs commands and reports asynchronous events.
func TestSessionLazyReader(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.NOPInterval = -1
	ctx := context.Background()
	s, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	reader := s.conn.reader
	s.mu.Unlock()
	s.conn.wmu.Lock()
	writer := s.conn.writerOn
	s.conn.wmu.Unlock()
	if reader != connReaderNone || writer {
		t.Fatalf("reader %d, writer %v after Dial", reader, writer)
	}
	if err := s.Logout(ctx); err != nil {
		t.Fatalf("Logout without a reader: %v", err)
	}
	if s.State() != StateClosed {
		t.Fatalf("state %v", s.State())
	}
	// Close without a reader.
	s2, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	// A command starts the reader; Logout then goes through it.
	s3, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	sessExec(t, s3, &Command{CDB: make([]byte, 6)})
	if err := s3.Logout(ctx); err != nil {
		t.Fatalf("Logout with a reader: %v", err)
	}
	// Events starts it too.
	s4, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s4.Events()
	s4.mu.Lock()
	reader = s4.conn.reader
	s4.mu.Unlock()
	if reader != connReaderOn {
		t.Fatalf("reader %d after Events", reader)
	}
	if err := s4.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	// So does a task management function.
	s6, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s6.LUNReset(ctx, 0); err != nil {
		t.Fatalf("LUNReset as the first exchange: %v", err)
	}
	if err := s6.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	// A cancelled Logout without a reader returns and closes.
	s5, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s5.Logout(cctx)
	if s5.State() != StateClosed {
		t.Fatalf("state %v after a cancelled Logout", s5.State())
	}
}
