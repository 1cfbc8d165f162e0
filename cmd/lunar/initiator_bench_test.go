package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBenchHist checks the bench's fixed-bucket latency histogram against
// exact percentiles of the same samples: within 1/32, mean exact.
func TestBenchHist(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h, a, b benchHist
	var all []int64
	var sum int64
	for i := range 100000 {
		v := int64(r.ExpFloat64() * 200e3) // around 200 µs, long tail
		if i%1000 == 0 {
			v = int64(i) // small values land in the exact buckets
		}
		all = append(all, v)
		sum += v
		if i%2 == 0 {
			a.add(v)
		} else {
			b.add(v)
		}
		h.add(v)
	}
	a.merge(&b)
	if a != h {
		t.Fatal("merging two halves differs from recording everything in one")
	}
	slices.Sort(all)
	mean, p50, p99 := h.stats()
	if want := float64(sum) / float64(len(all)) / 1e3; math.Abs(mean-want) > 1e-9*want {
		t.Errorf("mean %v µs, want %v", mean, want)
	}
	for _, c := range []struct {
		name string
		got  float64
		p    float64
	}{{"p50", p50, 0.50}, {"p99", p99, 0.99}} {
		want := float64(all[int(c.p*float64(len(all)-1))]) / 1e3
		if math.Abs(c.got-want) > want/32 {
			t.Errorf("%s = %v µs, exact %v µs: off by more than 1/32", c.name, c.got, want)
		}
	}
	var empty benchHist
	if m, p, q := empty.stats(); m != 0 || p != 0 || q != 0 {
		t.Errorf("empty histogram: %v %v %v", m, p, q)
	}
	for _, v := range []int64{0, 1, 15, 16, 31, 32, 1 << 40, math.MaxInt64} {
		if i := benchBucket(v); i < 0 || i >= benchHistBuckets {
			t.Errorf("bucket of %d = %d, outside [0, %d)", v, i, benchHistBuckets)
		}
	}
}
