package initiator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lunarsan/lunar/internal/vecwrite"
	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Offsets of fields every initiator PDU we send has at the same place.
const connOffExpStatSN = 28

// connPingTag marks the ITTs of NOP-Out pings: task ITTs keep bit 31 clear.
const connPingTag = 0x80000000

// connOut is one PDU queued for the writer. t, when set, is the task
// whose memory the PDU's data segment refers to.
type connOut struct {
	f iscsi.Frame
	t *sessTask
}

// sessConn is the session's connection in the Full Feature Phase: one
// reader goroutine (run) that demultiplexes answers by ITT, one writer
// goroutine that sends queued PDUs in order, batching whatever is ready
// into one vectored write; the reader runs the keepalive too. The
// reader starts with the first exchange that expects an answer (or a
// moment after the login with keepalive on), the writer with the first
// PDU it must write; the reader writes the commands the callbacks of
// asynchronous commands issue itself when the socket takes them without
// blocking.
type sessConn struct {
	s        *Session
	nc       net.Conn
	br       *connReader // what fr reads from
	fr       *iscsi.Framer
	cw       *vecwrite.Collector // what fr writes to
	raw      syscall.RawConn     // nc's descriptor, for writes that do not block; nil if none
	maxSend  int
	maxBurst int
	// logoutKernel: Logout reads the answer itself under a context that
	// never ends, waiting in poll(2) (see connPoller).
	logoutKernel bool

	expStatSN atomic.Uint32
	// lastRecv is when the last PDU came, as keepaliveDue knows it: the
	// reader sets recvSeen (its own) for each PDU, and keepaliveDue,
	// which runs before each of its waits, moves lastRecv to its own now
	// (one clock read a wait instead of one a PDU).
	lastRecv atomic.Int64
	recvSeen bool
	pingITT  atomic.Uint32
	pingSent atomic.Int64

	// The write queue. wmu guards wq, wspare, writing, wclosed, handoff
	// and handoffQ; the goroutine that set writing owns the Framer's
	// writing side and cw until it clears it, or hands them to the
	// writer goroutine with handoff: cw then holds bytes the reader could
	// not write without blocking, handoffQ the PDUs they belong to.
	wmu      sync.Mutex
	wq       []connOut
	wspare   []connOut
	writing  bool
	wclosed  bool
	handoff  bool
	handoffQ []connOut
	wsig     chan struct{}
	// The writer goroutine starts at the first kick (a session that only
	// logs in and out never needs it): writerOn says it runs, writerOff
	// (set by the reader as it ends) that it must not start any more;
	// both under wmu. writerStarted mirrors writerOn for kick.
	writerOn      bool
	writerOff     bool
	writerStarted atomic.Bool

	// batching counts who is queueing a batch of asynchronous commands
	// now: the reader running the callbacks of a batch of completions, a
	// goroutine in Session.startInOrder. While it is not zero the commands
	// queued do not wake the writer; each of them flushes the queue when
	// it is done, so the batch leaves in one write, not one each.
	batching atomic.Int32

	// onWrite, when set (tests), is told how many PDUs each write carried;
	// under wmu.
	onWrite func(pdus int)

	dead     chan struct{}
	deadOnce sync.Once
	err      error

	// reader says who reads the connection (connReaderNone...), under
	// Session.mu.
	reader int

	writerDone chan struct{}
	// laterAt is 1 + the connection's index in sessLater.pending, 0 when
	// it is not there (under sessLater.mu).
	laterAt int

	// reader scratch space, reused for every PDU.
	din iscsi.DataIn
	rsp iscsi.SCSIResponse
	r2t iscsi.R2T
}

