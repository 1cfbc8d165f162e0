package initiator

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// discoveryMaxRounds bounds the Text Responses of one SendTargets answer.
const discoveryMaxRounds = 64

// DiscoveredTarget is one target a SendTargets answer named.
type DiscoveredTarget struct {
	// Name is the target's iSCSI name.
	Name string
	// Portals are its addresses, "host:port" (the portal group tag
	// stripped).
	Portals []string
}

// Discover opens a Discovery session to cfg.Portal (with cfg.CHAP and
// cfg.MutualCHAP when set), asks SendTargets=All, logs out and returns the
// targets in the order the target named them. cfg.TargetName is ignored.
func Discover(ctx context.Context, cfg Config) ([]DiscoveredTarget, error) {
	cfg.TargetName = ""
	cfg = cfg.withDefaults()
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.LoginTimeout)
	defer cancel()
	lr, err := loginDial(ctx, &cfg, iscsi.SessionDiscovery)
	if err != nil {
		return nil, err
	}
	defer lr.nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		lr.nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { lr.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	targets, err := discoverySendTargets(lr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("initiator: discovery: %w", context.Cause(ctx))
		}
		return nil, err
	}
	return targets, nil
}

// discoverySendTargets runs the SendTargets exchange and the logout on a
// logged-in Discovery connection.
func discoverySendTargets(lr *loginResult) ([]DiscoveredTarget, error) {
	cmdSN, expStatSN := lr.expCmdSN, lr.statSN+1
	const itt = 1
	req := iscsi.TextRequest{
		Immediate: true, Final: true, ITT: itt, TTT: iscsi.ReservedTag,
		CmdSN: cmdSN, Data: iscsi.AppendText(nil, iscsi.KeySendTargets, "All"),
	}
	acc := iscsi.NewTextAccumulator(0)
	var text []byte
	for round := 0; ; round++ {
		if round == discoveryMaxRounds {
			return nil, fmt.Errorf("%w: SendTargets answer longer than %d PDUs", ErrProtocol, discoveryMaxRounds)
		}
		req.ExpStatSN = expStatSN
		if err := lr.writePDU(&req); err != nil {
			return nil, fmt.Errorf("initiator: discovery: %w", err)
		}
		f, err := lr.fr.ReadFrame()
		if err != nil {
			return nil, fmt.Errorf("initiator: discovery: %w", err)
		}
		if f.BHS.Opcode() == iscsi.OpReject {
			var rj iscsi.Reject
			if err := rj.DecodeFrame(f); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
			}
			return nil, rj.Err()
		}
		var resp iscsi.TextResponse
		if err := resp.DecodeFrame(f); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		if resp.ITT != itt {
			return nil, fmt.Errorf("%w: Text Response ITT 0x%08x, want 0x%08x", ErrProtocol, resp.ITT, uint32(itt))
		}
		expStatSN = resp.StatSN + 1
		t, done, err := acc.Add(resp.Data, resp.Continue)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
		}
		if resp.Final {
			if !done {
				return nil, fmt.Errorf("%w: final Text Response with the C bit set", ErrProtocol)
			}
			text = t
			break
		}
		// RFC 7143 section 11.11.4: a Text Response that is not final
		// carries a Target Transfer Tag the next request echoes.
		if resp.TTT == iscsi.ReservedTag {
			return nil, fmt.Errorf("%w: non-final Text Response without a Target Transfer Tag", ErrProtocol)
		}
		req = iscsi.TextRequest{Immediate: true, Final: true, ITT: itt, TTT: resp.TTT, CmdSN: cmdSN}
	}
	targets, err := parseSendTargets(text)
	if err != nil {
		return nil, err
	}
	// Log out; a target that just drops the connection is fine too.
	lo := iscsi.LogoutRequest{Immediate: true, Reason: iscsi.CloseSession, ITT: itt + 1, CmdSN: cmdSN, ExpStatSN: expStatSN}
	if err := lr.writePDU(&lo); err == nil {
		lr.fr.ReadFrame()
	}
	return targets, nil
}

// parseSendTargets reads TargetName and TargetAddress pairs (RFC 7143
// appendix C): each TargetName starts a target, and the TargetAddress
// pairs after it are its portals, "address[:port][,tpgt]".
func parseSendTargets(text []byte) ([]DiscoveredTarget, error) {
	var out []DiscoveredTarget
	r := iscsi.NewTextReader(text)
	for r.Next() {
		switch r.Key() {
		case iscsi.KeyTargetName:
			if _, err := iscsi.ParseName(r.Value()); err != nil {
				return nil, fmt.Errorf("%w: SendTargets: %w", ErrProtocol, err)
			}
			out = append(out, DiscoveredTarget{Name: r.Value()})
		case iscsi.KeyTargetAddress:
			if len(out) == 0 {
				return nil, fmt.Errorf("%w: SendTargets: TargetAddress before any TargetName", ErrProtocol)
			}
			addr, _, _ := strings.Cut(r.Value(), ",")
			if addr == "" {
				return nil, fmt.Errorf("%w: SendTargets: empty TargetAddress", ErrProtocol)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				addr = net.JoinHostPort(strings.Trim(addr, "[]"), "3260")
			}
			last := &out[len(out)-1]
			last.Portals = append(last.Portals, addr)
		}
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("%w: SendTargets: %w", ErrProtocol, err)
	}
	return out, nil
}
