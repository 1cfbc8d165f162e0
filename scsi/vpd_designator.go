package scsi

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// VPDCodeSet is the CODE SET of a designation descriptor (SPC-4).
type VPDCodeSet uint8

// Code sets.
const (
	VPDCodeSetBinary VPDCodeSet = 1
	VPDCodeSetASCII  VPDCodeSet = 2
	VPDCodeSetUTF8   VPDCodeSet = 3
)

// String names the code set.
func (c VPDCodeSet) String() string {
	switch c {
	case VPDCodeSetBinary:
		return "binary"
	case VPDCodeSetASCII:
		return "ASCII"
	case VPDCodeSetUTF8:
		return "UTF-8"
	}
	return fmt.Sprintf("code set %d", uint8(c))
}

// VPDAssociation is the ASSOCIATION of a designation descriptor: what the
// designator names (SPC-4).
type VPDAssociation uint8

// Associations.
const (
	VPDAssocLU           VPDAssociation = 0 // the addressed logical unit
	VPDAssocTargetPort   VPDAssociation = 1 // the target port that received the command
	VPDAssocTargetDevice VPDAssociation = 2 // the SCSI target device holding the LU
)

// String names the association.
func (a VPDAssociation) String() string {
	switch a {
	case VPDAssocLU:
		return "logical unit"
	case VPDAssocTargetPort:
		return "target port"
	case VPDAssocTargetDevice:
		return "target device"
	}
	return fmt.Sprintf("association %d", uint8(a))
}

// VPDDesignatorType is the DESIGNATOR TYPE of a designation descriptor
// (SPC-4).
type VPDDesignatorType uint8

// Designator types.
const (
	VPDDesigVendorSpecific     VPDDesignatorType = 0
	VPDDesigT10VendorID        VPDDesignatorType = 1
	VPDDesigEUI64              VPDDesignatorType = 2
	VPDDesigNAA                VPDDesignatorType = 3
	VPDDesigRelativeTargetPort VPDDesignatorType = 4
	VPDDesigTargetPortGroup    VPDDesignatorType = 5
	VPDDesigLUGroup            VPDDesignatorType = 6
	VPDDesigMD5LUID            VPDDesignatorType = 7
	VPDDesigSCSIName           VPDDesignatorType = 8
)

var vpdDesignatorTypeNames = [...]string{
	VPDDesigVendorSpecific:     "vendor specific",
	VPDDesigT10VendorID:        "T10 vendor ID",
	VPDDesigEUI64:              "EUI-64",
	VPDDesigNAA:                "NAA",
	VPDDesigRelativeTargetPort: "relative target port",
	VPDDesigTargetPortGroup:    "target port group",
	VPDDesigLUGroup:            "logical unit group",
	VPDDesigMD5LUID:            "MD5 logical unit identifier",
	VPDDesigSCSIName:           "SCSI name string",
}

// String names the designator type.
func (t VPDDesignatorType) String() string {
	if int(t) < len(vpdDesignatorTypeNames) {
		return vpdDesignatorTypeNames[t]
	}
	return fmt.Sprintf("designator type %d", uint8(t))
}

// VPDProtocolISCSI is the PROTOCOL IDENTIFIER of iSCSI (SPC-4).
const VPDProtocolISCSI = 0x5

// NAA values (SPC-4 7.8.6.6): the high nibble of an NAA designator.
const (
	NAAIEEEExtended           = 0x2 // 8 bytes
	NAALocallyAssigned        = 0x3 // 8 bytes
	NAAIEEERegistered         = 0x5 // 8 bytes
	NAAIEEERegisteredExtended = 0x6 // 16 bytes
)

const (
	vpdDesigHeaderLen = 4
	vpdDesigMaxLen    = 0xff
	vpdT10VendorLen   = 8
	vpdNAAPrefix      = "naa."
)

// VPDDesignator is one designation descriptor (SPC-4 section 7.8.6),
// used in the Device Identification page and as the
// provisioning group descriptor of the Logical Block Provisioning page.
//
//	+-----+-----------------------------------------------------------+
//	| 0   | PROTOCOL IDENTIFIER (7-4)    | CODE SET (3-0)             |
//	| 1   | PIV(7) | rsvd | ASSOCIATION (5-4) | DESIGNATOR TYPE (3-0) |
//	| 2   | Reserved                                                  |
//	| 3   | DESIGNATOR LENGTH (n-3)                                   |
//	| 4-n | DESIGNATOR                                                |
//	+-----+-----------------------------------------------------------+
type VPDDesignator struct {
	// ProtocolID is the PROTOCOL IDENTIFIER; it means something only
	// when PIV is set (VPDProtocolISCSI).
	ProtocolID uint8
	// CodeSet says how Designator is encoded.
	CodeSet VPDCodeSet
	// PIV says ProtocolID is valid (for target port and target device
	// associations).
	PIV bool
	// Association says what the designator names.
	Association VPDAssociation
	// Type is the DESIGNATOR TYPE.
	Type VPDDesignatorType
	// Designator is the designator itself, at most 255 bytes.
	Designator []byte
}

