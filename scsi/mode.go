package scsi

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// ModeValues is the PC (page control) field of MODE SENSE: which values
// of the mode pages to return (SPC-4 section 6.11.1, table 98).
type ModeValues uint8

// The page control values of SPC-4 table 98.
const (
	ModeValuesCurrent    ModeValues = 0x0
	ModeValuesChangeable ModeValues = 0x1
	ModeValuesDefault    ModeValues = 0x2
	ModeValuesSaved      ModeValues = 0x3
)

// String returns the page control's SPC name.
func (v ModeValues) String() string {
	switch v {
	case ModeValuesCurrent:
		return "current values"
	case ModeValuesChangeable:
		return "changeable values"
	case ModeValuesDefault:
		return "default values"
	case ModeValuesSaved:
		return "saved values"
	}
	return fmt.Sprintf("page control %d", uint8(v))
}

// ErrSavingNotSupported means MODE SENSE asked for saved values of pages
// that cannot be saved; a target answers SAVING PARAMETERS NOT SUPPORTED.
var ErrSavingNotSupported = errors.New("scsi: saving parameters not supported")

// Bits of the mode parameter header's DEVICE-SPECIFIC PARAMETER for
// direct-access block devices (SBC-3 section 6.4.1, table 138).
const (
	ModeDeviceSpecificWP     = 0x80 // write protected
	ModeDeviceSpecificDPOFUA = 0x10 // DPO and FUA bits supported
)

const (
	modeHeader6Len       = 4
	modeHeader10Len      = 8
	modeShortDescLen     = 8
	modeLongDescLen      = 16
	modePagePS           = 0x80
	modePageSPF          = 0x40
	modePageCodeMask     = 0x3f
	modeHeader10LongLBA  = 0x01
	modeMaxShortBlocks   = 0xffffffff
	modeMaxBlockLength24 = 0xffffff
)

// ModeParameterHeader6 is the mode parameter header of MODE SENSE(6) and
// MODE SELECT(6) (SPC-4 section 7.5.4, table 446):
//
//	byte 0  MODE DATA LENGTH
//	byte 1  MEDIUM TYPE
//	byte 2  DEVICE-SPECIFIC PARAMETER
//	byte 3  BLOCK DESCRIPTOR LENGTH
type ModeParameterHeader6 struct {
	DataLength            uint8 // MODE DATA LENGTH: bytes after this field; reserved in MODE SELECT
	MediumType            uint8 // MEDIUM TYPE; 00h for direct-access block devices (SBC-3)
	DeviceSpecific        uint8 // DEVICE-SPECIFIC PARAMETER; see ModeDeviceSpecificWP, ModeDeviceSpecificDPOFUA
	BlockDescriptorLength uint8 // BLOCK DESCRIPTOR LENGTH, in bytes: 8 per block descriptor
}

// AppendBinary appends the header to b.
func (h *ModeParameterHeader6) AppendBinary(b []byte) ([]byte, error) {
	return append(b, h.DataLength, h.MediumType, h.DeviceSpecific, h.BlockDescriptorLength), nil
}

// UnmarshalBinary reads the header from the first four bytes of b.
func (h *ModeParameterHeader6) UnmarshalBinary(b []byte) error {
	if len(b) < modeHeader6Len {
		return fmt.Errorf("%w: mode parameter header(6) has %d bytes, want %d", ErrTruncated, len(b), modeHeader6Len)
	}
	*h = ModeParameterHeader6{DataLength: b[0], MediumType: b[1], DeviceSpecific: b[2], BlockDescriptorLength: b[3]}
	return nil
}

// ModeParameterHeader10 is the mode parameter header of MODE SENSE(10)
// and MODE SELECT(10) (SPC-4 section 7.5.4, table 447):
//
//	bytes 0-1  MODE DATA LENGTH
//	byte 2     MEDIUM TYPE
//	byte 3     DEVICE-SPECIFIC PARAMETER
//	byte 4     reserved (7-1) | LONGLBA
//	byte 5     reserved
//	bytes 6-7  BLOCK DESCRIPTOR LENGTH
type ModeParameterHeader10 struct {
	DataLength            uint16 // MODE DATA LENGTH: bytes after this field; reserved in MODE SELECT
	MediumType            uint8  // MEDIUM TYPE; 00h for direct-access block devices (SBC-3)
	DeviceSpecific        uint8  // DEVICE-SPECIFIC PARAMETER; see ModeDeviceSpecificWP, ModeDeviceSpecificDPOFUA
	LongLBA               bool   // LONGLBA: the block descriptors are 16-byte long LBA descriptors
	BlockDescriptorLength uint16 // BLOCK DESCRIPTOR LENGTH, in bytes: 8 per short descriptor, 16 per long one
}

