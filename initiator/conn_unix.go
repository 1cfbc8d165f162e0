//go:build unix

package initiator

import (
	"net"
	"syscall"
)

// connRaw returns nc's file descriptor access, or nil.
func connRaw(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// connTryWrite writes as much of b as the socket takes without waiting
// and returns how much that was; a full socket buffer is not an error.
func connTryWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				if e != syscall.EAGAIN {
					werr = e
				}
				break
			}
			if m <= 0 {
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
	return n, err
}
