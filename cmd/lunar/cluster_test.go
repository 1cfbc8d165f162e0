package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
)

// runCLI runs lunar in-process with the cluster commands, which it adds
// to the root command when root.go does not have them yet.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut)
	if !hasSubcommand(root, "cluster") {
		logger := zerolog.Nop()
		root.AddCommand(clusterCommands(&logger)...)
	}
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func hasSubcommand(root *cobra.Command, name string) bool {
	for _, c := range root.Commands() {
		if c.Name() == name {
			return true
		}
	}
	return false
}

// runCLIOK runs lunar and fails the test on an error.
func runCLIOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("lunar %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// wantCLIErr runs lunar and wants an error mentioning each of want.
func wantCLIErr(t *testing.T, want []string, args ...string) {
	t.Helper()
	_, _, err := runCLI(t, args...)
	if err == nil {
		t.Fatalf("lunar %s: no error", strings.Join(args, " "))
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("lunar %s: error %q does not mention %q", strings.Join(args, " "), err, w)
		}
	}
}

// testCluster is a Local cluster with a runner in every agent, and the
// flags that point "lunar cluster" at it.
type testCluster struct {
	local     *cluster.Local
	tokenFile string
	flags     []string
}

func startTestCluster(t *testing.T, nodes int) *testCluster {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	local, err := cluster.StartLocal(ctx, cluster.LocalConfig{Dir: filepath.Join(dir, "local"), Nodes: nodes, NodePrefix: "node-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := local.Close(); err != nil {
			t.Errorf("Local.Close: %v", err)
		}
	})
	for _, n := range local.Nodes {
		r, err := cluster.NewRunner(cluster.RunnerConfig{
			Node: n.Info.Name, Self: n.Agent, Store: local.Store, Storage: local.Storage,
			Agents: cluster.AgentResolver(local.Store, local.Token, nil),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := r.Close(); err != nil {
				t.Errorf("Runner.Close: %v", err)
			}
		})
		n.Agent.SetOperations(r)
	}
	tokenFile := filepath.Join(dir, "agent-token")
	if err := os.WriteFile(tokenFile, []byte(local.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCluster{local: local, tokenFile: tokenFile,
		flags: []string{"--etcd", strings.Join(local.Etcd.Endpoints(), ","), "--token-file", tokenFile}}
}

// args returns the cluster subcommand's arguments followed by the
// cluster's flags.
func (c *testCluster) args(a ...string) []string {
	return append(append([]string{"cluster"}, a...), c.flags...)
}

// decodeResult parses an OperationResult printed with --output json.
func decodeResult(t *testing.T, out string) cluster.OperationResult {
	t.Helper()
	var res cluster.OperationResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, out)
	}
	return res
}

// wantAllOK checks that res lists exactly nodes, all ok, the active first.
func wantAllOK(t *testing.T, res cluster.OperationResult, nodes ...string) {
	t.Helper()
	if res.Error != "" {
		t.Fatalf("%s: error %s", res.Kind, res.Error)
	}
	if len(res.Nodes) != len(nodes) {
		t.Fatalf("%s: %d nodes in the result, want %d: %+v", res.Kind, len(res.Nodes), len(nodes), res.Nodes)
	}
	got := map[string]cluster.NodeResult{}
	for _, n := range res.Nodes {
		got[n.Node] = n
	}
	for _, name := range nodes {
		n, ok := got[name]
		if !ok {
			t.Fatalf("%s: node %s missing from %+v", res.Kind, name, res.Nodes)
		}
		if n.Status != cluster.NodeOK {
			t.Fatalf("%s: node %s is %s: %s", res.Kind, name, n.Status, n.Error)
		}
	}
	if res.Nodes[0].Node != nodes[0] || res.Nodes[0].Role != cluster.RoleActive {
		t.Fatalf("%s: first node %s (%s), want the active %s", res.Kind, res.Nodes[0].Node, res.Nodes[0].Role, nodes[0])
	}
}

