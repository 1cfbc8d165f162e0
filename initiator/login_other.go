//go:build !linux

package initiator

import (
	"net"
	"time"
)

// loginKernelBound reports false: the connect is bounded by its context.
func loginKernelBound(d *net.Dialer, timeout time.Duration) bool { return false }
