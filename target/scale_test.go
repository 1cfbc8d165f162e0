package target

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Scale and soak tests over the whole target: a real Store in a temporary
// directory (file-backed LUNs, initiator groups, LUN maps), the SCSI
// Engine and the Server on loopback TCP, driven by raw-PDU initiators
// that report errors instead of failing the test, so that hundreds of
// them can run in goroutines at once.

const (
	scaleTarget    = "iqn.2026-11.org.lunar:scale"
	scaleBlockSize = 512
	// scaleIOTimeout bounds every exchange of a scale peer.
	scaleIOTimeout = 60 * time.Second
)

// scaleInitiator returns the i-th initiator name of a test.
func scaleInitiator(i int) string {
	return fmt.Sprintf("iqn.2026-11.org.example:scale-%05d", i)
}

// scaleEnv is a running target: Store, Engine and Server.
type scaleEnv struct {
	srv   *Server
	store *Store
	addr  string
}

// scaleStart opens a Store in a temporary directory and serves it on
// loopback; cleanup closes both and checks that the server's goroutines
// are gone.
func scaleStart(tb testing.TB, cfg ServerConfig) *scaleEnv {
	tb.Helper()
	dir := tb.TempDir()
	before := runtime.NumGoroutine()
	store, err := OpenStore(StoreConfig{DataDir: dir, DefaultTarget: scaleTarget})
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Directory = store
	if cfg.Executor == nil {
		cfg.Executor = &Engine{}
	}
	srv, err := NewServer(cfg)
	if err != nil {
		store.Close()
		tb.Fatal(err)
	}
	store.SetOnViewChange(srv.ViewChanged)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			tb.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		store.SetOnViewChange(nil)
		if err := store.Close(); err != nil {
			tb.Errorf("store Close: %v", err)
		}
		if leaked := leakcheck.Wait(before, 10*time.Second); leaked != "" {
			tb.Errorf("goroutines left after Close:\n%s", leaked)
		}
	})
	return &scaleEnv{srv: srv, store: store, addr: ln.Addr().String()}
}

// scaleProvision creates LUN lun of blocks blocks and maps it at LUN id
// id to the initiators, in initiator groups of at most per members named
// prefix-0, prefix-1, ...
func scaleProvision(tb testing.TB, s *Store, lun string, blocks int64, id uint64, prefix string, per int, initiators []string) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.CreateLUN(ctx, LUNCreate{Name: lun, Size: blocks * scaleBlockSize}); err != nil {
		tb.Fatal(err)
	}
	for g := 0; len(initiators) > 0; g++ {
		n := min(per, len(initiators))
		name := fmt.Sprintf("%s-%d", prefix, g)
		if _, err := s.CreateIGroup(ctx, IGroupCreate{Name: name, Initiators: initiators[:n]}); err != nil {
			tb.Fatal(err)
		}
		if _, err := s.Map(ctx, MapCreate{LUN: lun, IGroup: name, LUNID: &id}); err != nil {
			tb.Fatal(err)
		}
		initiators = initiators[n:]
	}
}

// scaleCheckIdle waits until the server holds no connection, then checks
// that no session and no TSIH is left.
func scaleCheckIdle(tb testing.TB, srv *Server) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Connections != 0 || srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("server not idle: %+v", srv.Stats())
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval
	}
	srv.mu.Lock()
	tsihs, sessions, conns := len(srv.byTSIH), len(srv.sessions), len(srv.conns)
	srv.mu.Unlock()
	if tsihs != 0 || sessions != 0 || conns != 0 {
		tb.Fatalf("after logout: %d TSIHs, %d sessions, %d connections registered", tsihs, sessions, conns)
	}
}

// scaleMemInUse returns the heap and stack memory in use after a full
// collection.
func scaleMemInUse() uint64 {
	heap, stack := scaleMemSplit()
	return heap + stack
}

