//go:build unix

package vecwrite

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// maxIOV bounds the buffers of one writev (IOV_MAX is 1024 on Linux and
// the BSDs).
const maxIOV = 1024

// TryWrite writes as much of the kept buffers to the socket as it takes
// without blocking (writev), and keeps the rest. It reports whether
// everything was written.
func (c *Collector) TryWrite(rc syscall.RawConn) (done bool, err error) {
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(c.Bufs) > 0 {
			n, e := unix.Writev(int(fd), c.Bufs[:min(len(c.Bufs), maxIOV)])
			if n > 0 {
				c.consume(n)
			}
			if e == unix.EINTR {
				continue
			}
			if e != nil {
				if e != unix.EAGAIN {
					werr = e
				}
				break
			}
			if n <= 0 {
				break
			}
		}
		// Done either way: never wait for the socket to become
		// writable.
		return true
	})
	if err == nil {
		err = werr
	}
	return len(c.Bufs) == 0 && err == nil, err
}
