package initiator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
	"github.com/rs/zerolog"
)

// Session errors; match them with errors.Is.
var (
	// ErrSessionFailed means the session lost its connection and could
	// not log in again within its reconnect budget: every pending and
	// later command fails with it at once.
	ErrSessionFailed = errors.New("initiator: session failed")
	// ErrSessionClosed means the session was closed or logged out.
	ErrSessionClosed = errors.New("initiator: session closed")
	// ErrConfig means a Config is not valid.
	ErrConfig = errors.New("initiator: invalid configuration")
	// ErrProtocol means the target broke the protocol: a malformed or
	// unexpected PDU, a field that contradicts the exchange, data outside
	// the command's buffer.
	ErrProtocol = errors.New("initiator: target protocol error")
	// ErrCommand means a Command cannot be sent as it is.
	ErrCommand = errors.New("initiator: invalid command")
	// ErrTaskAborted means the target aborted the command (a LUN or
	// target reset, or the target's own decision).
	ErrTaskAborted = errors.New("initiator: task aborted")
	// ErrTargetFailure means the target answered "Target Failure" or a
	// vendor-specific iSCSI response instead of a SCSI status.
	ErrTargetFailure = errors.New("initiator: target failure")
	// ErrConnectionLost means the connection failed under a task that
	// could not be retried.
	ErrConnectionLost = errors.New("initiator: connection lost")
	// ErrKeepalive means the target did not answer a NOP-Out ping in time.
	ErrKeepalive = errors.New("initiator: keepalive timeout")
)

// eventBuffer is the capacity of a session's event channel.
const eventBuffer = 64

// uaRetries is how often a command is re-issued after an informational
// unit attention.
const uaRetries = 3

// Session is a logged-in iSCSI session with one connection: it runs SCSI
// commands from many goroutines at once within the target's command
// window, and logs in again after a connection loss. It implements
// Executor.
type Session struct {
	cfg Config
	log zerolog.Logger

	sem chan struct{} // one token per command in flight (QueueDepth)

	// The event channel is made by the first call of Events, or when
	// more events wait for it than evEarly holds: most sessions never
	// have it. Until then events wait in evEarly.
	evMu      sync.Mutex
	events    chan Event
	evEarly   [4]Event
	evEarlyN  int
	evClosed  bool
	evDropped atomic.Uint64

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	state      State
	failErr    error
	loggingOut bool
	conn       *sessConn
	params     iscsi.SessionParams
	tsih       uint16
	cmdSN      uint32
	expCmdSN   uint32
	maxCmdSN   uint32
	slots      []*sessTask
	maxSlots   int
	free       []uint16
	waiters    []*sessTask
	pingSeq    uint32

	// Asynchronous commands (async.go). asyncN counts the QueueDepth
	// tokens they hold. doneQ holds the results of finished ones whose
	// callbacks have yet to run, donePending says it is not empty;
	// doneSpare is a drained queue kept for reuse. cbActive counts the
	// goroutines running callbacks (cbIdle is signalled when it drops to
	// zero); wakeScratch serves wakeWaitersLocked.
	asyncN      atomic.Int32
	awaitN      atomic.Int32 // goroutines waiting for a batch (awaiting)
	donePending atomic.Bool
	doneQ       []asyncResult
	doneSpare   []asyncResult
	cbActive    int
	cbIdle      sync.Cond
	wakeScratch []*sessTask
}

