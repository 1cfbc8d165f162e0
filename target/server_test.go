package target

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
	"github.com/lunarsan/lunar/iscsi"
)

func TestServerConfigValidate(t *testing.T) {
	dir, exec := newConnFakeDir(t), newConnFakeExec()
	tests := []struct {
		name string
		cfg  ServerConfig
	}{
		{"no directory", ServerConfig{Executor: exec}},
		{"no executor", ServerConfig{Directory: dir}},
		{"negative queue depth", ServerConfig{Directory: dir, Executor: exec, QueueDepth: -1}},
		{"tiny data segment", ServerConfig{Directory: dir, Executor: exec, MaxRecvDataSegmentLength: 100}},
		{"huge burst", ServerConfig{Directory: dir, Executor: exec, MaxBurstLength: 1 << 30}},
		{"negative sessions", ServerConfig{Directory: dir, Executor: exec, MaxSessionsPerInitiator: -1}},
		{"negative ping", ServerConfig{Directory: dir, Executor: exec, NopInInterval: -time.Second}},
	}
	for _, tc := range tests {
		if _, err := NewServer(tc.cfg); !errors.Is(err, ErrServerConfig) {
			t.Errorf("%s: %v, want ErrServerConfig", tc.name, err)
		}
	}
	srv, err := NewServer(ServerConfig{Directory: dir, Executor: exec})
	if err != nil {
		t.Fatal(err)
	}
	c := srv.cfg
	if c.QueueDepth != 128 || c.MaxRecvDataSegmentLength != 262144 || c.MaxBurstLength != 262144 ||
		c.FirstBurstLength != 65536 || c.TPGT != 1 {
		t.Fatalf("defaults %+v", c)
	}
	if err := srv.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln, ""); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

func TestServerCloseAsksLogoutAndAborts(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 1)})
	<-env.exec.starts
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- env.srv.Close(ctx) }()
	m := connWant[*iscsi.AsyncMessage](t, p)
	if m.AsyncEvent != iscsi.AsyncLogoutRequest {
		t.Fatalf("event %v", m.AsyncEvent)
	}
	// The blocked task does not finish: Close aborts it when ctx ends.
	if err := <-closed; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	p.wantClosed()
	if n := len(env.srv.Sessions()); n != 0 {
		t.Fatalf("%d sessions after Close", n)
	}
}

func TestServerLoginLogoutCycles(t *testing.T) {
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	env := connStart(t, ServerConfig{})
	before := runtime.NumGoroutine()
	for i := range cycles {
		p := connDial(t, env.addr)
		p.mustLogin(connLoginOpts{discovery: i%2 == 1})
		p.logout()
		p.nc.Close()
	}
	if leaked := leakcheck.Wait(before, 5*time.Second); leaked != "" {
		t.Fatalf("goroutines left after %d cycles:\n%s", cycles, leaked)
	}
	for env.srv.Stats().Connections != 0 {
		runtime.Gosched()
	}
	st := env.srv.Stats()
	if st.Sessions != 0 || st.Logins != uint64(cycles) || len(env.srv.Sessions()) != 0 {
		t.Fatalf("after %d cycles: %+v, %d sessions", cycles, st, len(env.srv.Sessions()))
	}
	env.srv.mu.Lock()
	tsihs := len(env.srv.byTSIH)
	env.srv.mu.Unlock()
	if tsihs != 0 {
		t.Fatalf("%d TSIHs still allocated", tsihs)
	}
}

func TestServerSessionsInfo(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{cfg: iscsi.NegotiatorConfig{MaxRecvDataSegmentLength: 8192}})
	ss := env.srv.Sessions()
	if len(ss) != 1 {
		t.Fatalf("%d sessions", len(ss))
	}
	s := ss[0]
	if s.Params.InitiatorMaxRecvDSL != 8192 || s.Params.TargetMaxRecvDSL != 262144 || s.Type != iscsi.SessionNormal ||
		s.Connections[0].RemoteAddr != p.nc.LocalAddr().String() {
		t.Fatalf("session info %+v", s)
	}
	if st := env.srv.Stats(); st.Sessions != 1 || st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
	p.logout()
	// Once the initiator has the Logout Response, the session is gone
	// from the list (a management client checks right after a logout).
	if ss := env.srv.Sessions(); len(ss) != 0 {
		t.Fatalf("%d sessions listed after the logout response", len(ss))
	}
}
