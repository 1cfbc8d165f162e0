package iscsi

import "errors"

// Sentinel errors. Decoders wrap them with %w and the actual and expected
// values; match them with errors.Is.
var (
	// ErrTruncated means the input ended before the PDU or field did.
	ErrTruncated = errors.New("iscsi: truncated PDU")
	// ErrTrailingBytes means the input holds more than one PDU's worth.
	ErrTrailingBytes = errors.New("iscsi: trailing bytes after PDU")
	// ErrOpcode means a PDU of one opcode was decoded as another, or the
	// opcode is not defined by RFC 7143.
	ErrOpcode = errors.New("iscsi: unexpected opcode")
	// ErrAHSLength means the AHS area or one AHS inside it has a bad length.
	ErrAHSLength = errors.New("iscsi: bad AHS length")
	// ErrDataSegmentLength means a data segment is longer than allowed: by
	// the 24-bit field, by the negotiated MaxRecvDataSegmentLength, or by
	// the rules of the PDU type.
	ErrDataSegmentLength = errors.New("iscsi: data segment length not allowed")
	// ErrHeaderDigest means a header's CRC32C did not match.
	ErrHeaderDigest = errors.New("iscsi: header digest mismatch")
	// ErrDataDigest means a data segment's CRC32C did not match.
	ErrDataDigest = errors.New("iscsi: data digest mismatch")
	// ErrInvalidField means a field holds a value the RFC forbids.
	ErrInvalidField = errors.New("iscsi: invalid field")
	// ErrFramerUsage means a Framer method was called when it may not
	// be: a read on a Framer without a reader, a write without a writer,
	// ReadHeader while the previous PDU's data segment is unread, or
	// ReadData with no header read.
	ErrFramerUsage = errors.New("iscsi: framer used out of order")
)
