package iscsi

import "testing"

func taskMgmtResponseCases() []taskCase[TaskMgmtResponse] {
	return []taskCase[TaskMgmtResponse]{
		{
			name: "function complete",
			pdu:  TaskMgmtResponse{Response: TMFunctionComplete, ITT: 0x11223344, StatSN: 0x10, ExpCmdSN: 0x20, MaxCmdSN: 0x30},
			wire: []byte{
				0x22, 0x80, 0x00, 0x00, // 0: opcode; 1; Function complete
				0x00, 0x00, 0x00, 0x00, // 4: TotalAHSLength, DataSegmentLength
				0x00, 0x00, 0x00, 0x00, // 8: reserved
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20: reserved
				0x00, 0x00, 0x00, 0x10, // 24: StatSN
				0x00, 0x00, 0x00, 0x20, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x30, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
			},
		},
		{
			name: "function rejected",
			pdu:  TaskMgmtResponse{Response: TMFunctionRejected, ITT: 1, StatSN: 2, ExpCmdSN: 3, MaxCmdSN: 4},
			wire: []byte{
				0x22, 0x80, 0xff, 0x00, // 0: opcode; 1; Function rejected
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x01, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20
				0x00, 0x00, 0x00, 0x02, // 24: StatSN
				0x00, 0x00, 0x00, 0x03, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x04, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
			},
		},
	}
}

func TestTaskMgmtResponseRoundTrip(t *testing.T) {
	runTaskCases(t, taskMgmtResponseCases())
}

func TestTaskMgmtResponseErrors(t *testing.T) {
	base := taskMgmtResponseCases()[0].wire

	withData := taskCat(base, []byte{1, 2, 3, 4})
	withData[7] = 4
	wantTaskDecodeError[TaskMgmtResponse](t, "data segment", withData, ErrDataSegmentLength)

	withAHS := taskCat(base, []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[TaskMgmtResponse](t, "AHS", withAHS, ErrAHSLength)

	notFinal := taskCat(base)
	notFinal[1] = 0
	wantTaskDecodeError[TaskMgmtResponse](t, "F clear", notFinal, ErrInvalidField)
}

func TestTMResponseString(t *testing.T) {
	for r, want := range map[TMResponse]string{
		TMFunctionComplete: "Function complete", TMTaskDoesNotExist: "Task does not exist",
		TMLUNDoesNotExist: "LUN does not exist", TMTaskStillAllegiant: "Task still allegiant",
		TMReassignNotSupported: "Task allegiance reassignment not supported",
		TMFunctionNotSupported: "Task management function not supported",
		TMAuthorizationFailed:  "Function authorization failed", TMFunctionRejected: "Function rejected",
		7: "task management response 7",
	} {
		if got := r.String(); got != want {
			t.Errorf("TMResponse(%d).String() = %q, want %q", uint8(r), got, want)
		}
	}
}
