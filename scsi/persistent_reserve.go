package scsi

import (
	"encoding/binary"
	"fmt"
)

const (
	prInHeaderLen       = 8
	prKeyLen            = 8
	prReservationLen    = 0x10
	prCapabilitiesLen   = 8
	prFullStatusDescLen = 24
	prOutBasicLen       = 24
	prOutSpecIPTHdrLen  = 28
	prMoveHeaderLen     = 24
)

// PRReadKeysData is the PERSISTENT RESERVE IN parameter data for READ
// KEYS (SPC-4 section 6.15.2, table 168):
//
//	bytes 0-3  PRGENERATION
//	bytes 4-7  ADDITIONAL LENGTH (n-7)
//	bytes 8-n  reservation keys, 8 bytes each
type PRReadKeysData struct {
	// Generation is PRGENERATION, a 32-bit wrapping counter the device
	// server increments on each REGISTER, REGISTER AND IGNORE EXISTING KEY,
	// CLEAR, PREEMPT, PREEMPT AND ABORT and REGISTER AND MOVE that does not
	// fail.
	Generation uint32
	// Keys are the registered reservation keys; after UnmarshalBinary,
	// only those the data carried in full.
	Keys []uint64
	// AdditionalLength is the decoded ADDITIONAL LENGTH; it exceeds
	// 8 × len(Keys) when the data was cut by the allocation length.
	// MarshalBinary computes its own.
	AdditionalLength uint32
}

// Complete reports whether the decoded data held every key.
func (d *PRReadKeysData) Complete() bool {
	return uint64(d.AdditionalLength) == uint64(len(d.Keys))*prKeyLen
}

// AppendBinary appends the full parameter data to b.
func (d *PRReadKeysData) AppendBinary(b []byte) ([]byte, error) {
	n := uint64(len(d.Keys)) * prKeyLen
	if n > 0xffffffff-prInHeaderLen {
		return b, fmt.Errorf("%w: %d reservation keys", ErrInvalidField, len(d.Keys))
	}
	b = binary.BigEndian.AppendUint32(b, d.Generation)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	for _, k := range d.Keys {
		b = binary.BigEndian.AppendUint64(b, k)
	}
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *PRReadKeysData) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// MarshalAlloc returns the parameter data cut to allocLen bytes, with the
// ADDITIONAL LENGTH still giving the full length (SPC-4 section 6.15.2:
// it "shall not be altered based on the allocation length").
func (d *PRReadKeysData) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes READ KEYS data; it needs the eight-byte header
// and decodes the whole keys present (see Complete).
func (d *PRReadKeysData) UnmarshalBinary(b []byte) error {
	if len(b) < prInHeaderLen {
		return fmt.Errorf("%w: READ KEYS data has %d bytes, want at least %d", ErrTruncated, len(b), prInHeaderLen)
	}
	al := binary.BigEndian.Uint32(b[4:8])
	if al%prKeyLen != 0 {
		return &ParameterFieldError{Byte: 4, Bit: 7, Reason: fmt.Sprintf("additional length %d is not a multiple of 8", al)}
	}
	avail := min(uint64(len(b)-prInHeaderLen), uint64(al))
	keys := make([]uint64, avail/prKeyLen)
	for i := range keys {
		keys[i] = binary.BigEndian.Uint64(b[prInHeaderLen+i*prKeyLen:])
	}
	*d = PRReadKeysData{Generation: binary.BigEndian.Uint32(b[0:4]), Keys: keys, AdditionalLength: al}
	return nil
}

// PRReservationData is the PERSISTENT RESERVE IN parameter data for READ
// RESERVATION (SPC-4 section 6.15.3, tables 170 and 171):
//
//	bytes 0-3    PRGENERATION
//	bytes 4-7    ADDITIONAL LENGTH (0 or 10h)
//	bytes 8-15   RESERVATION KEY          (when a reservation is held)
//	bytes 16-19  obsolete
//	byte 20      reserved
//	byte 21      SCOPE (7-4) | TYPE (3-0)
//	bytes 22-23  obsolete
type PRReservationData struct {
	Generation uint32 // PRGENERATION (see PRReadKeysData.Generation)
	// Reserved reports whether a persistent reservation is held; the
	// other fields are meaningful only then.
	Reserved bool
	Key      uint64 // RESERVATION KEY of the reservation holder
	Scope    uint8  // SCOPE, 4 bits; PRScopeLU
	Type     PRType // TYPE, 4 bits
}

