package initiator

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lunarsan/lunar/internal/vecwrite"
)

// sockPair dials a listener on 127.0.0.1 with dialSock and returns both
// ends.
func sockPair(t *testing.T, keepAlive bool) (*sockConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dialSock(ln.Addr().String(), 3, keepAlive, time.Now().Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return c, peer
}

func TestSockConnOptions(t *testing.T) {
	for _, ka := range []bool{false, true} {
		c, _ := sockPair(t, ka)
		want := map[string][3]int{
			"TCP_NODELAY":  {unix.IPPROTO_TCP, unix.TCP_NODELAY, 1},
			"TCP_SYNCNT":   {unix.IPPROTO_TCP, unix.TCP_SYNCNT, 3},
			"SO_KEEPALIVE": {unix.SOL_SOCKET, unix.SO_KEEPALIVE, 0},
		}
		if ka {
			want["SO_KEEPALIVE"] = [3]int{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1}
			want["TCP_KEEPIDLE"] = [3]int{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15}
			want["TCP_KEEPCNT"] = [3]int{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9}
		}
		for name, w := range want {
			v, err := unix.GetsockoptInt(c.fd, w[0], w[1])
			if err != nil || v != w[2] {
				t.Errorf("keepalive %v: %s = %d (%v), want %d", ka, name, v, err, w[2])
			}
		}
	}
}

// TestSockConnRawUntilNeeded: writes and reads that need no wait stay
// out of Go's network poller; a deadline promotes the socket, which then
// reads, times out and fails as a net.Conn of Go's does.
func TestSockConnRawUntilNeeded(t *testing.T) {
	c, peer := sockPair(t, false)
	var cw vecwrite.Collector
	cw.Write([]byte("hello "))
	cw.Write([]byte("target"))
	if done, err := cw.TryWrite(&c.raw); !done || err != nil {
		t.Fatalf("TryWrite: %v, %v", done, err)
	}
	got := make([]byte, 12)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "hello target" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	p := newConnPoller(c)
	if n, err := p.tryRead(got); n != 0 || err != nil {
		t.Fatalf("tryRead of an empty socket: %d, %v", n, err)
	}
	peer.Write([]byte("answer"))
	if err := p.wait(connPollIn, time.Time{}, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := p.tryRead(got); n != 6 || err != nil || string(got[:n]) != "answer" {
		t.Fatalf("tryRead: %q, %v", got[:n], err)
	}
	if c.SetReadDeadline(time.Time{}) != nil || c.file.Load() != nil {
		t.Fatal("clearing a deadline that was never set promoted the socket")
	}
	if c.file.Load() != nil {
		t.Fatal("the socket was promoted by reads and writes that did not wait")
	}

	if err := c.SetReadDeadline(time.Now().Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if c.file.Load() == nil {
		t.Fatal("a deadline did not promote the socket")
	}
	_, err := c.Read(got)
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) || !oe.Timeout() || oe.Op != "read" {
		t.Fatalf("read past the deadline: %#v; want a *net.OpError timing out", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	peer.Write([]byte("more"))
	if n, err := c.Read(got); err != nil || string(got[:n]) != "more" {
		t.Fatalf("read after the deadline was cleared: %q, %v", got[:n], err)
	}
	if la, ok := c.LocalAddr().(*net.TCPAddr); !ok || la.String() != peer.RemoteAddr().String() {
		t.Errorf("LocalAddr %v, peer sees %v", c.LocalAddr(), peer.RemoteAddr())
	}
}

// TestSockConnRawReadWaits: a raw read whose function asks to wait
// promotes the socket and waits in the network poller.
func TestSockConnRawReadWaits(t *testing.T) {
	c, peer := sockPair(t, false)
	buf := make([]byte, 8)
	var n int
	calls := 0
	errc := make(chan error, 1)
	go func() {
		errc <- c.raw.Read(func(fd uintptr) bool {
			calls++
			k, err := unix.Read(int(fd), buf)
			if err == unix.EAGAIN {
				return false
			}
			n = k
			return true
		})
	}()
	peer.Write([]byte("late"))
	if err := <-errc; err != nil || string(buf[:n]) != "late" {
		t.Fatalf("raw read: %q, %v", buf[:n], err)
	}
	if calls > 1 && c.file.Load() == nil {
		t.Error("a raw read waited without promoting the socket")
	}
}

// sockPromotedRead returns a promoted sockPair and the result of a
// one-byte Read of it started in another goroutine.
func sockPromotedRead(t *testing.T) (*sockConn, net.Conn, <-chan error) {
	t.Helper()
	c, peer := sockPair(t, false)
	if _, err := c.promote(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	return c, peer, errc
}

// TestSockConnCloseWakesPromotedRead: Close wakes a read waiting in the
// network poller (or one about to), which fails with net.ErrClosed.
func TestSockConnCloseWakesPromotedRead(t *testing.T) {
	c, _, errc := sockPromotedRead(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read during Close: %v; want net.ErrClosed", err)
	}
}

// waitIOWait waits until a goroutine of the test binary is parked in
// the network poller (its stack reads "IO wait").
func waitIOWait(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); runtime.Gosched() {
		if bytes.Contains(buf[:runtime.Stack(buf, true)], []byte("[IO wait")) {
			return
		}
	}
	t.Fatal("no goroutine waits in the network poller after 5 s")
}

// TestSockConnCloseInPromotedControl: Control on a promoted socket runs
// under a raw reference. A Close during it wakes a read waiting in the
// network poller at once (net.ErrClosed), while the descriptor stays
// open until Control returns.
func TestSockConnCloseInPromotedControl(t *testing.T) {
	c, peer, errc := sockPromotedRead(t)
	waitIOWait(t)
	var readErr, inside error
	err := c.raw.Control(func(fd uintptr) {
		c.Close()
		select {
		case readErr = <-errc:
		case <-time.After(5 * time.Second):
			readErr = errors.New("still waiting 5 s after Close")
		}
		_, inside = unix.Getsockname(int(fd))
	})
	if err != nil || inside != nil {
		t.Fatalf("Control %v, getsockname after Close inside it: %v", err, inside)
	}
	if !errors.Is(readErr, net.ErrClosed) {
		t.Fatalf("read waiting during Close: %v; want net.ErrClosed", readErr)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer read %v after Control returned; want EOF (descriptor closed)", err)
	}
}

// TestSockConnCloseWaitsForRawCalls: a descriptor in use by a raw call
// stays open through Close, and is closed when the call returns; every
// call after Close fails with net.ErrClosed.
func TestSockConnCloseWaitsForRawCalls(t *testing.T) {
	for _, promoted := range []bool{false, true} {
		c, peer := sockPair(t, false)
		if promoted {
			if _, err := c.promote(); err != nil {
				t.Fatal(err)
			}
		}
		var inside error
		err := c.raw.Control(func(fd uintptr) {
			c.Close()
			_, inside = unix.Getsockname(int(fd))
		})
		if err != nil || inside != nil {
			t.Fatalf("promoted %v: Control %v, getsockname after Close inside it: %v", promoted, err, inside)
		}
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("promoted %v: peer read %v after the call returned; want EOF (descriptor closed)", promoted, err)
		}
		if err := c.raw.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
			t.Errorf("promoted %v: Control after Close: %v", promoted, err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("promoted %v: Write after Close: %v", promoted, err)
		}
		if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("promoted %v: SetDeadline after Close: %v", promoted, err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("promoted %v: second Close: %v", promoted, err)
		}
	}
}

// TestSockConnWriteToWaits: a Collector's blocking write to a sockConn
// goes on through a full socket (waiting in the network poller) and
// delivers every byte in order.
func TestSockConnWriteToWaits(t *testing.T) {
	c, peer := sockPair(t, false)
	// A small send buffer fills up whatever the machine's TCP settings.
	if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 16<<10); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	var cw vecwrite.Collector
	for i := range 64 {
		b := bytes.Repeat([]byte{byte(i)}, 64<<10+i)
		want.Write(b)
		cw.Write(b)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(want.Len())))
		got <- b
	}()
	if err := cw.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("peer got %d bytes, not the %d written in order", len(b), want.Len())
	}
	if c.file.Load() == nil {
		t.Error("4 MiB went through without the socket ever filling up")
	}
}

func TestDialSockErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	portal := ln.Addr().String()
	ln.Close()
	_, err = dialSock(portal, 3, false, time.Now().Add(5*time.Second))
	if !errors.Is(err, syscall.ECONNREFUSED) || !strings.Contains(err.Error(), "dial tcp "+portal+": connect: ") {
		t.Errorf("dialSock to %s where nothing listens: %v", portal, err)
	}
	for _, p := range []string{"localhost:3260", "[fe80::1%lo]:3260", "127.0.0.1"} {
		if _, err := dialSock(p, 3, false, time.Now().Add(time.Second)); err != errSockPortal {
			t.Errorf("dialSock(%q): %v; want errSockPortal", p, err)
		}
	}
}
