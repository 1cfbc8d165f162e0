// Package vecwrite collects the buffers that a Framer's Flush writes, so
// that a connection writes them itself: all at once with one blocking
// vectored write, or as much as the socket takes without blocking (from a
// goroutine that must never block on the socket, such as a connection's
// reader).
package vecwrite

import (
	"net"
	"syscall"
)

// Collector is an io.Writer that keeps each buffer written to it, without
// copying it. The buffers must stay valid until they are written or Reset
// (a Framer's stay valid until its next Queue).
type Collector struct {
	// Bufs are the buffers not written yet, in order.
	Bufs [][]byte
	wv   net.Buffers
	// TryWrite's function for the socket, bound to self, and its error.
	self       *Collector
	writeFn    func(fd uintptr)
	writeAllFn func(fd uintptr) bool
	werr       error
}

// Write keeps p (unless empty).
func (c *Collector) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.Bufs = append(c.Bufs, p)
	return len(p), nil
}

// WriteTo writes the kept buffers to nc, blocking, with writev on a TCP
// connection, and forgets them. A connection that is not a *net.TCPConn
// but gives raw access to its socket (syscall.Conn) is written with
// writev too, waiting for the socket through its RawConn.
func (c *Collector) WriteTo(nc net.Conn) error {
	if _, ok := nc.(*net.TCPConn); !ok {
		if sc, ok := nc.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil && rc != nil {
				if handled, err := c.writeAll(rc); handled {
					c.Reset()
					return err
				}
			}
		}
	}
	c.wv = c.Bufs
	_, err := c.wv.WriteTo(nc)
	c.wv = nil
	c.Reset()
	return err
}

// Reset forgets the kept buffers.
func (c *Collector) Reset() {
	clear(c.Bufs)
	c.Bufs = c.Bufs[:0]
}

// consume drops the first n bytes of the kept buffers.
func (c *Collector) consume(n int) {
	i := 0
	for i < len(c.Bufs) && n >= len(c.Bufs[i]) {
		n -= len(c.Bufs[i])
		i++
	}
	if i < len(c.Bufs) {
		c.Bufs[i] = c.Bufs[i][n:]
	}
	rest := copy(c.Bufs, c.Bufs[i:])
	clear(c.Bufs[rest:])
	c.Bufs = c.Bufs[:rest]
}
