package iscsi

import (
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// TMFunction is the function code of a Task Management Function Request
// (RFC 7143 section 11.5.1), the low seven bits of byte 1.
type TMFunction uint8

// The task management functions of RFC 7143 section 11.5.1.
const (
	// AbortTask aborts the task named by ReferencedTaskTag.
	AbortTask TMFunction = 1
	// AbortTaskSet aborts all tasks the session issued to the LU.
	AbortTaskSet TMFunction = 2
	// ClearACA clears the ACA condition.
	ClearACA TMFunction = 3
	// ClearTaskSet aborts all tasks in the LU's task set.
	ClearTaskSet TMFunction = 4
	// LogicalUnitReset resets the LU.
	LogicalUnitReset TMFunction = 5
	// TargetWarmReset resets the target.
	TargetWarmReset TMFunction = 6
	// TargetColdReset resets the target and closes all its connections.
	TargetColdReset TMFunction = 7
	// TaskReassign moves the allegiance of the task named by
	// ReferencedTaskTag to this connection.
	TaskReassign TMFunction = 8
)

// tmFunctionMask selects the function code in byte 1.
const tmFunctionMask = 0x7f

// String returns the SAM name of the function.
func (fn TMFunction) String() string {
	switch fn {
	case AbortTask:
		return "ABORT TASK"
	case AbortTaskSet:
		return "ABORT TASK SET"
	case ClearACA:
		return "CLEAR ACA"
	case ClearTaskSet:
		return "CLEAR TASK SET"
	case LogicalUnitReset:
		return "LOGICAL UNIT RESET"
	case TargetWarmReset:
		return "TARGET WARM RESET"
	case TargetColdReset:
		return "TARGET COLD RESET"
	case TaskReassign:
		return "TASK REASSIGN"
	}
	return fmt.Sprintf("task management function %d", uint8(fn))
}

// TaskMgmtRequest is the Task Management Function Request PDU, opcode 0x02
// (RFC 7143 section 11.5):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| 0x02      |1| Function    | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| Logical Unit Number (LUN) or Reserved                         |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Referenced Task Tag or 0xffffffff                             |
//	  +---------------+---------------+---------------+---------------+
//	24| CmdSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32| RefCmdSN or Reserved                                          |
//	  +---------------+---------------+---------------+---------------+
//	36| ExpDataSN or Reserved                                         |
//	  +---------------+---------------+---------------+---------------+
//	40/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//
// The request has no AHS and no data segment. DecodeFrame accepts function
// codes RFC 7143 does not define, so that the target can answer them with
// "Task management function not supported".
type TaskMgmtRequest struct {
	// Immediate is the I bit.
	Immediate bool
	// Function is the task management function, 0-127.
	Function TMFunction
	// LUN addresses the LU for the functions that act on one; reserved
	// otherwise.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag of this request.
	ITT uint32
	// ReferencedTaskTag is the ITT of the task to abort or reassign, or
	// ReservedTag.
	ReferencedTaskTag uint32
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// RefCmdSN is the CmdSN of the task to abort (ABORT TASK).
	RefCmdSN uint32
	// ExpDataSN is the data acknowledgment reference for TASK REASSIGN.
	ExpDataSN uint32
}

// Opcode returns OpTaskMgmtReq.
func (p *TaskMgmtRequest) Opcode() Opcode { return OpTaskMgmtReq }

// EncodeFrame fills f from p.
func (p *TaskMgmtRequest) EncodeFrame(f *Frame) error {
	if p.Function > tmFunctionMask {
		return fmt.Errorf("%w: task management function %d does not fit seven bits", ErrInvalidField, uint8(p.Function))
	}
	beginFrame(f, OpTaskMgmtReq, p.Immediate)
	h := &f.BHS
	h[1] = finalBit | byte(p.Function)
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.ReferencedTaskTag)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	h.PutUint32(32, p.RefCmdSN)
	h.PutUint32(36, p.ExpDataSN)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *TaskMgmtRequest) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpTaskMgmtReq); err != nil {
		return err
	}
	// RFC 7143 section 11.5.2: "For this PDU TotalAHSLength and
	// DataSegmentLength MUST be 0."
	if err := taskNoAHS(f); err != nil {
		return err
	}
	if err := taskNoData(f); err != nil {
		return err
	}
	if err := taskFinalSet(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = TaskMgmtRequest{
		Immediate:         h.Immediate(),
		Function:          TMFunction(h[1] & tmFunctionMask),
		LUN:               scsi.LUN(h.LUN()),
		ITT:               h.ITT(),
		ReferencedTaskTag: h.Uint32(20),
		CmdSN:             h.Uint32(24),
		ExpStatSN:         h.Uint32(28),
		RefCmdSN:          h.Uint32(32),
		ExpDataSN:         h.Uint32(36),
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *TaskMgmtRequest) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *TaskMgmtRequest) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Task Management Function Request
// without digests.
func (p *TaskMgmtRequest) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