func TestClusterCreateStatusDelete(t *testing.T) {
	c := startTestCluster(t, 3)
	res := decodeResult(t, runCLIOK(t, c.args("create", "disk1", "--group", "g1", "--active", "node-1", "--nodes", "node-2,node-3",
		"--size", "8M", "--portal", c.local.Portal, "--target", c.local.TargetName, "-o", "json")...))
	wantAllOK(t, res, "node-1", "node-2", "node-3")
	if res.Kind != cluster.OpCreate || res.Group != "g1" || res.Resource != "disk1" || res.Disk == nil {
		t.Fatalf("create result %+v", res)
	}

	var st statusJSON
	if err := json.Unmarshal([]byte(runCLIOK(t, c.args("status", "g1", "-o", "json")...)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) != 1 || st.Groups[0].Owner != "node-1" || len(st.Groups[0].Resources) != 1 {
		t.Fatalf("status %+v", st)
	}
	r := st.Groups[0].Resources[0]
	if r.Name != "disk1" || r.WWN != res.Disk.WWN || len(r.PossibleOwners) != 3 {
		t.Fatalf("resource %+v", r)
	}
	if len(st.Nodes) != 3 || len(st.Groups[0].Operations) == 0 || st.Groups[0].Operations[0].ID != res.ID {
		t.Fatalf("status nodes %+v operations %+v", st.Nodes, st.Groups[0].Operations)
	}
	table := runCLIOK(t, c.args("status")...)
	for _, w := range []string{"GROUP g1", "disk1", "node-3", res.ID} {
		if !strings.Contains(table, w) {
			t.Fatalf("status table lacks %q:\n%s", w, table)
		}
	}
	var nodes []cluster.NodeInfo
	if err := json.Unmarshal([]byte(runCLIOK(t, c.args("nodes", "-o", "json")...)), &nodes); err != nil || len(nodes) != 3 {
		t.Fatalf("nodes %+v %v", nodes, err)
	}

	// The owner comes from etcd now: no --active.
	res = decodeResult(t, runCLIOK(t, c.args("delete", "disk1", "--group", "g1", "-o", "json")...))
	wantAllOK(t, res, "node-1", "node-2", "node-3")
	if err := json.Unmarshal([]byte(runCLIOK(t, c.args("status", "g1", "-o", "json")...)), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) == 1 && len(st.Groups[0].Resources) != 0 {
		t.Fatalf("resources left after delete: %+v", st.Groups[0].Resources)
	}
}

func TestClusterTableAndDisconnect(t *testing.T) {
	c := startTestCluster(t, 2)
	out := runCLIOK(t, c.args("create", "d2", "--group", "g2", "--active", "node-1", "--size", "4M", "--portal", c.local.Portal,
		"--serial", "--no-format", "--node-timeout", "30s", "--on-partial-failure", "rollback")...)
	rows := tableRows(t, out)
	if len(rows) != 1 {
		t.Fatalf("%d tables in\n%s", len(rows), out)
	}
	for _, n := range []string{"node-1", "node-2"} {
		if rows[0][n] != "ok" {
			t.Fatalf("node %s is %q in\n%s", n, rows[0][n], out)
		}
	}
	if !strings.Contains(out, "(serial)") || !strings.Contains(out, "T (active)") {
		t.Fatalf("table lacks the mode or the totals:\n%s", out)
	}
	res := decodeResult(t, runCLIOK(t, c.args("disconnect", "d2", "--group", "g2", "-o", "json")...))
	wantAllOK(t, res, "node-1", "node-2")
	// The disconnected resource has left the group; connect brings the
	// existing LUN back on both nodes, then disconnect and delete remove
	// it (delete finds the LUN on the storage system).
	res = decodeResult(t, runCLIOK(t, c.args("connect", "d2", "--group", "g2", "--portal", c.local.Portal, "-o", "json")...))
	wantAllOK(t, res, "node-1", "node-2")
	runCLIOK(t, c.args("disconnect", "d2", "--group", "g2", "-o", "json")...)
	res = decodeResult(t, runCLIOK(t, c.args("delete", "d2", "--group", "g2", "-o", "json")...))
	wantAllOK(t, res, "node-1", "node-2")
	// Now it exists nowhere.
	wantCLIErr(t, []string{"d2", "not found"}, c.args("delete", "d2", "--group", "g2")...)
	wantCLIErr(t, []string{"d2"}, c.args("connect", "d2", "--group", "g2", "--portal", c.local.Portal)...)
}

// tableRows parses the operation tables in out: for each table, the
// status of each node.
func tableRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	var tables []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 3 && f[0] == "NODE" && f[1] == "ROLE" && f[2] == "STATUS":
			cur = map[string]string{}
			tables = append(tables, cur)
		case len(f) == 0 || strings.HasPrefix(line, "T (active)"):
			cur = nil
		case cur != nil && len(f) >= 3:
			cur[f[0]] = f[2]
		}
	}
	return tables
}

func TestClusterUnknownGroupNeedsActive(t *testing.T) {
	c := startTestCluster(t, 2)
	wantCLIErr(t, []string{"nope", "--active"}, c.args("delete", "d", "--group", "nope")...)
	wantCLIErr(t, []string{"ghost", "not registered"}, c.args("create", "d", "--group", "g", "--active", "ghost", "--size", "1M",
		"--portal", c.local.Portal)...)
	wantCLIErr(t, []string{"nope", "does not exist"}, c.args("status", "nope")...)
}

