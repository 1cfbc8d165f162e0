//go:build unix && !linux

package initiator

import (
	"time"

	"golang.org/x/sys/unix"
)

// connPoll waits in poll(2) for fds, at most d (forever when d is
// negative), rounded up to whole milliseconds: never early.
func connPoll(fds []unix.PollFd, d time.Duration) (int, error) {
	timeout := -1
	if d >= 0 {
		timeout = int((d + time.Millisecond - 1) / time.Millisecond)
	}
	return unix.Poll(fds, timeout)
}
