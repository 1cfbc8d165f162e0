package iscsi

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// CHAP for iSCSI: RFC 7143 section 12.1.3 carries the CHAP exchange of RFC
// 1994 in login text keys, with the security rules of section 9.2.1.
//
// Target side:                          Initiator side:
//
//	<- CHAP_A=<A1,A2,...>                  CHAP_A=<A1,A2,...> ->
//	-> CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>    <- CHAP_A=<A> CHAP_I=<I> CHAP_C=<C>
//	<- CHAP_N=<N> CHAP_R=<R>               CHAP_N=<N> CHAP_R=<R>
//	   [CHAP_I=<I> CHAP_C=<C>]                [CHAP_I=<I> CHAP_C=<C>] ->
//	[-> CHAP_N=<N> CHAP_R=<R>]             [<- CHAP_N=<N> CHAP_R=<R>]
//
// The response is R = H(I || secret || C) (RFC 1994 section 4.1: "the
// Identifier, followed by the secret, followed by the Challenge Value").
//
// Callers take the CHAP_* pairs (KeyValue, from the Negotiator's
// Output.Auth) from, and put them into, the login text data with the text
// codec; everything here is plain strings and bytes, with no I/O.

// The CHAP text keys of RFC 7143 section 12.1.3.
const (
	chapKeyA = "CHAP_A"
	chapKeyI = "CHAP_I"
	chapKeyC = "CHAP_C"
	chapKeyN = "CHAP_N"
	chapKeyR = "CHAP_R"
)

// Limits on CHAP values.
const (
	// MaxCHAPBinaryLen is the longest CHAP_C or CHAP_R value in bytes. RFC
	// 7143 section 12.1.3: "Their binary length (not the length of the
	// character string that represents them in encoded form) MUST NOT
	// exceed 1024 bytes."
	MaxCHAPBinaryLen = 1024
	// MaxCHAPNameLen is the longest CHAP_N value in bytes: the 255-byte
	// limit RFC 7143 section 6.1 sets on a text value.
	MaxCHAPNameLen = 255
	// MinCHAPSecretLen is the shortest CHAP secret accepted unless the
	// caller says IPsec protects the connection. RFC 7143 section 9.2.1:
	// "A compliant implementation SHOULD NOT continue with the login step
	// in which it should send a CHAP response (CHAP_R) unless it can
	// verify that the CHAP secret is at least 96 bits or that IPsec
	// encryption is being used to protect the connection."
	MinCHAPSecretLen = 96 / 8
	// MaxCHAPSecretLen is the longest CHAP secret accepted: lunar's bound,
	// well above the 128 bits RFC 7143 section 9.2.1 says implementations
	// MUST support.
	MaxCHAPSecretLen = 255
	// maxCHAPAlgorithms bounds the number of entries in a CHAP_A list.
	maxCHAPAlgorithms = 255
)

// CHAP errors. Every error from a CHAP exchange wraps exactly one of
// ErrCHAPAuthFailed, ErrCHAPMissingKey or ErrCHAPProtocol, which
// CHAPLoginError maps to a login status, and usually a more specific
// sentinel below them as well; match with errors.Is.
var (
	// ErrCHAPAuthFailed means authentication failed: wrong response,
	// unknown name, no common algorithm, a reflected challenge, a secret
	// shared by both directions, a replay. Login status 0x0201.
	ErrCHAPAuthFailed = errors.New("iscsi: CHAP authentication failed")
	// ErrCHAPMissingKey means a CHAP key that the step requires is absent.
	// Login status 0x0207.
	ErrCHAPMissingKey = errors.New("iscsi: CHAP key missing")
	// ErrCHAPProtocol means the peer broke the CHAP exchange: a malformed
	// value, an unexpected or repeated key, a step out of order. Login
	// status 0x0200.
	ErrCHAPProtocol = errors.New("iscsi: CHAP protocol error")

	// ErrCHAPValue means a CHAP value is not well formed.
	ErrCHAPValue = errors.New("iscsi: malformed CHAP value")
	// ErrCHAPAlgorithm means an algorithm is unsupported or not agreed.
	ErrCHAPAlgorithm = errors.New("iscsi: CHAP algorithm not supported")
	// ErrCHAPChallengeLength means a challenge is shorter or longer than
	// allowed.
	ErrCHAPChallengeLength = errors.New("iscsi: CHAP challenge length not allowed")
	// ErrCHAPReflection means the peer sent back a challenge this side
	// sent.
	ErrCHAPReflection = errors.New("iscsi: CHAP challenge reflected")
	// ErrCHAPReplay means a challenge was answered twice.
	ErrCHAPReplay = errors.New("iscsi: CHAP challenge already used")
	// ErrCHAPSameSecret means the same secret is in use in both
	// directions.
	ErrCHAPSameSecret = errors.New("iscsi: CHAP secret used in both directions")
	// ErrCHAPSecret means a configured secret breaks the rules of
	// ValidateCHAPSecret.
	ErrCHAPSecret = errors.New("iscsi: CHAP secret not allowed")
)

