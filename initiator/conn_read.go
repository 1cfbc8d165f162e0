package initiator

import (
	"errors"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"
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
	// drained is set when fillNow found the socket empty, or by
	// expectWait: the next read waits for it first instead of trying a
	// read that would fail.
	drained bool
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
// its P (see readConn).
const connYieldEvery = 4 * time.Millisecond

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
	return &connReader{r: r, buf: make([]byte, connReadMin)}
}

// fillNow reads into the empty buffer what the connection holds already,
// without waiting, and reports whether anything came (or an error, which
// the next Read returns). At most want bytes are read while headerOnly
// is set, so that a data segment still lands in its command's buffer.
func (b *connReader) fillNow(want int) bool {
	if b.poll == nil || b.start != b.end || b.err != nil {
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
		if len(p) >= len(b.buf) || b.headerOnly {
			return b.readConn(p)
		}
		n, err := b.readConn(b.buf)
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

// readConn reads from r, waiting in the kernel while kernelWait is set.
func (b *connReader) readConn(p []byte) (int, error) {
	if b.poll == nil || !b.kernelWait {
		return b.r.Read(p)
	}
	for {
		if b.drained {
			b.drained = false
		} else if n, err := b.poll.tryRead(p); n > 0 || err != nil {
			return n, err
		}
		// A goroutine that never yields is preempted by the runtime's
		// monitor after 10 ms, which takes its P in the system call and
		// brings the monitor back to polling every 20 µs: yield every
		// few milliseconds, before a wait. Not before every wait: a
		// yield wakes an idle thread to look for work.
		if now := int64(time.Since(connEpoch)); now-connYielded.Load() >= int64(connYieldEvery) {
			connYielded.Store(now)
			runtime.Gosched()
		}
		until, sliced := b.deadline, false
		if b.kernelSlice > 0 {
			if s := time.Now().Add(b.kernelSlice); until.IsZero() || s.Before(until) {
				until, sliced = s, true
			}
		}
		if err := b.poll.wait(connPollIn, until); err != nil {
			if sliced && errors.Is(err, os.ErrDeadlineExceeded) {
				return b.readNetpoll(p)
			}
			return 0, err
		}
	}
}

// readNetpoll reads from r in Go's network poller, bounded by deadline:
// a wait in the kernel that took longer than kernelSlice goes on there.
// A thread blocked in poll(2) keeps its P until the runtime's monitor
// takes it, which an idle monitor does only every few milliseconds: the
// goroutines that should answer (a target in this process) or that wait
// in the network poller meanwhile can be held up that long.
func (b *connReader) readNetpoll(p []byte) (int, error) {
	dl, ok := b.r.(interface{ SetReadDeadline(time.Time) error })
	if ok && !b.deadline.IsZero() {
		if err := dl.SetReadDeadline(b.deadline); err != nil {
			return 0, err
		}
		defer dl.SetReadDeadline(time.Time{})
	}
	return b.r.Read(p)
}
