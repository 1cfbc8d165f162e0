package target

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// scsiTaskEnv is a server with small bursts, so one write needs
// immediate data, unsolicited Data-Out and several R2Ts, and a peer that
// accepts 1 KiB data segments, so reads are split.
func scsiTaskEnv(t *testing.T) (*connTestEnv, *connPeer) {
	t.Helper()
	env := connStart(t, ServerConfig{MaxBurstLength: 4096, FirstBurstLength: 2048, MaxOutstandingR2T: 2})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{cfg: iscsi.NegotiatorConfig{NoInitialR2T: true, MaxRecvDataSegmentLength: 1024, MaxOutstandingR2T: 4}})
	if p.params.InitialR2T || !p.params.ImmediateData || p.params.FirstBurstLength != 2048 || p.params.MaxBurstLength != 4096 {
		t.Fatalf("negotiated %v", p.params)
	}
	return env, p
}

// answerR2Ts serves the R2Ts of a write from data until its response.
func (p *connPeer) answerR2Ts(itt uint32, data []byte) (*iscsi.SCSIResponse, int) {
	p.t.Helper()
	r2ts := 0
	wantSN := uint32(0)
	for {
		pdu, err := p.recv()
		if err != nil {
			p.t.Fatal(err)
		}
		switch r := pdu.(type) {
		case *iscsi.R2T:
			if r.ITT != itt || r.R2TSN != wantSN || r.DesiredDataTransferLength == 0 || r.DesiredDataTransferLength > p.params.MaxBurstLength {
				p.t.Fatalf("R2T %+v", r)
			}
			wantSN++
			r2ts++
			off, end := r.BufferOffset, r.BufferOffset+r.DesiredDataTransferLength
			for sn := uint32(0); off < end; sn++ {
				n := min(end-off, 1500)
				p.send(&iscsi.DataOut{Final: off+n == end, ITT: itt, TTT: r.TTT, DataSN: sn, BufferOffset: off, Data: data[off : off+n]})
				off += n
			}
		case *iscsi.SCSIResponse:
			return r, r2ts
		default:
			p.t.Fatalf("got %v during a write", pdu.Opcode())
		}
	}
}

func TestSCSITaskWriteAllPhasesAndReadSplit(t *testing.T) {
	env, p := scsiTaskEnv(t)
	const size = 16384
	data := connPattern(size, 1)
	// Immediate data (1 KiB), unsolicited Data-Out up to FirstBurstLength,
	// then R2Ts of at most MaxBurstLength for the rest.
	itt := p.command(&iscsi.SCSICommand{Write: true, ExpectedDataTransferLength: size,
		CDB: connCDB10(0x2a, 8, size/512, 0), Data: data[:1024]})
	p.send(&iscsi.DataOut{ITT: itt, TTT: iscsi.ReservedTag, DataSN: 0, BufferOffset: 1024, Data: data[1024:1536]})
	p.send(&iscsi.DataOut{Final: true, ITT: itt, TTT: iscsi.ReservedTag, DataSN: 1, BufferOffset: 1536, Data: data[1536:2048]})
	r, r2ts := p.answerR2Ts(itt, data)
	if r.Status != scsi.StatusGood || r.Underflow || r.Overflow {
		t.Fatalf("write response %+v", r)
	}
	if r2ts != (size-2048)/4096+1 || r.ExpDataSN != uint32(r2ts) {
		t.Fatalf("%d R2Ts, ExpDataSN %d", r2ts, r.ExpDataSN)
	}
	env.exec.mu.Lock()
	same := bytes.Equal(env.exec.disk[8*512:8*512+size], data)
	env.exec.mu.Unlock()
	if !same {
		t.Fatal("written data differs")
	}
	// The read comes back in 1 KiB Data-In PDUs with the status in the last.
	got, status, resid, under, over, pdus := p.readAll(p.command(&iscsi.SCSICommand{Final: true, Read: true,
		ExpectedDataTransferLength: size, CDB: connCDB10(0x28, 8, size/512, 0)}))
	if status != scsi.StatusGood || resid != 0 || under || over || pdus != size/1024 || !bytes.Equal(got, data) {
		t.Fatalf("read: status %v resid %d under %v over %v pdus %d equal %v", status, resid, under, over, pdus, bytes.Equal(got, data))
	}
	if s := env.srv.Stats(); s.BytesIn != size || s.BytesOut != size || s.Commands != 2 {
		t.Fatalf("stats %+v", s)
	}
	p.logout()
}

