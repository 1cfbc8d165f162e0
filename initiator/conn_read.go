package initiator

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// Sizes of a connection's read buffer.
const (
	// connReadMin is the buffer a connection starts with: enough for the
	// Login Responses of common targets (tgt's final one is 328 bytes),
	// so a session that only logs in and out allocates little; a longer
	// one takes a read more, and the buffer grows.
	connReadMin = 1 << 10
	// connReadMax is the largest the buffer grows: room for the answers
	// to a queue depth of small reads, taken in by one read.
	connReadMax = 64 << 10
)

// connReader is the buffered reader in front of a connection. Unlike
// bufio.Reader it starts small and doubles up to connReadMax each time a
// read fills it, so a short-lived session costs little memory while a
// busy one takes in many answers per read; like bufio.Reader, a read at
// least as large as the buffer goes straight into the caller's memory
// when nothing is buffered (Data-In into the command's buffer).
type connReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	grow       bool // the last fill filled buf: grow it once it is empty
	err        error
	// headerOnly makes reads bypass the empty buffer: set while the
	// answers carry data segments too big for it, so that a header is
	// read alone and its data segment straight into the command's buffer
	// instead of through (and copied out of) this one.
	headerOnly bool
	// poll, when set, reads r's socket without Go's network poller:
	// for fillNow, and for every read while kernelWait is set, which
	// then waits in the kernel (see connPoller).
	poll       *connPoller
	kernelWait bool
	deadline   time.Time // bounds the waits in the kernel, if not zero
	// kernelSlice, when not zero, bounds each wait in the kernel: the
	// read goes on in the network poller after it (see readConn).
	kernelSlice time.Duration
	// due, when set, runs before each wait for the connection (the
	// session's keepalive) and returns when it must run again: no wait
	// lasts past that. A wait in Go's network poller is bounded by a read
	// deadline for it, armed, kept while it is early enough and cleared
	// before any wait in the kernel (a pending deadline is a pending
	// timer, which makes an idle thread of the runtime wait in the
	// network poller and wake for every answer).
	due   func(now time.Time) time.Time
	armed time.Time
	// drained is set when fillNow found the socket empty, or by
	// expectWait: the next read waits for it first instead of trying a
	// read that would fail.
	drained bool
	// spins is the state polling for single answers shares (see
	// connSpin): connSpinShared but in tests.
	spins *connSpinState
	// streamPoll makes the waits in the kernel of a reader without
	// kernelSlice (the session's, for the commands in flight) poll the
	// socket first (see pollStream). streamHits is the moving share of
	// those polls that found their answer, in 256ths, and streamSkips
	// counts the waits that did not poll since the last one that did.
	streamPoll  bool
	streamHits  int
	streamSkips int
}

// connKernelSlice bounds a single answer's wait in the kernel (a login's,
// a logout's): a target in another process answers well within it, and
// past it the wait goes on in the network poller (readNetpoll), so that
// a target in this process, or anything else that waits there, is not
// held up for milliseconds: with lunar's target in this process, a
// login+logout cycle (BenchmarkSessionLoginLogout) took 3.3 ms without
// the bound, 0.3 to 0.5 ms with it (0.2 ms waiting in the network poller
// alone); against tgtd it changed nothing measurable.
const connKernelSlice = time.Millisecond

// connYieldEvery is how often a reader that waits in the kernel yields
// its P (see readConn): within the 10 ms after which the runtime's
// monitor preempts a goroutine that has not been rescheduled, with room
// for a batch of answers before the next wait. Each yield wakes an idle
// thread of the runtime and puts it back to sleep (two futex calls and
// a thread wake-up): at 128 KiB reads against tgtd, yielding every 8 ms
// instead of every 4 took the reader's futex calls from 2,459 to 1,453
// in a 4 s run, with no preemption signal either way.
const connYieldEvery = 8 * time.Millisecond

// connYielded is when a reader that waits in the kernel last yielded, in
// nanoseconds since connEpoch: one clock for all connections, so that a
// short-lived one (a login) does not yield at its first wait.
var (
	connEpoch   = time.Now()
	connYielded atomic.Int64
)

// expectLarge says whether the PDUs that come carry data segments
// larger than the buffer.
func (b *connReader) expectLarge(large bool) { b.headerOnly = large }

// newConnReader returns a reader of r with the smallest buffer.
func newConnReader(r io.Reader) *connReader {
	return &connReader{r: r, buf: make([]byte, connReadMin), spins: &connSpinShared, streamHits: streamHitsAll}
}

