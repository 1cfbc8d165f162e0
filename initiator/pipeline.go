package initiator

import (
	"context"
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
	resps := make([]Response, len(cmds))
	errs := make([]error, len(cmds))
	s, async := ex.(*Session)
	var wg sync.WaitGroup
	i := 0
	for ; async && i < len(cmds); i++ {
		wg.Add(1)
		k := i // i goes on after the callback is set up
		err := s.Start(ctx, cmds[k], func(r Response, err error) {
			resps[k], errs[k] = r, err
			wg.Done()
		})
		if err != nil {
			wg.Done()
			break
		}
	}
	for ; i < len(cmds); i++ {
		resps[i], errs[i] = ex.Execute(ctx, cmds[i])
	}
	wg.Wait()
	return resps, errs
}
