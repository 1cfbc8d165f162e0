package iscsi

import (
	"encoding/binary"
	"fmt"

	"github.com/lunarsan/lunar/internal/wire"
)

// Opcode is the six-bit operation code in byte 0 of every Basic Header
// Segment (RFC 7143 section 11.2.1.2). Initiator opcodes are 0x00-0x1f,
// target opcodes 0x20-0x3f.
type Opcode uint8

// The opcodes of RFC 7143 section 11.2.1.2.
const (
	OpNOPOut       Opcode = 0x00
	OpSCSICommand  Opcode = 0x01
	OpTaskMgmtReq  Opcode = 0x02
	OpLoginReq     Opcode = 0x03
	OpTextReq      Opcode = 0x04
	OpDataOut      Opcode = 0x05
	OpLogoutReq    Opcode = 0x06
	OpSNACKReq     Opcode = 0x10
	OpNOPIn        Opcode = 0x20
	OpSCSIResponse Opcode = 0x21
	OpTaskMgmtResp Opcode = 0x22
	OpLoginResp    Opcode = 0x23
	OpTextResp     Opcode = 0x24
	OpDataIn       Opcode = 0x25
	OpLogoutResp   Opcode = 0x26
	OpR2T          Opcode = 0x31
	OpAsyncMessage Opcode = 0x32
	OpReject       Opcode = 0x3f
)

const (
	opcodeMask             = 0x3f
	immediateBit           = 0x40
	finalBit               = 0x80
	maxDataSegmentLength   = 1<<24 - 1
	maxTotalAHSLengthWords = 255
)

var opcodeNames = map[Opcode]string{
	OpNOPOut:       "NOP-Out",
	OpSCSICommand:  "SCSI Command",
	OpTaskMgmtReq:  "Task Management Function Request",
	OpLoginReq:     "Login Request",
	OpTextReq:      "Text Request",
	OpDataOut:      "SCSI Data-Out",
	OpLogoutReq:    "Logout Request",
	OpSNACKReq:     "SNACK Request",
	OpNOPIn:        "NOP-In",
	OpSCSIResponse: "SCSI Response",
	OpTaskMgmtResp: "Task Management Function Response",
	OpLoginResp:    "Login Response",
	OpTextResp:     "Text Response",
	OpDataIn:       "SCSI Data-In",
	OpLogoutResp:   "Logout Response",
	OpR2T:          "Ready To Transfer",
	OpAsyncMessage: "Asynchronous Message",
	OpReject:       "Reject",
}

// String returns the RFC's name for the opcode.
func (o Opcode) String() string {
	if s, ok := opcodeNames[o]; ok {
		return s
	}
	return fmt.Sprintf("opcode 0x%02x", uint8(o))
}

// FromInitiator reports whether the opcode is one an initiator sends.
func (o Opcode) FromInitiator() bool { return o < 0x20 }

// Known reports whether RFC 7143 defines the opcode.
func (o Opcode) Known() bool { _, ok := opcodeNames[o]; return ok }

// BHSLen is the length of a Basic Header Segment in bytes.
const BHSLen = 48

// MaxAHSLen is the largest Additional Header Segment area a PDU can carry:
// TotalAHSLength is a one-byte count of four-byte words.
const MaxAHSLen = maxTotalAHSLengthWords * 4

// DigestLen is the length of a CRC32C header or data digest.
const DigestLen = 4

// BHS is a raw Basic Header Segment (RFC 7143 section 11.2). Its methods
// read and write the fields that sit at the same place in every PDU:
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| Opcode    |F|  Opcode-specific fields                     |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN or Opcode-specific fields                                 |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20/ Opcode-specific fields                                        /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48
type BHS [BHSLen]byte

// Opcode returns the PDU's opcode.
func (h *BHS) Opcode() Opcode { return Opcode(h[0] & opcodeMask) }

// Immediate reports the I bit (byte 0, bit 6).
func (h *BHS) Immediate() bool { return h[0]&immediateBit != 0 }

