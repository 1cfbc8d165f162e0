package scsi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// LUN is the eight-byte SAM-5 LUN structure as it is carried on the wire
// (in iSCSI PDUs and REPORT LUNS data), held as a big-endian integer. Use
// the encoding helpers to map it to and from a LUN number.
//
// A single-level LUN (SAM-5 section 4.6.4) uses the first two bytes; the
// other six are zero:
//
//	byte 0: ADDRESS METHOD (bits 7-6) | address-method specific (bits 5-0)
//	byte 1: address-method specific
//	bytes 2-7: zero (second, third and fourth level addressing)
//
// Peripheral device addressing (method 00b, SAM-5 section 4.6.6) puts a
// BUS IDENTIFIER in bits 5-0 of byte 0 (zero for a logical unit at the
// current level) and the TARGET OR LUN in byte 1. Flat space addressing
// (method 01b, SAM-5 section 4.6.8) puts a 14-bit FLAT SPACE LUN in bits
// 5-0 of byte 0 and byte 1. Extended flat space addressing (method 11b,
// LENGTH 01b, EXTENDED ADDRESS METHOD 2h: byte 0 = D2h, SAM-5 section
// 4.6.10) carries a 24-bit number in bytes 1-3.
//
// Linux (scsilun_to_int) and libiscsi do not decode the address method:
// they read the first level's two bytes as an integer. A LUN below 256
// in peripheral addressing is therefore the same number to them; flat
// space LUN n (n >= 256) shows up there as 0x4000|n.
type LUN uint64

// LUNAddressMethod is the ADDRESS METHOD field of a LUN's first level
// (SAM-5 section 4.6.5, table 8).
type LUNAddressMethod uint8

// The address methods of SAM-5 table 8.
const (
	LUNAddressPeripheral  LUNAddressMethod = 0x0
	LUNAddressFlat        LUNAddressMethod = 0x1
	LUNAddressLogicalUnit LUNAddressMethod = 0x2
	LUNAddressExtended    LUNAddressMethod = 0x3
)

// String returns the address method's SAM name.
func (m LUNAddressMethod) String() string {
	switch m {
	case LUNAddressPeripheral:
		return "peripheral device addressing"
	case LUNAddressFlat:
		return "flat space addressing"
	case LUNAddressLogicalUnit:
		return "logical unit addressing"
	case LUNAddressExtended:
		return "extended logical unit addressing"
	}
	return fmt.Sprintf("address method %d", uint8(m))
}

// Limits of the LUN numbers each single-level method can carry.
const (
	// MaxPeripheralLUN is the largest LUN number peripheral device
	// addressing carries (an eight-bit TARGET OR LUN field).
	MaxPeripheralLUN = 0xff
	// MaxFlatLUN is the largest LUN number flat space addressing carries
	// (a 14-bit FLAT SPACE LUN field).
	MaxFlatLUN = 0x3fff
)

const (
	lunLen              = 8
	lunMethodShift      = 62
	lunFirstLevelShift  = 48
	lunFlatMask         = 0x3fff
	lunBusMask          = 0x3f
	lunExtendedFlatByte = 0xd2 // method 11b, LENGTH 01b, EXTENDED ADDRESS METHOD 2h
)

// ErrLUNAddressing means a LUN uses an addressing method or a
// hierarchical (multi-level) structure that this package does not map to
// a LUN number. *LUNAddressError wraps it.
var ErrLUNAddressing = errors.New("scsi: unsupported LUN addressing")

// LUNAddressError reports a LUN whose structure Number cannot map to a
// LUN number. It wraps ErrLUNAddressing; a target answers such a LUN as
// LOGICAL UNIT NOT SUPPORTED.
type LUNAddressError struct {
	LUN    LUN              // the eight-byte LUN structure rejected
	Method LUNAddressMethod // ADDRESS METHOD of its first level
	Reason string           // why Number cannot map it, for people
}

// Error describes the LUN and why it was rejected.
func (e *LUNAddressError) Error() string {
	return fmt.Sprintf("scsi: unsupported LUN 0x%016x (%v): %s", uint64(e.LUN), e.Method, e.Reason)
}

// Unwrap returns ErrLUNAddressing.
func (e *LUNAddressError) Unwrap() error { return ErrLUNAddressing }

