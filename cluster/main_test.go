package cluster

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
)

// TestMain runs the package's tests, stops the shared etcd and then checks
// for leaked goroutines the way leakcheck.Main does (leakcheck.Main exits
// the process itself, which would leave the shared etcd and its directory
// behind).
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if err := sharedEtcd.close(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping the shared etcd: %v\n", err)
		code = 1
	}
	if code == 0 && !fuzzing() {
		if leaked := leakcheck.Wait(before, leakcheck.Grace); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// fuzzing reports whether the binary runs a fuzz target (the fuzzing
// engine keeps goroutines of its own); flags are parsed by m.Run.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// sharedEtcd is one embedded etcd for the whole test binary, started by
// the first test that needs it; each test works under its own prefix.
var sharedEtcd testEtcd

// testEtcd starts an embedded etcd once and stops it at the end of the
// run.
type testEtcd struct {
	once sync.Once
	dir  string
	etcd *Etcd
	err  error
}

// get starts the etcd on first use and returns it.
func (te *testEtcd) get(t *testing.T) *Etcd {
	t.Helper()
	te.once.Do(func() {
		te.dir, te.err = os.MkdirTemp("", "lunar-etcd-")
		if te.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		te.etcd, te.err = StartEtcd(ctx, EtcdConfig{Dir: te.dir, UnsafeNoFsync: true})
	})
	if te.err != nil {
		t.Fatalf("shared etcd: %v", te.err)
	}
	return te.etcd
}

// close stops the etcd if it was started and removes its directory.
func (te *testEtcd) close() error {
	if te.etcd != nil {
		if err := te.etcd.Close(); err != nil {
			return err
		}
	}
	if te.dir != "" {
		return os.RemoveAll(te.dir)
	}
	return nil
}
