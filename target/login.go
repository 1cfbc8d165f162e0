package target

import (
	"errors"
	"fmt"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// loginTimeout bounds the whole login phase of a connection, so a peer
// that connects and stalls cannot hold it open.
const loginTimeout = 30 * time.Second

// loginVersion is the only iSCSI version there is: RFC 7143 section
// 11.12.4, "Version-max ... 0x00".
const loginVersion = 0x00

// loginError is a refused login: the status the Login Response carries.
type loginError struct {
	class, detail uint8
	err           error
}

func (e *loginError) Error() string {
	return fmt.Sprintf("target: login refused (%s): %v", iscsi.LoginStatusText(e.class, e.detail), e.err)
}

func (e *loginError) Unwrap() error { return e.err }

func loginRefuse(class, detail uint8, format string, args ...any) *loginError {
	return &loginError{class: class, detail: detail, err: fmt.Errorf(format, args...)}
}

// loginState is the login of one connection, driven PDU by PDU by the
// reader before the Full Feature Phase.
type loginState struct {
	c      *conn
	first  bool
	stage  iscsi.Stage
	isid   iscsi.ISID
	tsih   uint16
	cid    uint16
	statSN uint32

	initiator string
	target    string
	typ       iscsi.SessionType
	existing  *session

	neg          *iscsi.Negotiator
	chap         *iscsi.CHAPTargetExchange
	access       Access
	authRequired bool
	text         *iscsi.TextAccumulator
}

// login runs the login phase (RFC 7143 section 6) inline on the reader.
// It returns nil once the connection is in the Full Feature Phase, with
// c.sess and c.params set; any error ends the connection, after a Login
// Response with the refusal's status whenever the peer can be answered.
func (c *conn) login() error {
	if err := c.nc.SetDeadline(time.Now().Add(loginTimeout)); err != nil {
		return err
	}
	ls := &loginState{c: c, first: true, text: iscsi.NewTextAccumulator(0)}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return err
		}
		if op := f.BHS.Opcode(); op != iscsi.OpLoginReq {
			// "the first PDU ... MUST be a Login Request"; anything else
			// during login is "invalid request type during login".
			c.srv.stats.err(ErrorKindLogin)
			ls.refuse(&f.BHS, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInvalidDuringLogin,
				"%v during login", op))
			return fmt.Errorf("target: %v during login", op)
		}
		var req iscsi.LoginRequest
		if err := req.DecodeFrame(f); err != nil {
			c.srv.stats.err(ErrorKindLogin)
			ls.refuse(&f.BHS, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "%v", err))
			return err
		}
		done, err := ls.step(&req)
		if err != nil {
			c.srv.stats.err(ErrorKindLogin)
			var le *loginError
			if !errors.As(err, &le) {
				le = &loginError{class: iscsi.LoginClassTargetError, detail: iscsi.LoginDetailTargetError, err: err}
			}
			ls.refuse(&f.BHS, le)
			return err
		}
		if done {
			return c.nc.SetDeadline(time.Time{})
		}
	}
}

// refuse sends a Login Response with the refusal's status. The
// connection is closed after it.
func (ls *loginState) refuse(h *iscsi.BHS, le *loginError) {
	resp := &iscsi.LoginResponse{
		VersionMax:    loginVersion,
		VersionActive: loginVersion,
		ITT:           h.ITT(),
		StatusClass:   le.class,
		StatusDetail:  le.detail,
		StatSN:        ls.statSN,
	}
	if h.Opcode() == iscsi.OpLoginReq {
		var req iscsi.LoginRequest
		f := iscsi.Frame{BHS: *h}
		if req.DecodeFrame(&f) == nil {
			resp.ISID = req.ISID
			resp.TSIH = req.TSIH
			resp.CSG = req.CSG
			resp.ExpCmdSN = req.CmdSN
			resp.MaxCmdSN = req.CmdSN
		}
	}
	ls.c.log.Debug().Err(le).Msg("iscsi: login refused")
	_ = ls.c.writePDU(resp)
}

