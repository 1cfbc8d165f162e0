package iscsi

import (
	"errors"
	"strings"
	"testing"
)

const (
	testIQNInitiator = "iqn.1993-08.org.debian:01:host1"
	testIQNTarget    = "iqn.2024-01.com.lunar:disk1"
)

func mustNegotiator(t testing.TB, role Role, cfg NegotiatorConfig) *Negotiator {
	t.Helper()
	n, err := NewNegotiator(role, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func initiatorCfg() NegotiatorConfig {
	return NegotiatorConfig{InitiatorName: testIQNInitiator, TargetName: testIQNTarget}
}

// firstRequest is the declarations of a first Login Request for a Normal
// session followed by kvs.
func firstRequest(kvs ...KeyValue) []KeyValue {
	return append([]KeyValue{
		{KeyInitiatorName, testIQNInitiator},
		{KeySessionType, "Normal"},
		{KeyTargetName, testIQNTarget},
	}, kvs...)
}

func negKV(s string) KeyValue {
	k, v, _ := strings.Cut(s, "=")
	return KeyValue{k, v}
}

// answerOf returns the value sent for key, and whether there is one.
func answerOf(out Output, key string) (string, bool) {
	for _, a := range out.Send {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func wantAnswer(t *testing.T, out Output, key, want string) {
	t.Helper()
	got, ok := answerOf(out, key)
	if want == "" {
		if ok {
			t.Fatalf("%s answered %q, want no answer", key, got)
		}
		return
	}
	if !ok || got != want {
		t.Fatalf("%s answered %q (present %v), want %q; all: %q", key, got, ok, want, out.Send)
	}
}

func wantNegErr(t *testing.T, err error, target error, detail uint8) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if !errors.Is(err, ErrNegotiation) {
		t.Fatalf("err = %v does not wrap ErrNegotiation", err)
	}
	var ne *NegotiationError
	if !errors.As(err, &ne) {
		t.Fatalf("err = %T, want *NegotiationError", err)
	}
	le := ne.LoginError()
	if le.Class != LoginClassInitiatorError || le.Detail != detail {
		t.Fatalf("login status 0x%02x%02x, want 0x02%02x", le.Class, le.Detail, detail)
	}
}

func TestTargetAnswers(t *testing.T) {
	tests := []struct {
		name  string
		cfg   NegotiatorConfig
		in    []string
		key   string
		want  string // "" means no answer
		check func(p SessionParams) bool
	}{
		{name: "MaxBurstLength above ceiling", cfg: NegotiatorConfig{MaxBurstLength: 262144},
			in: []string{"MaxBurstLength=1048576"}, key: KeyMaxBurstLength, want: "262144",
			check: func(p SessionParams) bool { return p.MaxBurstLength == 262144 }},
		{name: "MaxBurstLength below ceiling", in: []string{"MaxBurstLength=4096"}, key: KeyMaxBurstLength, want: "4096"},
		{name: "MaxBurstLength hex", in: []string{"MaxBurstLength=0x1000"}, key: KeyMaxBurstLength, want: "4096"},
		{name: "MaxBurstLength too small", in: []string{"MaxBurstLength=511"}, key: KeyMaxBurstLength, want: ValueReject,
			check: func(p SessionParams) bool { return p.MaxBurstLength == DefaultMaxBurstLength }},
		{name: "MaxBurstLength too large", in: []string{"MaxBurstLength=16777216"}, key: KeyMaxBurstLength, want: ValueReject},
		{name: "MaxBurstLength malformed", in: []string{"MaxBurstLength=lots"}, key: KeyMaxBurstLength, want: ValueReject},
		{name: "FirstBurstLength minimum", in: []string{"FirstBurstLength=262144"}, key: KeyFirstBurstLength, want: "65536"},
		{name: "FirstBurstLength capped by MaxBurstLength in the same PDU",
			in: []string{"FirstBurstLength=65536", "MaxBurstLength=16384"}, key: KeyFirstBurstLength, want: "16384",
			check: func(p SessionParams) bool { return p.FirstBurstLength == 16384 && p.MaxBurstLength == 16384 }},
		{name: "FirstBurstLength irrelevant", cfg: NegotiatorConfig{NoImmediateData: true},
			in: []string{"FirstBurstLength=65536", "ImmediateData=Yes", "InitialR2T=Yes"}, key: KeyFirstBurstLength, want: ValueIrrelevant},
		{name: "MaxConnections minimum", cfg: NegotiatorConfig{MaxConnections: 4}, in: []string{"MaxConnections=8"}, key: KeyMaxConnections, want: "4"},
		{name: "MaxConnections zero", in: []string{"MaxConnections=0"}, key: KeyMaxConnections, want: ValueReject},
		{name: "DefaultTime2Wait maximum", in: []string{"DefaultTime2Wait=0"}, key: KeyDefaultTime2Wait, want: "2"},
		{name: "DefaultTime2Wait larger", in: []string{"DefaultTime2Wait=10"}, key: KeyDefaultTime2Wait, want: "10"},
		{name: "DefaultTime2Wait out of range", in: []string{"DefaultTime2Wait=3601"}, key: KeyDefaultTime2Wait, want: ValueReject},
		{name: "DefaultTime2Retain minimum", in: []string{"DefaultTime2Retain=0"}, key: KeyDefaultTime2Retain, want: "0"},
		{name: "DefaultTime2Retain capped", in: []string{"DefaultTime2Retain=60"}, key: KeyDefaultTime2Retain, want: "20"},
		{name: "MaxOutstandingR2T", in: []string{"MaxOutstandingR2T=16"}, key: KeyMaxOutstandingR2T, want: "1"},
		{name: "ErrorRecoveryLevel", in: []string{"ErrorRecoveryLevel=2"}, key: KeyErrorRecoveryLevel, want: "0"},
		{name: "ErrorRecoveryLevel out of range", in: []string{"ErrorRecoveryLevel=3"}, key: KeyErrorRecoveryLevel, want: ValueReject},
		{name: "iSCSIProtocolLevel", cfg: NegotiatorConfig{ProtocolLevel: 1}, in: []string{"iSCSIProtocolLevel=2"}, key: KeyISCSIProtocolLevel, want: "1"},
		{name: "InitialR2T OR keeps Yes", in: []string{"InitialR2T=No"}, key: KeyInitialR2T, want: "Yes"},
		{name: "InitialR2T OR allows No", cfg: NegotiatorConfig{NoInitialR2T: true}, in: []string{"InitialR2T=No"}, key: KeyInitialR2T, want: "No",
			check: func(p SessionParams) bool { return !p.InitialR2T }},
		{name: "ImmediateData AND", cfg: NegotiatorConfig{NoImmediateData: true}, in: []string{"ImmediateData=Yes"}, key: KeyImmediateData, want: "No"},
		{name: "ImmediateData Yes", in: []string{"ImmediateData=Yes"}, key: KeyImmediateData, want: "Yes"},
		{name: "ImmediateData malformed", in: []string{"ImmediateData=yes"}, key: KeyImmediateData, want: ValueReject},
		{name: "DataPDUInOrder OR", in: []string{"DataPDUInOrder=No"}, key: KeyDataPDUInOrder, want: "Yes"},
		{name: "DataSequenceInOrder out of order allowed", cfg: NegotiatorConfig{NoDataSequenceInOrder: true},
			in: []string{"DataSequenceInOrder=No"}, key: KeyDataSequenceInOrder, want: "No"},
		{name: "HeaderDigest we accept None only", in: []string{"HeaderDigest=CRC32C,None"}, key: KeyHeaderDigest, want: "None"},
		{name: "HeaderDigest CRC32C", cfg: NegotiatorConfig{HeaderDigests: []string{"None", "CRC32C"}},
			in: []string{"HeaderDigest=CRC32C,None"}, key: KeyHeaderDigest, want: "CRC32C",
			check: func(p SessionParams) bool { return p.HeaderDigest }},
		{name: "DataDigest offer order wins", cfg: NegotiatorConfig{DataDigests: []string{"CRC32C", "None"}},
			in: []string{"DataDigest=None,CRC32C"}, key: KeyDataDigest, want: "None"},
		{name: "DataDigest unknown values skipped", cfg: NegotiatorConfig{DataDigests: []string{"CRC32C"}},
			in: []string{"DataDigest=Y-com.example.md5,CRC32C"}, key: KeyDataDigest, want: "CRC32C"},
		{name: "DataDigest nothing common", in: []string{"DataDigest=Y-com.example.md5"}, key: KeyDataDigest, want: ValueReject},
		{name: "TaskReporting", in: []string{"TaskReporting=FastAbort,RFC3720"}, key: KeyTaskReporting, want: "RFC3720"},
		{name: "TaskReporting FastAbort", cfg: NegotiatorConfig{TaskReporting: []string{"FastAbort", "RFC3720"}},
			in: []string{"TaskReporting=FastAbort"}, key: KeyTaskReporting, want: "FastAbort"},
		{name: "unknown key", in: []string{"Foo=bar"}, key: "Foo", want: ValueNotUnderstood},
		{name: "private key", in: []string{"X-com.example.thing=1"}, key: "X-com.example.thing", want: ValueNotUnderstood},
		{name: "public extension key", in: []string{"X#ACME=1"}, key: "X#ACME", want: ValueNotUnderstood},
		{name: "RFC 3720 marker", in: []string{"IFMarker=No"}, key: "IFMarker", want: "No"},
		{name: "RFC 3720 marker Yes", in: []string{"OFMarker=Yes"}, key: "OFMarker", want: "No"},
		{name: "RFC 3720 marker interval", in: []string{"OFMarkInt=2048~8192"}, key: "OFMarkInt", want: ValueIrrelevant},
		{name: "MaxRecvDataSegmentLength declarative", in: []string{"MaxRecvDataSegmentLength=65536"}, key: KeyMaxRecvDataSegmentLength,
			want:  "8192", // our own declaration, not an answer
			check: func(p SessionParams) bool { return p.InitiatorMaxRecvDSL == 65536 && p.TargetMaxRecvDSL == 8192 }},
		{name: "InitiatorAlias declarative", in: []string{"InitiatorAlias=host one"}, key: KeyInitiatorAlias,
			check: func(p SessionParams) bool { return p.InitiatorAlias == "host one" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNegotiator(t, RoleTarget, tt.cfg)
			var in []KeyValue
			for _, s := range tt.in {
				in = append(in, negKV(s))
			}
			out, err := n.Step(LoginOperationalNegotiation, firstRequest(in...))
			if err != nil {
				t.Fatal(err)
			}
			wantAnswer(t, out, tt.key, tt.want)
			if tt.check != nil && !tt.check(n.Params()) {
				t.Fatalf("params: %v", n.Params())
			}
		})
	}
}

func TestTargetDiscoveryAndNonLeading(t *testing.T) {
	n := mustNegotiator(t, RoleTarget, NegotiatorConfig{})
	out, err := n.Step(LoginOperationalNegotiation, []KeyValue{
		{KeyInitiatorName, testIQNInitiator}, {KeySessionType, "Discovery"},
		negKV("MaxBurstLength=1024"), negKV("MaxConnections=4"), negKV("DefaultTime2Wait=5"), negKV("HeaderDigest=None"),
	})
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, out, KeyMaxBurstLength, ValueIrrelevant)
	wantAnswer(t, out, KeyMaxConnections, ValueIrrelevant)
	wantAnswer(t, out, KeyDefaultTime2Wait, "5")
	wantAnswer(t, out, KeyHeaderDigest, "None")
	wantAnswer(t, out, KeyTargetPortalGroupTag, "") // no TargetName given
	p := n.Params()
	if p.SessionType != SessionDiscovery || p.MaxConnections != 1 || p.MaxBurstLength != DefaultMaxBurstLength {
		t.Fatalf("params: %v", p)
	}

	lead := DefaultSessionParams()
	lead.MaxBurstLength = 65536
	lead.FirstBurstLength = 16384
	n = mustNegotiator(t, RoleTarget, NegotiatorConfig{NonLeading: true, Session: lead})
	out, err = n.Step(LoginOperationalNegotiation, []KeyValue{
		{KeyInitiatorName, testIQNInitiator}, {KeyTargetName, testIQNTarget},
		negKV("MaxBurstLength=1024"), negKV("HeaderDigest=None"), negKV("MaxRecvDataSegmentLength=4096"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// "LO (leading only) - can only be used on the leading connection"
	wantAnswer(t, out, KeyMaxBurstLength, ValueIrrelevant)
	wantAnswer(t, out, KeyHeaderDigest, "None")
	if p := n.Params(); p.MaxBurstLength != 65536 || p.FirstBurstLength != 16384 || p.InitiatorMaxRecvDSL != 4096 {
		t.Fatalf("non-leading params: %v", p)
	}
}

func TestTargetErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     NegotiatorConfig
		stage   Stage
		in      []KeyValue
		second  []KeyValue // a second request, if any
		wantErr error
		detail  uint8
	}{
		{name: "missing InitiatorName", in: []KeyValue{{KeyTargetName, testIQNTarget}},
			wantErr: ErrMissingParameter, detail: LoginDetailMissingParameter},
		{name: "missing TargetName", in: []KeyValue{{KeyInitiatorName, testIQNInitiator}},
			wantErr: ErrMissingParameter, detail: LoginDetailMissingParameter},
		{name: "missing TargetName, SessionType=Normal", in: []KeyValue{{KeyInitiatorName, testIQNInitiator}, {KeySessionType, "Normal"}},
			wantErr: ErrMissingParameter, detail: LoginDetailMissingParameter},
		{name: "bad SessionType", in: firstRequest()[:1:1], wantErr: ErrSessionTypeUnsupported, detail: LoginDetailSessionTypeNotSupported},
		{name: "operational key in security stage", stage: SecurityNegotiation, in: firstRequest(negKV("MaxBurstLength=512")),
			wantErr: ErrNegotiation},
		{name: "MaxRecvDataSegmentLength in security stage", stage: SecurityNegotiation, in: firstRequest(negKV("MaxRecvDataSegmentLength=8192")),
			wantErr: ErrNegotiation},
		{name: "AuthMethod in operational stage", in: firstRequest(negKV("AuthMethod=None")), wantErr: ErrNegotiation},
		{name: "CHAP key in operational stage", in: firstRequest(negKV("CHAP_A=5")), wantErr: ErrNegotiation},
		{name: "SendTargets during login", in: firstRequest(negKV("SendTargets=All")), wantErr: ErrNegotiation},
		{name: "TargetAlias from the initiator", in: firstRequest(negKV("TargetAlias=x")), wantErr: ErrNegotiation},
		{name: "TargetPortalGroupTag from the initiator", in: firstRequest(negKV("TargetPortalGroupTag=1")), wantErr: ErrNegotiation},
		{name: "MaxRecvDataSegmentLength too small", in: firstRequest(negKV("MaxRecvDataSegmentLength=511")), wantErr: ErrNegotiation},
		{name: "MaxRecvDataSegmentLength malformed", in: firstRequest(negKV("MaxRecvDataSegmentLength=big")), wantErr: ErrTextValue},
		{name: "bad InitiatorName", in: []KeyValue{{KeyInitiatorName, "has space"}, {KeyTargetName, testIQNTarget}}, wantErr: ErrTextValue},
		{name: "key twice in one request", in: firstRequest(negKV("MaxBurstLength=512"), negKV("MaxBurstLength=512")), wantErr: ErrNegotiation},
		{name: "key renegotiated", in: firstRequest(negKV("MaxBurstLength=512")), second: []KeyValue{negKV("MaxBurstLength=512")}, wantErr: ErrNegotiation},
		{name: "InitiatorName redeclared", in: firstRequest(), second: []KeyValue{{KeyInitiatorName, testIQNInitiator}}, wantErr: ErrNegotiation},
		{name: "unknown key repeated", in: firstRequest(negKV("Foo=1")), second: []KeyValue{negKV("Foo=1")}, wantErr: ErrNegotiation},
		{name: "SessionType late", in: firstRequest(), second: []KeyValue{negKV("SessionType=Discovery")}, wantErr: ErrNegotiation},
		{name: "no acceptable AuthMethod", cfg: NegotiatorConfig{AuthMethods: []string{"CHAP"}}, stage: SecurityNegotiation,
			in: firstRequest(negKV("AuthMethod=None")), wantErr: ErrNoAuthMethod, detail: LoginDetailAuthenticationFailure},
		{name: "digest required", cfg: NegotiatorConfig{HeaderDigests: []string{"CRC32C"}}, in: firstRequest(negKV("HeaderDigest=None")),
			wantErr: ErrNegotiation},
		{name: "full feature phase", stage: FullFeaturePhase, in: firstRequest(), wantErr: ErrNegotiation},
	}
	tests[3].in = []KeyValue{{KeyInitiatorName, testIQNInitiator}, {KeySessionType, "Bogus"}, {KeyTargetName, testIQNTarget}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNegotiator(t, RoleTarget, tt.cfg)
			stage := tt.stage
			if stage == 0 && !strings.Contains(tt.name, "security") && tt.cfg.AuthMethods == nil {
				stage = LoginOperationalNegotiation
			}
			_, err := n.Step(stage, tt.in)
			if tt.second != nil {
				if err != nil {
					t.Fatalf("first request: %v", err)
				}
				_, err = n.Step(stage, tt.second)
			}
			wantNegErr(t, err, tt.wantErr, tt.detail)
			// The error is final.
			if _, err2 := n.Step(stage, nil); err2 != err {
				t.Fatalf("second call err = %v, want the first %v", err2, err)
			}
			if n.Offer(stage) != nil || n.Err() != err {
				t.Fatal("Offer or Err after an error")
			}
		})
	}
}

func TestTargetDiscoveryNeedsNoTargetName(t *testing.T) {
	n := mustNegotiator(t, RoleTarget, NegotiatorConfig{})
	if _, err := n.Step(SecurityNegotiation, []KeyValue{{KeyInitiatorName, testIQNInitiator}, {KeySessionType, "Discovery"}}); err != nil {
		t.Fatal(err)
	}
}

func TestTargetMalformedText(t *testing.T) {
	n := mustNegotiator(t, RoleTarget, NegotiatorConfig{})
	_, err := n.StepText(LoginOperationalNegotiation, []byte("InitiatorName=iqn.x\x00TargetName"))
	wantNegErr(t, err, ErrNegotiation, LoginDetailInitiatorError)
	if !errors.Is(err, ErrTextFormat) {
		t.Fatalf("err = %v, want ErrTextFormat too", err)
	}
}

func TestTargetSecurityStage(t *testing.T) {
	n := mustNegotiator(t, RoleTarget, NegotiatorConfig{AuthMethods: []string{"CHAP"}, TargetAlias: "disk one", TargetPortalGroupTag: 7})
	out, err := n.Step(SecurityNegotiation, firstRequest(negKV("AuthMethod=None,CHAP"), negKV("InitiatorAlias=h")))
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, out, KeyAuthMethod, "CHAP")
	wantAnswer(t, out, KeyTargetPortalGroupTag, "7")
	wantAnswer(t, out, KeyTargetAlias, "disk one")
	out, err = n.Step(SecurityNegotiation, []KeyValue{negKV("CHAP_A=7,5")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Send) != 0 || len(out.Auth) != 1 || out.Auth[0] != negKV("CHAP_A=7,5") {
		t.Fatalf("CHAP_A step: %+v", out)
	}
	if p := n.Params(); p.AuthMethod != "CHAP" || p.TargetPortalGroupTag != 7 || p.InitiatorAlias != "h" {
		t.Fatalf("params: %v", p)
	}
}

// TestTargetOffers checks a target offering the keys whose defaults it
// cannot accept, and validating the initiator's answers.
func TestTargetOffers(t *testing.T) {
	cfg := NegotiatorConfig{MaxBurstLength: 65536, FirstBurstLength: 8192, NoImmediateData: true,
		DefaultTime2Wait: 5, DefaultTime2Retain: 10, HeaderDigests: []string{"CRC32C"}}
	n := mustNegotiator(t, RoleTarget, cfg)
	out, err := n.Step(LoginOperationalNegotiation, firstRequest())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MaxBurstLength=65536", "ImmediateData=No",
		"DefaultTime2Wait=5", "DefaultTime2Retain=10", "HeaderDigest=CRC32C", "MaxRecvDataSegmentLength=8192"} {
		k := negKV(want)
		wantAnswer(t, out, k.Key, k.Value)
	}
	// ImmediateData=No with InitialR2T=Yes makes FirstBurstLength
	// irrelevant, so it is not offered.
	for _, absent := range []string{KeyFirstBurstLength, KeyMaxConnections, KeyInitialR2T, KeyErrorRecoveryLevel, KeyDataDigest, KeyAuthMethod} {
		wantAnswer(t, out, absent, "")
	}
	if !n.Pending() {
		t.Fatal("target offers need answers")
	}
	// ImmediateData=No needs no answer (AND); its result is fixed now.
	if n.Params().ImmediateData {
		t.Fatal("ImmediateData still Yes")
	}
	// A larger MaxBurstLength breaks the Minimum rule.
	bad := mustNegotiator(t, RoleTarget, cfg)
	if _, err := bad.Step(LoginOperationalNegotiation, firstRequest()); err != nil {
		t.Fatal(err)
	}
	_, err = bad.Step(LoginOperationalNegotiation, []KeyValue{negKV("MaxBurstLength=131072")})
	wantNegErr(t, err, ErrNegotiation, LoginDetailInitiatorError)

	_, err = n.Step(LoginOperationalNegotiation, []KeyValue{negKV("MaxBurstLength=32768"),
		negKV("DefaultTime2Wait=5"), negKV("DefaultTime2Retain=0"), negKV("HeaderDigest=CRC32C"), negKV("ImmediateData=No")})
	if err != nil {
		t.Fatal(err)
	}
	if n.Pending() {
		t.Fatal("still pending")
	}
	p := n.Params()
	if p.MaxBurstLength != 32768 || p.FirstBurstLength != 32768 || p.DefaultTime2Wait != 5 || p.DefaultTime2Retain != 0 || !p.HeaderDigest {
		t.Fatalf("params: %v", p)
	}
}