// Dial connects to cfg.Portal, logs in to cfg.TargetName and returns the
// session in the Full Feature Phase. A login the target refuses fails with
// a *iscsi.LoginError (a Reject with a *iscsi.RejectError); ctx bounds the
// connect and login only.
func Dial(ctx context.Context, cfg Config) (*Session, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(true); err != nil {
		return nil, err
	}
	// The session, its connection and its first task are made before
	// the login: what is left once the final Login Response is in is
	// short, so that the first command (a probe's Logout) follows it
	// closely.
	s := &Session{
		cfg:   cfg,
		log:   cfg.Logger,
		sem:   make(chan struct{}, cfg.QueueDepth),
		state: StateLoggedIn,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.cbIdle.L = &s.mu
	// Tasks are made on first use, up to maxSlots, and the tables grow
	// with them: a session that runs a few commands (or only logs in and
	// out) does not pay for the whole table.
	s.maxSlots = 2*cfg.QueueDepth + 8
	s.slots = []*sessTask{newSessTask(0)}
	s.free = []uint16{0}
	c := newSessConn(s)
	lr, err := loginDial(ctx, &cfg, iscsi.SessionNormal)
	if err != nil {
		s.cancel()
		return nil, err
	}
	s.mu.Lock()
	// The reader starts with the first command, TMF or call of Events,
	// so a session that only logs in and out starts no goroutine at all;
	// with keepalive pings it starts within sessReaderDelay anyway.
	s.installLocked(c, lr, false)
	if cfg.NOPInterval > 0 {
		sessStartReaderLater(s, s.conn, min(cfg.NOPInterval, sessReaderDelay))
	}
	s.mu.Unlock()
	s.log.Debug().Str("target", cfg.TargetName).Uint16("tsih", lr.tsih).Msg("logged in")
	return s, nil
}

// installLocked makes c, attached to lr, the session's connection, and
// starts its reader goroutine if eager.
func (s *Session) installLocked(c *sessConn, lr *loginResult, eager bool) {
	s.params = lr.params
	s.tsih = lr.tsih
	s.cmdSN, s.expCmdSN, s.maxCmdSN = lr.expCmdSN, lr.expCmdSN, lr.maxCmdSN
	c.attach(lr)
	s.conn = c
	if eager {
		s.startReaderLocked(c)
	}
}

// sessReaderDelay bounds how long after a login with keepalive pings the
// connection's reader goroutine waits to start when no command, TMF or
// call of Events starts it first: a session that only logs in and out (a
// probe, a login benchmark) starts no goroutine, and one that stays is
// read (the target's pings and asynchronous messages answered, its own
// keepalive running) within a second. Targets ping far less often than
// that and wait longer for the answer.
const sessReaderDelay = time.Second

// sessLater holds the connections whose reader starts later, for every
// session of the process, and the one timer that starts them: a timer of
// its own per session cost a login+logout cycle about a quarter of its
// time (arming and stopping it wakes the runtime's network poller).
var sessLater struct {
	mu      sync.Mutex
	pending []sessLaterConn
	timer   *time.Timer // armed while pending is not empty
}

// sessLaterConn is a connection whose reader starts at at.
type sessLaterConn struct {
	s  *Session
	c  *sessConn
	at time.Time
}

// sessStartReaderLater starts c's reader goroutine after delay, unless
// somebody reads c by then or s is no longer logged in on it.
func sessStartReaderLater(s *Session, c *sessConn, delay time.Duration) {
	at := time.Now().Add(delay)
	sessLater.mu.Lock()
	defer sessLater.mu.Unlock()
	c.laterAt = len(sessLater.pending) + 1
	sessLater.pending = append(sessLater.pending, sessLaterConn{s: s, c: c, at: at})
	switch {
	case sessLater.timer == nil:
		sessLater.timer = time.AfterFunc(delay, sessStartDue)
	case delay < sessReaderDelay:
		// A shorter delay than the others' (a short NOPInterval) may
		// bring the timer forward. Reset is harmless when the timer
		// has just fired: sessStartDue runs again and finds what is
		// due then.
		sessLater.timer.Reset(sessLaterNextLocked(time.Now()))
	}
}

// sessLaterForget takes c out of the pending starts, if it is there: a
// connection that ended is not kept (nor its session) until its start
// was due, which a loop of short sessions would pile up by the thousand.
// The timer stays armed (for the next login, sparing it the cost of
// arming one) unless stop says to stop it once nothing is left.
func sessLaterForget(c *sessConn, stop bool) {
	sessLater.mu.Lock()
	defer sessLater.mu.Unlock()
	i := c.laterAt - 1
	if i < 0 {
		return
	}
	c.laterAt = 0
	last := len(sessLater.pending) - 1
	if i != last {
		moved := sessLater.pending[last]
		sessLater.pending[i] = moved
		moved.c.laterAt = i + 1
	}
	sessLater.pending[last] = sessLaterConn{}
	sessLater.pending = sessLater.pending[:last]
	if stop && last == 0 && sessLater.timer != nil {
		sessLater.timer.Stop()
		sessLater.timer = nil
	}
}

// sessLaterNextLocked returns how long until the earliest pending start.
func sessLaterNextLocked(now time.Time) time.Duration {
	next := sessLater.pending[0].at
	for _, p := range sessLater.pending[1:] {
		if p.at.Before(next) {
			next = p.at
		}
	}
	return max(next.Sub(now), 0)
}

// sessStartDue is the timer's function: it starts the readers that are
// due and arms the timer for the rest.
func sessStartDue() {
	now := time.Now()
	sessLater.mu.Lock()
	var due []sessLaterConn
	rest := sessLater.pending[:0]
	for _, p := range sessLater.pending {
		if p.at.After(now) {
			rest = append(rest, p)
			p.c.laterAt = len(rest)
		} else {
			p.c.laterAt = 0
			due = append(due, p)
		}
	}
	clear(sessLater.pending[len(rest):])
	sessLater.pending = rest
	if len(rest) > 0 {
		sessLater.timer.Reset(sessLaterNextLocked(now))
	} else {
		sessLater.timer = nil
	}
	sessLater.mu.Unlock()
	for _, p := range due {
		s := p.s
		s.mu.Lock()
		if s.conn == p.c && s.state == StateLoggedIn && !s.loggingOut {
			s.startReaderLocked(p.c)
		}
		s.mu.Unlock()
	}
}

// Who reads a connection (sessConn.reader, under Session.mu).
const (
	connReaderNone   = iota // nobody yet: nothing was sent that expects an answer
	connReaderOn            // the reader goroutine (run)
	connReaderLogout        // Logout, which reads the connection's last answers itself
	connReaderOff           // nobody ever: Close ended the connection
)

// startReaderLocked starts c's reader goroutine unless somebody reads c
// already or c is over. Everything that sends a PDU expecting an answer
// calls it first.
func (s *Session) startReaderLocked(c *sessConn) {
	if c.reader != connReaderNone {
		return
	}
	c.reader = connReaderOn
	s.wg.Add(1)
	go c.run()
	// Started before its time: its pending start (if any) goes, and
	// the shared timer with it when nothing else waits for it, or an
	// idle thread of the runtime would wait in the network poller until
	// it fires, woken by every answer the reader takes. (laterAt is
	// sessLater's to read: another connection's removal moves it.)
	sessLaterForget(c, true)
}

// Events returns the session's event channel: unit attentions,
// asynchronous messages and state changes. It is buffered; the session
// never blocks on it: when it is full the oldest event is dropped and
// counted (DroppedEvents). It is closed by Close. Calling it makes sure
// the connection's reader runs, so asynchronous messages are seen even
// while no command is issued.
func (s *Session) Events() <-chan Event {
	s.mu.Lock()
	if s.state == StateLoggedIn && !s.loggingOut && s.conn != nil {
		s.startReaderLocked(s.conn)
	}
	s.mu.Unlock()
	s.evMu.Lock()
	defer s.evMu.Unlock()
	return s.eventsLocked()
}

// eventsLocked returns the event channel, made on first need with the
// events that waited for it (and closed if Close has run).
func (s *Session) eventsLocked() chan Event {
	if s.events == nil {
		s.events = make(chan Event, eventBuffer)
		for _, ev := range s.evEarly[:s.evEarlyN] {
			s.events <- ev
		}
		s.evEarly, s.evEarlyN = [len(s.evEarly)]Event{}, 0
		if s.evClosed {
			close(s.events)
		}
	}
	return s.events
}

// DroppedEvents returns how many events were dropped because the event
// channel was full.
func (s *Session) DroppedEvents() uint64 { return s.evDropped.Load() }

// State returns the session's state.
func (s *Session) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Params returns the parameters negotiated by the current (or last)
// login.
func (s *Session) Params() iscsi.SessionParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.params
}

