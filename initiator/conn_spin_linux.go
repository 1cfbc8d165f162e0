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
// connReader.pollStream). Against tgtd, 10 interleaved rounds at 128 KiB
// reads, 30 µs was as fast as 60 (727 and 736 MiB/s, libiscsi 665) for
// 7 µs less CPU time per command (42.0 against 48.9, libiscsi 43.1); at
// 4 KiB reads (8 rounds) it was as fast too (184 and 180 MiB/s,
// libiscsi 168).
const connStreamSpin = 30 * time.Microsecond

// connYieldCPU gives the CPU to another thread that wants it, if any
// (sched_yield(2)).
func connYieldCPU() { unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }
