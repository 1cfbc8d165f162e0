//go:build !linux

package initiator

import (
	"context"
	"net"
	"time"
)

// loginConnect connects to cfg.Portal with Go's dialer d under ctx.
func loginConnect(ctx context.Context, d *net.Dialer, cfg *Config, kernel bool, deadline time.Time) (net.Conn, error) {
	return d.DialContext(ctx, "tcp", cfg.Portal)
}

// loginKernelBound reports false: the connect is bounded by its context.
func loginKernelBound(d *net.Dialer, timeout time.Duration) bool { return false }
