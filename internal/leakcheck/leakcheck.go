// Package leakcheck fails a package's tests when goroutines outlive them:
// servers, connections, sessions and tasks must all stop when closed.
//
// # Usage
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
//
// # Concurrency
//
// Main runs once per test binary, after every test has finished.
//
// # Cancellation
//
// Main waits at most Grace for stragglers to stop.
package leakcheck

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Grace is how long Main waits for goroutines that are still stopping.
const Grace = 10 * time.Second

// Main runs the tests and then, if they passed, checks that no more
// goroutines run than before them; it exits the process with the result.
// Fuzzing is exempt: the fuzzing engine keeps goroutines of its own.
func Main(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	fuzz := flag.Lookup("test.fuzz")
	fuzzing := fuzz != nil && fuzz.Value.String() != ""
	if code == 0 && !fuzzing {
		if leaked := Wait(before, Grace); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Wait polls until no more than n goroutines run, or within passes; then
// it returns the stacks of all goroutines, or "" if they came down to n.
func Wait(n int, within time.Duration) string {
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
		time.Sleep(10 * time.Millisecond) // polling interval, not a stand-in for work
	}
}