// newSessConn makes a connection of s, for attach.
func newSessConn(s *Session) *sessConn {
	return &sessConn{
		s:          s,
		wsig:       make(chan struct{}, 1),
		dead:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// attach makes c the logged-in connection of lr.
func (c *sessConn) attach(lr *loginResult) {
	c.nc, c.br, c.fr, c.cw, c.raw = lr.nc, lr.br, lr.fr, lr.cw, connRaw(lr.nc)
	c.br.streamPoll = c.s.cfg.BusyPoll.or(true)
	c.maxSend, c.maxBurst = int(lr.params.TargetMaxRecvDSL), int(lr.params.MaxBurstLength)
	c.expStatSN.Store(lr.statSN + 1)
	c.lastRecv.Store(time.Now().UnixNano())
}

// fail ends the connection with err (the first error wins).
func (c *sessConn) fail(err error) {
	c.deadOnce.Do(func() {
		c.err = err
		close(c.dead)
		if c.br.poll != nil {
			// Wake a reader waiting in poll(2): Close would wait for it.
			c.br.poll.closeWake()
		}
		c.nc.Close()
		sessLaterForget(c, false)
	})
}

// run is the reader goroutine.
func (c *sessConn) run() {
	defer c.s.wg.Done()
	c.serve(c.s.cfg.NOPInterval > 0)
}

// serveLogout reads the connection from Logout's goroutine, which
// counts in Session.wg, until the Logout Response (or the connection's
// end); cancelling ctx unblocks the read.
func (c *sessConn) serveLogout(ctx context.Context) {
	defer c.s.wg.Done()
	c.logoutKernel = ctx.Done() == nil
	if c.logoutKernel {
		// Logout has just sent its request.
		c.br.expectWait()
		c.br.kernelSlice = connKernelSlice
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			c.nc.SetReadDeadline(time.Unix(1, 0))
			if c.br.poll != nil {
				// Wait in poll(2) notices no deadline.
				c.br.poll.shutdown()
			}
		})
		defer stop()
	}
	// Under a context that never ends, the keepalive bounds the wait: a
	// target that stays silent ends it as it would end the connection.
	c.serve(c.logoutKernel && c.s.cfg.NOPInterval > 0)
}

// serve reads and handles the answers of the target until the
// connection ends, then hands its tasks back to the session. It starts
// the keepalive when ka says so.
func (c *sessConn) serve(ka bool) {
	if ka {
		// The reader runs the keepalive itself, whenever it is about to
		// wait for the target (see connReader.due): no goroutine, and
		// above all no timer while it waits in the kernel.
		c.br.due = c.keepaliveDue
	}
	for {
		if c.s.donePending.Load() && c.br.Buffered() < iscsi.BHSLen &&
			(c.br.Buffered() > 0 || !c.br.fillNow(iscsi.BHSLen)) {
			// Every answer already received is handled, including what
			// the socket holds (a read that does not wait takes it in):
			// run the callbacks of the asynchronous commands they
			// finished before waiting for more, and write what the
			// callbacks issued in one go. Answers that keep coming
			// first are handled first, so that the commands their
			// callbacks issue leave together, as libiscsi's do.
			c.runBatch()
		}
		// Waiting in the kernel spares the runtime's wake-ups (see
		// connPoller), but a goroutine the reader wakes (an Execute
		// call's, or one waiting for a batch it started) would have to
		// be taken by another thread: wait in the network poller while
		// any is in flight, so that it runs on this thread at once. An
		// idle session waits there too: a thread blocked in poll(2) per
		// idle session is a thread and a P hand-off per answer for
		// nothing (a cluster node holds many sessions that wait far more
		// than they work).
		c.br.kernelWait = c.logoutKernel || c.s.asyncN.Load() > 0 && c.syncInFlight() <= 0 && c.s.awaitN.Load() == 0
		f, err := c.fr.ReadHeader()
		if err == nil {
			if ka {
				c.recvSeen = true
			}
			err = c.handle(f)
		}
		if err != nil {
			c.fail(err)
			break
		}
	}
	c.endServe()
}

// endServe waits for the writer of the failed connection to end, then
// hands its tasks back to the session.
func (c *sessConn) endServe() {
	c.wmu.Lock()
	started := c.writerOn
	c.writerOff = true
	c.wmu.Unlock()
	if started {
		<-c.writerDone
	}
	c.s.connLost(c)
	c.s.runDone()
}

// runBatch runs the callbacks of the finished asynchronous commands on the
// reader and then has the writer send whatever they queued.
func (c *sessConn) runBatch() {
	c.batching.Add(1)
	c.s.runDone()
	c.batching.Add(-1)
	c.flushNow()
}

// flushNow writes the queue from the reader when the socket takes it
// without blocking, which spares the writer goroutine's wake-up: the
// callbacks of a batch of read commands typically queue one contiguous
// buffer of headers. What cannot be written at once is handed to the
// writer goroutine, as is a queue with data segments, so the reader
// never blocks on a write (while the target may block writing to us).
func (c *sessConn) flushNow() {
	c.wmu.Lock()
	if len(c.wq) == 0 || c.wclosed {
		c.wmu.Unlock()
		return
	}
	if c.writing || c.raw == nil {
		c.wmu.Unlock()
		c.kick()
		return
	}
	c.writing = true
	q := c.wq
	c.wq = c.wspare[:0]
	c.wspare = nil
	c.wmu.Unlock()
	if err := c.encode(q); err != nil {
		c.cw.Reset()
		c.endWrite(q, err)
		return
	}
	if len(c.cw.Bufs) == 1 {
		if done, err := c.cw.TryWrite(c.raw); err != nil || done {
			c.cw.Reset()
			c.endWrite(q, err)
			return
		}
	}
	c.wmu.Lock()
	c.handoff, c.handoffQ = true, q
	c.wmu.Unlock()
	c.kick()
}

