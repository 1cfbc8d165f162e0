package initiator

import (
	"time"

	"golang.org/x/sys/unix"
)

// connSpin is the longest a single answer is polled for before the
// reader sleeps in ppoll(2) (see connReader.spin).
const connSpin = 100 * time.Microsecond

// connStreamSpin is the longest the session's reader polls for the
// answers of the commands in flight before it sleeps in ppoll(2) (see
// connReader.pollStream). 30 µs cost less CPU time per 128 KiB command
// (42.0 against 48.9 µs in 10 rounds) but did not hold up: in
// bench-all.sh's run it gained nothing over not polling at 128 KiB
// (951 against 952 MiB/s; libiscsi 964), where 60 µs gained 8-15 %.
const connStreamSpin = 60 * time.Microsecond

// connYieldCPU gives the CPU to another thread that wants it, if any
// (sched_yield(2)).
func connYieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