// MarshalBinary encodes d.
func (d *VPDDesignator) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, vpdDesigHeaderLen+len(d.Designator)))
}

// AppendBinary appends d to b. It fails when a field does not fit.
func (d *VPDDesignator) AppendBinary(b []byte) ([]byte, error) {
	if d.ProtocolID > 0xf || d.CodeSet > 0xf || d.Association > 3 || d.Type > 0xf {
		return b, fmt.Errorf("%w: designator protocol %d, code set %d, association %d or type %d out of range",
			ErrInvalidField, d.ProtocolID, d.CodeSet, d.Association, d.Type)
	}
	if len(d.Designator) > vpdDesigMaxLen {
		return b, fmt.Errorf("%w: %v designator is %d bytes, want at most %d",
			ErrInvalidField, d.Type, len(d.Designator), vpdDesigMaxLen)
	}
	var piv uint8
	if d.PIV {
		piv = 0x80
	}
	b = append(b, d.ProtocolID<<4|uint8(d.CodeSet), piv|uint8(d.Association)<<4|uint8(d.Type), 0, uint8(len(d.Designator)))
	return append(b, d.Designator...), nil
}

// UnmarshalBinary decodes one designation descriptor that fills b.
func (d *VPDDesignator) UnmarshalBinary(b []byte) error {
	v, rest, err := parseVPDDesignator(b, 0)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d bytes after designation descriptor", ErrInvalidField, len(rest))
	}
	*d = v
	return nil
}

// parseVPDDesignator decodes the designation descriptor at the front of b,
// which sits at byte off of its page (for messages), copying the designator.
func parseVPDDesignator(b []byte, off int) (VPDDesignator, []byte, error) {
	if len(b) < vpdDesigHeaderLen {
		return VPDDesignator{}, b, fmt.Errorf("%w: designation descriptor at byte %d has %d bytes, want at least %d",
			ErrTruncated, off, len(b), vpdDesigHeaderLen)
	}
	n := int(b[3])
	if len(b) < vpdDesigHeaderLen+n {
		return VPDDesignator{}, b, fmt.Errorf("%w: designation descriptor at byte %d has designator length %d, %d bytes remain",
			ErrTruncated, off, n, len(b)-vpdDesigHeaderLen)
	}
	d := VPDDesignator{
		ProtocolID:  b[0] >> 4,
		CodeSet:     VPDCodeSet(b[0] & 0xf),
		PIV:         b[1]&0x80 != 0,
		Association: VPDAssociation(b[1] >> 4 & 3),
		Type:        VPDDesignatorType(b[1] & 0xf),
		Designator:  append([]byte(nil), b[vpdDesigHeaderLen:vpdDesigHeaderLen+n]...),
	}
	return d, b[vpdDesigHeaderLen+n:], nil
}

// VPDNAA6Designator returns the logical unit's NAA IEEE Registered Extended
// designator (NAA 6, 16 bytes; SPC-4 7.8.6.6): the low 24 bits of oui
// (the IEEE company ID), the low 36 bits of vendorID and the 64-bit
// extension.
//
//	byte 0-7:  NAA (6h, 4 bits) | IEEE COMPANY_ID (24) | VENDOR SPECIFIC IDENTIFIER (36)
//	byte 8-15: VENDOR SPECIFIC IDENTIFIER EXTENSION
func VPDNAA6Designator(oui uint32, vendorID, extension uint64) VPDDesignator {
	hi := uint64(NAAIEEERegisteredExtended)<<60 | uint64(oui&0xffffff)<<36 | vendorID&(1<<36-1)
	id := binary.BigEndian.AppendUint64(make([]byte, 0, 16), hi)
	id = binary.BigEndian.AppendUint64(id, extension)
	return VPDNAADesignator(id)
}

// VPDNAADesignator returns a logical unit designator holding the NAA
// identifier id (8 or 16 bytes, as ParseNAA returns).
func VPDNAADesignator(id []byte) VPDDesignator {
	return VPDDesignator{
		CodeSet:     VPDCodeSetBinary,
		Association: VPDAssocLU,
		Type:        VPDDesigNAA,
		Designator:  append([]byte(nil), id...),
	}
}

// VPDT10VendorIDDesignator returns a logical unit T10 vendor ID designator
// (SPC-4 7.8.6): vendor space-padded to 8 bytes, then specific (for
// example the unit serial number). Both must be printable ASCII.
func VPDT10VendorIDDesignator(vendor, specific string) (VPDDesignator, error) {
	id, err := appendInquiryASCII(nil, "T10 VENDOR IDENTIFICATION", vendor, vpdT10VendorLen)
	if err != nil {
		return VPDDesignator{}, err
	}
	if err := checkInquiryASCII("VENDOR SPECIFIC IDENTIFIER", specific); err != nil {
		return VPDDesignator{}, err
	}
	id = append(id, specific...)
	if len(id) > vpdDesigMaxLen {
		return VPDDesignator{}, fmt.Errorf("%w: T10 vendor ID designator is %d bytes, want at most %d",
			ErrInvalidField, len(id), vpdDesigMaxLen)
	}
	return VPDDesignator{CodeSet: VPDCodeSetASCII, Association: VPDAssocLU, Type: VPDDesigT10VendorID, Designator: id}, nil
}

