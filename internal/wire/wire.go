// Package wire holds the big-endian field helpers shared by the scsi and
// iscsi codecs: Append* functions grow a byte slice, Consume* functions take
// a value off the front of one and report whether it was long enough, and
// Put/Get helpers for 24- and 48-bit fields that encoding/binary lacks.
//
// # Usage
//
//	b = wire.AppendUint32(b, itt)
//	itt, rest, ok := wire.ConsumeUint32(rest)
//
// # Concurrency
//
// Every function is pure and safe for concurrent use.
//
// # Cancellation
//
// Nothing here blocks.
package wire

import "encoding/binary"

// AppendUint8 appends v to b.
func AppendUint8(b []byte, v uint8) []byte { return append(b, v) }

// AppendUint16 appends v to b in big-endian order.
func AppendUint16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }

// AppendUint24 appends the low 24 bits of v to b in big-endian order.
func AppendUint24(b []byte, v uint32) []byte { return append(b, byte(v>>16), byte(v>>8), byte(v)) }

// AppendUint32 appends v to b in big-endian order.
func AppendUint32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// AppendUint64 appends v to b in big-endian order.
func AppendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// AppendZeros appends n zero bytes to b.
func AppendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

// ConsumeUint8 takes one byte off the front of b.
func ConsumeUint8(b []byte) (uint8, []byte, bool) {
	if len(b) < 1 {
		return 0, b, false
	}
	return b[0], b[1:], true
}

// ConsumeUint16 takes a big-endian uint16 off the front of b.
func ConsumeUint16(b []byte) (uint16, []byte, bool) {
	if len(b) < 2 {
		return 0, b, false
	}
	return binary.BigEndian.Uint16(b), b[2:], true
}

// ConsumeUint24 takes a big-endian 24-bit value off the front of b.
func ConsumeUint24(b []byte) (uint32, []byte, bool) {
	if len(b) < 3 {
		return 0, b, false
	}
	return Uint24(b), b[3:], true
}

// ConsumeUint32 takes a big-endian uint32 off the front of b.
func ConsumeUint32(b []byte) (uint32, []byte, bool) {
	if len(b) < 4 {
		return 0, b, false
	}
	return binary.BigEndian.Uint32(b), b[4:], true
}

// ConsumeUint64 takes a big-endian uint64 off the front of b.
func ConsumeUint64(b []byte) (uint64, []byte, bool) {
	if len(b) < 8 {
		return 0, b, false
	}
	return binary.BigEndian.Uint64(b), b[8:], true
}

// ConsumeBytes takes n bytes off the front of b. The returned slice aliases b.
func ConsumeBytes(b []byte, n int) ([]byte, []byte, bool) {
	if n < 0 || len(b) < n {
		return nil, b, false
	}
	return b[:n:n], b[n:], true
}

// Uint24 reads a big-endian 24-bit value from b[0:3]. b must hold 3 bytes.
func Uint24(b []byte) uint32 {
	_ = b[2]
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}

// PutUint24 writes the low 24 bits of v to b[0:3] in big-endian order.
func PutUint24(b []byte, v uint32) {
	_ = b[2]
	b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v)
}

// Uint48 reads a big-endian 48-bit value from b[0:6]. b must hold 6 bytes.
func Uint48(b []byte) uint64 {
	_ = b[5]
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 |
		uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

// PutUint48 writes the low 48 bits of v to b[0:6] in big-endian order.
func PutUint48(b []byte, v uint64) {
	_ = b[5]
	b[0], b[1], b[2] = byte(v>>40), byte(v>>32), byte(v>>24)
	b[3], b[4], b[5] = byte(v>>16), byte(v>>8), byte(v)
}

// Pad4 returns how many bytes pad n up to a multiple of four.
func Pad4(n int) int { return (4 - n&3) & 3 }
