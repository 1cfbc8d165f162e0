package scsi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// ProtocolIDISCSI is the PROTOCOL IDENTIFIER of iSCSI (SPC-4 section
// 7.6.1, table 362).
const ProtocolIDISCSI = 0x5

// The FORMAT CODE values of an iSCSI TransportID (SPC-4 section 7.6.4.6,
// table 395).
const (
	// TransportIDFormatDevice names an initiator device: iSCSI name only.
	TransportIDFormatDevice = 0x0
	// TransportIDFormatPort names an initiator port: name, ",i,0x", ISID.
	TransportIDFormatPort = 0x1
)

const (
	transportIDHeaderLen = 4
	// transportIDMinAdditional: "The ADDITIONAL LENGTH field shall be at
	// least 20".
	transportIDMinAdditional = 20
	transportIDSeparator     = ",i,0x"
	transportIDISIDDigits    = 12
	// transportIDMaxName is the longest iSCSI name, RFC 7143 section 4.2.7.1.
	transportIDMaxName = 223
	transportIDMaxISID = 1<<48 - 1
)

// ISCSITransportID is an iSCSI TransportID (SPC-4 section 7.6.4.6,
// tables 396 and 397):
//
//	byte 0      FORMAT CODE (7-6) | reserved | PROTOCOL IDENTIFIER (3-0) = 5h
//	byte 1      reserved
//	bytes 2-3   ADDITIONAL LENGTH (n-3), a multiple of 4, at least 20
//	bytes 4-n   format 00b: ISCSI NAME, null-terminated and null-padded
//	            format 01b: ISCSI NAME, ",i,0x", ISID in hexadecimal,
//	            null-terminated and null-padded
type ISCSITransportID struct {
	Name string // ISCSI NAME of the initiator, without separator or ISID; at most 223 bytes
	// Port selects format 01b, which names an initiator port by its ISID.
	Port bool
	ISID uint64 // 48 bits; used when Port is true
}

// String returns the iSCSI initiator port name (SPC-4 format) or the
// device name.
func (t ISCSITransportID) String() string {
	if t.Port {
		return fmt.Sprintf("%s%s%012x", t.Name, transportIDSeparator, t.ISID)
	}
	return t.Name
}

// Len returns the encoded length.
func (t ISCSITransportID) Len() int {
	n := len(t.Name) + 1 // null terminator
	if t.Port {
		n += len(transportIDSeparator) + transportIDISIDDigits
	}
	n += (4 - n%4) % 4
	return transportIDHeaderLen + max(n, transportIDMinAdditional)
}

// AppendBinary appends the TransportID to b.
func (t ISCSITransportID) AppendBinary(b []byte) ([]byte, error) {
	if t.Name == "" || len(t.Name) > transportIDMaxName || strings.IndexByte(t.Name, 0) >= 0 {
		return b, fmt.Errorf("%w: iSCSI name %q in TransportID", ErrInvalidField, t.Name)
	}
	if t.Port && t.ISID > transportIDMaxISID {
		return b, fmt.Errorf("%w: ISID 0x%x does not fit 48 bits", ErrInvalidField, t.ISID)
	}
	format := byte(TransportIDFormatDevice)
	if t.Port {
		format = TransportIDFormatPort
	}
	n := t.Len()
	b = append(b, format<<6|ProtocolIDISCSI, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(n-transportIDHeaderLen))
	start := len(b)
	b = append(b, t.Name...)
	if t.Port {
		b = append(b, transportIDSeparator...)
		b = fmt.Appendf(b, "%012x", t.ISID)
	}
	return append(b, make([]byte, n-transportIDHeaderLen-(len(b)-start))...), nil
}

// MarshalBinary returns the TransportID.
func (t ISCSITransportID) MarshalBinary() ([]byte, error) { return t.AppendBinary(nil) }

