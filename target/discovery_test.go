package target

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// sendTargets runs a Text exchange and returns the pairs, following
// continuations.
func (p *connPeer) sendTargets(value string) []iscsi.KeyValue {
	p.t.Helper()
	itt := p.nextITT()
	req := &iscsi.TextRequest{Immediate: true, Final: true, ITT: itt, TTT: iscsi.ReservedTag, CmdSN: p.cmdSN,
		Data: iscsi.AppendText(nil, iscsi.KeySendTargets, value)}
	var text []byte
	for {
		p.send(req)
		r := connWant[*iscsi.TextResponse](p.t, p)
		if r.ITT != itt {
			p.t.Fatalf("Text Response ITT %d, want %d", r.ITT, itt)
		}
		text = append(text, r.Data...)
		if r.Final {
			break
		}
		req = &iscsi.TextRequest{Immediate: true, Final: true, ITT: itt, TTT: r.TTT, CmdSN: p.cmdSN}
	}
	var out []iscsi.KeyValue
	rd := iscsi.NewTextReader(text)
	for rd.Next() {
		out = append(out, iscsi.KeyValue{Key: rd.Key(), Value: rd.Value()})
	}
	if err := rd.Err(); err != nil {
		p.t.Fatal(err)
	}
	return out
}

func TestDiscoveryFiltered(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{discovery: true})
	addr := env.addr + ",1"
	want := []iscsi.KeyValue{{Key: "TargetName", Value: connTestTarget}, {Key: "TargetAddress", Value: addr}}
	if got := p.sendTargets("All"); !slices.Equal(got, want) {
		t.Fatalf("SendTargets=All: %v, want %v", got, want)
	}
	if got := p.sendTargets(connTestTarget2); len(got) != 0 {
		t.Fatalf("SendTargets for a target not allowed: %v", got)
	}
	// A discovery session carries no SCSI commands.
	p.command(&iscsi.SCSICommand{Final: true, CDB: make([]byte, 6)})
	if rej := connWant[*iscsi.Reject](t, p); rej.Reason != iscsi.RejectProtocolError {
		t.Fatalf("reason %v", rej.Reason)
	}
	p.logout()

	stranger := connDial(t, env.addr)
	stranger.mustLogin(connLoginOpts{discovery: true, initiator: connTestStranger})
	if got := stranger.sendTargets("All"); len(got) != 0 {
		t.Fatalf("a stranger learned %v", got)
	}
	stranger.logout()
}

func TestDiscoveryAdvertiseAndContinuation(t *testing.T) {
	dir := newConnFakeDir(t)
	for i := range 40 {
		name := fmt.Sprintf("iqn.2026-11.org.lunar:many-targets-with-long-names-%02d", i)
		dir.targets[name] = ""
		dir.access[[2]string{name, connTestInitiator}] = Access{Allowed: true}
	}
	srv, err := NewServer(ServerConfig{Directory: dir, Executor: newConnFakeExec(), TPGT: 7})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "10.0.2.2:3260") }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	p := connDial(t, ln.Addr().String())
	p.mustLogin(connLoginOpts{discovery: true, cfg: iscsi.NegotiatorConfig{MaxRecvDataSegmentLength: 512}})
	got := p.sendTargets("All")
	if len(got) != 2*41 {
		t.Fatalf("%d pairs, want %d", len(got), 2*41)
	}
	for _, kv := range got {
		if kv.Key == iscsi.KeyTargetAddress && kv.Value != "10.0.2.2:3260,7" {
			t.Fatalf("TargetAddress %q", kv.Value)
		}
	}
	p.logout()
}

func TestDiscoveryTextInNormalSession(t *testing.T) {
	env := connStart(t, ServerConfig{})
	p := connDial(t, env.addr)
	p.mustLogin(connLoginOpts{})
	got := p.sendTargets("")
	if len(got) != 2 || got[0].Value != connTestTarget {
		t.Fatalf("SendTargets= in a Normal session: %v", got)
	}
	p.logout()
}