// scaleMemSplit returns HeapInuse and StackInuse after a full
// collection.
func scaleMemSplit() (heap, stack uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// scalePeer is a raw-PDU initiator of one session over one connection.
// It runs one command at a time; Asynchronous Messages that arrive in
// between are counted.
type scalePeer struct {
	nc     net.Conn
	fr     *iscsi.Framer
	params iscsi.SessionParams
	isid   iscsi.ISID
	tsih   uint16
	cmdSN  uint32
	itt    uint32

	// async counts Asynchronous Messages, lunsChanged those reporting
	// REPORTED LUNS DATA HAS CHANGED, logoutAsked those asking for a
	// logout.
	async, lunsChanged, logoutAsked int
}

// scaleLoginError is a login the target refused.
type scaleLoginError struct{ class, detail uint8 }

func (e *scaleLoginError) Error() string {
	return fmt.Sprintf("login refused: %s", iscsi.LoginStatusText(e.class, e.detail))
}

// scaleDial connects to addr and logs initiator in to target (a
// Discovery session when target is empty).
func scaleDial(addr, initiator, target string, isidQualifier uint16) (*scalePeer, error) {
	nc, err := net.DialTimeout("tcp", addr, scaleIOTimeout)
	if err != nil {
		return nil, err
	}
	p := &scalePeer{nc: nc, cmdSN: 1, isid: iscsi.NewRandomISID(0x3a1e00, isidQualifier)}
	if err := p.login(initiator, target); err != nil {
		nc.Close()
		return nil, err
	}
	return p, nil
}

// login runs the login in one operational stage.
func (p *scalePeer) login(initiator, target string) error {
	fr, err := iscsi.NewFramer(p.nc, p.nc, iscsi.FramerConfig{})
	if err != nil {
		return err
	}
	p.fr = fr
	cfg := iscsi.NegotiatorConfig{InitiatorName: initiator, TargetName: target, MaxRecvDataSegmentLength: 65536}
	if target == "" {
		cfg.SessionType = iscsi.SessionDiscovery
	}
	neg, err := iscsi.NewNegotiator(iscsi.RoleInitiator, cfg)
	if err != nil {
		return err
	}
	req := &iscsi.LoginRequest{
		Transit: true, CSG: iscsi.LoginOperationalNegotiation, NSG: iscsi.FullFeaturePhase,
		ISID: p.isid, TSIH: p.tsih, ITT: p.nextITT(), CmdSN: p.cmdSN,
		Data: iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation)),
	}
	p.nc.SetDeadline(time.Now().Add(scaleIOTimeout))
	for {
		if err := p.fr.WritePDU(req); err != nil {
			return err
		}
		f, err := p.fr.ReadFrame()
		if err != nil {
			return err
		}
		var resp iscsi.LoginResponse
		if err := resp.DecodeFrame(f); err != nil {
			return err
		}
		if resp.StatusClass != 0 {
			return &scaleLoginError{resp.StatusClass, resp.StatusDetail}
		}
		if _, err := neg.ReceiveText(iscsi.LoginOperationalNegotiation, resp.Data); err != nil {
			return err
		}
		if resp.Transit && resp.NSG == iscsi.FullFeaturePhase {
			p.tsih, p.params, p.cmdSN = resp.TSIH, neg.Params(), resp.ExpCmdSN
			p.fr, err = iscsi.NewFramer(p.nc, p.nc, p.framerConfig())
			return err
		}
		req.Data = iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation))
		req.ITT = p.nextITT()
	}
}

func (p *scalePeer) framerConfig() iscsi.FramerConfig {
	return iscsi.FramerConfig{
		MaxRecvDataSegmentLength: int(p.params.InitiatorMaxRecvDSL),
		MaxSendDataSegmentLength: int(p.params.TargetMaxRecvDSL),
		HeaderDigest:             p.params.HeaderDigest,
		DataDigest:               p.params.DataDigest,
	}
}

// park drops the peer's Framer while it idles, so that memory measured
// with idle sessions is mostly the target's; the next exchange makes a
// new one.
func (p *scalePeer) park() { p.fr = nil }

