//go:build unix

package initiator

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lunarsan/lunar/internal/vecwrite"
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

// connPollIn is the poll(2) event of a readable socket.
const connPollIn = unix.POLLIN

// connPoller reads a socket, and waits for it to become readable in the
// kernel (poll(2), a blocking system call) rather than in Go's network
// poller. A goroutine parked in the network poller leaves its P idle:
// when every P is idle the runtime's monitor thread (sysmon) goes to
// sleep, and the goroutine's next system call wakes it and restarts its
// 20 µs polling, which measured at 128 KiB reads against tgtd cost about
// as much CPU as the reads themselves. A reader blocked in poll(2) keeps
// its P, the monitor backs off, and the thread wakes once per batch of
// answers, as a C initiator's does.
//
// A goroutine in wait does not notice a read deadline nor Close (which
// waits for it): shutdown wakes it. One goroutine at a time reads and
// waits (the login's, then the session's reader): they share the
// poller's buffers.
type connPoller struct {
	rc  syscall.RawConn
	fds [1]unix.PollFd
	// A read's buffers and results, and the functions given to rc.Read
	// (made once: a closure per read would be an allocation per read).
	iov        [2][]byte
	rn, rm     int
	rerr       error
	readvOnce  func(fd uintptr)      // reads once (through rc.Control: it never waits)
	readvUntil func(fd uintptr) bool // waits in the network poller while empty
	// A wait's events, deadline and result, and the function given to
	// rc.Control for it (made once, as the read functions).
	wEvents         int16
	wNow, wDeadline time.Time
	werr            error
	waitFn          func(fd uintptr)
	// waiting is set around a wait, closing by closeWake: each checks
	// the other's flag after setting its own, so either the wait sees
	// closing or closeWake sees the wait.
	waiting atomic.Bool
	closing atomic.Bool
}

// newConnPoller returns a poller of nc's socket, or nil if nc has none.
func newConnPoller(nc net.Conn) *connPoller {
	rc := connRaw(nc)
	if rc == nil {
		return nil
	}
	p := &connPoller{rc: rc}
	p.readvOnce = func(fd uintptr) { p.readv(int(fd)) }
	p.readvUntil = func(fd uintptr) bool {
		p.readv(int(fd))
		return p.rn > 0 || p.rerr != nil
	}
	p.waitFn = p.pollFD
	return p
}

// tryRead reads into b what the socket holds, without waiting: it
// returns 0 and a nil error when the socket holds nothing, and io.EOF at
// the end of the stream.
func (p *connPoller) tryRead(b []byte) (int, error) {
	n, _, err := p.tryReadv(b, nil)
	return n, err
}

// tryReadv reads into b, then into la, what the socket holds, without
// waiting (as tryRead): a read that takes a data segment into its
// command's buffer takes what follows (the next header, or answers)
// along with it when it is there already. It returns the bytes read into
// b and into la.
func (p *connPoller) tryReadv(b, la []byte) (n, m int, err error) {
	p.iov = [2][]byte{b, la}
	err = p.rc.Control(p.readvOnce)
	return p.readResult(err)
}

// readvNetpoll is tryReadv that waits in Go's network poller while the
// socket is empty (bounded by the connection's read deadline).
func (p *connPoller) readvNetpoll(b, la []byte) (n, m int, err error) {
	p.iov = [2][]byte{b, la}
	err = p.rc.Read(p.readvUntil)
	return p.readResult(err)
}

// readResult returns the results of a read into p.iov (err: the
// RawConn's) and clears them.
func (p *connPoller) readResult(err error) (n, m int, _ error) {
	n, m = p.rn, p.rm
	if err == nil {
		err = p.rerr
	}
	p.iov, p.rerr = [2][]byte{}, nil
	return n, m, err
}

// readv is one readv(2) of fd into p.iov, its results in p.rn, p.rm and
// p.rerr: 0, 0 and nil when the socket is empty, io.EOF at the end of
// the stream.
func (p *connPoller) readv(fd int) {
	p.rn, p.rm, p.rerr = 0, 0, nil
	b, la := p.iov[0], p.iov[1]
	iov := p.iov[:]
	if len(la) == 0 {
		iov = iov[:1]
	}
	for {
		k, e := unix.Readv(fd, iov)
		switch {
		case e == unix.EINTR:
			continue
		case e == unix.EAGAIN:
		case e != nil:
			p.rerr = e
		case k == 0:
			p.rerr = io.EOF
		case k < 0 || k > len(b)+len(la):
			p.rerr = io.ErrNoProgress
		default:
			p.rn = min(k, len(b))
			p.rm = k - p.rn
		}
		return
	}
}

// wait blocks in poll(2) until the socket is ready for events (POLLIN,
// POLLOUT), has failed or has been shut down, or until deadline (if not
// zero) has passed, which it reports as os.ErrDeadlineExceeded. now, if
// not zero, is the time the caller read just before: the first poll's
// timeout counts from it instead of another clock read.
func (p *connPoller) wait(events int16, now, deadline time.Time) error {
	p.waiting.Store(true)
	defer p.waiting.Store(false)
	if p.closing.Load() {
		return net.ErrClosed
	}
	p.wEvents, p.wNow, p.wDeadline = events, now, deadline
	err := p.rc.Control(p.waitFn)
	if err == nil {
		err = p.werr // pollFD ran and set it
	}
	return err
}

// pollFD is wait's poll(2) on fd, for p.wEvents until p.wDeadline; it
// always sets p.werr to its result.
func (p *connPoller) pollFD(fd uintptr) {
	p.fds[0] = unix.PollFd{Fd: int32(fd), Events: p.wEvents}
	p.werr = connPollUntil(p.fds[:], p.wNow, p.wDeadline)
}

// connPollUntil waits in poll(2) until one of fds is ready (or has
// failed) or deadline, if not zero, has passed, which it reports as
// os.ErrDeadlineExceeded; an interrupted wait goes on. now, if not zero,
// is the current time as the caller read it, for the first poll's
// timeout.
func connPollUntil(fds []unix.PollFd, now, deadline time.Time) error {
	for {
		timeout := time.Duration(-1)
		if !deadline.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if timeout = deadline.Sub(now); timeout <= 0 {
				return os.ErrDeadlineExceeded
			}
			now = time.Time{} // a poll that returns early reads the clock again
		}
		n, err := connPoll(fds, timeout)
		if err == unix.EINTR || err == nil && n == 0 {
			continue // the loop sees a deadline that passed
		}
		return err
	}
}

// writeAll writes what cw holds, waiting in poll(2) while the socket is
// full, until deadline (if not zero); cw is empty afterwards either way.
func (p *connPoller) writeAll(cw *vecwrite.Collector, deadline time.Time) error {
	for {
		done, err := cw.TryWrite(p.rc)
		if err == nil && !done {
			err = p.wait(unix.POLLOUT, time.Time{}, deadline)
		}
		if err != nil {
			cw.Reset()
			return err
		}
		if done {
			return nil
		}
	}
}

// closeWake prepares the socket's Close: it wakes a goroutine in wait
// (with shutdown), and makes later waits fail at once. A connection
// read without waiting costs no system call.
func (p *connPoller) closeWake() {
	p.closing.Store(true)
	if p.waiting.Load() {
		p.shutdown()
	}
}

// shutdown shuts the socket down in both directions, which wakes a
// goroutine in wait (and fails its next read). It is for a connection
// about to be closed.
func (p *connPoller) shutdown() {
	p.rc.Control(func(fd uintptr) {
		syscall.Shutdown(int(fd), syscall.SHUT_RDWR)
	})
}
