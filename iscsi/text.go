package iscsi

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The text of Login and Text PDUs (RFC 7143 section 6.1): the data segment
// is a sequence of UTF-8 key=value pairs, each followed by one NUL.
//
//	+-----------------------------+---+-----------------------------+---+
//	| key-name "=" value          | 0 | key-name "=" value          | 0 | ...
//	+-----------------------------+---+-----------------------------+---+
//
// A pair may be split across several PDUs with the C bit; TextAccumulator
// joins the pieces and TextReader parses the whole.

// Limits of the text format (RFC 7143 section 6.1).
const (
	// MaxKeyNameLength is the longest key name: "A standard-label MUST
	// begin with a capital letter and must not exceed 63 characters."
	MaxKeyNameLength = 63
	// MaxValueLength is the longest simple value: "If not otherwise
	// specified, the maximum length of a simple-value (not its encoded
	// representation) is 255 bytes, not including the delimiter (comma or
	// zero byte)."
	MaxValueLength = 255
	// DefaultMaxTextLength is the default bound of a whole text exchange
	// that TextAccumulator joins: "When proposing or accepting
	// authentication methods that explicitly require support for very long
	// authentication items, the initiator and target MUST support receiving
	// of at least 64 kilobytes of key=value data."
	DefaultMaxTextLength = 64 << 10
	// MinMaxTextLength is the smallest bound TextAccumulator accepts: "Any
	// iSCSI target or initiator MUST support receiving at least 8192 bytes
	// of key=value data in a negotiation sequence."
	MinMaxTextLength = 8192
)

// Errors of the text codec. Each is wrapped with %w and the offending key,
// length or offset; match them with errors.Is.
var (
	// ErrTextFormat means the text is not a sequence of NUL-terminated
	// key=value pairs: a pair has no '=', the last pair has no NUL, or the
	// text is not UTF-8.
	ErrTextFormat = errors.New("iscsi: malformed key=value text")
	// ErrTextKey means a key name is empty, longer than 63 bytes or holds
	// a character the RFC does not allow.
	ErrTextKey = errors.New("iscsi: invalid text key name")
	// ErrTextValueLength means a value is longer than its key allows.
	ErrTextValueLength = errors.New("iscsi: text value too long")
	// ErrTextValue means a value does not parse as the type it must have
	// (boolean, number, range, list, name).
	ErrTextValue = errors.New("iscsi: invalid text value")
	// ErrTextTooLong means continued text grew beyond the accumulator's
	// bound.
	ErrTextTooLong = errors.New("iscsi: text exceeds bound")
	// ErrTextDuplicateKey means a key appears twice where it may appear
	// once.
	ErrTextDuplicateKey = errors.New("iscsi: duplicate text key")
)

// KeyValue is one key=value pair of login or text negotiation.
type KeyValue struct {
	// Key is the key name, e.g. "MaxBurstLength".
	Key string
	// Value is the value as sent, e.g. "262144".
	Value string
}

// String returns "key=value".
func (kv KeyValue) String() string { return kv.Key + "=" + kv.Value }

// valueClass says how long a key's value may be.
type valueClass uint8

const (
	// classSimple: the whole value is at most MaxValueLength bytes.
	classSimple valueClass = iota
	// classList: each comma-separated element is at most MaxValueLength
	// bytes ("not including the delimiter (comma or zero byte)").
	classList
	// classLarge: a large-binary-value of an authentication method, whose
	// binary length the method bounds (CHAP: 1024 bytes, RFC 7143 section
	// 12.1.3); here only the text bound applies.
	classLarge
)

func classOf(key string) valueClass {
	switch key {
	// The keys whose value is a large-binary-value (RFC 7143 section
	// 12.1: "C and R are large-binary-values"; SRP and Kerberos items
	// likewise).
	case "CHAP_C", "CHAP_R",
		"SRP_s", "SRP_A", "SRP_B", "SRP_M", "SRP_HM",
		"KRB_AP_REQ", "KRB_AP_REP":
		return classLarge
	// The keys whose value is a list-of-values.
	case KeyHeaderDigest, KeyDataDigest, KeyAuthMethod, KeyTaskReporting,
		"CHAP_A", "SRP_GROUP":
		return classList
	}
	return classSimple
}

