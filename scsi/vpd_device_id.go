package scsi

// VPDDeviceIdentification is the Device Identification page, 83h (SPC-4
// section 7.8.6): a list of designation descriptors naming the
// logical unit, the target port and the target device.
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE             |
//	| 1   | PAGE CODE (83h)                                           |
//	| 2-3 | PAGE LENGTH (n-3)                                         |
//	| 4-n | Designation descriptor list (see VPDDesignator)           |
//	+-----+-----------------------------------------------------------+
type VPDDeviceIdentification struct {
	VPDPeripheral
	// Designators are the designation descriptors, in page order.
	Designators []VPDDesignator
}

// PageCode returns VPDPageDeviceID.
func (p *VPDDeviceIdentification) PageCode() VPDPageCode { return VPDPageDeviceID }

// MarshalBinary encodes p.
func (p *VPDDeviceIdentification) MarshalBinary() ([]byte, error) {
	n := VPDHeaderLength
	for i := range p.Designators {
		n += vpdDesigHeaderLen + len(p.Designators[i].Designator)
	}
	return p.AppendBinary(make([]byte, 0, n))
}

// AppendBinary appends p to b. It fails when a designator does not fit or
// the page is longer than 65535 bytes.
func (p *VPDDeviceIdentification) AppendBinary(b []byte) ([]byte, error) {
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageDeviceID)
	if err != nil {
		return b, err
	}
	for i := range p.Designators {
		if b, err = p.Designators[i].AppendBinary(b); err != nil {
			return b[:start], err
		}
	}
	return finishVPD(b, start)
}

// UnmarshalBinary decodes the page; a designation descriptor that overruns
// the page length is an error.
func (p *VPDDeviceIdentification) UnmarshalBinary(b []byte) error {
	per, data, err := parseVPDHeader(b, VPDPageDeviceID)
	if err != nil {
		return err
	}
	v := VPDDeviceIdentification{VPDPeripheral: per}
	for off := VPDHeaderLength; len(data) > 0; {
		d, rest, err := parseVPDDesignator(data, off)
		if err != nil {
			return err
		}
		off += len(data) - len(rest)
		data = rest
		v.Designators = append(v.Designators, d)
	}
	*p = v
	return nil
}

// NAA returns the first NAA designator associated with the logical unit.
func (p *VPDDeviceIdentification) NAA() ([]byte, bool) {
	for i := range p.Designators {
		if p.Designators[i].Association != VPDAssocLU {
			continue
		}
		if id, ok := p.Designators[i].NAA(); ok {
			return id, true
		}
	}
	return nil, false
}

// WWN returns the logical unit's NAA designator formatted by FormatNAA
// ("naa.6001405..."), the identity lunar matches disks by.
func (p *VPDDeviceIdentification) WWN() (string, bool) {
	id, ok := p.NAA()
	if !ok {
		return "", false
	}
	return FormatNAA(id), true
}

// Find returns the first designator with this association and type.
func (p *VPDDeviceIdentification) Find(assoc VPDAssociation, typ VPDDesignatorType) (*VPDDesignator, bool) {
	for i := range p.Designators {
		if p.Designators[i].Association == assoc && p.Designators[i].Type == typ {
			return &p.Designators[i], true
		}
	}
	return nil, false
}