func TestSCSITaskResiduals(t *testing.T) {
	_, p := scsiTaskEnv(t)
	// Underflow: the initiator expects more than the command moves.
	_, status, resid, under, over, _ := p.readAll(p.command(&iscsi.SCSICommand{Final: true, Read: true,
		ExpectedDataTransferLength: 4096, CDB: connCDB10(0x28, 0, 4, 0)}))
	if status != scsi.StatusGood || !under || over || resid != 2048 {
		t.Fatalf("underflow: status %v resid %d under %v over %v", status, resid, under, over)
	}
	// Overflow: the command would move more than expected.
	got, status, resid, under, over, _ := p.readAll(p.command(&iscsi.SCSICommand{Final: true, Read: true,
		ExpectedDataTransferLength: 1024, CDB: connCDB10(0x28, 0, 4, 0)}))
	if status != scsi.StatusGood || under || !over || resid != 1024 || len(got) != 1024 {
		t.Fatalf("overflow: status %v resid %d under %v over %v len %d", status, resid, under, over, len(got))
	}
	// CHECK CONDITION: a SCSI Response with sense.
	p.command(&iscsi.SCSICommand{Final: true, Read: true, ExpectedDataTransferLength: 512, CDB: connCDB10(0x28, 1<<20, 1, 0)})
	r := connWant[*iscsi.SCSIResponse](t, p)
	if sense, err := r.Sense(); r.Status != scsi.StatusCheckCondition || err != nil || len(sense) == 0 {
		t.Fatalf("check condition: %+v", r)
	}
	p.logout()
}

