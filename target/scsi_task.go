package target

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// sessTask is one SCSI command of a session, from its SCSI Command PDU to
// its status. Tasks are pooled: a task is reused once every holder has
// released it (see refs), never earlier.
type sessTask struct {
	c *conn
	// refs counts the task's holders. The task holds one on itself from
	// its creation until its answer is settled: whoever finishes it
	// (finishLocked reports true) disposes of that reference, by
	// releasing it or by handing it to the writer with the response.
	// Others take one while they use the task outside the session's lock
	// (the reader while it handles the command or a Data-Out, a
	// delivery of a task that waited for a CmdSN gap, a task management
	// function waiting for the task). The last unref recycles the task
	// and its buffer.
	refs      atomic.Int32
	itt       uint32
	cmdSN     uint32
	immediate bool
	rawLUN    scsi.LUN
	lun       uint64
	attr      iscsi.TaskAttr
	cdbBuf    [16]byte
	cdb       []byte
	edtl      uint32
	read      bool
	write     bool
	// quick marks a command the Executor completes at once (see
	// QuickExecutor): it may run on the connection's reader.
	quick bool
	view  View
	// arrived is when the SCSI Command PDU was read, for the latency
	// histograms.
	arrived time.Time

	// ctx is the task's context; it outlives the task's reuse (its
	// generation tells incarnations apart).
	ctx *sessCtx
	// done, made by abortWhere for a waiting task management function
	// under the session's mu, is closed when the task finishes.
	done chan struct{}

	// Guarded by the session's mu.
	delivered bool
	counted   bool
	dataDone  bool
	started   bool
	finished  bool
	aborted   bool

	// buf holds the write data as it arrives, or the read data; bufp is
	// its handle in the server's pool, returned when the task is
	// recycled.
	buf  []byte
	bufp *[]byte

	// Write data state, owned by the reader.
	unsolActive bool
	unsol       sessSeq
	r2ts        []*sessSeq
	nextR2T     uint32
	r2tSN       uint32

	// task is what the engine runs.
	task Task
	// The answer, set by whoever finishes the task before it goes to the
	// writer: the result, how many bytes of buf are read data to send,
	// and the ExpDataSN of a SCSI Response without Data-In before it.
	res          Result
	dataN        int
	statusDataSN uint32
}

// sessTaskNew returns a task from the server's pool for connection c,
// with two references: the task's own and the caller's.
func (s *Server) sessTaskNew(c *conn) *sessTask {
	t, _ := s.taskPool.Get().(*sessTask)
	if t == nil {
		t = &sessTask{ctx: new(sessCtx)}
	}
	t.c = c
	t.ctx.reset(c.ctx)
	t.refs.Store(2)
	return t
}

// unref releases one reference; the last one recycles the task.
func (t *sessTask) unref() {
	switch n := t.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		panic("target: task released more often than held")
	}
	srv := t.c.srv
	srv.bufs.put(t.bufp)
	ctx, r2ts := t.ctx, t.r2ts
	clear(r2ts)
	ctx.reset(context.Background())
	*t = sessTask{ctx: ctx, r2ts: r2ts[:0]}
	srv.taskPool.Put(t)
}

// sessCtx is a task's context: a child of its connection's context that
// an abort cancels. It lives as long as its pooled task and is reset for
// each command; the engine calls only Err, so that takes no lock, and
// Done's channel (and the watch on the parent it needs) is made only when
// asked for. The generation keeps a parent's late cancellation from
// reaching a later command.
type sessCtx struct {
	cancelled atomic.Bool

	mu     sync.Mutex
	parent context.Context
	gen    uint64
	err    error
	done   chan struct{}
	stop   func() bool
}

var _ context.Context = (*sessCtx)(nil)

// reset makes x a fresh, uncancelled child of parent (Background while
// pooled).
func (x *sessCtx) reset(parent context.Context) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.gen++
	if x.stop != nil {
		x.stop()
		x.stop = nil
	}
	x.parent, x.err, x.done = parent, nil, nil
	x.cancelled.Store(false)
}

// Deadline returns the parent's deadline.
func (x *sessCtx) Deadline() (time.Time, bool) { return x.parent.Deadline() }

// Value returns the parent's value for key.
func (x *sessCtx) Value(key any) any { return x.parent.Value(key) }

