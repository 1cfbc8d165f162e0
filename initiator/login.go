package initiator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/lunarsan/lunar/internal/vecwrite"
	"github.com/lunarsan/lunar/iscsi"
)

// loginMaxRounds bounds the Login Request/Response exchanges of one login.
const loginMaxRounds = 32

// loginResult is a connection in the Full Feature Phase.
type loginResult struct {
	nc       net.Conn
	br       *connReader // what fr reads from
	fr       *iscsi.Framer
	cw       *vecwrite.Collector // what fr writes to
	params   iscsi.SessionParams
	tsih     uint16
	statSN   uint32 // StatSN of the final Login Response
	expCmdSN uint32
	maxCmdSN uint32
}

// loginDial connects to cfg.Portal and logs in with the given session
// type, ISID and TSIH 0 (a new session, or the reinstatement of the one
// this ISID had). ctx and cfg.LoginTimeout bound the whole exchange.
//
// Some targets (tgt 1.0.85) refuse a CHAP_A list holding algorithms they do
// not know with status 0x0200 instead of choosing MD5 from it; when the
// default list meets that answer, the login is tried once more offering MD5
// alone.
func loginDial(ctx context.Context, cfg *Config, typ iscsi.SessionType) (*loginResult, error) {
	lr, err := loginDialOnce(ctx, cfg, typ)
	var le *iscsi.LoginError
	if err != nil && cfg.CHAP != nil && cfg.CHAPAlgorithms == nil && errors.As(err, &le) &&
		le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailInitiatorError {
		md5 := *cfg
		md5.CHAPAlgorithms = []iscsi.CHAPAlgorithm{iscsi.CHAPMD5}
		return loginDialOnce(ctx, &md5, typ)
	}
	return lr, err
}

// loginDialOnce is one connect and login.
func loginDialOnce(ctx context.Context, cfg *Config, typ iscsi.SessionType) (*loginResult, error) {
	start := time.Now()
	var d net.Dialer
	if cfg.NOPInterval > 0 {
		// The session's NOP-Out pings find a dead target (in NOPInterval
		// + NOPTimeout, sooner than TCP's probes would): no TCP keepalive
		// beside them, whose four socket options cost a short session
		// about 5 % of its CPU time. With pings off, Go's default TCP
		// keepalive stays on.
		d.KeepAlive = -1
	}
	// With a context that is never cancelled, no name to resolve and a
	// SYN retransmission count that gives up in time, only LoginTimeout
	// bounds the connect and the kernel enforces it: connecting without a
	// context spares the goroutine and timers Go would use to watch one.
	kernel := ctx.Done() == nil && loginIPPortal(cfg.Portal) && loginKernelBound(&d, cfg.LoginTimeout)
	dctx := ctx
	if !kernel {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.LoginTimeout)
		defer cancel()
		dctx = ctx
	}
	// The first Login Request is made before the connect and sent as
	// soon as the connection is up: the target, woken to accept it,
	// finds the request there too instead of going back to sleep while
	// this side builds it (lc.connect runs from the first write).
	br := newConnReader(nil)
	lc := &loginConn{br: br}
	var stop func() bool
	var cancelLogin context.CancelFunc
	defer func() {
		if cancelLogin != nil {
			cancelLogin()
		}
	}()
	lc.connect = func() error {
		// With one P a thread blocked in poll(2) would hold up every
		// other goroutine: the login waits in the network poller.
		kernelPoll := runtime.GOMAXPROCS(0) > 1
		nc, err := loginConnect(dctx, &d, cfg, kernel && kernelPoll, start.Add(cfg.LoginTimeout))
		if err != nil {
			return fmt.Errorf("initiator: connect %s: %w", cfg.Portal, err)
		}
		lc.nc, br.r = nc, nc
		if kernelPoll {
			// The login waits for its answers in the kernel (see
			// connPoller); the Full Feature Phase's reader goes on with
			// it.
			br.poll = newConnPoller(nc)
		}
		if kernel && br.poll != nil {
			// The rest of the login too is bounded in the kernel:
			// poll(2) with a timeout for every wait, no timer. A
			// pending timer keeps an idle thread of the runtime in
			// epoll_wait, woken by each answer of the target.
			lc.kernel, lc.deadline = true, start.Add(cfg.LoginTimeout)
			br.kernelWait, br.deadline, br.kernelSlice = true, lc.deadline, connKernelSlice
			return nil
		}
		if kernel {
			// No poller: the login's context watches LoginTimeout.
			ctx, cancelLogin = context.WithDeadline(ctx, start.Add(cfg.LoginTimeout))
		}
		// Cancelling ctx, or its LoginTimeout passing, unblocks the
		// socket, not just a flag. (No socket deadline besides: ctx's
		// timer is the one timer of the login, and the socket needs no
		// reset afterwards.) A login under a context that can end waits
		// in the network poller: many of them at once (a cluster's
		// nodes in one process) would each hold a thread in poll(2) and
		// wake it for its one answer.
		stop = context.AfterFunc(ctx, func() {
			nc.SetDeadline(time.Unix(1, 0))
			if br.poll != nil {
				// A wait in poll(2) notices no deadline.
				br.poll.shutdown()
			}
		})
		return nil
	}
	lr, err := loginRun(lc, cfg, typ)
	if lc.nc == nil {
		// The connect failed (its own error), or nothing was sent.
		if lc.connErr != nil {
			return nil, lc.connErr
		}
		return nil, err
	}
	if lc.kernel {
		// Who reads on (discovery, a session's reader) decides how to
		// wait, without a deadline.
		br.kernelWait, br.deadline, br.kernelSlice = false, time.Time{}, 0
		if err == nil {
			// A wait that went on in the network poller left the
			// login's deadline armed.
			err = br.disarm()
		}
		if err != nil {
			lc.nc.Close()
			if errors.Is(err, os.ErrDeadlineExceeded) && !isLoginVerdict(err) {
				err = fmt.Errorf("initiator: login to %s: %w", cfg.Portal, context.DeadlineExceeded)
			}
			return nil, err
		}
		return lr, nil
	}
	if !stop() || err != nil {
		lc.nc.Close()
		if ctx.Err() != nil && (err == nil || !isLoginVerdict(err)) {
			err = fmt.Errorf("initiator: login to %s: %w", cfg.Portal, context.Cause(ctx))
		}
		return nil, err
	}
	return lr, nil
}

