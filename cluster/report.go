package cluster

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteBenchJSON writes rep as indented JSON.
func WriteBenchJSON(w io.Writer, rep *BenchReport) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("cluster: bench report: %w", err)
	}
	return nil
}

// ReadBenchJSON reads a report WriteBenchJSON wrote.
func ReadBenchJSON(r io.Reader) (*BenchReport, error) {
	var rep BenchReport
	if err := json.NewDecoder(r).Decode(&rep); err != nil {
		return nil, fmt.Errorf("%w: bench report: %w", ErrInvalid, err)
	}
	return &rep, nil
}

// The benchmark's goals (issue "lunar bench connect").
const (
	// GoalLatency and GoalNodes are where the parallel/ideal and
	// serial/parallel goals are checked.
	GoalLatency = 20 * time.Millisecond
	GoalNodes   = 64
	// GoalParallelOverIdeal is the most parallel/ideal may be there.
	GoalParallelOverIdeal = 1.3
	// GoalSerialOverParallel is the least serial/parallel may be there.
	GoalSerialOverParallel = 30.0
	// GoalScaleOverSingle is the most GoalNodes nodes in parallel at
	// zero latency may take over one node.
	GoalScaleOverSingle = 3.0
)

// BenchGoal is one goal checked against a report.
type BenchGoal struct {
	// Name says what is checked.
	Name string `json:"name"`
	// Want is the goal.
	Want string `json:"want"`
	// Got is what was measured, or why nothing was.
	Got string `json:"got"`
	// Measured reports whether the report has the figures.
	Measured bool `json:"measured"`
	// Met reports whether the goal is met.
	Met bool `json:"met"`
}

// summary returns the summary of lat and nodes.
func (rep *BenchReport) summary(lat time.Duration, nodes int) (BenchSummary, bool) {
	for _, s := range rep.Summaries {
		if s.Latency == lat && s.Nodes == nodes && s.Runs > 0 {
			return s, true
		}
	}
	return BenchSummary{}, false
}

// CheckBenchGoals checks the benchmark's goals against rep: at 20 ms and
// 64 nodes, parallel within 1.3x of the ideal and at least 30x faster than
// serial; at 0 ms, 64 nodes in parallel within 3x of one node.
func CheckBenchGoals(rep *BenchReport) []BenchGoal {
	notRun := fmt.Sprintf("not measured (needs %d nodes at %v)", GoalNodes, GoalLatency)
	g1 := BenchGoal{Name: fmt.Sprintf("parallel / ideal at %v, %d nodes", GoalLatency, GoalNodes),
		Want: fmt.Sprintf("<= %.1f", GoalParallelOverIdeal), Got: notRun}
	g2 := BenchGoal{Name: fmt.Sprintf("serial / parallel at %v, %d nodes", GoalLatency, GoalNodes),
		Want: fmt.Sprintf(">= %.0f", GoalSerialOverParallel), Got: notRun}
	if s, ok := rep.summary(GoalLatency, GoalNodes); ok && s.Ideal > 0 && s.Parallel > 0 {
		r1 := float64(s.Parallel) / float64(s.Ideal)
		g1.Measured, g1.Met = true, r1 <= GoalParallelOverIdeal
		g1.Got = fmt.Sprintf("%.2f (parallel %v, ideal %v)", r1, ms(s.Parallel), ms(s.Ideal))
		r2 := float64(s.Serial) / float64(s.Parallel)
		g2.Measured, g2.Met = true, r2 >= GoalSerialOverParallel
		g2.Got = fmt.Sprintf("%.1f (serial %v, parallel %v; T %v, max T1 %v)", r2, ms(s.Serial), ms(s.Parallel), ms(s.T), ms(s.MaxT1))
	}
	g3 := BenchGoal{Name: fmt.Sprintf("parallel %d nodes / 1 node at 0 ms", GoalNodes),
		Want: fmt.Sprintf("<= %.0f", GoalScaleOverSingle), Got: fmt.Sprintf("not measured (needs 1 and %d nodes at 0 ms)", GoalNodes)}
	one, ok1 := rep.summary(0, 1)
	many, ok2 := rep.summary(0, GoalNodes)
	if ok1 && ok2 && one.Parallel > 0 {
		r := float64(many.Parallel) / float64(one.Parallel)
		g3.Measured, g3.Met = true, r <= GoalScaleOverSingle
		g3.Got = fmt.Sprintf("%.2f (%v vs %v; fan-out %v vs %v)", r, ms(many.Parallel), ms(one.Parallel), ms(many.MaxT1), ms(one.MaxT1))
	}
	return []BenchGoal{g1, g2, g3}
}

