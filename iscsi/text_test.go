package iscsi

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func wantTextPairs(t *testing.T, got, want []KeyValue) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("pairs = %q, want %q", got, want)
	}
}

func wantTextErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

func readTextPairs(data []byte) ([]KeyValue, error) {
	var kvs []KeyValue
	r := NewTextReader(data)
	for r.Next() {
		kvs = append(kvs, KeyValue{r.Key(), r.Value()})
	}
	return kvs, r.Err()
}

// goldenText is a first Login Request's text, byte for byte as RFC 7143
// section 6.1 lays it out: key '=' value NUL, repeated.
var goldenText = []byte("InitiatorName=iqn.1993-08.org.debian:01:abc\x00" +
	"SessionType=Normal\x00" +
	"TargetName=iqn.2024-01.com.lunar:disk1\x00" +
	"AuthMethod=CHAP,None\x00")

var goldenPairs = []KeyValue{
	{KeyInitiatorName, "iqn.1993-08.org.debian:01:abc"},
	{KeySessionType, "Normal"},
	{KeyTargetName, "iqn.2024-01.com.lunar:disk1"},
	{KeyAuthMethod, "CHAP,None"},
}

func TestTextGoldenRoundTrip(t *testing.T) {
	got, err := ParseText(goldenText)
	if err != nil {
		t.Fatal(err)
	}
	wantTextPairs(t, got, goldenPairs)
	if enc := AppendPairs(nil, got); !bytes.Equal(enc, goldenText) {
		t.Fatalf("re-encoded %q, want %q", enc, goldenText)
	}
	var tb TextBuilder
	tb.Add(KeyInitiatorName, "iqn.1993-08.org.debian:01:abc")
	tb.Add(KeySessionType, SessionNormal.String())
	tb.Add(KeyTargetName, "iqn.2024-01.com.lunar:disk1")
	tb.AddList(KeyAuthMethod, []string{"CHAP", "None"})
	enc, err := tb.Bytes()
	if err != nil || !bytes.Equal(enc, goldenText) {
		t.Fatalf("builder = %q, %v; want %q", enc, err, goldenText)
	}
}

func TestTextTruncatedPrefixes(t *testing.T) {
	for i := range len(goldenText) {
		prefix := goldenText[:i]
		kvs, err := readTextPairs(prefix)
		if i == 0 || goldenText[i-1] == 0 {
			if err != nil {
				t.Fatalf("prefix %d at a pair boundary: %v", i, err)
			}
			continue
		}
		if !errors.Is(err, ErrTextFormat) {
			t.Fatalf("prefix %d: err = %v, want ErrTextFormat (pairs %q)", i, err, kvs)
		}
	}
}