// loginConn is how a login reads and writes its connection. Its Framer
// and the Collector go on into the Full Feature Phase.
type loginConn struct {
	nc net.Conn // nil until connect has run
	br *connReader
	// connect, run by the first write, connects nc and sets up br; its
	// error is connErr.
	connect func() error
	connErr error
	fr      *iscsi.Framer      // set by loginRun
	cw      vecwrite.Collector // what fr writes to
	// kernel says br's poller writes what fr wrote, waiting in poll(2)
	// until deadline (the kernel-bounded login); otherwise cw writes it
	// to nc.
	kernel   bool
	deadline time.Time
	// The login's steps reuse these: the text of a Login Request, the
	// joined text of a response and the decoded response.
	text []byte
	acc  iscsi.TextAccumulator
	resp iscsi.LoginResponse
}

// writePDU writes one PDU of the login.
func (lc *loginConn) writePDU(p iscsi.PDU) error {
	if err := lc.fr.WritePDU(p); err != nil {
		lc.cw.Reset()
		return err
	}
	if lc.nc == nil {
		if lc.connErr = lc.connect(); lc.connErr != nil {
			lc.cw.Reset()
			return lc.connErr
		}
	}
	if !lc.kernel {
		return lc.cw.WriteTo(lc.nc)
	}
	if err := lc.br.poll.writeAll(&lc.cw, lc.deadline); err != nil {
		return err
	}
	// The answer is a round trip away: wait for it before the first read
	// rather than after a read that finds nothing.
	lc.br.expectWait()
	return nil
}

// writePDU writes one PDU on a logged-in connection that has no
// session's writer (discovery): the Framer collects it into cw, which
// writes it to nc.
func (lr *loginResult) writePDU(p iscsi.PDU) error {
	if err := lr.fr.WritePDU(p); err != nil {
		lr.cw.Reset()
		return err
	}
	return lr.cw.WriteTo(lr.nc)
}

// loginSYNCount returns the largest number of SYN retransmissions (up to
// 6) after which a connect fails within timeout, or 0 if even one takes
// longer: with n retransmissions and the initial 1 s retransmission
// timeout doubling each time, the connect fails 2^(n+1)-1 seconds after
// the first SYN.
func loginSYNCount(timeout time.Duration) int {
	n := 0
	for n < 6 && time.Duration(1<<(n+2)-1)*time.Second <= timeout {
		n++
	}
	return n
}