// ISID returns the session's ISID.
func (s *Session) ISID() iscsi.ISID { return s.cfg.ISID }

// emit sends ev on the event channel without blocking, dropping the
// oldest event when the channel is full.
func (s *Session) emit(ev Event) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if s.evClosed {
		return
	}
	if s.events == nil {
		if s.evEarlyN < len(s.evEarly) {
			s.evEarly[s.evEarlyN] = ev
			s.evEarlyN++
			return
		}
		s.eventsLocked()
	}
	select {
	case s.events <- ev:
		return
	default:
	}
	select {
	case <-s.events:
		s.evDropped.Add(1)
	default:
	}
	select {
	case s.events <- ev:
	default:
		s.evDropped.Add(1)
	}
}

// setStateLocked changes the state and reports it.
func (s *Session) setStateLocked(st State) {
	if s.state == st {
		return
	}
	s.state = st
	s.emit(Event{Kind: EventState, State: st})
}

// stoppedErrLocked returns the error for a session that runs no commands,
// or nil.
func (s *Session) stoppedErrLocked() error {
	switch s.state {
	case StateFailed:
		return s.failErr
	case StateClosed:
		return ErrSessionClosed
	}
	if s.loggingOut {
		return ErrSessionClosed
	}
	return nil
}

// allocLocked takes a free slot.
func (s *Session) allocLocked(kind sessTaskKind) (*sessTask, error) {
	if err := s.stoppedErrLocked(); err != nil {
		return nil, err
	}
	var t *sessTask
	switch {
	case len(s.free) > 0:
		i := s.free[len(s.free)-1]
		s.free = s.free[:len(s.free)-1]
		t = s.slots[i]
	case len(s.slots) < s.maxSlots:
		t = newSessTask(uint16(len(s.slots)))
		s.slots = append(s.slots, t)
	default:
		return nil, fmt.Errorf("%w: no free task tag", ErrCommand)
	}
	t.reset(kind)
	return t, nil
}

