package scsi

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sivHex decodes a hex string with optional spaces and '|' separators.
func sivHex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// sivWantBytes fails the test when got differs from want.
func sivWantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got % x\nwant % x", what, got, want)
	}
}

// sivWantErrIs fails the test unless errors.Is(err, target).
func sivWantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want errors.Is %v", what, err, target)
	}
}

// sivWantPrefixesTruncated checks that every proper prefix of b fails to
// decode with ErrTruncated.
func sivWantPrefixesTruncated(t *testing.T, what string, b []byte, decode func([]byte) error) {
	t.Helper()
	for n := range len(b) {
		err := decode(bytes.Clone(b[:n]))
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("%s: prefix of %d/%d bytes: error %v, want ErrTruncated", what, n, len(b), err)
		}
	}
}

var senseGolden = []struct {
	name string
	hex  string
	want SenseData
}{
	{
		name: "fixed invalid field in CDB byte 1 bit 0",
		hex:  "70 00 05 00000000 0a 00000000 24 00 00 c8 0001",
		want: SenseData{Key: SenseKeyIllegalRequest, ASC: 0x24, SenseKeySpecific: FieldPointer(true, 1, 0)},
	},
	{
		name: "fixed deferred medium error with information and ILI",
		hex:  "f1 00 23 12345678 0a 00000000 11 00 00 000000",
		want: SenseData{Deferred: true, Key: SenseKeyMediumError, ASC: 0x11, InformationValid: true,
			Information: 0x12345678, ILI: true},
	},
	{
		name: "fixed command specific FRU progress",
		hex:  "70 00 02 00000000 0a cafef00d 04 01 07 80 8000",
		want: SenseData{Key: SenseKeyNotReady, ASC: 0x04, ASCQ: 0x01, CommandSpecific: 0xcafef00d, FRU: 7,
			SenseKeySpecific: ProgressIndication(0x8000)},
	},
	{
		name: "fixed short additional sense length",
		hex:  "70 00 06 00000000 06 00000000 29 00",
		want: SenseData{Key: SenseKeyUnitAttention, ASC: 0x29},
	},
	{
		name: "descriptor information and field pointer",
		hex: "72 05 26 00 000000 14" +
			"|00 0a 80 00 0000000123456789" +
			"|02 06 0000 80 0002 00",
		want: SenseData{Descriptor: true, Key: SenseKeyIllegalRequest, ASC: 0x26, InformationValid: true,
			Information: 0x123456789, SenseKeySpecific: FieldPointer(false, 2, -1)},
	},
	{
		name: "descriptor unit attention no descriptors",
		hex:  "72 06 3f 0e 000000 00",
		want: SenseData{Descriptor: true, Key: SenseKeyUnitAttention, ASC: 0x3f, ASCQ: 0x0e},
	},
	{
		name: "descriptor deferred all descriptors",
		hex: "73 03 11 00 000000 28" +
			"|00 0a 80 00 00000000000000ff" +
			"|01 0a 0000 0000000000000010" +
			"|02 06 0000 80 1234 00" +
			"|03 02 00 09" +
			"|04 02 00 e0",
		want: SenseData{Descriptor: true, Deferred: true, Key: SenseKeyMediumError, ASC: 0x11,
			InformationValid: true, Information: 0xff, CommandSpecific: 0x10,
			SenseKeySpecific: ProgressIndication(0x1234), FRU: 9, FileMark: true, EOM: true, ILI: true},
	},
	{
		name: "descriptor block commands ILI",
		hex:  "72 00 00 00 000000 04|05 02 00 20",
		want: SenseData{Descriptor: true, ILI: true},
	},
}

