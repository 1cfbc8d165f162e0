package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
)

// newBenchCommand is "lunar bench": the cluster benchmarks.
func newBenchCommand(logger *zerolog.Logger) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark the cluster operations",
	}
	cmd.AddCommand(newBenchConnectCommand(logger), newBenchFailoverCommand())
	return cmd
}

// connectBenchOpts are the flags of "bench connect".
type connectBenchOpts struct {
	nodes       []int
	latencies   []string
	repeat      int
	size        string
	scale       int
	noFormat    bool
	nodeTimeout time.Duration
	jsonFile    string
	htmlFile    string
	prof        profiles
	quiet       bool
}

func newBenchConnectCommand(logger *zerolog.Logger) *cobra.Command {
	o := connectBenchOpts{}
	cmd := &cobra.Command{
		Use:   "connect [--nodes 1,2,4,...] [--latency 0,5ms,20ms] [--repeat 3] [--json FILE] [--html FILE]",
		Short: "Measure create and delete of a LUN on N nodes, serial against parallel, over emulated links",
		Long: "Start a whole cluster in this process (embedded etcd, a lunar target and max(--nodes)+1 node agents,\n" +
			"each reaching the target's portal and management API through its own toxiproxy link with the\n" +
			"--latency round trip; latency 0 runs on a cluster of its own over plain loopback, no proxy), then\n" +
			"for every latency (after one unrecorded warm-up: a parallel create and delete on the most nodes)\n" +
			"and node count run the cluster's create and delete operations in serial and in parallel mode,\n" +
			"--repeat times with the modes interleaved. Prints, per\n" +
			"latency, the median serial and parallel create times, the ideal T + max(T1_i) of the parallel runs,\n" +
			"the ratios, the memory per agent and the goals; --json and --html write the full report.\n" +
			"--scale N runs N passive nodes once at 0 latency (unless --nodes, --latency or --repeat say otherwise).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.config(cmd)
			if err != nil {
				return err
			}
			log := zerolog.Nop()
			if logger != nil {
				log = *logger
			}
			// The agents log every connect at info level: only warnings
			// unless debugging.
			cfg.Logger = log.Level(max(log.GetLevel(), zerolog.WarnLevel))
			if log.GetLevel() <= zerolog.DebugLevel {
				cfg.Logger = log
			}
			errOut := cmd.ErrOrStderr()
			if !o.quiet {
				cfg.Progress = func(r cluster.BenchRun) { printBenchRun(errOut, r) }
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			stopProf, err := o.prof.start(errOut)
			defer stopProf()
			if err != nil {
				return err
			}
			agents := 0
			for _, n := range cfg.Nodes {
				agents = max(agents, n+1)
			}
			fmt.Fprintf(errOut, "starting a local cluster of %d agents...\n", agents)
			rep, err := cluster.RunBench(ctx, cfg)
			if rep == nil {
				return err
			}
			werr := writeBenchOutputs(cmd.OutOrStdout(), rep, o)
			if err != nil {
				return fmt.Errorf("bench connect: %w", err)
			}
			return werr
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&o.nodes, "nodes", cluster.DefaultBenchNodes(), "passive node counts (the cluster has the largest + 1 agents)")
	fl.StringSliceVar(&o.latencies, "latency", []string{"0", "5ms", "20ms"}, "round-trip times between each node and the target, whole milliseconds")
	fl.IntVar(&o.repeat, "repeat", cluster.DefaultBenchRepeat, "runs per mode, node count and latency")
	fl.StringVar(&o.size, "size", "16M", "LUN size (K, M, G units); at least 8M unless --no-format")
	fl.IntVar(&o.scale, "scale", 0, "scale run: N passive nodes, once, at 0 latency (other flags still override)")
	fl.BoolVar(&o.noFormat, "no-format", false, "skip the format step and the passive nodes' label check")
	fl.DurationVar(&o.nodeTimeout, "node-timeout", 0, "bound of each node's part (0: the cluster default, 60s)")
	fl.StringVar(&o.jsonFile, "json", "", "write the full report as JSON to this file")
	fl.StringVar(&o.htmlFile, "html", "", "write the report as a self-contained HTML page with charts to this file")
	fl.StringVar(&o.prof.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	fl.StringVar(&o.prof.mutex, "mutexprofile", "", "write a mutex contention profile of the run to this file")
	fl.StringVar(&o.prof.block, "blockprofile", "", "write a blocking profile (waits of 100µs and more) of the run to this file")
	fl.StringVar(&o.prof.allocs, "allocprofile", "", "write an allocation profile (all allocations since the process started) to this file")
	_ = fl.MarkHidden("mutexprofile")
	_ = fl.MarkHidden("blockprofile")
	_ = fl.MarkHidden("allocprofile")
	fl.BoolVar(&o.quiet, "quiet", false, "no line per run on standard error")
	return cmd
}

// writeProfile writes the named runtime profile to file, reporting a

// config turns the flags into a BenchConfig.
func (o *connectBenchOpts) config(cmd *cobra.Command) (cluster.BenchConfig, error) {
	var cfg cluster.BenchConfig
	size, err := parseSize(o.size)
	if err != nil {
		return cfg, fmt.Errorf("--size: %w", err)
	}
	cfg.Size, cfg.NoFormat, cfg.NodeTimeout, cfg.Repeat = size, o.noFormat, o.nodeTimeout, o.repeat
	cfg.Nodes = o.nodes
	for _, s := range o.latencies {
		d, err := parseLatency(s)
		if err != nil {
			return cfg, err
		}
		cfg.Latencies = append(cfg.Latencies, d)
	}
	if o.scale != 0 {
		if o.scale < 1 {
			return cfg, fmt.Errorf("--scale %d: want a positive node count", o.scale)
		}
		fl := cmd.Flags()
		if !fl.Changed("nodes") {
			cfg.Nodes = []int{o.scale}
		}
		if !fl.Changed("latency") {
			cfg.Latencies = []time.Duration{0}
		}
		if !fl.Changed("repeat") {
			cfg.Repeat = 1
		}
	}
	if cfg.Repeat < 1 {
		return cfg, fmt.Errorf("--repeat %d: want at least 1", cfg.Repeat)
	}
	for _, n := range cfg.Nodes {
		if n < 1 {
			return cfg, fmt.Errorf("--nodes %d: want at least 1 passive node", n)
		}
	}
	return cfg, nil
}

// parseLatency parses a round-trip time: "0" or a Go duration in whole
// milliseconds.
func parseLatency(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%time.Millisecond != 0 {
		return 0, fmt.Errorf("--latency %q: want 0 or a duration in whole milliseconds such as 5ms", s)
	}
	return d, nil
}

// printBenchRun writes one line per run.
func printBenchRun(w io.Writer, r cluster.BenchRun) {
	line := fmt.Sprintf("%6v %4d nodes %-8s #%d: create %v (T %v, max T1 %v, ideal %v), delete %v",
		r.Latency, r.Nodes, r.Mode, r.Repeat, roundDur(r.Total), roundDur(r.T), roundDur(r.MaxT1), roundDur(r.Ideal), roundDur(r.Delete))
	if r.Error != "" {
		line += ": " + r.Error
	}
	fmt.Fprintln(w, line)
}

func roundDur(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// writeBenchOutputs prints the tables and writes the JSON and HTML files.
func writeBenchOutputs(out io.Writer, rep *cluster.BenchReport, o connectBenchOpts) error {
	var errs []error
	if err := cluster.WriteBenchTable(out, rep); err != nil {
		errs = append(errs, err)
	}
	write := func(path string, fn func(io.Writer, *cluster.BenchReport) error) {
		if path == "" {
			return
		}
		var buf bytes.Buffer
		if err := fn(&buf, rep); err != nil {
			errs = append(errs, err)
			return
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			errs = append(errs, err)
			return
		}
		fmt.Fprintf(out, "wrote %s\n", path)
	}
	write(o.jsonFile, cluster.WriteBenchJSON)
	write(o.htmlFile, cluster.WriteBenchHTML)
	return errors.Join(errs...)
}