func TestInitiatorValidatesAnswers(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(*NegotiatorConfig)
		answers []string
		wantErr error
		check   func(p SessionParams) bool
	}{
		{name: "MaxBurstLength larger than offered", answers: []string{"MaxBurstLength=1048576"}, wantErr: ErrNegotiation},
		{name: "MaxBurstLength smaller", answers: []string{"MaxBurstLength=65536"},
			check: func(p SessionParams) bool { return p.MaxBurstLength == 65536 && p.FirstBurstLength == 65536 }},
		{name: "MaxBurstLength below FirstBurstLength", answers: []string{"MaxBurstLength=16384"},
			check: func(p SessionParams) bool { return p.MaxBurstLength == 16384 && p.FirstBurstLength == 16384 }},
		{name: "MaxBurstLength out of range", answers: []string{"MaxBurstLength=100"}, wantErr: ErrNegotiation},
		{name: "DefaultTime2Wait smaller than offered", answers: []string{"DefaultTime2Wait=1"}, wantErr: ErrNegotiation},
		{name: "DefaultTime2Wait larger", answers: []string{"DefaultTime2Wait=5"},
			check: func(p SessionParams) bool { return p.DefaultTime2Wait == 5 }},
		{name: "ErrorRecoveryLevel above offer", answers: []string{"ErrorRecoveryLevel=1"}, wantErr: ErrNegotiation},
		{name: "digest not offered", answers: []string{"HeaderDigest=CRC32C"}, wantErr: ErrNegotiation},
		{name: "digest from list", cfg: func(c *NegotiatorConfig) { c.DataDigests = []string{"CRC32C", "None"} },
			answers: []string{"DataDigest=CRC32C"}, check: func(p SessionParams) bool { return p.DataDigest }},
		{name: "digest list as answer", cfg: func(c *NegotiatorConfig) { c.DataDigests = []string{"CRC32C", "None"} },
			answers: []string{"DataDigest=CRC32C,None"}, wantErr: ErrNegotiation},
		{name: "Reject leaves acceptable default", answers: []string{"HeaderDigest=Reject"},
			check: func(p SessionParams) bool { return !p.HeaderDigest }},
		{name: "Reject leaves unacceptable default", cfg: func(c *NegotiatorConfig) { c.HeaderDigests = []string{"CRC32C"} },
			answers: []string{"HeaderDigest=Reject"}, wantErr: ErrNegotiation},
		{name: "ImmediateData Yes to No", cfg: func(c *NegotiatorConfig) { c.NoImmediateData = true },
			answers: []string{"ImmediateData=Yes"}, wantErr: ErrNegotiation},
		{name: "ImmediateData No to Yes", answers: []string{"ImmediateData=No"},
			check: func(p SessionParams) bool { return !p.ImmediateData }},
		{name: "InitialR2T No to Yes", answers: []string{"InitialR2T=No"}, wantErr: ErrNegotiation},
		{name: "InitialR2T answer to No", cfg: func(c *NegotiatorConfig) { c.NoInitialR2T = true },
			answers: []string{"InitialR2T=Yes"}, check: func(p SessionParams) bool { return p.InitialR2T }},
		{name: "bad boolean", answers: []string{"DataPDUInOrder=Maybe"}, wantErr: ErrNegotiation},
		{name: "NotUnderstood protocol level", cfg: func(c *NegotiatorConfig) { c.ProtocolLevel = 2 },
			answers: []string{"iSCSIProtocolLevel=NotUnderstood"}, check: func(p SessionParams) bool { return p.ISCSIProtocolLevel == 0 }},
		{name: "Irrelevant answer", answers: []string{"MaxConnections=Irrelevant"},
			check: func(p SessionParams) bool { return p.MaxConnections == 1 }},
		{name: "target declares", answers: []string{"MaxRecvDataSegmentLength=262144", "TargetPortalGroupTag=0x0003", "TargetAlias=Disk"},
			check: func(p SessionParams) bool {
				return p.TargetMaxRecvDSL == 262144 && p.InitiatorMaxRecvDSL == 8192 && p.TargetPortalGroupTag == 3 && p.TargetAlias == "Disk"
			}},
		{name: "TargetPortalGroupTag above 16 bits", answers: []string{"TargetPortalGroupTag=65536"}, wantErr: ErrNegotiation},
		{name: "target sends SessionType", answers: []string{"SessionType=Normal"}, wantErr: ErrNegotiation},
		{name: "target sends TargetName", answers: []string{"TargetName=" + testIQNTarget}, wantErr: ErrNegotiation},
		{name: "target sends InitiatorAlias", answers: []string{"InitiatorAlias=x"}, wantErr: ErrNegotiation},
		{name: "answer twice", answers: []string{"MaxBurstLength=65536"}, wantErr: ErrNegotiation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := initiatorCfg()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			n := mustNegotiator(t, RoleInitiator, cfg)
			offers := n.Offer(LoginOperationalNegotiation)
			if len(offers) == 0 || !n.Pending() {
				t.Fatalf("offers %q pending %v", offers, n.Pending())
			}
			var in []KeyValue
			for _, s := range tt.answers {
				in = append(in, negKV(s))
			}
			_, err := n.Receive(LoginOperationalNegotiation, in)
			if tt.name == "answer twice" && err == nil {
				_, err = n.Receive(LoginOperationalNegotiation, in)
			}
			if tt.wantErr != nil {
				wantNegErr(t, err, tt.wantErr, LoginDetailInitiatorError)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil && !tt.check(n.Params()) {
				t.Fatalf("params: %v", n.Params())
			}
		})
	}
}

