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
// connReader.pollStream).
const connStreamSpin = 60 * time.Microsecond

// connYieldCPU gives the CPU to another thread that wants it, if any
// (sched_yield(2)).
func connYieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
