package initiator

import (
	"context"
	"fmt"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// TMFError is a task management function the target did not complete: the
// Response field of its Task Management Function Response.
type TMFError struct {
	// Function is the function requested.
	Function iscsi.TMFunction
	// Response is the target's answer.
	Response iscsi.TMResponse
}

// Error names the function and the answer.
func (e *TMFError) Error() string {
	return fmt.Sprintf("initiator: %v: %v", e.Function, e.Response)
}

// LUNReset resets the logical unit lun (LOGICAL UNIT RESET). Commands of
// this session in flight to the LU end with ErrTaskAborted.
func (s *Session) LUNReset(ctx context.Context, lun uint64) error {
	if lun > 0xffff {
		return fmt.Errorf("%w: LUN %d above 65535", ErrCommand, lun)
	}
	return s.taskMgmt(ctx, iscsi.LogicalUnitReset, lun)
}

// TargetWarmReset resets the target (TARGET WARM RESET). Commands of this
// session in flight end with ErrTaskAborted.
func (s *Session) TargetWarmReset(ctx context.Context) error {
	return s.taskMgmt(ctx, iscsi.TargetWarmReset, 0)
}

// TargetColdReset resets the target and makes it drop every connection
// (TARGET COLD RESET); the session then logs in again.
func (s *Session) TargetColdReset(ctx context.Context) error {
	return s.taskMgmt(ctx, iscsi.TargetColdReset, 0)
}

// taskMgmt sends one immediate TMF request and waits for its answer.
// Cancelling ctx stops the wait; the request's tag is released when the
// answer comes or the connection ends.
func (s *Session) taskMgmt(ctx context.Context, fn iscsi.TMFunction, lun uint64) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.sem }()
	s.mu.Lock()
	if s.state != StateLoggedIn || s.conn == nil {
		err := s.stoppedErrLocked()
		if err == nil {
			err = fmt.Errorf("%w: session is %v", ErrConnectionLost, s.state)
		}
		s.mu.Unlock()
		return err
	}
	t, err := s.allocLocked(sessKindTMF)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	t.fn, t.lunNum = fn, lun
	if fn == iscsi.LogicalUnitReset {
		t.lun = scsi.EncodeLUN(uint16(lun))
	}
	s.sendTMFLocked(t)
	s.mu.Unlock()
	select {
	case <-t.done:
		s.mu.Lock()
		err, resp := t.err, t.tmResp
		s.releaseLocked(t)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if resp != iscsi.TMFunctionComplete {
			return &TMFError{Function: fn, Response: resp}
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		t.orphan = true
		s.doneIfIdleLocked(t)
		s.mu.Unlock()
		return ctx.Err()
	}
}

// sendTMFLocked queues t's request as an immediate PDU: it carries the
// next CmdSN without taking it.
func (s *Session) sendTMFLocked(t *sessTask) {
	s.startReaderLocked(s.conn)
	t.state = sessTaskSent
	t.conn = s.conn
	t.cmdSN = s.cmdSN
	p := iscsi.TaskMgmtRequest{
		Immediate: true, Function: t.fn, LUN: t.lun, ITT: t.itt,
		ReferencedTaskTag: iscsi.ReservedTag, CmdSN: s.cmdSN,
	}
	if t.fn == iscsi.AbortTask {
		p.ReferencedTaskTag, p.RefCmdSN = t.refITT, t.refSN
	}
	if err := s.conn.queuePDULocked(&p, nil); err != nil {
		s.finishLocked(t, Response{}, err)
	}
}

// abortLocked sends ABORT TASK for the command ref, which stays in flight
// until the TMF response or its own status arrives.
func (s *Session) abortLocked(ref *sessTask) {
	if s.conn == nil || ref.conn != s.conn {
		return
	}
	t, err := s.allocLocked(sessKindTMF)
	if err != nil {
		// No tag left or the session is ending: the connection's end
		// releases ref.
		return
	}
	t.orphan = true
	t.fn, t.lun, t.lunNum = iscsi.AbortTask, ref.lun, ref.lunNum
	t.refITT, t.refSN = ref.itt, ref.cmdSN
	s.sendTMFLocked(t)
}

// handleTMFResponse ends a TMF exchange and the tasks it ended.
func (c *sessConn) handleTMFResponse(f *iscsi.Frame) error {
	var p iscsi.TaskMgmtResponse
	if err := p.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c.noteStatSN(p.StatSN)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateWindowLocked(c, p.ExpCmdSN, p.MaxCmdSN)
	t := s.lookupLocked(p.ITT)
	if t == nil || t.kind != sessKindTMF || t.state != sessTaskSent || t.conn != c {
		return protoErr("Task Management Response for ITT 0x%08x, which no request carried", p.ITT)
	}
	t.tmResp = p.Response
	switch t.fn {
	case iscsi.AbortTask:
		// Whatever the answer (complete, or no such task because its
		// status came first), the task is over on the target.
		if ref := c.cmdTaskLocked(t.refITT); ref != nil {
			s.finishLocked(ref, Response{}, ErrTaskAborted)
		}
	case iscsi.LogicalUnitReset, iscsi.TargetWarmReset, iscsi.TargetColdReset:
		if p.Response == iscsi.TMFunctionComplete {
			for _, o := range s.slots {
				if o.kind == sessKindCmd && o.state == sessTaskSent && o.conn == c &&
					(t.fn != iscsi.LogicalUnitReset || o.lunNum == t.lunNum) && iscsi.SNLess(o.cmdSN, t.cmdSN) {
					s.finishLocked(o, Response{}, ErrTaskAborted)
				}
			}
		}
	}
	s.finishLocked(t, Response{}, nil)
	return nil
}
