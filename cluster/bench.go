package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Benchmark defaults.
const (
	// DefaultBenchRepeat is how many times each mode runs per node count
	// and latency.
	DefaultBenchRepeat = 3
	// DefaultBenchSize is the benchmark LUN's size: 16 MiB, twice
	// MinFormatSize.
	DefaultBenchSize = 16 << 20
	// BenchGroupPrefix starts the names of the benchmark's resource
	// groups.
	BenchGroupPrefix = "bench-"
)

// DefaultBenchNodes are the passive node counts a benchmark runs when
// BenchConfig.Nodes is empty.
func DefaultBenchNodes() []int { return []int{1, 2, 4, 8, 16, 32, 64} }

// DefaultBenchLatencies are the round-trip times a benchmark emulates
// when BenchConfig.Latencies is empty.
func DefaultBenchLatencies() []time.Duration {
	return []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond}
}

// BenchConfig configures RunBench. The zero value of every field is a
// documented default.
type BenchConfig struct {
	// Nodes are the passive node counts; empty means DefaultBenchNodes.
	// The cluster has max(Nodes)+1 agents: node1 is the active node.
	Nodes []int
	// Latencies are the emulated round-trip times between every node and
	// the target (its portal and its management API), whole milliseconds;
	// empty means DefaultBenchLatencies.
	Latencies []time.Duration
	// Repeat is the runs per mode, node count and latency; zero means
	// DefaultBenchRepeat.
	Repeat int
	// Size is the LUN's size in bytes; zero means DefaultBenchSize.
	Size int64
	// NoFormat skips the format step (and the passive nodes' verify).
	NoFormat bool
	// NodeTimeout bounds each node's part; zero means DefaultNodeTimeout.
	NodeTimeout time.Duration
	// Dir holds the cluster's data; empty means a temporary directory.
	Dir string
	// Logger receives the cluster's log; the zero value is silent.
	Logger zerolog.Logger
	// Progress, when set, is called after each run (create and delete of
	// one mode), from RunBench's goroutine.
	Progress func(BenchRun)
}

// BenchReport is a benchmark's whole outcome: every run and the summaries.
type BenchReport struct {
	// Started is when the benchmark began.
	Started time.Time `json:"started"`
	// Duration is the benchmark's wall time.
	Duration time.Duration `json:"duration_ns"`
	// Machine describes the machine that ran it.
	Machine BenchMachine `json:"machine"`
	// Nodes are the passive node counts.
	Nodes []int `json:"nodes"`
	// Latencies are the round-trip times.
	Latencies []time.Duration `json:"latencies_ns"`
	// Repeat is the runs per mode, node count and latency.
	Repeat int `json:"repeat"`
	// Size is the LUN's size in bytes.
	Size int64 `json:"size"`
	// NoFormat reports that the format step was skipped.
	NoFormat bool `json:"no_format,omitempty"`
	// Agents is the number of node agents started (active included).
	Agents int `json:"agents"`
	// Memory is the agents' memory use.
	Memory BenchMemory `json:"memory"`
	// GCPercent is the garbage collector's GOGC percent during the runs
	// (the largest of the clusters'): raised from the default so the
	// process collects about as often as the separate processes it stands
	// in for would (separateHeapsGC).
	GCPercent int `json:"gc_percent,omitempty"`
	// Runs are the runs in the order they ran.
	Runs []BenchRun `json:"runs"`
	// Warmups are the unrecorded runs, one per latency before its runs: a
	// parallel create and delete on the most nodes (Repeat 0).
	Warmups []BenchRun `json:"warmups,omitempty"`
	// Summaries has one entry per latency and node count, in order.
	Summaries []BenchSummary `json:"summaries"`
	// Error is the error that stopped the benchmark, empty when it
	// completed.
	Error string `json:"error,omitempty"`
}

// BenchMachine describes the machine a benchmark ran on.
type BenchMachine struct {
	// CPUs is the number of logical CPUs.
	CPUs int `json:"cpus"`
	// GOMAXPROCS is the Go scheduler's parallelism.
	GOMAXPROCS int `json:"gomaxprocs"`
	// OS is GOOS.
	OS string `json:"os"`
	// Arch is GOARCH.
	Arch string `json:"arch"`
	// Kernel is the kernel release where known.
	Kernel string `json:"kernel,omitempty"`
	// GoVersion is the Go toolchain's version.
	GoVersion string `json:"go_version"`
}