func TestSenseGolden(t *testing.T) {
	for _, tc := range senseGolden {
		t.Run(tc.name, func(t *testing.T) {
			b := sivHex(t, tc.hex)
			got, err := ParseSense(b)
			if err != nil {
				t.Fatalf("ParseSense: %v", err)
			}
			if got != tc.want {
				t.Fatalf("ParseSense:\n got %+v\nwant %+v", got, tc.want)
			}
			enc, err := tc.want.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Descriptor || len(b) == SenseFixedLength {
				sivWantBytes(t, "MarshalBinary", enc, b)
			} else if len(enc) != SenseFixedLength {
				t.Errorf("MarshalBinary: %d bytes, want %d", len(enc), SenseFixedLength)
			}
			var again SenseData
			if err := again.UnmarshalBinary(enc); err != nil || again != tc.want {
				t.Errorf("re-decode: %+v, %v; want %+v", again, err, tc.want)
			}
			sivWantPrefixesTruncated(t, "ParseSense", b, func(p []byte) error { _, err := ParseSense(p); return err })
		})
	}
}

func TestSenseTrailingBytesIgnored(t *testing.T) {
	b := append(sivHex(t, senseGolden[0].hex), 0xde, 0xad)
	got, err := ParseSense(b)
	if err != nil || got != senseGolden[0].want {
		t.Fatalf("ParseSense = %+v, %v", got, err)
	}
}

func TestSenseFixedDescriptorRoundTrip(t *testing.T) {
	for _, tc := range senseGolden {
		s := tc.want
		if s.Information > 0xffffffff || s.CommandSpecific > 0xffffffff {
			continue // the fixed format cannot hold these
		}
		if !s.InformationValid {
			s.Information = 0 // descriptor format drops an invalid INFORMATION
		}
		fixed, err := ParseSense(s.MarshalFixed())
		if err != nil {
			t.Fatalf("%s: fixed: %v", tc.name, err)
		}
		desc, err := ParseSense(fixed.MarshalDescriptor())
		if err != nil {
			t.Fatalf("%s: descriptor: %v", tc.name, err)
		}
		back, err := ParseSense(desc.MarshalFixed())
		if err != nil {
			t.Fatalf("%s: back to fixed: %v", tc.name, err)
		}
		fixed.Descriptor, desc.Descriptor, back.Descriptor, s.Descriptor = false, false, false, false
		if fixed != s || desc != s || back != s {
			t.Errorf("%s: fixed %+v\ndesc %+v\nback %+v\nwant %+v", tc.name, fixed, desc, back, s)
		}
	}
}

func TestSenseFixedLargeInformation(t *testing.T) {
	s := SenseData{Key: SenseKeyMediumError, ASC: 0x11, InformationValid: true, Information: 1 << 40}
	b := s.MarshalFixed()
	if b[0] != SenseResponseFixedCurrent {
		t.Errorf("byte 0 = %#x, want VALID clear (0x70)", b[0])
	}
	got, err := ParseSense(s.MarshalDescriptor())
	if err != nil || got.Information != 1<<40 || !got.InformationValid {
		t.Errorf("descriptor keeps 64-bit information: %+v, %v", got, err)
	}
}

func TestParseSenseErrors(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"bad response code", "7f 00 05 00000000 0a 00000000 24 00 00 000000", ErrInvalidField},
		{"response code 0", "00 00 00 00 00 00 00 00", ErrInvalidField},
		{"additional length overruns buffer", "70 00 05 00000000 ff 00000000 24 00 00 000000", ErrTruncated},
		{"descriptor additional length overruns", "72 05 24 00 000000 20 02 06 0000 80 0000 00", ErrTruncated},
		{"descriptor length overruns sense", "72 05 24 00 000000 04 02 06 0000 80 0000 00", ErrTruncated},
		{"lone descriptor type byte", "72 05 24 00 000000 01 02", ErrTruncated},
		{"information descriptor wrong length", "72 05 24 00 000000 04 00 02 80 00", ErrInvalidField},
		{"key specific descriptor wrong length", "72 05 24 00 000000 04 02 02 80 00", ErrInvalidField},
	}
	for _, tc := range tests {
		_, err := ParseSense(sivHex(t, tc.hex))
		sivWantErrIs(t, tc.name, err, tc.want)
	}
}