// fillNow reads into the empty buffer what the connection holds already,
// without waiting, and reports whether anything came (or an error, which
// the next Read returns); nothing when the last read found the socket
// empty. At most want bytes are read while headerOnly
// is set, so that a data segment still lands in its command's buffer.
func (b *connReader) fillNow(want int) bool {
	if b.poll == nil || b.start != b.end || b.err != nil || b.drained {
		// A read that fell short just now found the socket empty: no
		// read to find it empty again.
		return b.err != nil
	}
	b.regrow()
	p := b.buf
	if b.headerOnly {
		p = p[:min(want, len(p))]
	}
	n, err := b.poll.tryRead(p)
	if n < 0 || n > len(p) {
		n, err = 0, io.ErrNoProgress
	}
	b.filled(n)
	b.err = err
	b.drained = n == 0 && err == nil
	return n > 0 || err != nil
}

// regrow doubles the empty buffer, up to connReadMax, when the last fill
// filled it.
func (b *connReader) regrow() {
	if b.grow {
		b.grow = false
		b.buf = make([]byte, min(2*len(b.buf), connReadMax))
	}
}

// filled records a fill of the buffer with n bytes; a full one grows
// before the next fill.
func (b *connReader) filled(n int) {
	b.start, b.end = 0, n
	b.grow = n == len(b.buf) && n < connReadMax
}

// expectWait says that nothing is likely to be there to read yet (a
// request was just sent): the next read that waits in the kernel waits
// before it reads, sparing a read that would find nothing. What was sent
// before is not lost: the wait ends at once if it is there.
func (b *connReader) expectWait() {
	if b.start == b.end {
		b.drained = true
	}
}

// Buffered returns how many bytes can be read without reading r.
func (b *connReader) Buffered() int { return b.end - b.start }

// Read reads into p from the buffer, or from r when the buffer is empty.
func (b *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if b.start == b.end {
		if b.err != nil {
			err := b.err
			b.err = nil
			return 0, err
		}
		b.regrow()
		if len(p) >= len(b.buf) {
			return b.readDirect(p)
		}
		if b.headerOnly {
			n, _, err := b.readConn(p, nil)
			return n, err
		}
		n, _, err := b.readConn(b.buf, nil)
		if n < 0 || n > len(b.buf) {
			b.filled(0)
			return 0, io.ErrNoProgress
		}
		b.filled(n)
		if n == 0 {
			if err == nil {
				err = io.ErrNoProgress
			}
			return 0, err
		}
		// An error that came with data is returned after the data.
		b.err = err
	}
	n := copy(p, b.buf[b.start:b.end])
	b.start += n
	return n, nil
}

// readDirect reads into p, larger than the empty buffer, straight from
// the connection (a data segment into its command's buffer), and takes
// into the buffer what follows when it is there already: the next
// header alone while headerOnly is set (its data segment goes to its
// own command's buffer), otherwise as much as the buffer holds. A
// stream of large Data-In PDUs then takes one read per PDU, not two. A
// read that falls short of both leaves the socket empty: the next read
// waits for it first.
func (b *connReader) readDirect(p []byte) (int, error) {
	if b.poll == nil {
		return b.r.Read(p)
	}
	la := b.buf
	if b.headerOnly {
		la = la[:min(len(la), iscsi.BHSLen)]
	}
	n, m, err := b.readConn(p, la)
	if m > 0 {
		b.filled(m)
	}
	if err == nil && n+m < len(p)+len(la) {
		b.drained = true
	}
	return n, err
}