// BenchMemory is the Go heap attributable to the node agents: the live
// heap objects after a garbage collection.
type BenchMemory struct {
	// Idle is the heap added per agent by starting the agents (engine,
	// agent, HTTP server, etcd registration, the node's two link
	// proxies), in bytes.
	Idle int64 `json:"idle_per_agent"`
	// Connected is the heap added per agent, counted from before the
	// agents started, while every agent is connected to a LUN (sessions,
	// watchers, disks), measured in the first parallel create of the
	// largest node count, in bytes; zero when not measured.
	Connected int64 `json:"connected_per_agent,omitempty"`
	// ConnectedAgents is how many agents were connected then.
	ConnectedAgents int `json:"connected_agents,omitempty"`
}

// BenchRun is one run: a create and then a delete in one mode.
type BenchRun struct {
	// Latency is the emulated round-trip time.
	Latency time.Duration `json:"latency_ns"`
	// Nodes is the passive node count.
	Nodes int `json:"nodes"`
	// Mode is serial or parallel.
	Mode Mode `json:"mode"`
	// Repeat counts the runs of this mode, node count and latency from 1.
	Repeat int `json:"repeat"`
	// Create is the create operation's result.
	Create OperationResult `json:"create"`
	// T is the create's active part (Create.Active).
	T time.Duration `json:"t_ns"`
	// MaxT1 is the longest passive node's total.
	MaxT1 time.Duration `json:"max_t1_ns"`
	// SumT1 is the passive nodes' totals added up.
	SumT1 time.Duration `json:"sum_t1_ns"`
	// Total is the create's wall time.
	Total time.Duration `json:"total_ns"`
	// Ideal is T + MaxT1.
	Ideal time.Duration `json:"ideal_ns"`
	// Delete is the delete's wall time.
	Delete time.Duration `json:"delete_ns"`
	// CPU is the process's CPU time (user and system, every component of
	// the in-process cluster) during the create: near GOMAXPROCS times
	// Total, the create was bound by the machine's cores.
	CPU time.Duration `json:"cpu_ns"`
	// Error is the create's or the delete's error text.
	Error string `json:"error,omitempty"`
}

// BenchSummary sums up one latency and node count: medians over the
// repeats.
type BenchSummary struct {
	// Latency is the emulated round-trip time.
	Latency time.Duration `json:"latency_ns"`
	// Nodes is the passive node count.
	Nodes int `json:"nodes"`
	// Runs is the number of successful runs per mode counted.
	Runs int `json:"runs"`
	// T is the median active part of the parallel creates.
	T time.Duration `json:"t_ns"`
	// MaxT1 is the median longest passive node of the parallel creates.
	MaxT1 time.Duration `json:"max_t1_ns"`
	// Serial is the median serial create.
	Serial time.Duration `json:"serial_ns"`
	// Parallel is the median parallel create.
	Parallel time.Duration `json:"parallel_ns"`
	// Ideal is the median T + max(T1_i) of the parallel creates.
	Ideal time.Duration `json:"ideal_ns"`
	// ParallelOverIdeal is Parallel / Ideal.
	ParallelOverIdeal float64 `json:"parallel_over_ideal"`
	// SerialOverParallel is Serial / Parallel.
	SerialOverParallel float64 `json:"serial_over_parallel"`
	// CPU is the median CPU time of the parallel creates.
	CPU time.Duration `json:"cpu_ns"`
	// DeleteSerial is the median serial delete.
	DeleteSerial time.Duration `json:"delete_serial_ns"`
	// DeleteParallel is the median parallel delete.
	DeleteParallel time.Duration `json:"delete_parallel_ns"`
}

