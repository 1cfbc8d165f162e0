package vecwrite

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TryWrite writes what the socket takes and keeps the rest, in order;
// WriteTo writes the rest once the peer reads.
func TestCollectorTryWrite(t *testing.T) {
	a, b := tcpPair(t)
	a.SetWriteBuffer(16 << 10)
	b.SetReadBuffer(16 << 10)
	var want bytes.Buffer
	var c Collector
	for i := range 3000 { // more buffers than one writev takes
		p := bytes.Repeat([]byte{byte(i)}, 1+i%700)
		want.Write(p)
		c.Write(p)
	}
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.TryWrite(rc)
	if err != nil || done {
		t.Fatalf("TryWrite of %d bytes to a peer that does not read = %v, %v; want a partial write", want.Len(), done, err)
	}
	left := 0
	for _, p := range c.Bufs {
		left += len(p)
	}
	if left == 0 || left == want.Len() {
		t.Fatalf("%d of %d bytes left", left, want.Len())
	}
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(b)
		got <- buf
	}()
	if err := c.WriteTo(a); err != nil {
		t.Fatal(err)
	}
	if len(c.Bufs) != 0 {
		t.Fatalf("%d buffers kept after WriteTo", len(c.Bufs))
	}
	a.CloseWrite()
	if g := <-got; !bytes.Equal(g, want.Bytes()) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(g), want.Len())
	}

	// Everything fits: done, nothing kept.
	c.Write([]byte("abc"))
	c.Write([]byte("def"))
	a2, b2 := tcpPair(t)
	rc2, _ := a2.SyscallConn()
	if done, err := c.TryWrite(rc2); !done || err != nil || len(c.Bufs) != 0 {
		t.Fatalf("TryWrite of 6 bytes = %v, %v, %d kept", done, err, len(c.Bufs))
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(b2, buf); err != nil || string(buf) != "abcdef" {
		t.Fatalf("read %q, %v", buf, err)
	}
	// A closed socket: an error.
	a2.Close()
	c.Write([]byte("x"))
	if _, err := c.TryWrite(rc2); err == nil {
		t.Fatal("TryWrite on a closed socket: no error")
	}
}

// TryWrite allocates nothing, and a Collector copied after its first
// TryWrite writes its own buffers, not the original's.
func TestCollectorTryWriteNoAlloc(t *testing.T) {
	a, b := tcpPair(t)
	rc, err := a.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("0123456789")
	var c Collector
	allocs := testing.AllocsPerRun(100, func() {
		c.Write(msg)
		if done, err := c.TryWrite(rc); !done || err != nil {
			t.Fatalf("TryWrite = %v, %v", done, err)
		}
	})
	if allocs != 0 {
		t.Errorf("TryWrite: %v allocations per call, want 0", allocs)
	}
	if _, err := io.ReadFull(b, make([]byte, 101*len(msg))); err != nil {
		t.Fatal(err)
	}

	c2 := c
	c.Reset()
	c2.Bufs = nil
	c2.Write([]byte("copy"))
	if done, err := c2.TryWrite(rc); !done || err != nil || len(c2.Bufs) != 0 {
		t.Fatalf("copied Collector: TryWrite = %v, %v, %d kept", done, err, len(c2.Bufs))
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "copy" {
		t.Fatalf("read %q, %v; want the copy's buffer", got, err)
	}
}

// rawOnlyConn is a connection that is not a *net.TCPConn but gives raw
// access to its socket, as the initiator's bare sockets do.
type rawOnlyConn struct {
	net.Conn
	sc *net.TCPConn
}

func (r rawOnlyConn) SyscallConn() (syscall.RawConn, error) { return r.sc.SyscallConn() }

// countWrites counts the Write calls that reach the connection itself
// (net.Buffers' fallback: one per buffer).
type countWrites struct {
	rawOnlyConn
	writes *int
}

func (c countWrites) Write(p []byte) (int, error) {
	*c.writes++
	return c.rawOnlyConn.Write(p)
}

// WriteTo writes a connection that only gives raw access with writev
// through its RawConn, waits while the socket is full, and keeps no
// empty buffer.
func TestCollectorWriteToRawConn(t *testing.T) {
	a, b := tcpPair(t)
	a.SetWriteBuffer(16 << 10)
	var want bytes.Buffer
	var c Collector
	for i := range 2000 {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%900)
		want.Write(p)
		c.Write(p)
		c.Write(nil)
	}
	if len(c.Bufs) != 2000 {
		t.Fatalf("%d buffers kept for 2000 non-empty and 2000 empty writes", len(c.Bufs))
	}
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(b)
		got <- buf
	}()
	writes := 0
	if err := c.WriteTo(countWrites{rawOnlyConn{a, a}, &writes}); err != nil {
		t.Fatal(err)
	}
	if writes != 0 || len(c.Bufs) != 0 {
		t.Fatalf("WriteTo made %d Write calls and kept %d buffers; want writev through the RawConn and none kept", writes, len(c.Bufs))
	}
	a.CloseWrite()
	if g := <-got; !bytes.Equal(g, want.Bytes()) {
		t.Fatalf("the peer read %d bytes, not the %d written in order", len(g), want.Len())
	}
}
