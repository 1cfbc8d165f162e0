package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/internal/vecwrite"
	"github.com/lunarsan/lunar/iscsi"
)

// conn is one TCP connection: a reader goroutine that owns the Framer's
// read side (login runs inline in it, then the Full Feature Phase), and a
// writer goroutine that batches ready responses into one vectored write.
// The answers of quick commands the reader ran itself it writes itself,
// when the writer is idle and the socket takes them without blocking.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     *connReader
	fr     *iscsi.Framer
	portal *portal
	log    zerolog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	// Set by login before the Full Feature Phase goroutines start.
	cid    uint16
	sess   *session
	params iscsi.SessionParams

	// The Framer's writer: the connection writes what it collects.
	cw vecwrite.Collector

	outMu     sync.Mutex
	out       []connOut
	outClosed bool
	outSig    chan struct{}
	// writing says a goroutine holds the write side (the Framer's
	// writing half, statSN, the scratch PDUs): the writer, or the reader
	// writing quick answers. handoff is a batch the reader encoded and
	// could not write at once: its rest is in cw, for the writer to
	// write and drop, and the write side goes to the writer with it.
	writing bool
	handoff *connHandoff
	// outHeld, the reader's, says answers of quick tasks wait in out
	// without the writer told: the reader tells it before it next reads
	// from the socket (releaseQuick), so the answers to the commands of
	// one read leave in one write.
	outHeld bool
	// statSN is the writer's: the next StatSN.
	statSN uint32
	// running counts the connection's tasks in the engine, for the
	// writer's batching.
	running atomic.Int32

	// The writer's scratch PDUs for task answers.
	wDataIn iscsi.DataIn
	wResp   iscsi.SCSIResponse

	closeOnce sync.Once
	// wg counts the connection's goroutines besides the reader; goMu
	// and goClosed keep wg.Add from racing with the final wg.Wait.
	wg       sync.WaitGroup
	goMu     sync.Mutex
	goClosed bool
	// idle holds the task workers waiting for a task (goMu), at most
	// maxIdle of them.
	idle    []*connWorker
	maxIdle int

	// Reader-owned state.
	text    connTextState
	nextTTT uint32
	// cmd is the SCSI Command being handled: decoded in place, valid
	// until the next read.
	cmd iscsi.SCSICommand

	// Dead-peer detection.
	pingTTT  atomic.Uint32
	pingSent atomic.Int64
	lastRecv atomic.Int64
}

// connHandoff is a batch whose encoding the reader left in cw.
type connHandoff struct {
	batch      []connOut
	closeAfter bool
}

// connOut is one PDU, or one task's answer, waiting for the writer.
type connOut struct {
	pdu iscsi.PDU
	// task, instead of pdu, is a finished task whose answer (Data-In
	// and status) the writer builds; the writer owns the task's own
	// reference and releases it once the answer is written (or
	// dropped).
	task *sessTask
	// closeAfter closes the connection once the PDU is written.
	closeAfter bool
}

func newConn(srv *Server, nc net.Conn, p *portal) (*conn, error) {
	rd := newConnReader(nc, &srv.readBufs)
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv:    srv,
		nc:     nc,
		rd:     rd,
		portal: p,
		log:    srv.log.With().Str("remote", nc.RemoteAddr().String()).Logger(),
		ctx:    ctx,
		cancel: cancel,
		outSig: make(chan struct{}, 1),
		// The session's queue depth: Normal sessions take the
		// server's.
		maxIdle: connMaxIdleWorkers(srv.cfg.QueueDepth),
	}
	fr, err := iscsi.NewFramer(rd, &c.cw, iscsi.FramerConfig{})
	if err != nil {
		cancel()
		return nil, err
	}
	c.fr = fr
	c.lastRecv.Store(time.Now().UnixNano())
	rd.beforeRead = c.releaseQuick
	return c, nil
}

// writePDU writes p at once; only the login, before the writer starts,
// uses it.
func (c *conn) writePDU(p iscsi.PDU) error {
	if err := c.fr.WritePDU(p); err != nil {
		c.cw.Reset()
		return err
	}
	return c.cw.WriteTo(c.nc)
}

