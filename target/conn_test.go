package target

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/internal/leakcheck"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Test fixtures of the iSCSI layer: a fake Directory, a fake Executor
// backed by a byte slice, a server on loopback and a raw-PDU initiator.

const (
	connTestTarget    = "iqn.2026-11.org.lunar:disk"
	connTestTarget2   = "iqn.2026-11.org.lunar:other"
	connTestInitiator = "iqn.2026-11.org.example:host1"
	connTestStranger  = "iqn.2026-11.org.example:stranger"
)

// Vendor opcodes the fake executor understands, for tests.
const (
	connOpBlock = 0xc0 // blocks until the task is aborted
	connOpPanic = 0xc1 // panics
)

// connFakeView is a View over a fixed LUN map.
type connFakeView struct{ luns map[uint64]*LU }

func (v connFakeView) Lookup(n uint64) (*LU, bool) { lu, ok := v.luns[n]; return lu, ok }

func (v connFakeView) LUNs() []uint64 {
	var out []uint64
	for n := range v.luns {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// connMemBackend is a Backend in memory.
type connMemBackend struct{ b []byte }

func (m *connMemBackend) ReadAt(p []byte, off int64) (int, error)  { return copy(p, m.b[off:]), nil }
func (m *connMemBackend) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }
func (m *connMemBackend) Size() int64                              { return int64(len(m.b)) }
func (m *connMemBackend) Sync() error                              { return nil }
func (m *connMemBackend) Unmap(off, n int64) error                 { return ErrUnmapUnsupported }
func (m *connMemBackend) Resize(size int64) error                  { return nil }
func (m *connMemBackend) Close() error                             { return nil }

// connFakeDir is a Directory: targets, who may log in, and CHAP.
type connFakeDir struct {
	mu      sync.Mutex
	targets map[string]string
	access  map[[2]string]Access
	views   map[[2]string]View
}

func newConnFakeDir(t *testing.T) *connFakeDir {
	lu, err := NewLU(LUConfig{Name: "lun0", BlockSize: 512, Backend: &connMemBackend{b: make([]byte, 1<<20)}})
	if err != nil {
		t.Fatal(err)
	}
	v := connFakeView{luns: map[uint64]*LU{0: lu}}
	return &connFakeDir{
		targets: map[string]string{connTestTarget: "disk", connTestTarget2: "other"},
		access: map[[2]string]Access{
			{connTestTarget, connTestInitiator}: {Allowed: true},
		},
		views: map[[2]string]View{{connTestTarget, connTestInitiator}: v},
	}
}

func (d *connFakeDir) Targets() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for t := range d.targets {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (d *connFakeDir) TargetAlias(target string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.targets[target]
	return a, ok
}

func (d *connFakeDir) Access(target, initiator string) Access {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.access[[2]string{target, initiator}]
}

func (d *connFakeDir) View(target, initiator string) View {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.views[[2]string{target, initiator}]; ok {
		return v
	}
	return connFakeView{}
}

func (d *connFakeDir) setAccess(target, initiator string, a Access) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.access[[2]string{target, initiator}] = a
}

// connFakeExec is an Executor over a byte slice of 512-byte blocks: TEST
// UNIT READY, READ(10), WRITE(10), INQUIRY, and the test opcodes. TEST
// UNIT READY and INQUIRY are its quick commands (QuickExecutor).
type connFakeExec struct {
	mu     sync.Mutex
	disk   []byte
	order  []byte // CDB[9] (the control byte) of each command, in start order
	starts chan byte
	// ran has each command's operation code and whether it ran on the
	// connection's reader goroutine, in start order.
	ran []connRun
}

// connRun is one command connFakeExec ran.
type connRun struct {
	op       byte
	onReader bool
}

func (e *connFakeExec) Quick(cdb []byte) bool { return cdb[0] == 0x00 || cdb[0] == 0x12 }

// runs returns what ran so far.
func (e *connFakeExec) runs() []connRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ran)
}

// connOnReader reports whether the calling goroutine is a connection's
// reader (its stack goes through readLoop).
func connOnReader() bool {
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".(*conn).readLoop") {
			return true
		}
		if !more {
			return false
		}
	}
}

func newConnFakeExec() *connFakeExec {
	return &connFakeExec{disk: make([]byte, 1<<20), starts: make(chan byte, 1024)}
}

