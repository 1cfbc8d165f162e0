package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lunarsan/lunar/cluster"
)

func TestDemo(t *testing.T) {
	out := runCLIOK(t, "demo", "--nodes", "3", "--size", "64MiB")
	tables := tableRows(t, out)
	if len(tables) != 2 {
		t.Fatalf("%d tables, want the parallel and the serial one:\n%s", len(tables), out)
	}
	for i, mode := range []string{"parallel", "serial"} {
		for _, n := range []string{"node-1", "node-2", "node-3"} {
			if tables[i][n] != "ok" {
				t.Fatalf("%s: node %s is %q:\n%s", mode, n, tables[i][n], out)
			}
		}
		if !strings.Contains(out, "("+mode+")") {
			t.Fatalf("no %s run in:\n%s", mode, out)
		}
	}
	for _, w := range []string{"SERIAL", "PARALLEL", "IDEAL", "speed-up"} {
		if !strings.Contains(out, w) {
			t.Fatalf("the comparison lacks %q:\n%s", w, out)
		}
	}
}

// TestDemoLatency runs the demo with emulated links: each node's steps
// that talk to the target take at least the round trip.
func TestDemoLatency(t *testing.T) {
	out := runCLIOK(t, "demo", "--nodes", "2", "--size", "16MiB", "--latency", "20ms", "-o", "json")
	var res demoJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("demo -o json: %v\n%s", err, out)
	}
	for _, r := range []cluster.OperationResult{res.Parallel, res.Serial} {
		for _, n := range r.Nodes {
			for _, st := range n.Steps {
				if st.Step == cluster.StepMap && st.Duration < 20*time.Millisecond {
					t.Errorf("%s %s: map took %v over a 20ms link", r.Mode, n.Node, st.Duration)
				}
			}
		}
	}
}
