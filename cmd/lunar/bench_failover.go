package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
)

// failoverRun is one measured failover of "lunar bench failover".
type failoverRun struct {
	// Winner is the node that took the group over.
	Winner string `json:"winner"`
	// TTL is the ownership lease.
	TTL time.Duration `json:"ttl_ns"`
	// Detection is from the kill to the winner seeing the lease gone.
	Detection time.Duration `json:"detection_ns"`
	// Campaign is the winner's election.
	Campaign time.Duration `json:"campaign_ns"`
	// Fence is the connect, register, PREEMPT AND ABORT and check of
	// the disks.
	Fence time.Duration `json:"fence_ns"`
	// Total is from the kill to the new owner online: owner in etcd,
	// reservation held and the disk written through it.
	Total time.Duration `json:"total_ns"`
}

// newBenchFailoverCommand builds "lunar bench failover": an in-process
// cluster, a group with one disk, the owner's agent killed (its leases
// expire, as in a crash), timed until a passive node is the new owner,
// holds the reservation and writes the disk; repeated.
func newBenchFailoverCommand() *cobra.Command {
	var (
		nodes, repeat int
		ttl           time.Duration
		output        string
	)
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure failover time: kill a group's owner, time until a passive node fenced it and writes the disk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 2 {
				return fmt.Errorf("--nodes %d: want at least 2 (an owner and a passive node)", nodes)
			}
			if repeat < 1 {
				return fmt.Errorf("--repeat %d: want at least 1", repeat)
			}
			if ttl < time.Second || ttl%time.Second != 0 {
				return fmt.Errorf("--ttl %s: want whole seconds, at least 1s (etcd leases are in seconds)", ttl)
			}
			if err := checkOutputFormat(output); err != nil {
				return err
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			var runs []failoverRun
			for i := range repeat {
				r, err := benchFailoverOnce(ctx, nodes, ttl)
				if err != nil {
					return fmt.Errorf("failover run %d: %w", i+1, err)
				}
				runs = append(runs, r)
				if output != "json" {
					fmt.Fprintf(cmd.ErrOrStderr(), "run %d/%d: %s took over in %s\n", i+1, repeat, r.Winner, fmtDuration(r.Total))
				}
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(runs)
			}
			return printFailoverTable(cmd.OutOrStdout(), runs, ttl)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&nodes, "nodes", 3, "nodes in the in-process cluster (the owner and its possible owners)")
	fl.IntVar(&repeat, "repeat", 5, "failovers to measure")
	fl.DurationVar(&ttl, "ttl", 2*time.Second, "ownership lease TTL (whole seconds): the failure detection time")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// benchFailoverOnce measures one failover on a fresh in-process cluster.