// AppendBinary appends the header to b.
func (h *ModeParameterHeader10) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, h.DataLength)
	b = append(b, h.MediumType, h.DeviceSpecific, pbit(h.LongLBA, 0), 0)
	return binary.BigEndian.AppendUint16(b, h.BlockDescriptorLength), nil
}

// UnmarshalBinary reads the header from the first eight bytes of b.
func (h *ModeParameterHeader10) UnmarshalBinary(b []byte) error {
	if len(b) < modeHeader10Len {
		return fmt.Errorf("%w: mode parameter header(10) has %d bytes, want %d", ErrTruncated, len(b), modeHeader10Len)
	}
	*h = ModeParameterHeader10{
		DataLength:            binary.BigEndian.Uint16(b[0:2]),
		MediumType:            b[2],
		DeviceSpecific:        b[3],
		LongLBA:               b[4]&modeHeader10LongLBA != 0,
		BlockDescriptorLength: binary.BigEndian.Uint16(b[6:8]),
	}
	return nil
}

// ModeBlockDescriptor is the short LBA mode parameter block descriptor of
// a direct-access device (SBC-3 section 6.4.2.2, table 139):
//
//	bytes 0-3  NUMBER OF LOGICAL BLOCKS
//	byte 4     reserved
//	bytes 5-7  LOGICAL BLOCK LENGTH
type ModeBlockDescriptor struct {
	Blocks      uint32 // NUMBER OF LOGICAL BLOCKS; FFFFFFFFh when the capacity does not fit
	BlockLength uint32 // 24 bits
}

// AppendBinary appends the eight-byte descriptor to b.
func (d *ModeBlockDescriptor) AppendBinary(b []byte) ([]byte, error) {
	if d.BlockLength > modeMaxBlockLength24 {
		return b, fmt.Errorf("%w: logical block length %d does not fit 24 bits", ErrInvalidField, d.BlockLength)
	}
	b = binary.BigEndian.AppendUint32(b, d.Blocks)
	return append(b, 0, byte(d.BlockLength>>16), byte(d.BlockLength>>8), byte(d.BlockLength)), nil
}

// UnmarshalBinary reads the descriptor from the first eight bytes of b.
func (d *ModeBlockDescriptor) UnmarshalBinary(b []byte) error {
	if len(b) < modeShortDescLen {
		return fmt.Errorf("%w: short block descriptor has %d bytes, want %d", ErrTruncated, len(b), modeShortDescLen)
	}
	*d = ModeBlockDescriptor{
		Blocks:      binary.BigEndian.Uint32(b[0:4]),
		BlockLength: uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]),
	}
	return nil
}

// LongModeBlockDescriptor is the long LBA mode parameter block
// descriptor (SBC-3 section 6.4.2.3, table 140), used when LONGLBA is one:
//
//	bytes 0-7   NUMBER OF LOGICAL BLOCKS
//	bytes 8-11  reserved
//	bytes 12-15 LOGICAL BLOCK LENGTH
type LongModeBlockDescriptor struct {
	Blocks      uint64 // NUMBER OF LOGICAL BLOCKS
	BlockLength uint32 // LOGICAL BLOCK LENGTH, in bytes
}

// AppendBinary appends the sixteen-byte descriptor to b.
func (d *LongModeBlockDescriptor) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, d.Blocks)
	b = binary.BigEndian.AppendUint32(b, 0)
	return binary.BigEndian.AppendUint32(b, d.BlockLength), nil
}

// UnmarshalBinary reads the descriptor from the first sixteen bytes of b.
func (d *LongModeBlockDescriptor) UnmarshalBinary(b []byte) error {
	if len(b) < modeLongDescLen {
		return fmt.Errorf("%w: long block descriptor has %d bytes, want %d", ErrTruncated, len(b), modeLongDescLen)
	}
	*d = LongModeBlockDescriptor{Blocks: binary.BigEndian.Uint64(b[0:8]), BlockLength: binary.BigEndian.Uint32(b[12:16])}
	return nil
}

// ModePageHeader is the header of a mode page (SPC-4 section 7.5.7,
// tables 450 and 451). The page_0 format (SPF zero) is
//
//	byte 0  PS | SPF | PAGE CODE (5-0)
//	byte 1  PAGE LENGTH (n-1)
//
// and the sub_page format (SPF one) is
//
//	byte 0     PS | SPF | PAGE CODE (5-0)
//	byte 1     SUBPAGE CODE
//	bytes 2-3  PAGE LENGTH (n-3)
type ModePageHeader struct {
	PS          bool   // parameters saveable (MODE SENSE); reserved in MODE SELECT
	SPF         bool   // sub_page format
	PageCode    uint8  // PAGE CODE, 6 bits
	SubpageCode uint8  // SUBPAGE CODE; sub_page format only, zero in page_0 format
	PageLength  uint16 // PAGE LENGTH: bytes after the header; 8 bits in page_0 format
}

