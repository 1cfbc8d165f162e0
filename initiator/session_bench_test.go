package initiator

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/lunarsan/lunar/target"
)

// BenchmarkSessionRead4K measures one 4 KiB READ(10) through a Session
// against lunar's in-process target over loopback, at queue depth 1 and
// 32. Allocations per operation are the initiator's and the target's
// together.
func BenchmarkSessionRead4K(b *testing.B) {
	for _, qd := range []int{1, 32} {
		b.Run(map[int]string{1: "QD1", 32: "QD32"}[qd], func(b *testing.B) {
			env := sessStart(b, target.ServerConfig{})
			cfg := env.config()
			cfg.NOPInterval = -1
			s := sessDial(b, cfg)
			cmds := make([]*Command, qd)
			for i := range cmds {
				cmds[i] = sessReadCmd(b, uint64(i*8), make([]byte, 4096))
			}
			ctx := context.Background()
			// Warm up the pools and the target's caches.
			for _, c := range cmds {
				if _, err := s.Execute(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(4096)
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / qd
			for w := 0; w < qd; w++ {
				n := per
				if w == 0 {
					n += b.N % qd
				}
				wg.Add(1)
				go func(c *Command, n int) {
					defer wg.Done()
					for i := 0; i < n; i++ {
						if _, err := s.Execute(ctx, c); err != nil {
							b.Error(err)
							return
						}
					}
				}(cmds[w], n)
			}
			wg.Wait()
			b.StopTimer()
		})
	}
}

// BenchmarkSessionLoginLogout measures one Dial and Logout against
// lunar's in-process target over loopback; allocations per cycle are the
// initiator's and the target's together.
func BenchmarkSessionLoginLogout(b *testing.B) {
	env := sessStart(b, target.ServerConfig{})
	cfg := env.config()
	cfg.NOPInterval = -1
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sessBenchCycle(b, ctx, cfg, nil)
	}
}

// sessBenchCycle dials cfg, runs between (when not nil) on the session
// and logs out; any error fails b.
func sessBenchCycle(b *testing.B, ctx context.Context, cfg Config, between func(*Session) error) {
	s, err := Dial(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if between != nil {
		if err := between(s); err != nil {
			s.Close()
			b.Fatal(err)
		}
	}
	if err := s.Logout(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSessionStart4K measures one 4 KiB READ(10) issued with Start
// at queue depth 32, each completion issuing the next command, against
// lunar's in-process target over loopback.
func BenchmarkSessionStart4K(b *testing.B) {
	env := sessStart(b, target.ServerConfig{})
	cfg := env.config()
	cfg.NOPInterval = -1
	s := sessDial(b, cfg)
	const qd = 32
	ctx := context.Background()
	cmds := make([]*Command, qd)
	for i := range cmds {
		cmds[i] = sessReadCmd(b, uint64(i*8), make([]byte, 4096))
		if _, err := s.Execute(ctx, cmds[i]); err != nil {
			b.Fatal(err)
		}
	}
	var left sync.WaitGroup
	var budget, issued int
	var mu sync.Mutex
	// take reports whether another command may be issued.
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if issued == budget {
			return false
		}
		issued++
		return true
	}
	dones := make([]func(Response, error), qd)
	for i := range dones {
		c := cmds[i]
		dones[i] = func(_ Response, err error) {
			if err != nil {
				b.Error(err)
			}
			if !take() {
				left.Done()
				return
			}
			if err := s.Start(ctx, c, dones[i]); err != nil {
				b.Error(err)
				left.Done()
			}
		}
	}
	b.ReportAllocs()
	b.SetBytes(4096)
	b.ResetTimer()
	budget = b.N
	for i := 0; i < qd; i++ {
		left.Add(1)
		if !take() {
			left.Done()
			continue
		}
		if err := s.Start(ctx, cmds[i], dones[i]); err != nil {
			b.Fatal(err)
		}
	}
	left.Wait()
	b.StopTimer()
}

// BenchmarkSessionConnectScan measures what a cluster node's connect costs
// the initiator and the target together: Dial, Rescan of the one LUN (its
// identification batch), Logout, against lunar's in-process target.
func BenchmarkSessionConnectScan(b *testing.B) {
	env := sessStart(b, target.ServerConfig{})
	cfg := env.config()
	ctx := context.Background()
	b.ReportAllocs()
	rescan := func(s *Session) error {
		infos, err := Rescan(ctx, s)
		if err == nil && len(infos) != 1 {
			err = fmt.Errorf("Rescan found %d LUNs, want 1", len(infos))
		}
		return err
	}
	for b.Loop() {
		sessBenchCycle(b, ctx, cfg, rescan)
	}
}
