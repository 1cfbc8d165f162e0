package initiator

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lunarsan/lunar/target"
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

func TestConnReaderPollStream(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.spins = &connSpinState{} // this reader's own, not the process's
	buf := make([]byte, 16)

	// An answer that is there is read, and counts as a hit.
	br.streamHits = 100
	connTestWrite(t, server, "data")
	connTestReadable(t, br)
	n, m, polled, err := br.pollStream(buf, nil, time.Now())
	if n != 4 || m != 0 || !polled || err != nil || string(buf[:4]) != "data" {
		t.Fatalf("pollStream with an answer waiting = %d, %d, %v, %v (%q), want 4, 0, true, nil (data)", n, m, polled, err, buf[:n])
	}
	if want := 100 + (streamHitsAll-100)/streamHitsWeight; br.streamHits != want {
		t.Fatalf("streamHits after a hit = %d, want %d", br.streamHits, want)
	}

	// Nothing comes: the poll gives up once connStreamSpin has passed,
	// counts a miss and lets the next one poll.
	br.streamHits = streamHitsAll
	start := time.Now()
	if n, m, polled, err := br.pollStream(buf, nil, start); n != 0 || m != 0 || !polled || err != nil {
		t.Fatalf("pollStream with nothing to read = %d, %d, %v, %v, want 0, 0, true, nil", n, m, polled, err)
	}
	if d := time.Since(start); d < connStreamSpin {
		t.Fatalf("pollStream gave up after %v, before connStreamSpin (%v)", d, connStreamSpin)
	}
	if want := streamHitsAll - streamHitsAll/streamHitsWeight; br.streamHits != want {
		t.Fatalf("streamHits after a miss = %d, want %d", br.streamHits, want)
	}
	if br.spins.busy.Load() {
		t.Fatal("pollStream left the state busy")
	}

	// Another goroutine polls: this one does not, even with an answer
	// waiting.
	connTestWrite(t, server, "more")
	connTestReadable(t, br)
	br.spins.busy.Store(true)
	if n, _, polled, err := br.pollStream(buf, nil, time.Now()); n != 0 || polled || err != nil {
		t.Fatalf("pollStream while another goroutine polls = %d, %v, %v, want 0, false, nil", n, polled, err)
	}
	br.spins.busy.Store(false)

	// Polls that mostly missed of late: only every streamProbeEvery-th
	// wait polls.
	br.streamHits = streamHitsMin - 1
	for i := 1; i < streamProbeEvery; i++ {
		if n, _, polled, err := br.pollStream(buf, nil, time.Now()); n != 0 || polled || err != nil {
			t.Fatalf("wait %d after misses: pollStream = %d, %v, %v, want no poll", i, n, polled, err)
		}
	}
	if n, _, polled, err := br.pollStream(buf, nil, time.Now()); n != 4 || !polled || err != nil || string(buf[:4]) != "more" {
		t.Fatalf("probe after %d waits = %d, %v, %v (%q), want 4, true, nil (more)", streamProbeEvery, n, polled, err, buf[:n])
	}
	if br.streamSkips != 0 {
		t.Fatalf("streamSkips = %d after the probe, want 0", br.streamSkips)
	}

	// The end of the stream ends the poll at once.
	server.Close()
	br.streamHits = streamHitsAll
	if n, _, polled, err := br.pollStream(buf, nil, time.Now()); n != 0 || !polled || err != io.EOF {
		t.Fatalf("pollStream at the end of the stream = %d, %v, %v, want 0, true, io.EOF", n, polled, err)
	}
}

// Polling misses steadily (nothing comes): after a run of misses the
// reader stops polling but for probes, and a run of hits brings the
// polling back.
func TestConnReaderPollStreamLearns(t *testing.T) {
	client, server := connTestPair(t)
	br := connTestKernelReader(t, client)
	br.spins = &connSpinState{}
	buf := make([]byte, 16)
	misses := 0
	for br.streamHits >= streamHitsMin {
		if _, _, polled, err := br.pollStream(buf, nil, time.Now().Add(-connStreamSpin)); !polled || err != nil {
			t.Fatalf("miss %d: polled %v, %v", misses, polled, err)
		}
		misses++
	}
	if misses < 8 {
		t.Fatalf("polling stopped after %d misses in a row, want a few stray misses to be tolerated", misses)
	}
	hits := 0
	for br.streamHits < streamHitsMin {
		connTestWrite(t, server, "x")
		connTestReadable(t, br)
		for {
			n, _, polled, err := br.pollStream(buf, nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if polled {
				if n != 1 {
					t.Fatalf("probe read %d bytes, want 1", n)
				}
				break
			}
		}
		hits++
	}
	if hits > 20 {
		t.Fatalf("polling came back after %d hits, want it sooner", hits)
	}
}

// Config.BusyPoll: the session's reader polls by default, and not with
// BoolNo; either way asynchronous reads return the LUN's data.
func TestSessionBusyPoll(t *testing.T) {
	e := sessStart(t, target.ServerConfig{})
	for _, tc := range []struct {
		busyPoll Bool
		want     bool
	}{{BoolDefault, true}, {BoolYes, true}, {BoolNo, false}} {
		cfg := e.config()
		cfg.BusyPoll = tc.busyPoll
		s := sessDial(t, cfg)
		s.mu.Lock()
		got := s.conn.br.streamPoll
		s.mu.Unlock()
		if got != tc.want {
			t.Fatalf("BusyPoll %v: reader polls %v, want %v", tc.busyPoll, got, tc.want)
		}
		want := sessPattern(3, int(tc.busyPoll), sessTestBlock*4)
		sessExec(t, s, sessWriteCmd(t, 3, want))
		const n = 16
		done := make(chan error, n)
		bufs := make([][]byte, n)
		for i := range bufs {
			bufs[i] = make([]byte, len(want))
			if err := s.Start(context.Background(), sessReadCmd(t, 3, bufs[i]), func(_ Response, err error) { done <- err }); err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
		for i := range bufs {
			if err := <-done; err != nil {
				t.Fatalf("BusyPoll %v: read %d: %v", tc.busyPoll, i, err)
			}
		}
		for i, b := range bufs {
			if !bytes.Equal(b, want) {
				t.Fatalf("BusyPoll %v: read %d returned other data than written", tc.busyPoll, i)
			}
		}
		s.Close()
	}
}