func TestInitiatorOffers(t *testing.T) {
	cfg := initiatorCfg()
	cfg.InitiatorAlias = "host1"
	cfg.AuthMethods = []string{"CHAP", "None"}
	n := mustNegotiator(t, RoleInitiator, cfg)
	sec := n.Offer(SecurityNegotiation)
	want := []KeyValue{{KeyInitiatorName, testIQNInitiator}, {KeyInitiatorAlias, "host1"}, {KeySessionType, "Normal"},
		{KeyTargetName, testIQNTarget}, {KeyAuthMethod, "CHAP,None"}}
	wantTextPairs(t, sec, want)
	if again := n.Offer(SecurityNegotiation); len(again) != 0 {
		t.Fatalf("offers repeated: %q", again)
	}
	op := n.Offer(LoginOperationalNegotiation)
	keys := make([]string, len(op))
	for i, o := range op {
		keys[i] = o.Key
	}
	wantKeys := []string{KeyHeaderDigest, KeyDataDigest, KeyMaxRecvDataSegmentLength, KeyMaxConnections, KeyInitialR2T,
		KeyImmediateData, KeyMaxBurstLength, KeyFirstBurstLength, KeyDefaultTime2Wait, KeyDefaultTime2Retain,
		KeyMaxOutstandingR2T, KeyDataPDUInOrder, KeyDataSequenceInOrder, KeyErrorRecoveryLevel}
	if strings.Join(keys, " ") != strings.Join(wantKeys, " ") {
		t.Fatalf("operational offers %q,\nwant %q", keys, wantKeys)
	}

	d := mustNegotiator(t, RoleInitiator, NegotiatorConfig{InitiatorName: testIQNInitiator, SessionType: SessionDiscovery})
	op = d.Offer(LoginOperationalNegotiation)
	var got []string
	for _, o := range op {
		got = append(got, o.Key)
	}
	if strings.Join(got, " ") != "InitiatorName SessionType HeaderDigest DataDigest MaxRecvDataSegmentLength DefaultTime2Wait DefaultTime2Retain ErrorRecoveryLevel" {
		t.Fatalf("discovery offers %q", got)
	}
}