func (e *connFakeExec) Execute(t *Task) Result {
	if len(t.CDB) < 10 && t.CDB[0] != 0x00 && t.CDB[0] != 0x12 {
		return Result{Status: scsi.StatusCheckCondition, Sense: connSense()}
	}
	tag := byte(0)
	if len(t.CDB) >= 10 {
		tag = t.CDB[9]
	}
	e.mu.Lock()
	e.order = append(e.order, tag)
	e.ran = append(e.ran, connRun{op: t.CDB[0], onReader: connOnReader()})
	e.mu.Unlock()
	select {
	case e.starts <- tag:
	default:
	}
	switch t.CDB[0] {
	case 0x00:
		return Result{Status: scsi.StatusGood}
	case 0x12:
		n := copy(t.DataIn, []byte("lunar inquiry data for tests......."))
		return Result{Status: scsi.StatusGood, DataIn: n, Transfer: int(binary.BigEndian.Uint16(t.CDB[3:5]))}
	case 0x28, 0x2a:
		lba := int(binary.BigEndian.Uint32(t.CDB[2:6]))
		blocks := int(binary.BigEndian.Uint16(t.CDB[7:9]))
		n := blocks * 512
		if (lba+blocks)*512 > len(e.disk) {
			return Result{Status: scsi.StatusCheckCondition, Sense: connSense(), Transfer: n}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if t.CDB[0] == 0x28 {
			m := copy(t.DataIn, e.disk[lba*512:lba*512+n])
			return Result{Status: scsi.StatusGood, DataIn: m, Transfer: n}
		}
		copy(e.disk[lba*512:lba*512+n], t.DataOut)
		return Result{Status: scsi.StatusGood, Transfer: n}
	case connOpBlock:
		<-t.Ctx.Done()
		return Result{Status: scsi.StatusTaskAborted}
	case connOpPanic:
		panic("test panic")
	}
	return Result{Status: scsi.StatusCheckCondition, Sense: connSense()}
}

func connSense() []byte {
	sd := scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode).SenseData()
	return sd.MarshalFixed()
}

// connTestEnv is a running server with its fakes.
type connTestEnv struct {
	srv  *Server
	addr string
	dir  *connFakeDir
	exec *connFakeExec
}

// connStart starts a server on loopback; cleanup closes it and checks
// that its goroutines are gone.
func connStart(t *testing.T, cfg ServerConfig) *connTestEnv {
	t.Helper()
	before := runtime.NumGoroutine()
	env := &connTestEnv{dir: newConnFakeDir(t), exec: newConnFakeExec()}
	if cfg.Directory == nil {
		cfg.Directory = env.dir
	}
	if cfg.Executor == nil {
		cfg.Executor = env.exec
	}
	if connDebug {
		cfg.Logger = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	env.srv, env.addr = srv, ln.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		if leaked := leakcheck.Wait(before, 5*time.Second); leaked != "" {
			t.Errorf("goroutines left after Close:\n%s", leaked)
		}
	})
	return env
}

// connDebug turns the server's log on in tests (LUNAR_TEST_LOG=1).
var connDebug = os.Getenv("LUNAR_TEST_LOG") != ""

// connPeer is a raw-PDU initiator.
type connPeer struct {
	t      *testing.T
	nc     net.Conn
	fr     *iscsi.Framer
	cmdSN  uint32
	itt    uint32
	isid   iscsi.ISID
	tsih   uint16
	params iscsi.SessionParams
}

func connDial(t *testing.T, addr string) *connPeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := iscsi.NewFramer(nc, nc, iscsi.FramerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &connPeer{t: t, nc: nc, fr: fr, cmdSN: 1, isid: iscsi.NewRandomISID(0x123456, 1)}
}

func (p *connPeer) send(pdu iscsi.PDU) {
	p.t.Helper()
	if err := p.fr.WritePDU(pdu); err != nil {
		p.t.Fatalf("write %v: %v", pdu.Opcode(), err)
	}
}

// recv reads one PDU; the result is a clone that stays valid.
func (p *connPeer) recv() (iscsi.PDU, error) {
	p.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := p.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	return iscsi.Decode(f.Clone())
}

// connWant reads the next PDU and checks its type.
func connWant[T iscsi.PDU](t *testing.T, p *connPeer) T {
	t.Helper()
	pdu, err := p.recv()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	got, ok := pdu.(T)
	if !ok {
		t.Fatalf("got %v (%+v), want %T", pdu.Opcode(), pdu, *new(T))
	}
	return got
}

