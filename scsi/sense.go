package scsi

import (
	"encoding/binary"
	"fmt"
)

// Sense data response codes (SPC-4 section 4.5.1).
const (
	SenseResponseFixedCurrent       = 0x70
	SenseResponseFixedDeferred      = 0x71
	SenseResponseDescriptorCurrent  = 0x72
	SenseResponseDescriptorDeferred = 0x73
)

// Sense data descriptor types (SPC-4 section 4.5.2.1) that
// SenseData encodes and decodes. Other descriptors are skipped on decode.
const (
	SenseDescInformation     = 0x00
	SenseDescCommandSpecific = 0x01
	SenseDescKeySpecific     = 0x02
	SenseDescFRU             = 0x03
	SenseDescStreamCommands  = 0x04
	SenseDescBlockCommands   = 0x05
)

// Lengths of the encodings AppendFixed and AppendDescriptor produce.
const (
	// SenseFixedLength is the length of fixed-format sense data with an
	// ADDITIONAL SENSE LENGTH of 10 (0Ah).
	SenseFixedLength = 18
	// SenseDescriptorHeaderLength is the length of descriptor-format
	// sense data before the first descriptor.
	SenseDescriptorHeaderLength = 8
	// SenseMaxLength is the longest sense data can be: 8 bytes plus an
	// ADDITIONAL SENSE LENGTH of 255.
	SenseMaxLength = 8 + 255
)

const (
	senseFixedAdditional  = SenseFixedLength - 8
	senseInfoDescLen      = 0x0a
	senseCmdSpecDescLen   = 0x0a
	senseKeySpecDescLen   = 0x06
	senseFRUDescLen       = 0x02
	senseStreamDescLen    = 0x02
	senseBlockDescLen     = 0x02
	senseBitValid         = 0x80
	senseBitFileMark      = 0x80
	senseBitEOM           = 0x40
	senseBitILI           = 0x20
	senseKeyMask          = 0x0f
	senseResponseCodeMask = 0x7f
)

// SenseData is sense data in either format SPC-4 defines: fixed (response
// codes 70h/71h, section 4.5.3) and descriptor (72h/73h, section 4.5.2).
// One value holds what both formats can say, so it converts between them.
//
// Fixed format (SPC-4):
//
//	+------+-------+------------------------------------------------+
//	| 0    | VALID | RESPONSE CODE (70h or 71h)                     |
//	| 1    | Obsolete                                               |
//	| 2    | FILEMARK | EOM | ILI | rsvd | SENSE KEY                |
//	| 3-6  | INFORMATION                                            |
//	| 7    | ADDITIONAL SENSE LENGTH (n-7)                          |
//	| 8-11 | COMMAND-SPECIFIC INFORMATION                           |
//	| 12   | ADDITIONAL SENSE CODE                                  |
//	| 13   | ADDITIONAL SENSE CODE QUALIFIER                        |
//	| 14   | FIELD REPLACEABLE UNIT CODE                            |
//	| 15-17| SKSV | SENSE KEY SPECIFIC                              |
//	| 18-n | Additional sense bytes                                 |
//	+------+--------------------------------------------------------+
//
// Descriptor format (SPC-4):
//
//	+------+-------+------------------------------------------------+
//	| 0    | rsvd  | RESPONSE CODE (72h or 73h)                     |
//	| 1    | Reserved              | SENSE KEY                      |
//	| 2    | ADDITIONAL SENSE CODE                                  |
//	| 3    | ADDITIONAL SENSE CODE QUALIFIER                        |
//	| 4-6  | Reserved                                               |
//	| 7    | ADDITIONAL SENSE LENGTH (n-7)                          |
//	| 8-n  | Sense data descriptors: TYPE, ADDITIONAL LENGTH, ...   |
//	+------+--------------------------------------------------------+
type SenseData struct {
	// Descriptor selects descriptor format for MarshalBinary and
	// AppendBinary; ParseSense sets it from the response code.
	Descriptor bool
	// Deferred marks a deferred error (71h/73h) rather than a current one
	// (70h/72h).
	Deferred bool
	// Key is the SENSE KEY.
	Key SenseKey
	// ASC is the ADDITIONAL SENSE CODE.
	ASC uint8
	// ASCQ is the ADDITIONAL SENSE CODE QUALIFIER.
	ASCQ uint8
	// InformationValid is the VALID bit of the fixed format, or the
	// presence of an information descriptor.
	InformationValid bool
	// Information is the INFORMATION field (for example the first LBA in
	// error). The fixed format holds only 32 bits of it.
	Information uint64
	// CommandSpecific is the COMMAND-SPECIFIC INFORMATION field. The
	// fixed format holds only 32 bits of it; in descriptor format it is
	// sent (as a type 01h descriptor) only when it is not zero.
	CommandSpecific uint64
	// FRU is the FIELD REPLACEABLE UNIT CODE (zero: none).
	FRU uint8
	// SenseKeySpecific is the SKSV bit and the SENSE KEY SPECIFIC field.
	SenseKeySpecific SenseKeySpecific
	// FileMark, EOM and ILI are the stream and block command bits.
	FileMark, EOM, ILI bool
}

