package iscsi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// smPDU is a PDU with its whole-wire-form methods, as every session PDU
// type has them.
type smPDU interface {
	PDU
	MarshalBinary() ([]byte, error)
	AppendBinary([]byte) ([]byte, error)
	UnmarshalBinary([]byte) error
}

// smHex decodes hex digits, ignoring spaces, newlines and "|" separators.
func smHex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// smWantErrIs fails unless errors.Is(err, target).
func smWantErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// smNormalize sets an empty Data field of the struct p points to to nil,
// so values decoded from a frame without data compare equal to values
// built with Data: []byte{}.
func smNormalize(p any) any {
	v := reflect.ValueOf(p)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return p
	}
	if d := v.Elem().FieldByName("Data"); d.IsValid() && d.Kind() == reflect.Slice && d.Len() == 0 {
		d.Set(reflect.Zero(d.Type()))
	}
	return p
}

// smWantEqual fails unless got and want are deeply equal after
// smNormalize.
func smWantEqual(t testing.TB, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(smNormalize(got), smNormalize(want)) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// smCheckCodec checks p against its hand-built wire form: MarshalBinary
// and AppendBinary give want, UnmarshalBinary into fresh() gives p back,
// every truncated prefix fails with ErrTruncated and a changed opcode
// fails with ErrOpcode.
func smCheckCodec[P smPDU](t *testing.T, p P, want []byte, fresh func() P) {
	t.Helper()
	got, err := p.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary =\n%x\nwant\n%x", got, want)
	}
	prefix := []byte{0xaa, 0xbb}
	got, err = p.AppendBinary(prefix)
	if err != nil {
		t.Fatalf("AppendBinary: %v", err)
	}
	if !bytes.Equal(got[:2], prefix) || !bytes.Equal(got[2:], want) {
		t.Fatalf("AppendBinary =\n%x\nwant aabb then\n%x", got, want)
	}
	q := fresh()
	if err := q.UnmarshalBinary(want); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	smWantEqual(t, q, p)
	for i := range len(want) {
		err := fresh().UnmarshalBinary(want[:i])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("UnmarshalBinary of %d-byte prefix: err = %v, want ErrTruncated", i, err)
		}
	}
	bad := bytes.Clone(want)
	bad[0] = bad[0]&^opcodeMask | byte(OpNOPIn)
	if p.Opcode() == OpNOPIn {
		bad[0] = bad[0]&^opcodeMask | byte(OpNOPOut)
	}
	smWantErrIs(t, fresh().UnmarshalBinary(bad), ErrOpcode)
	withTrailer := append(bytes.Clone(want), 0, 0, 0, 0)
	smWantErrIs(t, fresh().UnmarshalBinary(withTrailer), ErrTrailingBytes)
}

// smFuzzCodec is the body of every session PDU fuzz target: decoding
// never panics, and a decoded PDU encodes and decodes again to an equal
// value and the same bytes.
func smFuzzCodec[T any, P interface {
	*T
	smPDU
}](f *testing.F, seeds ...P) {
	for _, s := range seeds {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatalf("seed %+v: %v", s, err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p1 := P(new(T))
		if err := p1.UnmarshalBinary(b); err != nil {
			return
		}
		enc, err := p1.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", p1, err)
		}
		p2 := P(new(T))
		if err := p2.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding re-encoded %x: %v", enc, err)
		}
		smWantEqual(t, p2, p1)
		enc2, err := p2.MarshalBinary()
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding %x, %v; first %x", enc2, err, enc)
		}
	})
}

