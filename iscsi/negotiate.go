package iscsi

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Role is the side of the login a Negotiator plays.
type Role uint8

// The two roles.
const (
	// RoleInitiator is the side that opens the connection and sends Login
	// Requests.
	RoleInitiator Role = iota
	// RoleTarget is the side that answers with Login Responses.
	RoleTarget
)

// String returns "initiator" or "target".
func (r Role) String() string {
	switch r {
	case RoleInitiator:
		return "initiator"
	case RoleTarget:
		return "target"
	}
	return fmt.Sprintf("Role(%d)", uint8(r))
}

// Negotiation errors. A *NegotiationError wraps one of them; match with
// errors.Is. ErrMissingParameter and ErrSessionTypeUnsupported wrap
// ErrNegotiation, so errors.Is(err, ErrNegotiation) holds for every
// negotiation failure.
var (
	// ErrNegotiation means login negotiation failed: a malformed or
	// unexpected key, a renegotiated key, or an answer that breaks the
	// key's selection rule.
	ErrNegotiation = errors.New("iscsi: login negotiation failed")
	// ErrMissingParameter means a key the first Login Request must carry
	// is absent (Login status 0x0207).
	ErrMissingParameter = fmt.Errorf("%w: missing parameter", ErrNegotiation)
	// ErrSessionTypeUnsupported means SessionType is neither Normal nor
	// Discovery (Login status 0x0209).
	ErrSessionTypeUnsupported = fmt.Errorf("%w: session type not supported", ErrNegotiation)
	// ErrNoAuthMethod means no authentication method both sides accept
	// (Login status 0x0201).
	ErrNoAuthMethod = fmt.Errorf("%w: no acceptable authentication method", ErrNegotiation)
)

// NegotiationError is a failed negotiation of one key.
type NegotiationError struct {
	// Key is the key at fault, empty when the text as a whole is bad.
	Key string
	// Value is the value received, if any.
	Value string
	// Reason says what is wrong.
	Reason string
	// Err is the sentinel: ErrNegotiation or one that wraps it. Nil means
	// ErrNegotiation.
	Err error
	// Cause is an underlying error, such as a text codec error, or nil.
	Cause error
}

// Error describes the failure.
func (e *NegotiationError) Error() string {
	sentinel := e.Err
	if sentinel == nil {
		sentinel = ErrNegotiation
	}
	var b strings.Builder
	b.WriteString(sentinel.Error())
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteString("=")
			b.WriteString(e.Value)
		}
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *NegotiationError) Unwrap() []error {
	sentinel := e.Err
	if sentinel == nil {
		sentinel = ErrNegotiation
	}
	if e.Cause == nil {
		return []error{sentinel}
	}
	return []error{sentinel, e.Cause}
}

// LoginError returns the Login Response status a target sends for this
// failure: class 0x02 with detail 0x07 (missing parameter), 0x09 (session
// type not supported), 0x01 (authentication failure) or 0x00 (initiator
// error).
func (e *NegotiationError) LoginError() *LoginError {
	detail := LoginDetailInitiatorError
	switch {
	case errors.Is(e.Err, ErrMissingParameter):
		detail = LoginDetailMissingParameter
	case errors.Is(e.Err, ErrSessionTypeUnsupported):
		detail = LoginDetailSessionTypeNotSupported
	case errors.Is(e.Err, ErrNoAuthMethod):
		detail = LoginDetailAuthenticationFailure
	}
	return &LoginError{Class: LoginClassInitiatorError, Detail: detail}
}

func negErr(key, value, format string, args ...any) *NegotiationError {
	return &NegotiationError{Key: key, Value: value, Reason: fmt.Sprintf(format, args...)}
}

// keyKind is how a key is negotiated (RFC 7143 section 6.2).
type keyKind uint8

const (
	kindList    keyKind = iota // list-of-values, the acceptor picks the first it supports
	kindMin                    // numerical, result function Minimum
	kindMax                    // numerical, result function Maximum
	kindAnd                    // boolean, result function AND
	kindOr                     // boolean, result function OR
	kindDecl                   // declarative, no answer
	kindAuth                   // a key of the authentication exchange
	kindFFPO                   // full feature phase only
	kindMarker                 // IFMarker/OFMarker of RFC 3720: answered No
	kindMarkInt                // IFMarkInt/OFMarkInt of RFC 3720: answered Irrelevant
)

// keyDef is a key's row of RFC 7143 section 13: its use, senders and
// range.
type keyDef struct {
	kind   keyKind
	lo, hi uint64
	// leadingOnly: "LO" keys, only on the leading connection.
	leadingOnly bool
	// discoveryIrrelevant: "Irrelevant when: SessionType=Discovery".
	discoveryIrrelevant bool
	// security, operational: the login stages where the key may appear.
	security, operational bool
	// fromInitiator, fromTarget: "Senders".
	fromInitiator, fromTarget bool
}

const maxLength24 = 1<<24 - 1

// keyID numbers the keys of keyDefs, so that a Negotiator keeps its
// state per key in bit sets and an array instead of maps keyed by name.
type keyID uint8

const (
	// idNone is a key outside keyDefs: one not understood.
	idNone keyID = iota
	idHeaderDigest
	idDataDigest
	idMaxConnections
	idSendTargets
	idTargetName
	idInitiatorName
	idTargetAlias
	idInitiatorAlias
	idTargetAddress
	idTargetPortalGroupTag
	idInitialR2T
	idImmediateData
	idMaxRecvDataSegmentLength
	idMaxBurstLength
	idFirstBurstLength
	idDefaultTime2Wait
	idDefaultTime2Retain
	idMaxOutstandingR2T
	idDataPDUInOrder
	idDataSequenceInOrder
	idErrorRecoveryLevel
	idSessionType
	idAuthMethod
	idTaskReporting
	idISCSIProtocolLevel
	idIFMarker
	idOFMarker
	idIFMarkInt
	idOFMarkInt
	// numKeyIDs bounds the numbers of keyDefs' keys.
	numKeyIDs
	// idAuth is every key of an authentication exchange (authKeyDef);
	// it is no index of keyDefs and never in a keySet.
	idAuth keyID = 31
)

// A keySet holds one bit per keyID below 32.
type keySet uint32

// Every key of keyDefs has a bit below idAuth's.
var _ [idAuth - numKeyIDs]struct{}

func (s keySet) has(id keyID) bool { return s&(1<<id) != 0 }
func (s *keySet) add(id keyID)     { *s |= 1 << id }
func (s *keySet) del(id keyID)     { *s &^= 1 << id }

