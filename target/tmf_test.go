package target

import (
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

func (p *connPeer) tmf(req *iscsi.TaskMgmtRequest) *iscsi.TaskMgmtResponse {
	p.t.Helper()
	req.Immediate, req.ITT, req.CmdSN = true, p.nextITT(), p.cmdSN
	if req.ReferencedTaskTag == 0 {
		req.ReferencedTaskTag = iscsi.ReservedTag
	}
	p.send(req)
	return connWant[*iscsi.TaskMgmtResponse](p.t, p)
}

func tmfWant(t *testing.T, r *iscsi.TaskMgmtResponse, want iscsi.TMResponse) {
	t.Helper()
	if r.Response != want {
		t.Fatalf("TMF response %v, want %v", r.Response, want)
	}
}

func TestTMFAbortTask(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	itt := p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 1)})
	<-env.exec.starts
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.AbortTask, ReferencedTaskTag: itt, RefCmdSN: p.cmdSN - 1}), iscsi.TMFunctionComplete)
	// The aborted task gets no response.
	p.wantNothing(50 * time.Millisecond)
	// A task that completed: RefCmdSN below the window, "task does not exist".
	done := p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	connWant[*iscsi.SCSIResponse](t, p)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.AbortTask, ReferencedTaskTag: done, RefCmdSN: p.cmdSN - 1}), iscsi.TMTaskDoesNotExist)
	// A task that never arrived, RefCmdSN in the window below the TMF's
	// CmdSN: "function complete", and the CmdSN counts as received.
	p.cmdSN++ // the lost command's CmdSN
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.AbortTask, ReferencedTaskTag: 999, RefCmdSN: p.cmdSN - 1}), iscsi.TMFunctionComplete)
	itt = p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	if r := connWant[*iscsi.SCSIResponse](t, p); r.ITT != itt {
		t.Fatalf("response for ITT %d, want %d", r.ITT, itt)
	}
	p.logout()
}

func TestTMFTaskSetAndResets(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	for i := range 3 {
		p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, byte(i))})
	}
	for range 3 {
		<-env.exec.starts
	}
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.AbortTaskSet, LUN: scsi.EncodeLUN(0)}), iscsi.TMFunctionComplete)
	p.wantNothing(50 * time.Millisecond)
	p.command(&iscsi.SCSICommand{Final: true, CDB: connCDB10(connOpBlock, 0, 0, 9)})
	<-env.exec.starts
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.LogicalUnitReset, LUN: scsi.EncodeLUN(0)}), iscsi.TMFunctionComplete)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.LogicalUnitReset, LUN: scsi.EncodeLUN(7)}), iscsi.TMLUNDoesNotExist)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.ClearTaskSet, LUN: scsi.EncodeLUN(0)}), iscsi.TMFunctionComplete)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.TargetWarmReset}), iscsi.TMFunctionComplete)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.ClearACA, LUN: scsi.EncodeLUN(0)}), iscsi.TMFunctionNotSupported)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.TaskReassign, ReferencedTaskTag: 1}), iscsi.TMReassignNotSupported)
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: 42}), iscsi.TMFunctionNotSupported)
	// A cold reset answers, then closes the connection.
	tmfWant(t, p.tmf(&iscsi.TaskMgmtRequest{Function: iscsi.TargetColdReset}), iscsi.TMFunctionComplete)
	p.wantClosed()
}