// AppendBinary appends the full parameter data to b.
func (d *PRReservationData) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint32(b, d.Generation)
	if !d.Reserved {
		return binary.BigEndian.AppendUint32(b, 0), nil
	}
	b = binary.BigEndian.AppendUint32(b, prReservationLen)
	b = binary.BigEndian.AppendUint64(b, d.Key)
	b = append(b, 0, 0, 0, 0, 0)
	return append(b, d.Scope<<4|byte(d.Type)&0x0f, 0, 0), nil
}

// MarshalBinary returns the full parameter data.
func (d *PRReservationData) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// MarshalAlloc returns the parameter data cut to allocLen bytes.
func (d *PRReservationData) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes READ RESERVATION data. Data shorter than its
// ADDITIONAL LENGTH returns ErrTruncated.
func (d *PRReservationData) UnmarshalBinary(b []byte) error {
	if len(b) < prInHeaderLen {
		return fmt.Errorf("%w: READ RESERVATION data has %d bytes, want at least %d", ErrTruncated, len(b), prInHeaderLen)
	}
	gen, al := binary.BigEndian.Uint32(b[0:4]), binary.BigEndian.Uint32(b[4:8])
	switch al {
	case 0:
		*d = PRReservationData{Generation: gen}
		return nil
	case prReservationLen:
	default:
		return &ParameterFieldError{Byte: 4, Bit: 7, Reason: fmt.Sprintf("additional length %d, want 0 or 16", al)}
	}
	if len(b) < prInHeaderLen+prReservationLen {
		return fmt.Errorf("%w: READ RESERVATION data has %d bytes, want %d", ErrTruncated, len(b), prInHeaderLen+prReservationLen)
	}
	*d = PRReservationData{Generation: gen, Reserved: true, Key: binary.BigEndian.Uint64(b[8:16]), Scope: b[21] >> 4, Type: PRType(b[21] & 0x0f)}
	return nil
}

// PRTypeMask is the PERSISTENT RESERVATION TYPE MASK of REPORT
// CAPABILITIES (SPC-4 section 6.15.4, table 173): bit 15-8 hold byte 4
// (WR_EX_AR, EX_AC_RO, WR_EX_RO, -, EX_AC, -, WR_EX, -), bits 7-0 byte 5
// (EX_AC_AR in bit 0).
type PRTypeMask uint16

// The type mask bits.
const (
	PRTypeMaskWrExAR PRTypeMask = 0x8000 // Write Exclusive - All Registrants
	PRTypeMaskExAcRO PRTypeMask = 0x4000 // Exclusive Access - Registrants Only
	PRTypeMaskWrExRO PRTypeMask = 0x2000 // Write Exclusive - Registrants Only
	PRTypeMaskExAc   PRTypeMask = 0x0800 // Exclusive Access
	PRTypeMaskWrEx   PRTypeMask = 0x0200 // Write Exclusive
	PRTypeMaskExAcAR PRTypeMask = 0x0001 // Exclusive Access - All Registrants
)

// Has reports whether the mask includes reservation type t.
func (m PRTypeMask) Has(t PRType) bool {
	switch t {
	case PRTypeWriteExclusive:
		return m&PRTypeMaskWrEx != 0
	case PRTypeExclusiveAccess:
		return m&PRTypeMaskExAc != 0
	case PRTypeWriteExclusiveRegistrantsOnly:
		return m&PRTypeMaskWrExRO != 0
	case PRTypeExclusiveAccessRegistrantsOnly:
		return m&PRTypeMaskExAcRO != 0
	case PRTypeWriteExclusiveAllRegistrants:
		return m&PRTypeMaskWrExAR != 0
	case PRTypeExclusiveAccessAllRegistrants:
		return m&PRTypeMaskExAcAR != 0
	}
	return false
}

const prTypeMaskDefined = PRTypeMaskWrExAR | PRTypeMaskExAcRO | PRTypeMaskWrExRO | PRTypeMaskExAc | PRTypeMaskWrEx | PRTypeMaskExAcAR