func TestStageString(t *testing.T) {
	for s, want := range map[Stage]string{
		SecurityNegotiation:         "SecurityNegotiation",
		LoginOperationalNegotiation: "LoginOperationalNegotiation",
		FullFeaturePhase:            "FullFeaturePhase",
		2:                           "stage 2",
	} {
		if got := s.String(); got != want {
			t.Errorf("Stage(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

func TestLoginRequestCodec(t *testing.T) {
	fresh := func() *LoginRequest { return new(LoginRequest) }
	tests := []struct {
		name string
		p    *LoginRequest
		want string
	}{{
		name: "security to operational with text",
		p: &LoginRequest{
			Transit: true, CSG: SecurityNegotiation, NSG: LoginOperationalNegotiation,
			VersionMax: 0x00, VersionMin: 0x00,
			ISID: NewRandomISID(0x3d5c1a, 0x0001), TSIH: 0,
			ITT: 0x00000001, CID: 0x0001, CmdSN: 0x12345678, ExpStatSN: 0x9abcdef0,
			Data: []byte("AuthMethod=None\x00"),
		},
		want: `43 81 00 00 | 00 00 00 10 | 80 3d 5c 1a | 00 01 00 00
		       00 00 00 01 | 00 01 00 00 | 12 34 56 78 | 9a bc de f0
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       417574684d6574686f643d4e6f6e6500`,
	}, {
		name: "operational to full feature, padded text",
		p: &LoginRequest{
			Transit: true, CSG: LoginOperationalNegotiation, NSG: FullFeaturePhase,
			VersionMax: 0x02, VersionMin: 0x01,
			ISID: NewOUIISID(0x00023d, 0x000102), TSIH: 0xbeef,
			ITT: 0xcafef00d, CID: 0xfffe, CmdSN: 1, ExpStatSN: 2,
			Data: []byte("HeaderDigest=None\x00"),
		},
		want: `43 87 02 01 | 00 00 00 12 | 00 02 3d 00 | 01 02 be ef
		       ca fe f0 0d | ff fe 00 00 | 00 00 00 01 | 00 00 00 02
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       486561646572446967657374 3d4e6f6e6500 0000`,
	}, {
		name: "continue without transit, no data",
		p: &LoginRequest{
			Continue: true, CSG: LoginOperationalNegotiation,
			ISID: NewENISID(0x000137, 0x4242), ITT: 7, CmdSN: 9,
		},
		want: `43 44 00 00 | 00 00 00 00 | 40 00 01 37 | 42 42 00 00
		       00 00 00 07 | 00 00 00 00 | 00 00 00 09 | 00 00 00 00
		       00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestLoginRequestRules(t *testing.T) {
	valid := smHex(t, `43 81 00 00 | 00 00 00 00 | 80 3d 5c 1a | 00 01 00 00
		00 00 00 01 | 00 01 00 00 | 12 34 56 78 | 9a bc de f0
		00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`)
	with := func(i int, v byte) []byte { b := bytes.Clone(valid); b[i] = v; return b }

	t.Run("T and C both set", func(t *testing.T) {
		smWantErrIs(t, new(LoginRequest).UnmarshalBinary(with(1, 0xc1)), ErrInvalidField)
		_, err := (&LoginRequest{Transit: true, Continue: true, NSG: FullFeaturePhase}).MarshalBinary()
		smWantErrIs(t, err, ErrInvalidField)
	})
	t.Run("NSG 2 with T", func(t *testing.T) {
		smWantErrIs(t, new(LoginRequest).UnmarshalBinary(with(1, 0x82)), ErrInvalidField)
		_, err := (&LoginRequest{Transit: true, NSG: 2}).MarshalBinary()
		smWantErrIs(t, err, ErrInvalidField)
	})
	t.Run("CSG 2", func(t *testing.T) {
		smWantErrIs(t, new(LoginRequest).UnmarshalBinary(with(1, 0x08)), ErrInvalidField)
		_, err := (&LoginRequest{CSG: 2}).MarshalBinary()
		smWantErrIs(t, err, ErrInvalidField)
	})
	t.Run("stage out of range", func(t *testing.T) {
		_, err := (&LoginRequest{Transit: true, NSG: 7}).MarshalBinary()
		smWantErrIs(t, err, ErrInvalidField)
	})
	t.Run("NSG carried without T", func(t *testing.T) {
		// Reserved without T, so a receiver ignores it; the codec keeps
		// the bits (libiscsi sends NSG=1 with T=0) so it re-encodes
		// byte for byte, even the reserved value 2.
		var p LoginRequest
		if err := p.UnmarshalBinary(with(1, 0x06)); err != nil {
			t.Fatal(err)
		}
		if p.Transit || p.CSG != LoginOperationalNegotiation || p.NSG != Stage(2) {
			t.Fatalf("got T=%v CSG=%v NSG=%v, want false, operational, 2", p.Transit, p.CSG, p.NSG)
		}
		b, err := (&LoginRequest{CSG: LoginOperationalNegotiation, NSG: FullFeaturePhase}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if b[1] != 0x07 {
			t.Fatalf("byte 1 = %#02x, want 0x07 (NSG carried without T)", b[1])
		}
	})
	t.Run("I bit ignored on decode", func(t *testing.T) {
		if err := new(LoginRequest).UnmarshalBinary(with(0, 0x03)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("AHS", func(t *testing.T) {
		b := append(with(4, 1), 0, 0, 0, 0)
		smWantErrIs(t, new(LoginRequest).UnmarshalBinary(b), ErrAHSLength)
	})
}

func TestLoginRequestDataAliases(t *testing.T) {
	b, err := (&LoginRequest{Data: []byte("a=b\x00")}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var p LoginRequest
	if err := p.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b[BHSLen] = 'z'
	if p.Data[0] != 'z' {
		t.Fatalf("Data does not alias the input")
	}
}

func FuzzLoginRequest(f *testing.F) {
	smFuzzCodec(f,
		&LoginRequest{Transit: true, NSG: LoginOperationalNegotiation, ISID: NewRandomISID(1, 2), ITT: 1, Data: []byte("AuthMethod=None\x00")},
		&LoginRequest{Continue: true, CSG: LoginOperationalNegotiation, TSIH: 9},
	)
}
