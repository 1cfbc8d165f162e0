package iscsi

import (
	"encoding/binary"
	"fmt"

	"github.com/lunarsan/lunar/internal/wire"
)

// AHSType is the six-bit AHS code in byte 2 of an Additional Header Segment
// (RFC 7143 section 11.2.2.2). The two most significant bits of the byte are
// reserved.
type AHSType uint8

// The AHS codes of RFC 7143 section 11.2.2.2. Codes 3-59 are reserved and
// 60-63 are for non-iSCSI extensions.
const (
	// AHSExtendedCDB carries the bytes of a CDB beyond its first 16
	// (section 11.2.2.3).
	AHSExtendedCDB AHSType = 1
	// AHSBidiReadLength carries the Bidirectional Read Expected Data
	// Transfer Length (section 11.2.2.4).
	AHSBidiReadLength AHSType = 2
)

const (
	ahsTypeMask = 0x3f
	// ahsHeaderLen is the AHSLength and AHSType fields in front of the
	// AHS-specific bytes.
	ahsHeaderLen = 3
	// bidiReadAHSLength is the AHSLength of a Bidirectional Read Expected
	// Data Transfer Length AHS: "AHSLength (0x0005)".
	bidiReadAHSLength = 5
	// maxAHSLength is the largest AHSLength the 16-bit field holds.
	maxAHSLength = 1<<16 - 1
)

// String returns the RFC's name for the AHS type.
func (t AHSType) String() string {
	switch t {
	case AHSExtendedCDB:
		return "Extended CDB"
	case AHSBidiReadLength:
		return "Bidirectional Read Expected Data Transfer Length"
	}
	return fmt.Sprintf("AHS type %d", uint8(t))
}

// AHSReader walks the Additional Header Segments of a PDU's AHS area
// (RFC 7143 section 11.2.2):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0| AHSLength                     | AHSType       | AHS-Specific  |
//	  +---------------+---------------+---------------+---------------+
//	 4/ AHS-Specific                                                  /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	 x
//
// AHSLength counts the AHS-specific bytes (from byte 3 on) without padding;
// each AHS is padded to a multiple of four bytes. The reader checks every
// AHSLength against the bytes left in the area before it takes them. Its
// error is sticky: once Next returns false, Err tells whether the area
// ended cleanly.
//
//	r := iscsi.NewAHSReader(f.AHS)
//	for r.Next() {
//		switch r.Type() { ... r.Data() ... }
//	}
//	if err := r.Err(); err != nil { ... }
type AHSReader struct {
	rest []byte
	typ  AHSType
	data []byte
	err  error
}

// NewAHSReader returns a reader over ahs, the whole AHS area of one PDU.
func NewAHSReader(ahs []byte) AHSReader {
	r := AHSReader{rest: ahs}
	if len(ahs)%4 != 0 {
		// RFC 7143 section 11.2.1.3: TotalAHSLength counts 4-byte words.
		r.err = fmt.Errorf("%w: AHS area of %d bytes is not a multiple of 4", ErrAHSLength, len(ahs))
		r.rest = nil
	}
	return r
}

// Next moves to the next AHS and reports whether there is one. It returns
// false at the end of the area or at the first malformed AHS; see Err.
func (r *AHSReader) Next() bool {
	r.typ, r.data = 0, nil
	if r.err != nil || len(r.rest) == 0 {
		return false
	}
	// The area is a multiple of four bytes, so at least the 3-byte header
	// and one AHS-specific byte remain here.
	n := int(binary.BigEndian.Uint16(r.rest[0:2]))
	total := ahsHeaderLen + n
	total += wire.Pad4(total)
	if total > len(r.rest) {
		r.err = fmt.Errorf("%w: AHSLength %d needs %d bytes with padding, %d left in the AHS area",
			ErrAHSLength, n, total, len(r.rest))
		r.rest = nil
		return false
	}
	r.typ = AHSType(r.rest[2] & ahsTypeMask)
	r.data = r.rest[ahsHeaderLen : ahsHeaderLen+n : ahsHeaderLen+n]
	r.rest = r.rest[total:]
	return true
}

// Type returns the current AHS's code, without the reserved bits.
func (r *AHSReader) Type() AHSType { return r.typ }

// Data returns the current AHS's AHS-specific bytes, AHSLength of them
// starting at its byte 3, without padding. It aliases the AHS area.
func (r *AHSReader) Data() []byte { return r.data }

// Err returns the error that stopped the reader, or nil if it reached the
// end of the area cleanly (or has not stopped yet).
func (r *AHSReader) Err() error { return r.err }

// AppendAHS appends one AHS of type t to b: AHSLength (len(specific)), the
// AHSType byte, the AHS-specific bytes (specific, starting with the AHS's
// byte 3) and zero padding to a multiple of four bytes.
func AppendAHS(b []byte, t AHSType, specific []byte) ([]byte, error) {
	if t > ahsTypeMask {
		return b, fmt.Errorf("%w: AHS type %d does not fit six bits", ErrInvalidField, uint8(t))
	}
	if len(specific) > maxAHSLength {
		return b, fmt.Errorf("%w: %d AHS-specific bytes, at most %d", ErrAHSLength, len(specific), maxAHSLength)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(specific)))
	b = append(b, byte(t))
	b = append(b, specific...)
	return wire.AppendZeros(b, wire.Pad4(ahsHeaderLen+len(specific))), nil
}

// appendExtendedCDBAHS appends an Extended CDB AHS (RFC 7143 section
// 11.2.2.3) holding ext, the CDB bytes beyond the first 16:
//
//	AHSLength (CDBLength - 15) | 0x01 | Reserved | ExtendedCDB... + padding
func appendExtendedCDBAHS(b, ext []byte) ([]byte, error) {
	n := 1 + len(ext) // the reserved byte 3, then the spillover
	if n > maxAHSLength {
		return b, fmt.Errorf("%w: %d extended CDB bytes, at most %d", ErrAHSLength, len(ext), maxAHSLength-1)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	b = append(b, byte(AHSExtendedCDB), 0)
	b = append(b, ext...)
	return wire.AppendZeros(b, wire.Pad4(ahsHeaderLen+n)), nil
}

// appendBidiReadAHS appends a Bidirectional Read Expected Data Transfer
// Length AHS (RFC 7143 section 11.2.2.4):
//
//	AHSLength (0x0005) | 0x02 | Reserved | Bidirectional Read Expected Data Transfer Length
func appendBidiReadAHS(b []byte, n uint32) []byte {
	b = binary.BigEndian.AppendUint16(b, bidiReadAHSLength)
	b = append(b, byte(AHSBidiReadLength), 0)
	return binary.BigEndian.AppendUint32(b, n)
}
