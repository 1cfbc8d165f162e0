package iscsi

import (
	"fmt"
	"strings"
)

// Key names of RFC 7143 sections 12.1 and 13 and RFC 7144 section 2.1.
const (
	KeyHeaderDigest             = "HeaderDigest"
	KeyDataDigest               = "DataDigest"
	KeyMaxConnections           = "MaxConnections"
	KeySendTargets              = "SendTargets"
	KeyTargetName               = "TargetName"
	KeyInitiatorName            = "InitiatorName"
	KeyTargetAlias              = "TargetAlias"
	KeyInitiatorAlias           = "InitiatorAlias"
	KeyTargetAddress            = "TargetAddress"
	KeyTargetPortalGroupTag     = "TargetPortalGroupTag"
	KeyInitialR2T               = "InitialR2T"
	KeyImmediateData            = "ImmediateData"
	KeyMaxRecvDataSegmentLength = "MaxRecvDataSegmentLength"
	KeyMaxBurstLength           = "MaxBurstLength"
	KeyFirstBurstLength         = "FirstBurstLength"
	KeyDefaultTime2Wait         = "DefaultTime2Wait"
	KeyDefaultTime2Retain       = "DefaultTime2Retain"
	KeyMaxOutstandingR2T        = "MaxOutstandingR2T"
	KeyDataPDUInOrder           = "DataPDUInOrder"
	KeyDataSequenceInOrder      = "DataSequenceInOrder"
	KeyErrorRecoveryLevel       = "ErrorRecoveryLevel"
	KeySessionType              = "SessionType"
	KeyAuthMethod               = "AuthMethod"
	KeyTaskReporting            = "TaskReporting"
	KeyISCSIProtocolLevel       = "iSCSIProtocolLevel"
)

// Values of HeaderDigest and DataDigest (RFC 7143 section 13.1).
const (
	// DigestValueCRC32C names the CRC32C digest.
	DigestValueCRC32C = "CRC32C"
	// DigestValueNone names no digest.
	DigestValueNone = ValueNone
)

// Values of TaskReporting (RFC 7143 section 13.23).
const (
	// TaskReportingRFC3720 is the default: task management as in RFC 3720.
	TaskReportingRFC3720 = "RFC3720"
	// TaskReportingResponseFence adds the Response Fence semantics.
	TaskReportingResponseFence = "ResponseFence"
	// TaskReportingFastAbort adds ResponseFence and the FastAbort
	// multi-task abort semantics.
	TaskReportingFastAbort = "FastAbort"
)

// Values of AuthMethod (RFC 7143 section 12.1).
const (
	// AuthMethodCHAP is CHAP (RFC 7143 section 12.1.3).
	AuthMethodCHAP = "CHAP"
	// AuthMethodNone is no authentication.
	AuthMethodNone = ValueNone
)

// Limits and defaults of the numeric keys of RFC 7143 section 13.
const (
	DefaultMaxConnections     = 1
	DefaultMaxBurstLength     = 262144
	DefaultFirstBurstLength   = 65536
	DefaultDefaultTime2Wait   = 2
	DefaultDefaultTime2Retain = 20
	DefaultMaxOutstandingR2T  = 1
	// MaxTime2 is the largest DefaultTime2Wait and DefaultTime2Retain.
	MaxTime2 = 3600
	// MaxErrorRecoveryLevel is the largest ErrorRecoveryLevel.
	MaxErrorRecoveryLevel = 2
	// MaxISCSIProtocolLevel is the largest iSCSIProtocolLevel (RFC 7144
	// section 2.1: numerical-value-from-0-to-31).
	MaxISCSIProtocolLevel = 31
	// ProtocolLevelRFC7143 is the iSCSIProtocolLevel of RFC 7143.
	ProtocolLevelRFC7143 = 1
)

// SessionType is the value of the SessionType key (RFC 7143 section 13.21).
type SessionType uint8

// The session types. The zero value is Normal, the RFC's default.
const (
	// SessionNormal is a session to a named target for SCSI traffic.
	SessionNormal SessionType = iota
	// SessionDiscovery is a session for SendTargets only.
	SessionDiscovery
)

// String returns the key value, "Normal" or "Discovery".
func (t SessionType) String() string {
	switch t {
	case SessionNormal:
		return "Normal"
	case SessionDiscovery:
		return "Discovery"
	}
	return fmt.Sprintf("SessionType(%d)", uint8(t))
}