// ms rounds d for display: to 0.1 ms below a second, 1 ms above.
func ms(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// WriteBenchTable writes the report's summaries as text tables, one per
// latency, then the memory per agent and the goals.
func WriteBenchTable(w io.Writer, rep *BenchReport) error {
	ew := &errWriter{w: w}
	for i, lat := range benchLatencies(rep) {
		if i > 0 {
			fmt.Fprintln(ew)
		}
		fmt.Fprintf(ew, "latency %v (round trip), LUN %d MiB, medians of %d:\n", lat, rep.Size>>20, rep.Repeat)
		tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "nodes\tT\tmax T1\tserial\tparallel\tideal\tparallel/ideal\tserial/parallel\tdelete serial\tdelete parallel\tparallel CPU\t")
		for _, s := range rep.Summaries {
			if s.Latency != lat {
				continue
			}
			fmt.Fprintf(tw, "%d\t%v\t%v\t%v\t%v\t%v\t%.2f\t%.1f\t%v\t%v\t%v\t\n", s.Nodes, ms(s.T), ms(s.MaxT1), ms(s.Serial), ms(s.Parallel),
				ms(s.Ideal), s.ParallelOverIdeal, s.SerialOverParallel, ms(s.DeleteSerial), ms(s.DeleteParallel), ms(s.CPU))
		}
		_ = tw.Flush()
	}
	fmt.Fprintf(ew, "\nmemory per agent (Go heap): %s idle, %s connected (%d agents)\n",
		kib(rep.Memory.Idle), kib(rep.Memory.Connected), rep.Memory.ConnectedAgents)
	if rep.GCPercent > 0 {
		fmt.Fprintf(ew, "garbage collector: GOGC %d (each of the %d agents, the target and etcd given the heap headroom of a process of its own)\n", rep.GCPercent, rep.Agents)
	}
	fmt.Fprintln(ew, "goals:")
	for _, g := range CheckBenchGoals(rep) {
		fmt.Fprintf(ew, "  %-4s %s: want %s, got %s\n", goalMark(g), g.Name, g.Want, g.Got)
	}
	if rep.Error != "" {
		fmt.Fprintf(ew, "stopped by an error: %s\n", rep.Error)
	}
	return ew.err
}

func goalMark(g BenchGoal) string {
	switch {
	case !g.Measured:
		return "--"
	case g.Met:
		return "ok"
	default:
		return "FAIL"
	}
}

func kib(n int64) string { return fmt.Sprintf("%.0f KiB", float64(n)/1024) }

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// benchLatencies returns the latencies the summaries cover, in order.
func benchLatencies(rep *BenchReport) []time.Duration {
	var out []time.Duration
	for _, s := range rep.Summaries {
		if !slices.Contains(out, s.Latency) {
			out = append(out, s.Latency)
		}
	}
	return out
}

// stepColors gives every step its colour in the timelines.
var stepColors = map[Step]string{
	StepCreateLUN: "#6a3d9a", StepMap: "#1f78b4", StepLogin: "#33a02c", StepArrival: "#ff7f00",
	StepFormat: "#e31a1c", StepVerify: "#b15928", StepRegister: "#888888", StepFlush: "#a6cee3",
	StepRelease: "#b2df8a", StepUnmap: "#fb9a99", StepLogout: "#fdbf6f", StepDeleteLUN: "#cab2d6",
	StepRollback: "#000000", StepUnregister: "#cccccc",
}

// stepLegend is the order of the legend.
var stepLegend = []Step{StepCreateLUN, StepMap, StepLogin, StepArrival, StepFormat, StepVerify, StepRegister,
	StepFlush, StepRelease, StepUnmap, StepLogout, StepDeleteLUN, StepRollback, StepUnregister}

// Series colours of the total-time charts.
const (
	colorSerial   = "#d62728"
	colorParallel = "#1f77b4"
	colorIdeal    = "#2ca02c"
)