func TestSCSITaskBadDataOut(t *testing.T) {
	tests := []struct {
		name string
		out  func(itt, ttt uint32) *iscsi.DataOut
	}{
		{"larger than requested", func(itt, ttt uint32) *iscsi.DataOut {
			return &iscsi.DataOut{Final: true, ITT: itt, TTT: ttt, BufferOffset: 0, Data: make([]byte, 8192)}
		}},
		{"wrong offset", func(itt, ttt uint32) *iscsi.DataOut {
			return &iscsi.DataOut{Final: true, ITT: itt, TTT: ttt, BufferOffset: 512, Data: make([]byte, 512)}
		}},
		{"wrong DataSN", func(itt, ttt uint32) *iscsi.DataOut {
			return &iscsi.DataOut{Final: true, ITT: itt, TTT: ttt, DataSN: 27, Data: make([]byte, 1024)}
		}},
		{"unknown TTT", func(itt, ttt uint32) *iscsi.DataOut {
			return &iscsi.DataOut{Final: true, ITT: itt, TTT: ttt + 99, Data: make([]byte, 1024)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := connStart(t, ServerConfig{})
			p := connDial(t, env.addr)
			p.mustLogin(connLoginOpts{})
			itt := p.command(&iscsi.SCSICommand{Final: true, Write: true, ExpectedDataTransferLength: 1024, CDB: connCDB10(0x2a, 0, 2, 0)})
			r2t := connWant[*iscsi.R2T](t, p)
			p.send(tc.out(itt, r2t.TTT))
			r := connWant[*iscsi.SCSIResponse](t, p)
			sense, err := r.Sense()
			if err != nil {
				t.Fatal(err)
			}
			sd, err := scsi.ParseSense(sense)
			if r.ITT != itt || r.Status != scsi.StatusCheckCondition || err != nil ||
				sd.Key != scsi.SenseKeyAbortedCommand || sd.Code() != scsi.SenseDataPhaseError {
				t.Fatalf("response %+v, sense %v", r, sd.String())
			}
			// Later Data-Out for the task is discarded; the session goes on.
			p.send(&iscsi.DataOut{Final: true, ITT: itt, TTT: r2t.TTT, Data: make([]byte, 1024)})
			tur := p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
			if r := connWant[*iscsi.SCSIResponse](t, p); r.ITT != tur || r.Status != scsi.StatusGood {
				t.Fatalf("after a bad Data-Out: %+v", r)
			}
			env.exec.mu.Lock()
			executed := len(env.exec.order)
			env.exec.mu.Unlock()
			if executed != 1 {
				t.Fatal("a write with bad Data-Out was executed")
			}
			p.logout()
		})
	}
}

func TestSCSITaskRefusedCommands(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	// Bidirectional: rejected; the CmdSN is consumed and the session goes on.
	p.command(&iscsi.SCSICommand{Final: true, Read: true, Write: true, HasBidi: true, ExpectedBidiReadLength: 512,
		ExpectedDataTransferLength: 512, CDB: connCDB10(0x2a, 0, 1, 0)})
	if rej := connWant[*iscsi.Reject](t, p); rej.Reason != iscsi.RejectCommandNotSupported {
		t.Fatalf("bidi: reason %v", rej.Reason)
	}
	// An expected length beyond MaxTransferLength: refused before any
	// buffer is allocated.
	p.command(&iscsi.SCSICommand{Final: true, Read: true, ExpectedDataTransferLength: 0xffffffff, CDB: connCDB10(0x28, 0, 1, 0)})
	if rej := connWant[*iscsi.Reject](t, p); rej.Reason != iscsi.RejectInvalidPDUField {
		t.Fatalf("huge EDTL: reason %v", rej.Reason)
	}
	// Immediate data beyond the expected length.
	p.command(&iscsi.SCSICommand{Final: true, Write: true, ExpectedDataTransferLength: 512, CDB: connCDB10(0x2a, 0, 1, 0), Data: make([]byte, 1024)})
	if rej := connWant[*iscsi.Reject](t, p); rej.Reason != iscsi.RejectProtocolError {
		t.Fatalf("immediate data: reason %v", rej.Reason)
	}
	itt := p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	if r := connWant[*iscsi.SCSIResponse](t, p); r.ITT != itt || r.Status != scsi.StatusGood || r.ExpCmdSN != p.cmdSN {
		t.Fatalf("after refusals: %+v (want ExpCmdSN %d)", r, p.cmdSN)
	}
	p.logout()
}

// sessCtxKey is a context key for TestSessCtx.
type sessCtxKey struct{}

// TestSessCtx checks the pooled task context against the
// context.Context contract: abort, parent cancellation, values, and a
// reset that forgets the previous command.
func TestSessCtx(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), sessCtxKey{}, "v"))
	defer cancelParent()
	x := new(sessCtx)
	x.reset(parent)
	if err := x.Err(); err != nil {
		t.Fatalf("Err = %v, want nil", err)
	}
	if got := x.Value(sessCtxKey{}); got != "v" {
		t.Errorf("Value = %v, want v", got)
	}
	if _, ok := x.Deadline(); ok {
		t.Error("Deadline set, want none")
	}
	done := x.Done()
	select {
	case <-done:
		t.Fatal("Done closed before cancel")
	default:
	}
	x.cancel(context.Canceled)
	<-done
	if err := x.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", err)
	}

	// A reset context is fresh; a Done watch on the old parent is gone.
	other, cancelOther := context.WithCancel(context.Background())
	x.reset(other)
	_ = x.Done()
	x.reset(parent)
	cancelOther()
	if err := x.Err(); err != nil {
		t.Fatalf("Err after reset = %v, want nil", err)
	}
	done = x.Done()
	select {
	case <-done:
		t.Fatal("Done closed after reset")
	default:
	}

	// The parent's cancellation reaches both Err and Done.
	cancelParent()
	<-done
	if err := x.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err after the parent's cancel = %v, want context.Canceled", err)
	}
	x.reset(context.Background())
	if err := x.Err(); err != nil {
		t.Fatalf("Err after reset = %v, want nil", err)
	}

	// Err sees a cancelled parent before Done was ever asked for, and
	// Done is then closed at once.
	p2, cancel2 := context.WithCancel(context.Background())
	x.reset(p2)
	cancel2()
	if err := x.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", err)
	}
	<-x.Done()
}