// Len returns the header's length: 2 in page_0 format, 4 in sub_page
// format.
func (h *ModePageHeader) Len() int {
	if h.SPF {
		return 4
	}
	return 2
}

// AppendBinary appends the header to b.
func (h *ModePageHeader) AppendBinary(b []byte) ([]byte, error) {
	if h.PageCode > modePageCodeMask {
		return b, fmt.Errorf("%w: page code 0x%x does not fit 6 bits", ErrInvalidField, h.PageCode)
	}
	b = append(b, pbit(h.PS, 7)|pbit(h.SPF, 6)|h.PageCode)
	if !h.SPF {
		if h.PageLength > 0xff || h.SubpageCode != 0 {
			return b, fmt.Errorf("%w: page_0 format page with subpage 0x%x and length %d", ErrInvalidField, h.SubpageCode, h.PageLength)
		}
		return append(b, byte(h.PageLength)), nil
	}
	b = append(b, h.SubpageCode)
	return binary.BigEndian.AppendUint16(b, h.PageLength), nil
}

// UnmarshalBinary reads the header from the front of b.
func (h *ModePageHeader) UnmarshalBinary(b []byte) error {
	if len(b) < 2 {
		return fmt.Errorf("%w: mode page header has %d bytes, want 2", ErrTruncated, len(b))
	}
	*h = ModePageHeader{PS: b[0]&modePagePS != 0, SPF: b[0]&modePageSPF != 0, PageCode: b[0] & modePageCodeMask}
	if !h.SPF {
		h.PageLength = uint16(b[1])
		return nil
	}
	if len(b) < 4 {
		return fmt.Errorf("%w: sub_page format header has %d bytes, want 4", ErrTruncated, len(b))
	}
	h.SubpageCode, h.PageLength = b[1], binary.BigEndian.Uint16(b[2:4])
	return nil
}

// ModePage is a mode page: one of this package's page types, or a
// RawModePage. AppendBinary writes the whole page with its header and the
// PS bit zero; UnmarshalBinary reads a whole page.
type ModePage interface {
	// Page returns the page code and subpage code.
	Page() (code, subpage uint8)
	AppendBinary(b []byte) ([]byte, error)
	UnmarshalBinary(b []byte) error
}

// RawModePage is a mode page this package has no type for, kept as its
// page-specific bytes. A SubpageCode other than zero uses the sub_page
// format.
type RawModePage struct {
	Code        uint8  // PAGE CODE, 6 bits
	SubpageCode uint8  // SUBPAGE CODE; non-zero selects the sub_page format
	Data        []byte // the bytes after the page header
}

// Page returns the page code and subpage code.
func (p *RawModePage) Page() (code, subpage uint8) { return p.Code, p.SubpageCode }

// AppendBinary appends the header and the data.
func (p *RawModePage) AppendBinary(b []byte) ([]byte, error) {
	if len(p.Data) > 0xffff {
		return b, fmt.Errorf("%w: mode page 0x%02x has %d bytes", ErrInvalidField, p.Code, len(p.Data))
	}
	h := ModePageHeader{SPF: p.SubpageCode != 0, PageCode: p.Code, SubpageCode: p.SubpageCode, PageLength: uint16(len(p.Data))}
	b, err := h.AppendBinary(b)
	if err != nil {
		return b, err
	}
	return append(b, p.Data...), nil
}

// UnmarshalBinary decodes a whole page; b must hold exactly the page.
func (p *RawModePage) UnmarshalBinary(b []byte) error {
	var h ModePageHeader
	if err := h.UnmarshalBinary(b); err != nil {
		return err
	}
	if want := h.Len() + int(h.PageLength); len(b) != want {
		return fmt.Errorf("%w: mode page 0x%02x has %d bytes, header says %d", ErrTruncated, h.PageCode, len(b), want)
	}
	*p = RawModePage{Code: h.PageCode, SubpageCode: h.SubpageCode, Data: slices.Clone(b[h.Len():])}
	return nil
}

