package initiator

import (
	"context"
	"slices"
	"sync"
)

// ExecuteInOrder runs cmds as one batch that reaches the target in the
// order given, and returns each command's Response and error (as Execute
// returns them) at the same index.
//
// On a *Session the commands are issued back to back (Session.Start), so
// the batch costs one round trip, and their CmdSNs follow the order of
// cmds: the target delivers them in that order (RFC 7143 section 3.2.2.1),
// and one whose Attr is iscsi.TaskAttrOrdered starts only after every
// earlier one has completed (SAM-5 section 8.6.3). That is how a caller
// makes a command depend on the one before it (a RESERVE on the REGISTER
// before it, a READ CAPACITY on the TEST UNIT READY that took the unit
// attention) without waiting a round trip in between. A command retried
// after a unit attention or a reconnect is sent again on its own, after
// the batch. On another Executor, and for the commands after one that
// Start refused (a full queue), the commands run one after another.
func ExecuteInOrder(ctx context.Context, ex Executor, cmds ...*Command) ([]Response, []error) {
	return executeInOrder(ctx, ex, cmds, nil)
}

// executeInOrder is ExecuteInOrder; once, when it is one of cmds, is a
// command whose answer does not matter (a TEST UNIT READY there to take a
// unit attention): it is sent once only, not again after a unit
// attention, nobody waits for it, and its Response and error stay zero.
// Where the session could not start it, it is not sent at all.
func executeInOrder(ctx context.Context, ex Executor, cmds []*Command, once *Command) ([]Response, []error) {
	resps := make([]Response, len(cmds))
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	i := 0
	if s, ok := ex.(*Session); ok {
		defer s.awaiting()()
		wg.Add(len(cmds))
		i = s.startInOrder(ctx, cmds, once, func(k int, r Response, err error) {
			if cmds[k] != once {
				resps[k], errs[k] = r, err
				wg.Done()
			}
		})
		wg.Add(i - len(cmds)) // the commands it did not start
		if once != nil && slices.Index(cmds[:i], once) >= 0 {
			wg.Done() // started, not waited for
		}
	}
	for ; i < len(cmds); i++ {
		if cmds[i] != once {
			resps[i], errs[i] = ex.Execute(ctx, cmds[i])
		}
	}
	wg.Wait()
	return resps, errs
}

// startInOrder starts cmds back to back (Start), in order, done(i, ...)
// reporting the outcome of cmds[i], and returns how many it started: it
// stops at the first that Start refuses (a full queue, a stopped
// session). The commands it started are queued before the writer is woken
// and leave in one write where the socket takes them. once, when not nil,
// is a command of cmds that is sent once only: not again after a unit
// attention (a command sent only to take one).
func (s *Session) startInOrder(ctx context.Context, cmds []*Command, once *Command, done func(i int, r Response, err error)) int {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.batching.Add(1)
		defer func() {
			c.batching.Add(-1)
			c.flush()
		}()
	}
	for i, cmd := range cmds {
		attempt := 0
		if cmd == once {
			attempt = uaRetries
		}
		if err := s.start(ctx, cmd, func(r Response, err error) { done(i, r, err) }, attempt); err != nil {
			return i
		}
	}
	return len(cmds)
}

// awaiting counts the calling goroutine as one that waits for the answers
// of commands it started, until the function it returns is called: the
// reader then waits for answers in the network poller, as it does while
// an Execute call is in flight, so that the goroutine it wakes runs at
// once (see sessConn.serve).
func (s *Session) awaiting() (done func()) {
	s.awaitN.Add(1)
	return func() { s.awaitN.Add(-1) }
}