func TestClusterFlagErrors(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--etcd", "http://127.0.0.1:1", "--token-file", tok}
	for _, tc := range []struct {
		want []string
		args []string
	}{
		{[]string{"--group"}, []string{"cluster", "create", "d", "--size", "1M", "--portal", "h:1"}},
		{[]string{"--on-partial-failure", "maybe", "keep or rollback"}, []string{"cluster", "connect", "d", "--group", "g", "--portal", "h:1", "--on-partial-failure", "maybe"}},
		{[]string{"--size", "create"}, []string{"cluster", "create", "d", "--group", "g", "--portal", "h:1"}},
		{[]string{"--size"}, []string{"cluster", "create", "d", "--group", "g", "--portal", "h:1", "--size", "lots"}},
		{[]string{"--portal"}, []string{"cluster", "create", "d", "--group", "g", "--size", "1M"}},
		{[]string{"--portal", "host:port"}, []string{"cluster", "connect", "d", "--group", "g", "--portal", "nohost"}},
		{[]string{"--output", "yaml"}, []string{"cluster", "delete", "d", "--group", "g", "-o", "yaml"}},
		{[]string{"--group", "g/1"}, []string{"cluster", "delete", "d", "--group", "g/1"}},
		{[]string{"--nodes", "active"}, []string{"cluster", "delete", "d", "--group", "g", "--active", "a", "--nodes", "b,a"}},
		{[]string{"--max-parallel"}, []string{"cluster", "delete", "d", "--group", "g", "--max-parallel", "-1"}},
		{[]string{"unknown flag", "--size"}, []string{"cluster", "delete", "d", "--group", "g", "--size", "1M"}},
		{[]string{"--etcd"}, []string{"cluster", "nodes", "--etcd", "", "--token-file", tok}},
		{[]string{"--token-file"}, []string{"cluster", "delete", "d", "--group", "g", "--token-file", filepath.Join(t.TempDir(), "none")}},
		{[]string{"--data"}, []string{"cluster", "etcd"}},
		{[]string{"--name"}, []string{"node", "serve", "--etcd", "http://127.0.0.1:1"}},
		{[]string{"--etcd"}, []string{"node", "serve", "--name", "n1", "--etcd", ""}},
		{[]string{"--chap-user", "--chap-secret-file"}, []string{"node", "serve", "--name", "n1", "--etcd", "http://127.0.0.1:1", "--chap-user", "u"}},
		{[]string{"--nodes", "at least 2"}, []string{"demo", "--nodes", "1"}},
		{[]string{"--size"}, []string{"demo", "--size", "big"}},
		{[]string{"--latency", "whole milliseconds"}, []string{"demo", "--latency", "1500us"}},
	} {
		args := tc.args
		if args[0] == "cluster" && !strings.Contains(strings.Join(args, " "), "--token-file") {
			args = append(append([]string{}, args...), base...)
		}
		wantCLIErr(t, tc.want, args...)
	}
}

func TestClusterEtcdUnreachable(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tok, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCLIErr(t, []string{"etcd", "127.0.0.1:1"}, "cluster", "delete", "d", "--group", "g", "--etcd", "http://127.0.0.1:1", "--token-file", tok)
}

func TestNodeServe(t *testing.T) {
	c := startTestCluster(t, 2)
	dir := t.TempDir()
	storageTok := filepath.Join(dir, "storage-token")
	if err := os.WriteFile(storageTok, []byte(c.local.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	logger := zerolog.Nop()
	cmd := newNodeCommand(&logger, func(u string) { ready <- u })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"serve", "--name", "edge", "--etcd", strings.Join(c.local.Etcd.Endpoints(), ","),
		"--listen", "127.0.0.1:0", "--storage-url", c.local.StorageURL, "--storage-token-file", storageTok,
		"--token-file", c.tokenFile, "--data", dir, "--lease-ttl", "5s"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	select {
	case u := <-ready:
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("advertised %s", u)
		}
	case err := <-done:
		t.Fatalf("node serve ended: %v\n%s", err, out.String())
	}
	// The served node runs the operation and drives the Local's nodes.
	res := decodeResult(t, runCLIOK(t, c.args("create", "e1", "--group", "ge", "--active", "edge", "--nodes", "node-1,node-2",
		"--size", "8M", "--portal", c.local.Portal, "-o", "json")...))
	wantAllOK(t, res, "edge", "node-1", "node-2")
	res = decodeResult(t, runCLIOK(t, c.args("delete", "e1", "--group", "ge", "-o", "json")...))
	wantAllOK(t, res, "edge", "node-1", "node-2")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node serve: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("node serve did not stop")
	}
	var nodes []cluster.NodeInfo
	if err := json.Unmarshal([]byte(runCLIOK(t, c.args("nodes", "-o", "json")...)), &nodes); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Name == "edge" {
			t.Fatalf("edge still registered after it stopped: %+v", nodes)
		}
	}
}

