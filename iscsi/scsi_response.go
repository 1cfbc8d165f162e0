package iscsi

import (
	"encoding/binary"
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// The iSCSI service response codes of a SCSI Response (RFC 7143 section
// 11.4.3). Codes 0x80-0xff are vendor specific; the rest are reserved.
const (
	// ResponseCommandCompleted is "Command Completed at Target": Status
	// holds the SCSI status.
	ResponseCommandCompleted byte = 0x00
	// ResponseTargetFailure is "Target Failure".
	ResponseTargetFailure byte = 0x01
)

// Bits of byte 1 of a SCSI Response; Data-In uses the same O and U bits.
const (
	respBidiOverflowBit  = 0x10 // o
	respBidiUnderflowBit = 0x08 // u
	respOverflowBit      = 0x04 // O
	respUnderflowBit     = 0x02 // U
)

// senseLengthLen is the size of the SenseLength field in front of the
// sense data in a SCSI Response's data segment.
const senseLengthLen = 2

// SCSIResponse is the SCSI Response PDU, opcode 0x21 (RFC 7143 section
// 11.4):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x21      |1|. .|o|u|O|U|.| Response      | Status        |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| Reserved                                                      |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| SNACK Tag or Reserved                                         |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| ExpDataSN or Reserved                                         |
//	  +---------------+---------------+---------------+---------------+
//	40| Bidirectional Read Residual Count or Reserved                 |
//	  +---------------+---------------+---------------+---------------+
//	44| Residual Count or Reserved                                    |
//	  +---------------+---------------+---------------+---------------+
//	48| Header-Digest (optional)                                      |
//	  +---------------+---------------+---------------+---------------+
//	  / Data Segment (optional)                                       /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  | Data-Digest (optional)                                        |
//	  +---------------+---------------+---------------+---------------+
//
// The data segment, when present, is SenseLength (two bytes), the sense
// data and then any response data (section 11.4.7); Sense and SetSense read
// and build it.
//
// The residual counts are reserved unless their overflow or underflow bit
// is set: EncodeFrame sends zero and DecodeFrame leaves them zero then.
type SCSIResponse struct {
	// BidiOverflow is the o bit: Bidirectional Read Residual Overflow.
	BidiOverflow bool
	// BidiUnderflow is the u bit: Bidirectional Read Residual Underflow.
	BidiUnderflow bool
	// Overflow is the O bit: Residual Overflow.
	Overflow bool
	// Underflow is the U bit: Residual Underflow.
	Underflow bool
	// Response is the iSCSI service response, ResponseCommandCompleted or
	// ResponseTargetFailure (or a vendor-specific code).
	Response byte
	// Status is the SCSI status, valid only when Response is
	// ResponseCommandCompleted.
	Status scsi.Status
	// ITT is the Initiator Task Tag of the command.
	ITT uint32
	// SNACKTag is the tag of the last R-Data SNACK accepted for the
	// command, or 0.
	SNACKTag uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target accepts.
	MaxCmdSN uint32
	// ExpDataSN is the number of Data-In (and R2T) PDUs the target sent
	// for the command.
	ExpDataSN uint32
	// BidiReadResidualCount is the read residual of a bidirectional
	// command, valid when BidiOverflow or BidiUnderflow is set.
	BidiReadResidualCount uint32
	// ResidualCount is the residual, valid when Overflow or Underflow is
	// set.
	ResidualCount uint32
	// Data is the whole data segment: SenseLength, sense data and
	// response data. After DecodeFrame or UnmarshalBinary it aliases the
	// frame's or the input's memory.
	Data []byte
}

// Opcode returns OpSCSIResponse.
func (p *SCSIResponse) Opcode() Opcode { return OpSCSIResponse }

// check enforces the flag rules of RFC 7143 section 11.4.1.
func (p *SCSIResponse) check() error {
	// RFC 7143 section 11.4.1: "Bits O and U and bits o and u are
	// mutually exclusive (i.e., having both o and u or O and U set to 1
	// is a protocol error)."
	if p.Overflow && p.Underflow {
		return fmt.Errorf("%w: SCSI Response with both O and U set", ErrInvalidField)
	}
	if p.BidiOverflow && p.BidiUnderflow {
		return fmt.Errorf("%w: SCSI Response with both o and u set", ErrInvalidField)
	}
	// RFC 7143 section 11.4.1: "For a response other than "Command
	// Completed at Target", bits 3-6 MUST be 0."
	if p.Response != ResponseCommandCompleted && (p.Overflow || p.Underflow || p.BidiOverflow || p.BidiUnderflow) {
		return fmt.Errorf("%w: SCSI Response 0x%02x with residual bits set, want none unless the command completed at the target",
			ErrInvalidField, p.Response)
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *SCSIResponse) EncodeFrame(f *Frame) error {
	if err := p.check(); err != nil {
		return err
	}
	beginFrame(f, OpSCSIResponse, false)
	h := &f.BHS
	h[1] = finalBit
	if p.BidiOverflow {
		h[1] |= respBidiOverflowBit
	}
	if p.BidiUnderflow {
		h[1] |= respBidiUnderflowBit
	}
	if p.Overflow {
		h[1] |= respOverflowBit
	}
	if p.Underflow {
		h[1] |= respUnderflowBit
	}
	h[2], h[3] = p.Response, byte(p.Status)
	h.SetITT(p.ITT)
	h.PutUint32(20, p.SNACKTag)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h.PutUint32(36, p.ExpDataSN)
	if p.BidiOverflow || p.BidiUnderflow {
		h.PutUint32(40, p.BidiReadResidualCount)
	}
	if p.Overflow || p.Underflow {
		h.PutUint32(44, p.ResidualCount)
	}
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *SCSIResponse) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpSCSIResponse); err != nil {
		return err
	}
	if err := taskNoAHS(f); err != nil {
		return err
	}
	if err := taskFinalSet(f); err != nil {
		return err
	}
	h := &f.BHS
	r := SCSIResponse{
		BidiOverflow:  h[1]&respBidiOverflowBit != 0,
		BidiUnderflow: h[1]&respBidiUnderflowBit != 0,
		Overflow:      h[1]&respOverflowBit != 0,
		Underflow:     h[1]&respUnderflowBit != 0,
		Response:      h[2],
		Status:        scsi.Status(h[3]),
		ITT:           h.ITT(),
		SNACKTag:      h.Uint32(20),
		StatSN:        h.Uint32(24),
		ExpCmdSN:      h.Uint32(28),
		MaxCmdSN:      h.Uint32(32),
		ExpDataSN:     h.Uint32(36),
		Data:          f.Data,
	}
	if err := r.check(); err != nil {
		return err
	}
	// RFC 7143 section 11.4.5: if neither bit is set, "the Residual Count
	// field MUST be ignored on reception".
	if r.BidiOverflow || r.BidiUnderflow {
		r.BidiReadResidualCount = h.Uint32(40)
	}
	if r.Overflow || r.Underflow {
		r.ResidualCount = h.Uint32(44)
	}
	*p = r
	return nil
}

