package initiator

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/target"
)

func TestLoginCHAP(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	ctx := context.Background()
	if err := env.store.SetCHAP(ctx, sessTestInitiator, target.CHAPSecret{Name: "host1", Secret: "initiator-secret"}); err != nil {
		t.Fatal(err)
	}
	if err := env.store.SetTargetCHAP(ctx, sessTestTarget, target.CHAPSecret{Name: "lunar", Secret: "target-secret-1"}); err != nil {
		t.Fatal(err)
	}
	right := &CHAP{Name: "host1", Secret: []byte("initiator-secret")}
	tests := []struct {
		name   string
		chap   *CHAP
		mutual *CHAP
		algs   []iscsi.CHAPAlgorithm
		class  uint8
		detail uint8
		err    error
	}{
		{name: "one-way", chap: right},
		{name: "one-way MD5", chap: right, algs: []iscsi.CHAPAlgorithm{iscsi.CHAPMD5}},
		{name: "mutual", chap: right, mutual: &CHAP{Name: "lunar", Secret: []byte("target-secret-1")}},
		{name: "wrong secret", chap: &CHAP{Name: "host1", Secret: []byte("initiator-wrong")},
			class: iscsi.LoginClassInitiatorError, detail: iscsi.LoginDetailAuthenticationFailure},
		{name: "wrong name", chap: &CHAP{Name: "host2", Secret: []byte("initiator-secret")},
			class: iscsi.LoginClassInitiatorError, detail: iscsi.LoginDetailAuthenticationFailure},
		{name: "no CHAP", class: iscsi.LoginClassInitiatorError, detail: iscsi.LoginDetailAuthenticationFailure},
		{name: "mutual wrong target secret", chap: right, mutual: &CHAP{Name: "lunar", Secret: []byte("target-secret-2")},
			err: iscsi.ErrCHAPAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := env.config()
			cfg.CHAP, cfg.MutualCHAP, cfg.CHAPAlgorithms = tt.chap, tt.mutual, tt.algs
			s, err := Dial(ctx, cfg)
			if tt.class == 0 && tt.err == nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				defer s.Close()
				if got := s.Params().AuthMethod; got != iscsi.AuthMethodCHAP {
					t.Fatalf("AuthMethod %q", got)
				}
				sessExec(t, s, &Command{CDB: make([]byte, 6)})
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("login succeeded")
			}
			if tt.err != nil {
				sessWantErr(t, err, tt.err)
				return
			}
			var le *iscsi.LoginError
			if !errors.As(err, &le) || le.Class != tt.class || le.Detail != tt.detail {
				t.Fatalf("error %v, want login status %02x%02x", err, tt.class, tt.detail)
			}
		})
	}
}