func TestNegotiatorConfigValidation(t *testing.T) {
	bad := []struct {
		role Role
		cfg  NegotiatorConfig
	}{
		{RoleInitiator, NegotiatorConfig{TargetName: testIQNTarget}},
		{RoleInitiator, NegotiatorConfig{InitiatorName: testIQNInitiator}},
		{RoleTarget, NegotiatorConfig{HeaderDigests: []string{"MD5"}}},
		{RoleTarget, NegotiatorConfig{DataDigests: []string{}}},
		{RoleTarget, NegotiatorConfig{AuthMethods: []string{"Reject"}}},
		{RoleTarget, NegotiatorConfig{TaskReporting: []string{"Bogus"}}},
		{RoleTarget, NegotiatorConfig{MaxRecvDataSegmentLength: 100}},
		{RoleTarget, NegotiatorConfig{MaxBurstLength: 1 << 24}},
		{RoleTarget, NegotiatorConfig{MaxErrorRecoveryLevel: 3}},
		{RoleTarget, NegotiatorConfig{DefaultTime2Wait: 3601}},
		{RoleTarget, NegotiatorConfig{ProtocolLevel: 32}},
		{RoleTarget, NegotiatorConfig{NonLeading: true}},
		{Role(7), NegotiatorConfig{}},
	}
	for i, b := range bad {
		if _, err := NewNegotiator(b.role, b.cfg); err == nil {
			t.Errorf("case %d: config accepted", i)
		}
	}
	if _, err := NewNegotiator(RoleTarget, NegotiatorConfig{}); err != nil {
		t.Fatalf("zero target config: %v", err)
	}
}