// wantNothing checks that no PDU arrives within a short wait.
func (p *connPeer) wantNothing(within time.Duration) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(within))
	f, err := p.fr.ReadFrame()
	if err == nil {
		p.t.Fatalf("got %v, want nothing", f.BHS.Opcode())
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		p.t.Fatalf("read: %v, want a timeout", err)
	}
	// A timed-out read leaves the Framer's stream state unknown only if
	// bytes were consumed; none were.
	p.fr, _ = iscsi.NewFramer(p.nc, p.nc, p.framerConfig())
}

func (p *connPeer) framerConfig() iscsi.FramerConfig {
	if p.params.TargetMaxRecvDSL == 0 {
		return iscsi.FramerConfig{}
	}
	return iscsi.FramerConfig{
		MaxRecvDataSegmentLength: int(p.params.InitiatorMaxRecvDSL),
		MaxSendDataSegmentLength: int(p.params.TargetMaxRecvDSL),
		HeaderDigest:             p.params.HeaderDigest,
		DataDigest:               p.params.DataDigest,
	}
}

// wantClosed checks that the target closes the connection.
func (p *connPeer) wantClosed() {
	p.t.Helper()
	for range 100 {
		_, err := p.recv()
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			p.t.Fatal("connection still open")
		}
		return
	}
	p.t.Fatal("connection still open after 100 PDUs")
}

// connLoginOpts tunes a test login.
type connLoginOpts struct {
	initiator string
	target    string
	discovery bool
	cfg       iscsi.NegotiatorConfig
}

// login logs in through the operational stage in one request and
// returns the final response; on success the Framer switches to the
// negotiated limits.
func (p *connPeer) login(o connLoginOpts) *iscsi.LoginResponse {
	p.t.Helper()
	cfg := o.cfg
	cfg.InitiatorName = o.initiator
	if cfg.InitiatorName == "" {
		cfg.InitiatorName = connTestInitiator
	}
	cfg.TargetName = o.target
	if cfg.TargetName == "" && !o.discovery {
		cfg.TargetName = connTestTarget
	}
	if o.discovery {
		cfg.SessionType = iscsi.SessionDiscovery
	}
	if cfg.MaxRecvDataSegmentLength == 0 {
		cfg.MaxRecvDataSegmentLength = 65536
	}
	neg, err := iscsi.NewNegotiator(iscsi.RoleInitiator, cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	req := &iscsi.LoginRequest{
		Transit: true, CSG: iscsi.LoginOperationalNegotiation, NSG: iscsi.FullFeaturePhase,
		ISID: p.isid, TSIH: p.tsih, ITT: p.nextITT(), CmdSN: p.cmdSN,
		Data: iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation)),
	}
	for {
		p.send(req)
		resp := connWant[*iscsi.LoginResponse](p.t, p)
		if resp.StatusClass != 0 {
			return resp
		}
		if _, err := neg.ReceiveText(iscsi.LoginOperationalNegotiation, resp.Data); err != nil {
			p.t.Fatalf("negotiation: %v", err)
		}
		if resp.Transit && resp.NSG == iscsi.FullFeaturePhase {
			p.tsih = resp.TSIH
			p.params = neg.Params()
			p.cmdSN = resp.ExpCmdSN
			p.fr, _ = iscsi.NewFramer(p.nc, p.nc, p.framerConfig())
			return resp
		}
		req.Data = iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation))
		req.ITT = p.nextITT()
	}
}

// mustLogin logs in and fails the test unless the login succeeds.
func (p *connPeer) mustLogin(o connLoginOpts) {
	p.t.Helper()
	if r := p.login(o); r.StatusClass != 0 {
		p.t.Fatalf("login: status %#02x%02x", r.StatusClass, r.StatusDetail)
	}
}

func (p *connPeer) nextITT() uint32 {
	p.itt++
	return p.itt
}

// command sends a SCSI command and returns its ITT.
func (p *connPeer) command(cmd *iscsi.SCSICommand) uint32 {
	p.t.Helper()
	if cmd.ITT == 0 {
		cmd.ITT = p.nextITT()
	}
	if cmd.Attr == 0 {
		cmd.Attr = iscsi.TaskAttrSimple
	}
	cmd.CmdSN = p.cmdSN
	if !cmd.Immediate {
		p.cmdSN++
	}
	p.send(cmd)
	return cmd.ITT
}