// serve runs the connection to its end. It is the reader goroutine.
func (c *conn) serve() {
	defer c.srv.wg.Done()
	defer c.srv.removeConn(c)
	defer c.rd.release()
	defer func() {
		c.stopWorkers()
		c.wg.Wait()
	}()
	defer func() {
		if se := c.sess; se != nil {
			se.connLost(c)
		}
	}()
	defer c.recoverPanic("reader")
	if err := c.login(); err != nil {
		c.log.Debug().Err(err).Msg("iscsi: login ended")
		c.close(err)
		return
	}
	c.wg.Add(1)
	go c.writeLoop()
	if c.srv.cfg.NopInInterval > 0 {
		c.wg.Add(1)
		go c.pingLoop()
	}
	err := c.readLoop()
	c.close(err)
}

// recoverPanic ends the connection, and only it, after a panic in one of
// its goroutines.
func (c *conn) recoverPanic(where string) {
	if r := recover(); r != nil {
		c.srv.stats.err(ErrorKindPanic)
		c.log.Error().Str("goroutine", where).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("iscsi: panic, closing connection")
		c.close(fmt.Errorf("target: panic in %s: %v", where, r))
	}
}

// close ends the connection: its context is cancelled (aborting its
// tasks) and the socket closed, which unblocks the reader and the writer.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errShutdown) && !errors.Is(err, errConnDone) {
			c.log.Debug().Err(err).Msg("iscsi: connection closed")
		}
		c.cancel()
		c.nc.Close()
	})
}

// errConnDone ends a connection on purpose (logout, reinstatement).
var errConnDone = errors.New("target: connection done")

// send queues a PDU for the writer. After the writer stopped, the PDU is
// dropped (and its task released) at once.
func (c *conn) send(o connOut) {
	if c.enqueue(o) {
		c.wakeWriter()
	}
}

// queueQuick queues the answer of a quick task that ran on the reader;
// the writer learns of it when the reader next reads from the socket.
func (c *conn) queueQuick(o connOut) {
	if c.enqueue(o) {
		c.outHeld = true
	}
}

// releaseQuick sends the answers queueQuick held back. The reader calls
// it before every read from the socket (connReader's beforeRead), so
// nothing waits for a socket that may stay quiet. When the writer is idle
// the reader writes the queue itself, as much as the socket takes without
// blocking: a command answered that way costs no wake-up of the writer
// (a third to a half of a small command's time at the target); the rest
// goes to the writer, which may block.
func (c *conn) releaseQuick() {
	if !c.outHeld {
		return
	}
	c.outHeld = false
	c.outMu.Lock()
	// Without the socket's descriptor (rd.rc) only the writer writes.
	if c.writing || c.outClosed || c.rd.rc == nil || len(c.out) == 0 {
		c.outMu.Unlock()
		c.wakeWriter()
		return
	}
	c.writing = true
	batch := c.out
	c.out = nil
	c.outMu.Unlock()
	closeAfter, err := c.encode(batch, 0)
	if err == nil {
		err = c.fr.Flush()
	}
	var done bool
	if err == nil {
		done, err = c.cw.TryWrite(c.rd.rc)
	}
	if err == nil && !done {
		c.releaseWriting(&connHandoff{batch: batch, closeAfter: closeAfter})
		return
	}
	if err != nil {
		c.srv.stats.err(ErrorKindIO)
	}
	c.written(batch, closeAfter, err)
	c.releaseWriting(nil)
}

// written ends the write of batch (err: how it went): the connection's
// write buffers are let go, then what its PDUs hold, and the connection
// ends when the write failed or carried a PDU that closes it. It reports
// whether the connection is over.
func (c *conn) written(batch []connOut, closeAfter bool, err error) bool {
	if err != nil {
		c.cw.Reset()
	}
	connDrop(batch)
	switch {
	case err != nil:
		c.close(err)
	case closeAfter:
		c.close(errConnDone)
	default:
		return false
	}
	return true
}

// connDrop releases what the PDUs of batch hold and clears them.
func connDrop(batch []connOut) {
	for i, o := range batch {
		o.drop()
		batch[i] = connOut{}
	}
}

// releaseWriting gives up the reader's hold of the write side: to the
// writer with h, or to whoever comes next. The writer is woken when it
// has work.
func (c *conn) releaseWriting(h *connHandoff) {
	c.outMu.Lock()
	if h != nil {
		c.handoff = h
	} else {
		c.writing = false
	}
	wake := h != nil || len(c.out) > 0
	c.outMu.Unlock()
	if wake {
		c.wakeWriter()
	}
}

