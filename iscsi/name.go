package iscsi

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidName means a string is not a valid iSCSI name (RFC 7143 section
// 4.2.7, RFC 3722).
var ErrInvalidName = errors.New("iscsi: invalid iSCSI name")

// MaxNameLen is the longest iSCSI name in bytes, after normalisation. RFC
// 7143 section 4.2.7.1: iSCSI names are encoded in UTF-8 and are "not
// larger than 223 bytes".
const MaxNameLen = 223

// maxNameInputLen bounds the input looked at before normalisation, which
// can only shrink a valid name slightly (characters mapped to nothing).
const maxNameInputLen = 4 * MaxNameLen

// NameType is the type designator of an iSCSI name.
type NameType uint8

// The three iSCSI name types of RFC 7143 section 4.2.7.2.
const (
	// NameIQN is "iqn." followed by a date code yyyy-mm, a dot, the
	// reversed domain name of the naming authority and an optional
	// ":"-prefixed string, e.g. iqn.2001-04.com.example:storage.disk1.
	NameIQN NameType = iota + 1
	// NameEUI is "eui." followed by an EUI-64 identifier as 16 hex digits.
	NameEUI
	// NameNAA is "naa." followed by a 64-bit or 128-bit NAA identifier as
	// 16 or 32 hex digits (RFC 3980).
	NameNAA
)

// String returns the type designator without its dot: "iqn", "eui" or "naa".
func (t NameType) String() string {
	switch t {
	case NameIQN:
		return "iqn"
	case NameEUI:
		return "eui"
	case NameNAA:
		return "naa"
	}
	return fmt.Sprintf("NameType(%d)", uint8(t))
}

// Name is a valid, normalised iSCSI name. Two names are the same iSCSI
// node exactly when the Name values are equal (==). The zero Name is not a
// valid name.
//
// Normalisation is the stringprep profile of RFC 3722, which case-folds
// every character: the normalised form of an eui. or naa. name therefore has
// lower-case hex digits although RFC 7143's examples print them in upper
// case; compare names only in normalised form.
type Name struct {
	s string
	t NameType
}

// ParseName validates s as an iSCSI name and returns it in normalised form.
// Errors wrap ErrInvalidName.
func ParseName(s string) (Name, error) {
	n, err := normalizeName(s)
	if err != nil {
		return Name{}, err
	}
	t, err := checkNameSyntax(n)
	if err != nil {
		return Name{}, err
	}
	return Name{s: n, t: t}, nil
}

// NormalizeName returns the normalised form of the iSCSI name s, or an
// error wrapping ErrInvalidName. NormalizeName(NormalizeName(s)) equals
// NormalizeName(s).
func NormalizeName(s string) (string, error) {
	n, err := ParseName(s)
	if err != nil {
		return "", err
	}
	return n.s, nil
}

// String returns the normalised name, or "" for the zero Name.
func (n Name) String() string { return n.s }

// Type returns the name's type designator, or 0 for the zero Name.
func (n Name) Type() NameType { return n.t }

// IsZero reports whether n is the zero Name.
func (n Name) IsZero() bool { return n.t == 0 }

// MarshalText returns the normalised name. It fails for the zero Name.
func (n Name) MarshalText() ([]byte, error) {
	if n.IsZero() {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	return []byte(n.s), nil
}

// UnmarshalText parses text with ParseName.
func (n *Name) UnmarshalText(text []byte) error {
	p, err := ParseName(string(text))
	if err != nil {
		return err
	}
	*n = p
	return nil
}

// normalizeName applies the RFC 3722 stringprep profile: map (B.1 to
// nothing, B.2 case folding), normalise (NFKC), check prohibited output and
// bidirectional text, and the length limit. Unicode versions are those of
// Go and golang.org/x/text, newer than stringprep's Unicode 3.2.
func normalizeName(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	if len(s) > maxNameInputLen {
		return "", fmt.Errorf("%w: %d bytes, want at most %d", ErrInvalidName, len(s), MaxNameLen)
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	}
	// Mapping and normalisation repeated to a fixed point, so that the
	// result is stable under a second normalisation.
	cur := s
	for i := 0; ; i++ {
		next := norm.NFKC.String(cases.Fold().String(strings.Map(mapB1, cur)))
		if next == cur {
			break
		}
		if i == 3 {
			return "", fmt.Errorf("%w: normalisation does not converge", ErrInvalidName)
		}
		cur = next
	}
	for i, r := range cur {
		if err := checkNameRune(r); err != nil {
			return "", fmt.Errorf("%w at byte %d", err, i)
		}
	}
	// RFC 3722 section 6 applies stringprep's bidirectional rules: a string
	// with a RandALCat character MUST NOT contain any LCat character and
	// MUST start and end with a RandALCat character. Every iSCSI name
	// starts with its LCat type designator, so no RandALCat character can
	// appear in a valid name.
	for i, r := range cur {
		p, _ := bidi.LookupRune(r)
		if c := p.Class(); c == bidi.R || c == bidi.AL {
			return "", fmt.Errorf("%w: right-to-left character %U at byte %d", ErrInvalidName, r, i)
		}
	}
	// RFC 7143 section 4.2.7.1: names are "not larger than 223 bytes".
	if len(cur) > MaxNameLen {
		return "", fmt.Errorf("%w: %d bytes, want at most %d", ErrInvalidName, len(cur), MaxNameLen)
	}
	return cur, nil
}

// mapB1 maps the stringprep table B.1 characters ("commonly mapped to
// nothing") to nothing, as RFC 3722 section 3 requires.
func mapB1(r rune) rune {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x1806, r >= 0x180B && r <= 0x180D,
		r >= 0x200B && r <= 0x200D, r == 0x2060, r >= 0xFE00 && r <= 0xFE0F,
		r == 0xFEFF:
		return -1
	}
	return r
}

// checkNameRune enforces RFC 3722 section 5 (prohibited output) and
// section 7 (unassigned code points are prohibited) on one character of a
// mapped and normalised name.
func checkNameRune(r rune) error {
	if r < utf8.RuneSelf {
		// RFC 3722 section 5: "the following ASCII characters are also
		// prohibited: 0x00-0x2C, 0x2F, 0x3B-0x40, 0x5B-0x60, 0x7B-0x7F",
		// leaving '-', '.', ':', digits and (folded) letters.
		switch {
		case r == '-', r == '.', r == ':', r >= '0' && r <= '9', r >= 'a' && r <= 'z':
			return nil
		}
		return fmt.Errorf("%w: character %q not allowed", ErrInvalidName, r)
	}
	switch {
	case r == 0x3002: // RFC 3722 section 5: IDEOGRAPHIC FULL STOP prohibited.
		return fmt.Errorf("%w: ideographic full stop", ErrInvalidName)
	case unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp): // C.1.2, C.2.2
		return fmt.Errorf("%w: space or separator %U", ErrInvalidName, r)
	case unicode.In(r, unicode.Cc, unicode.Cf): // C.2.2, C.8, C.9 and more
		return fmt.Errorf("%w: control or format character %U", ErrInvalidName, r)
	case unicode.In(r, unicode.Co, unicode.Cs): // C.3, C.5
		return fmt.Errorf("%w: private use or surrogate %U", ErrInvalidName, r)
	case r >= 0xFFF9 && r <= 0xFFFD: // C.6
		return fmt.Errorf("%w: character %U inappropriate for plain text", ErrInvalidName, r)
	case r >= 0x2FF0 && r <= 0x2FFB: // C.7
		return fmt.Errorf("%w: character %U inappropriate for canonical representation", ErrInvalidName, r)
	case !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S):
		// Unassigned code points and non-characters (C.4) have no
		// general category other than Cn.
		return fmt.Errorf("%w: unassigned code point %U", ErrInvalidName, r)
	}
	return nil
}

