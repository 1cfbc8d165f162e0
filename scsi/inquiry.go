package scsi

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Standard INQUIRY data constants (SPC-4 section 6.6.2).
const (
	// InquiryVersionSPC4 is the VERSION value claiming SPC-4.
	InquiryVersionSPC4 = 0x06
	// InquiryResponseDataFormat is the RESPONSE DATA FORMAT value SPC-4
	// requires.
	InquiryResponseDataFormat = 2
	// InquiryMinLength is the length of standard INQUIRY data up to and
	// including PRODUCT REVISION LEVEL; shorter data is rejected.
	InquiryMinLength = 36
	// InquiryVersionDescriptorsLength is the length MarshalBinary uses
	// when there are version descriptors: through byte 95.
	InquiryVersionDescriptorsLength = 96
	// InquiryMaxVersionDescriptors is how many version descriptors fit.
	InquiryMaxVersionDescriptors = 8

	inquiryVendorLen   = 8
	inquiryProductLen  = 16
	inquiryRevisionLen = 4
	inquiryVersionOff  = 58
	inquiryAddLenBase  = 4 // ADDITIONAL LENGTH is n-4
)

// Peripheral qualifiers and device types of byte 0 of INQUIRY and VPD data
// (SPC-4 6.6.2).
const (
	// InquiryQualifierConnected: a device of this type is connected to
	// the logical unit.
	InquiryQualifierConnected = 0
	// InquiryQualifierNotConnected: a device of this type is supported
	// but not connected now.
	InquiryQualifierNotConnected = 1
	// InquiryQualifierNotSupported: no device is supported at this LUN;
	// used with InquiryDeviceUnknown.
	InquiryQualifierNotSupported = 3

	// InquiryDeviceDirectAccess is a direct access block device (SBC).
	InquiryDeviceDirectAccess = 0x00
	// InquiryDeviceEnclosure is an enclosure services device.
	InquiryDeviceEnclosure = 0x0d
	// InquiryDeviceWellKnownLU is a well known logical unit.
	InquiryDeviceWellKnownLU = 0x1e
	// InquiryDeviceUnknown is "unknown or no device type".
	InquiryDeviceUnknown = 0x1f
)

// Version descriptor values lunar claims (SPC-4).
const (
	InquiryVersionDescSAM5  = 0x00a0
	InquiryVersionDescSPC4  = 0x0460
	InquiryVersionDescSBC3  = 0x04c0
	InquiryVersionDescISCSI = 0x0960
)