// CHAPLoginError returns the Login Response status for an error from a
// CHAP exchange: Authentication failure (0x0201) for ErrCHAPAuthFailed,
// Missing parameter (0x0207) for ErrCHAPMissingKey, Initiator error
// (0x0200) for ErrCHAPProtocol, Target error (0x0300) for any other error,
// and nil for nil.
func CHAPLoginError(err error) *LoginError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrCHAPAuthFailed):
		return &LoginError{Class: LoginClassInitiatorError, Detail: LoginDetailAuthenticationFailure}
	case errors.Is(err, ErrCHAPMissingKey):
		return &LoginError{Class: LoginClassInitiatorError, Detail: LoginDetailMissingParameter}
	case errors.Is(err, ErrCHAPProtocol):
		return &LoginError{Class: LoginClassInitiatorError, Detail: LoginDetailInitiatorError}
	}
	return &LoginError{Class: LoginClassTargetError, Detail: LoginDetailTargetError}
}

// chapErr wraps a class sentinel and a specific sentinel with a message.
func chapErr(class, specific error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if specific == nil {
		return fmt.Errorf("%w: %s", class, msg)
	}
	return fmt.Errorf("%w: %w: %s", class, specific, msg)
}

// CHAPAlgorithm is a CHAP hash algorithm number, from the IANA "PPP
// Authentication Algorithms" registry that RFC 1994 and RFC 7143 section
// 12.1.3 refer to. RFC 7143 defines only 5 (MD5); 6 (SHA-1), 7 (SHA-256)
// and 8 (SHA3-256) are the registry's numbers as Linux LIO
// (drivers/target/iscsi/iscsi_target_auth.h: CHAP_DIGEST_SHA256 7,
// CHAP_DIGEST_SHA3_256 8) and open-iscsi use them. RFC 8906 is unrelated
// (DNS); no iSCSI RFC assigns 7 or 8.
type CHAPAlgorithm uint8

// The CHAP algorithms.
const (
	// CHAPMD5 is CHAP with MD5. RFC 7143 section 12.1.3: "one value is
	// required to be implemented: 5 (CHAP with MD5)".
	CHAPMD5 CHAPAlgorithm = 5
	// CHAPSHA1 is CHAP with SHA-1. Recognised but never offered, chosen or
	// accepted.
	CHAPSHA1 CHAPAlgorithm = 6
	// CHAPSHA256 is CHAP with SHA-256.
	CHAPSHA256 CHAPAlgorithm = 7
	// CHAPSHA3_256 is CHAP with SHA3-256.
	CHAPSHA3_256 CHAPAlgorithm = 8
)

// DefaultCHAPAlgorithms returns the algorithms used when a configuration
// lists none, strongest first: SHA3-256, SHA-256, MD5.
func DefaultCHAPAlgorithms() []CHAPAlgorithm {
	return []CHAPAlgorithm{CHAPSHA3_256, CHAPSHA256, CHAPMD5}
}

// String returns the algorithm's name.
func (a CHAPAlgorithm) String() string {
	switch a {
	case CHAPMD5:
		return "MD5"
	case CHAPSHA1:
		return "SHA-1"
	case CHAPSHA256:
		return "SHA-256"
	case CHAPSHA3_256:
		return "SHA3-256"
	}
	return fmt.Sprintf("CHAPAlgorithm(%d)", uint8(a))
}

// Supported reports whether lunar implements the algorithm: MD5, SHA-256
// and SHA3-256. SHA-1 is not supported.
func (a CHAPAlgorithm) Supported() bool {
	return a == CHAPMD5 || a == CHAPSHA256 || a == CHAPSHA3_256
}

// Hash returns a new hash for the algorithm, or nil if it is not
// Supported.
func (a CHAPAlgorithm) Hash() hash.Hash {
	switch a {
	case CHAPMD5:
		return md5.New()
	case CHAPSHA256:
		return sha256.New()
	case CHAPSHA3_256:
		return sha3.New256()
	}
	return nil
}

// Size returns the digest size in bytes, the length of a CHAP_R value, or
// 0 if the algorithm is not Supported.
func (a CHAPAlgorithm) Size() int {
	switch a {
	case CHAPMD5:
		return md5.Size
	case CHAPSHA256:
		return sha256.Size
	case CHAPSHA3_256:
		return 32
	}
	return 0
}

// ParseCHAPAlgorithmList decodes a CHAP_A value: a comma-separated list of
// numerical values (decimal-constant or hex-constant, as ParseNumerical
// reads them) in the sender's order of preference.
// Numbers above 255 cannot name an algorithm and are dropped; unsupported
// algorithms are kept, for ChooseCHAPAlgorithm to skip. Errors wrap
// ErrCHAPProtocol and ErrCHAPValue.
func ParseCHAPAlgorithmList(value string) ([]CHAPAlgorithm, error) {
	if value == "" {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "empty CHAP_A")
	}
	if n := strings.Count(value, ",") + 1; n > maxCHAPAlgorithms {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_A lists %d values, want at most %d", n, maxCHAPAlgorithms)
	}
	var algs []CHAPAlgorithm
	for v := range strings.SplitSeq(value, ",") {
		n, err := parseCHAPNumber(v)
		if err != nil {
			return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_A value %q: %v", v, err)
		}
		if n <= 255 {
			algs = append(algs, CHAPAlgorithm(n))
		}
	}
	return algs, nil
}

// FormatCHAPAlgorithmList encodes algs as a CHAP_A value, e.g. "7,5".
func FormatCHAPAlgorithmList(algs []CHAPAlgorithm) string {
	var b strings.Builder
	for i, a := range algs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(a)))
	}
	return b.String()
}