// enqueue appends o to the writer's queue; it reports false, having
// dropped o, once the writer stopped.
func (c *conn) enqueue(o connOut) bool {
	c.outMu.Lock()
	if c.outClosed {
		c.outMu.Unlock()
		o.drop()
		return false
	}
	c.out = append(c.out, o)
	c.outMu.Unlock()
	return true
}

// wakeWriter tells the writer there is something in its queue.
func (c *conn) wakeWriter() {
	select {
	case c.outSig <- struct{}{}:
	default:
	}
}

// sendPDU queues p.
func (c *conn) sendPDU(p iscsi.PDU) { c.send(connOut{pdu: p}) }

// drop releases what o holds once it is written or will never be.
func (o connOut) drop() {
	if o.task != nil {
		o.task.unref()
	}
}

// writeLoop is the writer goroutine: it takes every ready PDU, stamps the
// sequence numbers, queues them on the Framer and writes them with one
// vectored write; it writes what the reader handed it first.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer c.recoverPanic("writer")
	var batch []connOut
	defer func() {
		c.outMu.Lock()
		c.outClosed = true
		rest := c.out
		c.out = nil
		h := c.handoff
		c.handoff = nil
		c.outMu.Unlock()
		connDrop(batch)
		connDrop(rest)
		if h != nil {
			c.cw.Reset()
			connDrop(h.batch)
		}
	}()
	for {
		select {
		case <-c.outSig:
		case <-c.ctx.Done():
			return
		}
		c.outMu.Lock()
		h := c.handoff
		if h == nil && c.writing {
			// The reader writes; it wakes the writer when it is done and
			// more is queued.
			c.outMu.Unlock()
			continue
		}
		c.handoff = nil
		c.writing = true
		c.outMu.Unlock()
		if h != nil {
			err := c.cw.WriteTo(c.nc)
			if err != nil {
				c.srv.stats.err(ErrorKindIO)
			}
			if c.written(h.batch, h.closeAfter, err) {
				return
			}
		}
		for {
			if c.running.Load() > 0 {
				// Tasks still in the engine may finish in a moment: let
				// them run first, so that their answers share this write.
				runtime.Gosched()
			}
			c.outMu.Lock()
			batch, c.out = c.out, batch[:0]
			if len(batch) == 0 {
				c.writing = false
				c.outMu.Unlock()
				break
			}
			c.outMu.Unlock()
			closeAfter, err := c.encode(batch, 0)
			for queued := len(batch); err == nil; {
				// Whatever became ready meanwhile joins the write.
				c.outMu.Lock()
				batch = append(batch, c.out...)
				clear(c.out)
				c.out = c.out[:0]
				c.outMu.Unlock()
				if len(batch) == queued {
					break
				}
				var more bool
				more, err = c.encode(batch, queued)
				closeAfter = closeAfter || more
				queued = len(batch)
			}
			if err == nil {
				if err = c.fr.Flush(); err == nil {
					err = c.cw.WriteTo(c.nc)
				}
				if err != nil {
					c.srv.stats.err(ErrorKindIO)
				}
			}
			if c.written(batch, closeAfter, err) {
				return
			}
			batch = batch[:0]
		}
	}
}

// encode stamps batch[from:] and queues it on the Framer, for whoever
// holds the write side; it reports whether a PDU of it closes the
// connection once written. One window for the whole write: it only
// moves forward, and every PDU of the write leaves at once.
func (c *conn) encode(batch []connOut, from int) (closeAfter bool, err error) {
	exp, max := c.sess.window()
	for _, o := range batch[from:] {
		switch {
		case o.task != nil:
			err = c.writeResult(o.task, exp, max)
		case o.pdu != nil:
			c.stamp(o.pdu, exp, max)
			err = c.fr.QueuePDU(o.pdu)
		}
		if err != nil {
			return false, err
		}
		closeAfter = closeAfter || o.closeAfter
	}
	return closeAfter, nil
}