// PRCapabilities is the PERSISTENT RESERVE IN parameter data for REPORT
// CAPABILITIES (SPC-4 section 6.15.4, table 172):
//
//	bytes 0-1  LENGTH (0008h)
//	byte 2     RLR_C | reserved (6-5) | CRH | SIP_C | ATP_C | reserved | PTPL_C
//	byte 3     TMV | ALLOW COMMANDS (6-4) | reserved (3-1) | PTPL_A
//	bytes 4-5  PERSISTENT RESERVATION TYPE MASK
//	bytes 6-7  reserved
type PRCapabilities struct {
	RLRC          bool       // replace lost reservation capable
	CRH           bool       // compatible reservation handling
	SIPC          bool       // specify initiator ports capable
	ATPC          bool       // all target ports capable
	PTPLC         bool       // persist through power loss capable
	TMV           bool       // type mask valid
	AllowCommands uint8      // ALLOW COMMANDS, 3 bits: which commands certain reservation types let through
	PTPLA         bool       // persist through power loss activated
	TypeMask      PRTypeMask // PERSISTENT RESERVATION TYPE MASK, valid when TMV is set; undefined bits dropped
}

// AppendBinary appends the eight bytes to b.
func (c *PRCapabilities) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, prCapabilitiesLen)
	b = append(b,
		pbit(c.RLRC, 7)|pbit(c.CRH, 4)|pbit(c.SIPC, 3)|pbit(c.ATPC, 2)|pbit(c.PTPLC, 0),
		pbit(c.TMV, 7)|(c.AllowCommands&0x7)<<4|pbit(c.PTPLA, 0))
	b = binary.BigEndian.AppendUint16(b, uint16(c.TypeMask&prTypeMaskDefined))
	return append(b, 0, 0), nil
}

// MarshalBinary returns the eight bytes.
func (c *PRCapabilities) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

// MarshalAlloc returns the data cut to allocLen bytes.
func (c *PRCapabilities) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := c.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes REPORT CAPABILITIES data.
func (c *PRCapabilities) UnmarshalBinary(b []byte) error {
	if len(b) < prCapabilitiesLen {
		return fmt.Errorf("%w: REPORT CAPABILITIES data has %d bytes, want %d", ErrTruncated, len(b), prCapabilitiesLen)
	}
	if l := binary.BigEndian.Uint16(b[0:2]); l < prCapabilitiesLen {
		return &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("length %d, want 8", l)}
	}
	*c = PRCapabilities{
		RLRC: b[2]&0x80 != 0, CRH: b[2]&0x10 != 0, SIPC: b[2]&0x08 != 0, ATPC: b[2]&0x04 != 0, PTPLC: b[2]&0x01 != 0,
		TMV: b[3]&0x80 != 0, AllowCommands: b[3] >> 4 & 0x7, PTPLA: b[3]&0x01 != 0,
		TypeMask: PRTypeMask(binary.BigEndian.Uint16(b[4:6])) & prTypeMaskDefined,
	}
	return nil
}

// PRFullStatusDescriptor is one full status descriptor of READ FULL
// STATUS (SPC-4 section 6.15.5, table 176):
//
//	bytes 0-7    RESERVATION KEY
//	bytes 8-11   reserved
//	byte 12      reserved (7-2) | ALL_TG_PT | R_HOLDER
//	byte 13      SCOPE (7-4) | TYPE (3-0)
//	bytes 14-17  reserved
//	bytes 18-19  RELATIVE TARGET PORT IDENTIFIER
//	bytes 20-23  ADDITIONAL DESCRIPTOR LENGTH (n-23)
//	bytes 24-n   TRANSPORTID
type PRFullStatusDescriptor struct {
	Key                  uint64           // RESERVATION KEY of the registration
	AllTgPt              bool             // ALL_TG_PT: the descriptor covers the initiator port's I_T nexuses through every target port
	RHolder              bool             // this I_T nexus holds the reservation
	Scope                uint8            // SCOPE, 4 bits; defined only when RHolder is set
	Type                 PRType           // TYPE, 4 bits; defined only when RHolder is set
	RelativeTargetPortID uint16           // RELATIVE TARGET PORT IDENTIFIER; undefined when AllTgPt is set
	TransportID          ISCSITransportID // TRANSPORTID of the registered initiator port
}

// PRFullStatusData is the PERSISTENT RESERVE IN parameter data for READ
// FULL STATUS (SPC-4 section 6.15.5, table 175):
//
//	bytes 0-3  PRGENERATION
//	bytes 4-7  ADDITIONAL LENGTH (n-7)
//	bytes 8-n  full status descriptors
type PRFullStatusData struct {
	Generation uint32 // PRGENERATION (see PRReadKeysData.Generation)
	// Descriptors are the registrations; after UnmarshalBinary, only
	// those the data carried in full.
	Descriptors []PRFullStatusDescriptor
	// AdditionalLength is the decoded ADDITIONAL LENGTH (MarshalBinary
	// computes its own).
	AdditionalLength uint32
}

