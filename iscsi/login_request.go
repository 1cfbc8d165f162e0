package iscsi

import (
	"encoding/binary"
	"fmt"
)

// Stage is a login stage, carried in the two-bit CSG and NSG fields of
// Login Requests and Responses (RFC 7143 section 11.12.3).
type Stage uint8

// The stage codes of RFC 7143 section 11.12.3. "All other codes are
// reserved."
const (
	SecurityNegotiation         Stage = 0
	LoginOperationalNegotiation Stage = 1
	FullFeaturePhase            Stage = 3
)

// String returns the RFC's name for the stage.
func (s Stage) String() string {
	switch s {
	case SecurityNegotiation:
		return "SecurityNegotiation"
	case LoginOperationalNegotiation:
		return "LoginOperationalNegotiation"
	case FullFeaturePhase:
		return "FullFeaturePhase"
	}
	return fmt.Sprintf("stage %d", uint8(s))
}

// valid reports whether s is one of the three defined stage codes.
func (s Stage) valid() bool {
	return s == SecurityNegotiation || s == LoginOperationalNegotiation || s == FullFeaturePhase
}

// Bits of byte 1 shared by Login Requests and Responses.
const (
	loginTransitBit  = 0x80
	loginContinueBit = 0x40
	loginCSGShift    = 2
	loginStageMask   = 0x03
)

// LoginRequest is the Login Request PDU, opcode 0x03 (RFC 7143 section
// 11.12):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|1| 0x03      |T|C|.|.|CSG|NSG| Version-max   | Version-min   |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| ISID                                                          |
//	  +                               +---------------+---------------+
//	12|                               | TSIH                          |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| CID                           | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	24| CmdSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN or Reserved                                         |
//	  +---------------+---------------+---------------+---------------+
//	32| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	40/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48/ DataSegment - Login Parameters in Text Request Format         /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//
// Login Requests are always immediate: EncodeFrame sets the I bit and
// DecodeFrame ignores it.
type LoginRequest struct {
	// Transit is the T bit: the initiator is ready to move to NSG.
	Transit bool
	// Continue is the C bit: the text in Data continues in the next
	// Login Request.
	Continue bool
	// CSG is the current stage.
	CSG Stage
	// NSG is the next stage. It is valid only when Transit is set;
	// otherwise it is reserved and a receiver ignores it, but the codec
	// carries it as it is so a PDU re-encodes to the same bytes.
	NSG Stage
	// VersionMax is the highest protocol version the initiator supports.
	VersionMax uint8
	// VersionMin is the lowest protocol version the initiator supports.
	VersionMin uint8
	// ISID is the initiator part of the session identifier.
	ISID ISID
	// TSIH is the target-assigned session handle, zero for a new session.
	TSIH uint16
	// ITT is the Initiator Task Tag.
	ITT uint32
	// CID is the connection ID.
	CID uint16
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// Data is the data segment: login key=value pairs in text format.
	// After DecodeFrame or UnmarshalBinary it aliases the frame's or the
	// input's memory.
	Data []byte
}

// Opcode returns OpLoginReq.
func (p *LoginRequest) Opcode() Opcode { return OpLoginReq }

// loginStageByte builds byte 1 of a Login Request or Response, checking
// the rules both share.
func loginStageByte(op Opcode, transit, cont bool, csg, nsg Stage) (byte, error) {
	// "A Login Request with the C bit set to 1 MUST have the T bit set
	// to 0." (11.12.2; 11.13.7 says the same of Login Responses.)
	if transit && cont {
		return 0, fmt.Errorf("%w: %v with both T and C set", ErrInvalidField, op)
	}
	if !csg.valid() {
		return 0, fmt.Errorf("%w: %v CSG %d is reserved", ErrInvalidField, op, uint8(csg))
	}
	b := byte(csg) << loginCSGShift
	if transit {
		// "The next stage value is only valid when the T bit is 1;
		// otherwise, it is reserved."
		if !nsg.valid() {
			return 0, fmt.Errorf("%w: %v NSG %d is reserved", ErrInvalidField, op, uint8(nsg))
		}
		b |= loginTransitBit
	}
	// Without T the field is reserved, but peers fill it anyway (libiscsi
	// sends NSG=1 with T=0 in its CHAP steps): carry it as it is, so a
	// PDU re-encodes to the bytes it came from.
	b |= byte(nsg) & loginStageMask
	if cont {
		b |= loginContinueBit
	}
	return b, nil
}

// parseLoginStageByte splits byte 1 of a Login Request or Response and
// checks the rules both share. NSG is returned as sent even without T,
// where it is reserved and must be ignored.
func parseLoginStageByte(op Opcode, b byte) (transit, cont bool, csg, nsg Stage, err error) {
	transit, cont = b&loginTransitBit != 0, b&loginContinueBit != 0
	csg = Stage(b >> loginCSGShift & loginStageMask)
	nsg = Stage(b & loginStageMask)
	if _, err := loginStageByte(op, transit, cont, csg, nsg); err != nil {
		return false, false, 0, 0, err
	}
	return transit, cont, csg, nsg, nil
}

// sessNoAHS rejects an AHS on a PDU type that defines none: RFC 7143 uses
// AHS only on SCSI Commands.
func sessNoAHS(f *Frame) error {
	if len(f.AHS) != 0 {
		return fmt.Errorf("%w: %d bytes of AHS on a %v, want 0", ErrAHSLength, len(f.AHS), f.BHS.Opcode())
	}
	return nil
}

// sessNoData rejects a data segment on a PDU type that carries none.
func sessNoData(f *Frame) error {
	if len(f.Data) != 0 {
		return fmt.Errorf("%w: %d bytes of data on a %v, want 0", ErrDataSegmentLength, len(f.Data), f.BHS.Opcode())
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *LoginRequest) EncodeFrame(f *Frame) error {
	b1, err := loginStageByte(OpLoginReq, p.Transit, p.Continue, p.CSG, p.NSG)
	if err != nil {
		return err
	}
	// RFC 7143 section 11.12: the I bit of a Login Request is always 1.
	beginFrame(f, OpLoginReq, true)
	h := &f.BHS
	h[1], h[2], h[3] = b1, p.VersionMax, p.VersionMin
	copy(h[8:14], p.ISID[:])
	binary.BigEndian.PutUint16(h[14:16], p.TSIH)
	h.SetITT(p.ITT)
	binary.BigEndian.PutUint16(h[20:22], p.CID)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *LoginRequest) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpLoginReq); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	transit, cont, csg, nsg, err := parseLoginStageByte(OpLoginReq, h[1])
	if err != nil {
		return err
	}
	*p = LoginRequest{
		Transit:    transit,
		Continue:   cont,
		CSG:        csg,
		NSG:        nsg,
		VersionMax: h[2],
		VersionMin: h[3],
		ISID:       ISID(h[8:14]),
		TSIH:       binary.BigEndian.Uint16(h[14:16]),
		ITT:        h.ITT(),
		CID:        binary.BigEndian.Uint16(h[20:22]),
		CmdSN:      h.Uint32(24),
		ExpStatSN:  h.Uint32(28),
		Data:       f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *LoginRequest) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *LoginRequest) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Login Request without digests. p.Data
// aliases b.
func (p *LoginRequest) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
