package initiator

import (
	"io"
	"net"
	"testing"
	"time"
)

// connTestReadable waits in the kernel until the client end of a pair
// holds something to read.
func connTestReadable(t *testing.T, br *connReader) {
	t.Helper()
	if err := br.poll.wait(connPollIn, time.Time{}, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// connTestWrite writes s to nc, failing the test on error.
func connTestWrite(t *testing.T, nc net.Conn, s string) {
	t.Helper()
	if _, err := nc.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestConnReaderSpin(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	st := &connSpinState{} // this reader's own, not the process's
	br.spins = st
	buf := make([]byte, 16)

	// An answer that is there is read.
	st.avg.Store(0)
	connTestWrite(t, server, "ping")
	connTestReadable(t, br)
	if n, m, err := br.spin(buf, nil, time.Now()); n != 4 || m != 0 || err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("spin with an answer waiting = %d, %d, %v (%q), want 4, 0, nil (ping)", n, m, err, buf[:n])
	}

	// Answers of late took longer than connSpin: no polling, even with
	// one waiting.
	st.avg.Store(int64(connSpin) + 1)
	connTestWrite(t, server, "slow")
	connTestReadable(t, br)
	if n, m, err := br.spin(buf, nil, time.Now()); n != 0 || m != 0 || err != nil {
		t.Fatalf("spin after slow answers = %d, %d, %v, want no read", n, m, err)
	}

	// Another goroutine polls: this one does not.
	st.avg.Store(0)
	st.busy.Store(true)
	if n, m, err := br.spin(buf, nil, time.Now()); n != 0 || m != 0 || err != nil {
		t.Fatalf("spin while another goroutine polls = %d, %d, %v, want no read", n, m, err)
	}
	st.busy.Store(false)
	// What spin left is read as usual.
	if _, err := io.ReadFull(br, buf[:4]); err != nil || string(buf[:4]) != "slow" {
		t.Fatalf("read %q, %v, want slow", buf[:4], err)
	}

	// Nothing comes: spin gives up once connSpin has passed, and lets
	// the next one poll.
	start := time.Now()
	if n, m, err := br.spin(buf, nil, start); n != 0 || m != 0 || err != nil {
		t.Fatalf("spin with nothing to read = %d, %d, %v", n, m, err)
	}
	if d := time.Since(start); d < connSpin {
		t.Fatalf("spin gave up after %v, before connSpin (%v)", d, connSpin)
	}
	if st.busy.Load() {
		t.Fatal("spin left the state busy")
	}

	// The end of the stream ends the poll at once.
	server.Close()
	if n, _, err := br.spin(buf, nil, time.Now()); n != 0 || err != io.EOF {
		t.Fatalf("spin at the end of the stream = %d, %v, want 0, io.EOF", n, err)
	}
}

// A single answer's wait (kernelSlice set) adds how long it took to
// the average, whether it polled or slept: a target that answers
// within connSpin again is polled for again.
func TestConnReaderSingleAnswerLearns(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	st := &connSpinState{} // this reader's own, not the process's
	br.spins = st
	br.kernelSlice = connKernelSlice
	// As after a slow target: no polling, the read sleeps in poll(2).
	st.avg.Store(int64(time.Second))
	connTestWrite(t, server, "answer")
	br.expectWait() // a request was just sent
	got := make([]byte, 6)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "answer" {
		t.Fatalf("read %q, %v", got, err)
	}
	if avg := st.avg.Load(); avg >= int64(time.Second) {
		t.Fatalf("average = %v after a quick answer, want below 1s", time.Duration(avg))
	}
	// A read that is not a single answer's wait (the session's reader)
	// leaves it alone.
	br.kernelSlice = 0
	st.avg.Store(int64(time.Second))
	connTestWrite(t, server, "stream")
	br.expectWait()
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "stream" {
		t.Fatalf("read %q, %v", got, err)
	}
	if avg := st.avg.Load(); avg != int64(time.Second) {
		t.Fatalf("average = %v after a session read, want it unchanged (1s)", time.Duration(avg))
	}
}

func TestConnSpinStateSeen(t *testing.T) {
	st := &connSpinState{}
	st.seen(80 * time.Microsecond)
	if got := st.avg.Load(); got != int64(10*time.Microsecond) {
		t.Fatalf("avg after 80µs from 0 = %v, want 10µs (a weight of 1/8)", time.Duration(got))
	}
	st.avg.Store(int64(800 * time.Microsecond))
	for range 40 {
		st.seen(40 * time.Microsecond)
	}
	if got := time.Duration(st.avg.Load()); got > connSpin {
		t.Fatalf("avg after 40 answers of 40µs = %v, want it back within connSpin (%v)", got, connSpin)
	}
}
