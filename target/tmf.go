package target

import (
	"github.com/lunarsan/lunar/iscsi"
)

// handleTMF runs a Task Management Function Request (RFC 7143 section
// 11.5). The response goes out once every task the function affects has
// completed or been aborted; the waiting happens off the reader.
func (c *conn) handleTMF(p *iscsi.TaskMgmtRequest) {
	se := c.sess
	resp := &iscsi.TaskMgmtResponse{ITT: p.ITT, Response: iscsi.TMFunctionComplete}
	respondAfter := func(ts []*sessTask, then func()) {
		if len(ts) == 0 {
			if then != nil {
				then()
			}
			c.sendPDU(resp)
			return
		}
		if !c.goTask(func() {
			waitTasks(c.ctx, ts)
			if then != nil {
				then()
			}
			c.sendPDU(resp)
		}) {
			releaseTasks(ts)
		}
	}
	deliver := func() {
		switch p.Function {
		case iscsi.AbortTask:
			t := se.task(p.ReferencedTaskTag)
			if t == nil {
				// RFC 7143 section 11.5.1: "If the Referenced Task Tag does
				// not identify an existing task but if the CmdSN indicated
				// by the RefCmdSN field ... is within the valid CmdSN
				// window and less than the CmdSN of the Task Management
				// Function Request itself, then targets must consider the
				// CmdSN as received and return the 'Function complete'
				// response"; outside the window, "Task does not exist".
				exp, max := se.window()
				if iscsi.SNInWindow(p.RefCmdSN, exp, max) && iscsi.SNLess(p.RefCmdSN, p.CmdSN) {
					se.consume(c, p.RefCmdSN)
				} else {
					resp.Response = iscsi.TMTaskDoesNotExist
				}
				c.sendPDU(resp)
				return
			}
			ts := se.abortWhere(func(x *sessTask) bool { return x == t }, true, true)
			t.unref()
			respondAfter(ts, nil)
		case iscsi.AbortTaskSet:
			respondAfter(se.abortWhere(func(x *sessTask) bool { return x.rawLUN == p.LUN }, true, true), nil)
		case iscsi.ClearTaskSet, iscsi.LogicalUnitReset:
			lu, ok := c.tmfLookup(p)
			if !ok && p.Function == iscsi.LogicalUnitReset {
				resp.Response = iscsi.TMLUNDoesNotExist
				c.sendPDU(resp)
				return
			}
			ts := se.abortWhere(func(x *sessTask) bool { return x.rawLUN == p.LUN }, true, true)
			if ok {
				ts = append(ts, c.srv.tmfAbortLU(se, lu)...)
			}
			var then func()
			if p.Function == iscsi.LogicalUnitReset {
				then = func() { tmfReset(lu, se.nexus) }
			}
			respondAfter(ts, then)
		case iscsi.TargetWarmReset, iscsi.TargetColdReset:
			ts := se.abortAll(true)
			others := c.srv.tmfTargetSessions(se)
			for _, o := range others {
				ts = append(ts, o.abortWhere(func(*sessTask) bool { return true }, false, true)...)
			}
			cold := p.Function == iscsi.TargetColdReset
			then := func() {
				if v := se.currentView(); v != nil {
					for _, n := range v.LUNs() {
						if lu, ok := v.Lookup(n); ok {
							tmfReset(lu, se.nexus)
						}
					}
				}
				if cold {
					// A cold reset closes every connection of the
					// target, this one after its response.
					for _, o := range others {
						if oc := o.currentConn(); oc != nil {
							oc.close(errConnDone)
						}
					}
				}
			}
			if cold {
				if !c.goTask(func() {
					waitTasks(c.ctx, ts)
					then()
					c.send(connOut{pdu: resp, closeAfter: true})
				}) {
					releaseTasks(ts)
				}
				return
			}
			respondAfter(ts, then)
		case iscsi.TaskReassign:
			// ErrorRecoveryLevel 0 has no task reassignment.
			resp.Response = iscsi.TMReassignNotSupported
			c.sendPDU(resp)
		default:
			resp.Response = iscsi.TMFunctionNotSupported
			c.sendPDU(resp)
		}
	}
	if !se.admit(c, p.CmdSN, p.Immediate, nil, deliver) {
		c.srv.stats.err(ErrorKindDropped)
	}
}

// tmfLookup resolves the LU a request addresses in the session's view.
func (c *conn) tmfLookup(p *iscsi.TaskMgmtRequest) (*LU, bool) {
	v := c.sess.currentView()
	n, err := p.LUN.Number()
	if v == nil || err != nil {
		return nil, false
	}
	return v.Lookup(uint64(n))
}

// tmfReset runs the engine's LU reset for the nexus.
func tmfReset(lu *LU, n *Nexus) {
	if lu != nil {
		lu.Reset(n)
	}
}

// tmfAbortLU aborts the tasks of every session but except that address
// lu; they answer TASK ABORTED (their initiators did not ask).
func (s *Server) tmfAbortLU(except *session, lu *LU) []*sessTask {
	var out []*sessTask
	for _, o := range s.sessionSnapshot() {
		if o == except || o.typ != iscsi.SessionNormal {
			continue
		}
		v := o.currentView()
		if v == nil {
			continue
		}
		out = append(out, o.abortWhere(func(t *sessTask) bool {
			x, ok := v.Lookup(t.lun)
			return ok && x == lu
		}, false, true)...)
	}
	return out
}

// tmfTargetSessions returns the other Normal sessions on se's target.
func (s *Server) tmfTargetSessions(se *session) []*session {
	var out []*session
	for _, o := range s.sessionSnapshot() {
		if o != se && o.typ == iscsi.SessionNormal && o.target == se.target {
			out = append(out, o)
		}
	}
	return out
}
