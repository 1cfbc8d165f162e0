package initiator

import (
	"context"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// This file is the contract between the initiator's session layer (login,
// the command window, PDUs on the wire, reconnect) and its disk layer
// (Disk, rescans, disk-arrival events), which is built on Execute alone.

// Command is one SCSI command to run on a session.
type Command struct {
	// LUN is the LUN number to address (encoded with scsi.EncodeLUN).
	LUN uint64
	// CDB is the command descriptor block.
	CDB []byte
	// Attr is the task attribute; zero is SIMPLE.
	Attr iscsi.TaskAttr
	// DataOut is the write data, sent as immediate data, unsolicited
	// Data-Out and answers to R2T as negotiated. Nil for no Data-Out.
	DataOut []byte
	// DataIn is where read data lands, each Data-In at its offset; its
	// length is the Expected Data Transfer Length. Nil for no Data-In.
	DataIn []byte
}

// Response is what the target answered.
type Response struct {
	// Status is the SCSI status.
	Status scsi.Status
	// Sense is the sense data that came with CHECK CONDITION. It is
	// owned by the caller.
	Sense []byte
	// DataIn is how many bytes of Command.DataIn the target filled.
	DataIn int
	// Residual is the residual count: positive for underflow (less data
	// moved than expected), negative for overflow.
	Residual int64
}

// Executor runs SCSI commands. *Session implements it.
//
// Execute blocks until the command completes, ctx ends or the session
// fails. A non-GOOD status is returned as a Response and an error: a
// *scsi.SenseError for CHECK CONDITION (decoded from the sense data), a
// *StatusError for the others. Cancelling ctx sends ABORT TASK and returns
// ctx.Err() once the task's CmdSN slot is released; it never wedges the
// session.
type Executor interface {
	Execute(ctx context.Context, cmd *Command) (Response, error)
}

// StatusError is a non-GOOD SCSI status other than CHECK CONDITION (BUSY,
// RESERVATION CONFLICT, TASK SET FULL, ...).
type StatusError struct {
	// Status is the status the target returned.
	Status scsi.Status
}

// Error names the status.
func (e *StatusError) Error() string { return "initiator: SCSI status " + e.Status.String() }

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of session events.
const (
	// EventUnitAttention: a command returned a unit attention (the
	// session retried it when the condition was informational).
	EventUnitAttention EventKind = iota + 1
	// EventAsync: the target sent an Asynchronous Message.
	EventAsync
	// EventState: the session changed state (reconnecting, logged in,
	// failed, closed).
	EventState
)

// Event is something a session observed that the disk layer (or a user)
// may act on: unit attentions such as REPORTED LUNS DATA HAS CHANGED
// (3F/0E) or CAPACITY DATA HAS CHANGED (2A/09), asynchronous events, and
// session state changes.
type Event struct {
	// Kind is the kind of event.
	Kind EventKind
	// LUN is the LUN the event concerns, when it concerns one.
	LUN uint64
	// Sense is the unit attention's or asynchronous event's sense code.
	Sense scsi.SenseCode
	// AsyncEvent is the iSCSI AsyncEvent code, for EventAsync.
	AsyncEvent iscsi.AsyncEvent
	// State is the new session state, for EventState.
	State State
}

// State is a session's state.
type State uint8

// The session states.
const (
	// StateLoggedIn: full feature phase, commands flow.
	StateLoggedIn State = iota + 1
	// StateReconnecting: the connection was lost; the session is logging
	// in again with reinstatement, commands wait (within the retry
	// budget).
	StateReconnecting
	// StateFailed: the retry budget ran out; every command fails at once
	// with ErrSessionFailed.
	StateFailed
	// StateClosed: Close or Logout ended the session.
	StateClosed
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateLoggedIn:
		return "logged in"
	case StateReconnecting:
		return "reconnecting"
	case StateFailed:
		return "failed"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}
