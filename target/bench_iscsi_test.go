package target

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Benchmarks of the whole iSCSI path: a real Server with the real SCSI
// Engine over loopback TCP, driven by a minimal raw-PDU initiator that
// allocates nothing per command, so that the allocations the benchmarks
// report per operation are the target's own (plus the runtime's network
// poller). One operation is one 4 KiB command, from the SCSI Command PDU
// to its status. QD1 keeps one command in flight, QD32 keeps 32.

const (
	benchTarget    = "iqn.2026-11.org.lunar:bench"
	benchInitiator = "iqn.2026-11.org.example:bench"
	benchLUSize    = 64 << 20
	benchBlockSize = 512
	benchIOSize    = 4096
	benchMaxQD     = 256 // slot numbers travel in the low byte of the ITT
)

// benchView is a View with one logical unit at LUN 0.
type benchView struct{ lu *LU }

func (v benchView) Lookup(n uint64) (*LU, bool) { return v.lu, n == 0 }

func (v benchView) LUNs() []uint64 { return []uint64{0} }

// benchDir is a Directory with one target that one initiator may use
// without CHAP.
type benchDir struct{ view benchView }

func (d benchDir) Targets() []string { return []string{benchTarget} }

func (d benchDir) TargetAlias(target string) (string, bool) { return "bench", target == benchTarget }

func (d benchDir) Access(target, initiator string) Access {
	return Access{Allowed: target == benchTarget && initiator == benchInitiator}
}

func (d benchDir) View(target, initiator string) View {
	if target == benchTarget && initiator == benchInitiator {
		return d.view
	}
	return benchView{}
}

// benchServe starts a Server over a logical unit on the given backend
// ("mem" or "file") and returns its address; cleanup closes it.
func benchServe(b *testing.B, backend string) string {
	b.Helper()
	var be Backend
	switch backend {
	case "mem":
		be = NewMemBackend(benchLUSize)
	case "file":
		var err error
		be, err = OpenFileBackend(filepath.Join(b.TempDir(), "lu.img"), benchLUSize, true)
		if err != nil {
			b.Fatal(err)
		}
	default:
		b.Fatalf("unknown backend %q", backend)
	}
	lu, err := NewLU(LUConfig{Name: "bench", BlockSize: benchBlockSize, Backend: be})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(ServerConfig{Directory: benchDir{view: benchView{lu: lu}}, Executor: &Engine{}})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			b.Errorf("Close: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			b.Errorf("Serve = %v, want ErrServerClosed", err)
		}
		if err := be.Close(); err != nil {
			b.Errorf("backend Close: %v", err)
		}
	})
	return ln.Addr().String()
}

// benchPeer is a raw-PDU initiator with one session of one connection.
// Its command PDUs are encoded once into per-slot buffers; sending a
// command patches ITT, CmdSN, ExpStatSN and the LBA in place.
type benchPeer struct {
	b         *testing.B
	nc        net.Conn
	fr        *iscsi.Framer
	cmdSN     uint32
	expStatSN uint32
	seq       uint32 // commands sent
	slots     [][]byte
	write     bool
	din       iscsi.DataIn
	rsp       iscsi.SCSIResponse
	got       []int // Data-In bytes received per slot
}

// benchDial connects and logs in to benchTarget.
func benchDial(b *testing.B, addr string) *benchPeer {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	p := &benchPeer{b: b, nc: nc, cmdSN: 1}
	p.login()
	return p
}

// login runs the operational stage in one exchange (no CHAP) and moves
// the Framer to the negotiated limits.
func (p *benchPeer) login() {
	p.b.Helper()
	fr, err := iscsi.NewFramer(p.nc, p.nc, iscsi.FramerConfig{})
	if err != nil {
		p.b.Fatal(err)
	}
	neg, err := iscsi.NewNegotiator(iscsi.RoleInitiator, iscsi.NegotiatorConfig{
		InitiatorName: benchInitiator, TargetName: benchTarget,
		MaxRecvDataSegmentLength: 262144, NoInitialR2T: true,
	})
	if err != nil {
		p.b.Fatal(err)
	}
	req := &iscsi.LoginRequest{
		Transit: true, CSG: iscsi.LoginOperationalNegotiation, NSG: iscsi.FullFeaturePhase,
		ISID: iscsi.NewRandomISID(0x123456, 7), ITT: 1, CmdSN: p.cmdSN,
		Data: iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation)),
	}
	for range 8 {
		if err := fr.WritePDU(req); err != nil {
			p.b.Fatal(err)
		}
		f, err := fr.ReadFrame()
		if err != nil {
			p.b.Fatal(err)
		}
		var resp iscsi.LoginResponse
		if err := resp.DecodeFrame(f); err != nil {
			p.b.Fatal(err)
		}
		if resp.StatusClass != 0 {
			p.b.Fatalf("login refused: status %#02x%02x", resp.StatusClass, resp.StatusDetail)
		}
		if _, err := neg.ReceiveText(iscsi.LoginOperationalNegotiation, resp.Data); err != nil {
			p.b.Fatalf("negotiation: %v", err)
		}
		if resp.Transit && resp.NSG == iscsi.FullFeaturePhase {
			params := neg.Params()
			p.cmdSN, p.expStatSN = resp.ExpCmdSN, resp.StatSN+1
			p.fr, err = iscsi.NewFramer(bufio.NewReaderSize(p.nc, 1<<18), p.nc, iscsi.FramerConfig{
				MaxRecvDataSegmentLength: int(params.InitiatorMaxRecvDSL),
				MaxSendDataSegmentLength: int(params.TargetMaxRecvDSL),
			})
			if err != nil {
				p.b.Fatal(err)
			}
			if !params.ImmediateData || params.FirstBurstLength < benchIOSize {
				p.b.Fatalf("negotiated %+v: want immediate data of %d bytes", params, benchIOSize)
			}
			return
		}
		req.Data = iscsi.AppendPairs(nil, neg.Offer(iscsi.LoginOperationalNegotiation))
		req.ITT++
	}
	p.b.Fatal("login did not reach the Full Feature Phase")
}