// readConn reads from r into p and, with a poller, into la what follows
// (see readDirect); it waits in the kernel while kernelWait is set. It
// returns the bytes read into p and into la.
func (b *connReader) readConn(p, la []byte) (int, int, error) {
	if b.poll == nil || !b.kernelWait {
		// Whatever drained said, this read finds out afresh.
		b.drained = false
		return b.readNetpoll(p, la)
	}
	if !b.armed.IsZero() {
		if err := b.arm(time.Time{}); err != nil {
			return 0, 0, err
		}
	}
	var asked time.Time // when a single answer's wait found the socket empty
	for {
		if b.drained {
			b.drained = false
		} else if n, m, err := b.poll.tryReadv(p, la); n > 0 || err != nil {
			if !asked.IsZero() {
				b.spins.seen(time.Since(asked))
			}
			return n, m, err
		}
		if b.kernelSlice > 0 {
			// A single answer's wait (a login's, a logout's): poll
			// for it briefly before sleeping (see connSpin).
			if asked.IsZero() {
				asked = time.Now()
			}
			if n, m, err := b.spin(p, la, asked); n > 0 || err != nil {
				b.spins.seen(time.Since(asked))
				return n, m, err
			}
		}
		// A goroutine that never yields is preempted by the runtime's
		// monitor after 10 ms, which takes its P in the system call and
		// brings the monitor back to polling every 20 µs: yield every
		// few milliseconds, before a wait. Not before every wait: a
		// yield wakes an idle thread to look for work.
		now := time.Now() // the one clock read of a wait that sleeps at once
		if t := int64(now.Sub(connEpoch)); t-connYielded.Load() >= int64(connYieldEvery) {
			connYielded.Store(t)
			runtime.Gosched()
			now = time.Now()
		}
		if b.streamPoll && b.kernelSlice == 0 {
			if n, m, polled, err := b.pollStream(p, la, now); polled {
				if n > 0 || err != nil {
					return n, m, err
				}
				now = time.Now()
			}
		}
		until, sliced, woken := b.deadline, false, false
		if b.kernelSlice > 0 || b.due != nil {
			if b.kernelSlice > 0 {
				if s := now.Add(b.kernelSlice); until.IsZero() || s.Before(until) {
					until, sliced = s, true
				}
			}
			if b.due != nil {
				if at := b.due(now); !at.IsZero() && (until.IsZero() || at.Before(until)) {
					until, sliced, woken = at, false, true
				}
			}
		}
		if err := b.poll.wait(connPollIn, now, until); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				switch {
				case woken:
					// Time for the keepalive: it runs before the next
					// wait. The socket was empty until now.
					continue
				case sliced:
					// Slow enough that polling for it is not worth it.
					b.spins.seen(time.Since(asked))
					return b.readNetpoll(p, la)
				}
			}
			return 0, 0, err
		}
	}
}

// Polling for a single answer before sleeping (readConn, spin). A
// target in another process on this machine answers a login or a logout
// within tens of microseconds, less than a thread takes to fall asleep
// in poll(2), let its CPU go idle and be woken on it again (a
// virtualised CPU's idle exit especially): polling the socket until the
// answer comes, while giving the CPU to whoever else wants it between
// tries (the target itself, when it shares the CPU), takes a
// login+logout cycle against tgtd from about 240 to about 170 µs here,
// for no more CPU time (the sleep and the wake-up cost as much). The
// poll lasts at most connSpin (per platform; zero where the CPU cannot
// be handed over), only while the answers of late have come within it
// (a slower target is not polled for), and only in one goroutine of the
// process at a time, so that it never holds up more than one P.

// connSpinState is what polling for single answers learns and shares:
// one per process (connSpinShared), which every connReader uses.
type connSpinState struct {
	// avg is a moving average of how long single answers took, in
	// nanoseconds, from the first read that found the socket empty
	// (zero until one is seen).
	avg atomic.Int64
	// busy is held by the goroutine that polls: for a single answer
	// (spin) or for the answers of its commands in flight (pollStream).
	busy atomic.Bool
}

// connSpinShared is the process's connSpinState.
var connSpinShared connSpinState

// seen adds a single answer's wait to the average, with a weight of 1/8.
func (st *connSpinState) seen(d time.Duration) {
	avg := st.avg.Load()
	st.avg.Store(avg + (int64(d)-avg)/8)
}

// spin polls the socket for a single answer, reading it into p and la
// as tryReadv does, until it comes or connSpin has passed since asked;
// it reads nothing (0, 0, nil) when polling is not worth it now or
// another goroutine polls.
func (b *connReader) spin(p, la []byte, asked time.Time) (int, int, error) {
	if connSpin <= 0 || b.spins.avg.Load() > int64(connSpin) {
		return 0, 0, nil
	}
	n, m, _, err := b.pollFor(p, la, asked, connSpin)
	return n, m, err
}

// pollFor polls the socket, reading into p and la as tryReadv does, with
// sched_yield(2) before each try, until something comes (or an error) or,
// after one try at least, budget has passed since since. It reports
// whether it polled at all: not while another goroutine of the process
// polls (one P at most is held up polling).
func (b *connReader) pollFor(p, la []byte, since time.Time, budget time.Duration) (n, m int, polled bool, err error) {
	st := b.spins
	if !st.busy.CompareAndSwap(false, true) {
		return 0, 0, false, nil
	}
	defer st.busy.Store(false)
	for {
		connYieldCPU()
		if n, m, err = b.poll.tryReadv(p, la); n > 0 || err != nil || time.Since(since) >= budget {
			return n, m, true, err
		}
	}
}