// ChooseCHAPAlgorithm returns the first algorithm of offered (the
// initiator's order of preference) that is Supported and in allowed; nil
// allowed means DefaultCHAPAlgorithms. RFC 7143 section 6.2.1: the
// responder answers with "the first value from the list that it supports
// and is allowed to use". With no such algorithm the error wraps
// ErrCHAPAuthFailed and ErrCHAPAlgorithm.
func ChooseCHAPAlgorithm(offered, allowed []CHAPAlgorithm) (CHAPAlgorithm, error) {
	if allowed == nil {
		allowed = DefaultCHAPAlgorithms()
	}
	for _, a := range offered {
		if !a.Supported() {
			continue
		}
		for _, b := range allowed {
			if a == b {
				return a, nil
			}
		}
	}
	return 0, chapErr(ErrCHAPAuthFailed, ErrCHAPAlgorithm, "no acceptable algorithm in %q (accepting %q)",
		FormatCHAPAlgorithmList(offered), FormatCHAPAlgorithmList(allowed))
}

// parseCHAPNumber decodes a numerical CHAP value (CHAP_A entries, CHAP_I)
// with the text codec's ParseNumerical: a decimal-constant or a 0x
// hex-constant (RFC 7143 section 6.1).
func parseCHAPNumber(s string) (uint64, error) {
	return ParseNumerical(s)
}

// parseCHAPIdentifier decodes a CHAP_I value: a number 0-255.
func parseCHAPIdentifier(s string) (uint8, error) {
	n, err := parseCHAPNumber(s)
	if err != nil {
		return 0, chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_I %q: %v", s, err)
	}
	if n > 255 {
		return 0, chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_I %d, want 0-255", n)
	}
	return uint8(n), nil
}

// ParseCHAPBinary decodes a CHAP_C or CHAP_R binary value: "0x" or "0X"
// followed by hex digits in either case, or "0b" or "0B" followed by base64
// (RFC 7143 section 6.1; "Hex or Base64 encoding may be used for C and R",
// section 12.1.3), decoded with the text codec's ParseBinary: an odd
// number of hex digits reads as if it had a leading 0, and base64 may omit
// its padding. The value must hold 1 to MaxCHAPBinaryLen bytes; the
// encoded length is checked before anything is allocated. Errors wrap
// ErrCHAPProtocol and ErrCHAPValue.
func ParseCHAPBinary(s string) ([]byte, error) {
	if len(s) < 3 || s[0] != '0' {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "binary value %.16q needs a 0x or 0b prefix and digits", s)
	}
	body := s[2:]
	switch s[1] {
	case 'x', 'X':
		if len(body) > 2*MaxCHAPBinaryLen {
			return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "hex value of %d digits, want at most %d", len(body), 2*MaxCHAPBinaryLen)
		}
	case 'b', 'B':
		if n := base64.StdEncoding.EncodedLen(MaxCHAPBinaryLen); len(body) > n {
			return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "base64 value of %d characters, want at most %d", len(body), n)
		}
	default:
		// RFC 7143 section 12.1.3: "Hex or Base64 encoding may be used for
		// C and R"; a decimal-constant binary-value is not.
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "binary value %.16q needs a 0x or 0b prefix", s)
	}
	b, err := ParseBinary(s)
	if err != nil {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "%v", err)
	}
	if len(b) == 0 || len(b) > MaxCHAPBinaryLen {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "binary value of %d bytes, want 1-%d", len(b), MaxCHAPBinaryLen)
	}
	return b, nil
}

// FormatCHAPBinary encodes b as a CHAP binary value: "0x" and lower-case
// hex.
func FormatCHAPBinary(b []byte) string {
	return "0x" + hex.EncodeToString(b)
}

// checkCHAPName checks a CHAP_N value: 1 to MaxCHAPNameLen bytes of UTF-8
// without NUL.
func checkCHAPName(n string) error {
	if n == "" || len(n) > MaxCHAPNameLen {
		return chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_N of %d bytes, want 1-%d", len(n), MaxCHAPNameLen)
	}
	if !utf8.ValidString(n) || strings.IndexByte(n, 0) >= 0 {
		return chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_N %q is not a text value", n)
	}
	return nil
}

// ValidateCHAPSecret checks a CHAP secret against RFC 7143 section 9.2.1:
// at least MinCHAPSecretLen bytes (96 bits) and at most MaxCHAPSecretLen.
// "CHAP secrets MUST be an integral number of bytes (octets)" holds for any
// []byte. Errors wrap ErrCHAPSecret.
func ValidateCHAPSecret(secret []byte) error {
	if len(secret) < MinCHAPSecretLen {
		return fmt.Errorf("%w: %d bytes, want at least %d (96 bits)", ErrCHAPSecret, len(secret), MinCHAPSecretLen)
	}
	if len(secret) > MaxCHAPSecretLen {
		return fmt.Errorf("%w: %d bytes, want at most %d", ErrCHAPSecret, len(secret), MaxCHAPSecretLen)
	}
	return nil
}

// checkSecret applies ValidateCHAPSecret, or only a non-empty check when
// short secrets are allowed (IPsec protects the connection).
func checkSecret(secret []byte, allowShort bool) error {
	if allowShort {
		if len(secret) == 0 || len(secret) > MaxCHAPSecretLen {
			return fmt.Errorf("%w: %d bytes, want 1-%d", ErrCHAPSecret, len(secret), MaxCHAPSecretLen)
		}
		return nil
	}
	return ValidateCHAPSecret(secret)
}