// endWrite ends an inline write of q that is over (err nil) or failed,
// gives up the writing side and has the writer send what was queued
// meanwhile.
func (c *sessConn) endWrite(q []connOut, err error) {
	c.writtenLocking(q, err)
	c.writing = false
	more := len(c.wq) > 0 && !c.wclosed
	c.wmu.Unlock()
	if more {
		c.kick()
	}
}

// encode puts q's PDUs in the Framer and flushes them into cw.
func (c *sessConn) encode(q []connOut) error {
	exp := c.expStatSN.Load()
	for i := range q {
		q[i].f.BHS.PutUint32(connOffExpStatSN, exp)
		if err := c.fr.Queue(&q[i].f); err != nil {
			return err
		}
	}
	return c.fr.Flush()
}

// kickUnlessBatching kicks the writer, unless the reader is running a
// batch of callbacks and kicks it at the end.
func (c *sessConn) kickUnlessBatching() {
	// A command queued before the last batch ends is seen by its
	// holder's flush of the queue; one queued after sees no batch.
	if c.batching.Load() == 0 {
		c.kick()
	}
}

// writer sends queued PDUs until the connection ends, batching whatever
// is ready into one vectored write.
//
// Commands go through it too, although their goroutines could write
// them (flush): measured at queue depth 32 against tgtd, a write per
// command costs more (more writev calls for the target and for us) than
// the writer's wake-up, which serves the several commands the reader's
// last batch of completions let their goroutines issue.
func (c *sessConn) writer() {
	defer close(c.writerDone)
	for {
		select {
		case <-c.wsig:
		case <-c.dead:
			return
		}
		c.wmu.Lock()
		if c.handoff {
			// The reader could not write all of its batch: finish it,
			// then write whatever was queued since.
			q := c.handoffQ
			c.handoff, c.handoffQ = false, nil
			c.wmu.Unlock()
			err := c.cw.WriteTo(c.nc)
			c.writtenLocking(q, err)
			c.flushLocked()
			continue
		}
		c.wmu.Unlock()
		if c.syncInFlight() > 1 {
			// The goroutines the reader just woke queue their next
			// commands when they run: let them run first, so that one
			// vectored write carries all of them instead of one write
			// each. With one command in flight there is nobody to wait
			// for, nor for asynchronous commands: their callbacks have
			// queued them already.
			runtime.Gosched()
		}
		c.flush()
	}
}

// syncInFlight returns about how many Execute calls are in flight.
func (c *sessConn) syncInFlight() int {
	return len(c.s.sem) - int(c.s.asyncN.Load())
}

// kick has the writer goroutine write the queue.
func (c *sessConn) kick() {
	if !c.writerStarted.Load() {
		c.startWriter()
	}
	signal(c.wsig)
}

// startWriter starts the writer goroutine unless it runs or the
// connection has ended.
func (c *sessConn) startWriter() {
	c.wmu.Lock()
	if !c.writerOn && !c.writerOff {
		c.writerOn = true
		c.writerStarted.Store(true)
		go c.writer()
	}
	c.wmu.Unlock()
}

// flush writes the queued PDUs, unless another goroutine is writing
// already: that one writes whatever is queued before it stops, so a
// goroutine that queued a PDU and called flush may return at once. Only
// goroutines that may block on the socket call it: the writer, and
// Logout, which writes its request itself (one wake-up less per
// login+logout cycle). The reader never does: a write blocked on a full
// socket while the target blocks writing to us would deadlock.
func (c *sessConn) flush() {
	c.wmu.Lock()
	if c.writing || c.wclosed {
		c.wmu.Unlock()
		return
	}
	c.writing = true
	c.flushLocked()
}

// flushLocked writes the queue until it is empty, as the owner of the
// writing side; it is called with wmu held and returns with wmu released
// and the writing side free.
func (c *sessConn) flushLocked() {
	for first := true; len(c.wq) > 0 && !c.wclosed; first = false {
		if !first && c.syncInFlight() > 1 {
			// As in writer: let the goroutines that are about to queue
			// their commands do so, and carry them all in one write.
			c.wmu.Unlock()
			runtime.Gosched()
			c.wmu.Lock()
			if c.wclosed {
				break
			}
		}
		q := c.wq
		c.wq = c.wspare[:0]
		c.wspare = nil
		c.wmu.Unlock()
		err := c.encode(q)
		if err == nil {
			err = c.cw.WriteTo(c.nc)
		} else {
			c.cw.Reset()
		}
		c.writtenLocking(q, err)
	}
	c.writing = false
	c.wmu.Unlock()
}

