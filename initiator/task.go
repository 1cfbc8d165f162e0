package initiator

import (
	"context"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// sessTaskKind says what a task carries.
type sessTaskKind uint8

const (
	sessKindCmd    sessTaskKind = iota + 1 // a SCSI command (Execute)
	sessKindTMF                            // a task management request
	sessKindLogout                         // a Logout Request
)

// sessTaskState is where a task stands.
type sessTaskState uint8

const (
	sessTaskFree    sessTaskState = iota // slot unused
	sessTaskWaiting                      // not (or no longer) on a connection: waits for the window or a login
	sessTaskSent                         // its PDU is on a connection, its answer pending
	sessTaskDone                         // finished; done is or will be signalled
)

// sessMaxRetries bounds how often one command is re-issued after
// connection losses before it fails with the loss's error.
const sessMaxRetries = 4

// sessTask is one exchange that owns an Initiator Task Tag: a command, a
// TMF or a logout. Tasks live in the session's slot table and are reused;
// the ITT is the slot number with a generation in the upper half, so a late
// answer for an earlier use of the slot never matches. Every field is
// guarded by Session.mu, except the DataIn bytes, which only the reader
// of the task's connection writes while the task is Sent on it.
type sessTask struct {
	slot  uint16
	gen   uint16
	itt   uint32
	kind  sessTaskKind
	state sessTaskState

	// orphan tasks are released by whoever finishes them: nobody waits.
	orphan bool
	// aborting is set once ABORT TASK was sent for the task.
	aborting bool
	// waiting is set while the task sits in Session.waiters.
	waiting bool

	cmd     *Command
	lun     scsi.LUN
	lunNum  uint64
	cmdSN   uint32
	conn    *sessConn
	retries int

	// Data-In and R2T progress on the current connection.
	inBytes int
	dataSN  uint32
	r2tSN   uint32
	protoEr error

	// TMF fields.
	fn     iscsi.TMFunction
	refITT uint32
	refSN  uint32
	tmResp iscsi.TMResponse

	// answered is set when a logout's answer arrived; the connection's
	// end finishes the task with answerErr.
	answered  bool
	answerErr error

	// pendingOut counts PDUs queued for the writer that refer to this
	// task's memory; done is signalled only once it is zero.
	pendingOut int
	finished   bool

	resp Response
	err  error

	// Asynchronous commands (Session.Start): adone is called instead of
	// signalling done; actx, astop (the AfterFunc that cancels the task
	// when actx ends) and attempt follow the command through its
	// retries; canceled is set once actx ended while the task ran.
	adone    func(Response, error)
	actx     context.Context
	astop    func() bool
	attempt  int
	canceled bool
	// use counts the task's uses, so that a late cancellation of an
	// earlier use is recognised.
	use uint64

	done chan struct{} // signalled once when the task finishes
	wake chan struct{} // signalled when a waiting task may try again
}

// newSessTask makes the free task of slot.
func newSessTask(slot uint16) *sessTask {
	return &sessTask{slot: slot, done: make(chan struct{}, 1), wake: make(chan struct{}, 1)}
}

// reset prepares a task for a new use.
func (t *sessTask) reset(kind sessTaskKind) {
	t.gen = (t.gen + 1) & 0x7fff
	t.itt = uint32(t.gen)<<16 | uint32(t.slot)
	t.kind = kind
	t.state = sessTaskWaiting
	t.orphan, t.aborting, t.waiting, t.finished = false, false, false, false
	t.cmd, t.lun, t.lunNum, t.cmdSN, t.conn, t.retries = nil, 0, 0, 0, nil, 0
	t.restart()
	t.fn, t.refITT, t.refSN, t.tmResp = 0, 0, 0, 0
	t.pendingOut = 0
	t.answered, t.answerErr = false, nil
	t.resp, t.err = Response{}, nil
	t.adone, t.actx, t.astop, t.attempt, t.canceled = nil, nil, nil, 0, false
	t.use++
	select {
	case <-t.done:
	default:
	}
	select {
	case <-t.wake:
	default:
	}
}

// restart clears the per-connection progress before a (re)send.
func (t *sessTask) restart() {
	t.inBytes, t.dataSN, t.r2tSN, t.protoEr = 0, 0, 0, nil
}

// signal wakes the goroutine waiting in select without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
