package cluster

import (
	"context"
	"errors"
	"testing"
	"time"
)

// runTestBench runs a small benchmark: 1 and 2 passive nodes, both
// modes, once, at 0 and 4 ms on 3 agents.
func runTestBench(t *testing.T) *BenchReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var progress int
	rep, err := RunBench(ctx, BenchConfig{
		Nodes: []int{1, 2}, Latencies: []time.Duration{0, 4 * time.Millisecond}, Repeat: 1,
		Progress: func(BenchRun) { progress++ },
	})
	if err != nil {
		t.Fatalf("RunBench: %v", err)
	}
	if progress != len(rep.Runs) {
		t.Errorf("%d progress calls, want %d", progress, len(rep.Runs))
	}
	return rep
}

func TestRunBench(t *testing.T) {
	rep := runTestBench(t)
	if rep.Agents != 3 || rep.Repeat != 1 || rep.Size != DefaultBenchSize || rep.Error != "" {
		t.Errorf("agents %d, repeat %d, size %d, error %q", rep.Agents, rep.Repeat, rep.Size, rep.Error)
	}
	// Three idle agents weigh less than the heap's noise between two
	// measurements, so Idle may round to zero; connected ones do not.
	if rep.Memory.Idle < 0 || rep.Memory.Connected <= 0 || rep.Memory.ConnectedAgents != 3 {
		t.Errorf("memory %+v", rep.Memory)
	}
	if len(rep.Runs) != 8 {
		t.Fatalf("%d runs, want 8", len(rep.Runs))
	}
	// One warm-up per latency, on the most nodes, in parallel, before
	// the latency's runs, and not among them.
	if len(rep.Warmups) != 2 {
		t.Fatalf("%d warm-ups, want 2", len(rep.Warmups))
	}
	for i, w := range rep.Warmups {
		if w.Latency != rep.Latencies[i] || w.Nodes != 2 || w.Mode != ModeParallel || w.Repeat != 0 || w.Error != "" ||
			!w.Create.Started.Before(rep.Runs[4*i].Create.Started) {
			t.Errorf("warm-up %d: %v %d %s repeat %d %q, started %v", i, w.Latency, w.Nodes, w.Mode, w.Repeat, w.Error, w.Create.Started)
		}
	}
	for _, r := range rep.Runs {
		if r.Repeat == 0 {
			t.Errorf("a warm-up among the runs: %v %d %s", r.Latency, r.Nodes, r.Mode)
		}
	}
	modes := map[Mode]int{}
	for _, r := range rep.Runs {
		modes[r.Mode]++
		if r.Error != "" {
			t.Errorf("%v %d %s: %s", r.Latency, r.Nodes, r.Mode, r.Error)
		}
		if len(r.Create.Nodes) != r.Nodes+1 {
			t.Fatalf("%v %d %s: %d node results", r.Latency, r.Nodes, r.Mode, len(r.Create.Nodes))
		}
		if r.T <= 0 || r.MaxT1 <= 0 || r.Total < r.T+r.MaxT1/2 || r.Ideal != r.T+r.MaxT1 || r.Delete <= 0 {
			t.Errorf("%v %d %s: T %v, max T1 %v, total %v, ideal %v, delete %v", r.Latency, r.Nodes, r.Mode, r.T, r.MaxT1, r.Total, r.Ideal, r.Delete)
		}
		if r.Mode == ModeSerial && r.Total < r.T+r.SumT1 {
			t.Errorf("%v %d serial: total %v < T %v + sum %v", r.Latency, r.Nodes, r.Total, r.T, r.SumT1)
		}
		for _, nr := range r.Create.Nodes {
			if nr.Status != NodeOK {
				t.Errorf("%s: %s %s", nr.Node, nr.Status, nr.Error)
			}
			if r.Latency == 0 {
				continue
			}
			// The latency is applied to every node's link: a login and a
			// map take at least one round trip.
			for _, st := range nr.Steps {
				if (st.Step == StepLogin || st.Step == StepMap || st.Step == StepCreateLUN) && st.Duration < r.Latency {
					t.Errorf("%v: %s: %s took %v", r.Latency, nr.Node, st.Step, st.Duration)
				}
			}
			if !runnerHasStep(nr, StepLogin) {
				t.Errorf("%s: no login step: %+v", nr.Node, nr.Steps)
			}
		}
	}
	if modes[ModeSerial] != 4 || modes[ModeParallel] != 4 {
		t.Errorf("modes %v", modes)
	}
	if len(rep.Summaries) != 4 {
		t.Fatalf("%d summaries, want 4", len(rep.Summaries))
	}
	for _, s := range rep.Summaries {
		t.Logf("%v %d nodes: T %v, max T1 %v, serial %v, parallel %v, ideal %v", s.Latency, s.Nodes, s.T, s.MaxT1, s.Serial, s.Parallel, s.Ideal)
		if s.Runs != 1 || s.Serial <= 0 || s.Parallel <= 0 || s.Ideal <= 0 || s.ParallelOverIdeal <= 0 || s.SerialOverParallel <= 0 {
			t.Errorf("summary %+v", s)
		}
	}
}