// UnmarshalBinary decodes a TransportID that fills b exactly.
func (t *ISCSITransportID) UnmarshalBinary(b []byte) error {
	id, n, err := ParseTransportID(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return &ParameterFieldError{Byte: 2, Bit: 7, Reason: fmt.Sprintf("TransportID is %d bytes, data has %d", n, len(b))}
	}
	*t = id
	return nil
}

// ParseTransportID decodes the iSCSI TransportID at the front of b and
// returns it with its length. Errors: ErrTruncated if b is shorter than
// the TransportID; a *ParameterFieldError (byte and bit relative to b)
// for another protocol, an unknown format, a bad ADDITIONAL LENGTH, a
// name without its null terminator, or a malformed ISID.
func ParseTransportID(b []byte) (ISCSITransportID, int, error) {
	if len(b) < transportIDHeaderLen {
		return ISCSITransportID{}, 0, fmt.Errorf("%w: TransportID has %d bytes, want at least %d", ErrTruncated, len(b), transportIDHeaderLen)
	}
	if p := b[0] & 0x0f; p != ProtocolIDISCSI {
		return ISCSITransportID{}, 0, &ParameterFieldError{Byte: 0, Bit: 3, Reason: fmt.Sprintf("protocol identifier 0x%x is not iSCSI", p)}
	}
	format := b[0] >> 6
	if format != TransportIDFormatDevice && format != TransportIDFormatPort {
		return ISCSITransportID{}, 0, &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("iSCSI TransportID format code %d", format)}
	}
	al := int(binary.BigEndian.Uint16(b[2:4]))
	// SPC-4 section 7.6.4.6: "The ADDITIONAL LENGTH field shall be at
	// least 20 and shall be a multiple of four."
	if al < transportIDMinAdditional || al%4 != 0 {
		return ISCSITransportID{}, 0, &ParameterFieldError{Byte: 2, Bit: 7, Reason: fmt.Sprintf("additional length %d is not a multiple of 4 of at least 20", al)}
	}
	n := transportIDHeaderLen + al
	if len(b) < n {
		return ISCSITransportID{}, 0, fmt.Errorf("%w: TransportID needs %d bytes, have %d", ErrTruncated, n, len(b))
	}
	body := b[transportIDHeaderLen:n]
	// "The ISCSI NAME field shall ... be null-terminated"
	end := bytes.IndexByte(body, 0)
	if end < 0 {
		return ISCSITransportID{}, 0, &ParameterFieldError{Byte: n - 1, Bit: 7, Reason: "iSCSI name is not null-terminated"}
	}
	s := string(body[:end])
	id := ISCSITransportID{Name: s}
	if format == TransportIDFormatPort {
		// "The SEPARATOR field shall contain the five ASCII characters
		// ',i,0x'" (SPC-4 section 7.6.4.6), matched byte for byte.
		i := strings.LastIndex(s, transportIDSeparator)
		if i < 0 {
			return ISCSITransportID{}, 0, &ParameterFieldError{Byte: transportIDHeaderLen, Bit: 7, Reason: "no \",i,0x\" separator in initiator port TransportID"}
		}
		hex := s[i+len(transportIDSeparator):]
		isid, err := strconv.ParseUint(hex, 16, 48)
		if err != nil || len(hex) == 0 || len(hex) > transportIDISIDDigits || strings.ContainsAny(hex, "+-_") {
			return ISCSITransportID{}, 0, &ParameterFieldError{Byte: transportIDHeaderLen + i + len(transportIDSeparator), Bit: 7, Reason: fmt.Sprintf("ISID %q", hex)}
		}
		id.Name, id.Port, id.ISID = s[:i], true, isid
	}
	if id.Name == "" || len(id.Name) > transportIDMaxName {
		return ISCSITransportID{}, 0, &ParameterFieldError{Byte: transportIDHeaderLen, Bit: 7, Reason: fmt.Sprintf("iSCSI name of %d bytes", len(id.Name))}
	}
	return id, n, nil
}
