package target

import (
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// rawLogin sends one Login Request with kvs, in the operational stage
// asking for the Full Feature Phase unless mod changes it, and returns
// the response.
func (p *connPeer) rawLogin(kvs []iscsi.KeyValue, mod func(*iscsi.LoginRequest)) *iscsi.LoginResponse {
	p.t.Helper()
	req := &iscsi.LoginRequest{
		Transit: true, CSG: iscsi.LoginOperationalNegotiation, NSG: iscsi.FullFeaturePhase,
		ISID: p.isid, TSIH: p.tsih, ITT: p.nextITT(), CmdSN: p.cmdSN,
		Data: iscsi.AppendPairs(nil, kvs),
	}
	if mod != nil {
		mod(req)
	}
	p.send(req)
	return connWant[*iscsi.LoginResponse](p.t, p)
}

func loginWantStatus(t *testing.T, r *iscsi.LoginResponse, class, detail uint8) {
	t.Helper()
	if r.StatusClass != class || r.StatusDetail != detail {
		t.Fatalf("login status %#02x%02x (%s), want %#02x%02x", r.StatusClass, r.StatusDetail,
			iscsi.LoginStatusText(r.StatusClass, r.StatusDetail), class, detail)
	}
}

func loginKVs(pairs ...string) []iscsi.KeyValue {
	var out []iscsi.KeyValue
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, iscsi.KeyValue{Key: pairs[i], Value: pairs[i+1]})
	}
	return out
}

func TestLoginRefusals(t *testing.T) {
	env := connStart(t, ServerConfig{})
	env.dir.setAccess(connTestTarget2, connTestInitiator, Access{Allowed: true,
		CHAP: &CHAPCredentials{Name: "host1", Secret: []byte("host1-secret-123")}})
	normal := func(target, initiator string) []iscsi.KeyValue {
		return loginKVs(iscsi.KeyInitiatorName, initiator, iscsi.KeyTargetName, target, iscsi.KeySessionType, "Normal")
	}
	tests := []struct {
		name          string
		kvs           []iscsi.KeyValue
		mod           func(*iscsi.LoginRequest)
		class, detail uint8
		patch         func(b []byte) // edits the encoded request
	}{
		{"unknown target", normal("iqn.2026-11.org.lunar:nope", connTestInitiator), nil, 2, 0x03, nil},
		{"not authorised", normal(connTestTarget, connTestStranger), nil, 2, 0x02, nil},
		{"no initiator name", loginKVs(iscsi.KeyTargetName, connTestTarget), nil, 2, 0x07, nil},
		{"no target name", loginKVs(iscsi.KeyInitiatorName, connTestInitiator), nil, 2, 0x07, nil},
		{"bad session type", loginKVs(iscsi.KeyInitiatorName, connTestInitiator, iscsi.KeySessionType, "Bogus"), nil, 2, 0x09, nil},
		{"unsupported version", normal(connTestTarget, connTestInitiator), func(r *iscsi.LoginRequest) { r.VersionMin, r.VersionMax = 1, 2 }, 2, 0x05, nil},
		{"unknown TSIH", normal(connTestTarget, connTestInitiator), func(r *iscsi.LoginRequest) { r.TSIH = 4242 }, 2, 0x0a, nil},
		{"CHAP required, security skipped", normal(connTestTarget2, connTestInitiator), nil, 2, 0x01, nil},
		{"CHAP required, AuthMethod None", append(normal(connTestTarget2, connTestInitiator), iscsi.KeyValue{Key: iscsi.KeyAuthMethod, Value: "None"}),
			func(r *iscsi.LoginRequest) {
				r.CSG, r.NSG = iscsi.SecurityNegotiation, iscsi.LoginOperationalNegotiation
			}, 2, 0x01, nil},
		{"T and C", normal(connTestTarget, connTestInitiator), nil, 2, 0x00, func(b []byte) { b[1] |= 0x40 }},
		{"bad stage", normal(connTestTarget, connTestInitiator), nil, 2, 0x00, func(b []byte) { b[1] = b[1]&^0x0c | 0x08 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := connDial(t, env.addr)
			if tc.patch != nil {
				b, err := iscsi.Marshal(&iscsi.LoginRequest{Transit: true, CSG: iscsi.LoginOperationalNegotiation,
					NSG: iscsi.FullFeaturePhase, ISID: p.isid, ITT: 1, Data: iscsi.AppendPairs(nil, tc.kvs)})
				if err != nil {
					t.Fatal(err)
				}
				tc.patch(b)
				if _, err := p.nc.Write(b); err != nil {
					t.Fatal(err)
				}
				loginWantStatus(t, connWant[*iscsi.LoginResponse](t, p), tc.class, tc.detail)
				p.wantClosed()
				return
			}
			loginWantStatus(t, p.rawLogin(tc.kvs, tc.mod), tc.class, tc.detail)
			// "never a bare close": the response came; then the close.
			p.wantClosed()
		})
	}
	t.Run("not a login request first", func(t *testing.T) {
		p := connDial(t, env.addr)
		p.send(&iscsi.NOPOut{Immediate: true, ITT: 1, TTT: iscsi.ReservedTag})
		loginWantStatus(t, connWant[*iscsi.LoginResponse](t, p), 2, 0x0b)
		p.wantClosed()
	})
	if n := env.srv.Stats().Errors[ErrorKindLogin]; n < uint64(len(tests)) {
		t.Errorf("login errors counted %d, want at least %d", n, len(tests))
	}
	if n := len(env.srv.Sessions()); n != 0 {
		t.Errorf("%d sessions after refused logins", n)
	}
}

