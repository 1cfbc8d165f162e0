package iscsi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseNameValid(t *testing.T) {
	tests := []struct {
		in, want string
		typ      NameType
	}{
		{"iqn.2001-04.com.example", "iqn.2001-04.com.example", NameIQN},
		{"iqn.2001-04.com.example:storage:diskarrays-sn-a8675309", "iqn.2001-04.com.example:storage:diskarrays-sn-a8675309", NameIQN},
		{"iqn.2001-04.com.example:storage.tape1.sys1.xyz", "iqn.2001-04.com.example:storage.tape1.sys1.xyz", NameIQN},
		{"iqn.1994-05.com.redhat:5e1c8a7b3f", "iqn.1994-05.com.redhat:5e1c8a7b3f", NameIQN},
		{"iqn.2003-01.org.linux-iscsi.host.x8664:sn.0123456789ab", "iqn.2003-01.org.linux-iscsi.host.x8664:sn.0123456789ab", NameIQN},
		{"IQN.2001-04.COM.Example:Storage", "iqn.2001-04.com.example:storage", NameIQN},
		{"iqn.2001-12.com:x", "iqn.2001-12.com:x", NameIQN},
		{"iqn.2001-04.com.example:a:b:c", "iqn.2001-04.com.example:a:b:c", NameIQN},
		// Non-ASCII letters survive, case-folded.
		{"iqn.2001-04.com.example:Müller", "iqn.2001-04.com.example:müller", NameIQN},
		{"iqn.2001-04.com.example:straße", "iqn.2001-04.com.example:strasse", NameIQN},
		// NFKC: fullwidth letters become ASCII; the ligature "ﬁ" becomes "fi".
		{"iqn.2001-04.com.example:ｄｉｓｋ", "iqn.2001-04.com.example:disk", NameIQN},
		{"iqn.2001-04.com.example:\ufb01le", "iqn.2001-04.com.example:file", NameIQN},
		// B.1 characters are mapped to nothing.
		{"iqn.2001-04.com.exam\u00adple:d\u200bisk", "iqn.2001-04.com.example:disk", NameIQN},
		{"iqn.2001-04.com.example:日本", "iqn.2001-04.com.example:日本", NameIQN},
		{"eui.02004567A425678D", "eui.02004567a425678d", NameEUI},
		{"eui.0123456789abcdef", "eui.0123456789abcdef", NameEUI},
		{"EUI.0123456789ABCDEF", "eui.0123456789abcdef", NameEUI},
		{"naa.52004567BA64678D", "naa.52004567ba64678d", NameNAA},
		{"naa.62004567BA64678D0123456789ABCDEF", "naa.62004567ba64678d0123456789abcdef", NameNAA},
		{"iqn.2001-04.com.example:" + strings.Repeat("x", MaxNameLen-len("iqn.2001-04.com.example:")),
			"iqn.2001-04.com.example:" + strings.Repeat("x", MaxNameLen-len("iqn.2001-04.com.example:")), NameIQN},
	}
	for _, tt := range tests {
		n, err := ParseName(tt.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", tt.in, err)
			continue
		}
		if n.String() != tt.want || n.Type() != tt.typ {
			t.Errorf("ParseName(%q) = %q (%v), want %q (%v)", tt.in, n.String(), n.Type(), tt.want, tt.typ)
		}
		if n.IsZero() {
			t.Errorf("ParseName(%q).IsZero() = true", tt.in)
		}
		again, err := NormalizeName(n.String())
		if err != nil || again != n.String() {
			t.Errorf("NormalizeName(%q) = %q, %v; want unchanged", n.String(), again, err)
		}
	}
}