// WriteBenchHTML writes rep as one self-contained HTML page: the machine
// and set-up, the goals, a table and a chart of the total time against
// the node count (serial, parallel, ideal) per latency, and a timeline of
// one create per mode (the largest node count at the largest latency), one
// row per node with its steps coloured.
func WriteBenchHTML(w io.Writer, rep *BenchReport) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"/><title>lunar bench connect</title>
<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1360px}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;font-size:13px}
th{background:#f0f0f0}
.ok{color:#2ca02c;font-weight:bold}.fail{color:#d62728;font-weight:bold}.na{color:#888}
.chart{margin:8px 0 24px;display:block}
.meta{font-size:13px;color:#444}
svg text{font-family:sans-serif}
</style></head><body>
<h1>lunar bench connect</h1>
`)
	m := rep.Machine
	fmt.Fprintf(&b, `<p class="meta">%s, %d CPUs (GOMAXPROCS %d), %s/%s, kernel %s, %s. Started %s, took %v.</p>
`, esc(time.Now().UTC().Format("2006-01-02")), m.CPUs, m.GOMAXPROCS, esc(m.OS), esc(m.Arch), esc(m.Kernel), esc(m.GoVersion),
		esc(rep.Started.Format(time.RFC3339)), rep.Duration.Round(time.Second))
	lats := make([]string, len(rep.Latencies))
	for i, l := range rep.Latencies {
		lats[i] = l.String()
	}
	format := "formatted"
	if rep.NoFormat {
		format = "not formatted"
	}
	fmt.Fprintf(&b, `<p class="meta">Create then delete of a %d MiB LUN (%s) on 1 active and N passive in-process node agents, each behind its own toxiproxy link (portal and storage API) with the round-trip latencies %s (0s: plain loopback, no proxy); %d repeats per mode, modes interleaved, after one unrecorded warm-up per latency; medians. %d agents; Go heap per agent: %s idle, %s connected.</p>
`, rep.Size>>20, format, esc(strings.Join(lats, ", ")), rep.Repeat, rep.Agents, kib(rep.Memory.Idle), kib(rep.Memory.Connected))
	if rep.Error != "" {
		fmt.Fprintf(&b, "<p class=\"fail\">Stopped by an error: %s</p>\n", esc(rep.Error))
	}

	b.WriteString("<h2>Goals</h2>\n<table><tr><th>goal</th><th>want</th><th>got</th><th></th></tr>\n")
	for _, g := range CheckBenchGoals(rep) {
		class := map[string]string{"ok": "ok", "FAIL": "fail", "--": "na"}[goalMark(g)]
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td class=\"%s\">%s</td></tr>\n", esc(g.Name), esc(g.Want), esc(g.Got), class, esc(goalMark(g)))
	}
	b.WriteString("</table>\n")

	for _, lat := range benchLatencies(rep) {
		var sums []BenchSummary
		for _, s := range rep.Summaries {
			if s.Latency == lat {
				sums = append(sums, s)
			}
		}
		fmt.Fprintf(&b, "<h2>Round trip %s</h2>\n", esc(lat.String()))
		b.WriteString("<table><tr><th>nodes</th><th>T</th><th>max T1</th><th>serial</th><th>parallel</th><th>ideal</th><th>parallel/ideal</th><th>serial/parallel</th><th>delete serial</th><th>delete parallel</th><th>parallel CPU</th></tr>\n")
		for _, s := range sums {
			fmt.Fprintf(&b, "<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%.2f</td><td>%.1f</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				s.Nodes, esc(ms(s.T).String()), esc(ms(s.MaxT1).String()), esc(ms(s.Serial).String()), esc(ms(s.Parallel).String()),
				esc(ms(s.Ideal).String()), s.ParallelOverIdeal, s.SerialOverParallel, esc(ms(s.DeleteSerial).String()), esc(ms(s.DeleteParallel).String()), esc(ms(s.CPU).String()))
		}
		b.WriteString("</table>\n")
		writeTotalChart(&b, lat, sums)
	}

	if runs := ganttRuns(rep); len(runs) > 0 {
		r0 := runs[0]
		fmt.Fprintf(&b, "<h2>Timeline of one create: %d passive nodes, round trip %s</h2>\n", r0.Nodes, esc(r0.Latency.String()))
		writeLegend(&b)
		for _, r := range runs {
			writeGantt(&b, r)
		}
	}
	b.WriteString("</body></html>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("cluster: bench report: %w", err)
	}
	return nil
}

// ganttRuns picks one successful create per mode at the largest latency
// and node count, serial first.
func ganttRuns(rep *BenchReport) []BenchRun {
	var lat time.Duration
	n := 0
	for _, r := range rep.Runs {
		if r.Error == "" && (r.Latency > lat || r.Latency == lat && r.Nodes > n) {
			lat, n = r.Latency, r.Nodes
		}
	}
	var out []BenchRun
	for _, mode := range []Mode{ModeSerial, ModeParallel} {
		for _, r := range rep.Runs {
			if r.Error == "" && r.Latency == lat && r.Nodes == n && r.Mode == mode && len(r.Create.Nodes) > 0 {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// niceTicks returns log-scale ticks (1, 2, 5 times powers of ten) that
// cover lo..hi milliseconds.
func niceTicks(lo, hi float64) []float64 {
	var out []float64
	for p := math.Floor(math.Log10(lo)); p <= math.Ceil(math.Log10(hi)); p++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, p)
			out = append(out, v)
		}
	}
	// Keep one tick below lo and one above hi.
	first, last := 0, len(out)-1
	for first+1 < len(out) && out[first+1] <= lo {
		first++
	}
	for last-1 >= 0 && out[last-1] >= hi {
		last--
	}
	return out[first : last+1]
}

func fmtMS(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%gs", v/1000)
	case v >= 1:
		return fmt.Sprintf("%gms", v)
	default:
		return fmt.Sprintf("%gµs", v*1000)
	}
}

// writeTotalChart draws the total time against the node count, the y
// axis logarithmic: one line each for serial, parallel and ideal.
func writeTotalChart(b *strings.Builder, lat time.Duration, sums []BenchSummary) {
	const (
		width, height    = 720, 360
		left, right      = 70, 150
		top, bottom      = 20, 50
		plotW, plotH     = width - left - right, height - top - bottom
		seriesSerial     = "serial"
		seriesParallel   = "parallel"
		seriesIdealLabel = "ideal T + max(T1)"
	)
	fmt.Fprintf(b, `<svg class="chart total" data-latency="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">
<title>Total create time against passive node count, round trip %s</title>
<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>
`, html.EscapeString(lat.String()), width, height, width, height, html.EscapeString(lat.String()), width, height)
	lo, hi := math.Inf(1), 0.0
	for _, s := range sums {
		for _, d := range []time.Duration{s.Serial, s.Parallel, s.Ideal} {
			if d > 0 {
				v := float64(d) / float64(time.Millisecond)
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		b.WriteString(`<text x="20" y="40">no successful run</text></svg>` + "\n")
		return
	}
	ticks := niceTicks(lo, hi)
	ylo, yhi := math.Log10(ticks[0]), math.Log10(ticks[len(ticks)-1])
	if yhi-ylo < 1e-9 {
		yhi = ylo + 1
	}
	y := func(v float64) float64 { return top + plotH - (math.Log10(v)-ylo)/(yhi-ylo)*plotH }
	x := func(i int) float64 {
		if len(sums) == 1 {
			return left + plotW/2
		}
		return left + float64(i)*plotW/float64(len(sums)-1)
	}
	// Axes and grid.
	for _, t := range ticks {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e4e4e4"/><text x="%d" y="%.1f" font-size="11" text-anchor="end">%s</text>
`, left, y(t), left+plotW, y(t), left-6, y(t)+4, fmtMS(t))
	}
	for i, s := range sums {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/><text x="%.1f" y="%d" font-size="11" text-anchor="middle">%d</text>
`, x(i), top, x(i), top+plotH, x(i), top+plotH+16, s.Nodes)
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>
<text x="%d" y="%d" font-size="12" text-anchor="middle">passive nodes</text>
<text x="14" y="%d" font-size="12" text-anchor="middle" transform="rotate(-90 14 %d)">create time (log scale)</text>
`, left, top, plotW, plotH, left+plotW/2, height-12, top+plotH/2, top+plotH/2)
	series := []struct {
		name, color, dash string
		get               func(BenchSummary) time.Duration
	}{
		{seriesSerial, colorSerial, "", func(s BenchSummary) time.Duration { return s.Serial }},
		{seriesParallel, colorParallel, "", func(s BenchSummary) time.Duration { return s.Parallel }},
		{seriesIdealLabel, colorIdeal, ` stroke-dasharray="6 4"`, func(s BenchSummary) time.Duration { return s.Ideal }},
	}
	for si, se := range series {
		var pts []string
		var dots strings.Builder
		for i, s := range sums {
			d := se.get(s)
			if d <= 0 {
				continue
			}
			v := float64(d) / float64(time.Millisecond)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
			fmt.Fprintf(&dots, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s, %d nodes: %s</title></circle>
`, x(i), y(v), se.color, html.EscapeString(se.name), s.Nodes, html.EscapeString(ms(d).String()))
		}
		fmt.Fprintf(b, `<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2"%s points="%s"/>
%s`, html.EscapeString(se.name), se.color, se.dash, strings.Join(pts, " "), dots.String())
		ly := top + 10 + si*20
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d" font-size="12">%s</text>
`, left+plotW+12, ly, left+plotW+36, ly, se.color, se.dash, left+plotW+42, ly+4, html.EscapeString(se.name))
	}
	b.WriteString("</svg>\n")
}

// writeLegend draws the steps' colours.
func writeLegend(b *strings.Builder) {
	const width = 1300
	fmt.Fprintf(b, `<svg class="legend" xmlns="http://www.w3.org/2000/svg" width="%d" height="28" viewBox="0 0 %d 28">
`, width, width)
	x := 4
	for _, st := range stepLegend {
		fmt.Fprintf(b, `<rect x="%d" y="6" width="14" height="14" fill="%s"/><text x="%d" y="18" font-size="12">%s</text>
`, x, stepColors[st], x+18, html.EscapeString(string(st)))
		x += 24 + 8*len(st) + 10
	}
	b.WriteString("</svg>\n")
}

// writeGantt draws one create's timeline: a row per node (the active node
// first), a bar per step.
func writeGantt(b *strings.Builder, r BenchRun) {
	const (
		width       = 1300
		label       = 80
		top, bottom = 24, 36
		plotW       = width - label - 20
	)
	res := r.Create
	rows := len(res.Nodes)
	rowH := math.Max(3, math.Min(16, 900/float64(rows)))
	plotH := rowH * float64(rows)
	height := top + int(math.Ceil(plotH)) + bottom
	span := res.Total
	for _, nr := range res.Nodes {
		for _, st := range nr.Steps {
			span = max(span, st.Start.Add(st.Duration).Sub(res.Started))
		}
	}
	if span <= 0 {
		span = time.Millisecond
	}
	x := func(d time.Duration) float64 { return label + float64(d)/float64(span)*plotW }
	fmt.Fprintf(b, `<svg class="chart gantt" data-mode="%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">
<title>Timeline of a %s create, %d passive nodes, round trip %s</title>
<rect x="0" y="0" width="%d" height="%d" fill="#fff"/>
<text x="%d" y="16" font-size="13" font-weight="bold">%s: total %s (T %s, max T1 %s)</text>
`, r.Mode, width, height, width, height, r.Mode, r.Nodes, html.EscapeString(r.Latency.String()), width, height,
		label, html.EscapeString(string(r.Mode)), html.EscapeString(ms(res.Total).String()), html.EscapeString(ms(r.T).String()), html.EscapeString(ms(r.MaxT1).String()))
	// Time axis: about ten ticks at a round step.
	step := niceStep(span / 10)
	for t := time.Duration(0); t <= span; t += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/><text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>
`, x(t), top, x(t), top+plotH, x(t), top+plotH+14, html.EscapeString(t.String()))
	}
	every := int(math.Ceil(11 / rowH)) // label every row that has room
	for i, nr := range res.Nodes {
		yy := top + float64(i)*rowH
		fmt.Fprintf(b, `<g class="row" data-node="%s">`, html.EscapeString(nr.Node))
		if i%every == 0 {
			fmt.Fprintf(b, `<text x="%d" y="%.1f" font-size="%.0f" text-anchor="end">%s</text>`, label-6, yy+rowH*0.8, math.Min(12, math.Max(rowH*float64(every)*0.8, 8)), html.EscapeString(nr.Node))
		}
		for _, st := range nr.Steps {
			color, ok := stepColors[st.Step]
			if !ok {
				color = "#999999"
			}
			x0 := x(st.Start.Sub(res.Started))
			wd := math.Max(x(st.Start.Add(st.Duration).Sub(res.Started))-x0, 0.5)
			fmt.Fprintf(b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s %s: %s</title></rect>`,
				x0, yy+rowH*0.1, wd, rowH*0.8, color, html.EscapeString(nr.Node), html.EscapeString(string(st.Step)), html.EscapeString(ms(st.Duration).String()))
		}
		b.WriteString("</g>\n")
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12">time since the operation started</text>
</svg>
`, label, height-6)
}

// niceStep rounds d up to 1, 2 or 5 times a power of ten.
func niceStep(d time.Duration) time.Duration {
	if d <= 0 {
		return time.Millisecond
	}
	p := time.Duration(1)
	for p*10 <= d {
		p *= 10
	}
	for _, m := range []time.Duration{1, 2, 5, 10} {
		if m*p >= d {
			return m * p
		}
	}
	return 10 * p
}
