package iscsi

import "fmt"

// TMResponse is the Response field of a Task Management Function Response
// (RFC 7143 section 11.6.1).
type TMResponse uint8

// The responses of RFC 7143 section 11.6.1. All other values are reserved.
const (
	// TMFunctionComplete is "Function complete".
	TMFunctionComplete TMResponse = 0
	// TMTaskDoesNotExist is "Task does not exist".
	TMTaskDoesNotExist TMResponse = 1
	// TMLUNDoesNotExist is "LUN does not exist".
	TMLUNDoesNotExist TMResponse = 2
	// TMTaskStillAllegiant is "Task still allegiant".
	TMTaskStillAllegiant TMResponse = 3
	// TMReassignNotSupported is "Task allegiance reassignment not
	// supported".
	TMReassignNotSupported TMResponse = 4
	// TMFunctionNotSupported is "Task management function not supported".
	TMFunctionNotSupported TMResponse = 5
	// TMAuthorizationFailed is "Function authorization failed".
	TMAuthorizationFailed TMResponse = 6
	// TMFunctionRejected is "Function rejected".
	TMFunctionRejected TMResponse = 255
)

// String returns the RFC's name for the response.
func (r TMResponse) String() string {
	switch r {
	case TMFunctionComplete:
		return "Function complete"
	case TMTaskDoesNotExist:
		return "Task does not exist"
	case TMLUNDoesNotExist:
		return "LUN does not exist"
	case TMTaskStillAllegiant:
		return "Task still allegiant"
	case TMReassignNotSupported:
		return "Task allegiance reassignment not supported"
	case TMFunctionNotSupported:
		return "Task management function not supported"
	case TMAuthorizationFailed:
		return "Function authorization failed"
	case TMFunctionRejected:
		return "Function rejected"
	}
	return fmt.Sprintf("task management response %d", uint8(r))
}

// TaskMgmtResponse is the Task Management Function Response PDU, opcode
// 0x22 (RFC 7143 section 11.6):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x22      |1| Reserved    | Response      | Reserved      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//
// The response has no AHS and no data segment.
type TaskMgmtResponse struct {
	// Response is the outcome of the function.
	Response TMResponse
	// ITT is the Initiator Task Tag of the request.
	ITT uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target accepts.
	MaxCmdSN uint32
}

// Opcode returns OpTaskMgmtResp.
func (p *TaskMgmtResponse) Opcode() Opcode { return OpTaskMgmtResp }

// EncodeFrame fills f from p.
func (p *TaskMgmtResponse) EncodeFrame(f *Frame) error {
	beginFrame(f, OpTaskMgmtResp, false)
	h := &f.BHS
	h[1] = finalBit
	h[2] = byte(p.Response)
	h.SetITT(p.ITT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	return f.SetLengths()
}

// DecodeFrame sets p from f.
func (p *TaskMgmtResponse) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpTaskMgmtResp); err != nil {
		return err
	}
	// RFC 7143 section 11.6.3: "For this PDU TotalAHSLength and
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
	*p = TaskMgmtResponse{
		Response: TMResponse(h[2]),
		ITT:      h.ITT(),
		StatSN:   h.Uint32(24),
		ExpCmdSN: h.Uint32(28),
		MaxCmdSN: h.Uint32(32),
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *TaskMgmtResponse) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *TaskMgmtResponse) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Task Management Function Response
// without digests.
func (p *TaskMgmtResponse) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