// ValidKeyName reports whether s is a key name the RFC allows: 1 to 63
// bytes of letters, digits, '.', '-', '+', '@' and '_', starting with a
// letter; a public extension key "X#name" may also hold the '#' after the
// X (RFC 7143 section 13.22).
func ValidKeyName(s string) bool { return checkKeyName(s) == nil }

func checkKeyName(s string) error {
	// "A standard-label MUST begin with a capital letter and must not
	// exceed 63 characters." RFC 7144's own key iSCSIProtocolLevel begins
	// with a lower-case letter, so any letter is accepted first.
	if len(s) == 0 {
		return fmt.Errorf("%w: empty key name", ErrTextKey)
	}
	if len(s) > MaxKeyNameLength {
		return fmt.Errorf("%w: key name of %d bytes, at most %d allowed", ErrTextKey, len(s), MaxKeyNameLength)
	}
	if !isLetter(s[0]) {
		return fmt.Errorf("%w: key name %q does not start with a letter", ErrTextKey, s)
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if isLetter(c) || isDigit(c) || c == '.' || c == '-' || c == '+' || c == '@' || c == '_' {
			continue
		}
		if c == '#' && i == 1 && s[0] == 'X' {
			continue
		}
		return fmt.Errorf("%w: key name %q holds byte 0x%02x at %d", ErrTextKey, s, c, i)
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// checkValue enforces the length limit of key's value.
func checkValue(key, value string) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("%w: value of %s is not UTF-8", ErrTextFormat, key)
	}
	switch classOf(key) {
	case classLarge:
		return nil
	case classList:
		for i, e := 0, 0; ; i++ {
			n := strings.IndexByte(value[e:], ',')
			end := len(value)
			if n >= 0 {
				end = e + n
			}
			if end-e > MaxValueLength {
				return fmt.Errorf("%w: element %d of %s is %d bytes, at most %d allowed",
					ErrTextValueLength, i, key, end-e, MaxValueLength)
			}
			if n < 0 {
				return nil
			}
			e = end + 1
		}
	}
	if len(value) > MaxValueLength {
		return fmt.Errorf("%w: value of %s is %d bytes, at most %d allowed", ErrTextValueLength, key, len(value), MaxValueLength)
	}
	return nil
}

// TextReader iterates over the key=value pairs of a complete text data
// segment. It stops at the first malformed pair and keeps the error:
//
//	r := iscsi.NewTextReader(data)
//	for r.Next() {
//		use(r.Key(), r.Value())
//	}
//	if err := r.Err(); err != nil { ... }
//
// Keys and values are copies; they stay valid after data changes.
type TextReader struct {
	// text is one copy of the whole text: keys and values are its
	// substrings, with no copy of their own.
	text  string
	off   int
	key   string
	value string
	err   error
}

// NewTextReader returns a reader over data, the whole text (after joining
// continued PDUs).
func NewTextReader(data []byte) *TextReader { return &TextReader{text: string(data)} }

// Next advances to the next pair and reports whether there is one. It
// returns false at the end of the text or at the first error.
func (r *TextReader) Next() bool {
	if r.err != nil || r.off >= len(r.text) {
		return false
	}
	rest := r.text[r.off:]
	n := strings.IndexByte(rest, 0)
	if n < 0 {
		// "Every key=value pair, including the last or only pair in a
		// LTDS, MUST be followed by one null (0x00) delimiter."
		r.err = fmt.Errorf("%w: %d bytes at offset %d not terminated by NUL", ErrTextFormat, len(rest), r.off)
		return false
	}
	pair := rest[:n]
	key, value, ok := strings.Cut(pair, "=")
	if !ok {
		r.err = fmt.Errorf("%w: pair at offset %d has no '='", ErrTextFormat, r.off)
		return false
	}
	if err := checkKeyName(key); err != nil {
		r.err = fmt.Errorf("at offset %d: %w", r.off, err)
		return false
	}
	if err := checkValue(key, value); err != nil {
		r.err = fmt.Errorf("at offset %d: %w", r.off, err)
		return false
	}
	r.key, r.value = key, value
	r.off += n + 1
	return true
}