func (p *scalePeer) framer() (*iscsi.Framer, error) {
	if p.fr == nil {
		fr, err := iscsi.NewFramer(p.nc, p.nc, p.framerConfig())
		if err != nil {
			return nil, err
		}
		p.fr = fr
	}
	return p.fr, nil
}

func (p *scalePeer) nextITT() uint32 {
	p.itt++
	if p.itt == iscsi.ReservedTag {
		p.itt = 1
	}
	return p.itt
}

// recv reads the next PDU that is not an Asynchronous Message. The PDU
// aliases the Framer's buffers until the next read.
func (p *scalePeer) recv() (iscsi.PDU, error) {
	fr, err := p.framer()
	if err != nil {
		return nil, err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		pdu, err := iscsi.Decode(f)
		if err != nil {
			return nil, err
		}
		m, ok := pdu.(*iscsi.AsyncMessage)
		if !ok {
			return pdu, nil
		}
		p.async++
		switch m.AsyncEvent {
		case iscsi.AsyncSCSIEvent:
			if sb, err := m.SenseData(); err == nil {
				if sd, err := scsi.ParseSense(sb); err == nil && sd.Code() == scsi.SenseReportedLUNsDataHasChanged {
					p.lunsChanged++
				}
			}
		case iscsi.AsyncLogoutRequest:
			p.logoutAsked++
		}
	}
}

// scaleResult is the outcome of one SCSI command.
type scaleResult struct {
	status scsi.Status
	sense  scsi.SenseData
	data   []byte
}

// do runs one SCSI command on LUN lun: out is its write data (sent as
// immediate data, so at most FirstBurstLength), inLen its read length.
func (p *scalePeer) do(lun uint16, cdb, out []byte, inLen int) (scaleResult, error) {
	fr, err := p.framer()
	if err != nil {
		return scaleResult{}, err
	}
	cmd := &iscsi.SCSICommand{
		Final: true, Read: inLen > 0, Write: len(out) > 0, Attr: iscsi.TaskAttrSimple,
		LUN: scsi.EncodeLUN(lun), ITT: p.nextITT(), CmdSN: p.cmdSN,
		ExpectedDataTransferLength: uint32(inLen + len(out)), CDB: cdb, Data: out,
	}
	p.cmdSN++
	p.nc.SetDeadline(time.Now().Add(scaleIOTimeout))
	if err := fr.WritePDU(cmd); err != nil {
		return scaleResult{}, err
	}
	var res scaleResult
	for {
		pdu, err := p.recv()
		if err != nil {
			return res, err
		}
		switch r := pdu.(type) {
		case *iscsi.DataIn:
			if r.ITT != cmd.ITT || int(r.BufferOffset) != len(res.data) {
				return res, fmt.Errorf("Data-In ITT %#x offset %d, want %#x %d", r.ITT, r.BufferOffset, cmd.ITT, len(res.data))
			}
			res.data = append(res.data, r.Data...)
			if r.HasStatus {
				res.status = r.Status
				return res, nil
			}
		case *iscsi.SCSIResponse:
			if r.ITT != cmd.ITT {
				return res, fmt.Errorf("SCSI Response ITT %#x, want %#x", r.ITT, cmd.ITT)
			}
			res.status = r.Status
			if r.Status == scsi.StatusCheckCondition {
				sb, err := r.Sense()
				if err != nil {
					return res, err
				}
				if res.sense, err = scsi.ParseSense(sb); err != nil {
					return res, err
				}
			}
			return res, nil
		default:
			return res, fmt.Errorf("got %v, want the command's answer", pdu.Opcode())
		}
	}
}

// doRetry runs a command again while it reports a unit attention (the
// first command to a logical unit reports POWER ON, a LUN-map change
// REPORTED LUNS DATA HAS CHANGED); every other outcome is returned.
func (p *scalePeer) doRetry(lun uint16, cdb, out []byte, inLen int) (scaleResult, error) {
	for range 16 {
		r, err := p.do(lun, cdb, out, inLen)
		if err != nil || r.status != scsi.StatusCheckCondition || r.sense.Key != scsi.SenseKeyUnitAttention {
			return r, err
		}
	}
	return scaleResult{}, errors.New("unit attentions without end")
}

