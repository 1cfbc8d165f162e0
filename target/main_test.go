package target

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package's tests if goroutines outlive them: servers,
// connections and tasks must all stop on Close.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	// The fuzzing engine keeps goroutines of its own (os/signal) running.
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
	if code == 0 && !fuzzing {
		if leaked := waitForGoroutines(before, 10*time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForGoroutines polls until no more than n goroutines run, or the
// deadline passes; then it returns the stacks of the goroutines left.
func waitForGoroutines(n int, within time.Duration) string {
	deadline := time.Now().Add(within)
	for {
		if runtime.NumGoroutine() <= n {
			return ""
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return strings.TrimSpace(string(buf))
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling interval, not a stand-in for work
	}
}