// Complete reports whether the decoded data held every descriptor.
func (d *PRFullStatusData) Complete() bool {
	var n uint64
	for _, s := range d.Descriptors {
		n += uint64(prFullStatusDescLen + s.TransportID.Len())
	}
	return n == uint64(d.AdditionalLength)
}

// AppendBinary appends the full parameter data to b.
func (d *PRFullStatusData) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, d.Generation)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, s := range d.Descriptors {
		b = binary.BigEndian.AppendUint64(b, s.Key)
		b = append(b, 0, 0, 0, 0, pbit(s.AllTgPt, 1)|pbit(s.RHolder, 0), s.Scope<<4|byte(s.Type)&0x0f, 0, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, s.RelativeTargetPortID)
		b = binary.BigEndian.AppendUint32(b, uint32(s.TransportID.Len()))
		var err error
		if b, err = s.TransportID.AppendBinary(b); err != nil {
			return b, err
		}
	}
	n := len(b) - start - prInHeaderLen
	if uint64(n) > 0xffffffff-prInHeaderLen {
		return b, fmt.Errorf("%w: READ FULL STATUS data of %d bytes", ErrInvalidField, n)
	}
	binary.BigEndian.PutUint32(b[start+4:], uint32(n))
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *PRFullStatusData) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// MarshalAlloc returns the parameter data cut to allocLen bytes, with the
// ADDITIONAL LENGTH still giving the full length.
func (d *PRFullStatusData) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes READ FULL STATUS data; it needs the eight-byte
// header and decodes the whole descriptors present (see Complete). A
// descriptor whose lengths are inconsistent returns a
// *ParameterFieldError.
func (d *PRFullStatusData) UnmarshalBinary(b []byte) error {
	if len(b) < prInHeaderLen {
		return fmt.Errorf("%w: READ FULL STATUS data has %d bytes, want at least %d", ErrTruncated, len(b), prInHeaderLen)
	}
	nd := PRFullStatusData{Generation: binary.BigEndian.Uint32(b[0:4]), AdditionalLength: binary.BigEndian.Uint32(b[4:8])}
	end := uint64(prInHeaderLen) + uint64(nd.AdditionalLength)
	if end > uint64(len(b)) {
		end = uint64(len(b))
	}
	for o := prInHeaderLen; uint64(o)+prFullStatusDescLen <= end; {
		s := b[o:end]
		dl := uint64(binary.BigEndian.Uint32(s[20:24]))
		if prFullStatusDescLen+dl > uint64(len(s)) {
			break // cut by the allocation length
		}
		tid, n, err := ParseTransportID(s[prFullStatusDescLen : prFullStatusDescLen+dl])
		if err != nil {
			return shiftFieldError(err, o+prFullStatusDescLen)
		}
		if uint64(n) != dl {
			return &ParameterFieldError{Byte: o + 20, Bit: 7, Reason: fmt.Sprintf("additional descriptor length %d, TransportID is %d bytes", dl, n)}
		}
		nd.Descriptors = append(nd.Descriptors, PRFullStatusDescriptor{
			Key:                  binary.BigEndian.Uint64(s[0:8]),
			AllTgPt:              s[12]&0x02 != 0,
			RHolder:              s[12]&0x01 != 0,
			Scope:                s[13] >> 4,
			Type:                 PRType(s[13] & 0x0f),
			RelativeTargetPortID: binary.BigEndian.Uint16(s[18:20]),
			TransportID:          tid,
		})
		o += prFullStatusDescLen + n
	}
	*d = nd
	return nil
}

// PROutParameters is the basic PERSISTENT RESERVE OUT parameter list
// (SPC-4 section 6.16.3, table 188), used by every service action but
// REGISTER AND MOVE:
//
//	bytes 0-7    RESERVATION KEY
//	bytes 8-15   SERVICE ACTION RESERVATION KEY
//	bytes 16-19  obsolete
//	byte 20      reserved (7-4) | SPEC_I_PT | ALL_TG_PT | reserved | APTPL
//	byte 21      reserved
//	bytes 22-23  obsolete
//	bytes 24-27  TRANSPORTID PARAMETER DATA LENGTH (n-27)   (SPEC_I_PT only)
//	bytes 28-n   TransportIDs                              (SPEC_I_PT only)
type PROutParameters struct {
	Key uint64 // RESERVATION KEY the sending I_T nexus is registered with
	// ServiceActionKey is SERVICE ACTION RESERVATION KEY: the new key for
	// REGISTER and REGISTER AND IGNORE EXISTING KEY (zero unregisters), the
	// key whose registrations PREEMPT and PREEMPT AND ABORT remove; other
	// service actions ignore it.
	ServiceActionKey uint64
	SpecIPT          bool // SPEC_I_PT: also register the initiator ports in TransportIDs
	AllTgPt          bool // ALL_TG_PT: register through every target port
	APTPL            bool // APTPL: activate persist through power loss
	// TransportIDs are the initiator ports to register with SPEC_I_PT.
	TransportIDs []ISCSITransportID
}

