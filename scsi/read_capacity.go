package scsi

import (
	"encoding/binary"
	"fmt"
)

// Lengths of READ CAPACITY parameter data.
const (
	ReadCapacity10DataLength = 8
	ReadCapacity16DataLength = 32
)

// ReadCapacity10Max is the RETURNED LOGICAL BLOCK ADDRESS READ CAPACITY(10)
// sends when the last LBA does not fit 32 bits: the initiator must use
// READ CAPACITY(16).
const ReadCapacity10Max = 0xffffffff

// ReadCapacity10Data is the READ CAPACITY(10) parameter data (SBC-3
// section 5.15.2).
//
//	+-----+-----------------------------------------------------------+
//	| 0-3 | RETURNED LOGICAL BLOCK ADDRESS                            |
//	| 4-7 | LOGICAL BLOCK LENGTH IN BYTES                             |
//	+-----+-----------------------------------------------------------+
type ReadCapacity10Data struct {
	// LastLBA is the LBA of the last logical block. AppendBinary clamps
	// it to ReadCapacity10Max.
	LastLBA uint64
	// BlockLength is the logical block length in bytes.
	BlockLength uint32
}

// MarshalBinary encodes d (8 bytes).
func (d *ReadCapacity10Data) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, ReadCapacity10DataLength))
}

// AppendBinary appends d to b. It never fails.
func (d *ReadCapacity10Data) AppendBinary(b []byte) ([]byte, error) {
	lba := d.LastLBA
	// SBC-3 5.15.2: if the number of logical blocks exceeds what the
	// RETURNED LOGICAL BLOCK ADDRESS field holds, the device server shall
	// set it to FFFFFFFFh.
	if lba > ReadCapacity10Max {
		lba = ReadCapacity10Max
	}
	b = binary.BigEndian.AppendUint32(b, uint32(lba))
	return binary.BigEndian.AppendUint32(b, d.BlockLength), nil
}

// UnmarshalBinary decodes the 8-byte parameter data; later bytes are
// ignored.
func (d *ReadCapacity10Data) UnmarshalBinary(b []byte) error {
	if len(b) < ReadCapacity10DataLength {
		return fmt.Errorf("%w: READ CAPACITY(10) data is %d bytes, want %d", ErrTruncated, len(b), ReadCapacity10DataLength)
	}
	*d = ReadCapacity10Data{
		LastLBA:     uint64(binary.BigEndian.Uint32(b)),
		BlockLength: binary.BigEndian.Uint32(b[4:]),
	}
	return nil
}

// NeedsReadCapacity16 reports whether the returned LBA was clamped, so the
// capacity must be read with READ CAPACITY(16).
func (d *ReadCapacity10Data) NeedsReadCapacity16() bool { return d.LastLBA >= ReadCapacity10Max }

// ReadCapacity16Data is the READ CAPACITY(16) parameter data (SBC-3
// section 5.16.2).
//
//	+-------+---------------------------------------------------------+
//	| 0-7   | RETURNED LOGICAL BLOCK ADDRESS                          |
//	| 8-11  | LOGICAL BLOCK LENGTH IN BYTES                           |
//	| 12    | Reserved (7-4) | P_TYPE (3-1) | PROT_EN (0)             |
//	| 13    | P_I_EXPONENT (7-4) | LOGICAL BLOCKS PER PHYSICAL BLOCK  |
//	|       |                    | EXPONENT (3-0)                     |
//	| 14-15 | LBPME(15) | LBPRZ(14) | LOWEST ALIGNED LOGICAL BLOCK    |
//	|       |                       | ADDRESS (13-0)                  |
//	| 16-31 | Reserved                                                |
//	+-------+---------------------------------------------------------+
type ReadCapacity16Data struct {
	// LastLBA is the LBA of the last logical block.
	LastLBA uint64
	// BlockLength is the logical block length in bytes.
	BlockLength uint32
	// ProtectionType is P_TYPE (3 bits): protection type minus one.
	ProtectionType uint8
	// ProtectionEnabled is PROT_EN.
	ProtectionEnabled bool
	// PIExponent is P_I_EXPONENT (4 bits).
	PIExponent uint8
	// LogicalPerPhysicalExponent is LOGICAL BLOCKS PER PHYSICAL BLOCK
	// EXPONENT (4 bits): 2^n logical blocks per physical block.
	LogicalPerPhysicalExponent uint8
	// LBPME says logical block provisioning management is enabled (thin
	// provisioning: UNMAP and friends work).
	LBPME bool
	// LBPRZ says an unmapped block reads as zeros.
	LBPRZ bool
	// LowestAlignedLBA is the LOWEST ALIGNED LOGICAL BLOCK ADDRESS (14 bits).
	LowestAlignedLBA uint16
}

// MarshalBinary encodes d (32 bytes).
func (d *ReadCapacity16Data) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, ReadCapacity16DataLength))
}

// AppendBinary appends d to b. It fails when a field does not fit its bits.
func (d *ReadCapacity16Data) AppendBinary(b []byte) ([]byte, error) {
	if d.ProtectionType > 7 || d.PIExponent > 0xf || d.LogicalPerPhysicalExponent > 0xf || d.LowestAlignedLBA > 0x3fff {
		return b, fmt.Errorf("%w: READ CAPACITY(16) P_TYPE %d, P_I_EXPONENT %d, exponent %d or lowest aligned LBA %d out of range",
			ErrInvalidField, d.ProtectionType, d.PIExponent, d.LogicalPerPhysicalExponent, d.LowestAlignedLBA)
	}
	b = binary.BigEndian.AppendUint64(b, d.LastLBA)
	b = binary.BigEndian.AppendUint32(b, d.BlockLength)
	b = append(b, d.ProtectionType<<1|inquiryFlag(d.ProtectionEnabled, 0x01), d.PIExponent<<4|d.LogicalPerPhysicalExponent)
	v := d.LowestAlignedLBA
	if d.LBPME {
		v |= 0x8000
	}
	if d.LBPRZ {
		v |= 0x4000
	}
	b = binary.BigEndian.AppendUint16(b, v)
	return append(b, make([]byte, ReadCapacity16DataLength-16)...), nil
}

// UnmarshalBinary decodes the 32-byte parameter data; later bytes are
// ignored.
func (d *ReadCapacity16Data) UnmarshalBinary(b []byte) error {
	if len(b) < ReadCapacity16DataLength {
		return fmt.Errorf("%w: READ CAPACITY(16) data is %d bytes, want %d", ErrTruncated, len(b), ReadCapacity16DataLength)
	}
	v := binary.BigEndian.Uint16(b[14:])
	*d = ReadCapacity16Data{
		LastLBA:                    binary.BigEndian.Uint64(b),
		BlockLength:                binary.BigEndian.Uint32(b[8:]),
		ProtectionType:             b[12] >> 1 & 7,
		ProtectionEnabled:          b[12]&0x01 != 0,
		PIExponent:                 b[13] >> 4,
		LogicalPerPhysicalExponent: b[13] & 0xf,
		LBPME:                      v&0x8000 != 0,
		LBPRZ:                      v&0x4000 != 0,
		LowestAlignedLBA:           v & 0x3fff,
	}
	return nil
}

// Blocks returns the number of logical blocks, LastLBA+1.
func (d *ReadCapacity16Data) Blocks() uint64 { return d.LastLBA + 1 }

// Bytes returns the capacity in bytes.
func (d *ReadCapacity16Data) Bytes() uint64 { return d.Blocks() * uint64(d.BlockLength) }