// modePageBody checks a whole page's header against the expected code,
// subpage and length and returns the bytes after the header.
func modePageBody(b []byte, code, subpage uint8, length uint16) ([]byte, error) {
	var h ModePageHeader
	if err := h.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	if h.PageCode != code || h.SubpageCode != subpage || h.SPF != (subpage != 0) {
		return nil, &ParameterFieldError{Byte: 0, Bit: 5, Reason: fmt.Sprintf("page 0x%02x/0x%02x, want 0x%02x/0x%02x", h.PageCode, h.SubpageCode, code, subpage)}
	}
	if h.PageLength != length {
		return nil, &ParameterFieldError{Byte: h.Len() - 1, Bit: 7, Reason: fmt.Sprintf("page 0x%02x length 0x%x, want 0x%x", code, h.PageLength, length)}
	}
	if len(b) < h.Len()+int(length) {
		return nil, fmt.Errorf("%w: mode page 0x%02x has %d bytes, want %d", ErrTruncated, code, len(b), h.Len()+int(length))
	}
	if len(b) > h.Len()+int(length) {
		return nil, fmt.Errorf("%w: mode page 0x%02x has %d bytes, want %d", ErrInvalidField, code, len(b), h.Len()+int(length))
	}
	return b[h.Len():], nil
}

// newModePage returns an empty page of the type this package uses for a
// page code and subpage code.
func newModePage(code, subpage uint8) ModePage {
	switch {
	case code == ModePageCodeCaching && subpage == 0:
		return &CachingPage{}
	case code == ModePageCodeControl && subpage == 0:
		return &ControlPage{}
	case code == ModePageCodeControl && subpage == ModeSubpageCodeControlExtension:
		return &ControlExtensionPage{}
	case code == ModePageCodeInformationalExceptions && subpage == 0:
		return &InformationalExceptionsPage{}
	}
	return &RawModePage{}
}

// pbit returns 1<<n if v is true.
func pbit(v bool, n uint) byte {
	if v {
		return 1 << n
	}
	return 0
}

// ModeData is the mode parameter data of MODE SENSE and the mode
// parameter list of MODE SELECT (SPC-4 section 7.5.3, table 445): a mode
// parameter header, block descriptors, and mode pages.
type ModeData struct {
	// Header10 selects the 10-byte header of MODE SENSE(10) and MODE
	// SELECT(10); set it before UnmarshalBinary.
	Header10 bool
	// DataLength is the decoded MODE DATA LENGTH; AppendBinary computes
	// its own.
	DataLength     uint16
	MediumType     uint8 // MEDIUM TYPE; a MODE SELECT list must carry 00h
	DeviceSpecific uint8 // see ModeDeviceSpecificWP, ModeDeviceSpecificDPOFUA
	// LongLBA selects long block descriptors (10-byte header only).
	LongLBA              bool
	BlockDescriptors     []ModeBlockDescriptor     // when LongLBA is false
	LongBlockDescriptors []LongModeBlockDescriptor // when LongLBA is true
	Pages                []ModePage                // mode pages in order: this package's page types or *RawModePage
}

// AppendBinary appends the mode data to b, with the PS bit of every page
// zero.
func (d *ModeData) AppendBinary(b []byte) ([]byte, error) {
	return d.appendPS(b, nil)
}

// MarshalBinary returns the mode data.
func (d *ModeData) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// appendPS appends the mode data, setting the PS bit of the pages whose
// index is true in ps.
func (d *ModeData) appendPS(b []byte, ps []bool) ([]byte, error) {
	start := len(b)
	hlen := modeHeader6Len
	if d.Header10 {
		hlen = modeHeader10Len
	} else if d.LongLBA {
		return b, fmt.Errorf("%w: long block descriptors need the 10-byte mode parameter header", ErrInvalidField)
	}
	b = append(b, make([]byte, hlen)...)
	var err error
	if d.LongLBA {
		for i := range d.LongBlockDescriptors {
			if b, err = d.LongBlockDescriptors[i].AppendBinary(b); err != nil {
				return b, err
			}
		}
	} else {
		for i := range d.BlockDescriptors {
			if b, err = d.BlockDescriptors[i].AppendBinary(b); err != nil {
				return b, err
			}
		}
	}
	bdl := len(b) - start - hlen
	for i, p := range d.Pages {
		o := len(b)
		if b, err = p.AppendBinary(b); err != nil {
			return b, err
		}
		if i < len(ps) && ps[i] && len(b) > o {
			b[o] |= modePagePS
		}
	}
	// "The MODE DATA LENGTH field ... indicates the number of bytes that
	// follow" it (SPC-4 section 7.5.4).
	if d.Header10 {
		dl := len(b) - start - 2
		if dl > 0xffff || bdl > 0xffff {
			return b, fmt.Errorf("%w: mode data length %d does not fit 16 bits", ErrInvalidField, dl)
		}
		h := ModeParameterHeader10{DataLength: uint16(dl), MediumType: d.MediumType, DeviceSpecific: d.DeviceSpecific, LongLBA: d.LongLBA, BlockDescriptorLength: uint16(bdl)}
		_, _ = h.AppendBinary(b[start:start])
		return b, nil
	}
	dl := len(b) - start - 1
	if dl > 0xff || bdl > 0xff {
		return b, fmt.Errorf("%w: mode data length %d does not fit MODE SENSE(6)", ErrInvalidField, dl)
	}
	h := ModeParameterHeader6{DataLength: uint8(dl), MediumType: d.MediumType, DeviceSpecific: d.DeviceSpecific, BlockDescriptorLength: uint8(bdl)}
	_, _ = h.AppendBinary(b[start:start])
	return b, nil
}