// releaseLocked returns t's slot.
func (s *Session) releaseLocked(t *sessTask) {
	if t.state == sessTaskFree {
		return
	}
	s.unwaitLocked(t)
	t.state = sessTaskFree
	t.cmd, t.conn = nil, nil
	t.adone, t.actx, t.astop = nil, nil, nil
	s.free = append(s.free, t.slot)
}

// lookupLocked returns the task that owns itt, or nil.
func (s *Session) lookupLocked(itt uint32) *sessTask {
	i := int(itt & 0xffff)
	if itt>>31 != 0 || i >= len(s.slots) {
		return nil
	}
	t := s.slots[i]
	if t.itt != itt || t.state == sessTaskFree {
		return nil
	}
	return t
}

// finishLocked ends t with a result. done is signalled once the writer
// holds no PDU referring to t's buffers; orphans are released instead.
func (s *Session) finishLocked(t *sessTask, resp Response, err error) {
	if t.state == sessTaskDone || t.state == sessTaskFree {
		return
	}
	s.unwaitLocked(t)
	t.state = sessTaskDone
	t.finished = true
	t.resp, t.err = resp, err
	t.conn = nil
	s.doneIfIdleLocked(t)
}

// doneIfIdleLocked signals (or releases) a finished task once no queued
// PDU refers to it.
func (s *Session) doneIfIdleLocked(t *sessTask) {
	if !t.finished || t.pendingOut > 0 {
		return
	}
	if t.adone != nil {
		s.asyncDoneLocked(t)
		return
	}
	if t.orphan {
		s.releaseLocked(t)
		return
	}
	signal(t.done)
}