// logout closes the session and checks the response.
func (p *connPeer) logout() {
	p.t.Helper()
	p.send(&iscsi.LogoutRequest{Immediate: true, Reason: iscsi.CloseSession, ITT: p.nextITT(), CmdSN: p.cmdSN})
	r := connWant[*iscsi.LogoutResponse](p.t, p)
	if r.Response != iscsi.LogoutSuccess {
		p.t.Fatalf("logout response %v", r.Response)
	}
	p.wantClosed()
}

func connCDB10(op byte, lba uint32, blocks uint16, tag byte) []byte {
	cdb := make([]byte, 10)
	cdb[0] = op
	binary.BigEndian.PutUint32(cdb[2:], lba)
	binary.BigEndian.PutUint16(cdb[7:], blocks)
	cdb[9] = tag
	return cdb
}

func connPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

// readAll collects the Data-In of one read and its status.
func (p *connPeer) readAll(itt uint32) (data []byte, status scsi.Status, resid uint32, under, over bool, pdus int) {
	p.t.Helper()
	wantSN := uint32(0)
	for {
		pdu, err := p.recv()
		if err != nil {
			p.t.Fatalf("read: %v", err)
		}
		switch r := pdu.(type) {
		case *iscsi.DataIn:
			if r.ITT != itt || r.DataSN != wantSN || int(r.BufferOffset) != len(data) {
				p.t.Fatalf("Data-In ITT %d DataSN %d offset %d, want %d %d %d", r.ITT, r.DataSN, r.BufferOffset, itt, wantSN, len(data))
			}
			wantSN++
			pdus++
			data = append(data, r.Data...)
			if r.HasStatus {
				return data, r.Status, r.ResidualCount, r.Underflow, r.Overflow, pdus
			}
		case *iscsi.SCSIResponse:
			return data, r.Status, r.ResidualCount, r.Underflow, r.Overflow, pdus
		default:
			p.t.Fatalf("got %v during a read", pdu.Opcode())
		}
	}
}

func TestConnUnknownOpcodeRejected(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	var f iscsi.Frame
	f.BHS.SetOpcode(0x1c, true)
	f.BHS.SetITT(77)
	if err := p.fr.WriteFrame(&f); err != nil {
		t.Fatal(err)
	}
	rej := connWant[*iscsi.Reject](t, p)
	if rej.Reason != iscsi.RejectCommandNotSupported {
		t.Fatalf("reason %v", rej.Reason)
	}
	// The connection goes on.
	itt := p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	r := connWant[*iscsi.SCSIResponse](t, p)
	if r.ITT != itt || r.Status != scsi.StatusGood {
		t.Fatalf("TUR: ITT %d status %v", r.ITT, r.Status)
	}
	p.logout()
}

func TestConnNOPBothWays(t *testing.T) {
	env := connStart(t, ServerConfig{NopInInterval: 20 * time.Millisecond, NopInTimeout: 2 * time.Second})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	// An immediate ping is echoed and consumes no CmdSN.
	ping := connPattern(100, 3)
	p.send(&iscsi.NOPOut{Immediate: true, ITT: 5, TTT: iscsi.ReservedTag, CmdSN: p.cmdSN, Data: ping})
	var got *iscsi.NOPIn
	var targetPing *iscsi.NOPIn
	for got == nil {
		n := connWant[*iscsi.NOPIn](t, p)
		if n.ITT == iscsi.ReservedTag {
			targetPing = n
			continue
		}
		got = n
	}
	if got.ITT != 5 || string(got.Data) != string(ping) {
		t.Fatalf("NOP-In ITT %d data %q", got.ITT, got.Data)
	}
	// A non-immediate ping consumes a CmdSN, and a command after it works
	// (a case that hangs gotgt).
	p.send(&iscsi.NOPOut{ITT: 6, TTT: iscsi.ReservedTag, CmdSN: p.cmdSN})
	p.cmdSN++
	itt := p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	sawNOP, sawResp := false, false
	for !sawNOP || !sawResp {
		pdu, err := p.recv()
		if err != nil {
			t.Fatal(err)
		}
		switch r := pdu.(type) {
		case *iscsi.NOPIn:
			if r.ITT == 6 {
				sawNOP = true
			} else if r.ITT == iscsi.ReservedTag {
				targetPing = r
			}
		case *iscsi.SCSIResponse:
			if r.ITT != itt || r.Status != scsi.StatusGood {
				t.Fatalf("response ITT %d status %v", r.ITT, r.Status)
			}
			if r.ExpCmdSN != p.cmdSN {
				t.Fatalf("ExpCmdSN %d, want %d", r.ExpCmdSN, p.cmdSN)
			}
			sawResp = true
		}
	}
	// The target pings an idle connection with a TTT; answer it.
	for targetPing == nil {
		n := connWant[*iscsi.NOPIn](t, p)
		if n.ITT == iscsi.ReservedTag {
			targetPing = n
		}
	}
	if targetPing.TTT == iscsi.ReservedTag {
		t.Fatal("target ping without a TTT")
	}
	p.send(&iscsi.NOPOut{Immediate: true, ITT: iscsi.ReservedTag, TTT: targetPing.TTT, CmdSN: p.cmdSN})
	p.logout()
}