// stamp fills the StatSN, ExpCmdSN and MaxCmdSN of an outgoing PDU, in
// the order the PDUs are written, so StatSN grows with the stream.
func (c *conn) stamp(p iscsi.PDU, exp, max uint32) {
	next := func() uint32 {
		sn := c.statSN
		c.statSN++
		return sn
	}
	switch p := p.(type) {
	case *iscsi.SCSIResponse:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	case *iscsi.DataIn:
		if p.HasStatus {
			p.StatSN = next()
		}
		p.ExpCmdSN, p.MaxCmdSN = exp, max
	case *iscsi.R2T:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = c.statSN, exp, max
	case *iscsi.NOPIn:
		if p.ITT != iscsi.ReservedTag {
			p.StatSN = next()
		} else {
			// "StatSN ... is not advanced" for a target-initiated
			// NOP-In (RFC 7143 section 11.19.2).
			p.StatSN = c.statSN
		}
		p.ExpCmdSN, p.MaxCmdSN = exp, max
	case *iscsi.TaskMgmtResponse:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	case *iscsi.LogoutResponse:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	case *iscsi.TextResponse:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	case *iscsi.Reject:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	case *iscsi.AsyncMessage:
		p.StatSN, p.ExpCmdSN, p.MaxCmdSN = next(), exp, max
	}
}

// readLoop reads and dispatches PDUs of the Full Feature Phase until the
// connection ends.
func (c *conn) readLoop() error {
	for {
		f, err := c.fr.ReadHeader()
		if err != nil {
			return c.readErr(err)
		}
		c.lastRecv.Store(time.Now().UnixNano())
		c.pingTTT.Store(0)
		if f.BHS.Opcode() == iscsi.OpDataOut {
			if err := c.handleDataOut(f); err != nil {
				return err
			}
			continue
		}
		if f.BHS.DataSegmentLength() > 0 {
			if _, err := c.fr.ReadData(nil); err != nil {
				if errors.Is(err, iscsi.ErrDataDigest) {
					// The stream is in sync: reject the PDU and go on.
					c.srv.stats.err(ErrorKindDigest)
					c.reject(iscsi.RejectDataDigestError, &f.BHS)
					continue
				}
				return c.readErr(err)
			}
		}
		if err := c.dispatch(f); err != nil {
			return err
		}
		if c.ctx.Err() != nil {
			return errConnDone
		}
	}
}

// readErr classifies a fatal read error.
func (c *conn) readErr(err error) error {
	switch {
	case errors.Is(err, io.EOF):
	case errors.Is(err, iscsi.ErrHeaderDigest):
		// A header digest error leaves the stream at an unknown
		// position: the connection cannot be resynchronised at
		// ErrorRecoveryLevel 0.
		c.srv.stats.err(ErrorKindDigest)
	case errors.Is(err, iscsi.ErrDataSegmentLength), errors.Is(err, iscsi.ErrAHSLength):
		c.srv.stats.err(ErrorKindProtocol)
	case c.ctx.Err() == nil:
		c.srv.stats.err(ErrorKindIO)
	}
	return err
}

// dispatch handles one whole PDU of the Full Feature Phase.
func (c *conn) dispatch(f *iscsi.Frame) error {
	var p iscsi.PDU
	var err error
	if f.BHS.Opcode() == iscsi.OpSCSICommand {
		// The hot path decodes in place, allocating nothing.
		p, err = &c.cmd, c.cmd.DecodeFrame(f)
	} else {
		p, err = iscsi.Decode(f)
	}
	if err != nil {
		c.srv.stats.err(ErrorKindProtocol)
		if errors.Is(err, iscsi.ErrOpcode) {
			c.reject(iscsi.RejectCommandNotSupported, &f.BHS)
		} else {
			c.reject(iscsi.RejectInvalidPDUField, &f.BHS)
		}
		return nil
	}
	discovery := c.sess.typ == iscsi.SessionDiscovery
	switch p := p.(type) {
	case *iscsi.SCSICommand:
		if discovery {
			// RFC 7143 section 4.3: a Discovery session carries only
			// Text, Logout and NOP PDUs.
			c.srv.stats.err(ErrorKindProtocol)
			c.sess.admit(c, p.CmdSN, p.Immediate, nil, func() {})
			c.reject(iscsi.RejectProtocolError, &f.BHS)
			return nil
		}
		c.handleCommand(p, &f.BHS)
	case *iscsi.NOPOut:
		c.handleNOPOut(p, &f.BHS)
	case *iscsi.TextRequest:
		c.handleText(p, &f.BHS)
	case *iscsi.LogoutRequest:
		c.handleLogout(p)
	case *iscsi.TaskMgmtRequest:
		if discovery {
			c.srv.stats.err(ErrorKindProtocol)
			c.reject(iscsi.RejectProtocolError, &f.BHS)
			return nil
		}
		c.handleTMF(p)
	case *iscsi.SNACKRequest:
		// ErrorRecoveryLevel 0 supports no SNACK.
		c.srv.stats.err(ErrorKindProtocol)
		c.reject(iscsi.RejectProtocolError, &f.BHS)
	case *iscsi.LoginRequest:
		// A Login Request in the Full Feature Phase is a protocol error.
		c.srv.stats.err(ErrorKindProtocol)
		c.reject(iscsi.RejectProtocolError, &f.BHS)
	default:
		// Target opcodes sent by an initiator.
		c.srv.stats.err(ErrorKindProtocol)
		c.reject(iscsi.RejectCommandNotSupported, &f.BHS)
	}
	return nil
}

