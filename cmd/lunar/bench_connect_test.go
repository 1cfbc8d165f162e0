package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lunarsan/lunar/cluster"
)

// runBench runs "bench ARGS..." and returns what it printed.
func runBench(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newBenchCommand(nil)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestBenchConnectRun(t *testing.T) {
	dir := t.TempDir()
	jsonFile, htmlFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	out, errOut, err := runBench(t, "connect", "--nodes", "1,2", "--latency", "0,2ms", "--repeat", "1",
		"--json", jsonFile, "--html", htmlFile)
	if err != nil {
		t.Fatalf("bench connect: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"latency 0s", "latency 2ms", "serial/parallel", "memory per agent", "goals:", "wrote " + jsonFile, "wrote " + htmlFile} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A line per run: 2 latencies x 2 node counts x 2 modes.
	if n := strings.Count(errOut, " #1: create "); n != 8 {
		t.Errorf("%d run lines, want 8:\n%s", n, errOut)
	}
	f, err := os.Open(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := cluster.ReadBenchJSON(f)
	if err != nil {
		t.Fatalf("ReadBenchJSON: %v", err)
	}
	if len(rep.Runs) != 8 || len(rep.Summaries) != 4 || rep.Agents != 3 {
		t.Errorf("%d runs, %d summaries, %d agents", len(rep.Runs), len(rep.Summaries), rep.Agents)
	}
	page, err := os.ReadFile(htmlFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(page, []byte(`<svg class="chart`)); n != 4 { // 2 totals, 2 timelines
		t.Errorf("%d charts in the page, want 4", n)
	}
}

func TestBenchConnectFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad latency", []string{"connect", "--latency", "1.5ms"}, "--latency"},
		{"negative latency", []string{"connect", "--latency", "-5ms"}, "--latency"},
		{"bad size", []string{"connect", "--size", "lots"}, "--size"},
		{"zero nodes", []string{"connect", "--nodes", "0"}, "--nodes"},
		{"zero repeat", []string{"connect", "--repeat", "0"}, "--repeat"},
		{"bad scale", []string{"connect", "--scale", "-1"}, "--scale"},
		{"small size", []string{"connect", "--nodes", "1", "--latency", "0", "--size", "1M"}, "format"},
		{"args", []string{"connect", "extra"}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runBench(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestBenchConnectConfig(t *testing.T) {
	parse := func(args ...string) cluster.BenchConfig {
		t.Helper()
		cmd := newBenchConnectCommand(nil)
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatalf("flags %v: %v", args, err)
		}
		var o connectBenchOpts
		o.nodes, _ = cmd.Flags().GetIntSlice("nodes")
		o.latencies, _ = cmd.Flags().GetStringSlice("latency")
		o.repeat, _ = cmd.Flags().GetInt("repeat")
		o.size, _ = cmd.Flags().GetString("size")
		o.scale, _ = cmd.Flags().GetInt("scale")
		cfg, err := o.config(cmd)
		if err != nil {
			t.Fatalf("config %v: %v", args, err)
		}
		return cfg
	}
	cfg := parse()
	if !slices.Equal(cfg.Nodes, cluster.DefaultBenchNodes()) || !slices.Equal(cfg.Latencies, cluster.DefaultBenchLatencies()) ||
		cfg.Repeat != 3 || cfg.Size != 16<<20 {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = parse("--scale", "256")
	if !slices.Equal(cfg.Nodes, []int{256}) || !slices.Equal(cfg.Latencies, []time.Duration{0}) || cfg.Repeat != 1 {
		t.Errorf("--scale 256: %+v", cfg)
	}
	cfg = parse("--scale", "256", "--latency", "20ms", "--repeat", "2")
	if !slices.Equal(cfg.Nodes, []int{256}) || !slices.Equal(cfg.Latencies, []time.Duration{20 * time.Millisecond}) || cfg.Repeat != 2 {
		t.Errorf("--scale 256 --latency 20ms --repeat 2: %+v", cfg)
	}
}