// Byte offsets in a SCSI Command PDU (RFC 7143 section 11.3).
const (
	benchOffITT       = 16
	benchOffCmdSN     = 24
	benchOffExpStatSN = 28
	benchOffCDB       = 32
)

// prepare encodes qd command PDUs: READ(10) or WRITE(10) of 4 KiB, the
// write data as immediate data.
func (p *benchPeer) prepare(qd int, write bool) {
	p.b.Helper()
	if qd < 1 || qd > benchMaxQD {
		p.b.Fatalf("queue depth %d", qd)
	}
	p.write = write
	p.slots = make([][]byte, qd)
	p.got = make([]int, benchMaxQD)
	for i := range p.slots {
		cmd := &iscsi.SCSICommand{
			Final: true, Attr: iscsi.TaskAttrSimple, ExpectedDataTransferLength: benchIOSize,
			CDB: benchCDB10(scsi.OpRead10, 0, benchIOSize/benchBlockSize),
		}
		if write {
			cmd.Write = true
			cmd.CDB[0] = byte(scsi.OpWrite10)
			cmd.Data = bytes.Repeat([]byte{byte(i + 1)}, benchIOSize)
		} else {
			cmd.Read = true
		}
		buf, err := cmd.AppendBinary(nil)
		if err != nil {
			p.b.Fatal(err)
		}
		p.slots[i] = buf
	}
}

func benchCDB10(op scsi.OpCode, lba uint32, blocks uint16) []byte {
	cdb := make([]byte, 10)
	cdb[0] = byte(op)
	binary.BigEndian.PutUint32(cdb[2:], lba)
	binary.BigEndian.PutUint16(cdb[7:], blocks)
	return cdb
}

// send sends the command of one slot at a new LBA: consecutive commands
// walk the logical unit 4 KiB at a time.
func (p *benchPeer) send(slot int) {
	buf := p.slots[slot]
	blocks := uint32(benchLUSize / benchIOSize)
	lba := (p.seq % blocks) * (benchIOSize / benchBlockSize)
	binary.BigEndian.PutUint32(buf[benchOffITT:], p.seq<<8|uint32(slot))
	binary.BigEndian.PutUint32(buf[benchOffCmdSN:], p.cmdSN)
	binary.BigEndian.PutUint32(buf[benchOffExpStatSN:], p.expStatSN)
	binary.BigEndian.PutUint32(buf[benchOffCDB+2:], lba)
	p.seq++
	p.cmdSN++
	if _, err := p.nc.Write(buf); err != nil {
		p.b.Fatalf("send: %v", err)
	}
}

// complete reads PDUs until one command's status arrives and returns its
// slot. It fails the benchmark unless the status is GOOD and a read got
// all its data.
func (p *benchPeer) complete() int {
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.b.Fatalf("read: %v", err)
		}
		switch f.BHS.Opcode() {
		case iscsi.OpDataIn:
			if err := p.din.DecodeFrame(f); err != nil {
				p.b.Fatal(err)
			}
			p.got[p.din.ITT&0xff] += len(p.din.Data)
			if !p.din.HasStatus {
				continue
			}
			return p.finish(p.din.ITT, p.din.StatSN, p.din.Status)
		case iscsi.OpSCSIResponse:
			if err := p.rsp.DecodeFrame(f); err != nil {
				p.b.Fatal(err)
			}
			if p.rsp.Response != 0 {
				p.b.Fatalf("service response %#x", p.rsp.Response)
			}
			return p.finish(p.rsp.ITT, p.rsp.StatSN, p.rsp.Status)
		default:
			p.b.Fatalf("unexpected %v", f.BHS.Opcode())
		}
	}
}