// Polling for the answers of the commands in flight (pollStream).
// Against tgtd on this two-CPU virtual machine, with 128 KiB reads and
// eight commands in flight, the reader found the socket empty about once
// per answer, and the answer came some 100 µs later (4 KiB reads, 32 in
// flight: about 20 µs). A thread that sleeps meanwhile lets its CPU
// halt, and waking a halted virtual CPU costs tens of microseconds more,
// on the reader's side and on the target's. Polling instead, with
// sched_yield(2) between tries so that the target runs whenever it wants
// the CPU, found about 80 % of the 128 KiB answers (and nearly all 4 KiB
// ones) within connStreamSpin. In scripts/bench-initiator.sh (8 rounds)
// it took lunar from 945 to 1024 MiB/s at 128 KiB (libiscsi, which
// sleeps in poll(2): 890) and from 40.0k to 45.5k IOPS at 4 KiB
// (libiscsi 40.6k), for about 7 µs (128 KiB) and 2 µs (4 KiB) more CPU
// time per command. So the session's reader polls for its expected
// answers as long as the polls keep paying: when fewer than a quarter of
// the recent ones found their answer (a target slower or farther away),
// it sleeps at once, and polls only once in streamProbeEvery waits, to
// notice a target that has become fast again.
const (
	streamHitsAll    = 256 // every recent poll hit (streamHits' scale)
	streamHitsMin    = 64  // below this share of hits, polls are probes
	streamHitsWeight = 16  // a poll's weight in streamHits: 1/16
	streamProbeEvery = 8
)

// pollStream polls the socket for an answer of the commands in flight,
// reading it into p and la as tryReadv does, until it comes or
// connStreamSpin has passed since now; it reports whether it polled at
// all (not while polling misses, between two probes, nor while another
// goroutine of the process polls).
func (b *connReader) pollStream(p, la []byte, now time.Time) (n, m int, polled bool, err error) {
	if connStreamSpin <= 0 {
		return 0, 0, false, nil
	}
	if b.streamHits < streamHitsMin {
		if b.streamSkips++; b.streamSkips < streamProbeEvery {
			return 0, 0, false, nil
		}
	}
	if n, m, polled, err = b.pollFor(p, la, now, connStreamSpin); !polled {
		return 0, 0, false, nil
	}
	b.streamSkips = 0
	if n > 0 || err != nil {
		b.streamHits += (streamHitsAll - b.streamHits) / streamHitsWeight
	} else {
		b.streamHits -= b.streamHits / streamHitsWeight
	}
	return n, m, true, err
}

// readNetpoll reads from r in Go's network poller, bounded by deadline
// (if not zero) and woken for due; a wait in the kernel that took longer
// than kernelSlice goes on here. A thread blocked in poll(2) keeps its P
// until the runtime's monitor takes it, which an idle monitor does only
// every few milliseconds: the goroutines that should answer (a target in
// this process) or that wait in the network poller meanwhile can be held
// up that long.
func (b *connReader) readNetpoll(p, la []byte) (int, int, error) {
	for {
		if b.due != nil || !b.deadline.IsZero() || !b.armed.IsZero() {
			now := time.Now()
			until := b.deadline
			if b.due != nil {
				if at := b.due(now); !at.IsZero() && (until.IsZero() || at.Before(until)) {
					until = at
				}
			}
			// An armed deadline that is not later than needed stays: it
			// wakes the read early at worst, and re-arming it on every
			// read would cost a timer change per answer.
			if until.IsZero() || b.armed.IsZero() || b.armed.After(until) || !b.armed.After(now) {
				if err := b.arm(until); err != nil {
					return 0, 0, err
				}
			}
		}
		var n, m int
		var err error
		if b.poll != nil {
			n, m, err = b.poll.readvNetpoll(p, la)
		} else {
			n, err = b.r.Read(p)
		}
		if err != nil && b.due != nil && !b.armed.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
			if now := time.Now(); !now.Before(b.armed) && (b.deadline.IsZero() || now.Before(b.deadline)) {
				// The keepalive's wake-up, not the read's bound (nor
				// somebody else's deadline that ends the read).
				continue
			}
		}
		return n, m, err
	}
}

// arm sets the connection's read deadline to t (none if zero).
func (b *connReader) arm(t time.Time) error {
	if t.Equal(b.armed) {
		return nil
	}
	dl, ok := b.r.(interface{ SetReadDeadline(time.Time) error })
	if !ok {
		return nil
	}
	if err := dl.SetReadDeadline(t); err != nil {
		return err
	}
	b.armed = t
	return nil
}

// disarm clears the read deadline readNetpoll left armed, if any: the
// login's, before the session reads on.
func (b *connReader) disarm() error { return b.arm(time.Time{}) }
