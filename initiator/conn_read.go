package initiator

import "io"

// Sizes of a connection's read buffer.
const (
	// connReadMin is the buffer a connection starts with: enough for every
	// Login Response, so a session that only logs in and out never needs
	// more.
	connReadMin = 4 << 10
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
}

// expectLarge says whether the PDUs that come carry data segments
// larger than the buffer.
func (b *connReader) expectLarge(large bool) { b.headerOnly = large }

// newConnReader returns a reader of r with the smallest buffer.
func newConnReader(r io.Reader) *connReader {
	return &connReader{r: r, buf: make([]byte, connReadMin)}
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
		if b.grow {
			b.grow = false
			b.buf = make([]byte, min(2*len(b.buf), connReadMax))
		}
		if len(p) >= len(b.buf) || b.headerOnly {
			return b.r.Read(p)
		}
		b.start, b.end = 0, 0
		n, err := b.r.Read(b.buf)
		if n < 0 || n > len(b.buf) {
			return 0, io.ErrNoProgress
		}
		b.end = n
		if n == len(b.buf) && n < connReadMax {
			b.grow = true
		}
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
