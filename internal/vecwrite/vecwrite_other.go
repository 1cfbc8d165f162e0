//go:build !unix

package vecwrite

import "syscall"

// TryWrite writes nothing here: the caller has the buffers written by a
// goroutine that may block.
func (c *Collector) TryWrite(rc syscall.RawConn) (done bool, err error) { return len(c.Bufs) == 0, nil }

// writeAll reports false: WriteTo writes through net.Buffers here.
func (c *Collector) writeAll(rc syscall.RawConn) (handled bool, err error) { return false, nil }