func TestConnDeadPeerDropped(t *testing.T) {
	env := connStart(t, ServerConfig{NopInInterval: 10 * time.Millisecond, NopInTimeout: 50 * time.Millisecond})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	// Never answer the pings: the target drops the connection.
	for {
		_, err := p.recv()
		if err != nil {
			break
		}
	}
	for env.srv.Stats().Errors[ErrorKindTimeout] == 0 {
		runtime.Gosched()
	}
}

func TestConnPanicEndsOnlyThatConnection(t *testing.T) {
	env := connStart(t, ServerConfig{})
	a := connDial(t, env.addr)
	a.mustLogin(connLoginOpts{})
	b := connDial(t, env.addr)
	b.isid = iscsi.NewRandomISID(0x654321, 2)
	b.mustLogin(connLoginOpts{})
	a.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpPanic, 0, 0, 0)})
	a.wantClosed()
	itt := b.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	if r := connWant[*iscsi.SCSIResponse](t, b); r.ITT != itt || r.Status != scsi.StatusGood {
		t.Fatalf("other connection: %+v", r)
	}
	if n := env.srv.Stats().Errors[ErrorKindPanic]; n != 1 {
		t.Fatalf("panics counted %d, want 1", n)
	}
	b.logout()
}

func TestConnDigests(t *testing.T) {
	env := connStart(t, ServerConfig{HeaderDigests: true, DataDigests: true})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{cfg: iscsi.NegotiatorConfig{
		HeaderDigests: []string{iscsi.DigestValueCRC32C}, DataDigests: []string{iscsi.DigestValueCRC32C},
	}})
	if !p.params.HeaderDigest || !p.params.DataDigest {
		t.Fatalf("digests not negotiated: %v", p.params)
	}
	data := connPattern(1024, 9)
	itt := p.command(&iscsi.SCSICommand{Final: true, Write: true, ExpectedDataTransferLength: 1024,
		CDB: connCDB10(0x2a, 0, 2, 0), Data: data})
	if r := connWant[*iscsi.SCSIResponse](t, p); r.ITT != itt || r.Status != scsi.StatusGood {
		t.Fatalf("write: %+v", r)
	}
	// A NOP-Out whose data digest is wrong: Reject, and the connection
	// goes on.
	raw, err := iscsi.Marshal(&iscsi.NOPOut{Immediate: true, ITT: 9, TTT: iscsi.ReservedTag, CmdSN: p.cmdSN, Data: []byte("ping")})
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	var hdr iscsi.Frame
	if err := hdr.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	var sink connCapture
	w, _ := iscsi.NewFramer(nil, &sink, p.framerConfig())
	if err := w.WriteFrame(&hdr); err != nil {
		t.Fatal(err)
	}
	buf = sink.b
	buf[len(buf)-1] ^= 0xff // corrupt the data digest
	if _, err := p.nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	if rej := connWant[*iscsi.Reject](t, p); rej.Reason != iscsi.RejectDataDigestError {
		t.Fatalf("reason %v", rej.Reason)
	}
	rd, _, _, _, _, _ := p.readAll(p.command(&iscsi.SCSICommand{Final: true, Read: true, ExpectedDataTransferLength: 1024,
		CDB: connCDB10(0x28, 0, 2, 0)}))
	if string(rd) != string(data) {
		t.Fatal("read back differs")
	}
	// A header digest error closes the connection.
	buf = slices.Clone(buf)
	buf[iscsi.BHSLen] ^= 0xff
	if _, err := p.nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	p.wantClosed()
}

