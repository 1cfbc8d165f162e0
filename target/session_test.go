package target

import (
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

func TestSessionReinstatement(t *testing.T) {
	env := connStart(t, ServerConfig{})
	a := connDial(t, env.addr)
	a.mustLogin(connLoginOpts{})
	// A task in flight on the old session is aborted by reinstatement.
	a.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 1)})
	<-env.exec.starts
	old := a.tsih
	b := connDial(t, env.addr)
	b.isid = a.isid // same initiator port, TSIH 0: reinstatement
	b.mustLogin(connLoginOpts{})
	if b.tsih == old {
		t.Fatalf("new session kept TSIH %d", old)
	}
	a.wantClosed()
	ss := env.srv.Sessions()
	if len(ss) != 1 || ss[0].TSIH != b.tsih || ss[0].ISID != b.isid || ss[0].Initiator != connTestInitiator ||
		ss[0].Target != connTestTarget || len(ss[0].Connections) != 1 || len(ss[0].LUNs) != 1 {
		t.Fatalf("sessions %+v", ss)
	}
	b.logout()
}

func TestSessionConnectionReinstatement(t *testing.T) {
	env := connStart(t, ServerConfig{})
	a := connDial(t, env.addr)
	a.mustLogin(connLoginOpts{})
	b := connDial(t, env.addr)
	b.isid, b.tsih = a.isid, a.tsih // same CID 0: the connection is replaced
	b.mustLogin(connLoginOpts{})
	a.wantClosed()
	if b.tsih != a.tsih {
		t.Fatalf("TSIH %d, want %d", b.tsih, a.tsih)
	}
	b.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	if r := connWant[*iscsi.SCSIResponse](t, b); r.Status != scsi.StatusGood {
		t.Fatalf("status %v", r.Status)
	}
	b.logout()
}

func TestSessionCmdSNWindow(t *testing.T) {
	env := connStart(t, ServerConfig{QueueDepth: 4})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	tur := func(cmdSN uint32, itt uint32) {
		p.send(&iscsi.SCSICommand{Final: true, Attr: iscsi.TaskAttrSimple, ITT: itt, CmdSN: cmdSN, CDB: make([]byte, 6)})
	}
	exp := p.cmdSN
	// Above MaxCmdSN and below ExpCmdSN: silently ignored (libiscsi's
	// iSCSICmdSnTooHigh and iSCSICmdSnTooLow).
	tur(exp+4, 100)
	tur(exp-1, 101)
	p.wantNothing(100 * time.Millisecond)
	// One ahead of ExpCmdSN waits for the gap to fill.
	tur(exp+1, 102)
	p.wantNothing(50 * time.Millisecond)
	tur(exp, 103)
	got := map[uint32]bool{}
	var last *iscsi.SCSIResponse
	for range 2 {
		r := connWant[*iscsi.SCSIResponse](t, p)
		got[r.ITT] = true
		last = r
	}
	if !got[102] || !got[103] {
		t.Fatalf("responses for %v, want 102 and 103", got)
	}
	if last.ExpCmdSN != exp+2 || last.MaxCmdSN != exp+2+3 {
		t.Fatalf("window %d..%d, want %d..%d", last.ExpCmdSN, last.MaxCmdSN, exp+2, exp+5)
	}
	// A full window: MaxCmdSN stays until tasks complete.
	p.cmdSN = exp + 2
	for i := range 4 {
		p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, byte(i))})
	}
	for range 4 {
		<-env.exec.starts
	}
	p.send(&iscsi.NOPOut{Immediate: true, ITT: 7, TTT: iscsi.ReservedTag, CmdSN: p.cmdSN})
	n := connWant[*iscsi.NOPIn](t, p)
	if n.ExpCmdSN != exp+6 || n.MaxCmdSN != exp+5 {
		t.Fatalf("full window %d..%d, want closed at %d..%d", n.ExpCmdSN, n.MaxCmdSN, exp+6, exp+5)
	}
	tur(exp+6, 104) // beyond the closed window: ignored
	p.wantNothing(50 * time.Millisecond)
	p.logout()
}

// abortTask sends ABORT TASK for the task ref, and reads its answer,
// which must be Function Complete, and the SCSI Responses of n other
// tasks that the abort lets finish, in whatever order they come.
func (p *connPeer) abortTask(ref uint32, n int) []*iscsi.SCSIResponse {
	p.t.Helper()
	p.send(&iscsi.TaskMgmtRequest{Immediate: true, Function: iscsi.AbortTask, ITT: 50, ReferencedTaskTag: ref, CmdSN: p.cmdSN})
	var out []*iscsi.SCSIResponse
	for range n + 1 {
		pdu, err := p.recv()
		if err != nil {
			p.t.Fatal(err)
		}
		switch r := pdu.(type) {
		case *iscsi.TaskMgmtResponse:
			if r.Response != iscsi.TMFunctionComplete {
				p.t.Fatalf("abort: %v", r.Response)
			}
		case *iscsi.SCSIResponse:
			out = append(out, r)
		default:
			p.t.Fatalf("got %v", pdu.Opcode())
		}
	}
	if len(out) != n {
		p.t.Fatalf("%d SCSI Responses after the abort, want %d", len(out), n)
	}
	return out
}

func TestSessionOrderedAttribute(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	// A blocking SIMPLE task, then an ORDERED one, then a SIMPLE one: the
	// ORDERED waits for the first, the last waits for the ORDERED.
	first := p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 1)})
	<-env.exec.starts
	p.command(&iscsi.SCSICommand{Final: true, Attr: iscsi.TaskAttrOrdered, CDB: connCDB10(0x28, 0, 0, 2)})
	p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(0x28, 0, 0, 3)})
	p.wantNothing(100 * time.Millisecond)
	// Abort the first; the others run in order.
	for _, r := range p.abortTask(first, 2) {
		if r.ITT == first {
			t.Fatal("aborted task answered")
		}
	}
	env.exec.mu.Lock()
	order := string(env.exec.order)
	env.exec.mu.Unlock()
	if order != "\x01\x02\x03" {
		t.Fatalf("start order %q", order)
	}
	p.logout()
}

func TestSessionViewChanged(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	env.srv.ViewChanged(connTestTarget, []string{"iqn.2026-11.org.example:someone-else"})
	env.srv.ViewChanged(connTestTarget2, []string{connTestInitiator})
	env.srv.ViewChanged(connTestTarget, []string{connTestInitiator})
	m := connWant[*iscsi.AsyncMessage](t, p)
	if m.AsyncEvent != iscsi.AsyncSCSIEvent {
		t.Fatalf("event %v", m.AsyncEvent)
	}
	sb, err := m.SenseData()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := scsi.ParseSense(sb)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Key != scsi.SenseKeyUnitAttention || sd.Code() != scsi.SenseReportedLUNsDataHasChanged {
		t.Fatalf("sense %v", sd.String())
	}
	p.logout()
}