// UnmarshalBinary decodes MODE SENSE data (with d.Header10 set for MODE
// SENSE(10)). Data shorter than its MODE DATA LENGTH returns
// ErrTruncated; pages this package has a type for decode into that type
// (or into a RawModePage if their length differs), others into
// RawModePage.
func (d *ModeData) UnmarshalBinary(b []byte) error {
	_, err := d.decode(b, false)
	return err
}

// decode decodes mode data; sel is true for a MODE SELECT parameter list,
// where MODE DATA LENGTH is reserved and the PS bit must be zero. It
// returns where each page starts in b.
func (d *ModeData) decode(b []byte, sel bool) ([]int, error) {
	var hlen, bdl, bdlByte, mtByte int
	nd := ModeData{Header10: d.Header10}
	extent := len(b)
	if d.Header10 {
		var h ModeParameterHeader10
		if err := h.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		hlen, bdl, bdlByte, mtByte = modeHeader10Len, int(h.BlockDescriptorLength), 6, 2
		nd.DataLength, nd.MediumType, nd.DeviceSpecific, nd.LongLBA = h.DataLength, h.MediumType, h.DeviceSpecific, h.LongLBA
		if !sel {
			extent = int(h.DataLength) + 2
		}
	} else {
		var h ModeParameterHeader6
		if err := h.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		hlen, bdl, bdlByte, mtByte = modeHeader6Len, int(h.BlockDescriptorLength), 3, 1
		nd.DataLength, nd.MediumType, nd.DeviceSpecific = uint16(h.DataLength), h.MediumType, h.DeviceSpecific
		if !sel {
			extent = int(h.DataLength) + 1
		}
	}
	if !sel {
		if extent < hlen {
			return nil, &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("mode data length %d is shorter than the header", nd.DataLength)}
		}
		if extent > len(b) {
			return nil, fmt.Errorf("%w: mode data length says %d bytes, have %d", ErrTruncated, extent, len(b))
		}
	}
	if sel && nd.MediumType != 0 {
		// SBC-3 section 6.4.1: "The MEDIUM TYPE field shall be set to 00h."
		return nil, &ParameterFieldError{Byte: mtByte, Bit: 7, Reason: fmt.Sprintf("medium type 0x%02x, want 0", nd.MediumType)}
	}
	descLen := modeShortDescLen
	if nd.LongLBA {
		descLen = modeLongDescLen
	}
	if bdl%descLen != 0 {
		return nil, &ParameterFieldError{Byte: bdlByte, Bit: 7, Reason: fmt.Sprintf("block descriptor length %d is not a multiple of %d", bdl, descLen)}
	}
	if hlen+bdl > extent {
		if sel {
			return nil, fmt.Errorf("%w: block descriptors need %d bytes, list has %d", ErrTruncated, hlen+bdl, extent)
		}
		return nil, &ParameterFieldError{Byte: bdlByte, Bit: 7, Reason: fmt.Sprintf("block descriptor length %d exceeds the mode data length", bdl)}
	}
	for o := hlen; o < hlen+bdl; o += descLen {
		if nd.LongLBA {
			var bd LongModeBlockDescriptor
			_ = bd.UnmarshalBinary(b[o:]) // length checked above
			nd.LongBlockDescriptors = append(nd.LongBlockDescriptors, bd)
		} else {
			var bd ModeBlockDescriptor
			_ = bd.UnmarshalBinary(b[o:]) // length checked above
			nd.BlockDescriptors = append(nd.BlockDescriptors, bd)
		}
	}
	var offs []int
	for o := hlen + bdl; o < extent; {
		var h ModePageHeader
		if err := h.UnmarshalBinary(b[o:extent]); err != nil {
			return nil, err
		}
		if sel && h.PS {
			// SPC-4 section 7.5.7: "When using the MODE SELECT command,
			// the PS bit is reserved."
			return nil, &ParameterFieldError{Byte: o, Bit: 7, Reason: "PS bit set in MODE SELECT"}
		}
		end := o + h.Len() + int(h.PageLength)
		if end > extent {
			return nil, fmt.Errorf("%w: mode page 0x%02x at byte %d needs %d bytes, have %d", ErrTruncated, h.PageCode, o, end-o, extent-o)
		}
		// The PS bit is not part of a page's value.
		raw := slices.Clone(b[o:end])
		raw[0] &^= modePagePS
		p := newModePage(h.PageCode, h.SubpageCode)
		if err := p.UnmarshalBinary(raw); err != nil {
			if sel {
				return nil, shiftFieldError(err, o)
			}
			p = &RawModePage{}
			if err := p.UnmarshalBinary(raw); err != nil {
				return nil, err
			}
		}
		nd.Pages = append(nd.Pages, p)
		offs = append(offs, o)
		o = end
	}
	*d = nd
	return offs, nil
}