// step handles one Login Request; done reports that the connection
// entered the Full Feature Phase.
func (ls *loginState) step(req *iscsi.LoginRequest) (done bool, err error) {

	if ls.first {
		ls.statSN = req.ExpStatSN
		// RFC 7143 section 11.12.4: "All Login Requests within the Login
		// Phase MUST carry the same Version-max" and the target answers
		// "Unsupported version" when it supports none of the range.
		if req.VersionMin > loginVersion || req.VersionMax < loginVersion {
			return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailUnsupportedVersion,
				"version range %d-%d", req.VersionMin, req.VersionMax)
		}
		ls.isid, ls.tsih, ls.cid = req.ISID, req.TSIH, req.CID
	} else if req.ISID != ls.isid || req.TSIH != ls.tsih || req.CID != ls.cid {
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError,
			"ISID, TSIH or CID changed during login")
	}
	if req.Transit && req.Continue {
		// "If the C bit is set to 1, the T bit MUST be set to 0."
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "T and C bits both set")
	}
	switch {
	case req.CSG != iscsi.SecurityNegotiation && req.CSG != iscsi.LoginOperationalNegotiation:
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "CSG %v", req.CSG)
	case !ls.first && req.CSG != ls.stage:
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError,
			"CSG %v, want %v", req.CSG, ls.stage)
	}
	text, complete, err := ls.text.Add(req.Data, req.Continue)
	if err != nil {
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "%v", err)
	}
	if !complete {
		// Ask for the rest of the text: an empty response, T=0.
		return false, ls.respond(req, nil, false, 0)
	}
	if ls.first {
		ls.first = false
		ls.stage = req.CSG
		if err := ls.begin(req, text); err != nil {
			return false, err
		}
	}
	out, err := ls.neg.StepText(req.CSG, text)
	if err != nil {
		var ne *iscsi.NegotiationError
		if errors.As(err, &ne) {
			le := ne.LoginError()
			return false, &loginError{class: le.Class, detail: le.Detail, err: err}
		}
		return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "%v", err)
	}
	send := out.Send
	if len(out.Auth) > 0 {
		if ls.neg.Params().AuthMethod != iscsi.AuthMethodCHAP || ls.chap == nil {
			return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError,
				"authentication keys without AuthMethod=CHAP")
		}
		keys, err := ls.chap.Step(out.Auth)
		if err != nil {
			le := iscsi.CHAPLoginError(err)
			return false, &loginError{class: le.Class, detail: le.Detail, err: err}
		}
		send = append(send, keys...)
	}
	transit := false
	if req.Transit {
		valid := req.CSG == iscsi.SecurityNegotiation && (req.NSG == iscsi.LoginOperationalNegotiation || req.NSG == iscsi.FullFeaturePhase) ||
			req.CSG == iscsi.LoginOperationalNegotiation && req.NSG == iscsi.FullFeaturePhase
		if !valid {
			return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError,
				"transit from %v to %v", req.CSG, req.NSG)
		}
		transit = !ls.neg.Pending()
		if req.CSG == iscsi.SecurityNegotiation && ls.authRequired && !ls.authDone() {
			if ls.neg.Params().AuthMethod != iscsi.AuthMethodCHAP {
				return false, loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailAuthenticationFailure,
					"CHAP required")
			}
			transit = false
		}
	}
	if !transit {
		return false, ls.respond(req, send, false, 0)
	}
	ls.stage = req.NSG
	if req.NSG != iscsi.FullFeaturePhase {
		return false, ls.respond(req, send, true, 0)
	}
	return true, ls.enterFFP(req, send)
}

// authDone reports whether CHAP authenticated the initiator.
func (ls *loginState) authDone() bool { return ls.chap != nil && ls.chap.Done() }

