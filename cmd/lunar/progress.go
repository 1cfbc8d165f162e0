package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/lunarsan/lunar/cluster"
)

// progressSink shows an operation's progress events while it runs.
type progressSink interface {
	// event shows one event; safe for concurrent use.
	event(ev cluster.ProgressEvent)
	// finish ends the display; no event may follow.
	finish()
}

// newProgress returns live lines (one per node, redrawn in place) when w
// is a terminal, and plain log lines otherwise.
func newProgress(w io.Writer) progressSink {
	if f, ok := w.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return newLiveProgress(w)
	}
	return &lineProgress{w: w, started: map[string]time.Time{}}
}

// lineProgress writes one plain line per event.
type lineProgress struct {
	mu      sync.Mutex
	w       io.Writer
	started map[string]time.Time // node + step → when the step started
}

func (p *lineProgress) event(ev cluster.ProgressEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.Node + "\x00" + string(ev.Step)
	ts := ev.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	if !ev.Done {
		p.started[key] = ts
		fmt.Fprintf(p.w, "%s %-8s %-7s %-10s started\n", ts.Format("15:04:05.000"), ev.Node, ev.Role, ev.Step)
		return
	}
	var took string
	if st, ok := p.started[key]; ok {
		took = " " + fmtDuration(ts.Sub(st))
		delete(p.started, key)
	}
	status := "done"
	if ev.Error != "" {
		status = "failed: " + ev.Error
	}
	line := fmt.Sprintf("%s %-8s %-7s %-10s %s%s", ts.Format("15:04:05.000"), ev.Node, ev.Role, ev.Step, status, took)
	if ev.Status != "" && ev.Status != cluster.NodeRunning {
		line += " (node " + string(ev.Status) + ")"
	}
	fmt.Fprintln(p.w, line)
}

func (p *lineProgress) finish() {}

// liveProgress keeps one mpb line per node: name, role, current step and
// elapsed time. mpb's render goroutine reads the lines through the
// decorators, which take mu: mpb is never called with mu held, or a
// render waiting for mu and a call waiting for the render block each
// other.
type liveProgress struct {
	mu    sync.Mutex
	p     *mpb.Progress
	nodes map[string]*liveNode
}

// liveNode is one node's line.
type liveNode struct {
	bar     *mpb.Bar
	role    cluster.Role
	step    string
	started time.Time
	ended   time.Time
}

func newLiveProgress(w io.Writer) *liveProgress {
	return &liveProgress{
		// WithAutoRefresh: redraw even when w is not a terminal (tests).
		p:     mpb.New(mpb.WithOutput(w), mpb.WithAutoRefresh(), mpb.WithRefreshRate(100*time.Millisecond), mpb.WithWidth(80)),
		nodes: map[string]*liveNode{},
	}
}

// event updates the node's line; the runner reports one event at a time.
func (p *liveProgress) event(ev cluster.ProgressEvent) {
	p.mu.Lock()
	n, ok := p.nodes[ev.Node]
	if !ok {
		n = &liveNode{role: ev.Role, started: time.Now()}
		p.nodes[ev.Node] = n
		prio := len(p.nodes) - 1
		p.mu.Unlock()
		name := ev.Node
		bar := p.p.New(0, mpb.NopStyle(), mpb.BarPriority(prio),
			mpb.PrependDecorators(
				decor.Name(name, decor.WCSyncSpaceR),
				decor.Any(func(decor.Statistics) string { return string(p.role(name)) }, decor.WCSyncSpaceR),
				decor.Any(func(decor.Statistics) string { return p.step(name) }, decor.WCSyncSpaceR),
			),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.elapsed(name) })),
		)
		p.mu.Lock()
		n.bar = bar
	}
	var ended *mpb.Bar // the line to complete, after mu
	if ev.Role != "" {
		n.role = ev.Role
	}
	switch {
	case ev.Status != "" && ev.Status != cluster.NodeRunning:
		n.step = string(ev.Status)
		if ev.Error != "" {
			n.step += ": " + truncate(ev.Error, 60)
		}
		n.ended = time.Now()
		ended = n.bar
	case !ev.Done:
		n.step = string(ev.Step) + "…"
	case ev.Error != "":
		n.step = string(ev.Step) + " failed"
	default:
		n.step = string(ev.Step) + " done"
	}
	p.mu.Unlock()
	if ended != nil {
		ended.SetTotal(-1, true)
	}
}

func (p *liveProgress) role(node string) cluster.Role {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[node].role
}

func (p *liveProgress) step(node string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[node].step
}

func (p *liveProgress) elapsed(node string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[node]
	end := n.ended
	if end.IsZero() {
		end = time.Now()
	}
	return fmtDuration(end.Sub(n.started))
}