// CHAPResponse computes the CHAP response H(id || secret || challenge)
// (RFC 1994 section 4.1) with the algorithm alg. It returns nil if alg is
// not Supported.
func CHAPResponse(alg CHAPAlgorithm, id uint8, secret, challenge []byte) []byte {
	h := alg.Hash()
	if h == nil {
		return nil
	}
	h.Write([]byte{id})
	h.Write(secret)
	h.Write(challenge)
	return h.Sum(nil)
}

// checkChallengeLen checks the length of a challenge received from the
// peer: at least min (0 means the digest size of alg) and at most
// MaxCHAPBinaryLen.
func checkChallengeLen(alg CHAPAlgorithm, c []byte, minLen int) error {
	if minLen <= 0 {
		minLen = alg.Size()
	}
	if len(c) < minLen || len(c) > MaxCHAPBinaryLen {
		return chapErr(ErrCHAPProtocol, ErrCHAPChallengeLength, "challenge of %d bytes, want %d-%d", len(c), minLen, MaxCHAPBinaryLen)
	}
	return nil
}

// CHAPChallenger is the authenticator's side of one CHAP challenge: it
// holds the identifier and challenge it sent and checks the one response
// to them. A CHAPChallenger is single use: after one Verify, successful or
// not, every further Verify fails with ErrCHAPReplay.
type CHAPChallenger struct {
	alg       CHAPAlgorithm
	id        uint8
	challenge []byte
	ownSecret []byte
	used      bool
}

// NewCHAPChallenger draws a random identifier and a random challenge as
// long as the algorithm's digest (16 bytes for MD5, 32 for SHA-256 and
// SHA3-256) from r; nil r means crypto/rand.Reader. RFC 1994 section 2.3:
// each challenge value "SHOULD be unique" and "SHOULD also be
// unpredictable". The error wraps ErrCHAPAlgorithm for an unsupported
// algorithm, or is the reader's error.
func NewCHAPChallenger(alg CHAPAlgorithm, r io.Reader) (*CHAPChallenger, error) {
	if !alg.Supported() {
		return nil, fmt.Errorf("%w: %v", ErrCHAPAlgorithm, alg)
	}
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, 1+alg.Size())
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("iscsi: CHAP challenge: %w", err)
	}
	return &CHAPChallenger{alg: alg, id: buf[0], challenge: buf[1:]}, nil
}

// Algorithm returns the challenge's algorithm.
func (c *CHAPChallenger) Algorithm() CHAPAlgorithm { return c.alg }

// Identifier returns the CHAP identifier, the CHAP_I value.
func (c *CHAPChallenger) Identifier() uint8 { return c.id }

// Challenge returns a copy of the challenge, the CHAP_C value.
func (c *CHAPChallenger) Challenge() []byte { return bytes.Clone(c.challenge) }

// Keys returns the CHAP_I and CHAP_C pairs that carry the challenge.
func (c *CHAPChallenger) Keys() []KeyValue {
	return []KeyValue{
		{Key: chapKeyI, Value: strconv.Itoa(int(c.id))},
		{Key: chapKeyC, Value: FormatCHAPBinary(c.challenge)},
	}
}

// IsReflection reports whether challenge, received from the peer, equals
// the challenge this side sent.
func (c *CHAPChallenger) IsReflection(challenge []byte) bool {
	return bytes.Equal(challenge, c.challenge)
}

// SetOwnSecret records the secret this side answers the peer's challenge
// with in mutual CHAP. Verify then refuses a response that this secret
// would produce: RFC 7143 section 9.2.1, "If the CHAP response received by
// one end of an iSCSI connection is the same as the CHAP response that the
// receiving endpoint would have generated for the same CHAP challenge, the
// response MUST be treated as an authentication failure".
func (c *CHAPChallenger) SetOwnSecret(secret []byte) { c.ownSecret = bytes.Clone(secret) }

// Verify checks the peer's CHAP_N name and encoded CHAP_R response against
// the secret this side holds for that name. It compares in constant time.
// Errors wrap ErrCHAPAuthFailed (wrong response, empty secret, replay,
// same secret in both directions) or ErrCHAPProtocol (malformed name or
// response).
func (c *CHAPChallenger) Verify(name, response string, secret []byte) error {
	if c.used {
		return chapErr(ErrCHAPAuthFailed, ErrCHAPReplay, "challenge %d already answered", c.id)
	}
	c.used = true
	if err := checkCHAPName(name); err != nil {
		return err
	}
	r, err := ParseCHAPBinary(response)
	if err != nil {
		return err
	}
	if len(secret) == 0 {
		return chapErr(ErrCHAPAuthFailed, ErrCHAPSecret, "no secret for %q", name)
	}
	if len(r) != c.alg.Size() {
		return chapErr(ErrCHAPAuthFailed, nil, "response of %d bytes from %q, want %d", len(r), name, c.alg.Size())
	}
	if len(c.ownSecret) > 0 {
		own := CHAPResponse(c.alg, c.id, c.ownSecret, c.challenge)
		if subtle.ConstantTimeCompare(own, r) == 1 {
			return chapErr(ErrCHAPAuthFailed, ErrCHAPSameSecret, "%q answered with this side's own secret", name)
		}
	}
	want := CHAPResponse(c.alg, c.id, secret, c.challenge)
	if subtle.ConstantTimeCompare(want, r) != 1 {
		return chapErr(ErrCHAPAuthFailed, nil, "wrong response from %q", name)
	}
	return nil
}

