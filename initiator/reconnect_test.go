package initiator

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/target"
)

func TestReconnectTargetRestarted(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.Reconnect = ReconnectPolicy{Attempts: 100, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	s := sessDial(t, cfg)
	isid, tsih := s.ISID(), s.tsih

	const writers = 8
	const perWriter = 16 // LBAs of 8 blocks owned by each writer
	type ack struct {
		gen       int
		uncertain bool
	}
	acks := make([][]ack, writers)
	var written atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		acks[w] = make([]ack, perWriter)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for gen := 1; ; gen++ {
				select {
				case <-stop:
					return
				default:
				}
				i := gen % perWriter
				lba := uint64((w*perWriter + i) * 8)
				ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
				_, err := s.Execute(ctx, sessWriteCmd(t, lba, sessPattern(lba, gen, 4096)))
				cancel()
				if err != nil {
					t.Errorf("write at LBA %d across the restart: %v", lba, err)
					acks[w][i].uncertain = true
					return
				}
				acks[w][i] = ack{gen: gen}
				written.Add(1)
			}
		}(w)
	}
	waitWritten := func(n int64) {
		t.Helper()
		deadline := time.Now().Add(sessTestTimeout)
		for written.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged", written.Load())
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}
	waitWritten(200)
	addr := env.addr
	env.stop()
	before := written.Load()
	env.start(addr)
	waitWritten(before + 200)
	close(stop)
	wg.Wait()
	if st := s.State(); st != StateLoggedIn {
		t.Fatalf("state %v after the restart", st)
	}
	if s.ISID() != isid {
		t.Fatal("ISID changed")
	}
	_ = tsih
	// Every acknowledged write reads back intact.
	for w := range acks {
		for i, a := range acks[w] {
			if a.gen == 0 || a.uncertain {
				continue
			}
			lba := uint64((w*perWriter + i) * 8)
			buf := make([]byte, 4096)
			sessExec(t, s, sessReadCmd(t, lba, buf))
			if !bytes.Equal(buf, sessPattern(lba, a.gen, 4096)) {
				t.Fatalf("LBA %d: acknowledged generation %d lost", lba, a.gen)
			}
		}
	}
	// The state changes were reported.
	var saw []State
	for len(s.Events()) > 0 {
		if ev := <-s.Events(); ev.Kind == EventState {
			saw = append(saw, ev.State)
		}
	}
	if len(saw) < 2 || saw[0] != StateReconnecting || saw[len(saw)-1] != StateLoggedIn {
		t.Fatalf("state events %v", saw)
	}
}

func TestReconnectBudgetExhausted(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.Reconnect = ReconnectPolicy{Attempts: 3, MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	s := sessDial(t, cfg)
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
	env.stop()
	// Commands issued while the session reconnects wait, then fail at
	// once when the budget runs out, with the typed error; no deadline
	// is needed to end them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Execute(context.Background(), sessReadCmd(t, 0, make([]byte, 4096)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		sessWantErr(t, err, ErrSessionFailed)
	}
	if st := s.State(); st != StateFailed {
		t.Fatalf("state %v", st)
	}
	start := time.Now()
	_, err := s.Execute(context.Background(), &Command{CDB: make([]byte, 6)})
	sessWantErr(t, err, ErrSessionFailed)
	if time.Since(start) > time.Second {
		t.Fatal("a command on a failed session did not fail at once")
	}
	if err := s.LUNReset(context.Background(), 0); !errors.Is(err, ErrSessionFailed) {
		t.Fatalf("LUNReset on a failed session: %v", err)
	}
	if err := s.Logout(context.Background()); !errors.Is(err, ErrSessionFailed) {
		t.Fatalf("Logout on a failed session: %v", err)
	}
}

func TestReconnectDisabled(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	cfg := env.config()
	cfg.Reconnect.Attempts = -1
	s := sessDial(t, cfg)
	env.stop()
	_, err := s.Execute(context.Background(), &Command{CDB: make([]byte, 6)})
	sessWantErr(t, err, ErrSessionFailed)
}