func (p *liveProgress) finish() {
	p.mu.Lock()
	bars := make([]*mpb.Bar, 0, len(p.nodes))
	for _, n := range p.nodes {
		if n.ended.IsZero() {
			n.ended = time.Now()
		}
		bars = append(bars, n.bar)
	}
	p.mu.Unlock()
	for _, b := range bars {
		b.SetTotal(-1, true)
	}
	p.p.Wait()
}

// truncate shortens s to at most n runes.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// fmtDuration shows a duration with a precision that suits its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// stepOrder is the order of the step columns in a result table.
var stepOrder = []cluster.Step{
	cluster.StepCreateLUN, cluster.StepMap, cluster.StepLogin, cluster.StepArrival, cluster.StepFormat,
	cluster.StepVerify, cluster.StepRegister, cluster.StepFlush, cluster.StepRelease, cluster.StepUnmap,
	cluster.StepLogout, cluster.StepDeleteLUN, cluster.StepRollback, cluster.StepUnregister,
}

// resultSteps lists the steps any node of res ran, known steps in
// stepOrder and unknown ones after them in the order they appear.
func resultSteps(res cluster.OperationResult) []cluster.Step {
	seen := map[cluster.Step]bool{}
	var extra []cluster.Step
	for _, n := range res.Nodes {
		for _, s := range n.Steps {
			if !seen[s.Step] && !slices.Contains(stepOrder, s.Step) {
				extra = append(extra, s.Step)
			}
			seen[s.Step] = true
		}
	}
	var out []cluster.Step
	for _, s := range stepOrder {
		if seen[s] {
			out = append(out, s)
		}
	}
	return append(out, extra...)
}

// printOperationTable writes res as a table: one row per node (role,
// status, one column per step with its time, total), then T, the fan-out
// and the total, then each failed node's error.
func printOperationTable(w io.Writer, res cluster.OperationResult) error {
	steps := resultSteps(res)
	fmt.Fprintf(w, "%s %s/%s (%s) %s\n", res.Kind, res.Group, res.Resource, modeOrDefault(res.Mode), res.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := []string{"NODE", "ROLE", "STATUS"}
	for _, s := range steps {
		head = append(head, strings.ToUpper(string(s)))
	}
	head = append(head, "TOTAL")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, n := range res.Nodes {
		row := []string{n.Node, string(n.Role), string(n.Status)}
		for _, s := range steps {
			cell := "-"
			for _, t := range n.Steps {
				if t.Step == s {
					cell = fmtDuration(t.Duration)
					if t.Error != "" {
						cell += "!"
					}
					break
				}
			}
			row = append(row, cell)
		}
		row = append(row, fmtDuration(n.Total))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fanout := "max(T1_i)"
	if res.Mode == cluster.ModeSerial {
		fanout = "sum(T1_i)"
	}
	fmt.Fprintf(w, "T (active) %s   fan-out %s %s   total %s\n", fmtDuration(res.Active), fanout, fmtDuration(res.FanOut), fmtDuration(res.Total))
	for _, n := range res.Nodes {
		if n.Status != cluster.NodeOK && n.Error != "" {
			fmt.Fprintf(w, "%s %s: %s\n", n.Node, n.Status, n.Error)
		}
	}
	if res.RolledBack {
		fmt.Fprintln(w, "rolled back: the operation's changes were undone")
	}
	if res.Error != "" {
		fmt.Fprintf(w, "error: %s\n", res.Error)
	}
	_, err := fmt.Fprintln(w)
	return err
}

func modeOrDefault(m cluster.Mode) cluster.Mode {
	if m == "" {
		return cluster.ModeParallel
	}
	return m
}

// resultError returns an error naming the nodes that did not succeed, or
// the operation's error, or nil when every node is ok.
func resultError(res cluster.OperationResult) error {
	var bad []string
	for _, n := range res.Nodes {
		if n.Status != cluster.NodeOK {
			bad = append(bad, n.Node+" "+string(n.Status))
		}
	}
	switch {
	case res.Error != "" && len(bad) > 0:
		return fmt.Errorf("%s %s/%s failed: %s (nodes: %s)", res.Kind, res.Group, res.Resource, res.Error, strings.Join(bad, ", "))
	case res.Error != "":
		return fmt.Errorf("%s %s/%s failed: %s", res.Kind, res.Group, res.Resource, res.Error)
	case len(bad) > 0:
		return fmt.Errorf("%s %s/%s: not every node succeeded: %s", res.Kind, res.Group, res.Resource, strings.Join(bad, ", "))
	}
	return nil
}