// writeBlock writes one block at lba and checks the status.
func (p *scalePeer) writeBlock(lun uint16, lba uint32, data []byte) error {
	r, err := p.doRetry(lun, scaleCDB10(0x2a, lba, 1), data, 0)
	if err != nil {
		return err
	}
	if r.status != scsi.StatusGood {
		return fmt.Errorf("WRITE(10) LUN %d LBA %d: status %v %v", lun, lba, r.status, r.sense.String())
	}
	return nil
}

// readBlock reads one block at lba and checks the status.
func (p *scalePeer) readBlock(lun uint16, lba uint32) ([]byte, error) {
	r, err := p.doRetry(lun, scaleCDB10(0x28, lba, 1), nil, scaleBlockSize)
	if err != nil {
		return nil, err
	}
	if r.status != scsi.StatusGood || len(r.data) != scaleBlockSize {
		return nil, fmt.Errorf("READ(10) LUN %d LBA %d: status %v %v, %d bytes", lun, lba, r.status, r.sense.String(), len(r.data))
	}
	return r.data, nil
}

// logout ends the session and waits for the target to close the
// connection.
func (p *scalePeer) logout() error {
	defer p.nc.Close()
	fr, err := p.framer()
	if err != nil {
		return err
	}
	p.nc.SetDeadline(time.Now().Add(scaleIOTimeout))
	req := &iscsi.LogoutRequest{Immediate: true, Reason: iscsi.CloseSession, ITT: p.nextITT(), CmdSN: p.cmdSN}
	if err := fr.WritePDU(req); err != nil {
		return err
	}
	for {
		pdu, err := p.recv()
		if err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		r, ok := pdu.(*iscsi.LogoutResponse)
		if !ok {
			continue // the answer to a command of before, or a NOP-In
		}
		if r.Response != iscsi.LogoutSuccess {
			return fmt.Errorf("logout response %v", r.Response)
		}
		break
	}
	// The target closes the connection after the response.
	if _, err := p.recv(); err == nil {
		return errors.New("a PDU after the Logout Response")
	}
	return nil
}

// scaleCDB10 returns a READ(10) or WRITE(10) CDB.
func scaleCDB10(op byte, lba uint32, blocks uint16) []byte {
	cdb := make([]byte, 10)
	cdb[0] = op
	binary.BigEndian.PutUint32(cdb[2:], lba)
	binary.BigEndian.PutUint16(cdb[7:], blocks)
	return cdb
}

// scaleBlock returns a block of data unique to (who, round).
func scaleBlock(who, round int) []byte {
	b := make([]byte, scaleBlockSize)
	binary.BigEndian.PutUint32(b, uint32(who))
	binary.BigEndian.PutUint32(b[4:], uint32(round))
	for i := 8; i < len(b); i++ {
		b[i] = byte(who*31 + round*7 + i)
	}
	return b
}