// begin handles the first complete Login Request: it learns who logs in
// to what, checks access, and sets up the negotiation.
func (ls *loginState) begin(req *iscsi.LoginRequest, text []byte) error {
	c, srv := ls.c, ls.c.srv
	var haveInit, haveTarget bool
	r := iscsi.NewTextReader(text)
	for r.Next() {
		switch r.Key() {
		case iscsi.KeyInitiatorName:
			ls.initiator, haveInit = r.Value(), true
		case iscsi.KeyTargetName:
			ls.target, haveTarget = r.Value(), true
		case iscsi.KeySessionType:
			t, err := iscsi.ParseSessionType(r.Value())
			if err != nil {
				return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailSessionTypeNotSupported,
					"SessionType %q", r.Value())
			}
			ls.typ = t
		}
	}
	if err := r.Err(); err != nil {
		return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailInitiatorError, "%v", err)
	}
	// RFC 7143 section 13.5: InitiatorName "MUST" be in the first Login
	// Request; section 13.4: so must TargetName unless the session is a
	// Discovery session.
	if !haveInit || ls.initiator == "" {
		return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailMissingParameter, "no InitiatorName")
	}
	if ls.typ == iscsi.SessionNormal && (!haveTarget || ls.target == "") {
		return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailMissingParameter, "no TargetName")
	}
	srv.mu.Lock()
	closed := srv.closed
	srv.mu.Unlock()
	if closed {
		return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailServiceUnavailable, "server closing")
	}
	ncfg := iscsi.NegotiatorConfig{
		TargetPortalGroupTag:     c.portal.tpgt,
		AuthMethods:              []string{iscsi.AuthMethodNone},
		HeaderDigests:            []string{iscsi.DigestValueNone},
		DataDigests:              []string{iscsi.DigestValueNone},
		MaxRecvDataSegmentLength: srv.cfg.MaxRecvDataSegmentLength,
		MaxBurstLength:           srv.cfg.MaxBurstLength,
		FirstBurstLength:         srv.cfg.FirstBurstLength,
		MaxConnections:           1,
		MaxOutstandingR2T:        srv.cfg.MaxOutstandingR2T,
		NoImmediateData:          srv.cfg.NoImmediateData,
		NoInitialR2T:             !srv.cfg.InitialR2T,
	}
	if srv.cfg.HeaderDigests {
		ncfg.HeaderDigests = []string{iscsi.DigestValueCRC32C, iscsi.DigestValueNone}
	}
	if srv.cfg.DataDigests {
		ncfg.DataDigests = []string{iscsi.DigestValueCRC32C, iscsi.DigestValueNone}
	}
	if ls.typ == iscsi.SessionNormal {
		alias, ok := srv.cfg.Directory.TargetAlias(ls.target)
		if !ok {
			return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailNotFound, "target %q", ls.target)
		}
		ncfg.TargetAlias = alias
		ls.access = srv.cfg.Directory.Access(ls.target, ls.initiator)
		if !ls.access.Allowed {
			return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailAuthorizationFailure,
				"%q may not log in to %q", ls.initiator, ls.target)
		}
		if ch := ls.access.CHAP; ch != nil {
			ls.authRequired = true
			ncfg.AuthMethods = []string{iscsi.AuthMethodCHAP}
			ccfg := iscsi.CHAPTargetConfig{
				InitiatorSecret: func(name string) ([]byte, bool) {
					if name != ch.Name {
						return nil, false
					}
					return ch.Secret, true
				},
			}
			if m := ls.access.MutualCHAP; m != nil {
				ccfg.Name, ccfg.Secret = m.Name, m.Secret
			}
			x, err := iscsi.NewCHAPTargetExchange(ccfg)
			if err != nil {
				return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailTargetError, "CHAP: %v", err)
			}
			ls.chap = x
			if req.CSG != iscsi.SecurityNegotiation {
				return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailAuthenticationFailure,
					"CHAP required, security stage skipped")
			}
		}
	}
	if ls.tsih != 0 {
		// A connection for an existing session (RFC 7143 section 6.3.1).
		se := srv.sessByTSIH(ls.tsih)
		if se == nil || se.initiator != ls.initiator || se.isid != ls.isid || se.target != ls.target || se.typ != ls.typ {
			return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailSessionDoesNotExist,
				"no session with TSIH %d", ls.tsih)
		}
		if oc := se.currentConn(); oc != nil && oc.cid != ls.cid {
			// MaxConnections is 1: only reinstating the same CID fits.
			return loginRefuse(iscsi.LoginClassInitiatorError, iscsi.LoginDetailTooManyConnections,
				"session %d already has a connection", ls.tsih)
		}
		ls.existing = se
		ncfg.NonLeading = true
		ncfg.Session = se.params
	} else if max := srv.cfg.MaxSessionsPerInitiator; max > 0 && srv.sessCount(ls.initiator) >= max {
		return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailOutOfResources,
			"%q holds %d sessions", ls.initiator, max)
	}
	neg, err := iscsi.NewNegotiator(iscsi.RoleTarget, ncfg)
	if err != nil {
		return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailTargetError, "%v", err)
	}
	ls.neg = neg
	return nil
}