// chapKeys collects the CHAP_* pairs of one step: it ignores keys that do
// not start with "CHAP_", refuses a key sent twice and a CHAP key not in
// allowed.
func chapKeys(in []KeyValue, allowed ...string) (map[string]string, error) {
	m := make(map[string]string, len(allowed))
	for _, kv := range in {
		if !strings.HasPrefix(kv.Key, "CHAP_") {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || kv.Key == a
		}
		if !ok {
			return nil, chapErr(ErrCHAPProtocol, nil, "unexpected key %.32q at this step", kv.Key)
		}
		if _, dup := m[kv.Key]; dup {
			return nil, chapErr(ErrCHAPProtocol, nil, "key %s sent twice", kv.Key)
		}
		m[kv.Key] = kv.Value
	}
	return m, nil
}

// requireKeys returns ErrCHAPMissingKey naming the first absent key.
func requireKeys(m map[string]string, keys ...string) error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return chapErr(ErrCHAPMissingKey, nil, "%s", k)
		}
	}
	return nil
}

// checkAlgorithms validates a configured algorithm list.
func checkAlgorithms(algs []CHAPAlgorithm) error {
	if len(algs) == 0 {
		return fmt.Errorf("%w: empty list", ErrCHAPAlgorithm)
	}
	for _, a := range algs {
		if !a.Supported() {
			return fmt.Errorf("%w: %v", ErrCHAPAlgorithm, a)
		}
	}
	return nil
}

// chapState is the step an exchange expects next.
type chapState uint8

const (
	chapStart chapState = iota
	chapWantChallenge
	chapWantResponse
	chapDone
	chapFailed
)

// CHAPTargetConfig configures the target's side of a CHAP exchange.
type CHAPTargetConfig struct {
	// Algorithms lists the algorithms the target accepts; the initiator's
	// order of preference decides among them. Nil means
	// DefaultCHAPAlgorithms.
	Algorithms []CHAPAlgorithm
	// InitiatorSecret returns the secret of the initiator that calls
	// itself name in CHAP_N, or false if there is none. Required.
	InitiatorSecret func(name string) (secret []byte, ok bool)
	// Name is the target's CHAP_N in mutual CHAP.
	Name string
	// Secret is the target's own secret for mutual CHAP. Empty means the
	// target refuses to authenticate itself, and an initiator that asks
	// for mutual CHAP fails with ErrCHAPAuthFailed.
	Secret []byte
	// MinChallengeLen is the shortest initiator challenge accepted in
	// mutual CHAP. Zero means the digest size of the chosen algorithm.
	MinChallengeLen int
	// AllowShortSecret accepts secrets shorter than MinCHAPSecretLen, for
	// connections that IPsec protects.
	AllowShortSecret bool
	// Rand is the source of identifiers and challenges. Nil means
	// crypto/rand.Reader.
	Rand io.Reader
}

// CHAPTargetExchange is the target's side of one CHAP exchange, a state
// machine with no I/O: feed it the initiator's CHAP keys of each login
// step with Step and send back what it returns. It is not safe for
// concurrent use.
type CHAPTargetExchange struct {
	cfg           CHAPTargetConfig
	state         chapState
	challenger    *CHAPChallenger
	initiatorName string
	mutual        bool
}

// NewCHAPTargetExchange validates cfg and starts an exchange. Errors wrap
// ErrCHAPAlgorithm or ErrCHAPSecret.
func NewCHAPTargetExchange(cfg CHAPTargetConfig) (*CHAPTargetExchange, error) {
	if cfg.Algorithms == nil {
		cfg.Algorithms = DefaultCHAPAlgorithms()
	} else {
		cfg.Algorithms = append([]CHAPAlgorithm(nil), cfg.Algorithms...)
	}
	if err := checkAlgorithms(cfg.Algorithms); err != nil {
		return nil, err
	}
	if cfg.InitiatorSecret == nil {
		return nil, errors.New("iscsi: CHAPTargetConfig.InitiatorSecret is nil")
	}
	if len(cfg.Secret) > 0 {
		if err := checkSecret(cfg.Secret, cfg.AllowShortSecret); err != nil {
			return nil, err
		}
		if err := checkCHAPName(cfg.Name); err != nil {
			return nil, fmt.Errorf("iscsi: CHAPTargetConfig.Name: %w", err)
		}
		cfg.Secret = bytes.Clone(cfg.Secret)
	}
	if cfg.MinChallengeLen > MaxCHAPBinaryLen {
		return nil, fmt.Errorf("%w: MinChallengeLen %d above %d", ErrCHAPChallengeLength, cfg.MinChallengeLen, MaxCHAPBinaryLen)
	}
	return &CHAPTargetExchange{cfg: cfg}, nil
}

// Step consumes the CHAP keys of one Login Request (keys not starting with
// "CHAP_" are ignored) and returns the CHAP keys for the Login Response.
//
// First step: the initiator's CHAP_A; the answer is CHAP_A, CHAP_I,
// CHAP_C. Second step: CHAP_N and CHAP_R, plus CHAP_I and CHAP_C when the
// initiator asks the target to authenticate itself; the answer is empty,
// or CHAP_N and CHAP_R in mutual CHAP, and Done reports true.
//
// An error ends the exchange: the target rejects the login with the
// status CHAPLoginError(err).
func (x *CHAPTargetExchange) Step(in []KeyValue) ([]KeyValue, error) {
	var out []KeyValue
	var err error
	switch x.state {
	case chapStart:
		out, err = x.stepAlgorithm(in)
	case chapWantResponse:
		out, err = x.stepResponse(in)
	default:
		err = chapErr(ErrCHAPProtocol, nil, "CHAP exchange already finished")
	}
	if err != nil {
		x.state = chapFailed
		return nil, err
	}
	return out, nil
}