// reject queues a Reject quoting the header h.
func (c *conn) reject(reason iscsi.RejectReason, h *iscsi.BHS) {
	r := &iscsi.Reject{Reason: reason, DataSN: 0}
	r.SetRejectedHeader(h)
	c.sendPDU(r)
}

// handleNOPOut answers a ping (RFC 7143 section 11.18).
func (c *conn) handleNOPOut(p *iscsi.NOPOut, h *iscsi.BHS) {
	if p.TTT != iscsi.ReservedTag {
		// The answer to our ping; it carries nothing to answer.
		return
	}
	if p.ITT == iscsi.ReservedTag {
		// "the NOP-Out ... with the ITT 0xffffffff ... MUST be sent as
		// an immediate PDU": no answer is wanted.
		if !p.Immediate {
			c.srv.stats.err(ErrorKindProtocol)
			c.reject(iscsi.RejectProtocolError, h)
		}
		return
	}
	// The NOP-In echoes the ping data, bounded by what the initiator
	// accepts; the reader's buffer is reused, so copy it.
	n := min(len(p.Data), int(c.params.InitiatorMaxRecvDSL))
	data := make([]byte, n)
	copy(data, p.Data)
	reply := &iscsi.NOPIn{ITT: p.ITT, TTT: iscsi.ReservedTag, Data: data}
	if !c.sess.admit(c, p.CmdSN, p.Immediate, nil, func() { c.sendPDU(reply) }) {
		c.srv.stats.err(ErrorKindDropped)
	}
}

// handleLogout ends the session or the connection (RFC 7143 section
// 11.14).
func (c *conn) handleLogout(p *iscsi.LogoutRequest) {
	resp := &iscsi.LogoutResponse{ITT: p.ITT, Response: iscsi.LogoutSuccess}
	deliver := func() {
		switch p.Reason {
		case iscsi.CloseSession, iscsi.CloseConnection:
			if p.Reason == iscsi.CloseConnection && p.CID != c.cid {
				resp.Response = iscsi.LogoutCIDNotFound
				c.sendPDU(resp)
				return
			}
			// The session's tasks end with it (MaxConnections is 1).
			ts := c.sess.abortAll(true)
			ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			waitTasks(ctx, ts)
			cancel()
			if n := c.sess.nexus; n != nil {
				// The I_T nexus ends with the logout: release its SPC-2
				// reservations before the initiator hears of it.
				n.ITNexusLost()
			}
			// The session is over once the initiator hears so: the
			// session list must not show it after the response.
			c.srv.sessRemove(c.sess)
			c.send(connOut{pdu: resp, closeAfter: true})
		default:
			// RFC 7143 section 11.15.1: "connection recovery is not
			// supported" at ErrorRecoveryLevel 0.
			resp.Response = iscsi.LogoutRecoveryNotSupported
			c.sendPDU(resp)
		}
	}
	if !c.sess.admit(c, p.CmdSN, p.Immediate, nil, deliver) {
		c.srv.stats.err(ErrorKindDropped)
	}
}

