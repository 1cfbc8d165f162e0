package initiator

import (
	"context"
	"errors"
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// ErrQueueFull means Start found QueueDepth commands in flight already.
var ErrQueueFull = errors.New("initiator: queue depth reached")

// asyncResult is a finished asynchronous command whose callback has yet
// to run. Its task is already released.
type asyncResult struct {
	ctx      context.Context
	cmd      *Command
	done     func(Response, error)
	stop     func() bool
	resp     Response
	err      error
	attempt  int
	canceled bool
}

// Start issues cmd on the session and returns at once; done receives the
// result, as Execute would return it. If Start returns an error, the
// command was not issued and done is never called; otherwise done is
// called exactly once, after the command ended or failed: when the session
// closes or fails, every pending command's done is called with the error
// (ErrSessionClosed, or one wrapping ErrSessionFailed) before Close
// returns.
//
// The command is retried as Execute retries it: re-issued after a
// connection loss while the session reconnects, and up to three times
// after an informational unit attention (reported on Events) or a TASK
// ABORTED status. cmd and its buffers belong to the session until done
// is called; done may reuse them (and call Start again) at once.
//
// done runs on one of the session's goroutines, usually the connection's
// reader, which reads nothing else while done runs: it must return
// quickly, must not block (no channel sends that may wait, no Execute, no
// Logout or Close) and must not panic. It may call Start: commands issued
// from the callbacks of one batch of answers leave in one write.
//
// Start never blocks. It fails with ErrQueueFull when QueueDepth commands
// (Execute's and Start's together) are in flight, with ErrCommand for a
// command the session cannot send, with ErrSessionClosed or the failure
// of a session that runs no more commands, and with ctx.Err() when ctx
// has ended. Cancelling ctx later ends the command as it ends Execute's:
// ABORT TASK for a command the target has, and done receives ctx.Err()
// once the task's CmdSN slot is released. A context that is never
// cancelled (context.Background) costs nothing; any other costs an
// allocation per command (context.AfterFunc).
func (s *Session) Start(ctx context.Context, cmd *Command, done func(Response, error)) error {
	return s.start(ctx, cmd, done, 0)
}

// start is Start with the attempt cmd starts at: uaRetries makes it the
// last, not issued again after a unit attention or TASK ABORTED.
func (s *Session) start(ctx context.Context, cmd *Command, done func(Response, error), attempt int) error {
	if done == nil {
		return fmt.Errorf("%w: no done function", ErrCommand)
	}
	if err := checkCommand(cmd); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.sem <- struct{}{}:
	default:
		return fmt.Errorf("%w: %d commands in flight", ErrQueueFull, cap(s.sem))
	}
	s.asyncN.Add(1)
	if err := s.startAsync(ctx, cmd, done, attempt); err != nil {
		s.releaseToken()
		return err
	}
	return nil
}

// releaseToken gives back an asynchronous command's QueueDepth token.
func (s *Session) releaseToken() {
	s.asyncN.Add(-1)
	<-s.sem
}

// startAsync issues one attempt of an asynchronous command, which holds
// a QueueDepth token.
func (s *Session) startAsync(ctx context.Context, cmd *Command, done func(Response, error), attempt int) error {
	s.mu.Lock()
	t, err := s.allocLocked(sessKindCmd)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	t.cmd, t.lun, t.lunNum = cmd, scsi.EncodeLUN(uint16(cmd.LUN)), cmd.LUN
	t.adone, t.actx, t.attempt = done, ctx, attempt
	c, err := s.sendCmdLocked(t)
	if err != nil {
		s.releaseLocked(t)
		s.mu.Unlock()
		return err
	}
	if ctx.Done() != nil {
		// Registered under the lock: the task cannot finish before astop
		// is set.
		use := t.use
		t.astop = context.AfterFunc(ctx, func() { s.cancelAsync(t, use) })
	}
	s.mu.Unlock()
	if c != nil {
		c.kickUnlessBatching()
	}
	return nil
}