func TestParseSenseSkipsUnknownDescriptors(t *testing.T) {
	b := sivHex(t, "72 05 24 00 000000 0c | 80 02 abcd | 02 06 0000 c8 0004 00")
	got, err := ParseSense(b)
	if err != nil {
		t.Fatal(err)
	}
	want := SenseData{Descriptor: true, Key: SenseKeyIllegalRequest, ASC: 0x24, SenseKeySpecific: FieldPointer(true, 4, 0)}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestFieldPointer(t *testing.T) {
	tests := []struct {
		cdb       bool
		byteOff   int
		bit       int
		wantBytes [3]byte
		wantBit   int
		wantByte  int
	}{
		{true, 1, 0, [3]byte{0xc8, 0x00, 0x01}, 0, 1},
		{true, 2, 7, [3]byte{0xcf, 0x00, 0x02}, 7, 2},
		{false, 0x1234, -1, [3]byte{0x80, 0x12, 0x34}, -1, 0x1234},
		{false, 70000, 8, [3]byte{0x80, 0xff, 0xff}, -1, 0xffff},
		{true, -3, 3, [3]byte{0xcb, 0x00, 0x00}, 3, 0},
	}
	for _, tc := range tests {
		p := FieldPointer(tc.cdb, tc.byteOff, tc.bit)
		if got := p.bytes(); got != tc.wantBytes {
			t.Errorf("FieldPointer(%v,%d,%d) = % x, want % x", tc.cdb, tc.byteOff, tc.bit, got, tc.wantBytes)
		}
		cdb, byteOff, bit, ok := p.FieldPointer()
		if !ok || cdb != tc.cdb || byteOff != tc.wantByte || bit != tc.wantBit {
			t.Errorf("decode %v: %v %d %d %v", p, cdb, byteOff, bit, ok)
		}
	}
	if _, _, _, ok := SenseKeySpecific(0).FieldPointer(); ok {
		t.Error("SKSV clear decoded as valid field pointer")
	}
	if p, ok := ProgressIndication(0x4000).Progress(); !ok || p != 0x4000 {
		t.Errorf("Progress = %#x, %v", p, ok)
	}
}

func TestSenseNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{SenseKeyIllegalRequest.String(), "ILLEGAL REQUEST"},
		{SenseKeyCompleted.String(), "COMPLETED"},
		{SenseKey(0x10).String(), "sense key 0x10"},
		{SenseInvalidFieldInCDB.String(), "INVALID FIELD IN CDB"},
		{SenseReportedLUNsDataHasChanged.Hex(), "3F/0E"},
		{SenseCode(0x8081).String(), "ASC 80h ASCQ 81h"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for code, name := range senseCodeNames {
		if name == "" || strings.ToUpper(name) != name {
			t.Errorf("%s: bad name %q", code.Hex(), name)
		}
	}
}

func TestSenseErrorMessageAndIs(t *testing.T) {
	e := InvalidFieldInCDB(1, 0)
	if got, want := e.Error(), "scsi: ILLEGAL REQUEST: INVALID FIELD IN CDB (24/00)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("inquiry: %w", e)
	if !errors.Is(wrapped, &SenseError{Key: SenseKeyIllegalRequest, ASC: 0x24, ASCQ: 0x00}) {
		t.Error("errors.Is by key and code failed")
	}
	if errors.Is(wrapped, &SenseError{Key: SenseKeyIllegalRequest, ASC: 0x26}) {
		t.Error("errors.Is matched a different code")
	}
	if !IsIllegalRequest(wrapped) || IsUnitAttention(wrapped) || IsNotReady(wrapped) {
		t.Error("key predicates wrong")
	}
	ua := fmt.Errorf("x: %w", UnitAttention(SenseReportedLUNsDataHasChanged))
	if !IsUnitAttention(ua) || !IsSense(ua, SenseKeyUnitAttention, SenseReportedLUNsDataHasChanged) {
		t.Error("unit attention predicates wrong")
	}
	if IsUnitAttention(errors.New("plain")) || IsUnitAttention(nil) {
		t.Error("plain error is a unit attention")
	}
	cause := errors.New("disk gone")
	withCause := &SenseError{Key: SenseKeyHardwareError, ASC: 0x44, Err: cause}
	if !errors.Is(withCause, cause) || !strings.HasSuffix(withCause.Error(), ": disk gone") {
		t.Errorf("cause not kept: %v", withCause)
	}
}

func TestSenseErrorSenseDataRoundTrip(t *testing.T) {
	e := InvalidFieldInParameterList(5, 2)
	sd := e.SenseData()
	got, err := ParseSense(sd.MarshalFixed())
	if err != nil {
		t.Fatal(err)
	}
	back := got.AsError()
	if back.Key != e.Key || back.ASC != e.ASC || back.ASCQ != e.ASCQ || back.SenseKeySpecific != e.SenseKeySpecific {
		t.Errorf("round trip: %+v, want %+v", back, e)
	}
	sivWantBytes(t, "fixed", sd.MarshalFixed(), sivHex(t, "70 00 05 00000000 0a 00000000 26 00 00 8a 0005"))
}

func TestSenseFromError(t *testing.T) {
	already := UnitAttention(SensePowerOnReset)
	tests := []struct {
		name    string
		err     error
		key     SenseKey
		code    SenseCode
		sks     SenseKeySpecific
		same    bool
		wrapped bool
	}{
		{"sense error", fmt.Errorf("w: %w", already), SenseKeyUnitAttention, SensePowerOnReset, 0, true, false},
		{"cdb field", fmt.Errorf("w: %w", &CDBFieldError{Op: OpInquiry, Byte: 1, Bit: 0, Reason: "EVPD"}),
			SenseKeyIllegalRequest, SenseInvalidFieldInCDB, FieldPointer(true, 1, 0), false, true},
		{"parameter field", &ParameterFieldError{Byte: 24, Bit: -1, Reason: "x"},
			SenseKeyIllegalRequest, SenseInvalidFieldInParameterList, FieldPointer(false, 24, -1), false, true},
		{"unsupported opcode", fmt.Errorf("%w: 0xc0", ErrUnsupportedOpCode),
			SenseKeyIllegalRequest, SenseInvalidCommandOperationCode, 0, false, true},
		{"truncated parameter list", fmt.Errorf("%w: 3 bytes", ErrTruncated),
			SenseKeyIllegalRequest, SenseParameterListLengthError, 0, false, true},
		{"other", errors.New("i/o error"), SenseKeyHardwareError, SenseInternalTargetFailure, 0, false, true},
	}
	for _, tc := range tests {
		got := SenseFromError(tc.err)
		if got.Key != tc.key || got.Code() != tc.code || got.SenseKeySpecific != tc.sks {
			t.Errorf("%s: got %v sks %06x, want %v %v sks %06x", tc.name, got, uint32(got.SenseKeySpecific),
				tc.key, tc.code, uint32(tc.sks))
		}
		if tc.same && got != already {
			t.Errorf("%s: did not return the existing *SenseError", tc.name)
		}
		if tc.wrapped && !errors.Is(got, tc.err) {
			t.Errorf("%s: cause not wrapped", tc.name)
		}
	}
	if SenseFromError(nil) != nil {
		t.Error("SenseFromError(nil) != nil")
	}
}

func FuzzParseSense(f *testing.F) {
	for _, tc := range senseGolden {
		f.Add(sivHex(f, tc.hex))
	}
	f.Add([]byte{0x72, 0, 0, 0, 0, 0, 0, 2, 0x00, 0x00})
	for _, b := range loadGoldenSCSI(f).senses {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSense(b)
		if err != nil {
			return
		}
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary: %v", err)
		}
		again, err := ParseSense(enc)
		if err != nil {
			t.Fatalf("re-decode of % x: %v", enc, err)
		}
		if again != s {
			t.Fatalf("unstable:\n first %+v\nsecond %+v", s, again)
		}
		// The other format must decode too.
		if _, err := ParseSense(s.MarshalDescriptor()); err != nil {
			t.Fatalf("descriptor: %v", err)
		}
		if _, err := ParseSense(s.MarshalFixed()); err != nil {
			t.Fatalf("fixed: %v", err)
		}
	})
}
