package iscsi

import "fmt"

// newPDU returns a freshly allocated PDU of the type that carries op, or
// nil if RFC 7143 defines no such opcode.
func newPDU(op Opcode) PDU {
	switch op {
	case OpNOPOut:
		return new(NOPOut)
	case OpSCSICommand:
		return new(SCSICommand)
	case OpTaskMgmtReq:
		return new(TaskMgmtRequest)
	case OpLoginReq:
		return new(LoginRequest)
	case OpTextReq:
		return new(TextRequest)
	case OpDataOut:
		return new(DataOut)
	case OpLogoutReq:
		return new(LogoutRequest)
	case OpSNACKReq:
		return new(SNACKRequest)
	case OpNOPIn:
		return new(NOPIn)
	case OpSCSIResponse:
		return new(SCSIResponse)
	case OpTaskMgmtResp:
		return new(TaskMgmtResponse)
	case OpLoginResp:
		return new(LoginResponse)
	case OpTextResp:
		return new(TextResponse)
	case OpDataIn:
		return new(DataIn)
	case OpLogoutResp:
		return new(LogoutResponse)
	case OpR2T:
		return new(R2T)
	case OpAsyncMessage:
		return new(AsyncMessage)
	case OpReject:
		return new(Reject)
	}
	return nil
}

// Decode returns the typed PDU that f holds: a *SCSICommand for opcode
// 0x01, a *LoginRequest for 0x03, and so on for all eighteen opcodes of
// RFC 7143 section 11.2.1.2. An opcode the RFC does not define fails with
// ErrOpcode. The PDU's data aliases f.Data (and so, for a Frame read by a
// Framer, the Framer's buffer): Clone the frame first to keep it.
func Decode(f *Frame) (PDU, error) {
	op := f.BHS.Opcode()
	p := newPDU(op)
	if p == nil {
		return nil, fmt.Errorf("%w: 0x%02x is not defined by RFC 7143", ErrOpcode, uint8(op))
	}
	if err := p.DecodeFrame(f); err != nil {
		return nil, err
	}
	return p, nil
}

// Unmarshal decodes b, one whole PDU without digests, into its typed PDU
// as Decode does. The PDU's data aliases b.
func Unmarshal(b []byte) (PDU, error) {
	var f Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return Decode(&f)
}