// Sense returns the sense data in p.Data, or nil if the data segment is
// empty. The result aliases p.Data. It returns an error wrapping
// ErrTruncated if the data segment is shorter than its SenseLength says.
func (p *SCSIResponse) Sense() ([]byte, error) {
	sense, _, err := p.splitData()
	return sense, err
}

// ResponseData returns the response data that follows the sense data in
// p.Data, or nil if there is none. The result aliases p.Data.
func (p *SCSIResponse) ResponseData() ([]byte, error) {
	_, resp, err := p.splitData()
	return resp, err
}

// splitData splits the data segment of RFC 7143 section 11.4.7 into its
// sense data and response data.
func (p *SCSIResponse) splitData() (sense, resp []byte, err error) {
	if len(p.Data) == 0 {
		return nil, nil, nil
	}
	if len(p.Data) < senseLengthLen {
		return nil, nil, fmt.Errorf("%w: SCSI Response data segment of %d bytes, want at least %d for SenseLength",
			ErrTruncated, len(p.Data), senseLengthLen)
	}
	n := int(binary.BigEndian.Uint16(p.Data[0:2]))
	rest := p.Data[senseLengthLen:]
	if n > len(rest) {
		return nil, nil, fmt.Errorf("%w: SenseLength %d, %d bytes of data segment left", ErrTruncated, n, len(rest))
	}
	if n > 0 {
		sense = rest[:n:n]
	}
	if len(rest) > n {
		resp = rest[n:]
	}
	return sense, resp, nil
}

// SetSense sets p.Data to a new data segment holding sense: SenseLength
// followed by the sense data, with no response data. An empty sense clears
// p.Data. Sense data is at most 252 bytes (SPC-4); anything beyond the
// 65535 bytes SenseLength can count is dropped.
func (p *SCSIResponse) SetSense(sense []byte) {
	if len(sense) == 0 {
		p.Data = nil
		return
	}
	if len(sense) > 1<<16-1 {
		sense = sense[:1<<16-1]
	}
	d := make([]byte, senseLengthLen+len(sense))
	binary.BigEndian.PutUint16(d, uint16(len(sense)))
	copy(d[senseLengthLen:], sense)
	p.Data = d
}

// AppendBinary appends p's wire form without digests to b.
func (p *SCSIResponse) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *SCSIResponse) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole SCSI Response without digests. p.Data
// aliases b.
func (p *SCSIResponse) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }

// taskNoAHS rejects an AHS on a PDU type that defines none: RFC 7143
// defines AHS only for SCSI Commands.
func taskNoAHS(f *Frame) error {
	if len(f.AHS) != 0 || f.BHS.TotalAHSLength() != 0 {
		return fmt.Errorf("%w: %d bytes of AHS on a %v, want 0", ErrAHSLength, max(len(f.AHS), f.BHS.TotalAHSLength()), f.BHS.Opcode())
	}
	return nil
}

// taskNoData rejects a data segment on a PDU type that carries none.
func taskNoData(f *Frame) error {
	if len(f.Data) != 0 || f.BHS.DataSegmentLength() != 0 {
		return fmt.Errorf("%w: %d bytes of data on a %v, want 0", ErrDataSegmentLength,
			max(len(f.Data), f.BHS.DataSegmentLength()), f.BHS.Opcode())
	}
	return nil
}

// taskFinalSet checks the F bit of a PDU type whose byte 1 starts with a
// fixed 1 in RFC 7143's diagram.
func taskFinalSet(f *Frame) error {
	if !f.BHS.Final() {
		return fmt.Errorf("%w: F bit of a %v is 0, want 1", ErrInvalidField, f.BHS.Opcode())
	}
	return nil
}