// Key returns the current pair's key name.
func (r *TextReader) Key() string { return r.key }

// Value returns the current pair's value.
func (r *TextReader) Value() string { return r.value }

// Err returns the first error met, or nil at a clean end.
func (r *TextReader) Err() error { return r.err }

// ParseText parses a whole text data segment into its pairs, in order. A
// key may appear once: "Neither the initiator nor the target should attempt
// to declare or negotiate a parameter more than once during login"
// (RFC 7143 section 6.2). A SendTargets response repeats TargetName and
// TargetAddress by design; read it with a TextReader.
func ParseText(data []byte) ([]KeyValue, error) {
	var kvs []KeyValue
	seen := make(map[string]bool)
	r := NewTextReader(data)
	for r.Next() {
		if seen[r.Key()] {
			return nil, fmt.Errorf("%w: %s", ErrTextDuplicateKey, r.Key())
		}
		seen[r.Key()] = true
		kvs = append(kvs, KeyValue{Key: r.Key(), Value: r.Value()})
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return kvs, nil
}

// AppendText appends key=value and its NUL to b. It does not check the pair;
// use TextBuilder to check while encoding.
func AppendText(b []byte, key, value string) []byte {
	b = append(b, key...)
	b = append(b, '=')
	b = append(b, value...)
	return append(b, 0)
}

// AppendPairs appends every pair of kvs to b with AppendText.
func AppendPairs(b []byte, kvs []KeyValue) []byte {
	n := len(b)
	for _, kv := range kvs {
		n += len(kv.Key) + len(kv.Value) + 2 // '=' and NUL
	}
	b = slices.Grow(b, n-len(b)) // grown at most once
	for _, kv := range kvs {
		b = AppendText(b, kv.Key, kv.Value)
	}
	return b
}

// TextBuilder encodes pairs, checking each key name and value length. The
// first error sticks and is returned by Bytes. The zero value is ready.
type TextBuilder struct {
	buf []byte
	err error
}

// Add appends key=value.
func (tb *TextBuilder) Add(key, value string) {
	if tb.err != nil {
		return
	}
	if err := checkKeyName(key); err != nil {
		tb.err = err
		return
	}
	if strings.IndexByte(value, 0) >= 0 {
		tb.err = fmt.Errorf("%w: value of %s holds NUL", ErrTextFormat, key)
		return
	}
	if err := checkValue(key, value); err != nil {
		tb.err = err
		return
	}
	tb.buf = AppendText(tb.buf, key, value)
}

// AddUint appends key=v in decimal.
func (tb *TextBuilder) AddUint(key string, v uint64) { tb.Add(key, strconv.FormatUint(v, 10)) }

// AddBool appends key=Yes or key=No.
func (tb *TextBuilder) AddBool(key string, v bool) { tb.Add(key, FormatBoolean(v)) }

// AddList appends key=v1,v2,...
func (tb *TextBuilder) AddList(key string, values []string) { tb.Add(key, strings.Join(values, ",")) }

// Bytes returns the encoded text or the first error.
func (tb *TextBuilder) Bytes() ([]byte, error) { return tb.buf, tb.err }

// TextAccumulator joins the data segments of a sequence of Login or Text
// PDUs linked by the C bit: "Key=value pairs may span PDU boundaries. An
// initiator or target that sends partial key=value text within a PDU
// indicates that more text follows by setting the C bit" (RFC 7143 section
// 6.3). It copies each segment, so a Framer's buffer may be reused.
type TextAccumulator struct {
	buf      []byte
	max      int
	err      error
	complete bool
}

// NewTextAccumulator returns an accumulator bounded to max bytes; max of 0
// means DefaultMaxTextLength, and a max below MinMaxTextLength is raised to
// it.
func NewTextAccumulator(max int) *TextAccumulator {
	if max == 0 {
		max = DefaultMaxTextLength
	}
	if max < MinMaxTextLength {
		max = MinMaxTextLength
	}
	return &TextAccumulator{max: max}
}

// Add appends one PDU's data segment; cont is the PDU's C bit. When cont is
// false the text is complete: Add returns it (valid until the next Add or
// Reset) and done is true, and the next Add starts a new text. An error
// sticks until Reset.
func (a *TextAccumulator) Add(segment []byte, cont bool) (text []byte, done bool, err error) {
	if a.err != nil {
		return nil, false, a.err
	}
	if a.max == 0 {
		a.max = DefaultMaxTextLength
	}
	if a.complete {
		a.buf = a.buf[:0]
		a.complete = false
	}
	if len(segment) > a.max-len(a.buf) {
		a.err = fmt.Errorf("%w: %d bytes after %d, bound %d", ErrTextTooLong, len(segment), len(a.buf), a.max)
		return nil, false, a.err
	}
	a.buf = append(a.buf, segment...)
	if cont {
		return nil, false, nil
	}
	a.complete = true
	return a.buf, true, nil
}

// Len returns the number of bytes held for the text not yet complete.
func (a *TextAccumulator) Len() int {
	if a.complete {
		return 0
	}
	return len(a.buf)
}

// Reset drops partial text and any error.
func (a *TextAccumulator) Reset() {
	a.buf = a.buf[:0]
	a.err = nil
	a.complete = false
}

// SplitText cuts text into chunks of at most max bytes, each to be sent
// in one PDU whose C bit is set on all chunks but the last. Pairs may be
// cut anywhere (RFC 7143 section 6.3). Empty text gives one empty chunk.
// The chunks share text's memory. max must be positive.
func SplitText(text []byte, max int) ([][]byte, error) {
	if max <= 0 {
		return nil, fmt.Errorf("%w: chunk size %d, want > 0", ErrDataSegmentLength, max)
	}
	if len(text) == 0 {
		return [][]byte{text}, nil
	}
	chunks := make([][]byte, 0, (len(text)+max-1)/max)
	for len(text) > 0 {
		n := min(max, len(text))
		chunks = append(chunks, text[:n:n])
		text = text[n:]
	}
	return chunks, nil
}

// Reserved values (RFC 7143 section 6.2): "The constants "None", "Reject",
// "Irrelevant", and "NotUnderstood" are reserved and MUST only be used as
// described here."
const (
	ValueNone          = "None"
	ValueReject        = "Reject"
	ValueIrrelevant    = "Irrelevant"
	ValueNotUnderstood = "NotUnderstood"
	ValueYes           = "Yes"
	ValueNo            = "No"
)

// ParseBoolean parses a boolean-value, "Yes" or "No".
func ParseBoolean(s string) (bool, error) {
	switch s {
	case ValueYes:
		return true, nil
	case ValueNo:
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not Yes or No", ErrTextValue, s)
}

// FormatBoolean returns "Yes" or "No".
func FormatBoolean(b bool) string {
	if b {
		return ValueYes
	}
	return ValueNo
}

// ParseNumerical parses a numerical-value: a decimal-constant ("digit 1-9
// followed by any number of digits 0-9 or a single 0") or a hex-constant
// ("0x" or "0X" then hex digits), less than 2^64.
func ParseNumerical(s string) (uint64, error) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil || s[2] == '+' || s[2] == '-' || strings.IndexByte(s, '_') >= 0 {
			return 0, fmt.Errorf("%w: %q is not a hex-constant below 2^64", ErrTextValue, s)
		}
		return v, nil
	}
	if s == "" || s[0] == '0' && len(s) > 1 {
		return 0, fmt.Errorf("%w: %q is not a decimal-constant", ErrTextValue, s)
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, fmt.Errorf("%w: %q is not a decimal-constant", ErrTextValue, s)
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not below 2^64", ErrTextValue, s)
	}
	return v, nil
}

