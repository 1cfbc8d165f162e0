package iscsi

import "testing"

func taskMgmtRequestCases() []taskCase[TaskMgmtRequest] {
	return []taskCase[TaskMgmtRequest]{
		{
			name: "abort task",
			pdu: TaskMgmtRequest{
				Immediate: true, Function: AbortTask, LUN: 0x0001_0000_0000_0000, ITT: 0x11223344,
				ReferencedTaskTag: 0x55667788, CmdSN: 0x10, ExpStatSN: 0x20, RefCmdSN: 0x0f,
			},
			wire: []byte{
				0x42, 0x81, 0x00, 0x00, // 0: I, opcode; 1, ABORT TASK
				0x00, 0x00, 0x00, 0x00, // 4: TotalAHSLength, DataSegmentLength
				0x00, 0x01, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0x55, 0x66, 0x77, 0x88, // 20: Referenced Task Tag
				0x00, 0x00, 0x00, 0x10, // 24: CmdSN
				0x00, 0x00, 0x00, 0x20, // 28: ExpStatSN
				0x00, 0x00, 0x00, 0x0f, // 32: RefCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: ExpDataSN
				0x00, 0x00, 0x00, 0x00, // 40: reserved
				0x00, 0x00, 0x00, 0x00,
			},
		},
		{
			name: "logical unit reset",
			pdu: TaskMgmtRequest{
				Immediate: true, Function: LogicalUnitReset, LUN: 0x0002_0000_0000_0000, ITT: 1,
				ReferencedTaskTag: ReservedTag, CmdSN: 2, ExpStatSN: 3,
			},
			wire: []byte{
				0x42, 0x85, 0x00, 0x00, // 0: I, opcode; 1, LOGICAL UNIT RESET
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x02, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x01, // 16: ITT
				0xff, 0xff, 0xff, 0xff, // 20: Referenced Task Tag
				0x00, 0x00, 0x00, 0x02, // 24: CmdSN
				0x00, 0x00, 0x00, 0x03, // 28: ExpStatSN
				0x00, 0x00, 0x00, 0x00, // 32
				0x00, 0x00, 0x00, 0x00, // 36
				0x00, 0x00, 0x00, 0x00, // 40
				0x00, 0x00, 0x00, 0x00,
			},
		},
		{
			name: "task reassign",
			pdu: TaskMgmtRequest{
				Immediate: true, Function: TaskReassign, ITT: 4, ReferencedTaskTag: 5, CmdSN: 6, ExpStatSN: 7, ExpDataSN: 8,
			},
			wire: []byte{
				0x42, 0x88, 0x00, 0x00, // 0: I, opcode; 1, TASK REASSIGN
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x04, // 16: ITT
				0x00, 0x00, 0x00, 0x05, // 20: Referenced Task Tag
				0x00, 0x00, 0x00, 0x06, // 24: CmdSN
				0x00, 0x00, 0x00, 0x07, // 28: ExpStatSN
				0x00, 0x00, 0x00, 0x00, // 32: RefCmdSN
				0x00, 0x00, 0x00, 0x08, // 36: ExpDataSN
				0x00, 0x00, 0x00, 0x00, // 40
				0x00, 0x00, 0x00, 0x00,
			},
		},
		{
			name: "undefined function",
			pdu:  TaskMgmtRequest{Function: 0x7f, ITT: 9},
			wire: []byte{
				0x02, 0xff, 0x00, 0x00, // 0: opcode; 1, function 127
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x09, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20
				0x00, 0x00, 0x00, 0x00, // 24
				0x00, 0x00, 0x00, 0x00, // 28
				0x00, 0x00, 0x00, 0x00, // 32
				0x00, 0x00, 0x00, 0x00, // 36
				0x00, 0x00, 0x00, 0x00, // 40
				0x00, 0x00, 0x00, 0x00,
			},
		},
	}
}

func TestTaskMgmtRequestRoundTrip(t *testing.T) {
	runTaskCases(t, taskMgmtRequestCases())
}

func TestTaskMgmtRequestErrors(t *testing.T) {
	base := taskMgmtRequestCases()[1].wire

	withData := taskCat(base, []byte{1, 2, 3, 4})
	withData[7] = 4
	wantTaskDecodeError[TaskMgmtRequest](t, "data segment", withData, ErrDataSegmentLength)

	withAHS := taskCat(base, []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[TaskMgmtRequest](t, "AHS", withAHS, ErrAHSLength)

	notFinal := taskCat(base)
	notFinal[1] = 0x05
	wantTaskDecodeError[TaskMgmtRequest](t, "F clear", notFinal, ErrInvalidField)

	wantTaskEncodeError(t, "function 128", &TaskMgmtRequest{Function: 0x80}, ErrInvalidField)
}

func TestTMFunctionString(t *testing.T) {
	for fn, want := range map[TMFunction]string{
		AbortTask: "ABORT TASK", AbortTaskSet: "ABORT TASK SET", ClearACA: "CLEAR ACA",
		ClearTaskSet: "CLEAR TASK SET", LogicalUnitReset: "LOGICAL UNIT RESET",
		TargetWarmReset: "TARGET WARM RESET", TargetColdReset: "TARGET COLD RESET",
		TaskReassign: "TASK REASSIGN", 0: "task management function 0", 9: "task management function 9",
	} {
		if got := fn.String(); got != want {
			t.Errorf("TMFunction(%d).String() = %q, want %q", uint8(fn), got, want)
		}
	}
}

// FuzzTaskMgmt fuzzes the Task Management Function Request and Response
// decoders with each other's seeds.
func FuzzTaskMgmt(f *testing.F) {
	seedTaskFuzz(f, taskMgmtRequestCases())
	seedTaskFuzz(f, taskMgmtResponseCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzTaskStable[TaskMgmtRequest](t, b)
		fuzzTaskStable[TaskMgmtResponse](t, b)
	})
}