// PeripheralLUN returns LUN n in peripheral device addressing with a zero
// bus identifier.
func PeripheralLUN(n uint8) LUN {
	return LUN(uint64(n) << lunFirstLevelShift)
}

// FlatLUN returns LUN n in flat space addressing. n must not exceed
// MaxFlatLUN.
func FlatLUN(n uint16) (LUN, error) {
	if n > MaxFlatLUN {
		return 0, fmt.Errorf("%w: flat space LUN %d above %d", ErrLUNAddressing, n, MaxFlatLUN)
	}
	return LUN(uint64(LUNAddressFlat)<<lunMethodShift | uint64(n)<<lunFirstLevelShift), nil
}

// EncodeLUN returns the single-level LUN structure for LUN number n the
// way targets commonly present it (and Linux and libiscsi expect):
// peripheral device addressing for n below 256, flat space addressing up
// to MaxFlatLUN, and extended flat space addressing above that.
func EncodeLUN(n uint16) LUN {
	switch {
	case n <= MaxPeripheralLUN:
		return PeripheralLUN(uint8(n))
	case n <= MaxFlatLUN:
		l, _ := FlatLUN(n) // n is in range
		return l
	}
	return LUN(uint64(lunExtendedFlatByte)<<56 | uint64(n)<<32)
}

// Method returns the address method of the LUN's first level.
func (l LUN) Method() LUNAddressMethod {
	return LUNAddressMethod(l >> lunMethodShift)
}

// Number decodes a single-level LUN in peripheral device addressing (with
// a zero bus identifier), flat space addressing, or extended flat space
// addressing (when the number fits in 16 bits). Any other structure
// returns a *LUNAddressError.
func (l LUN) Number() (uint16, error) {
	v := uint64(l)
	m := l.Method()
	switch m {
	case LUNAddressPeripheral, LUNAddressFlat:
		if v&(1<<lunFirstLevelShift-1) != 0 {
			return 0, &LUNAddressError{LUN: l, Method: m, Reason: "second to fourth level addressing is not zero"}
		}
		first := uint16(v >> lunFirstLevelShift)
		if m == LUNAddressFlat {
			return first & lunFlatMask, nil
		}
		if bus := first >> 8 & lunBusMask; bus != 0 {
			return 0, &LUNAddressError{LUN: l, Method: m, Reason: fmt.Sprintf("bus identifier %d is not zero", bus)}
		}
		return first & 0xff, nil
	case LUNAddressExtended:
		if byte(v>>56) != lunExtendedFlatByte {
			return 0, &LUNAddressError{LUN: l, Method: m, Reason: fmt.Sprintf("extended address byte 0x%02x is not extended flat space", byte(v>>56))}
		}
		if v&(1<<32-1) != 0 {
			return 0, &LUNAddressError{LUN: l, Method: m, Reason: "bytes 4 to 7 are not zero"}
		}
		n := v >> 32 & 0xffffff
		if n > 0xffff {
			return 0, &LUNAddressError{LUN: l, Method: m, Reason: fmt.Sprintf("extended flat space LUN %d does not fit 16 bits", n)}
		}
		return uint16(n), nil
	}
	return 0, &LUNAddressError{LUN: l, Method: m, Reason: "address method not mapped to a LUN number"}
}

// String returns the LUN number in decimal, or the eight bytes in
// hexadecimal when Number cannot decode the structure.
func (l LUN) String() string {
	if n, err := l.Number(); err == nil {
		return fmt.Sprintf("%d", n)
	}
	return fmt.Sprintf("0x%016x", uint64(l))
}

// AppendBinary appends the eight-byte LUN structure to b.
func (l LUN) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint64(b, uint64(l)), nil
}

// MarshalBinary returns the eight-byte LUN structure.
func (l LUN) MarshalBinary() ([]byte, error) {
	return l.AppendBinary(make([]byte, 0, lunLen))
}

// UnmarshalBinary reads the eight-byte LUN structure from b, which must
// be exactly eight bytes long.
func (l *LUN) UnmarshalBinary(b []byte) error {
	if len(b) < lunLen {
		return fmt.Errorf("%w: LUN has %d bytes, want %d", ErrTruncated, len(b), lunLen)
	}
	if len(b) > lunLen {
		return fmt.Errorf("%w: LUN has %d bytes, want %d", ErrInvalidField, len(b), lunLen)
	}
	*l = LUN(binary.BigEndian.Uint64(b))
	return nil
}