// InquiryData is the standard INQUIRY data (SPC-4 section
// 6.6.2). Obsolete and vendor-specific fields are sent as zero.
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PERIPHERAL QUALIFIER (7-5) | PERIPHERAL DEVICE TYPE (4-0) |
//	| 1   | RMB(7) | Reserved                                         |
//	| 2   | VERSION                                                   |
//	| 3   | Obsolete | NORMACA(5) | HISUP(4) | RESPONSE DATA FORMAT   |
//	| 4   | ADDITIONAL LENGTH (n-4)                                   |
//	| 5   | SCCS(7) ACC(6) TPGS(5-4) 3PC(3) Reserved PROTECT(0)       |
//	| 6   | Obs ENCSERV(6) VS MULTIP(4) Obsolete...                   |
//	| 7   | Obsolete ... CMDQUE(1) VS                                 |
//	| 8-15| T10 VENDOR IDENTIFICATION                                 |
//	|16-31| PRODUCT IDENTIFICATION                                    |
//	|32-35| PRODUCT REVISION LEVEL                                    |
//	|36-55| Vendor specific                                           |
//	|56-57| Reserved / obsolete                                       |
//	|58-73| VERSION DESCRIPTOR 1 .. 8 (2 bytes each)                  |
//	|74-95| Reserved                                                  |
//	+-----+-----------------------------------------------------------+
type InquiryData struct {
	// PeripheralQualifier is byte 0 bits 7-5 (InquiryQualifier*).
	PeripheralQualifier uint8
	// DeviceType is byte 0 bits 4-0 (InquiryDevice*).
	DeviceType uint8
	// RMB is the removable medium bit.
	RMB bool
	// Version is the SPC version claimed (InquiryVersionSPC4).
	Version uint8
	// NormACA says the device supports NACA = 1 in CDB CONTROL bytes.
	NormACA bool
	// HiSup says LUNs use the hierarchical addressing model.
	HiSup bool
	// ResponseDataFormat must be InquiryResponseDataFormat (2).
	ResponseDataFormat uint8
	// SCCS says an embedded storage array controller is present.
	SCCS bool
	// ACC says an access controls coordinator is present.
	ACC bool
	// TPGS is target port group support (0: ALUA not supported).
	TPGS uint8
	// ThirdPartyCopy is the 3PC bit (EXTENDED COPY supported).
	ThirdPartyCopy bool
	// Protect says protection information is supported.
	Protect bool
	// EncServ says an enclosure services component is present.
	EncServ bool
	// MultiP says the device has more than one port.
	MultiP bool
	// CmdQue says the device supports command queuing.
	CmdQue bool
	// VendorID is the T10 VENDOR IDENTIFICATION, up to 8 ASCII characters.
	VendorID string
	// ProductID is the PRODUCT IDENTIFICATION, up to 16 ASCII characters.
	ProductID string
	// ProductRev is the PRODUCT REVISION LEVEL, up to 4 ASCII characters.
	ProductRev string
	// VersionDescriptors are the standards claimed (at most 8, non-zero).
	VersionDescriptors []uint16
}

// MarshalBinary encodes d: 36 bytes without version descriptors, 96 with.
func (d *InquiryData) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, InquiryVersionDescriptorsLength))
}