// ParseSessionType parses "Normal" or "Discovery".
func ParseSessionType(s string) (SessionType, error) {
	switch s {
	case "Normal":
		return SessionNormal, nil
	case "Discovery":
		return SessionDiscovery, nil
	}
	return 0, fmt.Errorf("%w: SessionType %q is not Normal or Discovery", ErrTextValue, s)
}

// SessionParams holds every value negotiated or declared during login
// (RFC 7143 sections 12.1 and 13, RFC 7144 section 2.1). Scope SW values
// hold for the whole session; HeaderDigest, DataDigest, AuthMethod and the
// two MaxRecvDataSegmentLength values are per connection.
type SessionParams struct {
	// HeaderDigest is true when CRC32C header digests are in use.
	HeaderDigest bool
	// DataDigest is true when CRC32C data digests are in use.
	DataDigest bool
	// MaxConnections is the most connections the session may have.
	MaxConnections uint32
	// TargetName is the target's iSCSI name (empty in a Discovery
	// session).
	TargetName string
	// InitiatorName is the initiator's iSCSI name.
	InitiatorName string
	// TargetAlias is the target's human-readable alias, if declared.
	TargetAlias string
	// InitiatorAlias is the initiator's alias, if declared.
	InitiatorAlias string
	// TargetAddress is the address a target declared during login, if any
	// (with a redirection status).
	TargetAddress string
	// TargetPortalGroupTag is the tag of the portal group serving the
	// login.
	TargetPortalGroupTag uint16
	// InitialR2T is true when the initiator must wait for an R2T before
	// sending any unsolicited Data-Out.
	InitialR2T bool
	// ImmediateData is true when data may ride with the SCSI Command PDU.
	ImmediateData bool
	// InitiatorMaxRecvDSL is the initiator's declared
	// MaxRecvDataSegmentLength: the largest data segment the target may
	// send on this connection.
	InitiatorMaxRecvDSL uint32
	// TargetMaxRecvDSL is the target's declared MaxRecvDataSegmentLength:
	// the largest data segment the initiator may send on this connection.
	TargetMaxRecvDSL uint32
	// MaxBurstLength is the largest solicited or Data-In sequence in bytes.
	MaxBurstLength uint32
	// FirstBurstLength is the most unsolicited data per command in bytes.
	FirstBurstLength uint32
	// DefaultTime2Wait is the seconds to wait before reconnecting after a
	// connection loss.
	DefaultTime2Wait uint32
	// DefaultTime2Retain is the seconds after the wait during which task
	// reassignment remains possible.
	DefaultTime2Retain uint32
	// MaxOutstandingR2T is the most R2Ts outstanding per task.
	MaxOutstandingR2T uint32
	// DataPDUInOrder is true when Data PDUs of a sequence come in offset
	// order.
	DataPDUInOrder bool
	// DataSequenceInOrder is true when Data sequences come in offset order.
	DataSequenceInOrder bool
	// ErrorRecoveryLevel is 0, 1 or 2.
	ErrorRecoveryLevel uint8
	// SessionType is Normal or Discovery.
	SessionType SessionType
	// AuthMethod is the selected authentication method, "None" or "CHAP".
	AuthMethod string
	// ISCSIProtocolLevel is the negotiated iSCSIProtocolLevel.
	ISCSIProtocolLevel uint8
	// TaskReporting is "RFC3720", "ResponseFence" or "FastAbort".
	TaskReporting string
}

// DefaultSessionParams returns the RFC's default of every key: the values
// in force for a key that was never negotiated.
func DefaultSessionParams() SessionParams {
	return SessionParams{
		MaxConnections:      DefaultMaxConnections,
		InitialR2T:          true,
		ImmediateData:       true,
		InitiatorMaxRecvDSL: DefaultMaxDataSegmentLength,
		TargetMaxRecvDSL:    DefaultMaxDataSegmentLength,
		MaxBurstLength:      DefaultMaxBurstLength,
		FirstBurstLength:    DefaultFirstBurstLength,
		DefaultTime2Wait:    DefaultDefaultTime2Wait,
		DefaultTime2Retain:  DefaultDefaultTime2Retain,
		MaxOutstandingR2T:   DefaultMaxOutstandingR2T,
		DataPDUInOrder:      true,
		DataSequenceInOrder: true,
		SessionType:         SessionNormal,
		AuthMethod:          AuthMethodNone,
		TaskReporting:       TaskReportingRFC3720,
	}
}

// MaxSendDSL returns the largest data segment the side playing role may
// send: the peer's declared MaxRecvDataSegmentLength.
func (p SessionParams) MaxSendDSL(role Role) uint32 {
	if role == RoleInitiator {
		return p.TargetMaxRecvDSL
	}
	return p.InitiatorMaxRecvDSL
}