// Final reports the F bit (byte 1, bit 7).
func (h *BHS) Final() bool { return h[1]&finalBit != 0 }

// TotalAHSLength returns the length of the AHS area in bytes (the field
// counts four-byte words).
func (h *BHS) TotalAHSLength() int { return int(h[4]) * 4 }

// DataSegmentLength returns the data segment's length in bytes, without
// padding.
func (h *BHS) DataSegmentLength() int { return int(wire.Uint24(h[5:8])) }

// LUN returns bytes 8-15 as a big-endian integer: the LUN for the PDUs
// that carry one.
func (h *BHS) LUN() uint64 { return binary.BigEndian.Uint64(h[8:16]) }

// ITT returns the Initiator Task Tag.
func (h *BHS) ITT() uint32 { return binary.BigEndian.Uint32(h[16:20]) }

// Uint32 returns the big-endian word at byte offset off (20, 24, ... 44).
func (h *BHS) Uint32(off int) uint32 { return binary.BigEndian.Uint32(h[off : off+4]) }

// SetOpcode sets byte 0: the opcode and the I bit. Bit 7 is reserved and
// cleared.
func (h *BHS) SetOpcode(op Opcode, immediate bool) {
	h[0] = byte(op) & opcodeMask
	if immediate {
		h[0] |= immediateBit
	}
}

// SetFinal sets or clears the F bit, leaving the rest of byte 1 alone.
func (h *BHS) SetFinal(final bool) {
	if final {
		h[1] |= finalBit
	} else {
		h[1] &^= finalBit
	}
}

// SetLUN stores v in bytes 8-15.
func (h *BHS) SetLUN(v uint64) { binary.BigEndian.PutUint64(h[8:16], v) }

// SetITT stores the Initiator Task Tag.
func (h *BHS) SetITT(v uint32) { binary.BigEndian.PutUint32(h[16:20], v) }

// PutUint32 stores v big-endian at byte offset off.
func (h *BHS) PutUint32(off int, v uint32) { binary.BigEndian.PutUint32(h[off:off+4], v) }

// Frame is one PDU as it travels, split into its segments: the Basic Header
// Segment, the Additional Header Segments and the data segment. Padding and
// digests are not part of a Frame; the Framer adds and checks them.
//
// A Frame read by a Framer aliases the Framer's buffers and is valid until
// the next read; use Clone to keep it.
type Frame struct {
	// BHS is the Basic Header Segment. Its TotalAHSLength and
	// DataSegmentLength fields are set from AHS and Data by SetLengths.
	BHS BHS
	// AHS holds the raw Additional Header Segments, a multiple of four
	// bytes long and at most MaxAHSLen.
	AHS []byte
	// Data is the data segment without its padding.
	Data []byte
}

// SetLengths writes len(f.AHS) and len(f.Data) into the BHS, after checking
// that they fit their fields.
func (f *Frame) SetLengths() error {
	if len(f.AHS)%4 != 0 || len(f.AHS) > MaxAHSLen {
		return fmt.Errorf("%w: %d bytes (must be a multiple of 4, at most %d)", ErrAHSLength, len(f.AHS), MaxAHSLen)
	}
	if len(f.Data) > maxDataSegmentLength {
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrDataSegmentLength, len(f.Data), maxDataSegmentLength)
	}
	f.BHS[4] = byte(len(f.AHS) / 4)
	wire.PutUint24(f.BHS[5:8], uint32(len(f.Data)))
	return nil
}

// Len returns the PDU's length on the wire without digests: header, AHS,
// data and padding.
func (f *Frame) Len() int { return BHSLen + len(f.AHS) + len(f.Data) + wire.Pad4(len(f.Data)) }

// Clone returns a deep copy of f that shares no memory with it.
func (f *Frame) Clone() *Frame {
	c := &Frame{BHS: f.BHS}
	if f.AHS != nil {
		c.AHS = append([]byte(nil), f.AHS...)
	}
	if f.Data != nil {
		c.Data = append([]byte(nil), f.Data...)
	}
	return c
}