// runLogin drives an initiator and a target Negotiator against each other
// through encoded text, stage by stage, and returns both results.
func runLogin(t *testing.T, icfg, tcfg NegotiatorConfig) (ini, tgt SessionParams) {
	t.Helper()
	in := mustNegotiator(t, RoleInitiator, icfg)
	tn := mustNegotiator(t, RoleTarget, tcfg)
	var auth []KeyValue
	for _, stage := range []Stage{SecurityNegotiation, LoginOperationalNegotiation} {
		req := in.Offer(stage)
		for round := 0; ; round++ {
			if round == 10 {
				t.Fatalf("stage %v does not settle", stage)
			}
			out, err := tn.StepText(stage, AppendPairs(nil, req))
			if err != nil {
				t.Fatalf("target: %v", err)
			}
			auth = append(auth, out.Auth...)
			iout, err := in.ReceiveText(stage, out.AppendText(nil))
			if err != nil {
				t.Fatalf("initiator: %v", err)
			}
			req = append(iout.Send, in.Offer(stage)...)
			if len(req) == 0 && !in.Pending() && !tn.Pending() {
				break
			}
		}
	}
	if len(auth) != 0 {
		t.Fatalf("unexpected auth keys %q", auth)
	}
	return in.Params(), tn.Params()
}