// RunBench runs the connect benchmark cfg describes on a Local cluster of
// max(Nodes)+1 agents, each behind its own emulated link (latency 0: a
// cluster of its own without links, see runBench): for every
// latency, node count and repeat, a create then a delete in each mode,
// the modes' order alternating between repeats. It returns the report,
// complete up to the first failed run when err is not nil.
func RunBench(ctx context.Context, cfg BenchConfig) (*BenchReport, error) {
	if err := normaliseBench(&cfg); err != nil {
		return nil, err
	}
	rep := &BenchReport{Started: time.Now().UTC(), Machine: benchMachine(), Nodes: cfg.Nodes,
		Latencies: cfg.Latencies, Repeat: cfg.Repeat, Size: cfg.Size, NoFormat: cfg.NoFormat}
	err := runBench(ctx, cfg, rep)
	rep.Duration = time.Since(rep.Started)
	rep.Summaries = SummariseBench(rep.Runs)
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

func normaliseBench(cfg *BenchConfig) error {
	if len(cfg.Nodes) == 0 {
		cfg.Nodes = DefaultBenchNodes()
	}
	if len(cfg.Latencies) == 0 {
		cfg.Latencies = DefaultBenchLatencies()
	}
	cfg.Nodes = slices.Clone(cfg.Nodes)
	cfg.Latencies = slices.Clone(cfg.Latencies)
	for _, n := range cfg.Nodes {
		if n < 1 {
			return fmt.Errorf("%w: bench: node count %d: want at least 1 passive node", ErrInvalid, n)
		}
	}
	for _, l := range cfg.Latencies {
		if l < 0 || l%time.Millisecond != 0 {
			return fmt.Errorf("%w: bench: latency %v: want whole milliseconds, 0 or more", ErrInvalid, l)
		}
	}
	switch {
	case cfg.Repeat < 0:
		return fmt.Errorf("%w: bench: repeat %d is negative", ErrInvalid, cfg.Repeat)
	case cfg.Repeat == 0:
		cfg.Repeat = DefaultBenchRepeat
	}
	switch {
	case cfg.Size < 0 || cfg.Size%512 != 0:
		return fmt.Errorf("%w: bench: size %d: want a positive multiple of 512", ErrInvalid, cfg.Size)
	case cfg.Size == 0:
		cfg.Size = DefaultBenchSize
	case !cfg.NoFormat && cfg.Size < MinFormatSize:
		return fmt.Errorf("%w: bench: size %d is below the %d bytes a format needs (or skip the format)", ErrInvalid, cfg.Size, MinFormatSize)
	}
	if cfg.NodeTimeout < 0 {
		return fmt.Errorf("%w: bench: node timeout %v is negative", ErrInvalid, cfg.NodeTimeout)
	}
	return nil
}

func benchMachine() BenchMachine {
	m := BenchMachine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), OS: runtime.GOOS, Arch: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// goMinHeap is the Go runtime's smallest heap goal: a process whose live
// heap is smaller than half of it collects garbage only once it has
// allocated up to this much.
const goMinHeap = 4 << 20

// maxBenchHeadroom bounds the heap headroom separateHeapsGC gives (256
// agents would ask for a GiB).
const maxBenchHeadroom = 1 << 30

// separateHeapsGC makes this process, which hosts procs programs that are
// separate processes in a real cluster (etcd, the target, the agents),
// collect garbage about as often as those processes would together: each
// of them has at least goMinHeap of headroom before its next collection,
// while one process's collector, left at its default, allows one live
// heap's worth for all of them and so runs procs times as often over the
// same allocations, a cost a real cluster does not pay. It raises the
// collector's GOGC percent to give the live heap procs times goMinHeap of
// headroom (it never lowers it, and leaves GOGC=off alone) and returns the
// percent in force and the function that restores the previous one. live
// is the live heap now (heapLive).
func separateHeapsGC(procs int, live int64) (percent int, restore func()) {
	prev := debug.SetGCPercent(100)
	debug.SetGCPercent(prev)
	pct := int(min(int64(procs)*goMinHeap, maxBenchHeadroom) * 100 / max(live, 1))
	if prev < 0 || pct <= prev {
		return prev, func() {}
	}
	debug.SetGCPercent(pct)
	return pct, func() { debug.SetGCPercent(prev) }
}

// heapLive collects garbage and returns the bytes of live heap objects
// (what the heap holds, without the free space in its spans, which depends
// on how often the collector ran before).
func heapLive() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// processCPU returns the process's CPU time so far (user and system);
// zero where the system cannot tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runBench runs every run into rep. A latency of 0 runs on a cluster of
// its own whose nodes reach the target directly over loopback: a proxy
// without a toxic emulates nothing and only adds two copies and four
// system calls to every message. The other latencies share a cluster
// whose nodes each have their own toxiproxy links.
func runBench(ctx context.Context, cfg BenchConfig, rep *BenchReport) error {
	rep.Agents = slices.Max(cfg.Nodes) + 1
	var direct, linked []time.Duration
	for _, lat := range cfg.Latencies {
		if lat == 0 {
			direct = append(direct, lat)
		} else {
			linked = append(linked, lat)
		}
	}
	for _, part := range []struct {
		name string
		lats []time.Duration
	}{{"direct", direct}, {"linked", linked}} {
		if len(part.lats) == 0 {
			continue
		}
		dir := ""
		if cfg.Dir != "" {
			dir = filepath.Join(cfg.Dir, part.name)
		}
		if err := runBenchCluster(ctx, cfg, rep, dir, part.name == "linked", part.lats); err != nil {
			return err
		}
	}
	return nil
}

// runBenchCluster starts a cluster in dir, with toxiproxy links when
// linked, and runs the runs of lats on it. The first cluster measures the
// memory per agent.
func runBenchCluster(ctx context.Context, cfg BenchConfig, rep *BenchReport, dir string, linked bool, lats []time.Duration) (err error) {
	var links *nodeLinks
	if linked {
		if links, err = newNodeLinks(cfg.Logger); err != nil {
			return err
		}
		defer links.close()
	}
	measure := rep.Memory.Idle == 0 && rep.Memory.Connected == 0
	var baseline int64
	link := func(i int, portal, storageURL string) (string, string, error) {
		if i == 0 && measure {
			baseline = heapLive() // etcd and the target are up, no agent yet
		}
		if links == nil {
			return portal, storageURL, nil
		}
		return links.add(i, portal, storageURL)
	}
	l, err := StartLocal(ctx, LocalConfig{Dir: dir, Nodes: rep.Agents, Logger: cfg.Logger, NodeLink: link})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	live := heapLive() // etcd, the target and the agents, idle
	if baseline > 0 {
		rep.Memory.Idle = max(live-baseline, 0) / int64(rep.Agents)
	}
	// etcd, the target and every agent would each be a process of its own.
	pct, restoreGC := separateHeapsGC(rep.Agents+2, live)
	defer restoreGC()
	rep.GCPercent = max(rep.GCPercent, pct)
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", cerr)
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	active := l.Nodes[0]
	runner, err := NewRunner(RunnerConfig{Node: active.Info.Name, Self: active.Agent, Store: l.Store,
		Storage: active.Storage, Agents: AgentResolver(l.Store, l.Token, hc), Logger: cfg.Logger})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if rerr := runner.Close(); rerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", rerr)
		}
	}()
	active.Agent.SetOperations(runner)

	b := &benchDriver{cfg: cfg, l: l, runner: runner, rep: rep, baseline: baseline, maxNodes: rep.Agents - 1, measured: !measure}
	for _, lat := range lats {
		if links != nil {
			if err := links.setLatency(lat); err != nil {
				return err
			}
		}
		// One unrecorded create and delete on the most nodes first: the
		// first operation at a latency opens the connections every node
		// keeps (storage API, agent, etcd) and would be slower than the
		// runs it stands among for that alone.
		warm, err := b.run(ctx, lat, slices.Max(cfg.Nodes), ModeParallel, 0)
		rep.Warmups = append(rep.Warmups, warm)
		if err != nil {
			return fmt.Errorf("bench: warm-up: %w", err)
		}
		for _, n := range cfg.Nodes {
			for r := 1; r <= cfg.Repeat; r++ {
				modes := []Mode{ModeSerial, ModeParallel}
				if r%2 == 0 {
					modes = []Mode{ModeParallel, ModeSerial}
				}
				for _, mode := range modes {
					run, err := b.run(ctx, lat, n, mode, r)
					rep.Runs = append(rep.Runs, run)
					if cfg.Progress != nil {
						cfg.Progress(run)
					}
					if err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// benchDriver runs the benchmark's runs on one cluster.
type benchDriver struct {
	cfg      BenchConfig
	l        *Local
	runner   *Runner
	rep      *BenchReport
	baseline int64
	maxNodes int
	measured bool
}

// run runs one create and one delete; r is the repeat, 0 for a warm-up.
func (b *benchDriver) run(ctx context.Context, lat time.Duration, n int, mode Mode, r int) (BenchRun, error) {
	run := BenchRun{Latency: lat, Nodes: n, Mode: mode, Repeat: r}
	passive := make([]string, n)
	for i := range n {
		passive[i] = b.l.Nodes[i+1].Info.Name
	}
	group := fmt.Sprintf("%s%dms-n%d", BenchGroupPrefix, lat.Milliseconds(), n)
	resource := fmt.Sprintf("b%dms-n%d-%s-%d", lat.Milliseconds(), n, mode, r)
	cpu0 := processCPU()
	res, err := b.runner.Run(ctx, OperationRequest{Kind: OpCreate, Group: group, Resource: resource, Size: b.cfg.Size,
		Portal: b.l.Portal, Passive: passive, Mode: mode, NodeTimeout: b.cfg.NodeTimeout, NoFormat: b.cfg.NoFormat}, nil)
	run.CPU = processCPU() - cpu0
	run.Create = res
	run.T, run.Total = res.Active, res.Total
	for _, nr := range res.Nodes {
		if nr.Role != RolePassive {
			continue
		}
		run.MaxT1 = max(run.MaxT1, nr.Total)
		run.SumT1 += nr.Total
	}
	run.Ideal = run.T + run.MaxT1
	if err != nil {
		run.Error = "create: " + err.Error()
		if res.Disk == nil {
			return run, fmt.Errorf("bench: %d nodes, %s, %v: create: %w", n, mode, lat, err)
		}
	}
	if mode == ModeParallel && n == b.maxNodes && r > 0 && !b.measured && b.baseline > 0 && err == nil {
		b.measured = true
		b.rep.Memory.ConnectedAgents = n + 1
		b.rep.Memory.Connected = max(heapLive()-b.baseline, 0) / int64(n+1)
	}
	start := time.Now()
	dres, derr := b.runner.Run(ctx, OperationRequest{Kind: OpDelete, Group: group, Resource: resource,
		Passive: passive, Mode: mode, NodeTimeout: b.cfg.NodeTimeout}, nil)
	run.Delete = dres.Total
	if run.Delete == 0 {
		run.Delete = time.Since(start)
	}
	if derr != nil {
		run.Error = strings.TrimPrefix(run.Error+"; delete: "+derr.Error(), "; ")
	}
	if err = errors.Join(err, derr); err != nil {
		return run, fmt.Errorf("bench: %d nodes, %s, %v: %w", n, mode, lat, err)
	}
	return run, nil
}

// SummariseBench sums up runs per latency and node count (in the order
// they first appear): medians over the successful runs of each mode.
func SummariseBench(runs []BenchRun) []BenchSummary {
	type key struct {
		lat time.Duration
		n   int
	}
	var order []key
	byKey := make(map[key][]BenchRun)
	for _, r := range runs {
		k := key{r.Latency, r.Nodes}
		if _, ok := byKey[k]; !ok {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	out := make([]BenchSummary, 0, len(order))
	for _, k := range order {
		var ser, par, ideal, t, maxT1, dser, dpar, cpu []time.Duration
		for _, r := range byKey[k] {
			if r.Error != "" {
				continue
			}
			switch r.Mode {
			case ModeSerial:
				ser = append(ser, r.Total)
				dser = append(dser, r.Delete)
			case ModeParallel:
				par = append(par, r.Total)
				dpar = append(dpar, r.Delete)
				ideal = append(ideal, r.Ideal)
				t = append(t, r.T)
				maxT1 = append(maxT1, r.MaxT1)
				cpu = append(cpu, r.CPU)
			}
		}
		s := BenchSummary{Latency: k.lat, Nodes: k.n, Runs: min(len(ser), len(par)),
			T: median(t), MaxT1: median(maxT1), Serial: median(ser), Parallel: median(par), Ideal: median(ideal),
			CPU: median(cpu), DeleteSerial: median(dser), DeleteParallel: median(dpar)}
		if s.Ideal > 0 {
			s.ParallelOverIdeal = float64(s.Parallel) / float64(s.Ideal)
		}
		if s.Parallel > 0 {
			s.SerialOverParallel = float64(s.Serial) / float64(s.Parallel)
		}
		out = append(out, s)
	}
	return out
}

// median returns the median of ds (the mean of the middle two for an
// even count), zero for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