// writtenLocking ends the write of q (err: how it went, which fails the
// connection when not nil): it releases q's PDUs, then takes wmu and
// keeps q's array as the next queue's spare. It returns with wmu held.
func (c *sessConn) writtenLocking(q []connOut, err error) {
	n := len(q)
	c.releaseOut(q)
	if err != nil {
		c.fail(fmt.Errorf("%w: %w", ErrConnectionLost, err))
	}
	c.wmu.Lock()
	if c.onWrite != nil {
		c.onWrite(n)
	}
	if c.wspare == nil {
		c.wspare = q[:0]
	}
}

// releaseOut drops the written PDUs of q, and with them their hold on
// their tasks' memory; it takes the session lock only when one of them
// refers to a task.
func (c *sessConn) releaseOut(q []connOut) {
	locked := false
	for i := range q {
		if t := q[i].t; t != nil {
			if !locked {
				c.s.mu.Lock()
				locked = true
			}
			t.pendingOut--
			c.s.doneIfIdleLocked(t)
		}
		q[i] = connOut{}
	}
	if locked {
		c.s.mu.Unlock()
		c.s.runDone()
	}
}

// queueLocked adds one encoded PDU to the write queue. The session lock
// orders queueing with CmdSN assignment, so PDUs leave in CmdSN order.
// The caller then makes sure the queue is written: it kicks the writer
// goroutine, or calls flush once it holds no lock.
func (c *sessConn) queueLocked(out *connOut) {
	if out.t != nil {
		out.t.pendingOut++
	}
	c.wmu.Lock()
	c.wq = append(c.wq, *out)
	c.wmu.Unlock()
}

// queuePDULocked encodes p and queues it.
func (c *sessConn) queuePDULocked(p iscsi.PDU, t *sessTask) error {
	var out connOut
	if err := p.EncodeFrame(&out.f); err != nil {
		return err
	}
	out.t = t
	c.queueLocked(&out)
	c.kick()
	return nil
}

// queueCommandLocked queues t's SCSI Command PDU with its immediate data
// and its unsolicited Data-Out PDUs.
func (c *sessConn) queueCommandLocked(t *sessTask) error {
	s, cmd := c.s, t.cmd
	p := &s.params
	attr := cmd.Attr
	if attr == iscsi.TaskAttrUntagged {
		attr = iscsi.TaskAttrSimple
	}
	pdu := iscsi.SCSICommand{
		Final: true, Read: len(cmd.DataIn) > 0, Write: len(cmd.DataOut) > 0,
		Attr: attr, LUN: t.lun, ITT: t.itt, CmdSN: t.cmdSN, CDB: cmd.CDB,
	}
	var unsolicited int
	if pdu.Write {
		pdu.ExpectedDataTransferLength = uint32(len(cmd.DataOut))
		first := min(len(cmd.DataOut), int(p.FirstBurstLength))
		imm := 0
		if p.ImmediateData {
			imm = min(first, c.maxSend)
			pdu.Data = cmd.DataOut[:imm]
		}
		if !p.InitialR2T && imm < first {
			// RFC 7143 section 11.3.4: F is 0 when unsolicited Data-Out
			// PDUs follow the command.
			pdu.Final = false
			unsolicited = first
		}
		var out connOut
		if err := pdu.EncodeFrame(&out.f); err != nil {
			return fmt.Errorf("%w: %w", ErrCommand, err)
		}
		out.t = t
		c.queueLocked(&out)
		if unsolicited > 0 {
			c.queueDataOutLocked(t, iscsi.ReservedTag, scsi.LUN(0), imm, unsolicited)
		}
		return nil
	}
	pdu.ExpectedDataTransferLength = uint32(len(cmd.DataIn))
	var out connOut
	if err := pdu.EncodeFrame(&out.f); err != nil {
		return fmt.Errorf("%w: %w", ErrCommand, err)
	}
	if len(out.f.AHS) > 0 || len(out.f.Data) > 0 {
		// Only a PDU that refers to the caller's memory holds the task
		// back: a plain read command lets the writer skip the session
		// lock.
		out.t = t
	}
	c.queueLocked(&out)
	return nil
}

