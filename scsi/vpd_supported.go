package scsi

import "fmt"

// VPDSupportedPages is the Supported VPD Pages page, 00h (SPC-4 section
// 7.8).
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE             |
//	| 1   | PAGE CODE (00h)                                           |
//	| 2-3 | PAGE LENGTH (n-3)                                         |
//	| 4-n | Supported VPD page list, one page code per byte           |
//	+-----+-----------------------------------------------------------+
type VPDSupportedPages struct {
	VPDPeripheral
	// Pages lists the supported page codes in ascending order, 00h first.
	Pages []VPDPageCode
}

// PageCode returns VPDPageSupported.
func (p *VPDSupportedPages) PageCode() VPDPageCode { return VPDPageSupported }

// MarshalBinary encodes p.
func (p *VPDSupportedPages) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+len(p.Pages)))
}

// AppendBinary appends p to b. It fails when Pages is not in ascending
// order.
func (p *VPDSupportedPages) AppendBinary(b []byte) ([]byte, error) {
	for i := 1; i < len(p.Pages); i++ {
		// SPC-4 7.8 (Supported VPD Pages): the list holds every page code
		// implemented, in ascending order, beginning with 00h.
		if p.Pages[i] <= p.Pages[i-1] {
			return b, fmt.Errorf("%w: supported VPD page 0x%02x follows 0x%02x, want ascending order",
				ErrInvalidField, uint8(p.Pages[i]), uint8(p.Pages[i-1]))
		}
	}
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageSupported)
	if err != nil {
		return b, err
	}
	for _, c := range p.Pages {
		b = append(b, byte(c))
	}
	return finishVPD(b, start)
}

// UnmarshalBinary decodes the page. Page codes are kept in the order
// received.
func (p *VPDSupportedPages) UnmarshalBinary(b []byte) error {
	per, data, err := parseVPDHeader(b, VPDPageSupported)
	if err != nil {
		return err
	}
	*p = VPDSupportedPages{VPDPeripheral: per, Pages: make([]VPDPageCode, len(data))}
	for i, c := range data {
		p.Pages[i] = VPDPageCode(c)
	}
	return nil
}

// Supports reports whether code is in the list.
func (p *VPDSupportedPages) Supports(code VPDPageCode) bool {
	for _, c := range p.Pages {
		if c == code {
			return true
		}
	}
	return false
}