// AppendBinary appends d to b. It fails when a field does not fit or an
// identification string holds anything but printable ASCII.
func (d *InquiryData) AppendBinary(b []byte) ([]byte, error) {
	if d.PeripheralQualifier > 7 || d.DeviceType > 0x1f || d.ResponseDataFormat > 0xf || d.TPGS > 3 {
		return b, fmt.Errorf("%w: INQUIRY qualifier %d, device type %#x, response data format %d or TPGS %d out of range",
			ErrInvalidField, d.PeripheralQualifier, d.DeviceType, d.ResponseDataFormat, d.TPGS)
	}
	if len(d.VersionDescriptors) > InquiryMaxVersionDescriptors {
		return b, fmt.Errorf("%w: %d INQUIRY version descriptors, want at most %d",
			ErrInvalidField, len(d.VersionDescriptors), InquiryMaxVersionDescriptors)
	}
	n := InquiryMinLength
	if len(d.VersionDescriptors) > 0 {
		n = InquiryVersionDescriptorsLength
	}
	start := len(b)
	b = append(b, d.PeripheralQualifier<<5|d.DeviceType)
	b = append(b, inquiryFlag(d.RMB, 0x80), d.Version)
	b = append(b, inquiryFlag(d.NormACA, 0x20)|inquiryFlag(d.HiSup, 0x10)|d.ResponseDataFormat)
	b = append(b, uint8(n-1-inquiryAddLenBase)) // n-1 is the last byte
	b = append(b, inquiryFlag(d.SCCS, 0x80)|inquiryFlag(d.ACC, 0x40)|d.TPGS<<4|
		inquiryFlag(d.ThirdPartyCopy, 0x08)|inquiryFlag(d.Protect, 0x01))
	b = append(b, inquiryFlag(d.EncServ, 0x40)|inquiryFlag(d.MultiP, 0x10))
	b = append(b, inquiryFlag(d.CmdQue, 0x02))
	var err error
	if b, err = appendInquiryASCII(b, "T10 VENDOR IDENTIFICATION", d.VendorID, inquiryVendorLen); err != nil {
		return b[:start], err
	}
	if b, err = appendInquiryASCII(b, "PRODUCT IDENTIFICATION", d.ProductID, inquiryProductLen); err != nil {
		return b[:start], err
	}
	if b, err = appendInquiryASCII(b, "PRODUCT REVISION LEVEL", d.ProductRev, inquiryRevisionLen); err != nil {
		return b[:start], err
	}
	if n == InquiryMinLength {
		return b, nil
	}
	b = append(b, make([]byte, inquiryVersionOff-InquiryMinLength)...)
	for _, v := range d.VersionDescriptors {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return append(b, make([]byte, start+n-len(b))...), nil
}

// UnmarshalBinary decodes standard INQUIRY data. b must hold at least the
// first 36 bytes; it may be shorter than ADDITIONAL LENGTH says, because
// a target cuts the data to the CDB's ALLOCATION LENGTH (SPC-4).
// Version descriptors are read from what is present, and zero descriptors
// are dropped. Trailing spaces of the identification strings are removed.
func (d *InquiryData) UnmarshalBinary(b []byte) error {
	if len(b) < InquiryMinLength {
		return fmt.Errorf("%w: INQUIRY data is %d bytes, want at least %d", ErrTruncated, len(b), InquiryMinLength)
	}
	*d = InquiryData{
		PeripheralQualifier: b[0] >> 5,
		DeviceType:          b[0] & 0x1f,
		RMB:                 b[1]&0x80 != 0,
		Version:             b[2],
		NormACA:             b[3]&0x20 != 0,
		HiSup:               b[3]&0x10 != 0,
		ResponseDataFormat:  b[3] & 0x0f,
		SCCS:                b[5]&0x80 != 0,
		ACC:                 b[5]&0x40 != 0,
		TPGS:                b[5] >> 4 & 3,
		ThirdPartyCopy:      b[5]&0x08 != 0,
		Protect:             b[5]&0x01 != 0,
		EncServ:             b[6]&0x40 != 0,
		MultiP:              b[6]&0x10 != 0,
		CmdQue:              b[7]&0x02 != 0,
		VendorID:            inquiryTrim(b[8:16]),
		ProductID:           inquiryTrim(b[16:32]),
		ProductRev:          inquiryTrim(b[32:36]),
	}
	end := min(len(b), inquiryAddLenBase+1+int(b[4]), inquiryVersionOff+2*InquiryMaxVersionDescriptors)
	for off := inquiryVersionOff; off+2 <= end; off += 2 {
		if v := binary.BigEndian.Uint16(b[off:]); v != 0 {
			d.VersionDescriptors = append(d.VersionDescriptors, v)
		}
	}
	return nil
}

// inquiryFlag returns mask when set, else 0.
func inquiryFlag(set bool, mask uint8) uint8 {
	if set {
		return mask
	}
	return 0
}

// appendInquiryASCII appends s left-aligned and padded with spaces to n
// bytes. SPC-4 4.4.1: ASCII data fields "shall contain only ASCII
// printable characters (i.e., code values 20h to 7Eh)".
func appendInquiryASCII(b []byte, field, s string, n int) ([]byte, error) {
	if len(s) > n {
		return b, fmt.Errorf("%w: %s %q is %d bytes, want at most %d", ErrInvalidField, field, s, len(s), n)
	}
	if err := checkInquiryASCII(field, s); err != nil {
		return b, err
	}
	b = append(b, s...)
	for range n - len(s) {
		b = append(b, ' ')
	}
	return b, nil
}

// checkInquiryASCII reports a byte of s outside 20h-7Eh.
func checkInquiryASCII(field, s string) error {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: %s has byte 0x%02x at %d, want ASCII 20h-7Eh", ErrInvalidField, field, c, i)
		}
	}
	return nil
}

// inquiryTrim returns an ASCII field without its space padding.
func inquiryTrim(b []byte) string { return strings.TrimRight(string(b), " ") }