// queueDataOutLocked queues Data-Out PDUs carrying DataOut[off:end] for
// one sequence (an R2T's or the unsolicited one), each at most the
// target's MaxRecvDataSegmentLength.
func (c *sessConn) queueDataOutLocked(t *sessTask, ttt uint32, lun scsi.LUN, off, end int) {
	buf := t.cmd.DataOut
	var sn uint32
	for off < end {
		n := min(end-off, c.maxSend)
		d := iscsi.DataOut{
			Final: off+n == end, LUN: lun, ITT: t.itt, TTT: ttt,
			DataSN: sn, BufferOffset: uint32(off), Data: buf[off : off+n],
		}
		var out connOut
		if err := d.EncodeFrame(&out.f); err != nil {
			// Our own PDU: cannot fail for lengths checked here.
			c.fail(fmt.Errorf("initiator: encode Data-Out: %w", err))
			return
		}
		out.t = t
		c.queueLocked(&out)
		off += n
		sn++
	}
}

// keepaliveDue runs the keepalive at now, for the reader about to wait
// for the target: it pings a connection that has been silent for
// NOPInterval and drops one whose ping went unanswered for NOPTimeout.
// It returns when it must run next (zero once it dropped the
// connection).
func (c *sessConn) keepaliveDue(now time.Time) time.Time {
	interval, timeout := c.s.cfg.NOPInterval, c.s.cfg.NOPTimeout
	if c.recvSeen {
		c.recvSeen = false
		c.lastRecv.Store(now.UnixNano())
	}
	last := c.lastRecv.Load()
	if c.pingITT.Load() != 0 {
		sent := c.pingSent.Load()
		if last < sent {
			if now.UnixNano()-sent >= int64(timeout) {
				c.fail(fmt.Errorf("%w: no answer in %v", ErrKeepalive, timeout))
				return time.Time{}
			}
			return time.Unix(0, sent+int64(timeout))
		}
		// Something came after the ping: the target is alive.
		c.pingITT.Store(0)
	}
	if now.UnixNano()-last < int64(interval) {
		return time.Unix(0, last+int64(interval))
	}
	s := c.s
	s.mu.Lock()
	s.pingSeq++
	itt := connPingTag | s.pingSeq&0xffff
	p := iscsi.NOPOut{Immediate: true, ITT: itt, TTT: iscsi.ReservedTag, CmdSN: s.cmdSN}
	c.pingSent.Store(now.UnixNano())
	c.pingITT.Store(itt)
	err := c.queuePDULocked(&p, nil)
	s.mu.Unlock()
	if err != nil {
		c.fail(err)
		return time.Time{}
	}
	return now.Add(timeout)
}

// protoErr builds a connection-fatal protocol error.
func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// handle processes one PDU whose header was just read; it reads the data
// segment itself. A returned error ends the connection.
func (c *sessConn) handle(f *iscsi.Frame) error {
	switch op := f.BHS.Opcode(); op {
	case iscsi.OpDataIn:
		return c.handleDataIn(f)
	case iscsi.OpSCSIResponse:
		return c.handleResponse(f)
	case iscsi.OpR2T:
		return c.handleR2T(f)
	case iscsi.OpNOPIn:
		return c.handleNOPIn(f)
	case iscsi.OpTaskMgmtResp:
		return c.handleTMFResponse(f)
	case iscsi.OpLogoutResp:
		return c.handleLogoutResponse(f)
	case iscsi.OpAsyncMessage:
		return c.handleAsync(f)
	case iscsi.OpReject:
		return c.handleReject(f)
	default:
		return protoErr("unexpected %v in the Full Feature Phase", op)
	}
}

// readPDU reads f's data segment and decodes f into p; a PDU that does
// not decode is a protocol error.
func (c *sessConn) readPDU(f *iscsi.Frame, p iscsi.PDU) error {
	if err := c.readData(f); err != nil {
		return err
	}
	if err := p.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return nil
}

// readData reads the data segment of the current PDU into the Framer's
// buffer.
func (c *sessConn) readData(f *iscsi.Frame) error {
	if f.BHS.DataSegmentLength() == 0 {
		return nil
	}
	_, err := c.fr.ReadData(nil)
	return err
}

// noteStatSN acknowledges a StatSN carried with status.
func (c *sessConn) noteStatSN(sn uint32) {
	if next := sn + 1; iscsi.SNGreater(next, c.expStatSN.Load()) {
		c.expStatSN.Store(next)
	}
}

// cmdTaskLocked returns the command task itt names if it is in flight on
// c, or nil for an answer that comes too late (an aborted task).
func (c *sessConn) cmdTaskLocked(itt uint32) *sessTask {
	t := c.s.lookupLocked(itt)
	if t == nil || t.kind != sessKindCmd || t.state != sessTaskSent || t.conn != c {
		return nil
	}
	return t
}

// handleDataIn places a Data-In PDU's data straight into the command's
// buffer at its offset, after checking offset and length against it.
func (c *sessConn) handleDataIn(f *iscsi.Frame) error {
	d := &c.din
	if err := d.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	n := f.BHS.DataSegmentLength()
	s := c.s
	s.mu.Lock()
	s.updateWindowLocked(c, d.ExpCmdSN, d.MaxCmdSN)
	t := c.cmdTaskLocked(d.ITT)
	var dst []byte
	if t != nil && t.protoEr == nil {
		off := int64(d.BufferOffset)
		switch {
		case len(t.cmd.DataIn) == 0 && n > 0:
			t.protoEr = protoErr("Data-In for a command that reads nothing (ITT 0x%08x)", d.ITT)
		case d.DataSN != t.dataSN:
			t.protoEr = protoErr("Data-In DataSN %d, want %d", d.DataSN, t.dataSN)
		case off != int64(t.inBytes):
			// DataPDUInOrder and DataSequenceInOrder are Yes: offsets
			// follow each other.
			t.protoEr = protoErr("Data-In at offset %d, want %d", off, t.inBytes)
		case off+int64(n) > int64(len(t.cmd.DataIn)):
			t.protoEr = protoErr("Data-In of %d bytes at offset %d overruns a %d-byte buffer", n, off, len(t.cmd.DataIn))
		default:
			dst = t.cmd.DataIn[off : off+int64(n) : off+int64(n)]
		}
	}
	s.mu.Unlock()
	c.br.expectLarge(n >= connReadMax/2)
	if n > 0 {
		// Only this goroutine finishes a task Sent on c, so t's buffer
		// stays the caller's own until the status below.
		if _, err := c.fr.ReadData(dst); err != nil {
			return err
		}
	}
	if d.HasStatus {
		c.noteStatSN(d.StatSN)
	}
	if t == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dst != nil {
		t.inBytes += n
	}
	t.dataSN++
	if d.HasStatus {
		c.completeLocked(t, iscsi.ResponseCommandCompleted, d.Status, d.Overflow, d.Underflow, d.ResidualCount, nil)
	}
	return nil
}

// handleResponse completes a command with its SCSI Response.
func (c *sessConn) handleResponse(f *iscsi.Frame) error {
	if err := c.readData(f); err != nil {
		return err
	}
	r := &c.rsp
	if err := r.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c.noteStatSN(r.StatSN)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateWindowLocked(c, r.ExpCmdSN, r.MaxCmdSN)
	t := c.cmdTaskLocked(r.ITT)
	if t == nil {
		return nil
	}
	var sense []byte
	if r.Response == iscsi.ResponseCommandCompleted && r.Status == scsi.StatusCheckCondition {
		b, err := r.Sense()
		if err != nil {
			s.finishLocked(t, Response{Status: r.Status}, fmt.Errorf("%w: %w", ErrProtocol, err))
			return nil
		}
		sense = b
	}
	c.completeLocked(t, r.Response, r.Status, r.Overflow, r.Underflow, r.ResidualCount, sense)
	return nil
}

// completeLocked finishes a command with its status.
func (c *sessConn) completeLocked(t *sessTask, response byte, status scsi.Status, over, under bool, residual uint32, sense []byte) {
	s := c.s
	if t.protoEr != nil {
		s.finishLocked(t, Response{Status: status}, t.protoEr)
		return
	}
	if response != iscsi.ResponseCommandCompleted {
		s.finishLocked(t, Response{}, fmt.Errorf("%w: iSCSI response 0x%02x", ErrTargetFailure, response))
		return
	}
	resp := Response{Status: status, DataIn: t.inBytes}
	switch {
	case under:
		resp.Residual = int64(residual)
	case over:
		resp.Residual = -int64(residual)
	}
	var err error
	switch status {
	case scsi.StatusGood, scsi.StatusConditionMet:
	case scsi.StatusCheckCondition:
		if len(sense) == 0 {
			err = protoErr("CHECK CONDITION without sense data")
			break
		}
		resp.Sense = append([]byte(nil), sense...)
		sd, perr := scsi.ParseSense(resp.Sense)
		if perr != nil {
			err = fmt.Errorf("%w: sense data: %w", ErrProtocol, perr)
			break
		}
		err = sd.AsError()
	case scsi.StatusTaskAborted:
		err = fmt.Errorf("%w: %w", ErrTaskAborted, &StatusError{Status: status})
	default:
		err = &StatusError{Status: status}
	}
	s.finishLocked(t, resp, err)
}