func TestTextReader(t *testing.T) {
	long := strings.Repeat("a", 256)
	okElem := strings.Repeat("b", 255)
	tests := []struct {
		name    string
		in      string
		want    []KeyValue
		wantErr error
	}{
		{name: "empty", in: ""},
		{name: "one", in: "MaxBurstLength=262144\x00", want: []KeyValue{{"MaxBurstLength", "262144"}}},
		{name: "empty value", in: "TargetAlias=\x00", want: []KeyValue{{"TargetAlias", ""}}},
		{name: "split at first equals", in: "X-com.example.k=a=b\x00", want: []KeyValue{{"X-com.example.k", "a=b"}}},
		{name: "public extension key", in: "X#ACME=1\x00", want: []KeyValue{{"X#ACME", "1"}}},
		{name: "lower case first letter", in: "iSCSIProtocolLevel=1\x00", want: []KeyValue{{"iSCSIProtocolLevel", "1"}}},
		{name: "utf8 alias", in: "InitiatorAlias=disque é\x00", want: []KeyValue{{"InitiatorAlias", "disque é"}}},
		{name: "255 byte value", in: "TargetAlias=" + okElem + "\x00", want: []KeyValue{{"TargetAlias", okElem}}},
		{name: "list elements of 255", in: "AuthMethod=" + okElem + "," + okElem + "\x00", want: []KeyValue{{"AuthMethod", okElem + "," + okElem}}},
		{name: "long CHAP_C", in: "CHAP_C=0x" + strings.Repeat("ab", 1024) + "\x00", want: []KeyValue{{"CHAP_C", "0x" + strings.Repeat("ab", 1024)}}},
		{name: "63 byte key", in: "K" + strings.Repeat("k", 62) + "=1\x00", want: []KeyValue{{"K" + strings.Repeat("k", 62), "1"}}},
		{name: "no NUL", in: "A=1", wantErr: ErrTextFormat},
		{name: "no NUL after good pair", in: "A=1\x00B=2", wantErr: ErrTextFormat},
		{name: "no equals", in: "A\x00", wantErr: ErrTextFormat},
		{name: "empty pair", in: "A=1\x00\x00", wantErr: ErrTextFormat},
		{name: "empty key", in: "=1\x00", wantErr: ErrTextKey},
		{name: "64 byte key", in: "K" + strings.Repeat("k", 63) + "=1\x00", wantErr: ErrTextKey},
		{name: "key with space", in: "Max Burst=1\x00", wantErr: ErrTextKey},
		{name: "key starting with digit", in: "1Key=1\x00", wantErr: ErrTextKey},
		{name: "hash not after X", in: "Y#A=1\x00", wantErr: ErrTextKey},
		{name: "256 byte value", in: "TargetAlias=" + long + "\x00", wantErr: ErrTextValueLength},
		{name: "256 byte list element", in: "HeaderDigest=None," + long + "\x00", wantErr: ErrTextValueLength},
		{name: "not utf8", in: "TargetAlias=\xff\xfe\x00", wantErr: ErrTextFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readTextPairs([]byte(tt.in))
			if tt.wantErr != nil {
				wantTextErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantTextPairs(t, got, tt.want)
		})
	}
}

func TestTextReaderStickyError(t *testing.T) {
	r := NewTextReader([]byte("A=1\x00B\x00C=3\x00"))
	if !r.Next() || r.Key() != "A" {
		t.Fatal("first pair not read")
	}
	if r.Next() {
		t.Fatal("Next true at a malformed pair")
	}
	if r.Next() {
		t.Fatal("Next true after an error")
	}
	wantTextErr(t, r.Err(), ErrTextFormat)
}

func TestParseTextDuplicate(t *testing.T) {
	_, err := ParseText([]byte("MaxBurstLength=1\x00MaxBurstLength=2\x00"))
	wantTextErr(t, err, ErrTextDuplicateKey)
	// A SendTargets response repeats keys; a TextReader reads it.
	got, err := readTextPairs([]byte("TargetName=iqn.a\x00TargetAddress=1.2.3.4:3260,1\x00TargetName=iqn.b\x00TargetAddress=1.2.3.4:3260,1\x00"))
	if err != nil || len(got) != 4 {
		t.Fatalf("SendTargets text: %q, %v", got, err)
	}
}

func TestTextBuilderErrors(t *testing.T) {
	tests := []struct {
		name       string
		key, value string
		wantErr    error
	}{
		{"bad key", "Bad Key", "1", ErrTextKey},
		{"NUL in value", "TargetAlias", "a\x00b", ErrTextFormat},
		{"long value", "TargetAlias", strings.Repeat("x", 256), ErrTextValueLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tb TextBuilder
			tb.Add(tt.key, tt.value)
			tb.AddUint(KeyMaxBurstLength, 1) // ignored after the error
			b, err := tb.Bytes()
			wantTextErr(t, err, tt.wantErr)
			if len(b) != 0 {
				t.Fatalf("bytes after error: %q", b)
			}
		})
	}
	var tb TextBuilder
	tb.AddUint(KeyMaxBurstLength, 262144)
	tb.AddBool(KeyImmediateData, false)
	b, err := tb.Bytes()
	if err != nil || string(b) != "MaxBurstLength=262144\x00ImmediateData=No\x00" {
		t.Fatalf("builder = %q, %v", b, err)
	}
}