// TestConnBufPool checks the size classes and the handles of the task
// buffer pool.
func TestConnBufPool(t *testing.T) {
	var p connBufPool
	if b := p.get(0); b != nil {
		t.Fatalf("get(0) = %v, want nil", b)
	}
	p.put(nil)
	for _, tc := range []struct{ n, cap int }{{1, 4096}, {4096, 4096}, {4097, 8192}, {1 << 20, 1 << 20}, {MaxTransferLength, MaxTransferLength}} {
		b := p.get(tc.n)
		if len(*b) != tc.n || cap(*b) != tc.cap {
			t.Errorf("get(%d): len %d cap %d, want %d, %d", tc.n, len(*b), cap(*b), tc.n, tc.cap)
		}
		p.put(b)
		if len(*b) != 0 {
			t.Errorf("put left len %d", len(*b))
		}
	}
	// Odd capacities are not pooled.
	odd := make([]byte, 5000)
	p.put(&odd)
}

// statuses reads PDUs until every task of itts has its status, and
// returns each one's status.
func (p *connPeer) statuses(itts ...uint32) map[uint32]scsi.Status {
	p.t.Helper()
	got := make(map[uint32]scsi.Status)
	for len(got) < len(itts) {
		pdu, err := p.recv()
		if err != nil {
			p.t.Fatalf("read: %v (answers so far %v)", err, got)
		}
		switch r := pdu.(type) {
		case *iscsi.SCSIResponse:
			got[r.ITT] = r.Status
		case *iscsi.DataIn:
			if r.HasStatus {
				got[r.ITT] = r.Status
			}
		default:
			p.t.Fatalf("got %v", pdu.Opcode())
		}
	}
	for _, itt := range itts {
		if _, ok := got[itt]; !ok {
			p.t.Fatalf("no answer for ITT %d: %v", itt, got)
		}
	}
	return got
}

// The Executor's quick commands run on the connection's reader, the
// others on task workers; a quick command the task set holds back (an
// ORDERED one behind a running task) runs once it may.
func TestConnQuickTasks(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	tur := p.command(&iscsi.SCSICommand{Final: true, CDB: []byte{0x00, 0, 0, 0, 0, 0}})
	inq := p.command(&iscsi.SCSICommand{Final: true, Read: true, ExpectedDataTransferLength: 36, CDB: []byte{0x12, 0, 0, 0, 36, 0}})
	rd := p.command(&iscsi.SCSICommand{Final: true, Read: true, ExpectedDataTransferLength: 512, CDB: connCDB10(0x28, 0, 1, 1)})
	for itt, st := range p.statuses(tur, inq, rd) {
		if st != scsi.StatusGood {
			t.Fatalf("ITT %d: status %v", itt, st)
		}
	}
	want := []connRun{{op: 0x00, onReader: true}, {op: 0x12, onReader: true}, {op: 0x28, onReader: false}}
	if got := env.exec.runs(); !slices.Equal(got, want) {
		t.Fatalf("ran %+v, want %+v", got, want)
	}

	for range want {
		<-env.exec.starts
	}
	blocked := p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 9)})
	<-env.exec.starts
	ordered := p.command(&iscsi.SCSICommand{Final: true, Attr: iscsi.TaskAttrOrdered, CDB: []byte{0x00, 0, 0, 0, 0, 0}})
	p.wantNothing(100 * time.Millisecond)
	if n := len(env.exec.runs()); n != len(want)+1 {
		t.Fatalf("%d commands ran, want %d: the ORDERED TEST UNIT READY ran before the task ahead of it", n, len(want)+1)
	}
	if r := p.abortTask(blocked, 1)[0]; r.ITT != ordered || r.Status != scsi.StatusGood {
		t.Fatalf("answer for ITT %d with status %v, want GOOD for the ORDERED TEST UNIT READY (ITT %d)", r.ITT, r.Status, ordered)
	}
	p.logout()
}