func TestParseNameInvalid(t *testing.T) {
	tests := []string{
		"",
		"iqn",
		"iqn.",
		"iqn.2001-04",
		"iqn.2001-04.",
		"iqn.2001-04.com.example:",
		"iqn.2001-4.com.example",
		"iqn.01-04.com.example",
		"iqn.2001-13.com.example",
		"iqn.2001-00.com.example",
		"iqn.2001_04.com.example",
		"iqn.2001-04com.example",
		"iqn.abcd-04.com.example",
		"iqn.2001-04..com",
		"iqn.2001-04.com..example",
		"iqn.2001-04.com.example.:x",
		"iqn.2001-04.:x",
		"iqn.2001-04.com.example:has space",
		"iqn.2001-04.com.example:under_score",
		"iqn.2001-04.com.example:slash/",
		"iqn.2001-04.com.example:at@",
		"iqn.2001-04.com.example:tab\t",
		"iqn.2001-04.com.example:nul\x00",
		"iqn.2001-04.com.example:nbsp\u00a0x",
		"iqn.2001-04.com.example:ideo\u3002x",
		"iqn.2001-04.com.example:pua\ue000",
		"iqn.2001-04.com.example:rlm\u200fx",
		"iqn.2001-04.com.example:repl\ufffd",
		"iqn.2001-04.com.example:ideodesc\u2ff0",
		"iqn.2001-04.com.example:unassigned\U000e0080x",
		"iqn.2001-04.com.example:nonchar\ufdd0",
		"iqn.2001-04.com.example:hebrew\u05d0",
		"iqn.2001-04.com.example:arabic\u0627",
		"iqn.2001-04.com.example:bad utf8 \xff",
		"iqn.2001-04.com.example:" + strings.Repeat("x", MaxNameLen-len("iqn.2001-04.com.example:")+1),
		strings.Repeat("x", 5000),
		"eui.",
		"eui.0123456789abcde",
		"eui.0123456789abcdef0",
		"eui.0123456789abcdeg",
		"eui.0123456789abcdef:x",
		"naa.0123456789abcdef0",
		"naa.0123456789abcdef0123456789abcde",
		"naa.0123456789abcdef0123456789abcdef0",
		"naa.0123456789abcdef0123456789abcdez",
		"naa.",
		"foo.2001-04.com.example",
		"iqn2001-04.com.example",
		"2001-04.com.example",
	}
	for _, in := range tests {
		n, err := ParseName(in)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ParseName(%q) = %q, %v; want ErrInvalidName", in, n.String(), err)
		}
		if !n.IsZero() {
			t.Errorf("ParseName(%q) returned non-zero Name on error", in)
		}
		if s, err := NormalizeName(in); !errors.Is(err, ErrInvalidName) || s != "" {
			t.Errorf("NormalizeName(%q) = %q, %v; want ErrInvalidName", in, s, err)
		}
	}
}

func TestNameEquality(t *testing.T) {
	a, err := ParseName("iqn.2001-04.com.EXAMPLE:Disk")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseName("iqn.2001-04.com.example:disk")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("%q != %q, want equal after normalisation", a, b)
	}
}

func TestNameText(t *testing.T) {
	var n Name
	if _, err := n.MarshalText(); !errors.Is(err, ErrInvalidName) {
		t.Errorf("zero Name MarshalText error = %v, want ErrInvalidName", err)
	}
	b, err := json.Marshal(map[string]Name{"n": mustName(t, "EUI.0123456789ABCDEF")})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"n":"eui.0123456789abcdef"}` {
		t.Errorf("json = %s", b)
	}
	var back map[string]Name
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["n"].Type() != NameEUI {
		t.Errorf("round trip type = %v", back["n"].Type())
	}
	if err := json.Unmarshal([]byte(`{"n":"bogus"}`), &back); !errors.Is(err, ErrInvalidName) {
		t.Errorf("json.Unmarshal bogus name: %v, want ErrInvalidName", err)
	}
}

func TestNameTypeString(t *testing.T) {
	for typ, want := range map[NameType]string{NameIQN: "iqn", NameEUI: "eui", NameNAA: "naa", 0: "NameType(0)", 9: "NameType(9)"} {
		if got := typ.String(); got != want {
			t.Errorf("NameType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func mustName(t *testing.T, s string) Name {
	t.Helper()
	n, err := ParseName(s)
	if err != nil {
		t.Fatalf("ParseName(%q): %v", s, err)
	}
	return n
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"iqn.2001-04.com.example:storage:diskarrays-sn-a8675309",
		"IQN.2001-04.COM.Example:Storage",
		"iqn.2001-04.com.example:straße",
		"iqn.2001-04.com.example:ｄｉｓｋ\u00ad",
		"eui.02004567A425678D",
		"naa.62004567BA64678D0123456789ABCDEF",
		"iqn.2001-04.com.example:\u0627",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("ParseName(%q) error %v does not wrap ErrInvalidName", s, err)
			}
			return
		}
		if len(n.String()) > MaxNameLen {
			t.Fatalf("ParseName(%q) = %d bytes", s, len(n.String()))
		}
		again, err := ParseName(n.String())
		if err != nil {
			t.Fatalf("ParseName(%q) ok but its normal form %q fails: %v", s, n.String(), err)
		}
		if again != n {
			t.Fatalf("normalising twice changed %q to %q", n.String(), again.String())
		}
	})
}