// stepAlgorithm answers the initiator's CHAP_A with CHAP_A, CHAP_I and
// CHAP_C.
func (x *CHAPTargetExchange) stepAlgorithm(in []KeyValue) ([]KeyValue, error) {
	m, err := chapKeys(in, chapKeyA)
	if err != nil {
		return nil, err
	}
	if err := requireKeys(m, chapKeyA); err != nil {
		return nil, err
	}
	offered, err := ParseCHAPAlgorithmList(m[chapKeyA])
	if err != nil {
		return nil, err
	}
	alg, err := ChooseCHAPAlgorithm(offered, x.cfg.Algorithms)
	if err != nil {
		return nil, err
	}
	c, err := NewCHAPChallenger(alg, x.cfg.Rand)
	if err != nil {
		return nil, err
	}
	if len(x.cfg.Secret) > 0 {
		c.SetOwnSecret(x.cfg.Secret)
	}
	x.challenger = c
	x.state = chapWantResponse
	// RFC 7143 section 12.1.3: "the target MUST answer with a CHAP_A=<A>
	// key, where A is the algorithm selected, followed by: CHAP_I=<I>,
	// CHAP_C=<C>".
	return append([]KeyValue{{Key: chapKeyA, Value: strconv.Itoa(int(alg))}}, c.Keys()...), nil
}

// stepResponse verifies CHAP_N and CHAP_R and, in mutual CHAP, answers the
// initiator's CHAP_I and CHAP_C.
func (x *CHAPTargetExchange) stepResponse(in []KeyValue) ([]KeyValue, error) {
	m, err := chapKeys(in, chapKeyN, chapKeyR, chapKeyI, chapKeyC)
	if err != nil {
		return nil, err
	}
	if err := requireKeys(m, chapKeyN, chapKeyR); err != nil {
		return nil, err
	}
	_, hasI := m[chapKeyI]
	_, hasC := m[chapKeyC]
	if hasI != hasC {
		// Target authentication needs both: "CHAP_N=<N>, CHAP_R=<R>,
		// CHAP_I=<I>, CHAP_C=<C>".
		return nil, requireKeys(m, chapKeyI, chapKeyC)
	}
	name := m[chapKeyN]
	if err := checkCHAPName(name); err != nil {
		return nil, err
	}
	// Decode the mutual-CHAP challenge before anything is verified, so a
	// malformed step is a protocol error whatever the response.
	var peerID uint8
	var peerChallenge []byte
	if hasI {
		if peerID, err = parseCHAPIdentifier(m[chapKeyI]); err != nil {
			return nil, err
		}
		if peerChallenge, err = ParseCHAPBinary(m[chapKeyC]); err != nil {
			return nil, err
		}
		if err := checkChallengeLen(x.challenger.alg, peerChallenge, x.cfg.MinChallengeLen); err != nil {
			return nil, err
		}
	}
	secret, ok := x.cfg.InitiatorSecret(name)
	if !ok || len(secret) == 0 {
		x.challenger.used = true
		return nil, chapErr(ErrCHAPAuthFailed, nil, "unknown CHAP name %q", name)
	}
	if err := checkSecret(secret, x.cfg.AllowShortSecret); err != nil {
		x.challenger.used = true
		return nil, chapErr(ErrCHAPAuthFailed, err, "secret configured for %q", name)
	}
	// RFC 7143 section 9.2.1: "Any CHAP secret used for initiator
	// authentication MUST NOT be configured for authentication of any
	// target".
	if len(x.cfg.Secret) > 0 && bytes.Equal(secret, x.cfg.Secret) {
		x.challenger.used = true
		return nil, chapErr(ErrCHAPAuthFailed, ErrCHAPSameSecret, "initiator %q has the target's secret", name)
	}
	// "If the initiator authentication fails, the target MUST answer with
	// a Login reject with 'Authentication Failure' status."
	if err := x.challenger.Verify(name, m[chapKeyR], secret); err != nil {
		return nil, err
	}
	x.initiatorName = name
	if !hasI {
		x.state = chapDone
		return nil, nil
	}
	// "Otherwise, if the initiator required target authentication, the
	// target MUST either answer with a Login reject with 'Authentication
	// Failure' or reply with: CHAP_N=<N>, CHAP_R=<R>".
	if len(x.cfg.Secret) == 0 {
		return nil, chapErr(ErrCHAPAuthFailed, nil, "initiator %q asks for target authentication, no target secret configured", name)
	}
	// RFC 7143 section 9.2.1: "Originators MUST NOT reuse the CHAP
	// challenge sent by the Responder for the other direction of a
	// bidirectional authentication. Responders MUST check for this
	// condition and close the iSCSI TCP connection if it occurs."
	if x.challenger.IsReflection(peerChallenge) {
		return nil, chapErr(ErrCHAPAuthFailed, ErrCHAPReflection, "initiator %q sent back the target's challenge", name)
	}
	x.mutual = true
	x.state = chapDone
	r := CHAPResponse(x.challenger.alg, peerID, x.cfg.Secret, peerChallenge)
	return []KeyValue{
		{Key: chapKeyN, Value: x.cfg.Name},
		{Key: chapKeyR, Value: FormatCHAPBinary(r)},
	}, nil
}

