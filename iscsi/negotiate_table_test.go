package iscsi

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestTextReaderTexts checks the pairs read before the end or the first
// fault, and the fault, for well-formed and malformed texts (the reader
// keeps one copy of the text; keys and values are its substrings).
func TestTextReaderTexts(t *testing.T) {
	tests := []struct {
		text  string
		pairs []string // key=value of each pair read
		err   error
	}{
		{"", nil, nil},
		{"A=1\x00", []string{"A=1"}, nil},
		{"A=1\x00B=\x00C=x=y\x00", []string{"A=1", "B=", "C=x=y"}, nil},
		{"A=1", nil, ErrTextFormat},                      // no NUL after the last pair
		{"A=1\x00B\x00", []string{"A=1"}, ErrTextFormat}, // no '='
		{"=1\x00", nil, ErrTextKey},                      // empty key
		{"1A=1\x00", nil, ErrTextKey},                    // key starts with a digit
		{"A=\xff\x00", nil, ErrTextFormat},               // not UTF-8
		{"A=" + strings.Repeat("v", 256) + "\x00", nil, ErrTextValueLength},
		{"HeaderDigest=" + strings.Repeat("v", 255) + ",None\x00", []string{"HeaderDigest=" + strings.Repeat("v", 255) + ",None"}, nil},
		{"HeaderDigest=None," + strings.Repeat("v", 256) + "\x00", nil, ErrTextValueLength},
		{"CHAP_C=0x" + strings.Repeat("ab", 300) + "\x00", []string{"CHAP_C=0x" + strings.Repeat("ab", 300)}, nil},
		{"X#ext=1\x00X-a.b=2\x00", []string{"X#ext=1", "X-a.b=2"}, nil},
		{"\x00", nil, ErrTextFormat},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.text), func(t *testing.T) {
			data := []byte(tt.text)
			r := NewTextReader(data)
			var got []string
			for r.Next() {
				got = append(got, r.Key()+"="+r.Value())
			}
			clear(data) // keys and values stay valid after data changes
			if strings.Join(got, "|") != strings.Join(tt.pairs, "|") {
				t.Fatalf("pairs %q, want %q", got, tt.pairs)
			}
			if err := r.Err(); !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
		})
	}
}

// TestTargetAcceptsList covers how a list offer is answered: the first
// element we support, Reject for a malformed list even when an element
// before the fault would do.
func TestTargetAcceptsList(t *testing.T) {
	long := strings.Repeat("a", MaxValueLength+1)
	tests := []struct {
		offer, want string
	}{
		{"None", "None"},
		{"CRC32C,None", "None"},
		{"Foo,None,CRC32C", "None"},
		{"None,", ValueReject},
		{",None", ValueReject},
		{"None,,CRC32C", ValueReject},
		{"None," + long, ValueReject},
		{"Foo", ValueReject},
	}
	for _, tt := range tests {
		t.Run(tt.offer[:min(len(tt.offer), 20)], func(t *testing.T) {
			n := mustNegotiator(t, RoleTarget, NegotiatorConfig{})
			out, err := n.Receive(LoginOperationalNegotiation, firstRequest(KeyValue{KeyHeaderDigest, tt.offer}))
			if err != nil {
				t.Fatal(err)
			}
			wantAnswer(t, out, KeyHeaderDigest, tt.want)
		})
	}
}

// TestTargetAnswersNumbers checks that a numerical answer is the result's
// decimal-constant whatever form the offer took.
func TestTargetAnswersNumbers(t *testing.T) {
	tests := []struct {
		offer, want string
	}{
		{"MaxBurstLength=65536", "65536"},
		{"MaxBurstLength=0x10000", "65536"},
		{"MaxBurstLength=0X200", "512"},
		{"MaxBurstLength=16777215", "262144"},
		{"MaxBurstLength=0x40000", "262144"},
		{"MaxBurstLength=0x", ValueReject},
		{"MaxBurstLength=0512", ValueReject},
		{"DefaultTime2Wait=0", "2"},
		{"DefaultTime2Wait=0x0", "2"},
		{"DefaultTime2Wait=7", "7"},
		{"DefaultTime2Wait=0x7", "7"},
	}
	for _, tt := range tests {
		t.Run(tt.offer, func(t *testing.T) {
			n := mustNegotiator(t, RoleTarget, NegotiatorConfig{})
			kv := negKV(tt.offer)
			out, err := n.Receive(LoginOperationalNegotiation, firstRequest(kv))
			if err != nil {
				t.Fatal(err)
			}
			wantAnswer(t, out, kv.Key, tt.want)
		})
	}
}