// AppendBinary appends the parameter list to b: 24 bytes, or with
// SpecIPT the TransportID list after them.
func (p *PROutParameters) AppendBinary(b []byte) ([]byte, error) {
	if !p.SpecIPT && len(p.TransportIDs) > 0 {
		return b, fmt.Errorf("%w: TransportIDs without SPEC_I_PT", ErrInvalidField)
	}
	b = binary.BigEndian.AppendUint64(b, p.Key)
	b = binary.BigEndian.AppendUint64(b, p.ServiceActionKey)
	b = append(b, 0, 0, 0, 0, pbit(p.SpecIPT, 3)|pbit(p.AllTgPt, 2)|pbit(p.APTPL, 0), 0, 0, 0)
	if !p.SpecIPT {
		return b, nil
	}
	lenAt := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, t := range p.TransportIDs {
		var err error
		if b, err = t.AppendBinary(b); err != nil {
			return b, err
		}
	}
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return b, nil
}

// MarshalBinary returns the parameter list.
func (p *PROutParameters) MarshalBinary() ([]byte, error) { return p.AppendBinary(nil) }

// UnmarshalBinary decodes a basic PERSISTENT RESERVE OUT parameter list
// of PARAMETER LIST LENGTH bytes. A list of the wrong length returns an
// error wrapping ErrTruncated (PARAMETER LIST LENGTH ERROR); a bad
// TransportID a *ParameterFieldError.
func (p *PROutParameters) UnmarshalBinary(b []byte) error {
	if len(b) < prOutBasicLen {
		return fmt.Errorf("%w: PERSISTENT RESERVE OUT parameter list has %d bytes, want %d", ErrTruncated, len(b), prOutBasicLen)
	}
	np := PROutParameters{
		Key:              binary.BigEndian.Uint64(b[0:8]),
		ServiceActionKey: binary.BigEndian.Uint64(b[8:16]),
		SpecIPT:          b[20]&0x08 != 0,
		AllTgPt:          b[20]&0x04 != 0,
		APTPL:            b[20]&0x01 != 0,
	}
	if !np.SpecIPT {
		// SPC-4 section 6.16.3: "The parameter list shall be 24 bytes in
		// length and the PARAMETER LIST LENGTH field shall contain 24
		// (18h), if ... the SPEC_I_PT bit is set to zero"; otherwise the
		// command is terminated with PARAMETER LIST LENGTH ERROR.
		if len(b) != prOutBasicLen {
			return fmt.Errorf("%w: parameter list length error: %d bytes without SPEC_I_PT, want %d", ErrTruncated, len(b), prOutBasicLen)
		}
		*p = np
		return nil
	}
	if len(b) < prOutSpecIPTHdrLen {
		return fmt.Errorf("%w: SPEC_I_PT parameter list has %d bytes, want at least %d", ErrTruncated, len(b), prOutSpecIPTHdrLen)
	}
	tl := uint64(binary.BigEndian.Uint32(b[24:28]))
	// SPC-4 section 6.16.3: if the list length does not hold the
	// TRANSPORTID PARAMETER DATA LENGTH, the command is terminated with
	// PARAMETER LIST LENGTH ERROR.
	if prOutSpecIPTHdrLen+tl != uint64(len(b)) {
		return fmt.Errorf("%w: parameter list length error: TransportID data length %d in a %d-byte list", ErrTruncated, tl, len(b))
	}
	for o := prOutSpecIPTHdrLen; o < len(b); {
		t, n, err := ParseTransportID(b[o:])
		if err != nil {
			return shiftFieldError(err, o)
		}
		np.TransportIDs = append(np.TransportIDs, t)
		o += n
	}
	*p = np
	return nil
}

