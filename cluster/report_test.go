package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// fakeBenchReport builds a report without running a cluster: node counts
// 1 and 4 at 0 and 20 ms, one run per mode, steps on every node.
func fakeBenchReport() *BenchReport {
	ms := time.Millisecond
	start := time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)
	rep := &BenchReport{Started: start, Duration: time.Minute, Machine: BenchMachine{CPUs: 2, GOMAXPROCS: 2, OS: "linux", Arch: "amd64", GoVersion: "go1.26"},
		Nodes: []int{1, 4}, Latencies: []time.Duration{0, 20 * ms}, Repeat: 1, Size: DefaultBenchSize, Agents: 5,
		Memory: BenchMemory{Idle: 300 << 10, Connected: 500 << 10, ConnectedAgents: 5}}
	for _, lat := range rep.Latencies {
		for _, n := range rep.Nodes {
			for _, mode := range []Mode{ModeSerial, ModeParallel} {
				t1 := 10*ms + lat*10
				res := OperationResult{ID: fmt.Sprintf("op-%v-%d-%s", lat, n, mode), Kind: OpCreate, Group: "g", Resource: "r", Mode: mode, Started: start, Active: 20*ms + lat*20}
				active := NodeResult{Node: "node1", Role: RoleActive, Status: NodeOK, Total: res.Active}
				at := start
				for _, st := range []Step{StepCreateLUN, StepMap, StepLogin, StepArrival, StepFormat} {
					active.Steps = append(active.Steps, StepTiming{Step: st, Start: at, Duration: res.Active / 5})
					at = at.Add(res.Active / 5)
				}
				res.Nodes = append(res.Nodes, active)
				var sum, mx time.Duration
				for i := range n {
					p := NodeResult{Node: fmt.Sprintf("node%d", i+2), Role: RolePassive, Status: NodeOK, Total: t1}
					pat := at
					if mode == ModeSerial {
						pat = at.Add(time.Duration(i) * t1)
					}
					for _, st := range []Step{StepMap, StepLogin, StepArrival, StepVerify} {
						p.Steps = append(p.Steps, StepTiming{Step: st, Start: pat, Duration: t1 / 4})
						pat = pat.Add(t1 / 4)
					}
					res.Nodes = append(res.Nodes, p)
					sum += t1
					mx = max(mx, t1)
				}
				res.FanOut = mx
				if mode == ModeSerial {
					res.FanOut = sum
				}
				res.Total = res.Active + res.FanOut + ms
				rep.Runs = append(rep.Runs, BenchRun{Latency: lat, Nodes: n, Mode: mode, Repeat: 1, Create: res,
					T: res.Active, MaxT1: mx, SumT1: sum, Total: res.Total, Ideal: res.Active + mx, Delete: 5 * ms})
			}
		}
	}
	rep.Summaries = SummariseBench(rep.Runs)
	return rep
}

func TestBenchJSONRoundTrip(t *testing.T) {
	rep := fakeBenchReport()
	rep.Error = "bench: something"
	var buf bytes.Buffer
	if err := WriteBenchJSON(&buf, rep); err != nil {
		t.Fatalf("WriteBenchJSON: %v", err)
	}
	got, err := ReadBenchJSON(&buf)
	if err != nil {
		t.Fatalf("ReadBenchJSON: %v", err)
	}
	if !reflect.DeepEqual(got, rep) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, rep)
	}
	if _, err := ReadBenchJSON(strings.NewReader("{")); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReadBenchJSON of a truncated report: %v, want ErrInvalid", err)
	}
}