func TestNegotiationRun(t *testing.T) {
	tests := []struct {
		name  string
		icfg  NegotiatorConfig
		tcfg  NegotiatorConfig
		check func(p SessionParams) bool
	}{
		{name: "defaults", icfg: initiatorCfg(), check: func(p SessionParams) bool {
			want := DefaultSessionParams()
			want.InitiatorName, want.TargetName = testIQNInitiator, testIQNTarget
			return p == want
		}},
		{name: "tuned", icfg: NegotiatorConfig{InitiatorName: testIQNInitiator, TargetName: testIQNTarget,
			InitiatorAlias: "h1", AuthMethods: []string{"CHAP", "None"},
			HeaderDigests: []string{"CRC32C", "None"}, DataDigests: []string{"CRC32C", "None"},
			MaxRecvDataSegmentLength: 262144, MaxBurstLength: 1 << 20, FirstBurstLength: 262144,
			MaxConnections: 8, MaxOutstandingR2T: 8, DefaultTime2Retain: 20, ProtocolLevel: 2, NoInitialR2T: true,
			TaskReporting: []string{"FastAbort", "ResponseFence", "RFC3720"}},
			tcfg: NegotiatorConfig{AuthMethods: []string{"None"}, HeaderDigests: []string{"None", "CRC32C"},
				MaxRecvDataSegmentLength: 65536, MaxBurstLength: 524288, FirstBurstLength: 131072,
				MaxConnections: 4, MaxOutstandingR2T: 4, ProtocolLevel: 1, NoInitialR2T: true,
				TargetAlias: "lunar disk", TargetPortalGroupTag: 2, TaskReporting: []string{"ResponseFence", "RFC3720"}},
			check: func(p SessionParams) bool {
				return p.HeaderDigest && !p.DataDigest && p.MaxBurstLength == 524288 && p.FirstBurstLength == 131072 &&
					p.MaxConnections == 4 && p.MaxOutstandingR2T == 4 && !p.InitialR2T && p.ImmediateData &&
					p.InitiatorMaxRecvDSL == 262144 && p.TargetMaxRecvDSL == 65536 && p.ISCSIProtocolLevel == 1 &&
					p.TaskReporting == "ResponseFence" && p.TargetAlias == "lunar disk" && p.TargetPortalGroupTag == 2 &&
					p.InitiatorAlias == "h1" && p.AuthMethod == "None"
			}},
		{name: "target stricter than defaults", icfg: NegotiatorConfig{InitiatorName: testIQNInitiator, TargetName: testIQNTarget,
			MaxBurstLength: 1 << 20, FirstBurstLength: 1 << 20},
			tcfg: NegotiatorConfig{MaxBurstLength: 16384, NoImmediateData: true, DefaultTime2Wait: 4},
			check: func(p SessionParams) bool {
				return p.MaxBurstLength == 16384 && p.FirstBurstLength == 16384 && !p.ImmediateData && p.DefaultTime2Wait == 4
			}},
		{name: "discovery", icfg: NegotiatorConfig{InitiatorName: testIQNInitiator, SessionType: SessionDiscovery, MaxBurstLength: 4096},
			check: func(p SessionParams) bool {
				return p.SessionType == SessionDiscovery && p.MaxConnections == 1 && p.MaxBurstLength == DefaultMaxBurstLength && p.TargetName == ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip, tp := runLogin(t, tt.icfg, tt.tcfg)
			if ip != tp {
				t.Fatalf("initiator and target disagree:\n I: %v\n T: %v", ip, tp)
			}
			if err := ip.Validate(); err != nil {
				t.Fatal(err)
			}
			if !tt.check(ip) {
				t.Fatalf("params: %v", ip)
			}
		})
	}
}