// resendAsyncLocked sends again an asynchronous command that waited for
// the window or a login.
func (s *Session) resendAsyncLocked(t *sessTask) {
	if t.state != sessTaskWaiting {
		return
	}
	if err := s.stoppedErrLocked(); err != nil {
		s.finishLocked(t, Response{}, err)
		return
	}
	c, err := s.sendCmdLocked(t)
	if err != nil {
		s.finishLocked(t, Response{}, err)
		return
	}
	if c != nil {
		c.kickUnlessBatching()
	}
}

// cancelAsync ends use number use of t after its context ended, as
// Execute does: a task not on a connection ends at once, one the target
// has is aborted and ends with the abort's answer or its own status.
func (s *Session) cancelAsync(t *sessTask, use uint64) {
	s.mu.Lock()
	if t.use != use || t.adone == nil {
		s.mu.Unlock()
		return
	}
	switch t.state {
	case sessTaskWaiting:
		t.canceled = true
		s.finishLocked(t, Response{}, nil)
	case sessTaskSent:
		t.canceled = true
		if !t.aborting {
			t.aborting = true
			s.abortLocked(t)
		}
	}
	s.mu.Unlock()
	s.runDone()
}

// asyncDoneLocked releases a finished asynchronous task and queues its
// result for runDone.
func (s *Session) asyncDoneLocked(t *sessTask) {
	s.doneQ = append(s.doneQ, asyncResult{
		ctx: t.actx, cmd: t.cmd, done: t.adone, stop: t.astop,
		resp: t.resp, err: t.err, attempt: t.attempt, canceled: t.canceled,
	})
	s.donePending.Store(true)
	s.releaseLocked(t)
}

// runDone runs the callbacks of the asynchronous commands that finished.
// Every goroutine that may finish one calls it once it holds no lock.
func (s *Session) runDone() {
	if !s.donePending.Load() {
		return
	}
	s.mu.Lock()
	q := s.doneQ
	if len(q) == 0 {
		s.mu.Unlock()
		return
	}
	s.doneQ, s.doneSpare = s.doneSpare[:0], nil
	s.donePending.Store(false)
	s.cbActive++
	s.mu.Unlock()
	for i := range q {
		s.completeAsync(&q[i])
		q[i] = asyncResult{}
	}
	s.mu.Lock()
	if s.doneSpare == nil {
		s.doneSpare = q[:0]
	}
	s.cbActive--
	if s.cbActive == 0 {
		s.cbIdle.Broadcast()
	}
	s.mu.Unlock()
}

// completeAsync retries a finished asynchronous command as Execute would,
// or gives back its token and calls its done.
func (s *Session) completeAsync(r *asyncResult) {
	if r.stop != nil {
		r.stop()
	}
	resp, err := r.resp, r.err
	if r.canceled {
		resp, err = Response{}, r.ctx.Err()
	}
	if s.asyncRetry(r.ctx, r.cmd, resp, err, r.attempt) {
		serr := s.startAsync(r.ctx, r.cmd, r.done, r.attempt+1)
		if serr == nil {
			return
		}
		resp, err = Response{}, serr
	}
	s.releaseToken()
	r.done(resp, err)
}

// asyncRetry reports whether a finished attempt is to be issued again,
// with Execute's rules, reporting a unit attention on Events.
func (s *Session) asyncRetry(ctx context.Context, cmd *Command, resp Response, err error, attempt int) bool {
	if resp.Status == scsi.StatusTaskAborted && attempt < uaRetries && ctx.Err() == nil {
		return true
	}
	if err == nil {
		return false
	}
	var se *scsi.SenseError
	if !errors.As(err, &se) || se.Key != scsi.SenseKeyUnitAttention {
		return false
	}
	s.emit(Event{Kind: EventUnitAttention, LUN: cmd.LUN, Sense: se.Code()})
	return uaInformational(se.Code()) && attempt < uaRetries
}