func TestLoginTooManyConnectionsAndSessions(t *testing.T) {
	env := connStart(t, ServerConfig{MaxSessionsPerInitiator: 1})
	a := connDial(t, env.addr)
	a.mustLogin(connLoginOpts{})
	// A second connection for the session, with another CID.
	b := connDial(t, env.addr)
	b.isid, b.tsih = a.isid, a.tsih
	r := b.rawLogin(loginKVs(iscsi.KeyInitiatorName, connTestInitiator, iscsi.KeyTargetName, connTestTarget),
		func(r *iscsi.LoginRequest) { r.CID = 2 })
	loginWantStatus(t, r, 2, 0x06)
	// A second session of the same initiator beyond the limit.
	c := connDial(t, env.addr)
	c.isid = iscsi.NewRandomISID(0x111111, 9)
	loginWantStatus(t, c.login(connLoginOpts{}), 3, 0x02)
	a.logout()
}

// loginCHAP logs in through the security stage with CHAP.
func (p *connPeer) loginCHAP(target string, ccfg iscsi.CHAPInitiatorConfig) *iscsi.LoginResponse {
	p.t.Helper()
	neg, err := iscsi.NewNegotiator(iscsi.RoleInitiator, iscsi.NegotiatorConfig{
		InitiatorName: connTestInitiator, TargetName: target, AuthMethods: []string{iscsi.AuthMethodCHAP},
		MaxRecvDataSegmentLength: 65536,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	chap, err := iscsi.NewCHAPInitiatorExchange(ccfg)
	if err != nil {
		p.t.Fatal(err)
	}
	step := func(kvs []iscsi.KeyValue, transit bool, csg, nsg iscsi.Stage) *iscsi.LoginResponse {
		p.t.Helper()
		p.send(&iscsi.LoginRequest{Transit: transit, CSG: csg, NSG: nsg, ISID: p.isid, ITT: p.nextITT(),
			CmdSN: p.cmdSN, Data: iscsi.AppendPairs(nil, kvs)})
		return connWant[*iscsi.LoginResponse](p.t, p)
	}
	sec := iscsi.SecurityNegotiation
	r := step(neg.Offer(sec), false, sec, 0)
	if r.StatusClass != 0 {
		return r
	}
	if _, err := neg.ReceiveText(sec, r.Data); err != nil {
		p.t.Fatal(err)
	}
	start, err := chap.Start()
	if err != nil {
		p.t.Fatal(err)
	}
	r = step(start, false, sec, 0)
	if r.StatusClass != 0 {
		return r
	}
	out, err := neg.ReceiveText(sec, r.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	answer, err := chap.Step(out.Auth)
	if err != nil {
		p.t.Fatal(err)
	}
	r = step(answer, true, sec, iscsi.LoginOperationalNegotiation)
	if r.StatusClass != 0 {
		return r
	}
	out, err = neg.ReceiveText(sec, r.Data)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(out.Auth) > 0 {
		if _, err := chap.Step(out.Auth); err != nil {
			p.t.Fatalf("target's mutual CHAP answer: %v", err)
		}
	}
	if !chap.Done() || !r.Transit {
		p.t.Fatalf("CHAP not done (transit %v)", r.Transit)
	}
	op := iscsi.LoginOperationalNegotiation
	r = step(neg.Offer(op), true, op, iscsi.FullFeaturePhase)
	if r.StatusClass == 0 {
		if _, err := neg.ReceiveText(op, r.Data); err != nil {
			p.t.Fatal(err)
		}
		p.params, p.tsih, p.cmdSN = neg.Params(), r.TSIH, r.ExpCmdSN
		p.fr, _ = iscsi.NewFramer(p.nc, p.nc, p.framerConfig())
	}
	return r
}

func TestLoginCHAP(t *testing.T) {
	env := connStart(t, ServerConfig{})
	secret := []byte("host1-secret-123")
	tsecret := []byte("target-secret-456")
	env.dir.setAccess(connTestTarget, connTestInitiator, Access{Allowed: true,
		CHAP:       &CHAPCredentials{Name: "host1", Secret: secret},
		MutualCHAP: &CHAPCredentials{Name: "disk", Secret: tsecret}})
	t.Run("one-way", func(t *testing.T) {
		p := connDial(t, env.addr)
		r := p.loginCHAP(connTestTarget, iscsi.CHAPInitiatorConfig{Name: "host1", Secret: secret})
		loginWantStatus(t, r, 0, 0)
		p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
		if s := connWant[*iscsi.SCSIResponse](t, p); s.Status != scsi.StatusGood {
			t.Fatalf("status %v", s.Status)
		}
		p.logout()
	})
	t.Run("mutual", func(t *testing.T) {
		p := connDial(t, env.addr)
		r := p.loginCHAP(connTestTarget, iscsi.CHAPInitiatorConfig{Name: "host1", Secret: secret,
			TargetSecret: tsecret, TargetName: "disk"})
		loginWantStatus(t, r, 0, 0)
		p.logout()
	})
	t.Run("wrong secret", func(t *testing.T) {
		p := connDial(t, env.addr)
		r := p.loginCHAP(connTestTarget, iscsi.CHAPInitiatorConfig{Name: "host1", Secret: []byte("not-the-secret!!")})
		loginWantStatus(t, r, 2, 0x01)
		p.wantClosed()
	})
	t.Run("wrong name", func(t *testing.T) {
		p := connDial(t, env.addr)
		r := p.loginCHAP(connTestTarget, iscsi.CHAPInitiatorConfig{Name: "host2", Secret: secret})
		loginWantStatus(t, r, 2, 0x01)
		p.wantClosed()
	})
}

func TestLoginContinuedText(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	// InitialR2T is answered here, else the target's own offer of it
	// would need another round trip.
	text := iscsi.AppendPairs(nil, loginKVs(iscsi.KeyInitiatorName, connTestInitiator, iscsi.KeyTargetName, connTestTarget,
		iscsi.KeyInitialR2T, "Yes"))
	half := len(text) / 2
	r := p.rawLogin(nil, func(r *iscsi.LoginRequest) { r.Transit, r.Continue, r.Data = false, true, text[:half] })
	loginWantStatus(t, r, 0, 0)
	if r.Transit || len(r.Data) != 0 {
		t.Fatalf("response to a continued request: transit %v data %q", r.Transit, r.Data)
	}
	r = p.rawLogin(nil, func(r *iscsi.LoginRequest) { r.Data = text[half:] })
	loginWantStatus(t, r, 0, 0)
	if !r.Transit || r.NSG != iscsi.FullFeaturePhase || r.TSIH == 0 {
		t.Fatalf("final response: transit %v NSG %v TSIH %d", r.Transit, r.NSG, r.TSIH)
	}
}