// finish checks one command's status and, for a read, that all its data
// arrived; it returns the command's slot.
func (p *benchPeer) finish(itt, statSN uint32, st scsi.Status) int {
	if st != scsi.StatusGood {
		p.b.Fatalf("ITT %#x: status %v", itt, st)
	}
	p.expStatSN = statSN + 1
	slot := int(itt & 0xff)
	if !p.write && p.got[slot] != benchIOSize {
		p.b.Fatalf("ITT %#x: %d bytes of Data-In, want %d", itt, p.got[slot], benchIOSize)
	}
	p.got[slot] = 0
	return slot
}

// settle clears the POWER ON unit attention of a new nexus with TEST
// UNIT READY and checks that a write reads back.
func (p *benchPeer) settle() {
	p.b.Helper()
	tur := &iscsi.SCSICommand{Final: true, Attr: iscsi.TaskAttrSimple, CDB: make([]byte, 6)}
	for i := range 4 {
		tur.ITT, tur.CmdSN, tur.ExpStatSN = 0xfff00000+uint32(i), p.cmdSN, p.expStatSN
		p.cmdSN++
		if err := p.fr.WritePDU(tur); err != nil {
			p.b.Fatal(err)
		}
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.b.Fatal(err)
		}
		if err := p.rsp.DecodeFrame(f); err != nil {
			p.b.Fatalf("TEST UNIT READY: %v (%v)", err, f.BHS.Opcode())
		}
		p.expStatSN = p.rsp.StatSN + 1
		if p.rsp.Status == scsi.StatusGood {
			return
		}
	}
	p.b.Fatal("TEST UNIT READY never returned GOOD")
}

// run measures b.N commands at queue depth qd.
func (p *benchPeer) run(qd int, write bool) {
	p.prepare(qd, write)
	// Warm the path (and the server's pools) outside the measurement.
	for range 2 {
		for i := range qd {
			p.send(i)
		}
		for range qd {
			p.complete()
		}
	}
	for i := range qd {
		p.send(i)
	}
	for p.b.Loop() {
		p.send(p.complete())
	}
	// Drain what is still in flight, with the timer stopped.
	for range qd {
		p.complete()
	}
}

// verify writes a pattern through iSCSI and reads it back.
func (p *benchPeer) verify() {
	p.b.Helper()
	p.got = make([]int, benchMaxQD)
	want := bytes.Repeat([]byte("lunar"), benchIOSize/5+1)[:benchIOSize]
	w := &iscsi.SCSICommand{
		Final: true, Write: true, Attr: iscsi.TaskAttrSimple, ITT: 0xffe00001, ExpectedDataTransferLength: benchIOSize,
		CmdSN: p.cmdSN, ExpStatSN: p.expStatSN, CDB: benchCDB10(scsi.OpWrite10, 8, benchIOSize/benchBlockSize), Data: want,
	}
	p.cmdSN++
	if err := p.fr.WritePDU(w); err != nil {
		p.b.Fatal(err)
	}
	p.write = true
	p.complete()
	r := &iscsi.SCSICommand{
		Final: true, Read: true, Attr: iscsi.TaskAttrSimple, ITT: 0xffe00002, ExpectedDataTransferLength: benchIOSize,
		CmdSN: p.cmdSN, ExpStatSN: p.expStatSN, CDB: benchCDB10(scsi.OpRead10, 8, benchIOSize/benchBlockSize),
	}
	p.cmdSN++
	if err := p.fr.WritePDU(r); err != nil {
		p.b.Fatal(err)
	}
	var got []byte
	for {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.b.Fatal(err)
		}
		if err := p.din.DecodeFrame(f); err != nil {
			p.b.Fatalf("read back: %v (%v)", err, f.BHS.Opcode())
		}
		got = append(got, p.din.Data...)
		if p.din.HasStatus {
			p.expStatSN = p.din.StatSN + 1
			break
		}
	}
	if p.din.Status != scsi.StatusGood || !bytes.Equal(got, want) {
		p.b.Fatalf("read back: status %v, %d bytes, equal %v", p.din.Status, len(got), bytes.Equal(got, want))
	}
}

// benchServer runs one sub-benchmark per queue depth and backend.
func benchServer(b *testing.B, write bool) {
	cases := []struct {
		qd      int
		backend string
	}{{1, "mem"}, {32, "mem"}, {1, "file"}, {32, "file"}}
	for _, c := range cases {
		b.Run(fmt.Sprintf("QD%d-%s", c.qd, c.backend), func(b *testing.B) {
			addr := benchServe(b, c.backend)
			p := benchDial(b, addr)
			p.settle()
			p.verify()
			b.ReportAllocs()
			b.SetBytes(benchIOSize)
			p.run(c.qd, write)
		})
	}
}

// BenchmarkServerRead4K measures 4 KiB READ(10) commands over the whole
// iSCSI path; allocs/op is allocations per command.
func BenchmarkServerRead4K(b *testing.B) { benchServer(b, false) }

// BenchmarkServerWrite4K measures 4 KiB WRITE(10) commands with
// immediate data over the whole iSCSI path; allocs/op is allocations per
// command.
func BenchmarkServerWrite4K(b *testing.B) { benchServer(b, true) }