func TestLoginRefused(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	ctx := context.Background()
	cfg := env.config()
	cfg.TargetName = "iqn.2026-11.org.lunar:nope"
	_, err := Dial(ctx, cfg)
	var le *iscsi.LoginError
	if !errors.As(err, &le) || le.Class != iscsi.LoginClassInitiatorError || le.Detail != iscsi.LoginDetailNotFound {
		t.Fatalf("unknown target: %v", err)
	}
	cfg = env.config()
	cfg.InitiatorName = "iqn.2026-11.org.example:stranger"
	_, err = Dial(ctx, cfg)
	if !errors.As(err, &le) || le.Detail != iscsi.LoginDetailAuthorizationFailure {
		t.Fatalf("unmapped initiator: %v", err)
	}
	// Nobody listening: a connect error, and a cancelled context.
	cfg = env.config()
	env.stop()
	if _, err := Dial(ctx, cfg); err == nil {
		t.Fatal("Dial to a stopped target succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Dial(cctx, cfg); err == nil {
		t.Fatal("Dial with a cancelled context succeeded")
	}
}

func TestLoginNegotiatesOverrides(t *testing.T) {
	env := sessStart(t, target.ServerConfig{HeaderDigests: true, DataDigests: true})
	cfg := env.config()
	cfg.ImmediateData, cfg.InitialR2T = BoolNo, BoolYes
	// FirstBurstLength is irrelevant with InitialR2T=Yes and ImmediateData=No.
	cfg.MaxRecvDataSegmentLength, cfg.FirstBurstLength, cfg.MaxBurstLength = 16384, 8192, 65536
	cfg.HeaderDigest = []string{iscsi.DigestValueCRC32C}
	cfg.DataDigest = []string{iscsi.DigestValueCRC32C, iscsi.DigestValueNone}
	s := sessDial(t, cfg)
	p := s.Params()
	if p.ImmediateData || !p.InitialR2T || p.InitiatorMaxRecvDSL != 16384 || p.MaxBurstLength != 65536 ||
		!p.HeaderDigest || !p.DataDigest {
		t.Fatalf("params %v", p)
	}
	// Writes go by R2T only; reads come in 16 KiB Data-In PDUs.
	buf := sessPattern(64, 3, 200<<10)
	sessExec(t, s, sessWriteCmd(t, 64, buf))
	got := make([]byte, len(buf))
	sessExec(t, s, sessReadCmd(t, 64, got))
	if string(got) != string(buf) {
		t.Fatal("data differs")
	}
}

func TestLoginConnectBound(t *testing.T) {
	for _, tt := range []struct {
		timeout time.Duration
		want    int
	}{
		{time.Second, 0}, {3 * time.Second, 1}, {6 * time.Second, 1}, {7 * time.Second, 2},
		{DefaultLoginTimeout, 3}, {30 * time.Second, 3}, {31 * time.Second, 4}, {time.Hour, 6},
	} {
		if got := loginSYNCount(tt.timeout); got != tt.want {
			t.Errorf("loginSYNCount(%v) = %d, want %d", tt.timeout, got, tt.want)
		}
	}
	for _, tt := range []struct {
		portal string
		want   bool
	}{
		{"127.0.0.1:3260", true}, {"[::1]:3260", true}, {"[fe80::1%eth0]:3260", true},
		{"localhost:3260", false}, {"san.example:3260", false}, {"127.0.0.1", false},
	} {
		if got := loginIPPortal(tt.portal); got != tt.want {
			t.Errorf("loginIPPortal(%q) = %v, want %v", tt.portal, got, tt.want)
		}
	}
}

// A context that is never cancelled takes the login that the kernel
// bounds: TCP_SYNCNT for the connect, then waits in poll(2) with a
// timeout and no timer.
func TestLoginKernelBound(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config() // LoginTimeout 5 s: kernel-bounded
	s, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	buf := make([]byte, 4096)
	sessExec(t, s, sessReadCmd(t, 0, buf))
	if err := s.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	// Login and logout with no command between: the Logout reads its
	// answer itself.
	s, err = Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := s.Logout(context.Background()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
}

// A target that accepts the connection and never answers: LoginTimeout
// ends the kernel-bounded login with context.DeadlineExceeded.
func TestLoginKernelTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	cfg := Config{InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: ln.Addr().String(),
		LoginTimeout: 3 * time.Second}
	start := time.Now()
	_, err = Dial(context.Background(), cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial to a silent target: %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el < cfg.LoginTimeout {
		t.Fatalf("Dial gave up after %v, before LoginTimeout %v", el, cfg.LoginTimeout)
	}
	if c, ok := <-accepted; ok {
		c.Close()
	}
}

// A target that never answers the Logout: under a context that is never
// cancelled, the Logout, reading its own answer, runs the keepalive and
// ends with its error once it gives up on the connection (NOPInterval
// and NOPTimeout).
func TestLogoutSilentTarget(t *testing.T) {
	kt := kaStart(t, false) // reads everything, answers nothing
	cfg := Config{
		InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: kt.addr,
		LoginTimeout: 5 * time.Second, NOPInterval: 200 * time.Millisecond, NOPTimeout: 300 * time.Millisecond,
		Reconnect: ReconnectPolicy{Attempts: -1},
	}
	s, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	start := time.Now()
	err = s.Logout(context.Background())
	took := time.Since(start)
	s.Close()
	if !errors.Is(err, ErrConnectionLost) || !errors.Is(err, ErrKeepalive) {
		t.Fatalf("Logout that nobody answered: %v, want ErrConnectionLost and ErrKeepalive", err)
	}
	if took > 5*time.Second {
		t.Fatalf("Logout took %v, want about NOPInterval + NOPTimeout (500ms)", took)
	}
	t.Logf("Logout after %v: %v", took, err)
}

// A connect that fails is reported as the connect's failure, on every
// login path (the first Login Request is made before the connect).
func TestDialConnectRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	portal := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := Config{InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: portal, LoginTimeout: 5 * time.Second}
	bounded, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for name, ctx := range map[string]context.Context{"kernel-bounded": context.Background(), "context": bounded} {
		s, err := Dial(ctx, cfg)
		if err == nil {
			s.Close()
			t.Fatalf("%s: Dial to %s, where nothing listens, succeeded", name, portal)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || !strings.HasPrefix(err.Error(), "initiator: connect "+portal) {
			t.Errorf("%s: %v; want the connect's ECONNREFUSED", name, err)
		}
	}
}