// keyIDOf returns the number of key, or idNone for a key outside keyDefs.
func keyIDOf(key string) keyID {
	switch key {
	case KeyHeaderDigest:
		return idHeaderDigest
	case KeyDataDigest:
		return idDataDigest
	case KeyMaxConnections:
		return idMaxConnections
	case KeySendTargets:
		return idSendTargets
	case KeyTargetName:
		return idTargetName
	case KeyInitiatorName:
		return idInitiatorName
	case KeyTargetAlias:
		return idTargetAlias
	case KeyInitiatorAlias:
		return idInitiatorAlias
	case KeyTargetAddress:
		return idTargetAddress
	case KeyTargetPortalGroupTag:
		return idTargetPortalGroupTag
	case KeyInitialR2T:
		return idInitialR2T
	case KeyImmediateData:
		return idImmediateData
	case KeyMaxRecvDataSegmentLength:
		return idMaxRecvDataSegmentLength
	case KeyMaxBurstLength:
		return idMaxBurstLength
	case KeyFirstBurstLength:
		return idFirstBurstLength
	case KeyDefaultTime2Wait:
		return idDefaultTime2Wait
	case KeyDefaultTime2Retain:
		return idDefaultTime2Retain
	case KeyMaxOutstandingR2T:
		return idMaxOutstandingR2T
	case KeyDataPDUInOrder:
		return idDataPDUInOrder
	case KeyDataSequenceInOrder:
		return idDataSequenceInOrder
	case KeyErrorRecoveryLevel:
		return idErrorRecoveryLevel
	case KeySessionType:
		return idSessionType
	case KeyAuthMethod:
		return idAuthMethod
	case KeyTaskReporting:
		return idTaskReporting
	case KeyISCSIProtocolLevel:
		return idISCSIProtocolLevel
	case "IFMarker":
		return idIFMarker
	case "OFMarker":
		return idOFMarker
	case "IFMarkInt":
		return idIFMarkInt
	case "OFMarkInt":
		return idOFMarkInt
	}
	return idNone
}