func TestNegotiationRunWithCHAP(t *testing.T) {
	icfg := initiatorCfg()
	icfg.AuthMethods = []string{"CHAP", "None"}
	in := mustNegotiator(t, RoleInitiator, icfg)
	tn := mustNegotiator(t, RoleTarget, NegotiatorConfig{AuthMethods: []string{"CHAP"}})
	out, err := tn.Step(SecurityNegotiation, in.Offer(SecurityNegotiation))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Receive(SecurityNegotiation, out.Send); err != nil {
		t.Fatal(err)
	}
	if in.Pending() || in.Params().AuthMethod != "CHAP" || tn.Params().AuthMethod != "CHAP" {
		t.Fatalf("AuthMethod: %v / %v", in.Params().AuthMethod, tn.Params().AuthMethod)
	}
	// The CHAP exchange passes through both sides untouched.
	out, err = tn.Step(SecurityNegotiation, []KeyValue{negKV("CHAP_A=5")})
	if err != nil || len(out.Auth) != 1 || len(out.Send) != 0 {
		t.Fatalf("target CHAP_A: %+v, %v", out, err)
	}
	iout, err := in.Receive(SecurityNegotiation, []KeyValue{negKV("CHAP_A=5"), negKV("CHAP_I=1"), negKV("CHAP_C=0x0102")})
	if err != nil || len(iout.Auth) != 3 || len(iout.Send) != 0 {
		t.Fatalf("initiator CHAP: %+v, %v", iout, err)
	}
}