// loginIPPortal reports whether portal is an IP address and port (no
// name to resolve).
func loginIPPortal(portal string) bool {
	_, err := netip.ParseAddrPort(portal)
	return err == nil
}

// isLoginVerdict reports whether err is the target's own answer.
func isLoginVerdict(err error) bool {
	var le *iscsi.LoginError
	var re *iscsi.RejectError
	return errors.As(err, &le) || errors.As(err, &re)
}

// loginAuthNone is the AuthMethods of a login without CHAP; the
// Negotiator only reads it.
var loginAuthNone = []string{iscsi.AuthMethodNone}

// loginRun drives the login on nc: the security stage (AuthMethod, CHAP)
// and the operational stage, up to the Full Feature Phase.
//
// lc.br is the one buffered reader of nc for the whole connection: a Login
// Response arrives in one read instead of two (header, then text), and
// the target sends nothing during login but the answer to each request,
// so nothing of the Full Feature Phase is ever read into the buffer
// early.
func loginRun(lc *loginConn, cfg *Config, typ iscsi.SessionType) (*loginResult, error) {
	br := lc.br
	fr, err := iscsi.NewFramer(br, &lc.cw, iscsi.FramerConfig{})
	if err != nil {
		return nil, err
	}
	lc.fr = fr
	ncfg := iscsi.NegotiatorConfig{
		InitiatorName:            cfg.InitiatorName,
		InitiatorAlias:           cfg.InitiatorAlias,
		SessionType:              typ,
		AuthMethods:              loginAuthNone,
		HeaderDigests:            cfg.HeaderDigest,
		DataDigests:              cfg.DataDigest,
		MaxRecvDataSegmentLength: cfg.MaxRecvDataSegmentLength,
		MaxBurstLength:           cfg.MaxBurstLength,
		FirstBurstLength:         cfg.FirstBurstLength,
		MaxOutstandingR2T:        cfg.MaxOutstandingR2T,
		NoImmediateData:          !cfg.ImmediateData.or(true),
		NoInitialR2T:             !cfg.InitialR2T.or(false),
	}
	if typ == iscsi.SessionNormal {
		ncfg.TargetName = cfg.TargetName
	}
	var chap *iscsi.CHAPInitiatorExchange
	if cfg.CHAP != nil {
		ncfg.AuthMethods = []string{iscsi.AuthMethodCHAP, iscsi.AuthMethodNone}
		ccfg := iscsi.CHAPInitiatorConfig{Algorithms: cfg.CHAPAlgorithms, Name: cfg.CHAP.Name, Secret: cfg.CHAP.Secret}
		if m := cfg.MutualCHAP; m != nil {
			// The target must prove itself: no login without CHAP.
			ncfg.AuthMethods = []string{iscsi.AuthMethodCHAP}
			ccfg.TargetName, ccfg.TargetSecret = m.Name, m.Secret
		}
		if chap, err = iscsi.NewCHAPInitiatorExchange(ccfg); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	neg, err := iscsi.NewNegotiator(iscsi.RoleInitiator, ncfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	req := iscsi.LoginRequest{
		CSG: iscsi.SecurityNegotiation, NSG: iscsi.LoginOperationalNegotiation,
		VersionMax: 0, VersionMin: 0, ISID: cfg.ISID, CmdSN: 1, ITT: 0,
	}
	stage := iscsi.SecurityNegotiation
	if chap == nil {
		// Nothing to authenticate: skip the security stage (RFC 7143
		// section 6.3: the initial Login Request may start at the
		// operational stage), which saves a round trip. A target that
		// requires authentication refuses the login, as it would refuse
		// AuthMethod=None.
		stage = iscsi.LoginOperationalNegotiation
	}
	send := neg.Offer(stage)
	chapStarted, chapAnswered := false, false
	var expStatSN uint32
	authDecided := false
	for round := 0; round < loginMaxRounds; round++ {
		req.CSG = stage
		switch stage {
		case iscsi.SecurityNegotiation:
			// Transit once nothing of authentication is left to say:
			// without CHAP at once, with CHAP after sending CHAP_R.
			req.Transit = chap == nil || chapAnswered ||
				authDecided && neg.Params().AuthMethod != iscsi.AuthMethodCHAP
			req.NSG = iscsi.LoginOperationalNegotiation
		default:
			req.Transit, req.NSG = true, iscsi.FullFeaturePhase
		}
		lc.text = iscsi.AppendPairs(lc.text[:0], send)
		req.Data = lc.text
		req.ExpStatSN = expStatSN
		// RFC 7143 section 11.12: Login Requests are always immediate
		// (the codec sets the I bit, which tgt insists on).
		resp, text, err := loginExchange(lc, &req, &expStatSN)
		if err != nil {
			return nil, err
		}
		if resp.CSG != stage {
			return nil, fmt.Errorf("%w: Login Response for stage %v, want %v", ErrProtocol, resp.CSG, stage)
		}
		out, err := neg.ReceiveText(stage, text)
		if err != nil {
			return nil, fmt.Errorf("initiator: login: %w", err)
		}
		send = out.Send
		if stage == iscsi.SecurityNegotiation {
			authDecided = true
		}
		if len(out.Auth) > 0 {
			if chap == nil || !chapStarted {
				return nil, fmt.Errorf("%w: authentication keys without CHAP", ErrProtocol)
			}
			keys, err := chap.Step(out.Auth)
			if err != nil {
				// RFC 7143 section 12.1.3: "If the target authentication
				// fails, the initiator MUST abort the connection".
				return nil, fmt.Errorf("initiator: CHAP: %w", err)
			}
			send = append(send, keys...)
			chapAnswered = true
		}
		if stage == iscsi.SecurityNegotiation && chap != nil && !chapStarted &&
			neg.Params().AuthMethod == iscsi.AuthMethodCHAP && !resp.Transit {
			keys, err := chap.Start()
			if err != nil {
				return nil, fmt.Errorf("initiator: CHAP: %w", err)
			}
			send = append(send, keys...)
			chapStarted = true
		}
		if !resp.Transit {
			if stage == iscsi.LoginOperationalNegotiation {
				send = append(send, neg.Offer(stage)...)
			}
			continue
		}
		// The target moves on.
		if stage == iscsi.SecurityNegotiation {
			if cfg.MutualCHAP != nil && (chap == nil || !chap.Done()) {
				return nil, fmt.Errorf("%w: target left the security stage without proving itself", iscsi.ErrCHAPAuthFailed)
			}
		}
		switch resp.NSG {
		case iscsi.LoginOperationalNegotiation:
			if stage != iscsi.SecurityNegotiation {
				return nil, fmt.Errorf("%w: Login Response moves from %v to %v", ErrProtocol, stage, resp.NSG)
			}
			stage = iscsi.LoginOperationalNegotiation
			send = append(send, neg.Offer(stage)...)
		case iscsi.FullFeaturePhase:
			if req.NSG != iscsi.FullFeaturePhase {
				return nil, fmt.Errorf("%w: Login Response moves to the Full Feature Phase unasked", ErrProtocol)
			}
			if neg.Pending() {
				return nil, fmt.Errorf("%w: target ended the login with offers unanswered", ErrProtocol)
			}
			if typ == iscsi.SessionNormal && resp.TSIH == 0 {
				return nil, fmt.Errorf("%w: final Login Response with TSIH 0", ErrProtocol)
			}
			p := neg.Params()
			if err := p.Validate(); err != nil {
				return nil, fmt.Errorf("%w: negotiated parameters: %w", ErrProtocol, err)
			}
			// The negotiated lengths and digests hold from the first PDU of
			// the Full Feature Phase on; the buffered reader holds nothing:
			// the target sends nothing until the initiator does.
			// The login's Framer goes on, set up for them (neither side
			// is in use).
			if err := fr.SetMaxRecvDataSegmentLength(int(p.InitiatorMaxRecvDSL)); err != nil {
				return nil, fmt.Errorf("%w: negotiated parameters: %w", ErrProtocol, err)
			}
			if err := fr.SetMaxSendDataSegmentLength(int(p.TargetMaxRecvDSL)); err != nil {
				return nil, fmt.Errorf("%w: negotiated parameters: %w", ErrProtocol, err)
			}
			fr.SetDigests(p.HeaderDigest, p.DataDigest)
			return &loginResult{nc: lc.nc, br: br, fr: fr, cw: &lc.cw, params: p, tsih: resp.TSIH,
				statSN: resp.StatSN, expCmdSN: resp.ExpCmdSN, maxCmdSN: resp.MaxCmdSN}, nil
		default:
			return nil, fmt.Errorf("%w: Login Response with NSG %v", ErrProtocol, resp.NSG)
		}
	}
	return nil, fmt.Errorf("%w: login did not finish in %d exchanges", ErrProtocol, loginMaxRounds)
}

// loginExchange sends req and reads the whole answer, following the C bit
// in both directions, and checks every field of each Login Response. The
// response is lc.resp, valid until the next exchange, its text lc.acc's.
func loginExchange(lc *loginConn, req *iscsi.LoginRequest, expStatSN *uint32) (*iscsi.LoginResponse, []byte, error) {
	// The request's text goes in chunks of at most the default
	// MaxRecvDataSegmentLength (RFC 7143 section 6.3: pairs may be cut
	// anywhere), each but the last with the C bit; empty text is one
	// empty chunk.
	const chunkMax = iscsi.DefaultMaxDataSegmentLength
	whole := *req
	acc := &lc.acc
	acc.Reset()
	for off, last := 0, false; !last; {
		end := min(off+chunkMax, len(whole.Data))
		last = end == len(whole.Data)
		r := whole
		r.Data = whole.Data[off:end:end]
		off = end
		r.Continue = !last
		if r.Continue {
			r.Transit = false
		}
		resp, err := loginRead(lc, &r, expStatSN)
		if err != nil {
			return nil, nil, err
		}
		if r.Continue {
			// RFC 7143 section 6.3: the target answers each partial
			// request with an empty response.
			if len(resp.Data) != 0 || resp.Transit {
				return nil, nil, fmt.Errorf("%w: Login Response to a partial request carries text", ErrProtocol)
			}
			continue
		}
		for {
			text, done, err := acc.Add(resp.Data, resp.Continue)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			if done {
				return resp, text, nil
			}
			// Ask for the rest with an empty request of the same stage.
			more := whole
			more.Data, more.Continue = nil, false
			if resp, err = loginRead(lc, &more, expStatSN); err != nil {
				return nil, nil, err
			}
		}
	}
	return nil, nil, fmt.Errorf("%w: nothing to send", ErrProtocol)
}

// loginRead writes one Login Request and reads and checks its response.
func loginRead(lc *loginConn, req *iscsi.LoginRequest, expStatSN *uint32) (*iscsi.LoginResponse, error) {
	req.ExpStatSN = *expStatSN
	if err := lc.writePDU(req); err != nil {
		return nil, fmt.Errorf("initiator: login: %w", err)
	}
	f, err := lc.fr.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("initiator: login: %w", err)
	}
	switch op := f.BHS.Opcode(); op {
	case iscsi.OpLoginResp:
	case iscsi.OpReject:
		var rj iscsi.Reject
		if err := rj.DecodeFrame(f); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		return nil, rj.Err()
	default:
		return nil, fmt.Errorf("%w: %v during login", ErrProtocol, op)
	}
	// resp.Data stays in the Framer's buffer: it is read (and copied
	// by the TextAccumulator) before the next read.
	resp := &lc.resp
	if err := resp.DecodeFrame(f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if err := iscsi.LoginErrorFromResponse(resp); err != nil {
		return nil, err
	}
	if resp.ITT != req.ITT {
		return nil, fmt.Errorf("%w: Login Response ITT 0x%08x, want 0x%08x", ErrProtocol, resp.ITT, req.ITT)
	}
	if resp.ISID != req.ISID {
		return nil, fmt.Errorf("%w: Login Response ISID %v, want %v", ErrProtocol, resp.ISID, req.ISID)
	}
	// RFC 7143 section 11.13.4: "Version-active indicates the highest
	// version supported by the target and initiator"; only 0 exists.
	if resp.VersionActive != 0 {
		return nil, fmt.Errorf("%w: Login Response Version-active %d, want 0", ErrProtocol, resp.VersionActive)
	}
	if resp.Transit && resp.Continue {
		return nil, fmt.Errorf("%w: Login Response with both T and C set", ErrProtocol)
	}
	if resp.Transit && !req.Transit {
		// RFC 7143 section 11.13.3: "The T bit ... MUST NOT be set to 1 if
		// the T bit in the request was set to 0."
		return nil, fmt.Errorf("%w: Login Response transits although the request did not", ErrProtocol)
	}
	*expStatSN = resp.StatSN + 1
	return resp, nil
}