// TestReceiveRepeatedKeys covers the detection of a key repeated in one
// exchange for every kind of key, in short and long texts.
func TestReceiveRepeatedKeys(t *testing.T) {
	many := func(kvs ...KeyValue) []KeyValue {
		// A text longer than the look-back bound, of distinct keys
		// not understood.
		var in []KeyValue
		for i := range 40 {
			in = append(in, KeyValue{fmt.Sprintf("X-k%d", i), "1"})
		}
		return append(in, kvs...)
	}
	tests := []struct {
		name  string
		stage Stage
		in    []KeyValue
		ok    bool
	}{
		{name: "table key", in: firstRequest(negKV("MaxBurstLength=512"), negKV("MaxBurstLength=512"))},
		{name: "unknown key", in: firstRequest(negKV("X-a=1"), negKV("X-a=2"))},
		{name: "distinct unknown keys", in: firstRequest(negKV("X-a=1"), negKV("X-b=2")), ok: true},
		{name: "auth key", stage: SecurityNegotiation, in: firstRequest(negKV("CHAP_A=5"), negKV("CHAP_A=5"))},
		{name: "long text, unknown key", in: many(firstRequest(negKV("X-k3=2"))...)},
		{name: "long text, table key", in: many(firstRequest(negKV("InitiatorName=" + testIQNInitiator))...)},
		{name: "long text, distinct keys", in: many(firstRequest()...), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage := tt.stage
			if stage == 0 {
				stage = LoginOperationalNegotiation
			}
			n := mustNegotiator(t, RoleTarget, NegotiatorConfig{AuthMethods: []string{AuthMethodCHAP}})
			out, err := n.Receive(stage, tt.in)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				for _, kv := range tt.in {
					if strings.HasPrefix(kv.Key, "X-") {
						wantAnswer(t, out, kv.Key, ValueNotUnderstood)
					}
				}
				return
			}
			if !errors.Is(err, ErrNegotiation) || !strings.Contains(err.Error(), "repeated") {
				t.Fatalf("err = %v, want a repeated key", err)
			}
		})
	}
	// TargetAddress may come more than once.
	n := mustNegotiator(t, RoleInitiator, initiatorCfg())
	n.Offer(LoginOperationalNegotiation)
	if _, err := n.Receive(LoginOperationalNegotiation, []KeyValue{
		{KeyTargetAddress, "10.0.0.1:3260,1"}, {KeyTargetAddress, "10.0.0.2:3260,1"},
	}); err != nil {
		t.Fatal(err)
	}
	// A key not understood may not come again in a later exchange.
	n = mustNegotiator(t, RoleTarget, NegotiatorConfig{})
	if _, err := n.Receive(LoginOperationalNegotiation, firstRequest(negKV("X-a=1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Receive(LoginOperationalNegotiation, []KeyValue{negKV("X-a=1")}); !errors.Is(err, ErrNegotiation) {
		t.Fatalf("err = %v, want ErrNegotiation", err)
	}
}

// TestPendingAfterAnswers checks Pending through a login: required
// offers keep it true until answered; offers whose result is fixed do not.
func TestPendingAfterAnswers(t *testing.T) {
	n := mustNegotiator(t, RoleInitiator, initiatorCfg())
	if n.Pending() {
		t.Fatal("pending before any offer")
	}
	offers := n.Offer(LoginOperationalNegotiation)
	if !n.Pending() {
		t.Fatal("not pending after the offers")
	}
	var answers []KeyValue
	for _, kv := range offers {
		d := keyDefs[keyIDOf(kv.Key)]
		if d.kind == kindDecl || d.kind == kindAnd && kv.Value == ValueNo || d.kind == kindOr && kv.Value == ValueYes {
			continue
		}
		answers = append(answers, kv)
	}
	if _, err := n.Receive(LoginOperationalNegotiation, answers[:len(answers)-1]); err != nil {
		t.Fatal(err)
	}
	if !n.Pending() {
		t.Fatalf("not pending with %v unanswered", answers[len(answers)-1])
	}
	if _, err := n.Receive(LoginOperationalNegotiation, answers[len(answers)-1:]); err != nil {
		t.Fatal(err)
	}
	if n.Pending() {
		t.Fatal("pending after every answer")
	}
}
