package target

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// session is one iSCSI session: its identity, negotiated parameters, the
// command window and the task table. MaxConnections is 1, so a session has
// one connection at a time; the connection's reader feeds the window, and
// task goroutines complete tasks out of order.
type session struct {
	srv       *Server
	initiator string
	target    string
	isid      iscsi.ISID
	tsih      uint16
	typ       iscsi.SessionType
	params    iscsi.SessionParams
	nexus     *Nexus
	depth     int

	view atomic.Pointer[sessViewBox]

	mu       sync.Mutex
	conn     *conn
	expCmdSN uint32
	// active counts the non-immediate tasks holding a window slot; the
	// window is MaxCmdSN = ExpCmdSN + depth - active - 1, so it opens as
	// tasks complete and never shrinks.
	active int
	// immediate counts the immediate tasks in flight.
	immediate int
	pending   map[uint32]sessPending
	tasks     map[uint32]*sessTask
	queue     []*sessTask
	ended     bool
}

// sessViewBox holds a View for an atomic pointer.
type sessViewBox struct{ v View }

// sessPending is a PDU that arrived ahead of ExpCmdSN, held until the gap
// before it fills: a SCSI command (task, delivered into the task set), or
// another PDU (deliver). Both nil holds a CmdSN that only advances the
// window (a consumed CmdSN, or a task that finished while it waited).
type sessPending struct {
	deliver func()
	task    *sessTask
}

// run delivers the PDU; from is the connection whose reader delivers it.
func (p sessPending) run(s *session, from *conn) {
	switch {
	case p.deliver != nil:
		p.deliver()
	case p.task != nil:
		s.deliverTask(p.task, from)
	}
}

// sessMaxImmediate bounds the immediate tasks of a session, beyond which
// an immediate command is rejected ("too many immediate commands").
func (s *session) sessMaxImmediate() int { return s.depth }

func newSession(srv *Server, c *conn, p iscsi.SessionParams, isid iscsi.ISID, cmdSN uint32) *session {
	se := &session{
		srv:       srv,
		initiator: p.InitiatorName,
		target:    p.TargetName,
		isid:      isid,
		typ:       p.SessionType,
		params:    p,
		depth:     srv.cfg.QueueDepth,
		conn:      c,
		expCmdSN:  cmdSN,
		pending:   make(map[uint32]sessPending),
		tasks:     make(map[uint32]*sessTask),
	}
	if p.SessionType == iscsi.SessionNormal {
		se.nexus = NewNexus(p.InitiatorName, isid, p.TargetName, p.TargetPortalGroupTag)
		se.nexus.aborter = srv
		se.refreshView()
	}
	return se
}

// refreshView loads the initiator's current view from the Directory.
func (s *session) refreshView() {
	v := s.srv.cfg.Directory.View(s.target, s.initiator)
	s.view.Store(&sessViewBox{v: v})
}

// currentView returns the view commands see now.
func (s *session) currentView() View {
	if b := s.view.Load(); b != nil {
		return b.v
	}
	return nil
}

// window returns ExpCmdSN and MaxCmdSN.
func (s *session) window() (exp, max uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.windowLocked()
}

func (s *session) windowLocked() (exp, max uint32) {
	free := s.depth - s.active
	if free < 0 {
		free = 0
	}
	return s.expCmdSN, s.expCmdSN + uint32(free) - 1
}

