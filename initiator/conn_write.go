package initiator

import (
	"net"
)

// connWriter is what a Full Feature Phase Framer writes to: it collects
// the buffers of one Flush without copying them, and the connection then
// writes them itself, with one blocking vectored write (the writer
// goroutine) or one write that does not block (the reader, after a batch
// of callbacks). The buffers stay valid until the Framer's next Queue,
// which only the goroutine that owns the write side calls.
type connWriter struct {
	bufs [][]byte
	wv   net.Buffers
}

// Write collects p.
func (w *connWriter) Write(p []byte) (int, error) {
	w.bufs = append(w.bufs, p)
	return len(p), nil
}

// writeTo writes the collected buffers to nc, blocking, with writev on a
// TCP connection, and forgets them.
func (w *connWriter) writeTo(nc net.Conn) error {
	w.wv = w.bufs
	_, err := w.wv.WriteTo(nc)
	w.wv = nil
	w.reset()
	return err
}

// reset forgets the collected buffers.
func (w *connWriter) reset() {
	clear(w.bufs)
	w.bufs = w.bufs[:0]
}
