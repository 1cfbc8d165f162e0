//go:build unix

package vecwrite

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxIOV bounds the buffers of one writev (IOV_MAX is 1024 on Linux and
// the BSDs).
const maxIOV = 1024

// TryWrite writes as much of the kept buffers to the socket as it takes
// without blocking (writev), and keeps the rest. It reports whether
// everything was written. It runs through rc.Control, which for Go's
// own sockets takes no write lock: the caller makes sure that nothing
// else writes to the socket meanwhile (lunar's target and initiator
// hold their connection's writing side).
func (c *Collector) TryWrite(rc syscall.RawConn) (done bool, err error) {
	c.bind()
	c.werr = nil
	err = rc.Control(c.writeFn)
	if err == nil {
		err = c.werr
	}
	return len(c.Bufs) == 0 && err == nil, err
}

// bind makes the functions given to rc.Control and rc.Write, bound to
// c: once per Collector (a closure per call would be an allocation per
// write), and again if the Collector was copied.
func (c *Collector) bind() {
	if c.self != c {
		c.self, c.writeFn = c, c.writeSome
		c.writeAllFn = func(fd uintptr) bool {
			c.writeSome(fd)
			return len(c.Bufs) == 0 || c.werr != nil
		}
	}
}

// writeAll writes every kept buffer to the socket with writev, waiting
// through rc while the socket is full. It reports true: the buffers were
// handled (written, or not for the error it returns).
func (c *Collector) writeAll(rc syscall.RawConn) (handled bool, err error) {
	c.bind()
	c.werr = nil
	err = rc.Write(c.writeAllFn)
	if err == nil && c.werr != nil {
		err = os.NewSyscallError("writev", c.werr)
	}
	return true, err
}

// writeSome is TryWrite's writev loop on fd, run through the socket's
// RawConn.Control (it never waits for the socket to become writable);
// its error goes to c.werr.
func (c *Collector) writeSome(fd uintptr) {
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
				c.werr = e
			}
			break
		}
		if n <= 0 {
			break
		}
	}
}