// admit runs a PDU that carries a CmdSN through the command window (RFC
// 7143 section 4.2.2.1). An immediate PDU is delivered at once. A
// non-immediate one outside [ExpCmdSN, MaxCmdSN] is dropped: "an iSCSI
// target MUST silently ignore any non-immediate command outside of this
// range or non-immediate duplicates within the range". One ahead of
// ExpCmdSN waits until the gap before it fills. Delivering a SCSI command
// (t, with deliver nil) enters it into the task set; any other PDU is
// delivered by running deliver. t takes a window slot (or an immediate
// slot) from its delivery until it finishes. admit reports false when the
// PDU was dropped; it is then never delivered. from is the connection
// whose reader goroutine calls (every PDU is admitted by a reader).
func (s *session) admit(from *conn, cmdSN uint32, immediate bool, t *sessTask, deliver func()) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	if immediate {
		s.countLocked(t)
		s.mu.Unlock()
		sessPending{deliver: deliver, task: t}.run(s, from)
		return true
	}
	exp, max := s.windowLocked()
	if !iscsi.SNInWindow(cmdSN, exp, max) {
		s.mu.Unlock()
		return false
	}
	if cmdSN != exp {
		if _, dup := s.pending[cmdSN]; dup {
			s.mu.Unlock()
			return false
		}
		if t != nil && t.finished {
			// Aborted already: only its CmdSN is left to count.
			t = nil
		}
		s.pending[cmdSN] = sessPending{deliver: deliver, task: t}
		s.mu.Unlock()
		return true
	}
	// The common case delivers one PDU; runBuf keeps it off the heap.
	var runBuf [4]sessPending
	run := append(runBuf[:0], sessPending{deliver: deliver, task: t})
	s.expCmdSN++
	s.countLocked(t)
	for {
		p, ok := s.pending[s.expCmdSN]
		if !ok {
			break
		}
		delete(s.pending, s.expCmdSN)
		s.expCmdSN++
		s.countLocked(p.task)
		if p.task != nil {
			// Held until delivered: an abort may finish the task
			// meanwhile, and it must not be reused before.
			p.task.refs.Add(1)
		}
		run = append(run, p)
	}
	s.mu.Unlock()
	for i, p := range run {
		p.run(s, from)
		if i > 0 && p.task != nil {
			p.task.unref()
		}
	}
	return true
}

// countLocked gives a delivered task its slot, in the same step that
// advances ExpCmdSN, so MaxCmdSN never moves back.
func (s *session) countLocked(t *sessTask) {
	if t == nil || t.finished {
		return
	}
	t.counted = true
	if t.immediate {
		s.immediate++
	} else {
		s.active++
	}
}

// consume marks cmdSN as received without a PDU (ABORT TASK for a task
// that never arrived, RFC 7143 section 11.5.1).
func (s *session) consume(from *conn, cmdSN uint32) {
	s.admit(from, cmdSN, false, nil, func() {})
}

// addTask registers a task under its ITT; it fails if the ITT is in use.
func (s *session) addTask(t *sessTask) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	if _, dup := s.tasks[t.itt]; dup {
		return false
	}
	s.tasks[t.itt] = t
	s.srv.taskStarted()
	return true
}

// task returns the live task with ITT itt, with a reference the caller
// releases with unref.
func (s *session) task(itt uint32) *sessTask {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tasks[itt]
	if t != nil {
		t.refs.Add(1)
	}
	return t
}

// deliverTask enters a task into the task set, in CmdSN order; from is
// the connection whose reader delivers it.
func (s *session) deliverTask(t *sessTask, from *conn) {
	s.mu.Lock()
	if t.finished {
		s.mu.Unlock()
		return
	}
	t.delivered = true
	s.queue = append(s.queue, t)
	s.mu.Unlock()
	s.schedule(from)
}

// dataDone records that all of a task's write data arrived.
func (s *session) dataDone(t *sessTask) {
	s.mu.Lock()
	t.dataDone = true
	s.mu.Unlock()
	s.schedule(nil)
}

// schedule starts every task that may run: SAM-5 task attributes decide.
// A HEAD OF QUEUE task runs at once; an ORDERED task waits for every
// earlier task and blocks every later one; SIMPLE (and untagged, ACA)
// tasks run concurrently unless an earlier ORDERED task is incomplete.
// reader is the connection whose reader goroutine calls, nil for any other
// goroutine: a quick task of that connection runs there at once (see
// startTask).
func (s *session) schedule(reader *conn) {
	s.mu.Lock()
	var start []*sessTask
	barrier, earlier := false, false
	for _, t := range s.queue {
		if !t.started && t.dataDone && !t.aborted {
			ok := true
			switch {
			case t.attr == iscsi.TaskAttrHeadOfQueue:
			case barrier:
				ok = false
			case t.attr == iscsi.TaskAttrOrdered && earlier:
				ok = false
			}
			if ok {
				t.started = true
				start = append(start, t)
			}
		}
		earlier = true
		if t.attr == iscsi.TaskAttrOrdered {
			barrier = true
		}
	}
	s.mu.Unlock()
	for _, t := range start {
		t.c.startTask(t, t.c == reader)
	}
}