// handleR2T answers an R2T with Data-Out PDUs from the command's buffer.
func (c *sessConn) handleR2T(f *iscsi.Frame) error {
	if err := c.readData(f); err != nil {
		return err
	}
	r := &c.r2t
	if err := r.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateWindowLocked(c, r.ExpCmdSN, r.MaxCmdSN)
	t := c.cmdTaskLocked(r.ITT)
	if t == nil {
		return nil
	}
	off, n := int64(r.BufferOffset), int64(r.DesiredDataTransferLength)
	switch {
	case len(t.cmd.DataOut) == 0:
		return protoErr("R2T for a command that writes nothing (ITT 0x%08x)", r.ITT)
	case r.R2TSN != t.r2tSN:
		return protoErr("R2TSN %d, want %d", r.R2TSN, t.r2tSN)
	case n == 0 || off+n > int64(len(t.cmd.DataOut)):
		return protoErr("R2T for %d bytes at offset %d of a %d-byte write", n, off, len(t.cmd.DataOut))
	case n > int64(c.maxBurst):
		// RFC 7143 section 11.8.4: the Desired Data Transfer Length "MUST
		// NOT be greater than MaxBurstLength".
		return protoErr("R2T for %d bytes above MaxBurstLength %d", n, c.maxBurst)
	case r.TTT == iscsi.ReservedTag:
		return protoErr("R2T with the reserved Target Transfer Tag")
	}
	t.r2tSN++
	c.queueDataOutLocked(t, r.TTT, r.LUN, int(off), int(off+n))
	c.kick()
	return nil
}