// Done reports whether the initiator has been authenticated (and, in
// mutual CHAP, the target's answer produced).
func (x *CHAPTargetExchange) Done() bool { return x.state == chapDone }

// Mutual reports whether the initiator asked the target to authenticate
// itself and the target answered.
func (x *CHAPTargetExchange) Mutual() bool { return x.mutual }

// InitiatorName returns the authenticated CHAP_N, or "" before Done.
func (x *CHAPTargetExchange) InitiatorName() string {
	if x.state != chapDone {
		return ""
	}
	return x.initiatorName
}

// Algorithm returns the chosen algorithm, or 0 before the first Step.
func (x *CHAPTargetExchange) Algorithm() CHAPAlgorithm {
	if x.challenger == nil {
		return 0
	}
	return x.challenger.alg
}

// CHAPInitiatorConfig configures the initiator's side of a CHAP exchange.
type CHAPInitiatorConfig struct {
	// Algorithms lists the algorithms offered, in order of preference.
	// Nil means DefaultCHAPAlgorithms. The list must include CHAPMD5: RFC
	// 7143 section 12.1.3, "To guarantee interoperability, initiators MUST
	// always offer it as one of the proposed algorithms."
	Algorithms []CHAPAlgorithm
	// Name is the initiator's CHAP_N. Required.
	Name string
	// Secret is the initiator's secret. Required.
	Secret []byte
	// TargetSecret, when set, asks the target to authenticate itself
	// (mutual CHAP) with this secret. It must differ from Secret.
	TargetSecret []byte
	// TargetName, when set, is the CHAP_N the target must answer with in
	// mutual CHAP.
	TargetName string
	// MinChallengeLen is the shortest target challenge accepted. Zero
	// means the digest size of the chosen algorithm.
	MinChallengeLen int
	// AllowShortSecret accepts secrets shorter than MinCHAPSecretLen, for
	// connections that IPsec protects.
	AllowShortSecret bool
	// Rand is the source of the mutual-CHAP identifier and challenge. Nil
	// means crypto/rand.Reader.
	Rand io.Reader
}

// CHAPInitiatorExchange is the initiator's side of one CHAP exchange, a
// state machine with no I/O: send the keys Start returns, then feed the
// target's CHAP keys of each Login Response to Step and send what it
// returns. It is not safe for concurrent use.
type CHAPInitiatorExchange struct {
	cfg        CHAPInitiatorConfig
	state      chapState
	alg        CHAPAlgorithm
	challenger *CHAPChallenger
}