// MaxRecvDSL returns the largest data segment the side playing role
// declared it can receive.
func (p SessionParams) MaxRecvDSL(role Role) uint32 {
	if role == RoleInitiator {
		return p.InitiatorMaxRecvDSL
	}
	return p.TargetMaxRecvDSL
}

// Validate checks every value against its range in RFC 7143 section 13.
func (p SessionParams) Validate() error {
	checks := []struct {
		key    string
		v      uint64
		lo, hi uint64
	}{
		{KeyMaxConnections, uint64(p.MaxConnections), 1, 65535},
		{KeyMaxRecvDataSegmentLength, uint64(p.InitiatorMaxRecvDSL), MinMaxDataSegmentLength, MaxMaxDataSegmentLength},
		{KeyMaxRecvDataSegmentLength, uint64(p.TargetMaxRecvDSL), MinMaxDataSegmentLength, MaxMaxDataSegmentLength},
		{KeyMaxBurstLength, uint64(p.MaxBurstLength), 512, 1<<24 - 1},
		{KeyFirstBurstLength, uint64(p.FirstBurstLength), 512, 1<<24 - 1},
		{KeyDefaultTime2Wait, uint64(p.DefaultTime2Wait), 0, MaxTime2},
		{KeyDefaultTime2Retain, uint64(p.DefaultTime2Retain), 0, MaxTime2},
		{KeyMaxOutstandingR2T, uint64(p.MaxOutstandingR2T), 1, 65535},
		{KeyErrorRecoveryLevel, uint64(p.ErrorRecoveryLevel), 0, MaxErrorRecoveryLevel},
		{KeyISCSIProtocolLevel, uint64(p.ISCSIProtocolLevel), 0, MaxISCSIProtocolLevel},
	}
	for _, c := range checks {
		if c.v < c.lo || c.v > c.hi {
			return fmt.Errorf("%w: %s=%d, want %d to %d", ErrTextValue, c.key, c.v, c.lo, c.hi)
		}
	}
	// "FirstBurstLength MUST NOT exceed MaxBurstLength."
	if p.FirstBurstLength > p.MaxBurstLength {
		return fmt.Errorf("%w: FirstBurstLength %d exceeds MaxBurstLength %d", ErrTextValue, p.FirstBurstLength, p.MaxBurstLength)
	}
	if p.SessionType > SessionDiscovery {
		return fmt.Errorf("%w: %v", ErrTextValue, p.SessionType)
	}
	switch p.TaskReporting {
	case TaskReportingRFC3720, TaskReportingResponseFence, TaskReportingFastAbort:
	default:
		return fmt.Errorf("%w: TaskReporting %q", ErrTextValue, p.TaskReporting)
	}
	return nil
}

// String lists the parameters as key=value pairs, for diagnostics.
func (p SessionParams) String() string {
	var b strings.Builder
	digest := func(on bool) string {
		if on {
			return DigestValueCRC32C
		}
		return DigestValueNone
	}
	fmt.Fprintf(&b, "SessionType=%v InitiatorName=%s TargetName=%s HeaderDigest=%s DataDigest=%s ",
		p.SessionType, p.InitiatorName, p.TargetName, digest(p.HeaderDigest), digest(p.DataDigest))
	fmt.Fprintf(&b, "MaxConnections=%d InitialR2T=%s ImmediateData=%s MaxRecvDSL(I)=%d MaxRecvDSL(T)=%d ",
		p.MaxConnections, FormatBoolean(p.InitialR2T), FormatBoolean(p.ImmediateData), p.InitiatorMaxRecvDSL, p.TargetMaxRecvDSL)
	fmt.Fprintf(&b, "MaxBurstLength=%d FirstBurstLength=%d DefaultTime2Wait=%d DefaultTime2Retain=%d MaxOutstandingR2T=%d ",
		p.MaxBurstLength, p.FirstBurstLength, p.DefaultTime2Wait, p.DefaultTime2Retain, p.MaxOutstandingR2T)
	fmt.Fprintf(&b, "DataPDUInOrder=%s DataSequenceInOrder=%s ErrorRecoveryLevel=%d AuthMethod=%s iSCSIProtocolLevel=%d TaskReporting=%s TargetPortalGroupTag=%d",
		FormatBoolean(p.DataPDUInOrder), FormatBoolean(p.DataSequenceInOrder), p.ErrorRecoveryLevel, p.AuthMethod,
		p.ISCSIProtocolLevel, p.TaskReporting, p.TargetPortalGroupTag)
	return b.String()
}
