package scsi

import "strings"

// VPDUnitSerialNumber is the Unit Serial Number page, 80h (SPC-4 section
// 7.8).
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE             |
//	| 1   | PAGE CODE (80h)                                           |
//	| 2-3 | PAGE LENGTH (n-3)                                         |
//	| 4-n | PRODUCT SERIAL NUMBER (right-aligned ASCII)               |
//	+-----+-----------------------------------------------------------+
type VPDUnitSerialNumber struct {
	VPDPeripheral
	// Serial is the PRODUCT SERIAL NUMBER, printable ASCII.
	Serial string
}

// PageCode returns VPDPageUnitSerial.
func (p *VPDUnitSerialNumber) PageCode() VPDPageCode { return VPDPageUnitSerial }

// MarshalBinary encodes p.
func (p *VPDUnitSerialNumber) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+len(p.Serial)))
}

// AppendBinary appends p to b. Serial must be printable ASCII (SPC-4 4.4.1).
func (p *VPDUnitSerialNumber) AppendBinary(b []byte) ([]byte, error) {
	if err := checkInquiryASCII("PRODUCT SERIAL NUMBER", p.Serial); err != nil {
		return b, err
	}
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageUnitSerial)
	if err != nil {
		return b, err
	}
	return finishVPD(append(b, p.Serial...), start)
}

// UnmarshalBinary decodes the page; leading and trailing spaces (the
// padding of right-aligned ASCII) and NULs are removed.
func (p *VPDUnitSerialNumber) UnmarshalBinary(b []byte) error {
	per, data, err := parseVPDHeader(b, VPDPageUnitSerial)
	if err != nil {
		return err
	}
	*p = VPDUnitSerialNumber{VPDPeripheral: per, Serial: strings.Trim(string(data), " \x00")}
	return nil
}