// shiftFieldError moves a *ParameterFieldError's byte offset by off, so a
// page decoder's offset becomes one into the whole parameter list.
func shiftFieldError(err error, off int) error {
	var pe *ParameterFieldError
	if errors.As(err, &pe) {
		return &ParameterFieldError{Byte: pe.Byte + off, Bit: pe.Bit, Reason: pe.Reason}
	}
	return err
}

// ModePageValues is one mode page of a logical unit in each of the four
// page control versions.
type ModePageValues struct {
	// Current holds the current values; it fixes the page's code and
	// type.
	Current ModePage
	// Changeable is a mask of the same type: a true flag or a non-zero
	// field marks bits that MODE SELECT may change. Nil means nothing is
	// changeable.
	Changeable ModePage
	// Default holds the default values; nil means the current values.
	Default ModePage
	// Saved holds the saved values; nil means the page is not saveable
	// (its PS bit is zero).
	Saved ModePage
}

// ModeParameters is a logical unit's mode parameters: what its mode
// parameter header and block descriptor report, and its mode pages.
type ModeParameters struct {
	WriteProtect bool             // WP in the device-specific parameter
	DPOFUA       bool             // DPOFUA in the device-specific parameter
	Blocks       uint64           // number of logical blocks
	BlockLength  uint32           // logical block length in bytes
	Pages        []ModePageValues // mode pages, each in its four page control versions; entries with a nil Current are skipped
}

// ModeSenseRequest holds the MODE SENSE CDB fields that shape the
// returned data (SPC-4 sections 6.11 and 6.12).
type ModeSenseRequest struct {
	Header10    bool       // MODE SENSE(10)
	DBD         bool       // disable block descriptors
	LLBAA       bool       // long LBA accepted (MODE SENSE(10) only)
	PC          ModeValues // PC (page control): which values to return
	PageCode    uint8      // PAGE CODE, 6 bits; ModePageCodeAll (3Fh) asks for every page
	SubpageCode uint8      // SUBPAGE CODE; ModeSubpageCodeAll (FFh) asks for every subpage
	// AllocationLength is ALLOCATION LENGTH, in bytes (8 bits in MODE
	// SENSE(6), 16 in MODE SENSE(10)); the returned data is cut to it.
	AllocationLength uint32
}

// MODE SENSE CDB field positions, for *CDBFieldError.
const (
	modeSenseCDBPageByte    = 2
	modeSenseCDBPageBit     = 5
	modeSenseCDBSubpageByte = 3
)

