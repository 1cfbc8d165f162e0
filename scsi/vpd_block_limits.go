package scsi

import (
	"encoding/binary"
	"fmt"
)

// VPDBlockLimitsPageLength is the PAGE LENGTH of the Block Limits page
// (003Ch: 64 bytes in all).
const VPDBlockLimitsPageLength = 0x3c

// VPDBlockLimits is the Block Limits page, B0h (SBC-3 section
// 6.6). Lengths count logical blocks; zero means "no limit reported".
//
//	+-------+---------------------------------------------------------+
//	| 0     | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE           |
//	| 1     | PAGE CODE (B0h)                                         |
//	| 2-3   | PAGE LENGTH (003Ch)                                     |
//	| 4     | Reserved                                     | WSNZ(0)  |
//	| 5     | MAXIMUM COMPARE AND WRITE LENGTH                        |
//	| 6-7   | OPTIMAL TRANSFER LENGTH GRANULARITY                     |
//	| 8-11  | MAXIMUM TRANSFER LENGTH                                 |
//	| 12-15 | OPTIMAL TRANSFER LENGTH                                 |
//	| 16-19 | MAXIMUM PREFETCH LENGTH                                 |
//	| 20-23 | MAXIMUM UNMAP LBA COUNT                                 |
//	| 24-27 | MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT                    |
//	| 28-31 | OPTIMAL UNMAP GRANULARITY                               |
//	| 32-35 | UGAVALID(31) | UNMAP GRANULARITY ALIGNMENT (30-0)       |
//	| 36-43 | MAXIMUM WRITE SAME LENGTH                               |
//	| 44-63 | Reserved                                                |
//	+-------+---------------------------------------------------------+
type VPDBlockLimits struct {
	VPDPeripheral
	// WSNZ says WRITE SAME with NUMBER OF LOGICAL BLOCKS zero is refused.
	WSNZ bool
	// MaxCompareAndWriteLength is the largest COMPARE AND WRITE.
	MaxCompareAndWriteLength uint8
	// OptimalTransferLengthGranularity is the preferred transfer multiple.
	OptimalTransferLengthGranularity uint16
	// MaxTransferLength is the largest READ/WRITE transfer.
	MaxTransferLength uint32
	// OptimalTransferLength is the preferred largest transfer.
	OptimalTransferLength uint32
	// MaxPrefetchLength is the largest PRE-FETCH.
	MaxPrefetchLength uint32
	// MaxUnmapLBACount is the most blocks one UNMAP unmaps.
	MaxUnmapLBACount uint32
	// MaxUnmapBlockDescriptorCount is the most UNMAP block descriptors.
	MaxUnmapBlockDescriptorCount uint32
	// OptimalUnmapGranularity is the preferred unmap multiple.
	OptimalUnmapGranularity uint32
	// UGAValid says UnmapGranularityAlignment is valid.
	UGAValid bool
	// UnmapGranularityAlignment is the first LBA aligned to the optimal
	// unmap granularity (31 bits).
	UnmapGranularityAlignment uint32
	// MaxWriteSameLength is the largest WRITE SAME.
	MaxWriteSameLength uint64
}

// PageCode returns VPDPageBlockLimits.
func (p *VPDBlockLimits) PageCode() VPDPageCode { return VPDPageBlockLimits }

// MarshalBinary encodes p (64 bytes).
func (p *VPDBlockLimits) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+VPDBlockLimitsPageLength))
}

// AppendBinary appends p to b.
func (p *VPDBlockLimits) AppendBinary(b []byte) ([]byte, error) {
	if p.UnmapGranularityAlignment > 0x7fffffff {
		return b, fmt.Errorf("%w: unmap granularity alignment %#x exceeds 31 bits", ErrInvalidField, p.UnmapGranularityAlignment)
	}
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageBlockLimits)
	if err != nil {
		return b, err
	}
	b = append(b, inquiryFlag(p.WSNZ, 0x01), p.MaxCompareAndWriteLength)
	b = binary.BigEndian.AppendUint16(b, p.OptimalTransferLengthGranularity)
	b = binary.BigEndian.AppendUint32(b, p.MaxTransferLength)
	b = binary.BigEndian.AppendUint32(b, p.OptimalTransferLength)
	b = binary.BigEndian.AppendUint32(b, p.MaxPrefetchLength)
	b = binary.BigEndian.AppendUint32(b, p.MaxUnmapLBACount)
	b = binary.BigEndian.AppendUint32(b, p.MaxUnmapBlockDescriptorCount)
	b = binary.BigEndian.AppendUint32(b, p.OptimalUnmapGranularity)
	uga := p.UnmapGranularityAlignment
	if p.UGAValid {
		uga |= 1 << 31
	}
	b = binary.BigEndian.AppendUint32(b, uga)
	b = binary.BigEndian.AppendUint64(b, p.MaxWriteSameLength)
	b = append(b, make([]byte, start+VPDHeaderLength+VPDBlockLimitsPageLength-len(b))...)
	return finishVPD(b, start)
}

// UnmarshalBinary decodes the page. A shorter PAGE LENGTH than 003Ch
// (older devices send 000Ch or 0010h) is accepted: fields it does not
// cover decode as zero.
func (p *VPDBlockLimits) UnmarshalBinary(b []byte) error {
	per, d, err := parseVPDHeader(b, VPDPageBlockLimits)
	if err != nil {
		return err
	}
	// Offsets below are page offsets minus the 4-byte header.
	u32 := func(off int) uint32 {
		if len(d) < off+4 {
			return 0
		}
		return binary.BigEndian.Uint32(d[off:])
	}
	v := VPDBlockLimits{VPDPeripheral: per}
	if len(d) >= 2 {
		v.WSNZ = d[0]&0x01 != 0
		v.MaxCompareAndWriteLength = d[1]
	}
	if len(d) >= 4 {
		v.OptimalTransferLengthGranularity = binary.BigEndian.Uint16(d[2:])
	}
	v.MaxTransferLength = u32(4)
	v.OptimalTransferLength = u32(8)
	v.MaxPrefetchLength = u32(12)
	v.MaxUnmapLBACount = u32(16)
	v.MaxUnmapBlockDescriptorCount = u32(20)
	v.OptimalUnmapGranularity = u32(24)
	uga := u32(28)
	v.UGAValid = uga&(1<<31) != 0
	v.UnmapGranularityAlignment = uga &^ (1 << 31)
	if len(d) >= 40 {
		v.MaxWriteSameLength = binary.BigEndian.Uint64(d[32:])
	}
	*p = v
	return nil
}
