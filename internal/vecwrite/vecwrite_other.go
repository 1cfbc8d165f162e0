//go:build !unix

package vecwrite

import "syscall"

// TryWrite writes nothing here: the caller has the buffers written by a
// goroutine that may block.
func (c *Collector) TryWrite(rc syscall.RawConn) (done bool, err error) { return len(c.Bufs) == 0, nil }