// ParseNumericRange parses a numeric-range "lo~hi": "Two numerical-values
// separated by a tilde where the value to the right of the tilde must not
// be lower than the value to the left."
func ParseNumericRange(s string) (lo, hi uint64, err error) {
	a, b, ok := strings.Cut(s, "~")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q is not a numeric-range", ErrTextValue, s)
	}
	if lo, err = ParseNumerical(a); err != nil {
		return 0, 0, err
	}
	if hi, err = ParseNumerical(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("%w: range %q ends below its start", ErrTextValue, s)
	}
	return lo, hi, nil
}

// ParseBinary parses a binary-value: a hex-constant (one byte per two
// digits, "a hex-constant of n hexadecimal digits has a byte-length of (the
// integral part of) (n+1)/2"), a base64-constant ("0b" or "0B" then RFC 4648
// base64), or a decimal-constant (8 bytes, big-endian).
func ParseBinary(s string) ([]byte, error) {
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			h := s[2:]
			out := make([]byte, (len(h)+1)/2)
			// An odd count puts the implicit leading zero nibble first.
			j := len(h) % 2
			for i := 0; i < len(h); i++ {
				nib, ok := hexNibble(h[i])
				if !ok {
					return nil, fmt.Errorf("%w: %q is not a hex-constant", ErrTextValue, s)
				}
				k := (i + j) / 2
				if (i+j)%2 == 0 {
					out[k] = nib << 4
				} else {
					out[k] |= nib
				}
			}
			return out, nil
		case 'b', 'B':
			b64 := s[2:]
			out, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				out, err = base64.RawStdEncoding.DecodeString(b64)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %q is not a base64-constant", ErrTextValue, s)
			}
			return out, nil
		}
	}
	v, err := ParseNumerical(s)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		out[i] = byte(v)
		v >>= 8
	}
	return out, nil
}

func hexNibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseRegularBinary parses a regular-binary-value (at most 64 bits) into a
// number, for keys such as TargetPortalGroupTag.
func parseRegularBinary(s string) (uint64, error) {
	b, err := ParseBinary(s)
	if err != nil {
		return 0, err
	}
	// Leading zero bytes do not count against the 64 bits.
	for len(b) > 8 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: %q is longer than 64 bits", ErrTextValue, s)
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

// ParseList splits a list-of-values at its commas. Every element must be
// non-empty and at most MaxValueLength bytes.
func ParseList(s string) ([]string, error) {
	elems := strings.Split(s, ",")
	for i, e := range elems {
		if e == "" {
			return nil, fmt.Errorf("%w: element %d of list %q is empty", ErrTextValue, i, s)
		}
		if len(e) > MaxValueLength {
			return nil, fmt.Errorf("%w: element %d is %d bytes, at most %d allowed", ErrTextValueLength, i, len(e), MaxValueLength)
		}
	}
	return elems, nil
}

// ValidTextValue reports whether s is a text-value: "A string of zero or
// more characters that consist of letters, digits, dot, minus, plus,
// commercial at, underscore, slash, left bracket, right bracket, or colon."
func ValidTextValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isLetter(c) || isDigit(c) || strings.IndexByte(".-+@_/[]:", c) >= 0) {
			return false
		}
	}
	return true
}

// maxISCSINameLength is the longest iSCSI name (RFC 7143 section 4.2.7.1:
// "up to 223 bytes").
const maxISCSINameLength = 223

// checkNameValue checks an iSCSI-name-value loosely: non-empty, at most 223
// bytes, UTF-8 without control characters or spaces. The names code checks
// the iqn./eui./naa. formats.
func checkNameValue(key, s string) error {
	if s == "" || len(s) > maxISCSINameLength {
		return fmt.Errorf("%w: %s of %d bytes, want 1 to %d", ErrTextValue, key, len(s), maxISCSINameLength)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == utf8.RuneError || r == ',' {
			return fmt.Errorf("%w: %s %q holds %q", ErrTextValue, key, s, r)
		}
	}
	return nil
}