// Err returns context.Canceled once the task is aborted, or the parent's
// error once the parent is done; nil before.
func (x *sessCtx) Err() error {
	if !x.cancelled.Load() {
		err := x.parent.Err()
		if err == nil {
			return nil
		}
		x.cancel(err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

// Done returns a channel closed when the task is aborted or the parent is
// done.
func (x *sessCtx) Done() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.done == nil {
		x.done = make(chan struct{})
		switch {
		case x.err != nil:
			close(x.done)
		case x.parent.Done() != nil:
			gen, parent := x.gen, x.parent
			x.stop = context.AfterFunc(parent, func() {
				x.mu.Lock()
				defer x.mu.Unlock()
				if x.gen == gen {
					x.cancelLocked(parent.Err())
				}
			})
		}
	}
	return x.done
}

// cancel cancels the context with err, unless it is cancelled already.
func (x *sessCtx) cancel(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.cancelLocked(err)
}

func (x *sessCtx) cancelLocked(err error) {
	if x.err != nil {
		return
	}
	x.err = err
	x.cancelled.Store(true)
	if x.done != nil {
		close(x.done)
	}
	if x.stop != nil {
		x.stop()
		x.stop = nil
	}
}

// sessSeq is one Data-Out sequence: the unsolicited data, or the answer
// to one R2T.
type sessSeq struct {
	ttt    uint32
	next   uint32
	end    uint32
	dataSN uint32
}

// unknownLUN stands for a LUN field the engine cannot address: no View
// maps it, so the engine answers LOGICAL UNIT NOT SUPPORTED.
const unknownLUN = math.MaxUint64

// handleCommand takes a SCSI Command PDU (RFC 7143 section 11.3) into the
// task set. The reader's buffers are reused after it returns, so what the
// task keeps is copied.
func (c *conn) handleCommand(p *iscsi.SCSICommand, h *iscsi.BHS) {
	se := c.sess
	refuse := func(reason iscsi.RejectReason, why string) {
		// The PDU is consumed: its CmdSN advances the window so the
		// session goes on (the Reject is the task's only answer).
		c.srv.stats.err(ErrorKindProtocol)
		c.log.Debug().Uint32("itt", p.ITT).Str("why", why).Msg("iscsi: command rejected")
		se.admit(c, p.CmdSN, p.Immediate, nil, func() {})
		c.reject(reason, h)
	}
	edtl := p.ExpectedDataTransferLength
	imm := uint32(len(p.Data))
	switch {
	case p.HasBidi || p.Read && p.Write:
		refuse(iscsi.RejectCommandNotSupported, "bidirectional command")
		return
	case edtl > MaxTransferLength:
		refuse(iscsi.RejectInvalidPDUField, fmt.Sprintf("expected data transfer length %d > %d", edtl, MaxTransferLength))
		return
	case imm > 0 && !p.Write:
		refuse(iscsi.RejectProtocolError, "immediate data without the W bit")
		return
	case imm > 0 && !c.params.ImmediateData:
		// ImmediateData=No: "the initiator MUST NOT send unsolicited
		// data" with the command.
		refuse(iscsi.RejectProtocolError, "immediate data with ImmediateData=No")
		return
	case imm > edtl || imm > c.params.FirstBurstLength:
		refuse(iscsi.RejectProtocolError, "immediate data beyond the expected length or FirstBurstLength")
		return
	case !p.Final && (!p.Write || c.params.InitialR2T):
		// InitialR2T=Yes: "the initiator MUST wait for an R2T before
		// sending any unsolicited data".
		refuse(iscsi.RejectProtocolError, "unsolicited data not allowed")
		return
	case !p.Final && imm >= min(edtl, c.params.FirstBurstLength):
		refuse(iscsi.RejectProtocolError, "F bit clear with no room for unsolicited data")
		return
	}
	if p.Immediate {
		se.mu.Lock()
		full := se.immediate >= se.sessMaxImmediate()
		se.mu.Unlock()
		if full {
			c.srv.stats.err(ErrorKindProtocol)
			c.reject(iscsi.RejectImmediateCommand, h)
			return
		}
	}
	t := c.srv.sessTaskNew(c)
	defer t.unref()
	t.itt = p.ITT
	t.cmdSN = p.CmdSN
	t.immediate = p.Immediate
	t.rawLUN = p.LUN
	t.lun = unknownLUN
	t.attr = p.Attr
	t.edtl = edtl
	t.read = p.Read
	t.write = p.Write
	t.view = se.currentView()
	t.arrived = time.Now()
	if n, err := p.LUN.Number(); err == nil {
		t.lun = uint64(n)
	}
	if len(p.CDB) <= len(t.cdbBuf) {
		t.cdb = t.cdbBuf[:copy(t.cdbBuf[:], p.CDB)]
	} else {
		t.cdb = slices.Clone(p.CDB)
	}
	t.quick = !p.Write && c.srv.quick != nil && c.srv.quick.Quick(t.cdb)
	if p.Write && edtl > 0 {
		t.bufp = c.srv.bufs.get(int(edtl))
		t.buf = *t.bufp
		copy(t.buf, p.Data)
		c.srv.stats.bytesIn.Add(uint64(imm))
		if !p.Final {
			t.unsolActive = true
			t.unsol = sessSeq{ttt: iscsi.ReservedTag, next: imm, end: min(edtl, c.params.FirstBurstLength)}
		} else {
			t.nextR2T = imm
		}
	}
	t.dataDone = !t.unsolActive && t.nextR2T >= edtl
	if !p.Write {
		t.dataDone = true
	}
	if !se.addTask(t) {
		t.unref()
		refuse(iscsi.RejectTaskInProgress, "initiator task tag in use")
		return
	}
	if !se.admit(c, p.CmdSN, p.Immediate, t, nil) {
		// Outside the command window: silently ignored (RFC 7143
		// section 4.2.2.1). Data-Out for it is discarded as stray.
		c.srv.stats.err(ErrorKindDropped)
		se.mu.Lock()
		t.aborted = true
		ok := se.finishLocked(t)
		se.mu.Unlock()
		if ok {
			c.srv.taskDone()
			t.unref()
		}
		return
	}
	se.mu.Lock()
	needR2T := !t.dataDone && !t.unsolActive && !t.finished
	se.mu.Unlock()
	if needR2T {
		c.sendR2Ts(t)
	}
}

// newTTT returns a Target Transfer Tag for an R2T: never 0xffffffff, and
// with the top bit clear so it never names a NOP-In ping.
func (c *conn) newTTT() uint32 {
	c.nextTTT = (c.nextTTT + 1) & 0x7fffffff
	if c.nextTTT == 0 {
		c.nextTTT = 1
	}
	return c.nextTTT
}

// sendR2Ts asks for more of a task's write data, keeping at most
// MaxOutstandingR2T R2Ts outstanding, each for at most MaxBurstLength
// bytes (RFC 7143 section 11.8).
func (c *conn) sendR2Ts(t *sessTask) {
	maxR2T := max(int(c.params.MaxOutstandingR2T), 1)
	burst := max(c.params.MaxBurstLength, 512)
	for len(t.r2ts) < maxR2T && t.nextR2T < t.edtl {
		n := min(burst, t.edtl-t.nextR2T)
		seq := &sessSeq{ttt: c.newTTT(), next: t.nextR2T, end: t.nextR2T + n}
		t.r2ts = append(t.r2ts, seq)
		c.sendPDU(&iscsi.R2T{
			LUN:                       t.rawLUN,
			ITT:                       t.itt,
			TTT:                       seq.ttt,
			R2TSN:                     t.r2tSN,
			BufferOffset:              t.nextR2T,
			DesiredDataTransferLength: n,
		})
		t.r2tSN++
		t.nextR2T += n
	}
}

// handleDataOut takes one Data-Out PDU whose header has been read (RFC
// 7143 section 11.7). Its data lands straight in the task's buffer at the
// checked offset; a Data-Out that does not fit the sequence it claims
// (offset, DataSN, TTT, length) fails its task before a byte is stored.
func (c *conn) handleDataOut(f *iscsi.Frame) error {
	h := &f.BHS
	itt, ttt := h.ITT(), h.Uint32(20)
	dataSN, off := h.Uint32(36), h.Uint32(40)
	n := uint32(h.DataSegmentLength())
	final := h.Final()
	discard := func() error {
		if n == 0 {
			return nil
		}
		if _, err := c.fr.ReadData(nil); err != nil && !errors.Is(err, iscsi.ErrDataDigest) {
			return c.readErr(err)
		}
		return nil
	}
	t := c.sess.task(itt)
	if t != nil {
		defer t.unref()
	}
	if t == nil || t.c != c || !t.write {
		// Data for a task that is gone (aborted, or never admitted):
		// discarded.
		c.srv.stats.err(ErrorKindDropped)
		return discard()
	}
	var seq *sessSeq
	if ttt == iscsi.ReservedTag {
		if t.unsolActive {
			seq = &t.unsol
		}
	} else {
		for _, s := range t.r2ts {
			if s.ttt == ttt {
				seq = s
				break
			}
		}
	}
	var why string
	switch {
	case seq == nil:
		why = "no open sequence for the Target Transfer Tag"
	case dataSN != seq.dataSN:
		why = fmt.Sprintf("DataSN %d, want %d", dataSN, seq.dataSN)
	case off != seq.next:
		why = fmt.Sprintf("BufferOffset %d, want %d", off, seq.next)
	case uint64(off)+uint64(n) > uint64(seq.end):
		why = fmt.Sprintf("data %d+%d beyond the sequence end %d", off, n, seq.end)
	case final && seq != &t.unsol && off+n != seq.end:
		why = fmt.Sprintf("F bit at %d before the sequence end %d", off+n, seq.end)
	}
	if why != "" {
		// Nothing of the PDU is stored. The task ends with CHECK
		// CONDITION, ABORTED COMMAND / DATA PHASE ERROR: a Reject alone
		// may not end a task ("Targets MUST NOT implicitly terminate an
		// active task by sending a Reject PDU"), and the session goes
		// on; later Data-Out for the task is discarded.
		if err := discard(); err != nil {
			return err
		}
		c.srv.stats.err(ErrorKindProtocol)
		c.log.Debug().Uint32("itt", itt).Str("why", why).Msg("iscsi: bad Data-Out")
		c.failTask(t)
		return nil
	}
	if n > 0 {
		dst := t.buf[off : off+n : off+n]
		if _, err := c.fr.ReadData(dst); err != nil {
			if errors.Is(err, iscsi.ErrDataDigest) {
				// The PDU is dropped; the sequence waits for it again.
				c.srv.stats.err(ErrorKindDigest)
				c.reject(iscsi.RejectDataDigestError, h)
				return nil
			}
			return c.readErr(err)
		}
	}
	c.srv.stats.bytesIn.Add(uint64(n))
	seq.next += n
	seq.dataSN++
	if !final {
		return nil
	}
	if seq == &t.unsol {
		t.unsolActive = false
		t.nextR2T = seq.next
	} else {
		t.r2ts = slices.DeleteFunc(t.r2ts, func(s *sessSeq) bool { return s == seq })
	}
	if len(t.r2ts) == 0 && !t.unsolActive && t.nextR2T >= t.edtl {
		c.sess.dataDone(t)
		return nil
	}
	c.sendR2Ts(t)
	return nil
}

// failTask ends a task that has not started, with DATA PHASE ERROR. It
// runs on the reader.
func (c *conn) failTask(t *sessTask) {
	se := c.sess
	se.mu.Lock()
	ok := !t.started && se.finishLocked(t)
	se.mu.Unlock()
	if !ok {
		return
	}
	t.ctx.cancel(context.Canceled)
	c.srv.taskDone()
	se.schedule(nil)
	sd := scsi.NewSenseError(scsi.SenseKeyAbortedCommand, scsi.SenseDataPhaseError).SenseData()
	c.sendStatus(t, Result{Status: scsi.StatusCheckCondition, Sense: sd.MarshalFixed()}, t.r2tSN)
}

// goTask runs f in a goroutine of the connection, unless the connection
// is shutting down.
func (c *conn) goTask(f func()) bool {
	c.goMu.Lock()
	defer c.goMu.Unlock()
	if c.goClosed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// connWorker is a goroutine of a connection that runs tasks. Idle
// workers wait for their next task on next; a worker that finds enough
// idle ones already ends, so a connection keeps at most maxIdleWorkers.
type connWorker struct {
	next chan *sessTask
}

// connMaxIdleWorkers is how many idle task workers a connection keeps
// for a session of the given queue depth: as many as the commands a busy
// initiator keeps in flight, up to 64. (2*GOMAXPROCS was measured too
// small: at queue depth 32 most tasks then started a new goroutine.)
// Workers start only on demand, so an idle session that never ran a
// command has none.
func connMaxIdleWorkers(depth int) int {
	return min(depth, 64)
}

// startTask runs a task that the task set lets start: an idle worker of
// the connection takes it, or a new one does. It never waits, so a task
// can never wait for a worker that another task holds. A quick task (one
// the Executor completes at once: INQUIRY, READ CAPACITY, ...) runs at
// once instead when onReader says the caller is the connection's reader:
// no worker is woken or started for it, and its answer joins the
// writer's next batch (see queueQuick).
func (c *conn) startTask(t *sessTask, onReader bool) {
	c.goMu.Lock()
	if c.goClosed {
		c.goMu.Unlock()
		se := c.sess
		se.mu.Lock()
		t.aborted = true
		se.mu.Unlock()
		if finished, _ := se.finish(t); finished {
			t.unref()
		}
		return
	}
	if onReader && t.quick {
		c.running.Add(1)
		c.goMu.Unlock()
		c.runTask(t, true)
		return
	}
	if n := len(c.idle); n > 0 {
		w := c.idle[n-1]
		c.idle[n-1] = nil
		c.idle = c.idle[:n-1]
		c.running.Add(1)
		w.next <- t // never blocks: an idle worker's channel is empty
		c.goMu.Unlock()
		return
	}
	c.running.Add(1)
	c.wg.Add(1)
	c.goMu.Unlock()
	go c.work(t)
}

// work is a task worker: it runs t, then the tasks startTask hands it
// while it is idle, until the connection shuts down or enough others are
// idle.
func (c *conn) work(t *sessTask) {
	defer c.wg.Done()
	var w *connWorker
	for {
		c.runTask(t, false)
		c.goMu.Lock()
		if c.goClosed || len(c.idle) >= c.maxIdle {
			c.goMu.Unlock()
			return
		}
		if w == nil {
			w = &connWorker{next: make(chan *sessTask, 1)}
		}
		c.idle = append(c.idle, w)
		c.goMu.Unlock()
		var ok bool
		if t, ok = <-w.next; !ok {
			return
		}
	}
}

// stopWorkers ends the idle workers and makes startTask refuse tasks; it
// runs when the connection is over.
func (c *conn) stopWorkers() {
	c.goMu.Lock()
	defer c.goMu.Unlock()
	c.goClosed = true
	for _, w := range c.idle {
		close(w.next)
	}
	c.idle = nil
}

// runTask executes a task on the engine and sends its data and status;
// onReader says it runs on the connection's reader (a quick task).
func (c *conn) runTask(t *sessTask, onReader bool) {
	se := c.sess
	ok := false
	defer func() {
		if ok {
			return
		}
		r := recover()
		c.running.Add(-1)
		c.srv.stats.err(ErrorKindPanic)
		c.log.Error().Interface("panic", r).Bytes("stack", debug.Stack()).Msg("iscsi: panic in a task, closing connection")
		se.mu.Lock()
		t.aborted = true
		se.mu.Unlock()
		if finished, _ := se.finish(t); finished {
			t.unref()
		}
		c.close(fmt.Errorf("target: panic in task: %v", r))
	}()
	task := &t.task
	*task = Task{
		Ctx:                        t.ctx,
		Nexus:                      se.nexus,
		View:                       t.view,
		LUN:                        t.lun,
		CDB:                        t.cdb,
		Attr:                       t.attr,
		ExpectedDataTransferLength: t.edtl,
	}
	if t.write {
		task.DataOut = t.buf[:t.edtl]
	} else if t.read && t.edtl > 0 {
		t.bufp = c.srv.bufs.get(int(t.edtl))
		t.buf = *t.bufp
		task.DataIn = t.buf
	}
	res := c.srv.cfg.Executor.Execute(task)
	ok = true
	c.running.Add(-1)
	*task = Task{}
	c.srv.stats.commands.Add(1)
	finished, respond := se.finish(t)
	switch {
	case !finished:
	case !respond:
		t.unref()
	default:
		c.srv.stats.latency[connLatencyOp(t.cdb)].observe(time.Since(t.arrived))
		o := c.result(t, res)
		if onReader {
			c.queueQuick(o)
		} else {
			c.send(o)
		}
	}
}

// connLatencyOp classifies a command for the latency histograms.
func connLatencyOp(cdb []byte) int {
	if len(cdb) == 0 {
		return latencyOther
	}
	switch scsi.OpCode(cdb[0]) {
	case scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16:
		return latencyRead
	case scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16:
		return latencyWrite
	}
	return latencyOther
}

// result makes a completed task's answer for the writer: its read data
// and status, with the task's own reference; writeResult builds the PDUs.
func (c *conn) result(t *sessTask, res Result) connOut {
	n := 0
	if t.read {
		n = min(max(res.DataIn, 0), len(t.buf), int(t.edtl))
	}
	c.srv.stats.bytesOut.Add(uint64(n))
	t.res, t.dataN = res, n
	if t.write {
		t.statusDataSN = t.r2tSN
	}
	return connOut{task: t}
}

// sendStatus hands a task's status without data to the writer, with the
// task's own reference; the SCSI Response carries expDataSN.
func (c *conn) sendStatus(t *sessTask, res Result, expDataSN uint32) {
	t.res, t.dataN, t.statusDataSN = res, 0, expDataSN
	c.send(connOut{task: t})
}

// writeResult queues a finished task's answer on the Framer: Data-In PDUs
// split by the initiator's MaxRecvDataSegmentLength, F at each
// MaxBurstLength, and the status in the last Data-In when there is no
// sense data, in a SCSI Response otherwise (RFC 7143 sections 11.4,
// 11.7). The Data-In PDUs' data is the task's buffer, which must stay
// untouched until the Framer is flushed. It runs on the writer.
func (c *conn) writeResult(t *sessTask, expCmdSN, maxCmdSN uint32) error {
	res, n := &t.res, t.dataN
	withStatus := n > 0 && len(res.Sense) == 0 && res.Status != scsi.StatusCheckCondition
	over, under, resid := residual(res.Transfer, t.edtl)
	seg := max(int(c.params.InitiatorMaxRecvDSL), 512)
	burst := max(int(c.params.MaxBurstLength), 512)
	dataSN := uint32(0)
	inBurst := 0
	for off := 0; off < n; {
		l := min(seg, n-off, burst-inBurst)
		last := off+l == n
		inBurst += l
		di := &c.wDataIn
		*di = iscsi.DataIn{
			Final:        last || inBurst == burst,
			ITT:          t.itt,
			TTT:          iscsi.ReservedTag,
			DataSN:       dataSN,
			BufferOffset: uint32(off),
			Data:         t.buf[off : off+l],
		}
		if inBurst == burst {
			inBurst = 0
		}
		if last && withStatus {
			// "the S bit ... MUST NOT be set if ... sense data" — the
			// status rides in the last Data-In, with the residual.
			di.HasStatus, di.Status = true, res.Status
			di.Overflow, di.Underflow, di.ResidualCount = over, under, resid
		}
		c.stamp(di, expCmdSN, maxCmdSN)
		if err := c.fr.QueuePDU(di); err != nil {
			return err
		}
		dataSN++
		off += l
	}
	if withStatus {
		return nil
	}
	r := &c.wResp
	*r = iscsi.SCSIResponse{
		Response:      iscsi.ResponseCommandCompleted,
		Status:        res.Status,
		ITT:           t.itt,
		ExpDataSN:     dataSN + t.statusDataSN,
		Overflow:      over,
		Underflow:     under,
		ResidualCount: resid,
	}
	if len(res.Sense) > 0 {
		r.SetSense(res.Sense)
	}
	c.stamp(r, expCmdSN, maxCmdSN)
	return c.fr.QueuePDU(r)
}

// residual compares what the command would move with the Expected Data
// Transfer Length (RFC 7143 section 11.4.5).
func residual(transfer int, edtl uint32) (over, under bool, count uint32) {
	tr := uint64(max(transfer, 0))
	switch e := uint64(edtl); {
	case tr > e:
		return true, false, uint32(min(tr-e, math.MaxUint32))
	case tr < e:
		return false, true, uint32(e - tr)
	}
	return false, false, 0
}

// connBufPool pools task buffers by power-of-two size class, from 4 KiB
// to MaxTransferLength.
type connBufPool struct {
	classes [connBufClasses]sync.Pool
}

const (
	connBufMinShift = 12
	connBufClasses  = 25 - connBufMinShift // up to 16 MiB
)

// connBufClass returns the size class of n bytes.
func connBufClass(n int) int {
	if n <= 1<<connBufMinShift {
		return 0
	}
	return bits.Len(uint(n-1)) - connBufMinShift
}

// get returns a buffer of n bytes (n at most MaxTransferLength), or nil
// for n <= 0. The pointer is the buffer's handle for put.
func (p *connBufPool) get(n int) *[]byte {
	if n <= 0 {
		return nil
	}
	cl := connBufClass(n)
	if cl >= connBufClasses {
		b := make([]byte, n)
		return &b
	}
	if v, ok := p.classes[cl].Get().(*[]byte); ok {
		*v = (*v)[:n]
		return v
	}
	b := make([]byte, n, 1<<(cl+connBufMinShift))
	return &b
}

// put returns a buffer from get to the pool; nil is ignored.
func (p *connBufPool) put(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	if c < 1<<connBufMinShift || c&(c-1) != 0 {
		return
	}
	cl := bits.Len(uint(c)) - 1 - connBufMinShift
	if cl >= connBufClasses {
		return
	}
	*b = (*b)[:0]
	p.classes[cl].Put(b)
}