// handleNOPIn answers the target's pings and notes answers to ours.
func (c *sessConn) handleNOPIn(f *iscsi.Frame) error {
	var p iscsi.NOPIn
	if err := c.readPDU(f, &p); err != nil {
		return err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateWindowLocked(c, p.ExpCmdSN, p.MaxCmdSN)
	if p.ITT != iscsi.ReservedTag {
		if p.ITT&connPingTag == 0 {
			return protoErr("NOP-In answers ITT 0x%08x, which no NOP-Out carried", p.ITT)
		}
		c.noteStatSN(p.StatSN)
		if c.pingITT.Load() == p.ITT {
			c.pingITT.Store(0)
		}
	}
	if p.TTT != iscsi.ReservedTag {
		// RFC 7143 section 11.19: a NOP-In with a Target Transfer Tag
		// asks for a NOP-Out with the same tag and LUN, ITT 0xffffffff.
		var data []byte
		if len(p.Data) > 0 {
			data = append([]byte(nil), p.Data...)
		}
		out := iscsi.NOPOut{Immediate: true, LUN: p.LUN, ITT: iscsi.ReservedTag, TTT: p.TTT, CmdSN: s.cmdSN, Data: data}
		if err := c.queuePDULocked(&out, nil); err != nil {
			return protoErr("cannot answer NOP-In: %v", err)
		}
	}
	return nil
}

// handleLogoutResponse ends the Logout exchange.
func (c *sessConn) handleLogoutResponse(f *iscsi.Frame) error {
	var p iscsi.LogoutResponse
	if err := p.DecodeFrame(f); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c.noteStatSN(p.StatSN)
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.lookupLocked(p.ITT)
	if t == nil || t.kind != sessKindLogout || t.state != sessTaskSent {
		return protoErr("Logout Response for ITT 0x%08x, which no Logout Request carried", p.ITT)
	}
	t.answered = true
	if p.Response != iscsi.LogoutSuccess {
		t.answerErr = fmt.Errorf("initiator: logout refused: %v", p.Response)
	}
	// The connection is over either way (Logout closes the session
	// whatever the answer): end it now rather than wait for the target
	// to close it. connLost finishes the task with its answer, so that
	// Logout wakes once, when this goroutine is about done.
	return errLoggedOut
}

// errLoggedOut ends a connection whose Logout Response arrived.
var errLoggedOut = fmt.Errorf("%w: logged out", ErrSessionClosed)

// handleAsync reports an Asynchronous Message and acts on the ones that
// end the connection.
func (c *sessConn) handleAsync(f *iscsi.Frame) error {
	var p iscsi.AsyncMessage
	if err := c.readPDU(f, &p); err != nil {
		return err
	}
	c.noteStatSN(p.StatSN)
	s := c.s
	s.mu.Lock()
	s.updateWindowLocked(c, p.ExpCmdSN, p.MaxCmdSN)
	s.mu.Unlock()
	ev := Event{Kind: EventAsync, AsyncEvent: p.AsyncEvent}
	if n, err := p.LUN.Number(); err == nil {
		ev.LUN = uint64(n)
	}
	if p.AsyncEvent == iscsi.AsyncSCSIEvent {
		if b, err := p.SenseData(); err == nil && len(b) > 0 {
			if sd, err := scsi.ParseSense(b); err == nil {
				ev.Sense = sd.Code()
			}
		}
	}
	s.emit(ev)
	switch p.AsyncEvent {
	case iscsi.AsyncLogoutRequest, iscsi.AsyncConnectionDrop, iscsi.AsyncSessionDrop:
		// The target will drop the connection: log in again at once
		// rather than wait for it.
		return fmt.Errorf("%w: target sent %v", ErrConnectionLost, p.AsyncEvent)
	}
	return nil
}

// handleReject fails the task whose PDU the target rejected.
func (c *sessConn) handleReject(f *iscsi.Frame) error {
	var p iscsi.Reject
	if err := c.readPDU(f, &p); err != nil {
		return err
	}
	c.noteStatSN(p.StatSN)
	h, err := p.RejectedHeader()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateWindowLocked(c, p.ExpCmdSN, p.MaxCmdSN)
	t := s.lookupLocked(h.ITT())
	if t == nil || t.state != sessTaskSent || t.conn != c {
		if h.ITT()&connPingTag != 0 && h.ITT() != iscsi.ReservedTag {
			c.pingITT.Store(0)
		}
		return nil
	}
	s.finishLocked(t, Response{}, p.Err())
	return nil
}

// connLost runs after c's goroutines have ended: the session either
// reconnects, with the tasks in flight waiting to be re-issued, or fails
// or closes them.
func (s *Session) connLost(c *sessConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// PDUs never sent no longer hold task memory. A goroutine still
	// inside flush releases the ones it took itself, and stops.
	c.wmu.Lock()
	q, hq := c.wq, c.handoffQ
	c.wq, c.wclosed = nil, true
	c.handoff, c.handoffQ = false, nil
	c.wmu.Unlock()
	for _, q := range [][]connOut{q, hq} {
		for i := range q {
			if t := q[i].t; t != nil {
				t.pendingOut--
				s.doneIfIdleLocked(t)
			}
		}
	}
	if s.conn == c {
		s.conn = nil
	}
	closing := s.state == StateClosed || s.loggingOut
	cause := c.err
	for _, t := range s.slots {
		if t.state != sessTaskSent || t.conn != c {
			continue
		}
		switch {
		case t.answered:
			s.finishLocked(t, Response{}, t.answerErr)
		case t.kind == sessKindLogout && cause != nil:
			// The Logout's own connection ended before its answer.
			s.finishLocked(t, Response{}, fmt.Errorf("%w: no Logout Response: %w", ErrConnectionLost, cause))
		case closing:
			s.finishLocked(t, Response{}, ErrSessionClosed)
		case t.kind != sessKindCmd:
			s.finishLocked(t, Response{}, fmt.Errorf("%w: %w", ErrConnectionLost, cause))
		case t.aborting:
			s.finishLocked(t, Response{}, ErrTaskAborted)
		case t.retries >= sessMaxRetries:
			s.finishLocked(t, Response{}, fmt.Errorf("%w: %w", ErrConnectionLost, cause))
		default:
			// Not acknowledged: re-issued on the next connection.
			t.retries++
			s.waitLocked(t)
		}
	}
	if closing {
		if s.loggingOut && s.state != StateClosed {
			s.setStateLocked(StateClosed)
		}
		return
	}
	if s.state != StateLoggedIn {
		return
	}
	s.log.Debug().Err(cause).Msg("connection lost")
	if s.cfg.Reconnect.Attempts < 0 {
		s.failLocked(fmt.Errorf("%w: %w", ErrSessionFailed, cause))
		return
	}
	s.setStateLocked(StateReconnecting)
	s.wg.Add(1)
	go s.reconnect(cause)
}

// failLocked ends the session for good: every waiting task fails with
// err, which wraps ErrSessionFailed.
func (s *Session) failLocked(err error) {
	s.failErr = err
	s.setStateLocked(StateFailed)
	for _, t := range s.slots {
		if t.state == sessTaskWaiting || t.state == sessTaskSent {
			s.finishLocked(t, Response{}, err)
		}
	}
}

// errorsIsTemporary reports whether a login error may go away by itself.
func errorsIsTemporary(err error) bool {
	var le *iscsi.LoginError
	if errors.As(err, &le) {
		return le.Temporary()
	}
	var re *iscsi.RejectError
	return !errors.As(err, &re)
}