func benchFailoverOnce(ctx context.Context, nodes int, ttl time.Duration) (_ failoverRun, err error) {
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := cluster.StartLocal(sctx, cluster.LocalConfig{Nodes: nodes})
	if err != nil {
		return failoverRun{}, err
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resolve := cluster.AgentResolver(l.Store, l.Token, &http.Client{Transport: tr})
	takeovers := make(chan cluster.OperationResult, 2*nodes)
	var runners []*cluster.Runner
	defer func() {
		for _, r := range runners {
			_ = r.Close()
		}
	}()
	for i, n := range l.Nodes {
		r, err := cluster.NewRunner(cluster.RunnerConfig{Node: n.Info.Name, Self: n.Agent, Store: l.Store, Storage: l.Storage,
			Agents: resolve, OwnershipTTL: ttl})
		if err != nil {
			return failoverRun{}, err
		}
		runners = append(runners, r)
		if _, err := l.StartFailover(i, r, cluster.FailoverConfig{OnTakeover: func(res cluster.OperationResult) {
			select {
			case takeovers <- res:
			default:
			}
		}}); err != nil {
			return failoverRun{}, err
		}
	}
	res, err := runners[0].Run(sctx, cluster.OperationRequest{Kind: cluster.OpCreate, Group: "bench", Resource: "fo1",
		Size: 1 << 20, Portal: l.Portal, NoFormat: true}, nil)
	if err != nil {
		return failoverRun{}, fmt.Errorf("create the group: %w", err)
	}
	wwn := res.Disk.WWN

	killed := time.Now()
	if err := l.StopNode(0); err != nil {
		return failoverRun{}, err
	}
	var rec cluster.OperationResult
	wait := time.NewTimer(ttl + 30*time.Second)
	defer wait.Stop()
	for rec.ID == "" {
		select {
		case r := <-takeovers:
			if r.Error == "" {
				rec = r
			}
		case <-wait.C:
			return failoverRun{}, fmt.Errorf("%w: no takeover within %s of the kill", cluster.ErrTimeout, ttl+30*time.Second)
		case <-ctx.Done():
			return failoverRun{}, ctx.Err()
		}
	}
	winner := rec.Nodes[0].Node
	i := slices.IndexFunc(l.Nodes, func(n *cluster.LocalNode) bool { return n.Info.Name == winner })
	if i < 0 {
		return failoverRun{}, fmt.Errorf("takeover by unknown node %q", winner)
	}
	// Online: owner in etcd, reservation held, disk writable.
	if owner, err := l.Store.Owner(sctx, "bench"); err != nil || owner != winner {
		return failoverRun{}, fmt.Errorf("owner in etcd %q (%v), the takeover was by %s", owner, err, winner)
	}
	f, err := cluster.NewFence(l.Nodes[i].Engine(), winner)
	if err != nil {
		return failoverRun{}, err
	}
	if ok, err := f.Holds(sctx, wwn); err != nil || !ok {
		return failoverRun{}, fmt.Errorf("%s does not hold the reservation (%v)", winner, err)
	}
	dev, err := l.Nodes[i].Engine().Open(sctx, wwn)
	if err != nil {
		return failoverRun{}, err
	}
	block := make([]byte, dev.BlockSize())
	copy(block, "lunar failover bench")
	if _, err := dev.WriteAt(block, 0); err != nil {
		return failoverRun{}, fmt.Errorf("write through the new owner: %w", err)
	}
	run := failoverRun{Winner: winner, TTL: ttl, Total: time.Since(killed), Detection: rec.Started.Sub(killed)}
	for _, st := range rec.Nodes[0].Steps {
		switch st.Step {
		case cluster.StepCampaign:
			run.Campaign += st.Duration
		case cluster.StepPRRegister, cluster.StepFence, cluster.StepCheck, cluster.StepMap, cluster.StepLogin, cluster.StepArrival:
			run.Fence += st.Duration
		}
	}
	return run, nil
}

// printFailoverTable writes the runs and their median and maximum.
func printFailoverTable(w io.Writer, runs []failoverRun, ttl time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\twinner\tTTL\tdetection\tcampaign\tfence\ttotal\t")
	for i, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", i+1, r.Winner, fmtDuration(r.TTL), fmtDuration(r.Detection),
			fmtDuration(r.Campaign), fmtDuration(r.Fence), fmtDuration(r.Total))
	}
	col := func(get func(failoverRun) time.Duration) (med, mx time.Duration) {
		v := make([]time.Duration, len(runs))
		for i, r := range runs {
			v[i] = get(r)
		}
		slices.Sort(v)
		med = v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		return med, v[len(v)-1]
	}
	getters := []func(failoverRun) time.Duration{
		func(r failoverRun) time.Duration { return r.Detection },
		func(r failoverRun) time.Duration { return r.Campaign },
		func(r failoverRun) time.Duration { return r.Fence },
		func(r failoverRun) time.Duration { return r.Total },
	}
	var meds, maxs []time.Duration
	for _, g := range getters {
		m, x := col(g)
		meds, maxs = append(meds, m), append(maxs, x)
	}
	fmt.Fprintf(tw, "median\t\t%s\t%s\t%s\t%s\t%s\t\n", fmtDuration(ttl), fmtDuration(meds[0]), fmtDuration(meds[1]), fmtDuration(meds[2]), fmtDuration(meds[3]))
	fmt.Fprintf(tw, "max\t\t%s\t%s\t%s\t%s\t%s\t\n", fmtDuration(ttl), fmtDuration(maxs[0]), fmtDuration(maxs[1]), fmtDuration(maxs[2]), fmtDuration(maxs[3]))
	if err := tw.Flush(); err != nil {
		return err
	}
	goal := ttl + time.Second
	verdict := "met"
	if maxs[3] > goal {
		verdict = "missed"
	}
	_, err := fmt.Fprintf(w, "goal: new owner online within TTL + 1s = %s: %s (max %s)\n", fmtDuration(goal), verdict, fmtDuration(maxs[3]))
	if err != nil {
		return err
	}
	return nil
}
