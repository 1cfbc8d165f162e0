package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// profiles are the hidden profiling flags of the benchmark commands: each
// names a file to write a pprof profile to, empty for none.
type profiles struct {
	cpu, mutex, block, allocs string
}

// start turns the asked-for profiles on; the returned func stops them and
// writes their files (reporting a failure on errOut).
func (p profiles) start(errOut io.Writer) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return stop, fmt.Errorf("CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("CPU profile: %w", err)
		}
		stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if p.mutex != "" {
		runtime.SetMutexProfileFraction(5)
		stops = append(stops, func() { writeProfile("mutex", p.mutex, errOut); runtime.SetMutexProfileFraction(0) })
	}
	if p.block != "" {
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		stops = append(stops, func() { writeProfile("block", p.block, errOut); runtime.SetBlockProfileRate(0) })
	}
	if p.allocs != "" {
		stops = append(stops, func() { writeProfile("allocs", p.allocs, errOut) })
	}
	return stop, nil
}

// writeProfile writes the named runtime profile to file.
func writeProfile(name, file string, errOut io.Writer) {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintf(errOut, "%s profile: %v\n", name, err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		fmt.Fprintf(errOut, "%s profile: %v\n", name, err)
	}
}
