package initiator

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// kaTarget is a fake target for the keepalive tests: it logs one
// initiator in, then reads everything and answers only NOP-Out pings,
// and those only while answer is set. pings counts the pings it read.
// With chatter set (and answer not), it sends an unsolicited NOP-In
// that asks for no answer every chatter instead, counted in sent.
type kaTarget struct {
	addr    string
	answer  atomic.Bool
	pings   atomic.Int32
	chatter time.Duration
	sent    atomic.Int32
}

// kaStart starts a kaTarget, stopped at the end of the test.
func kaStart(t *testing.T, answer bool) *kaTarget {
	return kaStartChatter(t, answer, 0)
}

// kaStartChatter starts a kaTarget that sends a NOP-In every chatter
// (none if zero).
func kaStartChatter(t *testing.T, answer bool, chatter time.Duration) *kaTarget {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kt := &kaTarget{addr: ln.Addr().String(), chatter: chatter}
	kt.answer.Store(answer)
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		nc, fr, ok := fakeTargetAccept(ln)
		if !ok {
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Time{})
		go func() { // ends the connection with the test
			<-t.Context().Done()
			nc.Close()
		}()
		if kt.chatter > 0 {
			// The only writer to the connection (answer is not set).
			go func() {
				for sn := uint32(100); ; sn++ {
					select {
					case <-t.Context().Done():
						return
					case <-time.After(kt.chatter):
					}
					in := iscsi.NOPIn{ITT: iscsi.ReservedTag, TTT: iscsi.ReservedTag, StatSN: sn, ExpCmdSN: 1, MaxCmdSN: 32}
					if fr.WritePDU(&in) != nil {
						return
					}
					kt.sent.Add(1)
				}
			}()
		}
		statSN := uint32(100)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if f.BHS.Opcode() != iscsi.OpNOPOut {
				continue
			}
			var p iscsi.NOPOut
			if err := p.DecodeFrame(f); err != nil || p.ITT == iscsi.ReservedTag {
				continue
			}
			kt.pings.Add(1)
			if !kt.answer.Load() {
				continue
			}
			statSN++
			in := iscsi.NOPIn{ITT: p.ITT, TTT: iscsi.ReservedTag, StatSN: statSN, ExpCmdSN: p.CmdSN, MaxCmdSN: p.CmdSN + 31}
			if err := fr.WritePDU(&in); err != nil {
				return
			}
		}
	}()
	return kt
}

// kaDial logs in to kt with short keepalive times and no reconnect.
func kaDial(t *testing.T, kt *kaTarget) *Session {
	t.Helper()
	return sessDial(t, Config{
		InitiatorName: sessTestInitiator, TargetName: sessTestTarget, Portal: kt.addr,
		LoginTimeout: 5 * time.Second, NOPInterval: 50 * time.Millisecond, NOPTimeout: 200 * time.Millisecond,
		Reconnect: ReconnectPolicy{Attempts: -1},
	})
}

// kaWaitFailed waits for s to fail and returns the error a command then
// gets.
func kaWaitFailed(t *testing.T, s *Session, events <-chan Event) error {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Kind == EventState && ev.State == StateFailed {
				_, err := s.Execute(context.Background(), &Command{CDB: make([]byte, 6)})
				return err
			}
		case <-timeout:
			t.Fatalf("session still %v 10 s after its target went silent", s.State())
		}
	}
}

// An idle session pings its target every NOPInterval and stays up while
// the target answers; once the target goes silent the session fails
// with ErrKeepalive (its reader waits in Go's network poller).
func TestKeepaliveIdle(t *testing.T) {
	kt := kaStart(t, true)
	s := kaDial(t, kt)
	events := s.Events() // starts the reader
	for kt.pings.Load() < 4 {
		if st := s.State(); st != StateLoggedIn {
			t.Fatalf("session %v while its pings are answered", st)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a stand-in for work
	}
	kt.answer.Store(false)
	if err := kaWaitFailed(t, s, events); !errors.Is(err, ErrKeepalive) {
		t.Fatalf("command after the target went silent: %v, want ErrKeepalive", err)
	}
}

// A session whose only commands in flight are asynchronous waits for
// their answers in the kernel (poll(2)), where no Go timer wakes it: its
// own keepalive still finds a target that stopped answering, and the
// commands fail with ErrKeepalive.
func TestKeepaliveKernelWait(t *testing.T) {
	kt := kaStart(t, false)
	s := kaDial(t, kt)
	s.mu.Lock()
	kernel := s.conn.br.poll != nil
	s.mu.Unlock()
	if !kernel {
		t.Skip("no poll(2) wait here (one P, or no socket descriptor)")
	}
	events := s.Events()
	got := make(chan error, 1)
	buf := make([]byte, sessTestBlock)
	if err := s.Start(context.Background(), sessReadCmd(t, 0, buf), func(_ Response, err error) { got <- err }); err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case err := <-got:
		if !errors.Is(err, ErrKeepalive) {
			t.Fatalf("unanswered command: %v, want ErrKeepalive", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("unanswered command still in flight 10 s on (session %v)", s.State())
	}
	if kt.pings.Load() == 0 {
		t.Fatal("the session failed without pinging its target")
	}
	if err := kaWaitFailed(t, s, events); !errors.Is(err, ErrKeepalive) {
		t.Fatalf("command after the failure: %v, want ErrKeepalive", err)
	}
}

// A session that keeps receiving PDUs sends no ping: what comes counts
// as a sign of life, although the target answers no ping (it would fail
// with ErrKeepalive NOPTimeout after its first ping otherwise).
func TestKeepaliveTrafficNoPing(t *testing.T) {
	kt := kaStartChatter(t, false, 10*time.Millisecond)
	s := kaDial(t, kt)
	s.Events() // starts the reader
	// 60 NOP-Ins span more than NOPInterval + NOPTimeout (250 ms) twice.
	for kt.sent.Load() < 60 {
		if st := s.State(); st != StateLoggedIn {
			t.Fatalf("session %v after %d NOP-Ins of its target", st, kt.sent.Load())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a stand-in for work
	}
	if n := kt.pings.Load(); n != 0 {
		t.Fatalf("%d pings sent while the target sent a PDU every 10 ms", n)
	}
	if st := s.State(); st != StateLoggedIn {
		t.Fatalf("session %v while its target kept sending", st)
	}
}