// checkNameSyntax checks the structure of a normalised name (RFC 7143
// section 4.2.7.2 and its subsections) and returns its type.
func checkNameSyntax(n string) (NameType, error) {
	switch {
	case strings.HasPrefix(n, "iqn."):
		return NameIQN, checkIQN(n[len("iqn."):])
	case strings.HasPrefix(n, "eui."):
		// "eui." followed by an EUI-64 identifier: 16 hex digits.
		return NameEUI, checkHexDigits(n, n[len("eui."):], 16, 16)
	case strings.HasPrefix(n, "naa."):
		// "naa." followed by a 64-bit or 128-bit NAA identifier: 16 or
		// 32 hex digits.
		return NameNAA, checkHexDigits(n, n[len("naa."):], 16, 32)
	}
	return 0, fmt.Errorf("%w: %q has no iqn., eui. or naa. type designator", ErrInvalidName, n)
}

// checkIQN checks the part of an iqn. name after "iqn.": a date code
// yyyy-mm, a dot, a reversed domain name, and optionally a colon and a
// non-empty string chosen by the naming authority.
func checkIQN(rest string) error {
	const date = len("yyyy-mm.")
	if len(rest) < date+1 {
		return fmt.Errorf("%w: iqn. name too short for yyyy-mm.domain", ErrInvalidName)
	}
	for i := 0; i < date; i++ {
		c := rest[i]
		switch i {
		case 4:
			if c != '-' {
				return fmt.Errorf("%w: iqn. date code must be yyyy-mm, found %q", ErrInvalidName, rest[:date-1])
			}
		case 7:
			if c != '.' {
				return fmt.Errorf("%w: iqn. date code must be followed by '.'", ErrInvalidName)
			}
		default:
			if c < '0' || c > '9' {
				return fmt.Errorf("%w: iqn. date code must be yyyy-mm, found %q", ErrInvalidName, rest[:date-1])
			}
		}
	}
	if month := int(rest[5]-'0')*10 + int(rest[6]-'0'); month < 1 || month > 12 {
		return fmt.Errorf("%w: iqn. date code month %02d, want 01-12", ErrInvalidName, month)
	}
	domain, unique, hasUnique := strings.Cut(rest[date:], ":")
	if hasUnique && unique == "" {
		return fmt.Errorf("%w: empty string after ':' in iqn. name", ErrInvalidName)
	}
	if domain == "" {
		return fmt.Errorf("%w: iqn. name has no naming authority", ErrInvalidName)
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" {
			return fmt.Errorf("%w: empty label in naming authority %q", ErrInvalidName, domain)
		}
	}
	return nil
}

// checkHexDigits checks that digits is a run of hex digits whose length is
// either lenA or lenB.
func checkHexDigits(name, digits string, lenA, lenB int) error {
	if len(digits) != lenA && len(digits) != lenB {
		if lenA == lenB {
			return fmt.Errorf("%w: %q has %d hex digits, want %d", ErrInvalidName, name, len(digits), lenA)
		}
		return fmt.Errorf("%w: %q has %d hex digits, want %d or %d", ErrInvalidName, name, len(digits), lenA, lenB)
	}
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %q: %q is not a hex digit", ErrInvalidName, name, c)
		}
	}
	return nil
}
