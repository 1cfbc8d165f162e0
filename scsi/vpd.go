package scsi

import (
	"encoding"
	"encoding/binary"
	"fmt"
)

// VPDPageCode is the PAGE CODE of a vital product data page (SPC-4 section
// 7.8, SBC-3 section 6.6); an INQUIRY CDB with EVPD = 1 asks for one.
type VPDPageCode uint8

// The VPD pages lunar encodes and decodes.
const (
	VPDPageSupported            VPDPageCode = 0x00 // Supported VPD Pages (SPC-4 7.8)
	VPDPageUnitSerial           VPDPageCode = 0x80 // Unit Serial Number (SPC-4 7.8)
	VPDPageDeviceID             VPDPageCode = 0x83 // Device Identification (SPC-4 7.8.6)
	VPDPageBlockLimits          VPDPageCode = 0xb0 // Block Limits (SBC-3 6.6)
	VPDPageBlockCharacteristics VPDPageCode = 0xb1 // Block Device Characteristics (SBC-3 6.6)
	VPDPageProvisioning         VPDPageCode = 0xb2 // Logical Block Provisioning (SBC-3 6.6)
)

// String returns the page's name.
func (c VPDPageCode) String() string {
	switch c {
	case VPDPageSupported:
		return "Supported VPD Pages"
	case VPDPageUnitSerial:
		return "Unit Serial Number"
	case VPDPageDeviceID:
		return "Device Identification"
	case VPDPageBlockLimits:
		return "Block Limits"
	case VPDPageBlockCharacteristics:
		return "Block Device Characteristics"
	case VPDPageProvisioning:
		return "Logical Block Provisioning"
	}
	return fmt.Sprintf("VPD page 0x%02x", uint8(c))
}

// VPDHeaderLength is the length of the header every VPD page starts with.
const VPDHeaderLength = 4

// VPDPeripheral is byte 0 of a VPD page, the same as byte 0 of standard
// INQUIRY data. Every page type embeds it.
type VPDPeripheral struct {
	// PeripheralQualifier is bits 7-5 (InquiryQualifier*).
	PeripheralQualifier uint8
	// DeviceType is bits 4-0 (InquiryDevice*).
	DeviceType uint8
}

// VPDPage is a decoded VPD page; ParseVPD returns one of *VPDSupportedPages,
// *VPDUnitSerialNumber, *VPDDeviceIdentification, *VPDBlockLimits,
// *VPDBlockDeviceCharacteristics, *VPDLogicalBlockProvisioning or *VPDRaw.
type VPDPage interface {
	// PageCode returns the page's PAGE CODE.
	PageCode() VPDPageCode
	encoding.BinaryMarshaler
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// ParseVPD decodes a VPD page, choosing its type by the PAGE CODE in byte 1;
// a page lunar does not know decodes as *VPDRaw.
//
// Every page has the same header (SPC-4):
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PERIPHERAL QUALIFIER (7-5) | PERIPHERAL DEVICE TYPE (4-0) |
//	| 1   | PAGE CODE                                                 |
//	| 2-3 | PAGE LENGTH (n-3)                                         |
//	| 4-n | page data                                                 |
//	+-----+-----------------------------------------------------------+
func ParseVPD(b []byte) (VPDPage, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: VPD page is %d bytes, want at least %d", ErrTruncated, len(b), VPDHeaderLength)
	}
	var p VPDPage
	switch VPDPageCode(b[1]) {
	case VPDPageSupported:
		p = new(VPDSupportedPages)
	case VPDPageUnitSerial:
		p = new(VPDUnitSerialNumber)
	case VPDPageDeviceID:
		p = new(VPDDeviceIdentification)
	case VPDPageBlockLimits:
		p = new(VPDBlockLimits)
	case VPDPageBlockCharacteristics:
		p = new(VPDBlockDeviceCharacteristics)
	case VPDPageProvisioning:
		p = new(VPDLogicalBlockProvisioning)
	default:
		p = new(VPDRaw)
	}
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}

// VPDRaw is a VPD page lunar does not decode: its header and its bytes.
type VPDRaw struct {
	VPDPeripheral
	// Code is the PAGE CODE.
	Code VPDPageCode
	// Data is the page after the 4-byte header.
	Data []byte
}

// PageCode returns p.Code.
func (p *VPDRaw) PageCode() VPDPageCode { return p.Code }

// MarshalBinary encodes p.
func (p *VPDRaw) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+len(p.Data)))
}

// AppendBinary appends p to b.
func (p *VPDRaw) AppendBinary(b []byte) ([]byte, error) {
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, p.Code)
	if err != nil {
		return b, err
	}
	return finishVPD(append(b, p.Data...), start)
}

// UnmarshalBinary decodes any VPD page, copying its data.
func (p *VPDRaw) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: VPD page is %d bytes, want at least %d", ErrTruncated, len(b), VPDHeaderLength)
	}
	per, data, err := parseVPDHeader(b, VPDPageCode(b[1]))
	if err != nil {
		return err
	}
	*p = VPDRaw{VPDPeripheral: per, Code: VPDPageCode(b[1]), Data: append([]byte(nil), data...)}
	return nil
}

// appendVPDHeader appends the four-byte header with a zero PAGE LENGTH and
// returns where the page starts, for finishVPD.
func appendVPDHeader(b []byte, per VPDPeripheral, code VPDPageCode) ([]byte, int, error) {
	if per.PeripheralQualifier > 7 || per.DeviceType > 0x1f {
		return b, 0, fmt.Errorf("%w: VPD peripheral qualifier %d or device type %#x out of range",
			ErrInvalidField, per.PeripheralQualifier, per.DeviceType)
	}
	return append(b, per.PeripheralQualifier<<5|per.DeviceType, byte(code), 0, 0), len(b), nil
}

// finishVPD writes the PAGE LENGTH of the page that starts at start; it
// fails (returning b cut back to start) when the page is too long for it.
func finishVPD(b []byte, start int) ([]byte, error) {
	n := len(b) - start - VPDHeaderLength
	if n > 0xffff {
		return b[:start], fmt.Errorf("%w: VPD page length %d, want at most 65535", ErrInvalidField, n)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(n))
	return b, nil
}

// parseVPDHeader checks a page's header against want and returns byte 0
// and the PAGE LENGTH bytes that follow the header; bytes after those are
// ignored.
func parseVPDHeader(b []byte, want VPDPageCode) (VPDPeripheral, []byte, error) {
	if len(b) < VPDHeaderLength {
		return VPDPeripheral{}, nil, fmt.Errorf("%w: VPD page is %d bytes, want at least %d",
			ErrTruncated, len(b), VPDHeaderLength)
	}
	if got := VPDPageCode(b[1]); got != want {
		return VPDPeripheral{}, nil, fmt.Errorf("%w: VPD page code 0x%02x, want 0x%02x", ErrInvalidField, uint8(got), uint8(want))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if len(b) < VPDHeaderLength+n {
		return VPDPeripheral{}, nil, fmt.Errorf("%w: %v page is %d bytes, page length says %d",
			ErrTruncated, want, len(b), VPDHeaderLength+n)
	}
	per := VPDPeripheral{PeripheralQualifier: b[0] >> 5, DeviceType: b[0] & 0x1f}
	return per, b[VPDHeaderLength : VPDHeaderLength+n], nil
}
