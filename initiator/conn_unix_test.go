//go:build unix

package initiator

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lunarsan/lunar/internal/vecwrite"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/target"
)

// connTestPair returns the two ends of a loopback TCP connection.
func connTestPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-ch
	if a.err != nil {
		client.Close()
		t.Fatal(a.err)
	}
	t.Cleanup(func() { client.Close(); a.c.Close() })
	return client, a.c
}

// connTestKernelReader returns a reader of nc that waits in the kernel.
func connTestKernelReader(t *testing.T, nc net.Conn) *connReader {
	t.Helper()
	br := newConnReader(nc)
	br.poll = newConnPoller(nc)
	if br.poll == nil {
		t.Fatal("no poller for a TCP connection")
	}
	br.kernelWait = true
	return br
}

func TestConnReaderKernelWait(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	if br.fillNow(48) {
		t.Fatal("fillNow reports data on an idle connection")
	}
	go server.Write([]byte("hello, kernel"))
	got := make([]byte, len("hello, kernel"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "hello, kernel" {
		t.Fatalf("read %q, %v", got, err)
	}
	// What the socket holds is taken in without waiting.
	if _, err := server.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	for !br.fillNow(48) {
		// The bytes are on their way through loopback: wait for them
		// in the kernel, not with a sleep.
		if err := br.poll.wait(connPollIn, time.Time{}, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if br.Buffered() != 4 {
		t.Fatalf("Buffered() = %d after fillNow, want 4", br.Buffered())
	}
	// The end of the stream.
	server.Close()
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "more" {
		t.Fatalf("ReadAll = %q, %v", rest, err)
	}
}

func TestConnReaderKernelDeadline(t *testing.T) {
	client, _ := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.deadline = time.Now().Add(20 * time.Millisecond)
	if _, err := br.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
}

// A wait in the kernel bounded by kernelSlice goes on in the network
// poller: an answer that comes later is still read, and the deadline
// still holds there.
func TestConnReaderKernelSlice(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.kernelSlice = time.Millisecond
	// The answer comes only once the reader has gone past its slice
	// (the server writes after 20 ms, twenty slices).
	go func() {
		time.Sleep(20 * time.Millisecond)
		server.Write([]byte("late"))
	}()
	start := time.Now()
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "late" {
		t.Fatalf("read %q, %v", got, err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("read returned before the answer was written")
	}
	// With a deadline and no answer: the network poller's wait ends at
	// the deadline too, and leaves no deadline behind on the connection.
	br.deadline = time.Now().Add(30 * time.Millisecond)
	if _, err := br.Read(make([]byte, 16)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	br.deadline, br.kernelWait = time.Time{}, false
	go server.Write([]byte("after"))
	got = make([]byte, 5)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "after" {
		t.Fatalf("read after the deadline test: %q, %v (a deadline left set?)", got, err)
	}
}

// A reader waiting in poll(2) notices neither a deadline nor Close:
// closeWake (shutdown) wakes it, after which Close returns.
func TestConnPollerShutdownWakesReader(t *testing.T) {
	client, _ := connTestPair(t)
	br := connTestKernelReader(t, client)
	done := make(chan error, 1)
	go func() {
		_, err := br.Read(make([]byte, 16))
		done <- err
	}()
	// The reader may or may not be in poll(2) yet: it must end either
	// way, and Close must not wait for it.
	br.poll.closeWake()
	br.poll.shutdown()
	if err := <-done; err == nil {
		t.Fatal("Read after shutdown succeeded")
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConnPollerWriteAll(t *testing.T) {
	client, server := connTestPair(t)
	p := newConnPoller(client)
	// More than the socket buffers hold: writeAll waits for the peer.
	msg := make([]byte, 8<<20)
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	cw := &vecwrite.Collector{Bufs: [][]byte{msg[:1000], msg[1000:]}}
	if err := p.writeAll(cw, time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	client.Close()
	if b := <-got; string(b) != string(msg) {
		t.Fatalf("peer read %d bytes, want %d identical", len(b), len(msg))
	}
	// A peer that reads nothing: the deadline ends the write.
	c2, _ := connTestPair(t)
	p2 := newConnPoller(c2)
	cw = &vecwrite.Collector{Bufs: [][]byte{msg}}
	if err := p2.writeAll(cw, time.Now().Add(50*time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("writeAll to a peer that reads nothing: %v, want os.ErrDeadlineExceeded", err)
	}
}

// TCP keepalive is on only when the session's NOP-Out pings are off.
func TestSessionTCPKeepaliveOnlyWithoutPings(t *testing.T) {
	env := sessStart(t, target.ServerConfig{})
	for _, tt := range []struct {
		nop  time.Duration
		want int
	}{{0, 0}, {-1, 1}} {
		cfg := env.config()
		cfg.NOPInterval = tt.nop
		s := sessDial(t, cfg)
		s.mu.Lock()
		rc := connRaw(s.conn.nc)
		s.mu.Unlock()
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		}); err != nil || gerr != nil {
			t.Fatalf("NOPInterval %v: SO_KEEPALIVE: %v %v", tt.nop, err, gerr)
		}
		if got != tt.want {
			t.Errorf("NOPInterval %v: SO_KEEPALIVE %d, want %d", tt.nop, got, tt.want)
		}
		if err := s.Logout(context.Background()); err != nil {
			t.Fatalf("Logout: %v", err)
		}
	}
}

// A read straight into a large buffer takes the next header along when
// it is there already (and no more while headerOnly is set); one that
// falls short marks the socket empty, so fillNow does not try it again.
func TestConnReaderDirectLookahead(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.expectLarge(true)
	seg := bytes.Repeat([]byte{0xd5}, 2*connReadMin)
	next := bytes.Repeat([]byte{0x48}, iscsi.BHSLen)
	// On loopback the bytes are in the socket when Write returns.
	if _, err := server.Write(slices.Concat(seg, next, []byte("data of the next PDU"))); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(seg))
	if n, err := br.Read(got); n != len(seg) || err != nil || !bytes.Equal(got, seg) {
		t.Fatalf("Read = %d, %v; want the %d-byte segment", n, err, len(seg))
	}
	if br.Buffered() != iscsi.BHSLen {
		t.Fatalf("Buffered() = %d after the segment, want the next header (%d)", br.Buffered(), iscsi.BHSLen)
	}
	hdr := make([]byte, iscsi.BHSLen)
	if _, err := io.ReadFull(br, hdr); err != nil || !bytes.Equal(hdr, next) {
		t.Fatalf("header %q, %v", hdr, err)
	}
	// A segment that has not all come: the read falls short.
	got = make([]byte, len(seg))
	if n, err := br.Read(got); n != len("data of the next PDU") || err != nil {
		t.Fatalf("short Read = %d, %v", n, err)
	}
	if _, err := server.Write([]byte("rest")); err != nil {
		t.Fatal(err)
	}
	if br.fillNow(iscsi.BHSLen) || br.Buffered() != 0 {
		t.Fatalf("fillNow read the socket right after a read that found it empty (Buffered %d)", br.Buffered())
	}
	rest := make([]byte, 4)
	if _, err := io.ReadFull(br, rest); err != nil || string(rest) != "rest" {
		t.Fatalf("read %q, %v after the wait", rest, err)
	}
}

// A read in Go's network poller finds out afresh whether the socket is
// empty: a short read before it does not keep fillNow from reading.
func TestConnReaderNetpollClearsDrained(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.kernelWait = false // the network poller's reads
	if _, err := server.Write([]byte("short")); err != nil {
		t.Fatal(err)
	}
	if n, err := br.Read(make([]byte, 2*connReadMin)); n != len("short") || err != nil {
		t.Fatalf("short Read = %d, %v", n, err)
	}
	if _, err := server.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "next" {
		t.Fatalf("read %q, %v", got, err)
	}
	// On loopback the bytes are in the socket when Write returns.
	if _, err := server.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if !br.fillNow(iscsi.BHSLen) || br.Buffered() != 4 {
		t.Fatalf("fillNow did not take in what the socket holds (Buffered %d)", br.Buffered())
	}
}