// ModeSense builds the MODE SENSE data for req: the mode parameter
// header, one block descriptor unless DBD is set (long if LLBAA is set on
// MODE SENSE(10)), and the requested pages in ascending page and subpage
// order (page 00h last), cut to the allocation length with the header's
// MODE DATA LENGTH still giving the full length. A page or subpage the
// logical unit lacks returns a *CDBFieldError; saved values of pages none
// of which is saveable return ErrSavingNotSupported.
func (m *ModeParameters) ModeSense(req ModeSenseRequest) ([]byte, error) {
	op := OpModeSense6
	if req.Header10 {
		op = OpModeSense10
	}
	if req.PageCode > modePageCodeMask {
		return nil, &CDBFieldError{Op: op, Byte: modeSenseCDBPageByte, Bit: modeSenseCDBPageBit, Reason: fmt.Sprintf("page code 0x%x", req.PageCode)}
	}
	var sel []ModePageValues
	pageFound := false
	for _, pv := range m.Pages {
		if pv.Current == nil {
			continue
		}
		code, sub := pv.Current.Page()
		switch {
		case req.PageCode == ModePageCodeAll && req.SubpageCode == ModeSubpageCodeAll,
			req.PageCode == ModePageCodeAll && req.SubpageCode == 0 && sub == 0:
			sel = append(sel, pv)
		case req.PageCode == code:
			pageFound = true
			if req.SubpageCode == ModeSubpageCodeAll || req.SubpageCode == sub {
				sel = append(sel, pv)
			}
		}
	}
	if len(sel) == 0 {
		if pageFound || (req.PageCode == ModePageCodeAll && req.SubpageCode != 0 && req.SubpageCode != ModeSubpageCodeAll) {
			return nil, &CDBFieldError{Op: op, Byte: modeSenseCDBSubpageByte, Bit: 7, Reason: fmt.Sprintf("subpage 0x%02x of page 0x%02x not supported", req.SubpageCode, req.PageCode)}
		}
		if req.PageCode != ModePageCodeAll {
			return nil, &CDBFieldError{Op: op, Byte: modeSenseCDBPageByte, Bit: modeSenseCDBPageBit, Reason: fmt.Sprintf("page 0x%02x not supported", req.PageCode)}
		}
	}
	// SPC-4 section 6.11.1: pages are returned "in ascending page code
	// order except mode page 00h, which ... shall be returned after all
	// other mode pages."
	slices.SortStableFunc(sel, func(a, b ModePageValues) int {
		ac, as := a.Current.Page()
		bc, bs := b.Current.Page()
		ak, bk := int(ac), int(bc)
		if ak == 0 {
			ak = 0x40
		}
		if bk == 0 {
			bk = 0x40
		}
		return cmp.Or(cmp.Compare(ak, bk), cmp.Compare(as, bs))
	})
	if req.PC == ModeValuesSaved && len(sel) > 0 && !slices.ContainsFunc(sel, func(pv ModePageValues) bool { return pv.Saved != nil }) {
		return nil, fmt.Errorf("%w: no requested mode page is saveable", ErrSavingNotSupported)
	}
	d := ModeData{Header10: req.Header10}
	if req.PC != ModeValuesChangeable {
		d.DeviceSpecific = pbit(m.WriteProtect, 7) | pbit(m.DPOFUA, 4)
	}
	if !req.DBD {
		var blocks uint64
		var length uint32
		if req.PC != ModeValuesChangeable {
			blocks, length = m.Blocks, m.BlockLength
		}
		if req.Header10 && req.LLBAA {
			d.LongLBA = true
			d.LongBlockDescriptors = []LongModeBlockDescriptor{{Blocks: blocks, BlockLength: length}}
		} else {
			// SBC-3 section 6.4.2.2: if the number of logical blocks
			// "exceeds the maximum value that is able to be specified in
			// the NUMBER OF LOGICAL BLOCKS field, then the device server
			// shall return FFFFFFFFh".
			d.BlockDescriptors = []ModeBlockDescriptor{{Blocks: uint32(min(blocks, modeMaxShortBlocks)), BlockLength: length}}
		}
	}
	ps := make([]bool, len(sel))
	for i, pv := range sel {
		p := pv.Current
		switch req.PC {
		case ModeValuesChangeable:
			p = pv.Changeable
			if p == nil {
				p = zeroModePage(pv.Current)
			}
		case ModeValuesDefault:
			if pv.Default != nil {
				p = pv.Default
			}
		case ModeValuesSaved:
			if pv.Saved != nil {
				p = pv.Saved
			} else if pv.Default != nil {
				p = pv.Default
			}
		}
		d.Pages = append(d.Pages, p)
		ps[i] = pv.Saved != nil
	}
	b, err := d.appendPS(nil, ps)
	if err != nil {
		return nil, err
	}
	return truncateToAlloc(b, req.AllocationLength), nil
}

// zeroModePage returns a page of p's code and length with every field
// zero: the changeable mask of a page that has none.
func zeroModePage(p ModePage) ModePage {
	code, sub := p.Page()
	b, err := p.AppendBinary(nil)
	if err != nil {
		return &RawModePage{Code: code, SubpageCode: sub}
	}
	var h ModePageHeader
	if h.UnmarshalBinary(b) != nil || len(b) < h.Len() {
		return &RawModePage{Code: code, SubpageCode: sub}
	}
	return &RawModePage{Code: code, SubpageCode: sub, Data: make([]byte, len(b)-h.Len())}
}