var keyDefs = [numKeyIDs]keyDef{
	// 13.1: Use: IO, Senders: Initiator and Target, Scope: CO.
	idHeaderDigest: {kind: kindList, operational: true, fromInitiator: true, fromTarget: true},
	idDataDigest:   {kind: kindList, operational: true, fromInitiator: true, fromTarget: true},
	// 13.2: Use: LO, Irrelevant when: SessionType=Discovery, 1 to 65535,
	// Result function is Minimum.
	idMaxConnections: {kind: kindMin, lo: 1, hi: 65535, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.3: Use: FFPO, Senders: Initiator.
	idSendTargets: {kind: kindFFPO, fromInitiator: true},
	// 13.4: Use: IO by initiator, FFPO by target, Declarative, Any-Stage.
	idTargetName: {kind: kindDecl, security: true, operational: true, fromInitiator: true},
	// 13.5: Use: IO, Declarative, Any-Stage, Senders: Initiator.
	idInitiatorName: {kind: kindDecl, security: true, operational: true, fromInitiator: true},
	// 13.6-13.8: Use: ALL, Declarative, Any-Stage.
	idTargetAlias:    {kind: kindDecl, security: true, operational: true, fromTarget: true},
	idInitiatorAlias: {kind: kindDecl, security: true, operational: true, fromInitiator: true},
	idTargetAddress:  {kind: kindDecl, security: true, operational: true, fromTarget: true},
	// 13.9: Use: IO by target, Declarative, Any-Stage, Senders: Target.
	idTargetPortalGroupTag: {kind: kindDecl, lo: 0, hi: 65535, security: true, operational: true, fromTarget: true},
	// 13.10: Use: LO, Irrelevant when Discovery, Result function is OR.
	idInitialR2T: {kind: kindOr, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.11: Use: LO, Irrelevant when Discovery, Result function is AND.
	idImmediateData: {kind: kindAnd, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.12: Use: ALL, Declarative, Scope: CO, 512 to 2^24-1.
	idMaxRecvDataSegmentLength: {kind: kindDecl, lo: MinMaxDataSegmentLength, hi: maxLength24, operational: true, fromInitiator: true, fromTarget: true},
	// 13.13: Use: LO, Irrelevant when Discovery, 512 to 2^24-1, Minimum.
	idMaxBurstLength: {kind: kindMin, lo: 512, hi: maxLength24, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.14: as MaxBurstLength, and also Irrelevant when (InitialR2T=Yes
	// and ImmediateData=No).
	idFirstBurstLength: {kind: kindMin, lo: 512, hi: maxLength24, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.15: Use: LO, 0 to 3600, Result function is Maximum.
	idDefaultTime2Wait: {kind: kindMax, lo: 0, hi: MaxTime2, leadingOnly: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.16: Use: LO, 0 to 3600, Result function is Minimum.
	idDefaultTime2Retain: {kind: kindMin, lo: 0, hi: MaxTime2, leadingOnly: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.17: Use: LO, Irrelevant when Discovery, 1 to 65535, Minimum.
	idMaxOutstandingR2T: {kind: kindMin, lo: 1, hi: 65535, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.18, 13.19: Use: LO, Irrelevant when Discovery, Result function
	// is OR.
	idDataPDUInOrder:      {kind: kindOr, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	idDataSequenceInOrder: {kind: kindOr, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.20: Use: LO, 0 to 2, Result function is Minimum.
	idErrorRecoveryLevel: {kind: kindMin, lo: 0, hi: MaxErrorRecoveryLevel, leadingOnly: true, operational: true, fromInitiator: true, fromTarget: true},
	// 13.21: Use: LO, Declarative, Any-Stage, Senders: Initiator.
	idSessionType: {kind: kindDecl, leadingOnly: true, security: true, operational: true, fromInitiator: true},
	// 12.1: Use: During Login - Security Negotiation, Scope: CO.
	idAuthMethod: {kind: kindList, security: true, fromInitiator: true, fromTarget: true},
	// 13.23: Use: LO, Irrelevant when Discovery, list-of-values.
	idTaskReporting: {kind: kindList, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// RFC 7144 2.1: Use: LO, Irrelevant when Discovery, 0 to 31, Minimum.
	idISCSIProtocolLevel: {kind: kindMin, lo: 0, hi: MaxISCSIProtocolLevel, leadingOnly: true, discoveryIrrelevant: true, operational: true, fromInitiator: true, fromTarget: true},
	// RFC 3720 markers, removed by RFC 7143 but still offered (as No) by
	// common initiators; answering them keeps those peers working.
	idIFMarker:  {kind: kindMarker, operational: true, fromInitiator: true, fromTarget: true},
	idOFMarker:  {kind: kindMarker, operational: true, fromInitiator: true, fromTarget: true},
	idIFMarkInt: {kind: kindMarkInt, operational: true, fromInitiator: true, fromTarget: true},
	idOFMarkInt: {kind: kindMarkInt, operational: true, fromInitiator: true, fromTarget: true},
}

// authKeyDef is the row of every key of an authentication exchange
// (CHAP_*, SRP_*, KRB_*, TargetAuth): security stage only.
var authKeyDef = keyDef{kind: kindAuth, security: true, fromInitiator: true, fromTarget: true}

// lookupKey returns key's number: a row of keyDefs, idAuth or idNone.
func lookupKey(key string) keyID {
	if id := keyIDOf(key); id != idNone {
		return id
	}
	if strings.HasPrefix(key, "CHAP_") || strings.HasPrefix(key, "SRP_") ||
		strings.HasPrefix(key, "KRB_") || key == "TargetAuth" {
		return idAuth
	}
	return idNone
}

// defOf returns the row of id: authKeyDef for idAuth, the zero keyDef for
// idNone.
func defOf(id keyID) keyDef {
	if id == idAuth {
		return authKeyDef
	}
	return keyDefs[id]
}

// NegotiatorConfig is one side's declared values and limits. The zero
// value of every field is the RFC default, so a zero config negotiates the
// defaults of RFC 7143 section 13.
type NegotiatorConfig struct {
	// InitiatorName is our name (initiator role, required).
	InitiatorName string
	// InitiatorAlias is our alias (initiator role, optional).
	InitiatorAlias string
	// TargetName is the target to log in to (initiator role, required
	// for a Normal session).
	TargetName string
	// TargetAlias is our alias (target role, optional), declared in
	// Normal sessions.
	TargetAlias string
	// TargetPortalGroupTag is the tag of the portal serving the login
	// (target role), declared in the first response when the initiator
	// names a target.
	TargetPortalGroupTag uint16
	// SessionType is the session the initiator asks for (initiator role).
	SessionType SessionType
	// NonLeading marks a connection added to an existing session: leading
	// only keys are answered Irrelevant and take their values from
	// Session.
	NonLeading bool
	// Session is the existing session's parameters, used when NonLeading.
	Session SessionParams

	// AuthMethods lists the authentication methods we accept, in our
	// order of preference. Nil means {"None"}.
	AuthMethods []string
	// HeaderDigests lists the header digests we accept, "CRC32C" and
	// "None", in our order of preference. Nil means {"None"}.
	HeaderDigests []string
	// DataDigests is HeaderDigests for data digests.
	DataDigests []string
	// TaskReporting lists the TaskReporting values we accept. Nil means
	// {"RFC3720"} and the initiator does not offer the key.
	TaskReporting []string

	// MaxRecvDataSegmentLength is the largest data segment we can
	// receive, declared to the peer. Zero means 8192.
	MaxRecvDataSegmentLength uint32
	// MaxBurstLength is our ceiling. Zero means 262144.
	MaxBurstLength uint32
	// FirstBurstLength is our ceiling. Zero means 65536.
	FirstBurstLength uint32
	// MaxConnections is our ceiling. Zero means 1.
	MaxConnections uint32
	// MaxOutstandingR2T is our ceiling. Zero means 1.
	MaxOutstandingR2T uint32
	// DefaultTime2Wait is the least wait we accept (Maximum). Zero means 2.
	DefaultTime2Wait uint32
	// DefaultTime2Retain is our ceiling (Minimum). Zero means 20; a peer
	// may still negotiate it down to 0.
	DefaultTime2Retain uint32
	// MaxErrorRecoveryLevel is the highest ErrorRecoveryLevel we support.
	MaxErrorRecoveryLevel uint8
	// ProtocolLevel is our iSCSIProtocolLevel; zero means the key is not
	// offered (its default is 0).
	ProtocolLevel uint8
	// NoImmediateData refuses immediate data (ImmediateData=No).
	NoImmediateData bool
	// NoInitialR2T allows unsolicited Data-Out (we are content with
	// InitialR2T=No).
	NoInitialR2T bool
	// NoDataPDUInOrder accepts Data PDUs out of order.
	NoDataPDUInOrder bool
	// NoDataSequenceInOrder accepts Data sequences out of order.
	NoDataSequenceInOrder bool
}

// listNone and listRFC3720 are the default lists of acceptable values;
// nothing writes to them.
var (
	listNone    = []string{ValueNone}
	listRFC3720 = []string{TaskReportingRFC3720}
)

// withDefaults returns c with the zero fields set to the RFC defaults.
func (c NegotiatorConfig) withDefaults() NegotiatorConfig {
	// The shared listNone is only ever read.
	if c.AuthMethods == nil {
		c.AuthMethods = listNone
	}
	if c.HeaderDigests == nil {
		c.HeaderDigests = listNone
	}
	if c.DataDigests == nil {
		c.DataDigests = listNone
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.MaxRecvDataSegmentLength, DefaultMaxDataSegmentLength)
	def(&c.MaxBurstLength, DefaultMaxBurstLength)
	def(&c.FirstBurstLength, DefaultFirstBurstLength)
	def(&c.MaxConnections, DefaultMaxConnections)
	def(&c.MaxOutstandingR2T, DefaultMaxOutstandingR2T)
	def(&c.DefaultTime2Wait, DefaultDefaultTime2Wait)
	def(&c.DefaultTime2Retain, DefaultDefaultTime2Retain)
	return c
}

// validate checks the config for role.
func (c *NegotiatorConfig) validate(role Role) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("iscsi: negotiator config: "+format, args...)
	}
	inList := func(name string, vals, allowed []string) error {
		if len(vals) == 0 {
			return bad("%s is empty", name)
		}
		for _, v := range vals {
			if !slices.Contains(allowed, v) {
				return bad("%s holds %q, want one of %v", name, v, allowed)
			}
		}
		return nil
	}
	digests := []string{DigestValueCRC32C, DigestValueNone}
	if err := inList("HeaderDigests", c.HeaderDigests, digests); err != nil {
		return err
	}
	if err := inList("DataDigests", c.DataDigests, digests); err != nil {
		return err
	}
	if c.TaskReporting != nil {
		if err := inList("TaskReporting", c.TaskReporting, []string{TaskReportingRFC3720, TaskReportingResponseFence, TaskReportingFastAbort}); err != nil {
			return err
		}
	}
	if len(c.AuthMethods) == 0 {
		return bad("AuthMethods is empty")
	}
	for _, m := range c.AuthMethods {
		if m == "" || !ValidTextValue(m) || m == ValueReject || m == ValueIrrelevant || m == ValueNotUnderstood {
			return bad("AuthMethods holds %q", m)
		}
	}
	ranges := []struct {
		name   string
		v      uint64
		lo, hi uint64
	}{
		{KeyMaxRecvDataSegmentLength, uint64(c.MaxRecvDataSegmentLength), MinMaxDataSegmentLength, maxLength24},
		{KeyMaxBurstLength, uint64(c.MaxBurstLength), 512, maxLength24},
		{KeyFirstBurstLength, uint64(c.FirstBurstLength), 512, maxLength24},
		{KeyMaxConnections, uint64(c.MaxConnections), 1, 65535},
		{KeyMaxOutstandingR2T, uint64(c.MaxOutstandingR2T), 1, 65535},
		{KeyDefaultTime2Wait, uint64(c.DefaultTime2Wait), 0, MaxTime2},
		{KeyDefaultTime2Retain, uint64(c.DefaultTime2Retain), 0, MaxTime2},
		{KeyErrorRecoveryLevel, uint64(c.MaxErrorRecoveryLevel), 0, MaxErrorRecoveryLevel},
		{KeyISCSIProtocolLevel, uint64(c.ProtocolLevel), 0, MaxISCSIProtocolLevel},
	}
	for _, r := range ranges {
		if r.v < r.lo || r.v > r.hi {
			return bad("%s=%d, want %d to %d", r.name, r.v, r.lo, r.hi)
		}
	}
	if c.SessionType > SessionDiscovery {
		return bad("SessionType %v", c.SessionType)
	}
	if len(c.TargetAlias) > MaxValueLength || len(c.InitiatorAlias) > MaxValueLength {
		return bad("alias longer than %d bytes", MaxValueLength)
	}
	if role == RoleInitiator {
		if err := checkNameValue(KeyInitiatorName, c.InitiatorName); err != nil {
			return bad("%v", err)
		}
		if c.SessionType == SessionNormal {
			if err := checkNameValue(KeyTargetName, c.TargetName); err != nil {
				return bad("%v", err)
			}
		}
	}
	if c.NonLeading {
		if err := c.Session.Validate(); err != nil {
			return bad("Session: %v", err)
		}
	}
	return nil
}

// Output is what one negotiation step produces.
type Output struct {
	// Send holds the keys for our next Login PDU: answers to the peer's
	// offers, then our own offers and declarations.
	Send []KeyValue
	// Auth holds the received keys of the authentication exchange
	// (CHAP_A, CHAP_N, ...), in order, for the authentication method.
	Auth []KeyValue
}

// AppendText appends the Send keys as text to b.
func (o *Output) AppendText(b []byte) []byte { return AppendPairs(b, o.Send) }

// offer is one of our offers that awaits or may get an answer.
type offer struct {
	value string
	// required: the peer must answer; false for an AND offer of No or an
	// OR offer of Yes, whose result is already fixed.
	required bool
}

// Negotiator is the login negotiation state machine of RFC 7143 sections
// 6.2 and 13 for one connection: a plain value with no I/O. Feed it the
// keys of each received Login PDU (after joining continued PDUs) with
// Receive, send the keys it returns, and add our own with Offer; when the
// login completes read Params. It is not safe for concurrent use.
//
// A target calls Step for each request. An initiator calls Offer for its
// first request, then Receive for each response and Offer for the stage of
// its next request; it may transit when Pending is false.
type Negotiator struct {
	role  Role
	cfg   NegotiatorConfig
	p     SessionParams
	first bool // no Login PDU received yet
	// offers holds our offers, by key, that are in open.
	offers [numKeyIDs]offer
	open   keySet
	// done holds every key of keyDefs negotiated or declared by the
	// peer, so a second negotiation is caught; doneOther holds the keys
	// not understood (made at the first).
	done      keySet
	doneOther map[string]bool
	// sent holds our declarations and offers already made.
	sent keySet
	err  error
}

// NewNegotiator returns a Negotiator for role with cfg, or an error if cfg
// is invalid.
func NewNegotiator(role Role, cfg NegotiatorConfig) (*Negotiator, error) {
	if role != RoleInitiator && role != RoleTarget {
		return nil, fmt.Errorf("iscsi: negotiator role %v", role)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(role); err != nil {
		return nil, err
	}
	n := &Negotiator{
		role:  role,
		cfg:   cfg,
		p:     DefaultSessionParams(),
		first: true,
	}
	if cfg.NonLeading {
		s := cfg.Session
		// The leading connection's session-wide values hold; the
		// connection-scoped ones are negotiated afresh.
		s.HeaderDigest, s.DataDigest = false, false
		s.InitiatorMaxRecvDSL, s.TargetMaxRecvDSL = DefaultMaxDataSegmentLength, DefaultMaxDataSegmentLength
		s.AuthMethod = AuthMethodNone
		n.p = s
	}
	if role == RoleInitiator {
		n.p.InitiatorName = cfg.InitiatorName
		n.p.InitiatorAlias = cfg.InitiatorAlias
		n.p.SessionType = cfg.SessionType
		if cfg.SessionType == SessionNormal {
			n.p.TargetName = cfg.TargetName
		}
	} else {
		n.p.TargetAlias = cfg.TargetAlias
		n.p.TargetPortalGroupTag = cfg.TargetPortalGroupTag
	}
	return n, nil
}

// Role returns the side the Negotiator plays.
func (n *Negotiator) Role() Role { return n.role }

// Err returns the error that stopped the negotiation, if any.
func (n *Negotiator) Err() error { return n.err }

// Pending reports whether an offer of ours still needs an answer; a side
// may not transit to the next stage while it does.
func (n *Negotiator) Pending() bool {
	for s := n.open; s != 0; s &= s - 1 {
		if n.offers[bits.TrailingZeros32(uint32(s))].required {
			return true
		}
	}
	return false
}

// Params returns the negotiated parameters: defaults for keys not
// negotiated, with the rules applied that hold after negotiation.
func (n *Negotiator) Params() SessionParams {
	p := n.p
	if p.SessionType == SessionDiscovery {
		// 13.21: "The Discovery session implies MaxConnections = 1 and
		// overrides both the default and an explicit setting."
		p.MaxConnections = 1
	}
	// 13.14: "FirstBurstLength MUST NOT exceed MaxBurstLength." Both are
	// negotiated with Minimum, possibly in different PDUs; the larger
	// FirstBurstLength could never be used, so it is cut to the burst.
	if p.FirstBurstLength > p.MaxBurstLength {
		p.FirstBurstLength = p.MaxBurstLength
	}
	return p
}

// Step is Receive followed by Offer for the same stage: the target's step
// for each Login Request.
func (n *Negotiator) Step(stage Stage, in []KeyValue) (Output, error) {
	out, err := n.receive(stage, in, maxOfferKeys)
	if err != nil {
		return Output{}, err
	}
	out.Send = n.appendOffer(out.Send, stage)
	return out, nil
}

// StepText parses text, the joined data segment of the received Login
// PDUs, and runs Step.
func (n *Negotiator) StepText(stage Stage, text []byte) (Output, error) {
	in, err := n.parse(text)
	if err != nil {
		return Output{}, err
	}
	return n.Step(stage, in)
}

// ReceiveText parses text and runs Receive.
func (n *Negotiator) ReceiveText(stage Stage, text []byte) (Output, error) {
	in, err := n.parse(text)
	if err != nil {
		return Output{}, err
	}
	return n.Receive(stage, in)
}

func (n *Negotiator) parse(text []byte) ([]KeyValue, error) {
	if n.err != nil {
		return nil, n.err
	}
	// One string holds every key and value.
	s := string(text)
	var in []KeyValue
	if c := strings.Count(s, "\x00"); c > 0 {
		in = make([]KeyValue, 0, c)
	}
	r := TextReader{text: s}
	for r.Next() {
		in = append(in, KeyValue{Key: r.Key(), Value: r.Value()})
	}
	if err := r.Err(); err != nil {
		n.err = &NegotiationError{Reason: "malformed text", Cause: err}
		return nil, n.err
	}
	return in, nil
}

// fail records err as the sticky error.
func (n *Negotiator) fail(err error) error {
	n.err = err
	return err
}

// Receive processes the keys of a received Login PDU whose current stage
// (CSG) is stage. It returns the answers to the peer's offers and the keys
// of the authentication exchange. Answers to our own offers are checked
// against the selection rules; a bad one fails the negotiation. Any error
// is final: every later call returns it.
func (n *Negotiator) Receive(stage Stage, in []KeyValue) (Output, error) {
	return n.receive(stage, in, 0)
}

// receive is Receive; the Send it returns has room for more keys when
// it holds any.
func (n *Negotiator) receive(stage Stage, in []KeyValue, more int) (Output, error) {
	if n.err != nil {
		return Output{}, n.err
	}
	if stage != SecurityNegotiation && stage != LoginOperationalNegotiation {
		return Output{}, n.fail(negErr("", "", "negotiation in stage %v", stage))
	}
	// Most texts fit these; a longer one is given memory of its own.
	var idBuf [32]keyID
	var answerBuf [32]KeyValue
	var ids []keyID
	var answers []KeyValue
	if len(in) <= len(idBuf) {
		ids, answers = idBuf[:len(in)], answerBuf[:len(in)]
	} else {
		ids, answers = make([]keyID, len(in)), make([]KeyValue, len(in))
	}
	for i, kv := range in {
		ids[i] = lookupKey(kv.Key)
	}
	// "Neither the initiator nor the target should attempt to declare or
	// negotiate a parameter more than once during login, except for
	// responses to specific keys that explicitly allow repeated key
	// declarations (e.g., TargetAddress). An attempt to renegotiate/
	// redeclare parameters not specifically allowed MUST be detected by
	// the initiator and target."
	if err := checkRepeats(in, ids); err != nil {
		return Output{}, n.fail(err)
	}
	first := n.first
	n.first = false

	// answers[i] is the answer to in[i], if its Key is set.
	var out Output
	// Declarations first: SessionType and the names decide how the rest
	// is answered.
	for i, kv := range in {
		d := defOf(ids[i])
		if ids[i] == idNone || d.kind != kindDecl {
			continue
		}
		if err := n.receiveKey(stage, kv, ids[i], d, first, &out, &answers[i]); err != nil {
			return Output{}, n.fail(err)
		}
	}
	if first && n.role == RoleTarget {
		if err := n.checkFirstRequest(); err != nil {
			return Output{}, n.fail(err)
		}
	}
	// Then every other key, FirstBurstLength after the keys it depends on.
	for pass := 0; pass < 2; pass++ {
		for i, kv := range in {
			id := ids[i]
			d := defOf(id)
			if id != idNone && d.kind == kindDecl {
				continue
			}
			if (id == idFirstBurstLength) != (pass == 1) {
				continue
			}
			if err := n.receiveKey(stage, kv, id, d, first, &out, &answers[i]); err != nil {
				return Output{}, n.fail(err)
			}
			if id == idNone {
				answers[i] = KeyValue{Key: kv.Key, Value: ValueNotUnderstood}
			}
		}
	}
	count := 0
	for i := range answers {
		if answers[i].Key != "" {
			count++
		}
	}
	if count > 0 {
		out.Send = make([]KeyValue, 0, count+more)
		for i := range answers {
			if answers[i].Key != "" {
				out.Send = append(out.Send, answers[i])
			}
		}
	}
	return out, nil
}

// checkRepeats fails if a key of in, whose numbers are ids, comes twice
// (TargetAddress may).
func checkRepeats(in []KeyValue, ids []keyID) error {
	var seen keySet
	var others map[string]bool // keys outside keyDefs, in a long text
	for i, kv := range in {
		id := ids[i]
		repeated := false
		switch {
		case id != idNone && id != idAuth:
			repeated = seen.has(id) && id != idTargetAddress
			seen.add(id)
		case len(in) <= 32:
			// Few keys: look back rather than build a map.
			for j := range i {
				if (ids[j] == idNone || ids[j] == idAuth) && in[j].Key == kv.Key {
					repeated = true
					break
				}
			}
		default:
			if others == nil {
				others = make(map[string]bool)
			}
			repeated = others[kv.Key]
			others[kv.Key] = true
		}
		if repeated {
			return negErr(kv.Key, kv.Value, "key repeated in one exchange")
		}
	}
	return nil
}

// checkFirstRequest enforces the keys the first Login Request must carry.
func (n *Negotiator) checkFirstRequest() error {
	// 13.5: "The initiator of the TCP connection MUST provide this key to
	// the remote endpoint at the first login of the Login Phase for every
	// connection."
	if !n.done.has(idInitiatorName) {
		return &NegotiationError{Key: KeyInitiatorName, Reason: "absent from the first Login Request", Err: ErrMissingParameter}
	}
	// 13.4: "The initiator of the TCP connection MUST provide this key to
	// the remote endpoint in the first Login Request if the initiator is
	// not establishing a Discovery session."
	if n.p.SessionType == SessionNormal && !n.done.has(idTargetName) {
		return &NegotiationError{Key: KeyTargetName, Reason: "absent from the first Login Request of a Normal session", Err: ErrMissingParameter}
	}
	return nil
}

// receiveKey handles one received key; it may set *answer.
func (n *Negotiator) receiveKey(stage Stage, kv KeyValue, id keyID, d keyDef, first bool, out *Output, answer *KeyValue) error {
	key, value := kv.Key, kv.Value
	if id == idNone {
		// 6.2: "the answer for a key not understood MUST be
		// key=NotUnderstood". This includes X- and X# extension keys.
		if n.doneOther[key] {
			return negErr(key, value, "key received twice")
		}
		if n.doneOther == nil {
			n.doneOther = make(map[string]bool)
		}
		n.doneOther[key] = true
		return nil
	}
	if id != idAuth && n.open.has(id) {
		return n.receiveAnswer(id, key, value, d, n.offers[id])
	}
	if d.kind == kindAuth {
		if stage != SecurityNegotiation {
			return negErr(key, value, "authentication key outside the security negotiation stage")
		}
		out.Auth = append(out.Auth, kv)
		return nil
	}
	if n.done.has(id) && !(id == idTargetAddress && d.kind == kindDecl) {
		// 6.2: "If such an attempt is detected by the target, the target
		// MUST respond with Login reject (initiator error); if detected by
		// the initiator, the initiator MUST drop the connection."
		return negErr(key, value, "key negotiated or declared twice in one login")
	}
	if n.role == RoleTarget && !d.fromInitiator || n.role == RoleInitiator && !d.fromTarget {
		return negErr(key, value, "key may not be sent by the %v", n.peer())
	}
	if d.kind == kindFFPO {
		return negErr(key, value, "key is valid only in the Full Feature Phase")
	}
	if stage == SecurityNegotiation && !d.security {
		return negErr(key, value, "operational key in the security negotiation stage")
	}
	if stage == LoginOperationalNegotiation && !d.operational {
		return negErr(key, value, "security key in the operational negotiation stage")
	}
	n.done.add(id)
	if d.kind == kindDecl {
		return n.declare(key, value, d, first)
	}
	a, err := n.accept(key, value, d)
	if err != nil {
		return err
	}
	*answer = KeyValue{Key: key, Value: a}
	return nil
}

func (n *Negotiator) peer() Role {
	if n.role == RoleInitiator {
		return RoleTarget
	}
	return RoleInitiator
}

// declare records a declarative key of the peer.
func (n *Negotiator) declare(key, value string, d keyDef, first bool) error {
	switch key {
	case KeyInitiatorName, KeyTargetName:
		if err := checkNameValue(key, value); err != nil {
			return &NegotiationError{Key: key, Value: value, Reason: "not an iSCSI name", Cause: err}
		}
		if key == KeyInitiatorName {
			n.p.InitiatorName = value
		} else {
			n.p.TargetName = value
		}
	case KeyInitiatorAlias:
		n.p.InitiatorAlias = value
	case KeyTargetAlias:
		n.p.TargetAlias = value
	case KeyTargetAddress:
		if value == "" {
			return negErr(key, value, "empty address")
		}
		n.p.TargetAddress = value
	case KeyTargetPortalGroupTag:
		v, err := parseRegularBinary(value)
		if err != nil || v > d.hi {
			return &NegotiationError{Key: key, Value: value, Reason: "not a 16-bit binary-value", Cause: err}
		}
		n.p.TargetPortalGroupTag = uint16(v)
	case KeyMaxRecvDataSegmentLength:
		// A declaration has no answer, so a bad value can only fail the
		// login.
		v, err := ParseNumerical(value)
		if err != nil || v < d.lo || v > d.hi {
			return &NegotiationError{Key: key, Value: value, Reason: fmt.Sprintf("want %d to %d", d.lo, d.hi), Cause: err}
		}
		if n.role == RoleTarget {
			n.p.InitiatorMaxRecvDSL = uint32(v)
		} else {
			n.p.TargetMaxRecvDSL = uint32(v)
		}
	case KeySessionType:
		if !first {
			return negErr(key, value, "SessionType must come in the first Login Request")
		}
		t, err := ParseSessionType(value)
		if err != nil {
			return &NegotiationError{Key: key, Value: value, Reason: "want Normal or Discovery", Err: ErrSessionTypeUnsupported, Cause: err}
		}
		n.p.SessionType = t
	}
	return nil
}

// accept answers a peer's offer of a negotiable key and records the
// result. Malformed and out-of-range offers are answered Reject and the key
// keeps its default; it fails only when no common value exists and we
// cannot accept the default either.
func (n *Negotiator) accept(key, value string, d keyDef) (string, error) {
	discovery := n.p.SessionType == SessionDiscovery
	switch {
	case d.discoveryIrrelevant && discovery:
		return ValueIrrelevant, nil
	case d.leadingOnly && n.cfg.NonLeading:
		return ValueIrrelevant, nil
	case key == KeyFirstBurstLength && n.p.InitialR2T && !n.p.ImmediateData:
		// 13.14: "Irrelevant when: ( InitialR2T=Yes and ImmediateData=No )"
		return ValueIrrelevant, nil
	}
	switch d.kind {
	case kindMarker:
		if _, err := ParseBoolean(value); err != nil {
			return ValueReject, nil
		}
		return ValueNo, nil
	case kindMarkInt:
		return ValueIrrelevant, nil
	case kindList:
		if !validList(value) {
			return ValueReject, nil
		}
		ours := n.supported(key)
		for rest, more := value, true; more; {
			var e string
			e, rest, more = strings.Cut(rest, ",")
			// "The responding party MUST respond with the same key and
			// the first acceptable value it supports and is allowed to use
			// for the specific originator selected from the originator
			// list."
			if slices.Contains(ours, e) {
				n.setList(key, e)
				return e, nil
			}
		}
		if def := n.defaultList(key); !slices.Contains(ours, def) {
			e := &NegotiationError{Key: key, Value: value, Reason: fmt.Sprintf("no offered value is acceptable, nor the default %s", def)}
			if key == KeyAuthMethod {
				e.Err = ErrNoAuthMethod
			}
			return "", e
		}
		return ValueReject, nil
	case kindMin, kindMax:
		v, err := ParseNumerical(value)
		if err != nil || v < d.lo || v > d.hi {
			return ValueReject, nil
		}
		ours := n.ourNumber(key)
		res := min(v, ours)
		if d.kind == kindMax {
			res = max(v, ours)
		}
		n.setNumber(key, res)
		if res == v && !isHexConstant(value) {
			// The offer as it came is the result's decimal-constant.
			return value, nil
		}
		return strconv.FormatUint(res, 10), nil
	case kindAnd, kindOr:
		b, err := ParseBoolean(value)
		if err != nil {
			return ValueReject, nil
		}
		ours := n.ourBool(key)
		res := b && ours
		if d.kind == kindOr {
			res = b || ours
		}
		n.setBool(key, res)
		return FormatBoolean(res), nil
	}
	return ValueReject, nil
}

// receiveAnswer checks the peer's answer to our offer o.
func (n *Negotiator) receiveAnswer(id keyID, key, value string, d keyDef, o offer) error {
	n.open.del(id)
	n.offers[id] = offer{}
	n.done.add(id)
	switch value {
	case ValueReject, ValueIrrelevant, ValueNotUnderstood:
		// The key keeps its default; fail if we cannot live with it.
		if d.kind == kindList {
			def := n.defaultList(key)
			if !slices.Contains(n.supported(key), def) {
				e := &NegotiationError{Key: key, Value: value, Reason: fmt.Sprintf("answer leaves the default %s, which we do not accept", def)}
				if key == KeyAuthMethod {
					e.Err = ErrNoAuthMethod
				}
				return e
			}
			n.setList(key, def)
		}
		return nil
	}
	bad := func(format string, args ...any) error {
		return negErr(key, value, "answer to our offer %q: "+format, append([]any{o.value}, args...)...)
	}
	switch d.kind {
	case kindList:
		// "The selection of a value not admissible under the selection
		// rules is considered a negotiation failure"
		if !listHolds(o.value, value) {
			return bad("not one of the offered values")
		}
		n.setList(key, value)
	case kindMin, kindMax:
		v, err := ParseNumerical(value)
		if err != nil || v < d.lo || v > d.hi {
			return bad("want a number from %d to %d", d.lo, d.hi)
		}
		mine, _ := ParseNumerical(o.value)
		if d.kind == kindMin && v > mine {
			return bad("larger than offered, result function is Minimum")
		}
		if d.kind == kindMax && v < mine {
			return bad("smaller than offered, result function is Maximum")
		}
		n.setNumber(key, v)
	case kindAnd, kindOr:
		b, err := ParseBoolean(value)
		if err != nil {
			return bad("want Yes or No")
		}
		if d.kind == kindAnd && o.value == ValueNo && b {
			return bad("Yes answers No, result function is AND")
		}
		if d.kind == kindOr && o.value == ValueYes && !b {
			return bad("No answers Yes, result function is OR")
		}
		n.setBool(key, b)
	}
	return nil
}

// supported returns our acceptable values of a list key.
func (n *Negotiator) supported(key string) []string {
	switch key {
	case KeyHeaderDigest:
		return n.cfg.HeaderDigests
	case KeyDataDigest:
		return n.cfg.DataDigests
	case KeyAuthMethod:
		return n.cfg.AuthMethods
	case KeyTaskReporting:
		if n.cfg.TaskReporting == nil {
			return listRFC3720
		}
		return n.cfg.TaskReporting
	}
	return nil
}

func (n *Negotiator) defaultList(key string) string {
	if key == KeyTaskReporting {
		return TaskReportingRFC3720
	}
	return ValueNone
}

func (n *Negotiator) setList(key, v string) {
	switch key {
	case KeyHeaderDigest:
		n.p.HeaderDigest = v == DigestValueCRC32C
	case KeyDataDigest:
		n.p.DataDigest = v == DigestValueCRC32C
	case KeyAuthMethod:
		n.p.AuthMethod = v
	case KeyTaskReporting:
		n.p.TaskReporting = v
	}
}

// ourNumber is our side of a numerical key: a ceiling for Minimum keys, a
// floor for Maximum keys.
func (n *Negotiator) ourNumber(key string) uint64 {
	c := &n.cfg
	switch key {
	case KeyMaxConnections:
		return uint64(c.MaxConnections)
	case KeyMaxBurstLength:
		return uint64(c.MaxBurstLength)
	case KeyFirstBurstLength:
		// 13.14: "FirstBurstLength MUST NOT exceed MaxBurstLength."
		return uint64(min(c.FirstBurstLength, n.p.MaxBurstLength))
	case KeyDefaultTime2Wait:
		return uint64(c.DefaultTime2Wait)
	case KeyDefaultTime2Retain:
		return uint64(c.DefaultTime2Retain)
	case KeyMaxOutstandingR2T:
		return uint64(c.MaxOutstandingR2T)
	case KeyErrorRecoveryLevel:
		return uint64(c.MaxErrorRecoveryLevel)
	case KeyISCSIProtocolLevel:
		return uint64(c.ProtocolLevel)
	}
	return 0
}

func (n *Negotiator) setNumber(key string, v uint64) {
	switch key {
	case KeyMaxConnections:
		n.p.MaxConnections = uint32(v)
	case KeyMaxBurstLength:
		n.p.MaxBurstLength = uint32(v)
	case KeyFirstBurstLength:
		n.p.FirstBurstLength = uint32(v)
	case KeyDefaultTime2Wait:
		n.p.DefaultTime2Wait = uint32(v)
	case KeyDefaultTime2Retain:
		n.p.DefaultTime2Retain = uint32(v)
	case KeyMaxOutstandingR2T:
		n.p.MaxOutstandingR2T = uint32(v)
	case KeyErrorRecoveryLevel:
		n.p.ErrorRecoveryLevel = uint8(v)
	case KeyISCSIProtocolLevel:
		n.p.ISCSIProtocolLevel = uint8(v)
	}
}

// ourBool is our wish for a boolean key.
func (n *Negotiator) ourBool(key string) bool {
	switch key {
	case KeyInitialR2T:
		return !n.cfg.NoInitialR2T
	case KeyImmediateData:
		return !n.cfg.NoImmediateData
	case KeyDataPDUInOrder:
		return !n.cfg.NoDataPDUInOrder
	case KeyDataSequenceInOrder:
		return !n.cfg.NoDataSequenceInOrder
	}
	return false
}

func (n *Negotiator) setBool(key string, v bool) {
	switch key {
	case KeyInitialR2T:
		n.p.InitialR2T = v
	case KeyImmediateData:
		n.p.ImmediateData = v
	case KeyDataPDUInOrder:
		n.p.DataPDUInOrder = v
	case KeyDataSequenceInOrder:
		n.p.DataSequenceInOrder = v
	}
}

// Offer returns our declarations and offers for a Login PDU we send in
// stage, each made once per login: the names and SessionType (initiator)
// or TargetPortalGroupTag and TargetAlias (target) in the first PDU,
// AuthMethod in the security stage, MaxRecvDataSegmentLength and the
// operational keys in the operational stage. An initiator offers every
// operational key; a target offers only those whose default it cannot
// accept. After an error Offer returns nil.
func (n *Negotiator) Offer(stage Stage) []KeyValue {
	return n.appendOffer(nil, stage)
}

// maxOfferKeys bounds the keys one call of Offer returns.
const maxOfferKeys = 24

// appendOffer appends to kvs what Offer returns.
func (n *Negotiator) appendOffer(kvs []KeyValue, stage Stage) []KeyValue {
	if n.err != nil {
		return kvs
	}
	c := &n.cfg
	if n.role == RoleInitiator {
		kvs = n.declare1(kvs, idInitiatorName, KeyInitiatorName, c.InitiatorName)
		if c.InitiatorAlias != "" {
			kvs = n.declare1(kvs, idInitiatorAlias, KeyInitiatorAlias, c.InitiatorAlias)
		}
		if !c.NonLeading {
			kvs = n.declare1(kvs, idSessionType, KeySessionType, c.SessionType.String())
		}
		if c.SessionType == SessionNormal {
			kvs = n.declare1(kvs, idTargetName, KeyTargetName, c.TargetName)
		}
	} else if n.p.SessionType == SessionNormal && n.done.has(idTargetName) {
		// 13.9: "The iSCSI target returns this key to the initiator in the
		// Login Response PDU to the first Login Request PDU that has the C
		// bit set to 0 when TargetName is given by the initiator."
		if !n.sent.has(idTargetPortalGroupTag) {
			kvs = n.declare1(kvs, idTargetPortalGroupTag, KeyTargetPortalGroupTag, strconv.FormatUint(uint64(c.TargetPortalGroupTag), 10))
		}
		if c.TargetAlias != "" {
			kvs = n.declare1(kvs, idTargetAlias, KeyTargetAlias, c.TargetAlias)
		}
	}
	switch stage {
	case SecurityNegotiation:
		kvs = n.offerList(kvs, idAuthMethod, KeyAuthMethod, c.AuthMethods)
	case LoginOperationalNegotiation:
		kvs = n.offerList(kvs, idHeaderDigest, KeyHeaderDigest, c.HeaderDigests)
		kvs = n.offerList(kvs, idDataDigest, KeyDataDigest, c.DataDigests)
		if !n.sent.has(idMaxRecvDataSegmentLength) {
			// Our declaration binds the peer from now on.
			if n.role == RoleInitiator {
				n.p.InitiatorMaxRecvDSL = c.MaxRecvDataSegmentLength
			} else {
				n.p.TargetMaxRecvDSL = c.MaxRecvDataSegmentLength
			}
			kvs = n.declare1(kvs, idMaxRecvDataSegmentLength, KeyMaxRecvDataSegmentLength, strconv.FormatUint(uint64(c.MaxRecvDataSegmentLength), 10))
		}
		kvs = n.offerNumber(kvs, idMaxConnections, KeyMaxConnections, uint64(c.MaxConnections), DefaultMaxConnections)
		kvs = n.offerBool(kvs, idInitialR2T, KeyInitialR2T, !c.NoInitialR2T, true)
		kvs = n.offerBool(kvs, idImmediateData, KeyImmediateData, !c.NoImmediateData, true)
		kvs = n.offerNumber(kvs, idMaxBurstLength, KeyMaxBurstLength, uint64(c.MaxBurstLength), DefaultMaxBurstLength)
		kvs = n.offerNumber(kvs, idFirstBurstLength, KeyFirstBurstLength, uint64(min(c.FirstBurstLength, c.MaxBurstLength)), DefaultFirstBurstLength)
		kvs = n.offerNumber(kvs, idDefaultTime2Wait, KeyDefaultTime2Wait, uint64(c.DefaultTime2Wait), DefaultDefaultTime2Wait)
		kvs = n.offerNumber(kvs, idDefaultTime2Retain, KeyDefaultTime2Retain, uint64(c.DefaultTime2Retain), DefaultDefaultTime2Retain)
		kvs = n.offerNumber(kvs, idMaxOutstandingR2T, KeyMaxOutstandingR2T, uint64(c.MaxOutstandingR2T), DefaultMaxOutstandingR2T)
		kvs = n.offerBool(kvs, idDataPDUInOrder, KeyDataPDUInOrder, !c.NoDataPDUInOrder, true)
		kvs = n.offerBool(kvs, idDataSequenceInOrder, KeyDataSequenceInOrder, !c.NoDataSequenceInOrder, true)
		kvs = n.offerNumber(kvs, idErrorRecoveryLevel, KeyErrorRecoveryLevel, uint64(c.MaxErrorRecoveryLevel), 0)
		if c.ProtocolLevel > 0 && n.role == RoleInitiator && n.mayPropose(idISCSIProtocolLevel) {
			kvs = n.propose(kvs, idISCSIProtocolLevel, KeyISCSIProtocolLevel, strconv.FormatUint(uint64(c.ProtocolLevel), 10))
		}
		if c.TaskReporting != nil {
			kvs = n.offerList(kvs, idTaskReporting, KeyTaskReporting, c.TaskReporting)
		}
	}
	return kvs
}

// appendKey appends key=value to kvs, making room for a whole Offer at
// once.
func appendKey(kvs []KeyValue, key, value string) []KeyValue {
	if len(kvs) == cap(kvs) {
		kvs = slices.Grow(kvs, maxOfferKeys)
	}
	return append(kvs, KeyValue{Key: key, Value: value})
}

// declare1 appends our declaration key=value, made once per login.
func (n *Negotiator) declare1(kvs []KeyValue, id keyID, key, value string) []KeyValue {
	if n.sent.has(id) {
		return kvs
	}
	n.sent.add(id)
	return appendKey(kvs, key, value)
}

// mayPropose reports whether we are to offer the key id: not offered or
// negotiated yet, and not irrelevant.
func (n *Negotiator) mayPropose(id keyID) bool {
	if n.sent.has(id) || n.done.has(id) {
		return false
	}
	d := keyDefs[id]
	if d.leadingOnly && n.cfg.NonLeading || d.discoveryIrrelevant && n.p.SessionType == SessionDiscovery {
		return false
	}
	return !(id == idFirstBurstLength && n.p.InitialR2T && !n.p.ImmediateData)
}

// propose appends our offer key=value (mayPropose holds) and records it.
func (n *Negotiator) propose(kvs []KeyValue, id keyID, key, value string) []KeyValue {
	d := keyDefs[id]
	n.sent.add(id)
	required := !(d.kind == kindAnd && value == ValueNo || d.kind == kindOr && value == ValueYes)
	n.offers[id] = offer{value: value, required: required}
	n.open.add(id)
	if !required {
		// The result is fixed whatever the answer.
		b, _ := ParseBoolean(value)
		n.setBool(key, b)
	}
	return appendKey(kvs, key, value)
}

// offerList proposes a list key; a target only when it cannot accept the
// default.
func (n *Negotiator) offerList(kvs []KeyValue, id keyID, key string, vals []string) []KeyValue {
	if n.role == RoleTarget && slices.Contains(vals, n.defaultList(key)) || !n.mayPropose(id) {
		return kvs
	}
	return n.propose(kvs, id, key, strings.Join(vals, ","))
}

// offerNumber proposes a numerical key; a target only when it cannot
// accept the default def.
func (n *Negotiator) offerNumber(kvs []KeyValue, id keyID, key string, v, def uint64) []KeyValue {
	d := keyDefs[id]
	if n.role == RoleTarget && (d.kind == kindMin && v >= def || d.kind == kindMax && v <= def) || !n.mayPropose(id) {
		return kvs
	}
	return n.propose(kvs, id, key, strconv.FormatUint(v, 10))
}

// offerBool proposes a boolean key; a target only when its wish v is not
// the default def.
func (n *Negotiator) offerBool(kvs []KeyValue, id keyID, key string, v, def bool) []KeyValue {
	if n.role == RoleTarget && v == def || !n.mayPropose(id) {
		return kvs
	}
	return n.propose(kvs, id, key, FormatBoolean(v))
}

// validList reports whether ParseList accepts s: every element non-empty
// and at most MaxValueLength bytes.
func validList(s string) bool {
	for rest, more := s, true; more; {
		var e string
		e, rest, more = strings.Cut(rest, ",")
		if e == "" || len(e) > MaxValueLength {
			return false
		}
	}
	return true
}

// listHolds reports whether the comma-separated list holds v.
func listHolds(list, v string) bool {
	for rest, more := list, true; more; {
		var e string
		e, rest, more = strings.Cut(rest, ",")
		if e == v {
			return true
		}
	}
	return false
}

// isHexConstant reports whether s has the prefix of a hex-constant.
func isHexConstant(s string) bool {
	return len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
}
