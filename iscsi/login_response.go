package iscsi

import (
	"encoding/binary"
)

// Login status classes (RFC 7143 section 11.13.5), the StatusClass field of
// a LoginResponse.
const (
	// LoginClassSuccess: the login proceeds.
	LoginClassSuccess uint8 = 0x00
	// LoginClassRedirection: the initiator should log in to another
	// address, given in a TargetAddress key.
	LoginClassRedirection uint8 = 0x01
	// LoginClassInitiatorError: the initiator got something wrong; the
	// request should not be retried as it is.
	LoginClassInitiatorError uint8 = 0x02
	// LoginClassTargetError: the target cannot serve the request now.
	LoginClassTargetError uint8 = 0x03
)

// Login status details (RFC 7143 section 11.13.5), the StatusDetail field
// of a LoginResponse. Each is meaningful with the class its name starts
// with (the numbers repeat across classes).
const (
	// LoginDetailSuccess (class 0x00): login is proceeding OK.
	LoginDetailSuccess uint8 = 0x00

	// LoginDetailTargetMovedTemporarily (class 0x01): the requested
	// target has moved temporarily to the address provided.
	LoginDetailTargetMovedTemporarily uint8 = 0x01
	// LoginDetailTargetMovedPermanently (class 0x01): the requested
	// target has moved permanently to the address provided.
	LoginDetailTargetMovedPermanently uint8 = 0x02

	// LoginDetailInitiatorError (class 0x02): miscellaneous iSCSI
	// initiator errors.
	LoginDetailInitiatorError uint8 = 0x00
	// LoginDetailAuthenticationFailure (class 0x02): the initiator could
	// not be successfully authenticated or target authentication is not
	// supported.
	LoginDetailAuthenticationFailure uint8 = 0x01
	// LoginDetailAuthorizationFailure (class 0x02): the initiator is not
	// allowed access to the given target.
	LoginDetailAuthorizationFailure uint8 = 0x02
	// LoginDetailNotFound (class 0x02): the requested iSCSI Target Name
	// does not exist at this address.
	LoginDetailNotFound uint8 = 0x03
	// LoginDetailTargetRemoved (class 0x02): the requested target has
	// been removed and no forwarding address is provided.
	LoginDetailTargetRemoved uint8 = 0x04
	// LoginDetailUnsupportedVersion (class 0x02): the requested iSCSI
	// version range is not supported by the target.
	LoginDetailUnsupportedVersion uint8 = 0x05
	// LoginDetailTooManyConnections (class 0x02): too many connections
	// on this session.
	LoginDetailTooManyConnections uint8 = 0x06
	// LoginDetailMissingParameter (class 0x02): missing parameters (e.g.
	// iSCSI Initiator Name and/or Target Name).
	LoginDetailMissingParameter uint8 = 0x07
	// LoginDetailCantIncludeInSession (class 0x02): the target does not
	// support session spanning to this connection (address).
	LoginDetailCantIncludeInSession uint8 = 0x08
	// LoginDetailSessionTypeNotSupported (class 0x02): the target does
	// not support this type of session or not from this initiator.
	LoginDetailSessionTypeNotSupported uint8 = 0x09
	// LoginDetailSessionDoesNotExist (class 0x02): an attempt was made
	// to add a connection to a non-existent session.
	LoginDetailSessionDoesNotExist uint8 = 0x0a
	// LoginDetailInvalidDuringLogin (class 0x02): invalid request type
	// during login.
	LoginDetailInvalidDuringLogin uint8 = 0x0b

	// LoginDetailTargetError (class 0x03): miscellaneous target errors.
	LoginDetailTargetError uint8 = 0x00
	// LoginDetailServiceUnavailable (class 0x03): the iSCSI service or
	// target is not currently operational.
	LoginDetailServiceUnavailable uint8 = 0x01
	// LoginDetailOutOfResources (class 0x03): the target has
	// insufficient session, connection or other resources.
	LoginDetailOutOfResources uint8 = 0x02
)

// LoginResponse is the Login Response PDU, opcode 0x23 (RFC 7143 section
// 11.13):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x23      |T|C|.|.|CSG|NSG| Version-max   |Version-active |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| ISID                                                          |
//	  +                               +---------------+---------------+
//	12|                               | TSIH                          |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| Status-Class  | Status-Detail | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	40/ Reserved                                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48/ DataSegment - Login Parameters in Text Request Format         /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
type LoginResponse struct {
	// Transit is the T bit: the target is ready to move to NSG.
	Transit bool
	// Continue is the C bit: the text in Data continues in the next
	// Login Response.
	Continue bool
	// CSG is the current stage.
	CSG Stage
	// NSG is the next stage. It is valid only when Transit is set;
	// otherwise it is reserved and a receiver ignores it, but the codec
	// carries it as it is so a PDU re-encodes to the same bytes.
	NSG Stage
	// VersionMax is the highest protocol version the target supports.
	VersionMax uint8
	// VersionActive is the protocol version the session will use.
	VersionActive uint8
	// ISID is the initiator part of the session identifier, echoed.
	ISID ISID
	// TSIH is the target-assigned session handle.
	TSIH uint16
	// ITT is the Initiator Task Tag of the Login Request answered.
	ITT uint32
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target will accept.
	MaxCmdSN uint32
	// StatusClass is one of the LoginClass constants.
	StatusClass uint8
	// StatusDetail is one of the LoginDetail constants of StatusClass.
	StatusDetail uint8
	// Data is the data segment: login key=value pairs in text format.
	// After DecodeFrame or UnmarshalBinary it aliases the frame's or the
	// input's memory.
	Data []byte
}

// Opcode returns OpLoginResp.
func (p *LoginResponse) Opcode() Opcode { return OpLoginResp }

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *LoginResponse) EncodeFrame(f *Frame) error {
	b1, err := loginStageByte(OpLoginResp, p.Transit, p.Continue, p.CSG, p.NSG)
	if err != nil {
		return err
	}
	beginFrame(f, OpLoginResp, false)
	h := &f.BHS
	h[1], h[2], h[3] = b1, p.VersionMax, p.VersionActive
	copy(h[8:14], p.ISID[:])
	binary.BigEndian.PutUint16(h[14:16], p.TSIH)
	h.SetITT(p.ITT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h[36], h[37] = p.StatusClass, p.StatusDetail
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *LoginResponse) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpLoginResp); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	// "A Login Response with the C bit set to 1 MUST have the T bit set
	// to 0." (11.13.7), checked with the stage codes.
	transit, cont, csg, nsg, err := parseLoginStageByte(OpLoginResp, h[1])
	if err != nil {
		return err
	}
	*p = LoginResponse{
		Transit:       transit,
		Continue:      cont,
		CSG:           csg,
		NSG:           nsg,
		VersionMax:    h[2],
		VersionActive: h[3],
		ISID:          ISID(h[8:14]),
		TSIH:          binary.BigEndian.Uint16(h[14:16]),
		ITT:           h.ITT(),
		StatSN:        h.Uint32(24),
		ExpCmdSN:      h.Uint32(28),
		MaxCmdSN:      h.Uint32(32),
		StatusClass:   h[36],
		StatusDetail:  h[37],
		Data:          f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *LoginResponse) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *LoginResponse) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Login Response without digests. p.Data
// aliases b.
func (p *LoginResponse) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