// respond sends a Login Response that continues the login.
func (ls *loginState) respond(req *iscsi.LoginRequest, kvs []iscsi.KeyValue, transit bool, tsih uint16) error {
	data := iscsi.AppendPairs(nil, kvs)
	if len(data) > iscsi.DefaultMaxDataSegmentLength {
		return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailTargetError, "login response of %d bytes", len(data))
	}
	exp, max := req.CmdSN, req.CmdSN+uint32(ls.c.srv.cfg.QueueDepth)-1
	if ls.existing != nil {
		exp, max = ls.existing.window()
	}
	resp := &iscsi.LoginResponse{
		Transit:       transit,
		CSG:           req.CSG,
		VersionMax:    loginVersion,
		VersionActive: loginVersion,
		ISID:          ls.isid,
		TSIH:          tsih,
		ITT:           req.ITT,
		StatSN:        ls.statSN,
		ExpCmdSN:      exp,
		MaxCmdSN:      max,
		Data:          data,
	}
	if transit {
		resp.NSG = req.NSG
	}
	ls.statSN++
	return ls.c.writePDU(resp)
}

// enterFFP creates or joins the session and sends the final Login
// Response.
func (ls *loginState) enterFFP(req *iscsi.LoginRequest, send []iscsi.KeyValue) error {
	c, srv := ls.c, ls.c.srv
	p := ls.neg.Params()
	c.cid = ls.cid
	var se *session
	if ls.existing != nil {
		se = ls.existing
		if old := se.replaceConn(c); old != nil {
			old.close(errConnDone)
		}
	} else {
		se = newSession(srv, c, p, ls.isid, req.CmdSN)
		old, ok := srv.sessAdd(se)
		if !ok {
			return loginRefuse(iscsi.LoginClassTargetError, iscsi.LoginDetailOutOfResources, "no session available")
		}
		if old != nil {
			// Session reinstatement: the old session of this initiator
			// port and target ends, with its tasks.
			oc := old.currentConn()
			old.end()
			if oc != nil {
				oc.close(errConnDone)
			}
		}
	}
	c.sess = se
	c.params = p
	if err := ls.respond(req, send, true, se.tsih); err != nil {
		return err
	}
	c.statSN = ls.statSN
	srv.stats.logins.Add(1)
	// The declared limits and digests hold from the first PDU of the
	// Full Feature Phase on (RFC 7143 section 13.1: "this digest MUST be
	// used for every PDU in the Full Feature Phase").
	if err := c.fr.SetMaxRecvDataSegmentLength(int(p.TargetMaxRecvDSL)); err != nil {
		return err
	}
	if err := c.fr.SetMaxSendDataSegmentLength(int(p.InitiatorMaxRecvDSL)); err != nil {
		return err
	}
	c.fr.SetDigests(p.HeaderDigest, p.DataDigest)
	return nil
}