// AppendBinary appends the PDU's wire form without digests to b: BHS, AHS,
// data segment and zero padding. It sets the BHS length fields first.
func (f *Frame) AppendBinary(b []byte) ([]byte, error) {
	if err := f.SetLengths(); err != nil {
		return b, err
	}
	b = append(b, f.BHS[:]...)
	b = append(b, f.AHS...)
	b = append(b, f.Data...)
	return wire.AppendZeros(b, wire.Pad4(len(f.Data))), nil
}

// MarshalBinary returns the PDU's wire form without digests.
func (f *Frame) MarshalBinary() ([]byte, error) { return f.AppendBinary(make([]byte, 0, f.Len())) }

// UnmarshalBinary splits b, one whole PDU without digests, into f. The
// length fields are checked against len(b) before anything is kept; f's
// AHS and Data alias b.
func (f *Frame) UnmarshalBinary(b []byte) error {
	if len(b) < BHSLen {
		return fmt.Errorf("%w: %d bytes, want at least a %d-byte BHS", ErrTruncated, len(b), BHSLen)
	}
	copy(f.BHS[:], b)
	ahs, dsl := f.BHS.TotalAHSLength(), f.BHS.DataSegmentLength()
	want := BHSLen + ahs + dsl + wire.Pad4(dsl)
	if len(b) < want {
		return fmt.Errorf("%w: %d bytes, header says %d", ErrTruncated, len(b), want)
	}
	if len(b) > want {
		return fmt.Errorf("%w: %d bytes, header says %d", ErrTrailingBytes, len(b), want)
	}
	f.AHS = nil
	if ahs > 0 {
		f.AHS = b[BHSLen : BHSLen+ahs : BHSLen+ahs]
	}
	f.Data = nil
	if dsl > 0 {
		f.Data = b[BHSLen+ahs : BHSLen+ahs+dsl : BHSLen+ahs+dsl]
	}
	return nil
}

// PDU is one iSCSI Protocol Data Unit with its fields decoded. Every PDU
// type of RFC 7143 section 11 implements it; each also implements
// encoding.BinaryMarshaler, encoding.BinaryAppender and
// encoding.BinaryUnmarshaler over its whole wire form (no digests).
type PDU interface {
	// Opcode returns the PDU's opcode.
	Opcode() Opcode
	// EncodeFrame fills f from the PDU: the BHS (length fields
	// included), the AHS (appended to f.AHS[:0]) and the data segment,
	// which aliases the PDU's own data rather than copying it.
	EncodeFrame(f *Frame) error
	// DecodeFrame sets the PDU's fields from f after checking its opcode
	// and lengths. The PDU's data aliases f.Data.
	DecodeFrame(f *Frame) error
}

// Marshal returns p's wire form without digests.
func Marshal(p PDU) ([]byte, error) { return Append(nil, p) }

// Append appends p's wire form without digests to b.
func Append(b []byte, p PDU) ([]byte, error) {
	var f Frame
	if err := p.EncodeFrame(&f); err != nil {
		return b, err
	}
	return f.AppendBinary(b)
}

// unmarshalInto decodes b, one whole PDU without digests, into p. p's data
// aliases b.
func unmarshalInto(p PDU, b []byte) error {
	var f Frame
	if err := f.UnmarshalBinary(b); err != nil {
		return err
	}
	return p.DecodeFrame(&f)
}

// checkOpcode is the first step of every DecodeFrame.
func checkOpcode(f *Frame, want Opcode) error {
	if got := f.BHS.Opcode(); got != want {
		return fmt.Errorf("%w: got %v, want %v", ErrOpcode, got, want)
	}
	return nil
}

// beginFrame is the first step of every EncodeFrame: it clears f and sets
// byte 0.
func beginFrame(f *Frame, op Opcode, immediate bool) {
	f.BHS = BHS{}
	f.AHS = f.AHS[:0]
	f.Data = nil
	f.BHS.SetOpcode(op, immediate)
}
