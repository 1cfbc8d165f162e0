package target

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Robustness and security regression tests over the whole target (real
// Store, Engine and Server): LUN-map changes during heavy I/O, login and
// logout cycles, the command latency metrics, and access control.

// robustWantSense checks that r is CHECK CONDITION with sense code code.
func robustWantSense(r scaleResult, code scsi.SenseCode) error {
	if r.status != scsi.StatusCheckCondition || r.sense.Code() != code {
		return fmt.Errorf("status %v sense %q, want CHECK CONDITION %v", r.status, r.sense.String(), code)
	}
	return nil
}

// robustReportLUNs runs REPORT LUNS and returns the LUN numbers.
func robustReportLUNs(p *scalePeer, lun uint16) ([]uint16, error) {
	cdb := make([]byte, 12)
	cdb[0] = 0xa0
	binary.BigEndian.PutUint32(cdb[6:], 4096)
	r, err := p.do(lun, cdb, nil, 4096)
	if err != nil {
		return nil, err
	}
	if r.status != scsi.StatusGood || len(r.data) < 8 {
		return nil, fmt.Errorf("REPORT LUNS: status %v %q, %d bytes", r.status, r.sense.String(), len(r.data))
	}
	n := int(binary.BigEndian.Uint32(r.data)) / 8
	var out []uint16
	for i := range n {
		off := 8 + 8*i
		if off+8 > len(r.data) {
			return nil, fmt.Errorf("REPORT LUNS: list of %d LUNs in %d bytes", n, len(r.data))
		}
		num, err := scsi.LUN(binary.BigEndian.Uint64(r.data[off:])).Number()
		if err != nil {
			return nil, err
		}
		out = append(out, num)
	}
	return out, nil
}

// robustMustDial logs in and fails the test on error.
func robustMustDial(t *testing.T, addr, initiator string, q uint16) *scalePeer {
	t.Helper()
	p, err := scaleDial(addr, initiator, scaleTarget, q)
	if err != nil {
		t.Fatalf("login of %s: %v", initiator, err)
	}
	t.Cleanup(func() { p.nc.Close() })
	return p
}

// TestLUNMapChangesDuringIO: sessions write and read continuously while
// the Store maps and unmaps a LUN, in their own initiator group and in
// another, in a loop. Nothing panics or races, every session hears
// REPORTED LUNS DATA HAS CHANGED, I/O to the LUN that stays mapped never
// fails, I/O to the churned LUN either works or reports LOGICAL UNIT NOT
// SUPPORTED, and every block reads back as last written.
func TestLUNMapChangesDuringIO(t *testing.T) {
	env := scaleStart(t, ServerConfig{})
	ctx := context.Background()
	s := env.store
	const workers, side, cycles = 4, 2, 40
	var work, others []string
	for i := range workers {
		work = append(work, scaleInitiator(i))
	}
	for i := range side {
		others = append(others, scaleInitiator(100+i))
	}
	scaleProvision(t, s, "stable", 2048, 0, "work", 100, work)
	scaleProvision(t, s, "stable2", 2048, 0, "side", 100, others)
	if _, err := s.CreateLUN(ctx, LUNCreate{Name: "churn", Size: 2048 * scaleBlockSize}); err != nil {
		t.Fatal(err)
	}
	one := uint64(1)
	all := append(slices.Clone(work), others...)
	peers := make([]*scalePeer, len(all))
	for i, in := range all {
		peers[i] = robustMustDial(t, env.addr, in, uint16(i))
	}

	var stop atomic.Bool
	var rounds, churnGood, churnGone atomic.Int64
	// lastChurn[i] is what session i last wrote to the churned LUN with
	// GOOD status (nil: zeros).
	lastChurn := make([][]byte, len(all))
	lastStable := make([][]byte, len(all))
	churn := func(i int, p *scalePeer, round int) error {
		lba := uint32(i)
		data := scaleBlock(i+1000, round)
		r, err := p.doRetry(1, scaleCDB10(0x2a, lba, 1), data, 0)
		switch {
		case err != nil:
			return err
		case r.status == scsi.StatusGood:
			lastChurn[i] = data
			churnGood.Add(1)
		default:
			if err := robustWantSense(r, scsi.SenseLUNotSupported); err != nil {
				return fmt.Errorf("WRITE to the churned LUN: %w", err)
			}
			churnGone.Add(1)
		}
		r, err = p.doRetry(1, scaleCDB10(0x28, lba, 1), nil, scaleBlockSize)
		switch {
		case err != nil:
			return err
		case r.status == scsi.StatusGood:
			want := lastChurn[i]
			if want == nil {
				want = make([]byte, scaleBlockSize)
			}
			if !slices.Equal(r.data, want) {
				return fmt.Errorf("churned LUN LBA %d read back differs", lba)
			}
		default:
			if err := robustWantSense(r, scsi.SenseLUNotSupported); err != nil {
				return fmt.Errorf("READ of the churned LUN: %w", err)
			}
		}
		return nil
	}
	ioErr := scaleParallel(len(all)+1, func(i int) error {
		if i == len(all) {
			// The churner: map and unmap the LUN for both groups; the
			// sessions' own group keeps its LUN 0 throughout.
			defer stop.Store(true)
			for range cycles {
				if _, err := s.Map(ctx, MapCreate{LUN: "churn", IGroup: "work-0", LUNID: &one}); err != nil {
					return err
				}
				if _, err := s.Map(ctx, MapCreate{LUN: "churn", IGroup: "side-0", LUNID: &one}); err != nil {
					return err
				}
				if err := s.Unmap(ctx, "", "work-0", 1); err != nil {
					return err
				}
				if err := s.Unmap(ctx, "", "side-0", 1); err != nil {
					return err
				}
			}
			return nil
		}
		p := peers[i]
		for round := 1; round == 1 || !stop.Load(); round++ {
			rounds.Add(1)
			data := scaleBlock(i, round)
			if err := p.writeBlock(0, uint32(i), data); err != nil {
				return err
			}
			got, err := p.readBlock(0, uint32(i))
			if err != nil {
				return err
			}
			if !slices.Equal(got, data) {
				return fmt.Errorf("LUN 0 LBA %d read back differs in round %d", i, round)
			}
			lastStable[i] = data
			if err := churn(i, p, round); err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			if round%8 == 0 {
				luns, err := robustReportLUNs(p, 0)
				if err != nil {
					return err
				}
				if !slices.Contains(luns, 0) {
					return fmt.Errorf("REPORT LUNS %v lacks LUN 0", luns)
				}
			}
		}
		return nil
	})
	if ioErr != nil {
		t.Fatal(ioErr)
	}
	t.Logf("%d rounds; churned LUN: %d writes GOOD, %d LOGICAL UNIT NOT SUPPORTED", rounds.Load(), churnGood.Load(), churnGone.Load())

	// The churned LUN is unmapped now: each session is told, cannot
	// reach it, and still reads its own LUN intact.
	for i, p := range peers {
		if p.lunsChanged == 0 {
			t.Errorf("session %d got no REPORTED LUNS DATA HAS CHANGED message (%d messages)", i, p.async)
		}
		for _, op := range []byte{0x28, 0x2a} {
			var out []byte
			in := scaleBlockSize
			if op == 0x2a {
				out, in = scaleBlock(i, 0), 0
			}
			r, err := p.doRetry(1, scaleCDB10(op, 0, 1), out, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := robustWantSense(r, scsi.SenseLUNotSupported); err != nil {
				t.Fatalf("session %d, opcode %#x to the unmapped LUN: %v", i, op, err)
			}
		}
		got, err := p.readBlock(0, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, lastStable[i]) {
			t.Fatalf("session %d: LUN 0 differs after the churn", i)
		}
	}
	// Mapped again, the churned LUN holds what each session last wrote.
	if _, err := s.Map(ctx, MapCreate{LUN: "churn", IGroup: "work-0", LUNID: &one}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Map(ctx, MapCreate{LUN: "churn", IGroup: "side-0", LUNID: &one}); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers {
		got, err := p.readBlock(1, uint32(i))
		if err != nil {
			t.Fatal(err)
		}
		want := lastChurn[i]
		if want == nil {
			want = make([]byte, scaleBlockSize)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("session %d: churned LUN differs after remapping", i)
		}
		if err := p.logout(); err != nil {
			t.Fatal(err)
		}
	}
	if n := env.srv.Stats().Errors[ErrorKindPanic]; n != 0 {
		t.Fatalf("%d panics", n)
	}
	scaleCheckIdle(t, env.srv)
}

// robustLoginEnv is a target with one LUN mapped to initiator.
func robustLoginEnv(tb testing.TB, initiator string) *scaleEnv {
	tb.Helper()
	env := scaleStart(tb, ServerConfig{})
	scaleProvision(tb, env.store, "cycles", 2048, 0, "cycles", 1, []string{initiator})
	return env
}

// robustCycle logs in and out once; every other cycle also runs a
// command.
func robustCycle(addr, initiator string, q uint16, io bool) error {
	p, err := scaleDial(addr, initiator, scaleTarget, q)
	if err != nil {
		return err
	}
	if io {
		if _, err := p.readBlock(0, uint32(q)%2048); err != nil {
			p.nc.Close()
			return err
		}
	}
	return p.logout()
}

// TestLoginLogoutCyclesNoLeak: login and logout cycles from parallel
// initiators leave no session, TSIH, connection or goroutine behind, and
// the heap does not grow with the cycles.
func TestLoginLogoutCyclesNoLeak(t *testing.T) {
	const parallel, warm, cycles = 4, 100, 600
	in := scaleInitiator(7)
	env := robustLoginEnv(t, in)
	goroutines := runtime.NumGoroutine()
	run := func(n int) {
		t.Helper()
		err := scaleParallel(parallel, func(g int) error {
			for i := range n {
				if err := robustCycle(env.addr, in, uint16(g), i%2 == 0); err != nil {
					return fmt.Errorf("cycle %d: %w", i, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		scaleCheckIdle(t, env.srv)
	}
	run(warm)
	heapWarm := scaleMemInUse()
	run(cycles)
	heapAfter := scaleMemInUse()
	if leaked := leakcheck.Wait(goroutines, 10*time.Second); leaked != "" {
		t.Fatalf("goroutines left after the cycles:\n%s", leaked)
	}
	if got, want := env.srv.Stats().Logins, uint64(parallel*(warm+cycles)); got != want {
		t.Fatalf("%d logins counted, want %d", got, want)
	}
	// The bound allows for allocator noise (span reuse, pools), far
	// below what keeping a session per cycle would cost.
	const bound = 4 << 20
	t.Logf("%d cycles: heap+stack %d KiB after warm-up, %d KiB after", parallel*cycles, heapWarm>>10, heapAfter>>10)
	if heapAfter > heapWarm+bound {
		t.Fatalf("heap grew from %d to %d bytes over %d cycles", heapWarm, heapAfter, parallel*cycles)
	}
}

// BenchmarkLoginLogout runs b.N login/logout cycles of one initiator
// (every other one with a READ) and reports the heap before and after.
// The soak is -benchtime=100000x.
func BenchmarkLoginLogout(b *testing.B) {
	in := scaleInitiator(8)
	env := robustLoginEnv(b, in)
	before := scaleMemInUse()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := robustCycle(env.addr, in, uint16(i), i%2 == 0); err != nil {
			b.Fatalf("cycle %d: %v", i, err)
		}
		i++
	}
	b.StopTimer()
	scaleCheckIdle(b, env.srv)
	after := scaleMemInUse()
	b.ReportMetric(float64(before)/1024, "heap-before-KiB")
	b.ReportMetric(float64(after)/1024, "heap-after-KiB")
}

// TestMetricsCommandLatency: executed commands land in the latency
// histogram of their kind, and /metrics exports them.
func TestMetricsCommandLatency(t *testing.T) {
	in := scaleInitiator(9)
	env := robustLoginEnv(t, in)
	p := robustMustDial(t, env.addr, in, 1)
	// TEST UNIT READY takes the POWER ON unit attention ("other").
	if _, err := p.do(0, make([]byte, 6), nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.writeBlock(0, 3, scaleBlock(3, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.readBlock(0, 3); err != nil {
		t.Fatal(err)
	}
	st := env.srv.Stats()
	want := map[string]uint64{"read": 1, "write": 1, "other": 1}
	if len(st.Latency) != len(want) {
		t.Fatalf("%d histograms", len(st.Latency))
	}
	for _, h := range st.Latency {
		if h.Count != want[h.Op] {
			t.Errorf("%s: count %d, want %d", h.Op, h.Count, want[h.Op])
		}
		if h.Sum <= 0 || h.Sum > 60 {
			t.Errorf("%s: sum %v s", h.Op, h.Sum)
		}
		if len(h.Buckets) != len(latencyBuckets) || h.Buckets[10] != h.Count {
			t.Errorf("%s: buckets %v", h.Op, h.Buckets)
		}
	}

	m := NewMetrics(MetricsConfig{Store: env.store, Source: env.srv.Stats})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, line := range []string{
		`lunar_target_command_duration_seconds_count{op="read"} 1`,
		`lunar_target_command_duration_seconds_count{op="write"} 1`,
		`lunar_target_command_duration_seconds_bucket{op="read",le="10"} 1`,
		`lunar_target_command_duration_seconds_bucket{op="read",le="+Inf"} 1`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if err := p.logout(); err != nil {
		t.Fatal(err)
	}
}

// TestSecurityUnmappedInitiator: through a real Store, an initiator
// without a map cannot log in to a Normal session (AUTHORIZATION
// FAILURE), learns no target by SendTargets, and a mapped initiator
// reaches only its own LUNs; unmapping its last LUN cuts it off.
func TestSecurityUnmappedInitiator(t *testing.T) {
	env := scaleStart(t, ServerConfig{})
	ctx := context.Background()
	s := env.store
	owner, other, stranger := scaleInitiator(1), scaleInitiator(2), scaleInitiator(3)
	scaleProvision(t, s, "a", 2048, 0, "owners", 10, []string{owner})
	scaleProvision(t, s, "b", 2048, 0, "others", 10, []string{other})
	if _, err := s.CreateLUN(ctx, LUNCreate{Name: "c", Size: 2048 * scaleBlockSize}); err != nil {
		t.Fatal(err)
	}
	one := uint64(1)
	if _, err := s.Map(ctx, MapCreate{LUN: "c", IGroup: "others-0", LUNID: &one}); err != nil {
		t.Fatal(err)
	}
	const target2 = "iqn.2026-11.org.lunar:second"
	if _, err := s.CreateTarget(ctx, TargetCreate{Name: target2}); err != nil {
		t.Fatal(err)
	}
	wantRefused := func(initiator, target string) {
		t.Helper()
		_, err := scaleDial(env.addr, initiator, target, 9)
		var le *scaleLoginError
		if !errors.As(err, &le) || le.class != iscsi.LoginClassInitiatorError || le.detail != iscsi.LoginDetailAuthorizationFailure {
			t.Fatalf("login of %s to %s: %v, want AUTHORIZATION FAILURE (0x0202)", initiator, target, err)
		}
	}
	wantRefused(stranger, scaleTarget)
	// A map on one target opens no other.
	wantRefused(owner, target2)

	// Discovery: the stranger learns nothing, the owner its target only.
	for _, tc := range []struct {
		initiator string
		want      []iscsi.KeyValue
	}{
		{stranger, nil},
		{owner, []iscsi.KeyValue{{Key: iscsi.KeyTargetName, Value: scaleTarget}, {Key: iscsi.KeyTargetAddress, Value: env.addr + ",1"}}},
	} {
		p := connDial(t, env.addr)
		p.mustLogin(connLoginOpts{discovery: true, initiator: tc.initiator})
		if got := p.sendTargets("All"); !slices.Equal(got, tc.want) {
			t.Fatalf("SendTargets=All for %s: %v, want %v", tc.initiator, got, tc.want)
		}
		if got := p.sendTargets(target2); len(got) != 0 {
			t.Fatalf("SendTargets=%s for %s: %v", target2, tc.initiator, got)
		}
		p.logout()
	}

	// The owner sees LUN 0 only; LUN 1 (the other group's "c") is
	// LOGICAL UNIT NOT SUPPORTED for reads and writes, and nothing of
	// the owner's write lands in it.
	p := robustMustDial(t, env.addr, owner, 1)
	if luns, err := robustReportLUNs(p, 0); err != nil || !slices.Equal(luns, []uint16{0}) {
		t.Fatalf("REPORT LUNS: %v %v, want [0]", luns, err)
	}
	for _, op := range []byte{0x28, 0x2a} {
		var out []byte
		in := scaleBlockSize
		if op == 0x2a {
			out, in = scaleBlock(1, 1), 0
		}
		r, err := p.doRetry(1, scaleCDB10(op, 0, 1), out, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := robustWantSense(r, scsi.SenseLUNotSupported); err != nil {
			t.Fatalf("opcode %#x to another group's LUN: %v", op, err)
		}
	}
	q := robustMustDial(t, env.addr, other, 2)
	if got, err := q.readBlock(1, 0); err != nil || !slices.Equal(got, make([]byte, scaleBlockSize)) {
		t.Fatalf("the other group's LUN was written through a LUN it does not map (%v)", err)
	}
	if err := q.logout(); err != nil {
		t.Fatal(err)
	}

	// Unmapping the owner's last LUN: its session loses it at once, and
	// it cannot log in again.
	if err := s.Unmap(ctx, "", "owners-0", 0); err != nil {
		t.Fatal(err)
	}
	r, err := p.doRetry(0, scaleCDB10(0x28, 0, 1), nil, scaleBlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := robustWantSense(r, scsi.SenseLUNotSupported); err != nil {
		t.Fatalf("READ after the unmap: %v", err)
	}
	if err := p.logout(); err != nil {
		t.Fatal(err)
	}
	wantRefused(owner, scaleTarget)
	scaleCheckIdle(t, env.srv)
}

// TestSecurityCHAPThroughStore: CHAP credentials set in the Store are
// required: a wrong secret, a wrong name or no CHAP at all is refused.
func TestSecurityCHAPThroughStore(t *testing.T) {
	env := scaleStart(t, ServerConfig{})
	ctx := context.Background()
	scaleProvision(t, env.store, "a", 2048, 0, "chap", 1, []string{connTestInitiator})
	secret := "host1-secret-123"
	if err := env.store.SetCHAP(ctx, connTestInitiator, CHAPSecret{Name: "host1", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, secret string
		class, detail      uint8
	}{
		{"wrong secret", "host1", "not-the-secret!!", 2, 0x01},
		{"wrong name", "host2", secret, 2, 0x01},
		{"right", "host1", secret, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := connDial(t, env.addr)
			r := p.loginCHAP(scaleTarget, iscsi.CHAPInitiatorConfig{Name: tc.user, Secret: []byte(tc.secret)})
			loginWantStatus(t, r, tc.class, tc.detail)
			if tc.class != 0 {
				p.wantClosed()
				return
			}
			p.logout()
		})
	}
	t.Run("no CHAP", func(t *testing.T) {
		_, err := scaleDial(env.addr, connTestInitiator, scaleTarget, 3)
		var le *scaleLoginError
		if !errors.As(err, &le) || le.class != iscsi.LoginClassInitiatorError || le.detail != iscsi.LoginDetailAuthenticationFailure {
			t.Fatalf("login without CHAP: %v, want AUTHENTICATION FAILURE", err)
		}
	})
	scaleCheckIdle(t, env.srv)
}

// TestSecurityAPINeedsToken: over a real listener, the management API
// refuses requests without the token (or with a wrong one) and changes
// nothing for them.
func TestSecurityAPINeedsToken(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	before := runtime.NumGoroutine()
	a, err := NewAPIServer(APIConfig{Store: s, Token: apiTestToken})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer func() {
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if leaked := leakcheck.Wait(before, 5*time.Second); leaked != "" {
			t.Errorf("goroutines leaked:\n%s", leaked)
		}
	}()
	base := "http://" + l.Addr().String()
	do := func(method, path, body, auth string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	lun := `{"name":"intruder","size":1048576}`
	group := `{"name":"intruders","initiators":["iqn.2026-11.org.example:intruder"]}`
	for _, auth := range []string{"", "Bearer ", "Bearer wrong-token-0123456789", "Bearer " + apiTestToken + "x", "Basic " + apiTestToken, apiTestToken} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/v1/luns", ""},
			{"POST", "/v1/luns", lun},
			{"POST", "/v1/igroups", group},
			{"GET", "/v1/sessions", ""},
			{"DELETE", "/v1/luns/intruder", ""},
		} {
			if got := do(r.method, r.path, r.body, auth); got != http.StatusUnauthorized {
				t.Errorf("%s %s with Authorization %q: %d, want 401", r.method, r.path, auth, got)
			}
		}
	}
	if n := len(s.LUNs()); n != 0 {
		t.Fatalf("%d LUNs created without the token", n)
	}
	if n := len(s.IGroups()); n != 0 {
		t.Fatalf("%d groups created without the token", n)
	}
	if got := do("GET", "/v1/luns", "", "Bearer "+apiTestToken); got != http.StatusOK {
		t.Fatalf("with the token: %d", got)
	}
}

// TestLatencyHistBuckets: an observation lands in the first bucket whose
// bound is at or above it; the snapshot is cumulative.
func TestLatencyHistBuckets(t *testing.T) {
	var h latencyHist
	for _, d := range []time.Duration{-time.Second, 0, 50 * time.Microsecond, 51 * time.Microsecond, time.Millisecond, 10 * time.Second, time.Minute} {
		h.observe(d)
	}
	s := h.snapshot("read")
	want := map[float64]uint64{0.00005: 3, 0.0001: 4, 0.0005: 4, 0.001: 5, 5: 5, 10: 6}
	for ub, n := range want {
		if s.Buckets[ub] != n {
			t.Errorf("bucket le=%v: %d, want %d", ub, s.Buckets[ub], n)
		}
	}
	if s.Op != "read" || s.Count != 7 || len(s.Buckets) != len(latencyBuckets) {
		t.Fatalf("snapshot %+v", s)
	}
	if wantSum := 70.001101; s.Sum < wantSum-1e-6 || s.Sum > wantSum+1e-6 {
		t.Fatalf("sum %v, want %v", s.Sum, wantSum)
	}
}