// waitLocked puts t among the tasks waiting for the window or a login.
func (s *Session) waitLocked(t *sessTask) {
	t.state = sessTaskWaiting
	t.conn = nil
	if !t.waiting {
		t.waiting = true
		s.waiters = append(s.waiters, t)
	}
}

// unwaitLocked removes t from the waiters.
func (s *Session) unwaitLocked(t *sessTask) {
	if !t.waiting {
		return
	}
	t.waiting = false
	for i, w := range s.waiters {
		if w == t {
			copy(s.waiters[i:], s.waiters[i+1:])
			s.waiters[len(s.waiters)-1] = nil
			s.waiters = s.waiters[:len(s.waiters)-1]
			return
		}
	}
}

// wakeWaitersLocked lets every waiting task try again: Execute's wake
// up, asynchronous commands are sent from here.
func (s *Session) wakeWaitersLocked() {
	async := s.wakeScratch[:0]
	for _, w := range s.waiters {
		w.waiting = false
		if w.adone != nil {
			async = append(async, w)
			continue
		}
		signal(w.wake)
	}
	clear(s.waiters)
	s.waiters = s.waiters[:0]
	for _, t := range async {
		s.resendAsyncLocked(t)
	}
	clear(async)
	s.wakeScratch = async[:0]
}

// windowOpenLocked reports whether a non-immediate command may be sent
// now. RFC 7143 section 4.2.2.1: the initiator sends only commands whose
// CmdSN lies in ExpCmdSN..MaxCmdSN.
func (s *Session) windowOpenLocked() bool {
	return s.state == StateLoggedIn && !s.loggingOut && s.conn != nil &&
		iscsi.SNInWindow(s.cmdSN, s.expCmdSN, s.maxCmdSN)
}

// updateWindowLocked takes ExpCmdSN and MaxCmdSN from a response of c.
func (s *Session) updateWindowLocked(c *sessConn, exp, max uint32) {
	if c != s.conn {
		return
	}
	// RFC 7143 section 4.2.2.1: "If the PDU MaxCmdSN is less than the PDU
	// ExpCmdSN-1 (in serial arithmetic sense), they are both ignored."
	if !iscsi.SNWindowValid(exp, max) {
		return
	}
	if iscsi.SNGreater(exp, s.expCmdSN) {
		s.expCmdSN = exp
	}
	if iscsi.SNGreater(max, s.maxCmdSN) {
		s.maxCmdSN = max
		if len(s.waiters) > 0 {
			s.wakeWaitersLocked()
		}
	}
}

// sendCmdLocked puts t on the connection's write queue if the window
// allows, or makes it wait. It returns the connection to kick once the
// caller has released the session lock, or nil. A command that cannot be
// encoded is neither sent nor waiting, and takes no CmdSN: the caller
// finishes or releases it with the error.
func (s *Session) sendCmdLocked(t *sessTask) (*sessConn, error) {
	if !s.windowOpenLocked() {
		s.waitLocked(t)
		return nil, nil
	}
	s.unwaitLocked(t)
	s.startReaderLocked(s.conn)
	t.cmdSN = s.cmdSN
	t.state = sessTaskSent
	t.conn = s.conn
	t.restart()
	if err := s.conn.queueCommandLocked(t); err != nil {
		// Nothing was queued: the CmdSN stays free, as a gap would stall
		// the target's command window.
		t.state, t.conn = sessTaskWaiting, nil
		return nil, err
	}
	s.cmdSN++
	return s.conn, nil
}

