package initiator

import (
	"context"
	"net"
	"syscall"
	"time"
)

// loginConnect connects to cfg.Portal. A login bounded in the kernel,
// waits included (kernel: see loginKernelBound and connPoller), gets a
// bare socket (see sockConn), connected by deadline; any other, or a
// portal dialSock does not take, gets Go's dialer d under ctx.
func loginConnect(ctx context.Context, d *net.Dialer, cfg *Config, kernel bool, deadline time.Time) (net.Conn, error) {
	if kernel {
		sc, err := dialSock(cfg.Portal, loginSYNCount(cfg.LoginTimeout), cfg.NOPInterval <= 0, deadline)
		if err == nil {
			return sc, nil
		}
		if err != errSockPortal {
			return nil, err
		}
	}
	return d.DialContext(ctx, "tcp", cfg.Portal)
}

// loginKernelBound has the kernel bound d's connects to at most timeout,
// with the number of SYN retransmissions (TCP_SYNCNT) whose exponential
// backoff from the initial 1 s timeout ends within it, so the connect
// needs no cancellable context: Go watches a cancellable one with an
// extra goroutine per connect. It reports false when no retransmission
// count fits (timeout under 3 s).
func loginKernelBound(d *net.Dialer, timeout time.Duration) bool {
	n := loginSYNCount(timeout)
	if n == 0 {
		return false
	}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_SYNCNT, n)
		}); err != nil {
			return err
		}
		return serr
	}
	return true
}