// Code returns ASC and ASCQ as one SenseCode.
func (s *SenseData) Code() SenseCode { return NewSenseCode(s.ASC, s.ASCQ) }

// String describes the sense data, for people.
func (s *SenseData) String() string {
	return fmt.Sprintf("%v: %v (%s)", s.Key, s.Code(), s.Code().Hex())
}

// ResponseCode returns the RESPONSE CODE MarshalBinary writes.
func (s *SenseData) ResponseCode() uint8 {
	code := uint8(SenseResponseFixedCurrent)
	if s.Descriptor {
		code = SenseResponseDescriptorCurrent
	}
	if s.Deferred {
		code++
	}
	return code
}

// MarshalBinary encodes s in the format s.Descriptor selects.
func (s *SenseData) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, SenseFixedLength))
}

// AppendBinary appends s to b in the format s.Descriptor selects. It never
// fails; the error is there for encoding.BinaryAppender.
func (s *SenseData) AppendBinary(b []byte) ([]byte, error) {
	if s.Descriptor {
		return s.AppendDescriptor(b), nil
	}
	return s.AppendFixed(b), nil
}

// MarshalFixed returns s in fixed format (18 bytes).
func (s *SenseData) MarshalFixed() []byte {
	return s.AppendFixed(make([]byte, 0, SenseFixedLength))
}