func TestPrintOperationTable(t *testing.T) {
	ms := time.Millisecond
	res := cluster.OperationResult{
		ID: "op1", Kind: cluster.OpCreate, Group: "g", Resource: "d", Mode: cluster.ModeParallel,
		Active: 40 * ms, FanOut: 30 * ms, Total: 75 * ms,
		Nodes: []cluster.NodeResult{
			{Node: "a", Role: cluster.RoleActive, Status: cluster.NodeOK, Total: 40 * ms, Steps: []cluster.StepTiming{
				{Step: cluster.StepCreateLUN, Duration: 5 * ms}, {Step: cluster.StepMap, Duration: 2 * ms},
				{Step: cluster.StepFormat, Duration: 20 * ms}}},
			{Node: "b", Role: cluster.RolePassive, Status: cluster.NodeTimedOut, Error: "disk never arrived", Total: 30 * ms,
				Steps: []cluster.StepTiming{{Step: cluster.StepMap, Duration: 3 * ms}, {Step: cluster.StepArrival, Duration: 27 * ms, Error: "timed out"}}},
		},
	}
	var buf bytes.Buffer
	if err := printOperationTable(&buf, res); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, w := range []string{"create g/d (parallel) op1", "CREATE-LUN", "MAP", "ARRIVAL", "FORMAT", "TOTAL",
		"27ms!", "T (active) 40ms", "max(T1_i) 30ms", "total 75ms", "b timed-out: disk never arrived"} {
		if !strings.Contains(out, w) {
			t.Fatalf("table lacks %q:\n%s", w, out)
		}
	}
	if strings.Index(out, "MAP") > strings.Index(out, "ARRIVAL") || strings.Index(out, "ARRIVAL") > strings.Index(out, "FORMAT") {
		t.Fatalf("step columns out of order:\n%s", out)
	}
	rows := tableRows(t, out)
	if len(rows) != 1 || rows[0]["a"] != "ok" || rows[0]["b"] != "timed-out" {
		t.Fatalf("rows %v", rows)
	}
	err := resultError(res)
	if err == nil || !strings.Contains(err.Error(), "b timed-out") {
		t.Fatalf("resultError: %v", err)
	}
	res.Nodes[1].Status = cluster.NodeOK
	if err := resultError(res); err != nil {
		t.Fatalf("all ok: %v", err)
	}
	res.Error = "boom"
	if err := resultError(res); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("operation error: %v", err)
	}
}

func TestLineProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.event(cluster.ProgressEvent{Time: t0, Node: "a", Role: cluster.RoleActive, Step: cluster.StepMap, Status: cluster.NodeRunning})
	p.event(cluster.ProgressEvent{Time: t0.Add(3 * time.Millisecond), Node: "a", Role: cluster.RoleActive, Step: cluster.StepMap, Done: true, Status: cluster.NodeRunning})
	p.event(cluster.ProgressEvent{Time: t0.Add(4 * time.Millisecond), Node: "b", Role: cluster.RolePassive, Step: cluster.StepLogin, Done: true, Status: cluster.NodeFailed, Error: "refused"})
	p.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "started") || !strings.Contains(lines[1], "done 3ms") ||
		!strings.Contains(lines[2], "failed: refused") || !strings.Contains(lines[2], "node failed") {
		t.Fatalf("progress lines:\n%s", buf.String())
	}
}

func TestLiveProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newLiveProgress(&buf)
	for _, n := range []string{"a", "b", "c"} {
		p.event(cluster.ProgressEvent{Node: n, Role: cluster.RolePassive, Step: cluster.StepLogin, Status: cluster.NodeRunning})
	}
	p.event(cluster.ProgressEvent{Node: "a", Role: cluster.RolePassive, Step: cluster.StepLogin, Done: true, Status: cluster.NodeOK})
	p.event(cluster.ProgressEvent{Node: "b", Role: cluster.RolePassive, Step: cluster.StepLogin, Done: true, Status: cluster.NodeFailed, Error: "no"})
	// c never finishes: finish must still end the display.
	p.finish()
	out := buf.String()
	for _, w := range []string{"a", "passive", "ok", "failed: no"} {
		if !strings.Contains(out, w) {
			t.Fatalf("live lines lack %q:\n%q", w, out)
		}
	}
}
