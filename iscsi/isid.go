package iscsi

import "fmt"

// ISIDType is the two-bit T field of an ISID (RFC 7143 section 11.12.5),
// which says how the A, B, C and D fields are used.
type ISIDType uint8

// The ISID formats of RFC 7143 section 11.12.5.
const (
	// ISIDTypeOUI: A and B hold a 22-bit OUI, C and D a 24-bit qualifier.
	ISIDTypeOUI ISIDType = 0
	// ISIDTypeEN: B and C hold an IANA Enterprise Number, D a qualifier.
	ISIDTypeEN ISIDType = 1
	// ISIDTypeRandom: B and C hold a random 24-bit value, D a qualifier.
	ISIDTypeRandom ISIDType = 2
	// ISIDTypeReserved is the reserved value 11b.
	ISIDTypeReserved ISIDType = 3
)

// String returns the RFC's name for the format.
func (t ISIDType) String() string {
	switch t {
	case ISIDTypeOUI:
		return "OUI"
	case ISIDTypeEN:
		return "EN"
	case ISIDTypeRandom:
		return "Random"
	case ISIDTypeReserved:
		return "reserved"
	}
	return fmt.Sprintf("ISID type %d", uint8(t))
}

// ISID is the initiator-defined half of a session identifier, six bytes
// carried in bytes 8-13 of Login Requests and Responses (RFC 7143 section
// 11.12.5):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 8| T |    A      |              B                |      C        |
//	  +---------------+---------------+---------------+---------------+
//	12|               D               |
//	  +---------------+---------------+
//
//	T = 00b OUI-Format: A&B are a 22-bit OUI, C&D a 24-bit qualifier
//	T = 01b EN-Format: A reserved, B&C an IANA Enterprise Number, D qualifier
//	T = 10b Random: A reserved, B&C random, D qualifier
//	T = 11b A, B, C and D reserved
type ISID [6]byte

// NewOUIISID returns an OUI-format ISID (T=00b) from the low 22 bits of oui
// (without the I/G and U/L bits) and the low 24 bits of qualifier.
func NewOUIISID(oui, qualifier uint32) ISID {
	oui &= 1<<22 - 1
	qualifier &= 1<<24 - 1
	return ISID{
		byte(ISIDTypeOUI)<<6 | byte(oui>>16),
		byte(oui >> 8), byte(oui),
		byte(qualifier >> 16), byte(qualifier >> 8), byte(qualifier),
	}
}

// NewENISID returns an EN-format ISID (T=01b) from the low 24 bits of an
// IANA Enterprise Number and a 16-bit qualifier. A is zero.
func NewENISID(enterprise uint32, qualifier uint16) ISID {
	return newISID24(ISIDTypeEN, enterprise, qualifier)
}

// NewRandomISID returns a Random-format ISID (T=10b) from the low 24 bits
// of random and a 16-bit qualifier. A is zero.
func NewRandomISID(random uint32, qualifier uint16) ISID {
	return newISID24(ISIDTypeRandom, random, qualifier)
}

// newISID24 builds the EN and Random formats: B&C hold v, D the qualifier.
func newISID24(t ISIDType, v uint32, qualifier uint16) ISID {
	return ISID{
		byte(t) << 6,
		byte(v >> 16), byte(v >> 8), byte(v),
		byte(qualifier >> 8), byte(qualifier),
	}
}

// T returns the two-bit format field.
func (id ISID) T() ISIDType { return ISIDType(id[0] >> 6) }

// A returns the six-bit A field.
func (id ISID) A() uint8 { return id[0] & 0x3f }

// B returns the 16-bit B field.
func (id ISID) B() uint16 { return uint16(id[1])<<8 | uint16(id[2]) }

// C returns the 8-bit C field.
func (id ISID) C() uint8 { return id[3] }

// D returns the 16-bit D field.
func (id ISID) D() uint16 { return uint16(id[4])<<8 | uint16(id[5]) }

// OUI returns the 22-bit OUI held in A&B. It is meaningful only for
// ISIDTypeOUI.
func (id ISID) OUI() uint32 { return uint32(id.A())<<16 | uint32(id.B()) }

// Number returns the 24-bit value held in B&C: the Enterprise Number for
// ISIDTypeEN, the random value for ISIDTypeRandom.
func (id ISID) Number() uint32 { return uint32(id.B())<<8 | uint32(id.C()) }

// Qualifier returns the qualifier: the 24 bits of C&D for ISIDTypeOUI, the
// 16 bits of D otherwise.
func (id ISID) Qualifier() uint32 {
	if id.T() == ISIDTypeOUI {
		return uint32(id.C())<<16 | uint32(id.D())
	}
	return uint32(id.D())
}

// Valid reports whether the ISID uses a defined format: "The T field value
// of 11b is reserved."
func (id ISID) Valid() bool { return id.T() != ISIDTypeReserved }

// String returns the ISID as twelve lowercase hex digits, as iscsiadm and
// most targets print it.
func (id ISID) String() string { return fmt.Sprintf("%x", id[:]) }
