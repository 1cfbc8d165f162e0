package initiator

import (
	"context"
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
