package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
)

// Names the demo uses.
const (
	demoGroup          = "demo"
	demoResource       = "disk1"
	demoSerialGroup    = "demo-serial"
	demoSerialResource = "disk2"
	demoWarmupGroup    = "demo-warmup"
	demoWarmupResource = "warmup"
)

// demoLogger is the logger the demo's components get: at the default
// level (info) only their warnings and errors, so that the progress lines
// stay readable.
func demoLogger(log zerolog.Logger) zerolog.Logger {
	if log.GetLevel() == zerolog.InfoLevel {
		log = log.Level(zerolog.WarnLevel)
	}
	return log
}

// demoJSON is "lunar demo --output json".
type demoJSON struct {
	// Parallel is the run with every passive node at once.
	Parallel cluster.OperationResult `json:"parallel"`
	// Serial is the run with one passive node at a time.
	Serial cluster.OperationResult `json:"serial"`
	// Ideal is T + max(T1_i) from the serial run's uncontended times.
	Ideal time.Duration `json:"ideal_ns"`
	// SpeedUp is the serial total over the parallel total.
	SpeedUp float64 `json:"speed_up"`
}

func newDemoCommand(logger *zerolog.Logger) *cobra.Command {
	var nodes int
	var size, output string
	var keep, warmup bool
	var latency time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start etcd, a target and node agents on loopback, create a LUN on every node in parallel and then in serial, and compare",
		Long: `demo needs no set-up: it starts an embedded etcd, a lunar target in a temporary
directory and --nodes node agents (one active, the rest passive) on loopback, then
creates a --size LUN on group "demo" with every passive node connected at once, and
the same on group "demo-serial" one node at a time. It prints each run's per-node
table and the totals side by side, then deletes both LUNs and cleans up (unless
--keep, which leaves everything running until Ctrl-C).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			if nodes < 2 {
				return fmt.Errorf("--nodes %d: want at least 2 (one active and one passive)", nodes)
			}
			if latency < 0 || latency%time.Millisecond != 0 {
				return fmt.Errorf("--latency %v: want 0 or more, in whole milliseconds", latency)
			}
			if nodes > 64 {
				return fmt.Errorf("--nodes %d: at most 64 on one machine", nodes)
			}
			n, err := parseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			log := zerolog.Nop()
			if logger != nil {
				log = *logger
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			return runDemo(ctx, cmd, log, demoConfig{nodes: nodes, size: n, keep: keep, warmup: warmup, latency: latency, output: output})
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 8, "node agents to start: one active, the rest passive")
	fl.StringVar(&size, "size", "64MiB", "size of each LUN (K, M, G: powers of 1024)")
	fl.BoolVar(&keep, "keep", false, "keep the LUNs and everything running until Ctrl-C, and print how to reach them")
	fl.DurationVar(&latency, "latency", time.Millisecond, "round trip of each node's emulated link (toxiproxy) to the target and its API, as on a storage network (0: plain loopback)")
	fl.BoolVar(&warmup, "warmup", true, "connect a small LUN on every node first, so that both runs start from logged-in nodes")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

type demoConfig struct {
	warmup  bool
	latency time.Duration
	nodes   int
	size    int64
	keep    bool
	output  string
}

// runDemo runs the demo in a temporary directory that it removes.
func runDemo(ctx context.Context, cmd *cobra.Command, log zerolog.Logger, c demoConfig) (err error) {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	dir, err := os.MkdirTemp("", "lunar-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	link := "plain loopback"
	if c.latency > 0 {
		link = fmt.Sprintf("each node behind an emulated %v round-trip link", c.latency)
	}
	fmt.Fprintf(errOut, "starting etcd, a target and %d node agents on loopback (%s) in %s\n", c.nodes, link, dir)
	local, err := cluster.StartLocal(ctx, cluster.LocalConfig{Dir: dir, Nodes: c.nodes, NodePrefix: "node-", Latency: c.latency, Logger: demoLogger(log)})
	if err != nil {
		return fmt.Errorf("start the demo cluster: %w", err)
	}
	defer func() {
		if cerr := local.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop the demo cluster: %w", cerr)
		}
	}()
	if _, err := local.StartRunners(log); err != nil {
		return err
	}
	active := local.Nodes[0]
	var passive []string
	for _, n := range local.Nodes[1:] {
		passive = append(passive, n.Info.Name)
	}
	if c.warmup {
		// Both measured runs then start alike: every node logged in to the
		// target, its igroup made, as in a cluster already in service.
		// Otherwise the first run alone would pay for the logins.
		fmt.Fprintf(errOut, "warm-up: connecting %s on every node so that both runs start from logged-in nodes\n", demoWarmupResource)
		warm := cluster.OperationRequest{
			Kind: cluster.OpCreate, Group: demoWarmupGroup, Resource: demoWarmupResource, Size: 16 << 20,
			Target: local.TargetName, Portal: local.Portal, Passive: passive,
		}
		res, err := active.Client.RunOperation(ctx, warm, nil)
		if err == nil {
			err = resultError(res)
		}
		if err != nil {
			return demoFailed(out, c.output, res, explainCluster(err, "warm-up"))
		}
	}
	req := cluster.OperationRequest{
		Kind: cluster.OpCreate, Group: demoGroup, Resource: demoResource, Size: c.size,
		Target: local.TargetName, Portal: local.Portal, Passive: passive, Mode: cluster.ModeParallel,
	}
	fmt.Fprintf(errOut, "create %s (%s) on %s, %d passive nodes in parallel\n", demoResource, formatSize(c.size), active.Info.Name, len(passive))
	par, err := runWithProgress(ctx, errOut, active.Client, req)
	if err == nil {
		err = resultError(par)
	}
	if err != nil {
		return demoFailed(out, c.output, par, explainCluster(err, "parallel create"))
	}
	req.Group, req.Resource, req.Mode = demoSerialGroup, demoSerialResource, cluster.ModeSerial
	fmt.Fprintf(errOut, "create %s (%s) on %s, %d passive nodes one at a time\n", demoSerialResource, formatSize(c.size), active.Info.Name, len(passive))
	ser, err := runWithProgress(ctx, errOut, active.Client, req)
	if err == nil {
		err = resultError(ser)
	}
	if err != nil {
		demoFailed(out, c.output, par, nil)
		return demoFailed(out, c.output, ser, explainCluster(err, "serial create"))
	}
	if c.warmup {
		del := cluster.OperationRequest{Kind: cluster.OpDelete, Group: demoWarmupGroup, Resource: demoWarmupResource}
		res, err := active.Client.RunOperation(ctx, del, nil)
		if err == nil {
			err = resultError(res)
		}
		if err != nil {
			return demoFailed(out, c.output, res, explainCluster(err, "delete the warm-up LUN"))
		}
	}
	if err := printDemo(out, c.output, par, ser, c.latency); err != nil {
		return err
	}
	if c.keep {
		printKeep(out, local, dir)
		<-ctx.Done()
		fmt.Fprintln(errOut, "stopping")
		return nil
	}
	for _, d := range []struct{ group, resource string }{{demoSerialGroup, demoSerialResource}, {demoGroup, demoResource}} {
		del := cluster.OperationRequest{Kind: cluster.OpDelete, Group: d.group, Resource: d.resource, Target: local.TargetName, Portal: local.Portal}
		fmt.Fprintf(errOut, "delete %s\n", d.resource)
		res, err := runWithProgress(ctx, errOut, active.Client, del)
		if err == nil {
			err = resultError(res)
		}
		if err != nil {
			return demoFailed(out, c.output, res, explainCluster(err, "delete "+d.resource))
		}
	}
	return nil
}

// demoFailed prints a failed run's result when there is one, and returns
// err.
func demoFailed(w io.Writer, output string, res cluster.OperationResult, err error) error {
	if res.ID != "" || len(res.Nodes) > 0 {
		if output == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			enc.Encode(res)
		} else {
			printOperationTable(w, res)
		}
	}
	return err
}

// idealTotal is T + max(T1_i) computed from a run's active part and its
// passive nodes' totals.
func idealTotal(res cluster.OperationResult) time.Duration {
	var most time.Duration
	for _, n := range res.Nodes {
		if n.Role == cluster.RolePassive {
			most = max(most, n.Total)
		}
	}
	return res.Active + most
}

// printDemo prints both runs and the totals side by side.
func printDemo(w io.Writer, output string, par, ser cluster.OperationResult, latency time.Duration) error {
	ideal := idealTotal(ser)
	speedUp := 0.0
	if par.Total > 0 {
		speedUp = float64(ser.Total) / float64(par.Total)
	}
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(demoJSON{Parallel: par, Serial: ser, Ideal: ideal, SpeedUp: speedUp})
	}
	if err := printOperationTable(w, par); err != nil {
		return err
	}
	if err := printOperationTable(w, ser); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tSERIAL\tPARALLEL\tIDEAL T+max(T1_i)\t")
	fmt.Fprintf(tw, "T (active)\t%s\t%s\t%s\t\n", fmtDuration(ser.Active), fmtDuration(par.Active), fmtDuration(ser.Active))
	fmt.Fprintf(tw, "fan-out\t%s\t%s\t%s\t\n", fmtDuration(ser.FanOut), fmtDuration(par.FanOut), fmtDuration(ideal-ser.Active))
	fmt.Fprintf(tw, "total\t%s\t%s\t%s\t\n", fmtDuration(ser.Total), fmtDuration(par.Total), fmtDuration(ideal))
	if err := tw.Flush(); err != nil {
		return err
	}
	link := "plain loopback"
	if latency > 0 {
		link = fmt.Sprintf("%v round-trip links", latency)
	}
	_, err := fmt.Fprintf(w, "speed-up (serial total / parallel total): %.2fx with %d passive nodes (%s)\n", speedUp, countRole(par, cluster.RolePassive), link)
	return err
}

func countRole(res cluster.OperationResult, role cluster.Role) int {
	n := 0
	for _, r := range res.Nodes {
		if r.Role == role {
			n++
		}
	}
	return n
}

// printKeep tells how to reach what the demo keeps running.
func printKeep(w io.Writer, local *cluster.Local, dir string) {
	tokenFile := filepath.Join(dir, "demo-agent-token")
	if err := os.WriteFile(tokenFile, []byte(local.Token+"\n"), 0o600); err != nil {
		tokenFile = "(could not write: " + err.Error() + ")"
	}
	eps := local.Etcd.Endpoints()
	etcd := ""
	if len(eps) > 0 {
		etcd = eps[0]
	}
	fmt.Fprintf(w, "\nkept running until Ctrl-C:\n")
	fmt.Fprintf(w, "  target      %s at %s (management API %s)\n", local.TargetName, local.Portal, local.StorageURL)
	fmt.Fprintf(w, "  etcd        %s\n", etcd)
	for _, n := range local.Nodes {
		fmt.Fprintf(w, "  %-10s  %s (%s)\n", n.Info.Name, n.Info.AgentURL, n.Info.InitiatorName)
	}
	fmt.Fprintf(w, "try:\n  lunar cluster status --etcd %s\n  lunar cluster delete %s --group %s --etcd %s --token-file %s\n",
		etcd, demoResource, demoGroup, etcd, tokenFile)
}