// finishLocked removes t from the task set and frees its window slot;
// s.mu must be held. It reports false if t was already finished.
func (s *session) finishLocked(t *sessTask) bool {
	if t.finished {
		return false
	}
	t.finished = true
	if s.tasks[t.itt] == t {
		delete(s.tasks, t.itt)
	}
	if t.delivered {
		if i := slices.Index(s.queue, t); i >= 0 {
			s.queue = slices.Delete(s.queue, i, i+1)
		}
	} else if p, ok := s.pending[t.cmdSN]; ok && p.task == t {
		// Its CmdSN still counts as received; the entry forgets the
		// task, which may be reused once released.
		s.pending[t.cmdSN] = sessPending{}
	}
	if t.counted {
		t.counted = false
		if t.immediate {
			s.immediate--
		} else {
			s.active--
		}
	}
	if t.done != nil {
		close(t.done)
	}
	return true
}

// finish completes t: it leaves the task set, and the tasks it held back
// may start. It reports whether this call finished the task (false if
// something else did, which then disposed of the task's own reference),
// and whether the task's response should be sent (false for a task
// aborted silently).
func (s *session) finish(t *sessTask) (finished, respond bool) {
	s.mu.Lock()
	finished = s.finishLocked(t)
	respond = finished && !t.aborted
	s.mu.Unlock()
	if finished {
		s.srv.taskDone()
	}
	s.schedule(nil)
	return finished, respond
}

// abortWhere aborts every task that match selects: its context is
// cancelled, and a task not yet running leaves the task set at once.
// silent suppresses the tasks' responses (ABORT TASK, ABORT TASK SET,
// connection loss); otherwise a running task answers with whatever the
// engine reports (TASK ABORTED) and one not yet running answers TASK
// ABORTED. With collect it returns the aborted tasks, each with a
// reference for the caller, for waitTasks (which waits until they are
// gone and releases them); otherwise it returns nil.
func (s *session) abortWhere(match func(*sessTask) bool, silent, collect bool) []*sessTask {
	s.mu.Lock()
	var hit, unstarted []*sessTask
	for _, t := range s.tasks {
		if !match(t) {
			continue
		}
		if silent {
			t.aborted = true
		}
		t.ctx.cancel(context.Canceled)
		if !t.started && s.finishLocked(t) {
			unstarted = append(unstarted, t)
		}
		if collect {
			t.refs.Add(1)
			if !t.finished && t.done == nil {
				t.done = make(chan struct{})
			}
			hit = append(hit, t)
		}
	}
	s.mu.Unlock()
	for _, t := range unstarted {
		s.srv.taskDone()
		if silent {
			t.unref()
		} else {
			t.c.sendStatus(t, Result{Status: scsi.StatusTaskAborted}, 0)
		}
	}
	if len(unstarted) > 0 {
		s.schedule(nil)
	}
	return hit
}

// abortAll aborts every task silently; see abortWhere for collect.
func (s *session) abortAll(collect bool) []*sessTask {
	return s.abortWhere(func(*sessTask) bool { return true }, true, collect)
}

// waitTasks waits for tasks from abortWhere to finish, or ctx to end, and
// releases them.
func waitTasks(ctx context.Context, ts []*sessTask) {
	for i, t := range ts {
		// done was made before abortWhere returned, unless the task
		// had finished then; the caller's reference keeps it.
		if t.done != nil {
			select {
			case <-t.done:
			case <-ctx.Done():
				releaseTasks(ts[i:])
				return
			}
		}
		t.unref()
	}
}

// releaseTasks releases the references of tasks from abortWhere.
func releaseTasks(ts []*sessTask) {
	for _, t := range ts {
		t.unref()
	}
}

// currentConn returns the session's connection, or nil.
func (s *session) currentConn() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// end closes the session for good: tasks are aborted, the TSIH is
// released. It is called when the session's last connection goes.
func (s *session) end() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.abortAll(false)
	s.mu.Lock()
	s.ended = true
	s.pending = nil
	s.mu.Unlock()
	if s.nexus != nil {
		// The I_T nexus is gone: SPC-2 reservations it holds end.
		s.nexus.ITNexusLost()
	}
	s.srv.sessRemove(s)
}