// VPDSCSINameDesignator returns an iSCSI SCSI name string designator
// (SPC-4 7.8.6) for assoc: the iSCSI target name for the target device,
// or "<target name>,t,0x<TPGT as 4 hex digits>" for a target port. For
// those two associations PIV is set with the iSCSI protocol identifier.
func VPDSCSINameDesignator(assoc VPDAssociation, name string) VPDDesignator {
	// SPC-4 7.8.6 (SCSI name string designator): the SCSI NAME STRING field is null-terminated and
	// null-padded so that the DESIGNATOR LENGTH is a multiple of four.
	n := len(name) + 1
	n += (4 - n%4) % 4
	id := make([]byte, n)
	copy(id, name)
	d := VPDDesignator{CodeSet: VPDCodeSetUTF8, Association: assoc, Type: VPDDesigSCSIName, Designator: id}
	if assoc != VPDAssocLU {
		d.PIV, d.ProtocolID = true, VPDProtocolISCSI
	}
	return d
}

// VPDRelativeTargetPortDesignator returns the relative target port
// designator (SPC-4 7.8.6) of the target port numbered port.
func VPDRelativeTargetPortDesignator(port uint16) VPDDesignator {
	return VPDDesignator{CodeSet: VPDCodeSetBinary, Association: VPDAssocTargetPort, Type: VPDDesigRelativeTargetPort,
		Designator: []byte{0, 0, byte(port >> 8), byte(port)}}
}

// VPDTargetPortGroupDesignator returns the target port group designator
// (SPC-4 7.8.6) of the target port group numbered group.
func VPDTargetPortGroupDesignator(group uint16) VPDDesignator {
	return VPDDesignator{CodeSet: VPDCodeSetBinary, Association: VPDAssocTargetPort, Type: VPDDesigTargetPortGroup,
		Designator: []byte{0, 0, byte(group >> 8), byte(group)}}
}

// NAA returns the NAA identifier of an NAA designator.
func (d *VPDDesignator) NAA() ([]byte, bool) {
	if d.Type != VPDDesigNAA || d.CodeSet != VPDCodeSetBinary || !validNAA(d.Designator) {
		return nil, false
	}
	return d.Designator, true
}

// SCSIName returns the name of a SCSI name string designator, without its
// NUL padding.
func (d *VPDDesignator) SCSIName() (string, bool) {
	if d.Type != VPDDesigSCSIName {
		return "", false
	}
	name, _, _ := strings.Cut(string(d.Designator), "\x00")
	return name, true
}

// RelativeTargetPort returns the port number of a relative target port
// designator.
func (d *VPDDesignator) RelativeTargetPort() (uint16, bool) {
	if d.Type != VPDDesigRelativeTargetPort || len(d.Designator) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint16(d.Designator[2:]), true
}

// TargetPortGroup returns the group number of a target port group
// designator.
func (d *VPDDesignator) TargetPortGroup() (uint16, bool) {
	if d.Type != VPDDesigTargetPortGroup || len(d.Designator) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint16(d.Designator[2:]), true
}

// FormatNAA returns an NAA identifier as Linux shows it in
// /sys/block/*/device/wwid and as iSCSI names carry it: "naa." followed by
// the identifier in lower-case hex.
func FormatNAA(id []byte) string {
	return vpdNAAPrefix + hex.EncodeToString(id)
}

// ParseNAA parses a string FormatNAA returns ("naa." in any case, then 16
// or 32 hex digits) and checks that its NAA nibble fits its length: 2, 3
// or 5 for 8 bytes, 6 for 16 bytes.
func ParseNAA(s string) ([]byte, error) {
	if len(s) < len(vpdNAAPrefix) || !strings.EqualFold(s[:len(vpdNAAPrefix)], vpdNAAPrefix) {
		return nil, fmt.Errorf("%w: NAA %q does not start with %q", ErrInvalidField, s, vpdNAAPrefix)
	}
	digits := s[len(vpdNAAPrefix):]
	if len(digits) != 16 && len(digits) != 32 {
		return nil, fmt.Errorf("%w: NAA %q has %d hex digits, want 16 or 32", ErrInvalidField, s, len(digits))
	}
	id, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%w: NAA %q: %v", ErrInvalidField, s, err)
	}
	if !validNAA(id) {
		return nil, fmt.Errorf("%w: NAA %q: NAA value %d does not fit %d bytes", ErrInvalidField, s, id[0]>>4, len(id))
	}
	return id, nil
}

// validNAA reports whether id's NAA nibble matches its length.
func validNAA(id []byte) bool {
	if len(id) == 0 {
		return false
	}
	switch id[0] >> 4 {
	case NAAIEEEExtended, NAALocallyAssigned, NAAIEEERegistered:
		return len(id) == 8
	case NAAIEEERegisteredExtended:
		return len(id) == 16
	}
	return false
}