// scaleParallel runs f(i) for i in [0, n) in n goroutines and returns the
// errors joined.
func scaleParallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := f(i); err != nil {
				errs[i] = fmt.Errorf("#%d: %w", i, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// scaleFigures is what one scale run measured.
type scaleFigures struct {
	sessions       int
	bytesPerIdle   float64
	heapPerIdle    float64
	stackPerIdle   float64
	loginTime      time.Duration
	ioLogoutTime   time.Duration
	goroutinesIdle int
}

// scaleRun logs n sessions of n distinct initiators in at once, measures
// the memory of the idle sessions, then has each write a block, read it
// back and compare, and log out; it checks that nothing is left.
func scaleRun(tb testing.TB, n int) scaleFigures {
	tb.Helper()
	env := scaleStart(tb, ServerConfig{})
	initiators := make([]string, n)
	for i := range initiators {
		initiators[i] = scaleInitiator(i)
	}
	scaleProvision(tb, env.store, "scale", int64(max(n, 2048)), 0, "scale", 250, initiators)

	goroutines := runtime.NumGoroutine()
	heapBefore, stackBefore := scaleMemSplit()
	peers := make([]*scalePeer, n)
	start := time.Now()
	err := scaleParallel(n, func(i int) error {
		p, err := scaleDial(env.addr, initiators[i], scaleTarget, uint16(i))
		if err != nil {
			return err
		}
		p.park()
		peers[i] = p
		return nil
	})
	fig := scaleFigures{sessions: n, loginTime: time.Since(start)}
	defer func() {
		for _, p := range peers {
			if p != nil {
				p.nc.Close()
			}
		}
	}()
	if err != nil {
		tb.Fatalf("logins: %v", err)
	}
	if got := env.srv.Stats().Sessions; got != int64(n) {
		tb.Fatalf("%d sessions, want %d", got, n)
	}
	heapIdle, stackIdle := scaleMemSplit()
	fig.goroutinesIdle = runtime.NumGoroutine() - goroutines
	fig.heapPerIdle = (float64(heapIdle) - float64(heapBefore)) / float64(n)
	fig.stackPerIdle = (float64(stackIdle) - float64(stackBefore)) / float64(n)
	fig.bytesPerIdle = fig.heapPerIdle + fig.stackPerIdle

	start = time.Now()
	err = scaleParallel(n, func(i int) error {
		p := peers[i]
		want := scaleBlock(i, 1)
		if err := p.writeBlock(0, uint32(i), want); err != nil {
			return err
		}
		got, err := p.readBlock(0, uint32(i))
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("LBA %d read back differs", i)
		}
		return p.logout()
	})
	fig.ioLogoutTime = time.Since(start)
	if err != nil {
		tb.Fatalf("I/O and logout: %v", err)
	}
	scaleCheckIdle(tb, env.srv)
	if leaked := leakcheck.Wait(goroutines, 10*time.Second); leaked != "" {
		tb.Fatalf("goroutines left after %d logouts:\n%s", n, leaked)
	}
	return fig
}

// scaleSessions returns how many sessions the open file limit allows, up
// to want: each takes two descriptors in this process (both ends).
func scaleSessions(tb testing.TB, want int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return want
	}
	n := (int64(min(rl.Cur, 1<<20)) - 256) / 2
	if n < int64(want) {
		tb.Logf("open file limit %d: %d sessions instead of %d", rl.Cur, max(n, 1), want)
		return int(max(n, 1))
	}
	return want
}

// TestScale1000Sessions: 1,000 sessions of 1,000 initiator names, each
// mapped through an initiator group, log in at once, write and read back
// a block each, and log out; memory per idle session is reported.
func TestScale1000Sessions(t *testing.T) {
	fig := scaleRun(t, scaleSessions(t, 1000))
	t.Logf("%d sessions: login %v, I/O+logout %v; per idle session %d goroutines and %.0f bytes (heap %.0f + stack %.0f, both ends of the connection)",
		fig.sessions, fig.loginTime, fig.ioLogoutTime, fig.goroutinesIdle/fig.sessions, fig.bytesPerIdle, fig.heapPerIdle, fig.stackPerIdle)
}

// BenchmarkScale1000Sessions measures one scale run per iteration and
// reports the memory of an idle session.
func BenchmarkScale1000Sessions(b *testing.B) {
	var fig scaleFigures
	for b.Loop() {
		fig = scaleRun(b, scaleSessions(b, 1000))
	}
	b.ReportMetric(fig.bytesPerIdle, "bytes/session")
	b.ReportMetric(fig.heapPerIdle, "heap-bytes/session")
	b.ReportMetric(fig.stackPerIdle, "stack-bytes/session")
	b.ReportMetric(float64(fig.loginTime.Milliseconds()), "login-ms")
	b.ReportMetric(float64(fig.ioLogoutTime.Milliseconds()), "io+logout-ms")
}