func TestBenchConfigInvalid(t *testing.T) {
	for name, cfg := range map[string]BenchConfig{
		"zero nodes":       {Nodes: []int{0}},
		"sub-millisecond":  {Latencies: []time.Duration{500 * time.Microsecond}},
		"negative latency": {Latencies: []time.Duration{-time.Millisecond}},
		"negative repeat":  {Repeat: -1},
		"odd size":         {Size: 1000},
		"too small":        {Size: 1 << 20},
		"negative timeout": {NodeTimeout: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := RunBench(t.Context(), cfg); !errors.Is(err, ErrInvalid) {
				t.Errorf("RunBench: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSummariseBench(t *testing.T) {
	ms := time.Millisecond
	runs := []BenchRun{
		{Latency: 0, Nodes: 4, Mode: ModeSerial, Total: 90 * ms, Delete: 9 * ms},
		{Latency: 0, Nodes: 4, Mode: ModeParallel, Total: 30 * ms, T: 10 * ms, MaxT1: 15 * ms, Ideal: 25 * ms, Delete: 3 * ms},
		{Latency: 0, Nodes: 4, Mode: ModeParallel, Total: 50 * ms, T: 10 * ms, MaxT1: 25 * ms, Ideal: 35 * ms, Delete: 5 * ms},
		{Latency: 0, Nodes: 4, Mode: ModeSerial, Total: 110 * ms, Delete: 11 * ms},
		{Latency: 0, Nodes: 4, Mode: ModeSerial, Total: time.Hour, Error: "create: failed"},
		{Latency: 5 * ms, Nodes: 1, Mode: ModeParallel, Total: 20 * ms, Ideal: 20 * ms},
	}
	got := SummariseBench(runs)
	if len(got) != 2 {
		t.Fatalf("%d summaries, want 2: %+v", len(got), got)
	}
	s := got[0]
	if s.Nodes != 4 || s.Runs != 2 || s.Serial != 100*ms || s.Parallel != 40*ms || s.Ideal != 30*ms ||
		s.T != 10*ms || s.MaxT1 != 20*ms || s.DeleteSerial != 10*ms || s.DeleteParallel != 4*ms {
		t.Errorf("summary %+v", s)
	}
	if s.SerialOverParallel != 2.5 || s.ParallelOverIdeal != 40.0/30.0 {
		t.Errorf("ratios %v %v", s.SerialOverParallel, s.ParallelOverIdeal)
	}
	if got[1].Latency != 5*ms || got[1].Runs != 0 || got[1].Serial != 0 || got[1].SerialOverParallel != 0 {
		t.Errorf("second summary %+v", got[1])
	}
}