// attr returns an element's attribute.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements named tag whose class list has class.
func findAll(n *html.Node, tag, class string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == tag && (class == "" || strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func TestWriteBenchHTML(t *testing.T) {
	rep := fakeBenchReport()
	var buf bytes.Buffer
	if err := WriteBenchHTML(&buf, rep); err != nil {
		t.Fatalf("WriteBenchHTML: %v", err)
	}
	page := buf.String()
	if strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "<link") {
		t.Errorf("the page loads something: it must be self-contained")
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("html.Parse: %v", err)
	}
	totals := findAll(doc, "svg", "total")
	if len(totals) != 2 {
		t.Fatalf("%d total-time charts, want one per latency (2)", len(totals))
	}
	for _, svg := range totals {
		series := findAll(svg, "polyline", "series")
		if len(series) != 3 {
			t.Errorf("chart %s: %d series, want serial, parallel and ideal", attr(svg, "data-latency"), len(series))
		}
		for _, s := range series {
			if n := len(strings.Fields(attr(s, "points"))); n != 2 {
				t.Errorf("series %s: %d points, want one per node count (2)", attr(s, "data-series"), n)
			}
		}
	}
	gantts := findAll(doc, "svg", "gantt")
	if len(gantts) != 2 {
		t.Fatalf("%d timelines, want one per mode (2)", len(gantts))
	}
	for i, want := range []Mode{ModeSerial, ModeParallel} {
		g := gantts[i]
		if attr(g, "data-mode") != string(want) {
			t.Errorf("timeline %d: mode %q, want %q", i, attr(g, "data-mode"), want)
		}
		rows := findAll(g, "g", "row")
		if len(rows) != 5 { // 4 passive nodes at 20 ms and the active one
			t.Fatalf("timeline %s: %d rows, want 5", want, len(rows))
		}
		for j, r := range rows {
			if name := attr(r, "data-node"); name != fmt.Sprintf("node%d", j+1) {
				t.Errorf("row %d: node %q", j, name)
			}
			if bars := findAll(r, "rect", ""); len(bars) < 4 {
				t.Errorf("row %d: %d step bars", j, len(bars))
			}
		}
	}
	if len(findAll(doc, "svg", "legend")) != 1 {
		t.Errorf("no legend")
	}
	for _, st := range []Step{StepCreateLUN, StepLogin, StepVerify} {
		if !strings.Contains(page, ">"+string(st)+"<") {
			t.Errorf("legend lacks %s", st)
		}
	}
	// And the page is well-formed enough for an XML reader's tags: every
	// svg closes.
	if strings.Count(page, "<svg") != strings.Count(page, "</svg>") {
		t.Errorf("unbalanced svg elements")
	}
}

func TestWriteBenchHTMLEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteBenchHTML(&buf, &BenchReport{Error: "bench: <failed>"}); err != nil {
		t.Fatalf("WriteBenchHTML: %v", err)
	}
	if !strings.Contains(buf.String(), "bench: &lt;failed&gt;") {
		t.Errorf("error not shown escaped")
	}
	if strings.Contains(buf.String(), "<svg class=\"chart") {
		t.Errorf("charts drawn without runs")
	}
}

func TestCheckBenchGoals(t *testing.T) {
	ms := time.Millisecond
	rep := &BenchReport{Summaries: []BenchSummary{
		{Latency: 0, Nodes: 1, Runs: 1, Parallel: 40 * ms, Ideal: 40 * ms, Serial: 40 * ms},
		{Latency: 0, Nodes: 64, Runs: 1, Parallel: 100 * ms, Ideal: 90 * ms, Serial: 2000 * ms},
		{Latency: 20 * ms, Nodes: 64, Runs: 1, Parallel: 1400 * ms, Ideal: 1000 * ms, Serial: 50 * time.Second},
	}}
	goals := CheckBenchGoals(rep)
	if len(goals) != 3 {
		t.Fatalf("%d goals", len(goals))
	}
	want := []struct{ measured, met bool }{{true, false}, {true, true}, {true, true}}
	for i, g := range goals {
		if g.Measured != want[i].measured || g.Met != want[i].met {
			t.Errorf("goal %q: measured %v met %v (%s), want %v %v", g.Name, g.Measured, g.Met, g.Got, want[i].measured, want[i].met)
		}
	}
	for _, g := range CheckBenchGoals(&BenchReport{}) {
		if g.Measured || g.Met {
			t.Errorf("goal %q measured on an empty report", g.Name)
		}
	}
}

func TestWriteBenchTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteBenchTable(&buf, fakeBenchReport()); err != nil {
		t.Fatalf("WriteBenchTable: %v", err)
	}
	out := buf.String()
	for _, want := range []string{"latency 0s", "latency 20ms", "parallel/ideal", "serial/parallel", "memory per agent", "300 KiB idle", "goals:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	rows := 0
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 11 && f[0] == "4" {
			rows++
		}
	}
	if rows != 2 {
		t.Errorf("%d rows for 4 nodes, want one per latency:\n%s", rows, out)
	}
}

func TestNiceTicks(t *testing.T) {
	got := niceTicks(3, 180)
	want := []float64{2, 5, 10, 20, 50, 100, 200}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("niceTicks(3, 180) = %v, want %v", got, want)
	}
	if s := niceStep(230 * time.Millisecond); s != 500*time.Millisecond {
		t.Errorf("niceStep(230ms) = %v", s)
	}
}