// pingLoop sends NOP-In pings on an idle connection and drops the
// connection when one goes unanswered for NopInTimeout.
func (c *conn) pingLoop() {
	defer c.wg.Done()
	defer c.recoverPanic("pinger")
	interval, timeout := c.srv.cfg.NopInInterval, c.srv.cfg.NopInTimeout
	tick := time.NewTicker(min(interval, timeout))
	defer tick.Stop()
	var ttt uint32
	for {
		select {
		case <-c.ctx.Done():
			return
		case now := <-tick.C:
			if c.pingTTT.Load() != 0 {
				if now.Sub(time.Unix(0, c.pingSent.Load())) >= timeout {
					c.srv.stats.err(ErrorKindTimeout)
					c.close(errors.New("target: NOP-In ping unanswered"))
					return
				}
				continue
			}
			if now.Sub(time.Unix(0, c.lastRecv.Load())) < interval {
				continue
			}
			// Ping TTTs have the top bit set, apart from R2T tags.
			ttt = (ttt + 1) & 0x7fffffff
			tag := ttt | 0x80000000
			if tag == iscsi.ReservedTag {
				ttt, tag = 1, 0x80000001
			}
			c.pingSent.Store(now.UnixNano())
			c.pingTTT.Store(tag)
			c.sendPDU(&iscsi.NOPIn{ITT: iscsi.ReservedTag, TTT: tag})
		}
	}
}

// connReadBufSize is the size of a connection's read buffer.
const connReadBufSize = 64 << 10

// connReader buffers a connection's reads for the Framer, so that the
// headers (and small data segments) of pipelined PDUs come in with one
// read system call. It holds a buffer from the server's pool only while
// unread bytes are in it: it waits for the socket to become readable
// without one (through syscall.RawConn), so an idle connection holds no
// buffer. A read of at least connReadBufSize bytes with nothing buffered
// goes straight into the caller's memory (a large data segment into its
// task's buffer); smaller ones cost one copy. Without a RawConn (net.Pipe
// in tests) every read goes straight to the connection. It belongs to
// the reader goroutine.
type connReader struct {
	nc   net.Conn
	rc   syscall.RawConn
	pool *sync.Pool
	buf  *[]byte // nil while empty
	r, w int     // the unread bytes are (*buf)[r:w]
	// rawRead is readRaw as a func value, made once; readRaw leaves
	// its outcome in rawErr (io.EOF for the end of the stream).
	rawRead func(fd uintptr) bool
	rawErr  error
	// beforeRead, when set, runs before each read from the socket.
	beforeRead func()
}

func newConnReader(nc net.Conn, pool *sync.Pool) *connReader {
	cr := &connReader{nc: nc, pool: pool}
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			cr.rc = rc
			cr.rawRead = cr.readRaw
		}
	}
	return cr
}

// Read reads into p from the buffer, refilling it when empty.
func (cr *connReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if cr.buf == nil {
		if cr.beforeRead != nil {
			cr.beforeRead()
		}
		if cr.rc == nil || len(p) >= connReadBufSize {
			return cr.nc.Read(p)
		}
		if err := cr.rc.Read(cr.rawRead); err != nil {
			return 0, err
		}
		if err := cr.rawErr; err != nil {
			cr.rawErr = nil
			return 0, err
		}
	}
	n := copy(p, (*cr.buf)[cr.r:cr.w])
	cr.r += n
	if cr.r == cr.w {
		cr.release()
	}
	return n, nil
}

// readRaw is the RawConn callback: one read(2) into a buffer from the
// pool, kept only if it got bytes. It reports false, having returned the
// buffer, to wait until the socket is readable.
func (cr *connReader) readRaw(fd uintptr) bool {
	b, _ := cr.pool.Get().(*[]byte)
	if b == nil {
		buf := make([]byte, connReadBufSize)
		b = &buf
	}
	var n int
	var err error
	for {
		n, err = syscall.Read(int(fd), *b)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case err == syscall.EAGAIN:
		cr.pool.Put(b)
		return false
	case err != nil:
		cr.pool.Put(b)
		cr.rawErr = &net.OpError{Op: "read", Net: cr.nc.LocalAddr().Network(), Source: cr.nc.LocalAddr(),
			Addr: cr.nc.RemoteAddr(), Err: os.NewSyscallError("read", err)}
	case n == 0:
		cr.pool.Put(b)
		cr.rawErr = io.EOF
	default:
		cr.buf, cr.r, cr.w = b, 0, n
	}
	return true
}

// release returns the buffer to the pool, dropping any unread bytes (at
// the end of the connection).
func (cr *connReader) release() {
	if cr.buf != nil {
		cr.pool.Put(cr.buf)
		cr.buf, cr.r, cr.w = nil, 0, 0
	}
}
