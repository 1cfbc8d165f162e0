package initiator

import (
	"time"

	"golang.org/x/sys/unix"
)

// connPoll waits in ppoll(2) for fds, at most d (forever when d is
// negative), to the nanosecond.
func connPoll(fds []unix.PollFd, d time.Duration) (int, error) {
	if d < 0 {
		return unix.Ppoll(fds, nil, nil)
	}
	ts := unix.NsecToTimespec(int64(d))
	return unix.Ppoll(fds, &ts, nil)
}