// ModeSelect parses and validates a MODE SELECT parameter list (with
// header10 true for MODE SELECT(10)) against the logical unit's pages and
// returns it decoded. It does not change m; the caller applies the pages.
//
// A list cut short returns ErrTruncated (PARAMETER LIST LENGTH ERROR).
// A bad header or block descriptor, a page with the PS bit set, an
// unknown page, a wrong page length, or a change to a bit that is not
// changeable returns a *ParameterFieldError with the byte and bit (INVALID
// FIELD IN PARAMETER LIST). An empty list is valid and changes nothing.
func (m *ModeParameters) ModeSelect(header10 bool, b []byte) (*ModeData, error) {
	d := &ModeData{Header10: header10}
	if len(b) == 0 {
		// SPC-4 section 6.9: "A PARAMETER LIST LENGTH field set to zero
		// specifies that no data shall be transferred. This shall not be
		// considered an error."
		return d, nil
	}
	offs, err := d.decode(b, true)
	if err != nil {
		return nil, err
	}
	hlen := modeHeader6Len
	if header10 {
		hlen = modeHeader10Len
	}
	if err := m.checkSelectDescriptors(d, hlen); err != nil {
		return nil, err
	}
	for i, p := range d.Pages {
		end := len(b)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		// Compare the bytes as sent, so that reserved bits count too.
		if err := m.checkSelectPage(p, b[offs[i]:end], offs[i]); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// checkSelectDescriptors checks MODE SELECT block descriptors against the
// logical unit's capacity and block length, which lunar does not change.
func (m *ModeParameters) checkSelectDescriptors(d *ModeData, hlen int) error {
	for i, bd := range d.BlockDescriptors {
		o := hlen + i*modeShortDescLen
		if bd.Blocks != 0 && uint64(bd.Blocks) != min(m.Blocks, modeMaxShortBlocks) {
			return &ParameterFieldError{Byte: o, Bit: 7, Reason: fmt.Sprintf("number of logical blocks %d, have %d", bd.Blocks, m.Blocks)}
		}
		if bd.BlockLength != m.BlockLength {
			return &ParameterFieldError{Byte: o + 5, Bit: 7, Reason: fmt.Sprintf("logical block length %d, have %d", bd.BlockLength, m.BlockLength)}
		}
	}
	for i, bd := range d.LongBlockDescriptors {
		o := hlen + i*modeLongDescLen
		if bd.Blocks != 0 && bd.Blocks != m.Blocks {
			return &ParameterFieldError{Byte: o, Bit: 7, Reason: fmt.Sprintf("number of logical blocks %d, have %d", bd.Blocks, m.Blocks)}
		}
		if bd.BlockLength != m.BlockLength {
			return &ParameterFieldError{Byte: o + 12, Bit: 7, Reason: fmt.Sprintf("logical block length %d, have %d", bd.BlockLength, m.BlockLength)}
		}
	}
	return nil
}

// checkSelectPage checks one MODE SELECT page, encoded as nb at byte o of
// the parameter list, against the logical unit's current values and
// changeable mask.
func (m *ModeParameters) checkSelectPage(p ModePage, nb []byte, o int) error {
	code, sub := p.Page()
	i := slices.IndexFunc(m.Pages, func(pv ModePageValues) bool {
		if pv.Current == nil {
			return false
		}
		c, s := pv.Current.Page()
		return c == code && s == sub
	})
	if i < 0 {
		return &ParameterFieldError{Byte: o, Bit: 5, Reason: fmt.Sprintf("mode page 0x%02x/0x%02x not supported", code, sub)}
	}
	pv := m.Pages[i]
	cur, err := pv.Current.AppendBinary(nil)
	if err != nil {
		return err
	}
	var mask []byte
	if pv.Changeable != nil {
		if mask, err = pv.Changeable.AppendBinary(nil); err != nil {
			return err
		}
	}
	var h ModePageHeader
	if err := h.UnmarshalBinary(nb); err != nil {
		return err
	}
	// SPC-4 section 7.5.7: the page length "shall be set to the value
	// returned by the device server in the PAGE LENGTH field of the
	// parameter data returned by the MODE SENSE command"; a page of
	// another length is an invalid field.
	if len(nb) != len(cur) {
		return &ParameterFieldError{Byte: o + h.Len() - 1, Bit: 7, Reason: fmt.Sprintf("page 0x%02x length %d, want %d", code, len(nb)-h.Len(), len(cur)-h.Len())}
	}
	for j := h.Len(); j < len(nb); j++ {
		var mk byte
		if j < len(mask) {
			mk = mask[j]
		}
		// SPC-4 section 6.9: a device server shall report INVALID FIELD
		// IN PARAMETER LIST if the list changes "a field that is not
		// changeable".
		if diff := (nb[j] ^ cur[j]) &^ mk; diff != 0 {
			return &ParameterFieldError{Byte: o + j, Bit: highBit(diff), Reason: fmt.Sprintf("mode page 0x%02x/0x%02x byte %d changes bits 0x%02x that are not changeable", code, sub, j, diff)}
		}
	}
	return nil
}

// highBit returns the position of the most significant set bit of v (v
// not zero).
func highBit(v byte) int {
	n := 7
	for v&0x80 == 0 && n > 0 {
		v <<= 1
		n--
	}
	return n
}
