package scsi

// SenseKeySpecific is the three-byte SENSE KEY SPECIFIC field of sense data
// (SPC-4 section 4.5.2.4), held in the low 24 bits. Bit 23 is SKSV: the
// rest is valid only when it is set. What the other 23 bits mean depends on
// the sense key: a field pointer for ILLEGAL REQUEST, a progress indication
// for NOT READY and NO SENSE, an actual retry count for RECOVERED ERROR,
// MEDIUM ERROR and HARDWARE ERROR.
//
// Field pointer layout (SPC-4, ILLEGAL REQUEST):
//
//	byte 0: SKSV(7) C/D(6) reserved(5-4) BPV(3) BIT POINTER(2-0)
//	byte 1-2: FIELD POINTER
//
// Progress indication layout (SPC-4, NOT READY / NO SENSE):
//
//	byte 0: SKSV(7) reserved(6-0)
//	byte 1-2: PROGRESS INDICATION
type SenseKeySpecific uint32

const (
	sksValid    = 1 << 23
	sksCD       = 1 << 22
	sksBPV      = 1 << 19
	sksMask     = 0xffffff
	sksBitShift = 16
)

// FieldPointer returns a valid field-pointer SenseKeySpecific that points
// at byte byteOffset, bit bit of the CDB (cdb true, C/D = 1) or of the
// parameter list (cdb false, C/D = 0). A bit outside 0..7 (such as -1, "the
// whole byte") leaves BPV zero. An offset above 65535 is clamped to 65535,
// the largest the 16-bit FIELD POINTER holds.
func FieldPointer(cdb bool, byteOffset, bit int) SenseKeySpecific {
	v := SenseKeySpecific(sksValid)
	if cdb {
		// SPC-4 4.5.2.4.2: "A command data (C/D) bit set to one indicates
		// that the illegal parameter is in the CDB."
		v |= sksCD
	}
	if bit >= 0 && bit <= 7 {
		v |= sksBPV | SenseKeySpecific(bit)<<sksBitShift
	}
	switch {
	case byteOffset < 0:
		byteOffset = 0
	case byteOffset > 0xffff:
		byteOffset = 0xffff
	}
	return v | SenseKeySpecific(byteOffset)
}

// ProgressIndication returns a valid SenseKeySpecific carrying a progress
// indication: progress/65536 of the operation is done.
func ProgressIndication(progress uint16) SenseKeySpecific {
	return sksValid | SenseKeySpecific(progress)
}

// Valid reports whether SKSV is set.
func (s SenseKeySpecific) Valid() bool { return s&sksValid != 0 }

// FieldPointer decodes s as a field pointer: whether it points into the CDB
// (rather than the parameter list), the byte offset, and the bit (-1 when
// BPV is zero). ok is false when SKSV is zero.
func (s SenseKeySpecific) FieldPointer() (cdb bool, byteOffset, bit int, ok bool) {
	if !s.Valid() {
		return false, 0, -1, false
	}
	bit = -1
	if s&sksBPV != 0 {
		bit = int(s>>sksBitShift) & 7
	}
	return s&sksCD != 0, int(s & 0xffff), bit, true
}

// Progress decodes s as a progress indication; ok is false when SKSV is
// zero.
func (s SenseKeySpecific) Progress() (progress uint16, ok bool) {
	return uint16(s), s.Valid()
}

// bytes returns the field as it goes on the wire.
func (s SenseKeySpecific) bytes() [3]byte {
	return [3]byte{byte(s >> 16), byte(s >> 8), byte(s)}
}

// senseKeySpecificFrom reads the field from three wire bytes.
func senseKeySpecificFrom(b []byte) SenseKeySpecific {
	return SenseKeySpecific(b[0])<<16 | SenseKeySpecific(b[1])<<8 | SenseKeySpecific(b[2])
}
