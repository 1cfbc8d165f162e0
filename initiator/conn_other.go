//go:build !unix

package initiator

import (
	"net"
	"syscall"
)

// connRaw returns nil: the reader never writes without blocking here.
func connRaw(nc net.Conn) syscall.RawConn { return nil }

// connTryWrite writes nothing.
func connTryWrite(rc syscall.RawConn, b []byte) (int, error) { return 0, nil }