// NewCHAPInitiatorExchange validates cfg and returns an exchange ready to
// Start. Errors wrap ErrCHAPAlgorithm, ErrCHAPSecret or ErrCHAPSameSecret,
// or ErrCHAPValue for a bad name.
func NewCHAPInitiatorExchange(cfg CHAPInitiatorConfig) (*CHAPInitiatorExchange, error) {
	if cfg.Algorithms == nil {
		cfg.Algorithms = DefaultCHAPAlgorithms()
	} else {
		cfg.Algorithms = append([]CHAPAlgorithm(nil), cfg.Algorithms...)
	}
	if err := checkAlgorithms(cfg.Algorithms); err != nil {
		return nil, err
	}
	hasMD5 := false
	for _, a := range cfg.Algorithms {
		hasMD5 = hasMD5 || a == CHAPMD5
	}
	if !hasMD5 {
		return nil, fmt.Errorf("%w: initiators MUST always offer MD5 (5), list is %q", ErrCHAPAlgorithm, FormatCHAPAlgorithmList(cfg.Algorithms))
	}
	if err := checkCHAPName(cfg.Name); err != nil {
		return nil, fmt.Errorf("iscsi: CHAPInitiatorConfig.Name: %w", err)
	}
	if err := checkSecret(cfg.Secret, cfg.AllowShortSecret); err != nil {
		return nil, err
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	if len(cfg.TargetSecret) > 0 {
		if err := checkSecret(cfg.TargetSecret, cfg.AllowShortSecret); err != nil {
			return nil, err
		}
		// RFC 7143 section 9.2.1: "Any CHAP secret used for initiator
		// authentication MUST NOT be configured for authentication of
		// any target".
		if bytes.Equal(cfg.Secret, cfg.TargetSecret) {
			return nil, fmt.Errorf("%w: initiator and target secrets are equal", ErrCHAPSameSecret)
		}
		cfg.TargetSecret = bytes.Clone(cfg.TargetSecret)
	}
	if cfg.MinChallengeLen > MaxCHAPBinaryLen {
		return nil, fmt.Errorf("%w: MinChallengeLen %d above %d", ErrCHAPChallengeLength, cfg.MinChallengeLen, MaxCHAPBinaryLen)
	}
	return &CHAPInitiatorExchange{cfg: cfg}, nil
}

// Start returns the first CHAP keys to send: CHAP_A with the offered
// algorithms. RFC 7143 section 12.1.3: "the initiator MUST use:
// CHAP_A=<A1,A2...>".
func (x *CHAPInitiatorExchange) Start() ([]KeyValue, error) {
	if x.state != chapStart {
		x.state = chapFailed
		return nil, chapErr(ErrCHAPProtocol, nil, "CHAP exchange already started")
	}
	x.state = chapWantChallenge
	return []KeyValue{{Key: chapKeyA, Value: FormatCHAPAlgorithmList(x.cfg.Algorithms)}}, nil
}

// Step consumes the target's CHAP keys of one Login Response and returns
// the keys for the next Login Request.
//
// First step: CHAP_A, CHAP_I, CHAP_C; the answer is CHAP_N and CHAP_R,
// plus CHAP_I and CHAP_C in mutual CHAP. In one-way CHAP the exchange is
// then Done and the target's Login Response status tells the outcome.
// Second step (mutual CHAP only): the target's CHAP_N and CHAP_R; Done
// reports true once they verify. RFC 7143 section 12.1.3: "If the target
// authentication fails, the initiator MUST abort the connection".
func (x *CHAPInitiatorExchange) Step(in []KeyValue) ([]KeyValue, error) {
	var out []KeyValue
	var err error
	switch x.state {
	case chapWantChallenge:
		out, err = x.stepChallenge(in)
	case chapWantResponse:
		err = x.stepResponse(in)
	case chapStart:
		err = chapErr(ErrCHAPProtocol, nil, "Step before Start")
	default:
		err = chapErr(ErrCHAPProtocol, nil, "CHAP exchange already finished")
	}
	if err != nil {
		x.state = chapFailed
		return nil, err
	}
	return out, nil
}

// stepChallenge answers the target's CHAP_A, CHAP_I and CHAP_C.
func (x *CHAPInitiatorExchange) stepChallenge(in []KeyValue) ([]KeyValue, error) {
	m, err := chapKeys(in, chapKeyA, chapKeyI, chapKeyC)
	if err != nil {
		return nil, err
	}
	if err := requireKeys(m, chapKeyA, chapKeyI, chapKeyC); err != nil {
		return nil, err
	}
	if v := m[chapKeyA]; v == "Reject" || v == "NotUnderstood" || v == "Irrelevant" {
		return nil, chapErr(ErrCHAPAuthFailed, ErrCHAPAlgorithm, "target answered CHAP_A=%s", v)
	}
	n, err := parseCHAPNumber(m[chapKeyA])
	if err != nil {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPValue, "CHAP_A %.32q: %v", m[chapKeyA], err)
	}
	offered := false
	for _, a := range x.cfg.Algorithms {
		offered = offered || uint64(a) == n
	}
	if !offered {
		return nil, chapErr(ErrCHAPProtocol, ErrCHAPAlgorithm, "target chose CHAP_A=%d, not offered", n)
	}
	x.alg = CHAPAlgorithm(n)
	id, err := parseCHAPIdentifier(m[chapKeyI])
	if err != nil {
		return nil, err
	}
	challenge, err := ParseCHAPBinary(m[chapKeyC])
	if err != nil {
		return nil, err
	}
	if err := checkChallengeLen(x.alg, challenge, x.cfg.MinChallengeLen); err != nil {
		return nil, err
	}
	out := []KeyValue{
		{Key: chapKeyN, Value: x.cfg.Name},
		{Key: chapKeyR, Value: FormatCHAPBinary(CHAPResponse(x.alg, id, x.cfg.Secret, challenge))},
	}
	if len(x.cfg.TargetSecret) == 0 {
		x.state = chapDone
		return out, nil
	}
	// RFC 7143 section 9.2.1: "Originators MUST NOT reuse the CHAP
	// challenge sent by the Responder for the other direction of a
	// bidirectional authentication." A fresh random challenge equal to
	// the target's is drawn again.
	var c *CHAPChallenger
	for range 3 {
		if c, err = NewCHAPChallenger(x.alg, x.cfg.Rand); err != nil {
			return nil, err
		}
		if !c.IsReflection(challenge) {
			break
		}
	}
	if c.IsReflection(challenge) {
		return nil, fmt.Errorf("iscsi: CHAP: random source keeps repeating the target's challenge")
	}
	c.SetOwnSecret(x.cfg.Secret)
	x.challenger = c
	x.state = chapWantResponse
	return append(out, c.Keys()...), nil
}

// stepResponse verifies the target's CHAP_N and CHAP_R in mutual CHAP.
func (x *CHAPInitiatorExchange) stepResponse(in []KeyValue) error {
	m, err := chapKeys(in, chapKeyN, chapKeyR)
	if err != nil {
		return err
	}
	if err := requireKeys(m, chapKeyN, chapKeyR); err != nil {
		return err
	}
	name := m[chapKeyN]
	if err := checkCHAPName(name); err != nil {
		return err
	}
	if x.cfg.TargetName != "" && name != x.cfg.TargetName {
		x.challenger.used = true
		return chapErr(ErrCHAPAuthFailed, nil, "target calls itself %q, want %q", name, x.cfg.TargetName)
	}
	if err := x.challenger.Verify(name, m[chapKeyR], x.cfg.TargetSecret); err != nil {
		return err
	}
	x.state = chapDone
	return nil
}

// Done reports whether this side's part of the exchange is complete: the
// response has been sent in one-way CHAP, or the target's response has
// been verified in mutual CHAP.
func (x *CHAPInitiatorExchange) Done() bool { return x.state == chapDone }

// Algorithm returns the algorithm the target chose, or 0 before it did.
func (x *CHAPInitiatorExchange) Algorithm() CHAPAlgorithm { return x.alg }