// CheckServiceAction checks the flags against the service action the
// list came with: SPEC_I_PT is only valid with REGISTER and REGISTER AND
// IGNORE EXISTING KEY (SPC-4 section 6.16.3: otherwise "the command shall
// be terminated with ... INVALID FIELD IN PARAMETER LIST").
func (p *PROutParameters) CheckServiceAction(sa PROutServiceAction) error {
	switch sa {
	case PROutRegister, PROutRegisterAndIgnoreExistingKey:
		return nil
	case PROutRegisterAndMove:
		return fmt.Errorf("%w: REGISTER AND MOVE uses its own parameter list", ErrInvalidField)
	}
	if p.SpecIPT {
		return &ParameterFieldError{Byte: 20, Bit: 3, Reason: fmt.Sprintf("SPEC_I_PT set for %v", sa)}
	}
	return nil
}

// PRRegisterAndMoveParameters is the PERSISTENT RESERVE OUT parameter
// list of REGISTER AND MOVE (SPC-4 section 6.16.4, table 189):
//
//	bytes 0-7    RESERVATION KEY
//	bytes 8-15   SERVICE ACTION RESERVATION KEY
//	byte 16      reserved
//	byte 17      reserved (7-2) | UNREG | APTPL
//	bytes 18-19  RELATIVE TARGET PORT IDENTIFIER
//	bytes 20-23  TRANSPORTID PARAMETER DATA LENGTH (n-23)
//	bytes 24-n   TransportID
type PRRegisterAndMoveParameters struct {
	Key                  uint64           // RESERVATION KEY of the sending I_T nexus, the reservation holder
	ServiceActionKey     uint64           // SERVICE ACTION RESERVATION KEY to register for the destination I_T nexus
	Unreg                bool             // UNREG: unregister the sending I_T nexus after the move
	APTPL                bool             // APTPL: activate persist through power loss
	RelativeTargetPortID uint16           // RELATIVE TARGET PORT IDENTIFIER of the destination I_T nexus
	TransportID          ISCSITransportID // TRANSPORTID of the destination I_T nexus's initiator port
}

// AppendBinary appends the parameter list to b.
func (p *PRRegisterAndMoveParameters) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint64(b, p.Key)
	b = binary.BigEndian.AppendUint64(b, p.ServiceActionKey)
	b = append(b, 0, pbit(p.Unreg, 1)|pbit(p.APTPL, 0))
	b = binary.BigEndian.AppendUint16(b, p.RelativeTargetPortID)
	b = binary.BigEndian.AppendUint32(b, uint32(p.TransportID.Len()))
	return p.TransportID.AppendBinary(b)
}

// MarshalBinary returns the parameter list.
func (p *PRRegisterAndMoveParameters) MarshalBinary() ([]byte, error) { return p.AppendBinary(nil) }

// UnmarshalBinary decodes a REGISTER AND MOVE parameter list of PARAMETER
// LIST LENGTH bytes. A list too short for its TransportID returns
// ErrTruncated; a TransportID that does not fill its length, or a bad
// one, a *ParameterFieldError.
func (p *PRRegisterAndMoveParameters) UnmarshalBinary(b []byte) error {
	if len(b) < prMoveHeaderLen {
		return fmt.Errorf("%w: REGISTER AND MOVE parameter list has %d bytes, want at least %d", ErrTruncated, len(b), prMoveHeaderLen)
	}
	tl := uint64(binary.BigEndian.Uint32(b[20:24]))
	if prMoveHeaderLen+tl > uint64(len(b)) {
		return fmt.Errorf("%w: TransportID data length %d in a %d-byte list", ErrTruncated, tl, len(b))
	}
	t, n, err := ParseTransportID(b[prMoveHeaderLen : prMoveHeaderLen+tl])
	if err != nil {
		return shiftFieldError(err, prMoveHeaderLen)
	}
	if uint64(n) != tl {
		return &ParameterFieldError{Byte: 20, Bit: 7, Reason: fmt.Sprintf("TransportID data length %d, TransportID is %d bytes", tl, n)}
	}
	*p = PRRegisterAndMoveParameters{
		Key:                  binary.BigEndian.Uint64(b[0:8]),
		ServiceActionKey:     binary.BigEndian.Uint64(b[8:16]),
		Unreg:                b[17]&0x02 != 0,
		APTPL:                b[17]&0x01 != 0,
		RelativeTargetPortID: binary.BigEndian.Uint16(b[18:20]),
		TransportID:          t,
	}
	return nil
}