// AppendFixed appends s to b in fixed format: 18 bytes with an ADDITIONAL
// SENSE LENGTH of 0Ah. Information and CommandSpecific are cut to their
// low 32 bits; when Information does not fit, VALID is sent as zero.
func (s *SenseData) AppendFixed(b []byte) []byte {
	code := uint8(SenseResponseFixedCurrent)
	if s.Deferred {
		code = SenseResponseFixedDeferred
	}
	// The fixed format's INFORMATION field is four bytes (SPC-4 4.5.3); a
	// value that does not fit is not reported, so VALID goes out as zero.
	if s.InformationValid && s.Information <= 0xffffffff {
		code |= senseBitValid
	}
	b = append(b, code, 0)
	flags := uint8(s.Key) & senseKeyMask
	if s.FileMark {
		flags |= senseBitFileMark
	}
	if s.EOM {
		flags |= senseBitEOM
	}
	if s.ILI {
		flags |= senseBitILI
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint32(b, uint32(s.Information))
	b = append(b, senseFixedAdditional)
	b = binary.BigEndian.AppendUint32(b, uint32(s.CommandSpecific))
	b = append(b, s.ASC, s.ASCQ, s.FRU)
	sks := s.SenseKeySpecific.bytes()
	return append(b, sks[:]...)
}

// MarshalDescriptor returns s in descriptor format.
func (s *SenseData) MarshalDescriptor() []byte {
	return s.AppendDescriptor(make([]byte, 0, SenseDescriptorHeaderLength+12+8+8))
}

// AppendDescriptor appends s to b in descriptor format. It writes, in this
// order and only when they carry something: an information descriptor
// (InformationValid), a command-specific information descriptor
// (CommandSpecific != 0), a sense key specific descriptor (SKSV set), a
// field replaceable unit descriptor (FRU != 0), and a stream commands
// descriptor (FileMark or EOM) or else a block commands descriptor (ILI).
func (s *SenseData) AppendDescriptor(b []byte) []byte {
	code := uint8(SenseResponseDescriptorCurrent)
	if s.Deferred {
		code = SenseResponseDescriptorDeferred
	}
	start := len(b)
	b = append(b, code, uint8(s.Key)&senseKeyMask, s.ASC, s.ASCQ, 0, 0, 0, 0)
	if s.InformationValid {
		// SPC-4 4.5.2.2: "The VALID bit shall be set to one."
		b = append(b, SenseDescInformation, senseInfoDescLen, senseBitValid, 0)
		b = binary.BigEndian.AppendUint64(b, s.Information)
	}
	if s.CommandSpecific != 0 {
		b = append(b, SenseDescCommandSpecific, senseCmdSpecDescLen, 0, 0)
		b = binary.BigEndian.AppendUint64(b, s.CommandSpecific)
	}
	if s.SenseKeySpecific.Valid() {
		sks := s.SenseKeySpecific.bytes()
		b = append(b, SenseDescKeySpecific, senseKeySpecDescLen, 0, 0, sks[0], sks[1], sks[2], 0)
	}
	if s.FRU != 0 {
		b = append(b, SenseDescFRU, senseFRUDescLen, 0, s.FRU)
	}
	switch {
	case s.FileMark || s.EOM:
		var f uint8
		if s.FileMark {
			f |= senseBitFileMark
		}
		if s.EOM {
			f |= senseBitEOM
		}
		if s.ILI {
			f |= senseBitILI
		}
		b = append(b, SenseDescStreamCommands, senseStreamDescLen, 0, f)
	case s.ILI:
		b = append(b, SenseDescBlockCommands, senseBlockDescLen, 0, senseBitILI)
	}
	// At most 8+12+12+8+4+4 bytes: the additional length always fits.
	b[start+7] = uint8(len(b) - start - SenseDescriptorHeaderLength)
	return b
}

// UnmarshalBinary decodes sense data of either format into s; see
// ParseSense.
func (s *SenseData) UnmarshalBinary(b []byte) error {
	d, err := ParseSense(b)
	if err != nil {
		return err
	}
	*s = d
	return nil
}

// ParseSense decodes sense data in fixed or descriptor format. b must hold
// at least the eight bytes up to ADDITIONAL SENSE LENGTH and the number of
// bytes that field announces; bytes after those are ignored. Fixed-format
// fields beyond the additional sense length decode as zero. Unknown sense
// data descriptors are skipped; a descriptor that overruns the additional
// sense length is an error.
func ParseSense(b []byte) (SenseData, error) {
	var s SenseData
	if len(b) < 1 {
		return s, fmt.Errorf("%w: sense data is empty", ErrTruncated)
	}
	code := b[0] & senseResponseCodeMask
	switch code {
	case SenseResponseFixedCurrent, SenseResponseFixedDeferred,
		SenseResponseDescriptorCurrent, SenseResponseDescriptorDeferred:
	default:
		return s, fmt.Errorf("%w: sense response code 0x%02x, want 0x70-0x73", ErrInvalidField, code)
	}
	if len(b) < 8 {
		return s, fmt.Errorf("%w: sense data is %d bytes, want at least 8", ErrTruncated, len(b))
	}
	// SPC-4 4.5.1: the ADDITIONAL SENSE LENGTH field indicates the number
	// of additional sense bytes that follow.
	end := 8 + int(b[7])
	if len(b) < end {
		return s, fmt.Errorf("%w: sense data is %d bytes, additional sense length says %d", ErrTruncated, len(b), end)
	}
	b = b[:end]
	s.Deferred = code == SenseResponseFixedDeferred || code == SenseResponseDescriptorDeferred
	if code == SenseResponseFixedCurrent || code == SenseResponseFixedDeferred {
		parseSenseFixed(&s, b)
		return s, nil
	}
	s.Descriptor = true
	return s, parseSenseDescriptors(&s, b)
}

// parseSenseFixed decodes fixed format; b holds exactly 8 + ADDITIONAL
// SENSE LENGTH bytes.
func parseSenseFixed(s *SenseData, b []byte) {
	s.InformationValid = b[0]&senseBitValid != 0
	s.FileMark = b[2]&senseBitFileMark != 0
	s.EOM = b[2]&senseBitEOM != 0
	s.ILI = b[2]&senseBitILI != 0
	s.Key = SenseKey(b[2] & senseKeyMask)
	s.Information = uint64(binary.BigEndian.Uint32(b[3:7]))
	if len(b) >= 12 {
		s.CommandSpecific = uint64(binary.BigEndian.Uint32(b[8:12]))
	}
	if len(b) >= 13 {
		s.ASC = b[12]
	}
	if len(b) >= 14 {
		s.ASCQ = b[13]
	}
	if len(b) >= 15 {
		s.FRU = b[14]
	}
	if len(b) >= 18 {
		s.SenseKeySpecific = senseKeySpecificFrom(b[15:18])
	}
}

// parseSenseDescriptors decodes descriptor format; b holds exactly 8 +
// ADDITIONAL SENSE LENGTH bytes.
func parseSenseDescriptors(s *SenseData, b []byte) error {
	s.Key = SenseKey(b[1] & senseKeyMask)
	s.ASC, s.ASCQ = b[2], b[3]
	rest := b[SenseDescriptorHeaderLength:]
	for off := SenseDescriptorHeaderLength; len(rest) > 0; {
		if len(rest) < 2 {
			return fmt.Errorf("%w: sense descriptor header at byte %d has %d bytes, want 2", ErrTruncated, off, len(rest))
		}
		typ, n := rest[0], int(rest[1])
		if len(rest) < 2+n {
			return fmt.Errorf("%w: sense descriptor 0x%02x at byte %d has additional length %d, %d bytes remain",
				ErrTruncated, typ, off, n, len(rest)-2)
		}
		d := rest[:2+n]
		if err := parseSenseDescriptor(s, typ, d, off); err != nil {
			return err
		}
		rest = rest[2+n:]
		off += 2 + n
	}
	return nil
}

// parseSenseDescriptor decodes one descriptor d (header included) found at
// byte off.
func parseSenseDescriptor(s *SenseData, typ uint8, d []byte, off int) error {
	want := -1
	switch typ {
	case SenseDescInformation:
		want = senseInfoDescLen
	case SenseDescCommandSpecific:
		want = senseCmdSpecDescLen
	case SenseDescKeySpecific:
		want = senseKeySpecDescLen
	case SenseDescFRU:
		want = senseFRUDescLen
	case SenseDescStreamCommands:
		want = senseStreamDescLen
	case SenseDescBlockCommands:
		want = senseBlockDescLen
	default:
		return nil // SPC-4 4.5.2.1: descriptors lunar does not use are skipped.
	}
	if len(d)-2 != want {
		return fmt.Errorf("%w: sense descriptor 0x%02x at byte %d has additional length %d, want %d",
			ErrInvalidField, typ, off, len(d)-2, want)
	}
	switch typ {
	case SenseDescInformation:
		// An information descriptor with VALID zero says nothing.
		if d[2]&senseBitValid != 0 {
			s.InformationValid = true
			s.Information = binary.BigEndian.Uint64(d[4:12])
		}
	case SenseDescCommandSpecific:
		s.CommandSpecific = binary.BigEndian.Uint64(d[4:12])
	case SenseDescKeySpecific:
		// The field means nothing without SKSV; AppendDescriptor omits it.
		if sks := senseKeySpecificFrom(d[4:7]); sks.Valid() {
			s.SenseKeySpecific = sks
		}
	case SenseDescFRU:
		s.FRU = d[3]
	case SenseDescStreamCommands:
		s.FileMark = d[3]&senseBitFileMark != 0
		s.EOM = d[3]&senseBitEOM != 0
		s.ILI = d[3]&senseBitILI != 0
	case SenseDescBlockCommands:
		s.ILI = d[3]&senseBitILI != 0
	}
	return nil
}