// Execute runs cmd on the session; see Executor. Commands wait while the
// session reconnects. A unit attention is reported on Events; the
// informational ones (power on or reset 29/xx, parameters changed 2A/00,
// 2A/01 and 2A/09, inquiry data or reported LUNs changed 3F/03 and 3F/0E)
// make Execute re-issue the command, up to three times, as does a TASK
// ABORTED status.
func (s *Session) Execute(ctx context.Context, cmd *Command) (Response, error) {
	if err := checkCommand(cmd); err != nil {
		return Response{}, err
	}
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Response{}, ctx.Err()
	}
	defer func() { <-s.sem }()
	lun := scsi.EncodeLUN(uint16(cmd.LUN))
	for attempt := 0; ; attempt++ {
		resp, err := s.run(ctx, cmd, lun)
		if resp.Status == scsi.StatusTaskAborted && attempt < uaRetries && ctx.Err() == nil {
			// Another nexus or the target's shutdown aborted the task;
			// it did not run to completion and may run again.
			continue
		}
		if err == nil {
			return resp, nil
		}
		// Declared after the success return: errors.As makes it escape,
		// and the GOOD path must not allocate.
		var se *scsi.SenseError
		if !errors.As(err, &se) || se.Key != scsi.SenseKeyUnitAttention {
			return resp, err
		}
		s.emit(Event{Kind: EventUnitAttention, LUN: cmd.LUN, Sense: se.Code()})
		if !uaInformational(se.Code()) || attempt >= uaRetries {
			return resp, err
		}
	}
}

// checkCommand refuses a Command the session cannot send.
func checkCommand(cmd *Command) error {
	if cmd == nil || len(cmd.CDB) == 0 {
		return fmt.Errorf("%w: no CDB", ErrCommand)
	}
	if len(cmd.DataIn) > 0 && len(cmd.DataOut) > 0 {
		return fmt.Errorf("%w: bidirectional commands are not supported", ErrCommand)
	}
	if cmd.LUN > 0xffff {
		return fmt.Errorf("%w: LUN %d above 65535", ErrCommand, cmd.LUN)
	}
	if uint64(len(cmd.DataIn)) > 0xffffffff || uint64(len(cmd.DataOut)) > 0xffffffff {
		return fmt.Errorf("%w: transfer length above 2^32-1", ErrCommand)
	}
	return nil
}

// uaInformational reports whether a unit attention only informs: the
// command did not run and may be sent again as it is.
func uaInformational(c scsi.SenseCode) bool {
	switch {
	case c.ASC() == 0x29: // power on, reset or bus device reset occurred
		return true
	case c == scsi.SenseParametersChanged, c == scsi.SenseModeParametersChanged,
		c == scsi.SenseCapacityDataHasChanged, c == scsi.SenseInquiryDataHasChanged,
		c == scsi.SenseReportedLUNsDataHasChanged:
		return true
	}
	return false
}

// run issues cmd once and waits for its end.
func (s *Session) run(ctx context.Context, cmd *Command, lun scsi.LUN) (Response, error) {
	s.mu.Lock()
	t, err := s.allocLocked(sessKindCmd)
	if err != nil {
		s.mu.Unlock()
		return Response{}, err
	}
	t.cmd, t.lun, t.lunNum = cmd, lun, cmd.LUN
	c, err := s.sendCmdLocked(t)
	if err != nil {
		s.releaseLocked(t)
		s.mu.Unlock()
		return Response{}, err
	}
	s.mu.Unlock()
	if c != nil {
		c.kick()
	}
	for {
		select {
		case <-t.done:
			return s.collect(t, nil)
		case <-t.wake:
			var c *sessConn
			s.mu.Lock()
			if t.state == sessTaskWaiting {
				if err := s.stoppedErrLocked(); err != nil {
					s.finishLocked(t, Response{}, err)
				} else if c, err = s.sendCmdLocked(t); err != nil {
					s.finishLocked(t, Response{}, err)
				}
			}
			s.mu.Unlock()
			if c != nil {
				c.kick()
			}
		case <-ctx.Done():
			s.mu.Lock()
			switch t.state {
			case sessTaskWaiting:
				// Never sent on a live connection: nothing to abort.
				s.releaseLocked(t)
				s.mu.Unlock()
				return Response{}, ctx.Err()
			case sessTaskSent:
				if !t.aborting {
					t.aborting = true
					s.abortLocked(t)
				}
			}
			s.mu.Unlock()
			// The task keeps its ITT and CmdSN until its status or the
			// ABORT TASK response arrives, or the connection ends.
			<-t.done
			return s.collect(t, ctx.Err())
		}
	}
}