func TestParseNumerical(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"262144", 262144, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"0x40000", 262144, true},
		{"0X00ff", 255, true},
		{"0xffffffffffffffff", 1<<64 - 1, true},
		{"0x10000000000000000", 0, false},
		{"0x", 0, false},
		{"0x+1", 0, false},
		{"0xg", 0, false},
		{"007", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1_000", 0, false},
		{"12a", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseNumerical(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseNumerical(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrTextValue) {
			t.Errorf("ParseNumerical(%q) err %v not ErrTextValue", tt.in, err)
		}
	}
}

func TestParseBinary(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"0x0102", []byte{1, 2}, true},
		{"0x102", []byte{1, 2}, true}, // (n+1)/2 bytes, leading nibble zero
		{"0X00ff", []byte{0, 0xff}, true},
		{"0bAQI=", []byte{1, 2}, true},
		{"0BAQI", []byte{1, 2}, true},
		{"1", []byte{0, 0, 0, 0, 0, 0, 0, 1}, true},
		{"0xzz", nil, false},
		{"0b!!", nil, false},
		{"x", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseBinary(tt.in)
		if tt.ok != (err == nil) || !bytes.Equal(got, tt.want) {
			t.Errorf("ParseBinary(%q) = %x, %v; want %x ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if v, err := parseRegularBinary("0x00000000000000000001"); err != nil || v != 1 {
		t.Errorf("parseRegularBinary with leading zero bytes = %d, %v", v, err)
	}
	if _, err := parseRegularBinary("0x010000000000000000"); !errors.Is(err, ErrTextValue) {
		t.Errorf("parseRegularBinary of 9 bytes: %v", err)
	}
}

func TestParseRangeBooleanList(t *testing.T) {
	if lo, hi, err := ParseNumericRange("1~0x10"); err != nil || lo != 1 || hi != 16 {
		t.Errorf("ParseNumericRange = %d, %d, %v", lo, hi, err)
	}
	for _, bad := range []string{"2~1", "1", "a~2", "1~"} {
		if _, _, err := ParseNumericRange(bad); !errors.Is(err, ErrTextValue) {
			t.Errorf("ParseNumericRange(%q) err = %v", bad, err)
		}
	}
	for in, want := range map[string]bool{"Yes": true, "No": false} {
		if got, err := ParseBoolean(in); err != nil || got != want || FormatBoolean(got) != in {
			t.Errorf("ParseBoolean(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"yes", "", "True", "1"} {
		if _, err := ParseBoolean(bad); !errors.Is(err, ErrTextValue) {
			t.Errorf("ParseBoolean(%q) err = %v", bad, err)
		}
	}
	if l, err := ParseList("CRC32C,None"); err != nil || !slices.Equal(l, []string{"CRC32C", "None"}) {
		t.Errorf("ParseList = %q, %v", l, err)
	}
	for _, bad := range []string{"", "a,,b", "a,", strings.Repeat("z", 256)} {
		if _, err := ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) accepted", bad)
		}
	}
	if !ValidTextValue("iqn.x:y/[z]+@_-") || ValidTextValue("a b") || ValidTextValue("a,b") {
		t.Error("ValidTextValue")
	}
	if !ValidKeyName("HeaderDigest") || ValidKeyName("Header=Digest") {
		t.Error("ValidKeyName")
	}
}

func TestSplitAndAccumulate(t *testing.T) {
	var tb TextBuilder
	for i := range 40 {
		tb.Add("X-org.example.key"+strings.Repeat("k", i%10), strings.Repeat("v", 200))
	}
	text, err := tb.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{1, 7, 512, 8192, len(text), len(text) + 1} {
		chunks, err := SplitText(text, size)
		if err != nil {
			t.Fatal(err)
		}
		if want := (len(text) + size - 1) / size; len(chunks) != want {
			t.Fatalf("size %d: %d chunks, want %d", size, len(chunks), want)
		}
		a := NewTextAccumulator(0)
		for i, c := range chunks {
			if len(c) > size {
				t.Fatalf("chunk %d of %d bytes > %d", i, len(c), size)
			}
			last := i == len(chunks)-1
			got, done, err := a.Add(c, !last)
			if err != nil {
				t.Fatal(err)
			}
			if done != last {
				t.Fatalf("chunk %d: done=%v", i, done)
			}
			if last && !bytes.Equal(got, text) {
				t.Fatalf("size %d: joined text differs", size)
			}
		}
		// The accumulator starts over after a complete text.
		got, done, err := a.Add([]byte("A=1\x00"), false)
		if err != nil || !done || string(got) != "A=1\x00" {
			t.Fatalf("second text = %q, %v, %v", got, done, err)
		}
	}
	if chunks, err := SplitText(nil, 10); err != nil || len(chunks) != 1 || len(chunks[0]) != 0 {
		t.Fatalf("SplitText(empty) = %q, %v", chunks, err)
	}
	if _, err := SplitText(text, 0); !errors.Is(err, ErrDataSegmentLength) {
		t.Fatalf("SplitText size 0: %v", err)
	}
}

func TestTextAccumulatorBound(t *testing.T) {
	a := NewTextAccumulator(100) // raised to the RFC minimum
	seg := make([]byte, 4096)
	if _, _, err := a.Add(seg, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Add(seg, true); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 8192 {
		t.Fatalf("Len = %d", a.Len())
	}
	_, _, err := a.Add([]byte{1}, false)
	wantTextErr(t, err, ErrTextTooLong)
	_, _, err = a.Add(nil, false)
	wantTextErr(t, err, ErrTextTooLong) // sticky
	a.Reset()
	if got, done, err := a.Add([]byte("A=1\x00"), false); err != nil || !done || string(got) != "A=1\x00" {
		t.Fatalf("after Reset: %q, %v, %v", got, done, err)
	}
	big := NewTextAccumulator(0)
	if _, _, err := big.Add(make([]byte, DefaultMaxTextLength), true); err != nil {
		t.Fatalf("64 KiB: %v", err)
	}
	if _, _, err := big.Add([]byte{0}, false); !errors.Is(err, ErrTextTooLong) {
		t.Fatalf("64 KiB + 1: %v", err)
	}
}

func FuzzTextReader(f *testing.F) {
	f.Add(goldenText)
	for _, seg := range goldenTextSegments(f) {
		f.Add(seg)
	}
	f.Add([]byte("MaxBurstLength=262144\x00FirstBurstLength=65536\x00"))
	f.Add([]byte("CHAP_C=0x" + strings.Repeat("ab", 300) + "\x00"))
	f.Add([]byte("A=1"))
	f.Add([]byte("\x00=\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kvs, err := readTextPairs(data)
		if err != nil {
			return
		}
		enc := AppendPairs(nil, kvs)
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding %q gave %q", data, enc)
		}
		again, err := readTextPairs(enc)
		if err != nil {
			t.Fatalf("re-encoded text does not parse: %v", err)
		}
		wantTextPairs(t, again, kvs)
		var tb TextBuilder
		for _, kv := range kvs {
			tb.Add(kv.Key, kv.Value)
		}
		if b, err := tb.Bytes(); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("builder rejects or changes parsed pairs: %v", err)
		}
		chunks, _ := SplitText(data, 3)
		a := NewTextAccumulator(max(len(data), MinMaxTextLength))
		for i, c := range chunks {
			got, done, err := a.Add(c, i < len(chunks)-1)
			if err != nil {
				t.Fatal(err)
			}
			if done && !bytes.Equal(got, data) {
				t.Fatal("accumulated text differs")
			}
		}
	})
}
