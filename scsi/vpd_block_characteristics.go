package scsi

import (
	"encoding/binary"
	"fmt"
)

// VPDBlockCharacteristicsPageLength is the PAGE LENGTH of the Block Device
// Characteristics page (003Ch: 64 bytes in all).
const VPDBlockCharacteristicsPageLength = 0x3c

// MEDIUM ROTATION RATE values (SBC-3); 0401h-FFFEh are a rate in
// rpm.
const (
	VPDRotationNotReported = 0x0000
	VPDRotationNonRotating = 0x0001
)

// NOMINAL FORM FACTOR values (SBC-3).
const (
	VPDFormFactorNotReported = 0x0
	VPDFormFactor5_25        = 0x1
	VPDFormFactor3_5         = 0x2
	VPDFormFactor2_5         = 0x3
	VPDFormFactor1_8         = 0x4
	VPDFormFactorBelow1_8    = 0x5
)

// VPDBlockDeviceCharacteristics is the Block Device Characteristics page,
// B1h (SBC-3 section 6.6). Linux reads it to tell SSDs
// (rotation rate 1) from disks.
//
//	+-------+---------------------------------------------------------+
//	| 0     | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE           |
//	| 1     | PAGE CODE (B1h)                                         |
//	| 2-3   | PAGE LENGTH (003Ch)                                     |
//	| 4-5   | MEDIUM ROTATION RATE                                    |
//	| 6     | PRODUCT TYPE                                            |
//	| 7     | WABEREQ(7-6) | WACEREQ(5-4) | NOMINAL FORM FACTOR(3-0)  |
//	| 8     | Reserved                            | FUAB(1) | VBULS(0)|
//	| 9-63  | Reserved                                                |
//	+-------+---------------------------------------------------------+
type VPDBlockDeviceCharacteristics struct {
	VPDPeripheral
	// MediumRotationRate is VPDRotationNonRotating for solid state media,
	// a rate in rpm, or VPDRotationNotReported.
	MediumRotationRate uint16
	// ProductType is the PRODUCT TYPE (0: not indicated).
	ProductType uint8
	// WABEREQ is the write after block erase required field (2 bits).
	WABEREQ uint8
	// WACEREQ is the write after cryptographic erase required field (2 bits).
	WACEREQ uint8
	// NominalFormFactor is a VPDFormFactor* value (4 bits).
	NominalFormFactor uint8
	// FUAB says SYNCHRONIZE CACHE and FUA behave as SBC-2 requires.
	FUAB bool
	// VBULS says VERIFY BYTCHK = 0 checks unmapped blocks.
	VBULS bool
}

// PageCode returns VPDPageBlockCharacteristics.
func (p *VPDBlockDeviceCharacteristics) PageCode() VPDPageCode { return VPDPageBlockCharacteristics }

// MarshalBinary encodes p (64 bytes).
func (p *VPDBlockDeviceCharacteristics) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+VPDBlockCharacteristicsPageLength))
}

// AppendBinary appends p to b.
func (p *VPDBlockDeviceCharacteristics) AppendBinary(b []byte) ([]byte, error) {
	if p.WABEREQ > 3 || p.WACEREQ > 3 || p.NominalFormFactor > 0xf {
		return b, fmt.Errorf("%w: WABEREQ %d, WACEREQ %d or nominal form factor %d out of range",
			ErrInvalidField, p.WABEREQ, p.WACEREQ, p.NominalFormFactor)
	}
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageBlockCharacteristics)
	if err != nil {
		return b, err
	}
	b = binary.BigEndian.AppendUint16(b, p.MediumRotationRate)
	b = append(b, p.ProductType, p.WABEREQ<<6|p.WACEREQ<<4|p.NominalFormFactor,
		inquiryFlag(p.FUAB, 0x02)|inquiryFlag(p.VBULS, 0x01))
	b = append(b, make([]byte, start+VPDHeaderLength+VPDBlockCharacteristicsPageLength-len(b))...)
	return finishVPD(b, start)
}

// UnmarshalBinary decodes the page; fields beyond a short PAGE LENGTH
// decode as zero.
func (p *VPDBlockDeviceCharacteristics) UnmarshalBinary(b []byte) error {
	per, d, err := parseVPDHeader(b, VPDPageBlockCharacteristics)
	if err != nil {
		return err
	}
	v := VPDBlockDeviceCharacteristics{VPDPeripheral: per}
	if len(d) >= 2 {
		v.MediumRotationRate = binary.BigEndian.Uint16(d)
	}
	if len(d) >= 3 {
		v.ProductType = d[2]
	}
	if len(d) >= 4 {
		v.WABEREQ, v.WACEREQ, v.NominalFormFactor = d[3]>>6, d[3]>>4&3, d[3]&0xf
	}
	if len(d) >= 5 {
		v.FUAB, v.VBULS = d[4]&0x02 != 0, d[4]&0x01 != 0
	}
	*p = v
	return nil
}