// collect takes a finished task's result and releases it.
func (s *Session) collect(t *sessTask, override error) (Response, error) {
	s.mu.Lock()
	resp, err := t.resp, t.err
	s.releaseLocked(t)
	s.mu.Unlock()
	if override != nil {
		return Response{}, override
	}
	return resp, err
}

// Logout logs the session out (reason "close the session") and closes
// it. The session is closed when Logout returns, whatever the target
// answered.
func (s *Session) Logout(ctx context.Context) error {
	s.mu.Lock()
	if s.state != StateLoggedIn || s.loggingOut || s.conn == nil {
		err := s.stoppedErrLocked()
		if err == nil {
			err = fmt.Errorf("%w: session is %v", ErrSessionClosed, s.state)
		}
		s.mu.Unlock()
		s.Close()
		return err
	}
	t, err := s.allocLocked(sessKindLogout)
	if err != nil {
		s.mu.Unlock()
		s.Close()
		return err
	}
	s.loggingOut = true
	t.state = sessTaskSent
	t.conn = s.conn
	p := iscsi.LogoutRequest{Immediate: true, Reason: iscsi.CloseSession, ITT: t.itt, CmdSN: s.cmdSN}
	var out connOut
	c := s.conn
	inline := false
	if err := p.EncodeFrame(&out.f); err != nil {
		s.finishLocked(t, Response{}, err)
		c = nil
	} else {
		c.queueLocked(&out)
		if c.reader == connReaderNone {
			// Nobody reads the connection: read its answer from here,
			// as a goroutine of the session (Close waits for it).
			c.reader = connReaderLogout
			inline = true
			s.wg.Add(1)
		}
	}
	s.mu.Unlock()
	if c != nil {
		// Written from here: no writer to wake.
		c.flush()
	}
	if inline {
		c.serveLogout(ctx)
	}
	select {
	case <-t.done:
		s.mu.Lock()
		err = t.err
		s.releaseLocked(t)
		s.mu.Unlock()
	case <-ctx.Done():
		s.mu.Lock()
		t.orphan = true
		s.doneIfIdleLocked(t)
		s.mu.Unlock()
		err = ctx.Err()
	}
	if cerr := s.Close(); err == nil && cerr != nil && !errors.Is(cerr, ErrSessionClosed) {
		err = cerr
	}
	return err
}

// Close ends the session without logging out: it closes the connection,
// stops reconnecting, fails every pending command with ErrSessionClosed
// and closes the event channel. It never blocks on the network: closing
// the socket unblocks every goroutine of the session.
func (s *Session) Close() error {
	s.mu.Lock()
	// The state may already be closed (the reader sets it when a logout
	// completes), but the rest of Close must still run: the event
	// channel is closed only here.
	if s.state != StateClosed {
		s.setStateLocked(StateClosed)
	}
	c := s.conn
	for _, t := range s.slots {
		if t.state == sessTaskWaiting {
			s.finishLocked(t, Response{}, ErrSessionClosed)
		}
	}
	unread := c != nil && c.reader == connReaderNone
	if unread {
		c.reader = connReaderOff
	}
	s.mu.Unlock()
	s.cancel()
	if c != nil {
		c.fail(ErrSessionClosed)
	}
	if unread {
		// No reader will hand the connection back: do it here.
		c.endServe()
	}
	s.wg.Wait()
	// Every asynchronous command has finished by now; run the callbacks
	// left, and wait for the ones other goroutines are running.
	s.runDone()
	s.mu.Lock()
	for s.cbActive > 0 {
		s.cbIdle.Wait()
	}
	s.mu.Unlock()
	s.evMu.Lock()
	if !s.evClosed {
		s.evClosed = true
		if s.events != nil {
			close(s.events)
		}
	}
	s.evMu.Unlock()
	return nil
}
