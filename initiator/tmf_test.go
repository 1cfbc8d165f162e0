package initiator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

func TestTMFLUNReset(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	ctx, cancel := context.WithTimeout(context.Background(), sessTestTimeout)
	defer cancel()
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
	// Commands in flight while the LU resets end either normally or
	// aborted; none hangs.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			_, err := s.Execute(ctx, sessReadCmd(t, 0, buf))
			if err != nil && !errors.Is(err, ErrTaskAborted) {
				t.Errorf("read during reset: %v", err)
			}
		}()
	}
	if err := s.LUNReset(ctx, 0); err != nil {
		t.Fatalf("LUNReset: %v", err)
	}
	wg.Wait()
	// The reset's unit attention (29/xx) is retried transparently and
	// reported.
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
	wantUA := false
	for len(s.Events()) > 0 {
		ev := <-s.Events()
		if ev.Kind == EventUnitAttention && ev.Sense.ASC() == 0x29 {
			wantUA = true
		}
	}
	if !wantUA {
		t.Fatal("no 29/xx unit attention reported after LUN RESET")
	}
	if err := s.TargetWarmReset(ctx); err != nil {
		var te *TMFError
		if !errors.As(err, &te) {
			t.Fatalf("TargetWarmReset: %v", err)
		}
	}
	sessExec(t, s, &Command{CDB: make([]byte, 6)})
	if err := s.LUNReset(ctx, 1<<20); !errors.Is(err, ErrCommand) {
		t.Fatalf("LUNReset of a LUN out of range: %v", err)
	}
	if e := (&TMFError{Function: iscsi.LogicalUnitReset, Response: iscsi.TMLUNDoesNotExist}).Error(); e == "" {
		t.Fatal("TMFError text")
	}
}

func TestTMFAbortOnCancel(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	s := sessDial(t, env.config())
	// Cancel commands after they are on the wire: ABORT TASK goes out and
	// Execute returns the context's error once the tag is free.
	for i := 0; i < 50; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i%5)*100*time.Microsecond)
		buf := make([]byte, 4<<20)
		_, err := s.Execute(ctx, sessReadCmd(t, 0, buf))
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Execute: %v", err)
		}
	}
	resp := sessExec(t, s, sessReadCmd(t, 0, make([]byte, 4096)))
	if resp.Status != scsi.StatusGood {
		t.Fatalf("status %v", resp.Status)
	}
	s.mu.Lock()
	free, n := len(s.free), len(s.slots)
	s.mu.Unlock()
	if free != n {
		// ABORT TASK requests are released by their responses, which
		// may still be on the way: wait for them.
		deadline := time.Now().Add(5 * time.Second)
		for free != n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling interval
			s.mu.Lock()
			free = len(s.free)
			s.mu.Unlock()
		}
		if free != n {
			t.Fatalf("%d of %d slots free", free, n)
		}
	}
}
