package scsi

import "fmt"

// PROVISIONING TYPE values (SBC-3).
const (
	VPDProvisioningFull     = 0 // fully provisioned (or not reported)
	VPDProvisioningResource = 1 // resource provisioned
	VPDProvisioningThin     = 2 // thin provisioned
)

const vpdProvisioningFixedLen = 4 // bytes 4-7

// VPDLogicalBlockProvisioning is the Logical Block Provisioning page, B2h
// (SBC-3 section 6.6).
//
//	+-------+---------------------------------------------------------+
//	| 0     | PERIPHERAL QUALIFIER | PERIPHERAL DEVICE TYPE           |
//	| 1     | PAGE CODE (B2h)                                         |
//	| 2-3   | PAGE LENGTH (n-3)                                       |
//	| 4     | THRESHOLD EXPONENT                                      |
//	| 5     | LBPU(7) LBPWS(6) LBPWS10(5) LBPRZ(4-2) ANC_SUP(1) DP(0) |
//	| 6     | Reserved                      | PROVISIONING TYPE (2-0) |
//	| 7     | THRESHOLD PERCENTAGE                                    |
//	| 8-n   | Provisioning group descriptor (if any)                  |
//	+-------+---------------------------------------------------------+
//
// SBC-3 has LBPRZ as bit 2 alone; SBC-4 widens it to bits 4-2, where 1
// keeps the SBC-3 meaning. THRESHOLD PERCENTAGE is reserved in SBC-3.
type VPDLogicalBlockProvisioning struct {
	VPDPeripheral
	// ThresholdExponent scales thin provisioning threshold sets.
	ThresholdExponent uint8
	// LBPU says UNMAP is supported.
	LBPU bool
	// LBPWS says WRITE SAME(16) with UNMAP = 1 is supported.
	LBPWS bool
	// LBPWS10 says WRITE SAME(10) with UNMAP = 1 is supported.
	LBPWS10 bool
	// LBPRZ is the 3-bit LBPRZ field; 1 means an unmapped block reads as
	// zeros.
	LBPRZ uint8
	// ANCSup says the ANCHOR bit of UNMAP is supported.
	ANCSup bool
	// DP says a provisioning group descriptor is present.
	DP bool
	// ProvisioningType is a VPDProvisioning* value.
	ProvisioningType uint8
	// ThresholdPercentage is the SBC-4 THRESHOLD PERCENTAGE.
	ThresholdPercentage uint8
	// ProvisioningGroup is the provisioning group descriptor, sent when not
	// nil (set DP too).
	ProvisioningGroup *VPDDesignator
}

// PageCode returns VPDPageProvisioning.
func (p *VPDLogicalBlockProvisioning) PageCode() VPDPageCode { return VPDPageProvisioning }

// MarshalBinary encodes p.
func (p *VPDLogicalBlockProvisioning) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, VPDHeaderLength+vpdProvisioningFixedLen+24))
}

// AppendBinary appends p to b.
func (p *VPDLogicalBlockProvisioning) AppendBinary(b []byte) ([]byte, error) {
	if p.LBPRZ > 7 || p.ProvisioningType > 7 {
		return b, fmt.Errorf("%w: LBPRZ %d or provisioning type %d out of range", ErrInvalidField, p.LBPRZ, p.ProvisioningType)
	}
	b, start, err := appendVPDHeader(b, p.VPDPeripheral, VPDPageProvisioning)
	if err != nil {
		return b, err
	}
	b = append(b, p.ThresholdExponent,
		inquiryFlag(p.LBPU, 0x80)|inquiryFlag(p.LBPWS, 0x40)|inquiryFlag(p.LBPWS10, 0x20)|
			p.LBPRZ<<2|inquiryFlag(p.ANCSup, 0x02)|inquiryFlag(p.DP, 0x01),
		p.ProvisioningType, p.ThresholdPercentage)
	if p.ProvisioningGroup != nil {
		if b, err = p.ProvisioningGroup.AppendBinary(b); err != nil {
			return b[:start], err
		}
	}
	return finishVPD(b, start)
}

// UnmarshalBinary decodes the page. Fields beyond a short PAGE LENGTH
// decode as zero; a designation descriptor after byte 7 is decoded into
// ProvisioningGroup, and one that overruns the page is an error.
func (p *VPDLogicalBlockProvisioning) UnmarshalBinary(b []byte) error {
	per, d, err := parseVPDHeader(b, VPDPageProvisioning)
	if err != nil {
		return err
	}
	v := VPDLogicalBlockProvisioning{VPDPeripheral: per}
	if len(d) >= 1 {
		v.ThresholdExponent = d[0]
	}
	if len(d) >= 2 {
		v.LBPU = d[1]&0x80 != 0
		v.LBPWS = d[1]&0x40 != 0
		v.LBPWS10 = d[1]&0x20 != 0
		v.LBPRZ = d[1] >> 2 & 7
		v.ANCSup = d[1]&0x02 != 0
		v.DP = d[1]&0x01 != 0
	}
	if len(d) >= 3 {
		v.ProvisioningType = d[2] & 7
	}
	if len(d) >= 4 {
		v.ThresholdPercentage = d[3]
	}
	if len(d) > vpdProvisioningFixedLen {
		g, _, err := parseVPDDesignator(d[vpdProvisioningFixedLen:], VPDHeaderLength+vpdProvisioningFixedLen)
		if err != nil {
			return err
		}
		v.ProvisioningGroup = &g
	}
	*p = v
	return nil
}