// connLost is called when connection c of the session closes. If c is
// still the session's connection the session ends (ErrorRecoveryLevel 0
// keeps nothing of a session without a connection).
func (s *session) connLost(c *conn) {
	s.mu.Lock()
	mine := s.conn == c
	if mine {
		s.conn = nil
	}
	s.mu.Unlock()
	if mine {
		s.end()
	}
}

// replaceConn moves the session to connection c (connection
// reinstatement) and returns the old one, whose tasks are aborted.
func (s *session) replaceConn(c *conn) *conn {
	s.mu.Lock()
	old := s.conn
	s.conn = c
	s.mu.Unlock()
	if old != nil {
		s.abortWhere(func(t *sessTask) bool { return t.c == old }, true, false)
	}
	return old
}

// info describes the session.
func (s *session) info() SessionInfo {
	si := SessionInfo{
		Initiator: s.initiator,
		ISID:      s.isid,
		TSIH:      s.tsih,
		Target:    s.target,
		Type:      s.typ,
		Params:    s.params,
	}
	if c := s.currentConn(); c != nil {
		si.Connections = []ConnInfo{{CID: c.cid, RemoteAddr: c.nc.RemoteAddr().String(), LocalAddr: c.nc.LocalAddr().String()}}
	}
	if v := s.currentView(); v != nil {
		si.LUNs = slices.Clone(v.LUNs())
	}
	return si
}

// viewChanged refreshes the session's view and reports the change.
func (s *session) viewChanged() {
	if s.typ != iscsi.SessionNormal {
		return
	}
	s.refreshView()
	s.nexus.ReportedLUNsChanged()
	if c := s.currentConn(); c != nil {
		c.sendLUNsChanged(s.currentView())
	}
}

// requestLogout asks the initiator to log out (server shutdown).
func (s *session) requestLogout() {
	if c := s.currentConn(); c != nil {
		c.sendLogoutRequest()
	}
}

// Session registry of the Server.

// sessAdd registers a new session, allocating its TSIH. A session of the
// same initiator, ISID and target is returned as old, already removed
// from the registry: session reinstatement (RFC 7143 section 6.3.5) closes
// it. sessAdd fails (false) when the server is closed or out of TSIHs.
func (s *Server) sessAdd(se *session) (old *session, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.byTSIH) >= 65535 {
		return nil, false
	}
	if se.typ == iscsi.SessionNormal {
		for o := range s.sessions {
			if o.typ == iscsi.SessionNormal && o.initiator == se.initiator && o.isid == se.isid && o.target == se.target {
				old = o
				delete(s.sessions, o)
				delete(s.byTSIH, o.tsih)
				s.stats.sessions.Add(-1)
				break
			}
		}
	}
	for {
		s.nextTSIH++
		if s.nextTSIH == 0 {
			continue
		}
		if _, used := s.byTSIH[s.nextTSIH]; !used {
			break
		}
	}
	se.tsih = s.nextTSIH
	s.byTSIH[se.tsih] = se
	s.sessions[se] = struct{}{}
	s.stats.sessions.Add(1)
	return old, true
}

// sessRemove forgets a session and releases its TSIH.
func (s *Server) sessRemove(se *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[se]; !ok {
		return
	}
	delete(s.sessions, se)
	if s.byTSIH[se.tsih] == se {
		delete(s.byTSIH, se.tsih)
	}
	s.stats.sessions.Add(-1)
}

// sessByTSIH returns the live session with handle tsih.
func (s *Server) sessByTSIH(tsih uint16) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byTSIH[tsih]
}

// sessCount returns the number of sessions of initiator.
func (s *Server) sessCount(initiator string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for se := range s.sessions {
		if se.initiator == initiator {
			n++
		}
	}
	return n
}

// taskStarted and taskDone count the tasks in flight, for Close.
func (s *Server) taskStarted() { s.taskCount.Add(1) }

func (s *Server) taskDone() {
	if s.taskCount.Add(-1) == 0 {
		select {
		case s.drainSig <- struct{}{}:
		default:
		}
	}
}
