//go:build process

package cluster

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lunarsan/lunar/target"
)

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestFailoverProcesses runs etcd, a target and three node agents as
// lunar processes, creates a group, kills the owner's process with
// SIGKILL and waits (watching etcd) for a new owner, which must hold the
// disk's reservation. Run it with: go test -tags process -run TestFailoverProcesses ./cluster/
func TestFailoverProcesses(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "lunar")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/lunar")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	procs := map[string]*exec.Cmd{}
	start := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		logf, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		procs[name] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			logf.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logf.Name())
				t.Logf("%s log:\n%s", name, b)
			}
		})
		return cmd
	}
	etcdURL := "http://" + freeAddr(t)
	start("etcd", "cluster", "etcd", "--data", filepath.Join(dir, "etcd"), "--listen-client", etcdURL, "--listen-peer", "http://"+freeAddr(t))
	portal, api := freeAddr(t), freeAddr(t)
	tdir := filepath.Join(dir, "target")
	start("target", "target", "serve", "--data", tdir, "--listen", portal, "--api", api)

	cli, err := NewEtcdClient(ctx, []string{etcdURL})
	for err != nil && ctx.Err() == nil {
		cli, err = NewEtcdClient(ctx, []string{etcdURL})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	store, err := NewStore(StoreConfig{Client: cli})
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	tokenFile := filepath.Join(tdir, "api-token")
	for {
		if _, err := os.Stat(tokenFile); err == nil {
			tok, _ := os.ReadFile(tokenFile)
			if target.NewClient("http://"+api, strings.TrimSpace(string(tok)), &http.Client{}).Health(ctx) == nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the target did not start")
		case <-tick.C:
		}
	}
	agentToken := filepath.Join(dir, "agent-token")
	waitNodes := func(n int) {
		t.Helper()
		for {
			nodes, err := store.Nodes(ctx)
			if err == nil && len(nodes) >= n {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%d nodes did not register", n)
			case <-tick.C:
			}
		}
	}
	for i, name := range []string{"node1", "node2", "node3"} {
		start(name, "node", "serve", "--name", name, "--listen", "127.0.0.1:0", "--storage-url", "http://"+api,
			"--storage-token-file", tokenFile, "--etcd", etcdURL, "--token-file", agentToken, "--data", dir, "--lease-ttl", "2s")
		waitNodes(i + 1)
	}
	create := exec.CommandContext(ctx, bin, "cluster", "create", "d1", "--group", "g", "--active", "node1", "--portal", portal,
		"--size", "1M", "--no-format", "--etcd", etcdURL, "--token-file", agentToken)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("lunar cluster create: %v\n%s", err, out)
	}
	owner, err := store.Owner(ctx, "g")
	if err != nil || owner != "node1" {
		t.Fatalf("owner %q, %v", owner, err)
	}

	// Watch the election from now, then kill the owner.
	resp, err := cli.Get(ctx, store.electionPrefix("g")+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(ctx, store.electionPrefix("g")+"/", clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	killed := time.Now()
	if err := procs["node1"].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var newOwner string
	for newOwner == "" {
		select {
		case <-ctx.Done():
			t.Fatal("no new owner")
		case wr := <-wch:
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut && string(ev.Kv.Value) != "node1" {
					if o, err := store.Owner(ctx, "g"); err == nil && o != "node1" {
						newOwner = o
					}
				}
			}
		}
	}
	elected := time.Since(killed)
	// The reservation, as the new owner's agent reads it, once it has
	// recorded itself.
	info, err := store.Node(ctx, newOwner)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := os.ReadFile(agentToken)
	ac := NewAgentClient(info.AgentURL, strings.TrimSpace(string(tok)), &http.Client{})
	for {
		g, err := store.Group(ctx, "g")
		if err == nil && g.Owner == newOwner {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the new owner did not record itself")
		case <-tick.C:
		}
	}
	online := time.Since(killed)
	rs, err := ac.Reservations(ctx, "g")
	if err != nil || len(rs) != 1 || !rs[0].Reserved || rs[0].HolderNode != newOwner || rs[0].Type != uint8(FenceType) {
		t.Fatalf("reservations through %s: %+v, %v", newOwner, rs, err)
	}
	for _, k := range rs[0].Keys {
		if k == NodeKey("node1") {
			t.Errorf("node1's key is still registered: %x", rs[0].Keys)
		}
	}
	t.Logf("kill -9 of node1: %s elected after %v, recorded as owner with the reservation after %v (lease TTL 2s)", newOwner, elected, online)
}