func TestParamsHelpers(t *testing.T) {
	p := DefaultSessionParams()
	p.InitiatorMaxRecvDSL, p.TargetMaxRecvDSL = 4096, 65536
	if p.MaxSendDSL(RoleInitiator) != 65536 || p.MaxSendDSL(RoleTarget) != 4096 ||
		p.MaxRecvDSL(RoleInitiator) != 4096 || p.MaxRecvDSL(RoleTarget) != 65536 {
		t.Fatal("MaxSendDSL/MaxRecvDSL")
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.FirstBurstLength = p.MaxBurstLength + 1
	if err := p.Validate(); !errors.Is(err, ErrTextValue) {
		t.Fatalf("FirstBurstLength > MaxBurstLength: %v", err)
	}
	if SessionDiscovery.String() != "Discovery" || RoleTarget.String() != "target" || !strings.Contains(p.String(), "MaxBurstLength=262144") {
		t.Fatal("String methods")
	}
	if _, err := ParseSessionType("discovery"); !errors.Is(err, ErrTextValue) {
		t.Fatal("ParseSessionType is case sensitive")
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, seg := range goldenTextSegments(f) {
		f.Add(byte(0), seg)
		f.Add(byte(1), seg)
	}
	f.Add(byte(1), AppendPairs(nil, firstRequest(negKV("MaxBurstLength=1048576"), negKV("HeaderDigest=CRC32C,None"))))
	f.Add(byte(0), AppendPairs(nil, firstRequest(negKV("AuthMethod=CHAP,None"), negKV("CHAP_A=5"))))
	f.Add(byte(1), AppendPairs(nil, []KeyValue{{KeyInitiatorName, testIQNInitiator}, {KeySessionType, "Discovery"}, negKV("X-a=1"), negKV("IFMarker=No")}))
	f.Add(byte(1), goldenText)
	f.Add(byte(3), []byte("A=1\x00"))
	f.Fuzz(func(t *testing.T, stage byte, data []byte) {
		n, err := NewNegotiator(RoleTarget, NegotiatorConfig{AuthMethods: []string{"CHAP", "None"},
			HeaderDigests: []string{"CRC32C", "None"}, MaxBurstLength: 65536, NoImmediateData: true, TargetAlias: "a"})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			out, err := n.StepText(Stage(stage%4), data)
			if err != nil {
				if !errors.Is(err, ErrNegotiation) {
					t.Fatalf("error %v is not ErrNegotiation", err)
				}
				return
			}
			text := out.AppendText(nil)
			kvs, err := ParseText(text)
			if err != nil {
				t.Fatalf("response %q does not parse: %v", text, err)
			}
			if len(kvs) != len(out.Send) {
				t.Fatalf("response pairs %d, sent %d", len(kvs), len(out.Send))
			}
			if err := n.Params().Validate(); err != nil {
				t.Fatalf("params invalid: %v", err)
			}
		}
	})
}