// connCapture collects written bytes.
type connCapture struct{ b []byte }

func (c *connCapture) Write(p []byte) (int, error) { c.b = append(c.b, p...); return len(p), nil }

// FuzzConnIntake feeds arbitrary bytes to a logged-in connection of the
// Full Feature Phase: the server must answer, reject or close, and never
// panic.
func FuzzConnIntake(f *testing.F) {
	seed := func(p iscsi.PDU) {
		b, err := iscsi.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed(&iscsi.SCSICommand{Final: true, Write: true, ITT: 1, CmdSN: 1, ExpectedDataTransferLength: 1024, CDB: connCDB10(0x2a, 0, 2, 0), Data: make([]byte, 512)})
	seed(&iscsi.DataOut{Final: true, ITT: 1, TTT: iscsi.ReservedTag, BufferOffset: 512, Data: make([]byte, 512)})
	seed(&iscsi.NOPOut{ITT: 2, TTT: iscsi.ReservedTag, CmdSN: 1, Data: []byte("ping")})
	seed(&iscsi.TaskMgmtRequest{Immediate: true, Function: iscsi.AbortTask, ITT: 3, ReferencedTaskTag: 1, CmdSN: 1})
	seed(&iscsi.TextRequest{Final: true, ITT: 4, TTT: iscsi.ReservedTag, CmdSN: 1, Data: []byte("SendTargets=All\x00")})
	env := connStart(&testing.T{}, ServerConfig{})
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		env.srv.Close(ctx)
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		p := connDial(t, env.addr)
		p.mustLogin(connLoginOpts{})
		p.nc.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := p.nc.Write(in); err != nil {
			return
		}
		p.nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		for {
			if _, err := p.fr.ReadFrame(); err != nil {
				break
			}
		}
		p.nc.Close()
		if n := env.srv.Stats().Errors[ErrorKindPanic]; n != 0 {
			t.Fatalf("%d panics", n)
		}
	})
}

// connTCPPair returns both ends of a loopback TCP connection.
func connTCPPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// wantConnRead reads exactly len(want) bytes from r and compares them.
func wantConnRead(t *testing.T, r *connReader, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("read %d bytes: %v", len(want), err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read %d bytes: data differs", len(want))
	}
}

// TestConnReader checks the connection's read buffering: pipelined small
// reads come from one buffer, which goes back to the pool once drained;
// large reads bypass it; the end of the stream and net.Pipe work.
func TestConnReader(t *testing.T) {
	client, server := connTCPPair(t)
	var pool sync.Pool
	r := newConnReader(server, &pool)
	if r.rc == nil {
		t.Fatal("no RawConn for a TCP connection")
	}
	data := make([]byte, 3*connReadBufSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	// Three 48-byte headers in one write: the first read buffers all.
	if _, err := client.Write(data[:144]); err != nil {
		t.Fatal(err)
	}
	wantConnRead(t, r, data[:48])
	if r.buf == nil || r.w-r.r != 96 {
		t.Fatalf("after one header: buffered %d bytes, want 96", r.w-r.r)
	}
	wantConnRead(t, r, data[48:96])
	wantConnRead(t, r, data[96:144])
	if r.buf != nil {
		t.Fatal("drained buffer still held")
	}
	// A large read with nothing buffered lands in the caller's memory.
	go func() { _, _ = client.Write(data) }()
	wantConnRead(t, r, data[:2*connReadBufSize])
	wantConnRead(t, r, data[2*connReadBufSize:])
	if r.buf != nil {
		t.Fatal("buffer held after the data was read")
	}
	client.Close()
	if n, err := r.Read(make([]byte, 48)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read at the end = %d, %v; want io.EOF", n, err)
	}

	// A read deadline ends a wait without a buffer.
	_, s2 := connTCPPair(t)
	r2 := newConnReader(s2, &pool)
	if err := s2.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.Read(make([]byte, 48)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}

	// Without a RawConn reads go straight through.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	r3 := newConnReader(b, &pool)
	go func() { _, _ = a.Write(data[:100]) }()
	wantConnRead(t, r3, data[:100])
}
