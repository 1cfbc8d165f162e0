package iscsi

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/lunarsan/lunar/internal/wire"
)

// The layout of one PDU on the wire (RFC 7143 section 11.1), as the Framer
// reads and writes it:
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|7 6 5 4 3 2 1 0|
//	  +---------------+---------------+---------------+---------------+
//	 0/ Basic Header Segment (BHS)                                    /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48/ Additional Header Segment 1 (AHS)  (optional)                 /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	  / Additional Header Segment n (AHS)  (optional)                 /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	 k/ Header-Digest (optional)                                      /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	 l/ Data Segment (optional)                                       /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	 m/ Data-Digest (optional)                                        /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//
// The header digest covers the BHS and the AHS; the data digest covers the
// data segment and its padding and is present only when DataSegmentLength
// is not zero.

// Limits of MaxRecvDataSegmentLength (RFC 7143 section 13.12).
const (
	// DefaultMaxDataSegmentLength is MaxRecvDataSegmentLength's default,
	// 8192 bytes, which is also the limit in force during login.
	DefaultMaxDataSegmentLength = 8192
	// MinMaxDataSegmentLength is the smallest value the key may take.
	MinMaxDataSegmentLength = 512
	// MaxMaxDataSegmentLength is the largest value the key may take,
	// 2^24-1, the largest the DataSegmentLength field can hold.
	MaxMaxDataSegmentLength = maxDataSegmentLength
)

// FramerConfig configures a Framer. The zero value is the state of a new
// connection during login: 8192-byte data segments both ways, no digests.
type FramerConfig struct {
	// MaxRecvDataSegmentLength is the largest data segment this side
	// accepts: the value it declared in MaxRecvDataSegmentLength. A PDU
	// announcing more is rejected before its data is read. Zero means
	// 8192, the RFC's default and the limit during login; otherwise it
	// must be 512 to 2^24-1.
	MaxRecvDataSegmentLength int
	// MaxSendDataSegmentLength is the largest data segment the peer
	// accepts: the MaxRecvDataSegmentLength the peer declared. Writes of
	// longer data segments fail. Zero means 8192; otherwise 512 to
	// 2^24-1.
	MaxSendDataSegmentLength int
	// HeaderDigest turns CRC32C header digests on for both directions.
	HeaderDigest bool
	// DataDigest turns CRC32C data digests on for both directions.
	DataDigest bool
}

// validate checks the limits and fills in the defaults.
func (c *FramerConfig) validate() error {
	var err error
	if c.MaxRecvDataSegmentLength, err = checkMaxDataSegmentLength("MaxRecvDataSegmentLength", c.MaxRecvDataSegmentLength); err != nil {
		return err
	}
	c.MaxSendDataSegmentLength, err = checkMaxDataSegmentLength("MaxSendDataSegmentLength", c.MaxSendDataSegmentLength)
	return err
}

// checkMaxDataSegmentLength applies the default and the range of RFC 7143
// section 13.12 to n.
func checkMaxDataSegmentLength(name string, n int) (int, error) {
	if n == 0 {
		return DefaultMaxDataSegmentLength, nil
	}
	if n < MinMaxDataSegmentLength || n > MaxMaxDataSegmentLength {
		return 0, fmt.Errorf("%w: %s %d (want %d to %d)", ErrInvalidField, name, n, MinMaxDataSegmentLength, MaxMaxDataSegmentLength)
	}
	return n, nil
}

// A Framer reads and writes whole PDUs on a connection: it adds and checks
// padding and CRC32C digests and enforces the negotiated data segment
// lengths. It owns its reader: nothing else may read from it.
//
// # Reading
//
// ReadFrame, or ReadHeader followed by ReadData, read one PDU. The Frame
// they return and the slices in it alias the Framer's buffers and stay
// valid only until the next ReadFrame or ReadHeader; use Frame.Clone to
// keep one. The data segment's length is checked against
// MaxRecvDataSegmentLength before any of the data is read, and the
// Framer's data buffer never grows beyond that limit (plus padding and
// digest).
//
// Errors fall into two kinds. A connection-fatal error (an I/O error or
// end of input inside a PDU, a header digest mismatch, a data segment
// longer than allowed) leaves the stream at an unknown position: the
// Framer returns the same error from every later read, and the caller
// should close the connection. A data digest mismatch (ErrDataDigest) is
// not fatal: the whole PDU has been consumed and the stream is in sync, so
// a target can answer with a Reject (reason Data-Digest-Error) quoting the
// returned Frame's header and go on reading.
//
// # Writing
//
// WriteFrame and WritePDU write one PDU with a single vectored write
// (writev on a *net.TCPConn or *net.UnixConn) without copying its data
// segment. Queue and QueuePDU add PDUs to a batch that Flush writes with
// one vectored write. The length fields of a written Frame are set from
// its AHS and Data.
//
// # Concurrency
//
// A Framer has a reading side (ReadFrame, ReadHeader, ReadData,
// SetMaxRecvDataSegmentLength) and a writing side (WriteFrame, WritePDU,
// Queue, QueuePDU, Flush, SetMaxSendDataSegmentLength). One goroutine may
// use the reading side while another uses the writing side; each side is
// not safe for concurrent use by itself. SetDigests changes both sides and
// may only be called while neither is in use (at the end of login, before
// the Full Feature Phase reader and writer start).
type Framer struct {
	r io.Reader
	w io.Writer

	// Reading side.
	rcfg struct {
		maxData      int
		headerDigest bool
		dataDigest   bool
	}
	rframe   Frame
	rahs     [framerAHSInline]byte // AHS and header digest, when they fit
	rahsBig  []byte                // AHS and header digest up to MaxAHSLen, made on first need
	rtrail   [3 + DigestLen]byte   // padding and data digest after a caller's buffer
	rbuf     []byte                // data segment, padding, data digest
	rpending bool                  // a header was read and its data segment was not
	rerr     error                 // sticky connection-fatal read error

	// Writing side.
	wcfg struct {
		maxData      int
		headerDigest bool
		dataDigest   bool
	}
	wframe Frame       // for WritePDU and QueuePDU
	arena  []byte      // queued headers, AHS, padding and digests
	segs   []segment   // queued segments, in wire order
	wbufs  [][]byte    // backing array for wv
	wv     net.Buffers // what Flush hands to WriteTo
	werr   error       // sticky write error
}

// framerAHSInline is how much AHS and header digest a Framer reads
// without its larger buffer: a header digest and an extended CDB's or a
// bidirectional command's AHS fit; most connections never see more, and a
// Framer is made per connection.
const framerAHSInline = 32

// segment is one piece of the queued output: a range of the arena, or a
// caller's data segment.
type segment struct {
	data       []byte // a caller's data segment, or nil for an arena range
	start, end int    // the arena range
}

// zeroPad is the source of padding bytes.
var zeroPad [3]byte

// NewFramer returns a Framer reading PDUs from r and writing them to w.
// Either may be nil for a Framer used in one direction only; the methods
// of the missing side then return an error wrapping ErrFramerUsage.
func NewFramer(r io.Reader, w io.Writer, cfg FramerConfig) (*Framer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Framer{r: r, w: w}
	f.rcfg.maxData = cfg.MaxRecvDataSegmentLength
	f.wcfg.maxData = cfg.MaxSendDataSegmentLength
	f.SetDigests(cfg.HeaderDigest, cfg.DataDigest)
	return f, nil
}

// SetDigests turns CRC32C header and data digests on or off for both
// directions, from the next PDU on. RFC 7143 section 13.1: "When the
// initiator and target agree on a digest, this digest MUST be used for
// every PDU in the Full Feature Phase." It changes both sides of the
// Framer, so call it only while no read or write is in progress.
func (f *Framer) SetDigests(header, data bool) {
	f.rcfg.headerDigest, f.rcfg.dataDigest = header, data
	f.wcfg.headerDigest, f.wcfg.dataDigest = header, data
}

// SetMaxRecvDataSegmentLength sets the largest data segment the Framer
// accepts, from the next PDU read on: the MaxRecvDataSegmentLength this
// side declared, 512 to 2^24-1 (RFC 7143 section 13.12). It belongs to the
// reading side: call it from the reading goroutine, between reads.
func (f *Framer) SetMaxRecvDataSegmentLength(n int) error {
	n, err := checkMaxDataSegmentLength("MaxRecvDataSegmentLength", n)
	if err != nil {
		return err
	}
	f.rcfg.maxData = n
	if cap(f.rbuf) > n+3+DigestLen {
		f.rbuf = nil // give back a buffer larger than the new limit allows
	}
	return nil
}

// SetMaxSendDataSegmentLength sets the largest data segment the Framer
// writes: the MaxRecvDataSegmentLength the peer declared, 512 to 2^24-1
// (RFC 7143 section 13.12). It belongs to the writing side: call it from
// the writing goroutine, between writes.
func (f *Framer) SetMaxSendDataSegmentLength(n int) error {
	n, err := checkMaxDataSegmentLength("MaxSendDataSegmentLength", n)
	if err != nil {
		return err
	}
	f.wcfg.maxData = n
	return nil
}

// ReadFrame reads one whole PDU. The Frame and its slices alias the
// Framer's buffers and are valid until the next ReadFrame or ReadHeader.
//
// At the end of input on a PDU boundary ReadFrame returns io.EOF; inside a
// PDU it returns an error wrapping io.ErrUnexpectedEOF and ErrTruncated. On
// a data digest mismatch it returns the Frame together with an error
// wrapping ErrDataDigest: the stream stays in sync (see Framer). Any other
// error is connection-fatal and the Frame is nil.
func (f *Framer) ReadFrame() (*Frame, error) {
	fr, err := f.ReadHeader()
	if err != nil {
		return nil, err
	}
	if _, err := f.ReadData(nil); err != nil {
		if errors.Is(err, ErrDataDigest) {
			return fr, err
		}
		return nil, err
	}
	return fr, nil
}

// ReadHeader reads the BHS, the AHS and the header digest of the next PDU
// and checks the digest and the data segment length, without reading the
// data segment: call ReadData next to read it into a buffer of your own.
// The Frame's Data is nil until ReadData fills it. The Frame is valid until
// the next ReadFrame or ReadHeader.
//
// ReadHeader fails with ErrFramerUsage if the previous PDU's data segment
// has not been read with ReadData; the unread data is not discarded. A PDU
// without a data segment needs no ReadData.
func (f *Framer) ReadHeader() (*Frame, error) {
	if err := f.readable(); err != nil {
		return nil, err
	}
	if f.rpending {
		if dsl := f.rframe.BHS.DataSegmentLength(); dsl > 0 {
			return nil, fmt.Errorf("%w: ReadHeader with %d bytes of the previous data segment unread", ErrFramerUsage, dsl)
		}
		f.rpending = false
	}
	fr := &f.rframe
	fr.AHS, fr.Data = nil, nil
	if n, err := io.ReadFull(f.r, fr.BHS[:]); err != nil {
		if n == 0 {
			// Nothing of this PDU was read: the stream is still on a
			// PDU boundary, so the error is not sticky (a read
			// deadline may be retried) and io.EOF is returned as is.
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("iscsi: reading the BHS: %w", err)
		}
		return nil, f.fail("BHS", err)
	}
	ahsLen := fr.BHS.TotalAHSLength() // at most MaxAHSLen: a one-byte count of words
	hd := 0
	if f.rcfg.headerDigest {
		hd = DigestLen
	}
	ahs := f.rahs[:]
	if ahsLen+hd > len(ahs) {
		if f.rahsBig == nil {
			f.rahsBig = make([]byte, MaxAHSLen+DigestLen)
		}
		ahs = f.rahsBig
	}
	if ahsLen+hd > 0 {
		if _, err := io.ReadFull(f.r, ahs[:ahsLen+hd]); err != nil {
			return nil, f.fail("AHS and header digest", err)
		}
	}
	if ahsLen > 0 {
		fr.AHS = ahs[:ahsLen:ahsLen]
	}
	if f.rcfg.headerDigest {
		got, want := digestAt(ahs[ahsLen:]), crc32cHeader(&fr.BHS, fr.AHS)
		if got != want {
			// RFC 7143 section 7.8: "When a target or an initiator
			// receives any iSCSI PDU with a header digest error, it MUST
			// either discard the header and all data up to the beginning
			// of a later PDU or close the connection." The length fields
			// cannot be trusted, so the error is connection-fatal.
			f.rerr = fmt.Errorf("%w: got 0x%08x, computed 0x%08x (%v, ITT 0x%08x)", ErrHeaderDigest, got, want, fr.BHS.Opcode(), fr.BHS.ITT())
			return nil, f.rerr
		}
	}
	// RFC 7143 section 13.12: "The transmitter (initiator or target) is
	// required to send PDUs with a data segment that does not exceed
	// MaxRecvDataSegmentLength of the receiver." Checked before a byte
	// of the data segment is read or any buffer is sized for it.
	if dsl := fr.BHS.DataSegmentLength(); dsl > f.rcfg.maxData {
		f.rerr = fmt.Errorf("%w: %v announces %d bytes, MaxRecvDataSegmentLength is %d", ErrDataSegmentLength, fr.BHS.Opcode(), dsl, f.rcfg.maxData)
		return nil, f.rerr
	}
	f.rpending = true
	return fr, nil
}

// ReadData reads the data segment of the PDU whose header ReadHeader
// returned, with its padding and data digest. If cap(dst) is at least the
// DataSegmentLength the data lands in dst[:DataSegmentLength] and that is
// what ReadData returns (zero copy into, say, a task's buffer); otherwise
// it lands in the Framer's buffer and is valid until the next read. Either
// way the Frame's Data is set to it. Padding bytes are not checked: RFC
// 7143 says they "SHOULD be sent as 0", and a receiver ignores them (they
// are covered by the data digest).
//
// On a data digest mismatch ReadData returns the data with an error
// wrapping ErrDataDigest; the PDU has been consumed and the stream is in
// sync.
func (f *Framer) ReadData(dst []byte) ([]byte, error) {
	if err := f.readable(); err != nil {
		return nil, err
	}
	if !f.rpending {
		return nil, fmt.Errorf("%w: ReadData without ReadHeader", ErrFramerUsage)
	}
	fr := &f.rframe
	dsl := fr.BHS.DataSegmentLength()
	f.rpending = false
	if dsl == 0 {
		// No padding, and no data digest: a PDU carries one only
		// when it has a data segment.
		return dst[:0], nil
	}
	pad := wire.Pad4(dsl)
	dd := 0
	if f.rcfg.dataDigest {
		dd = DigestLen
	}
	var data, trail []byte
	if cap(dst) >= dsl {
		data = dst[:dsl]
		if _, err := io.ReadFull(f.r, data); err != nil {
			return nil, f.fail("data segment", err)
		}
		trail = f.rtrail[:pad+dd]
		if len(trail) > 0 {
			if _, err := io.ReadFull(f.r, trail); err != nil {
				return nil, f.fail("data segment", err)
			}
		}
	} else {
		n := dsl + pad + dd
		if cap(f.rbuf) < n {
			// Grow geometrically but never beyond what the limit
			// can require.
			c := max(n, 2*cap(f.rbuf))
			c = min(c, f.rcfg.maxData+3+DigestLen)
			f.rbuf = make([]byte, c)
		}
		buf := f.rbuf[:n]
		if _, err := io.ReadFull(f.r, buf); err != nil {
			return nil, f.fail("data segment", err)
		}
		data, trail = buf[:dsl:dsl], buf[dsl:]
	}
	fr.Data = data
	if f.rcfg.dataDigest {
		got, want := digestAt(trail[pad:]), crc32cData(data, trail[:pad])
		if got != want {
			// RFC 7143 section 7.8: "When a target receives any iSCSI
			// PDU with a payload digest error, it MUST answer with a
			// Reject PDU with a reason code of Data-Digest-Error and
			// discard the PDU." The PDU is consumed; not fatal.
			return data, fmt.Errorf("%w: got 0x%08x, computed 0x%08x (%v, ITT 0x%08x, %d bytes)", ErrDataDigest, got, want, fr.BHS.Opcode(), fr.BHS.ITT(), dsl)
		}
	}
	return data, nil
}

// readable reports why the reading side cannot be used, if it cannot.
func (f *Framer) readable() error {
	if f.r == nil {
		return fmt.Errorf("%w: Framer has no reader", ErrFramerUsage)
	}
	return f.rerr
}

// fail records a connection-fatal read error inside a PDU and returns it.
// The end of input inside a PDU becomes io.ErrUnexpectedEOF.
func (f *Framer) fail(what string, err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		f.rerr = fmt.Errorf("%w: input ended inside the %s: %w", ErrTruncated, what, io.ErrUnexpectedEOF)
	} else {
		f.rerr = fmt.Errorf("iscsi: reading the %s: %w", what, err)
	}
	f.rpending = false
	return f.rerr
}

// WriteFrame writes the PDU in fr, after any queued ones, with one
// vectored write: header, AHS and header digest, data segment (not
// copied), padding and data digest. It sets fr's length fields first.
func (f *Framer) WriteFrame(fr *Frame) error {
	if err := f.Queue(fr); err != nil {
		return err
	}
	return f.Flush()
}

// WritePDU encodes p into a Frame the Framer reuses and writes it as
// WriteFrame does. p's data segment is written from p's own memory.
func (f *Framer) WritePDU(p PDU) error {
	if err := f.QueuePDU(p); err != nil {
		return err
	}
	return f.Flush()
}

// QueuePDU encodes p and queues it as Queue does: the data segment p
// refers to must stay untouched until Flush returns.
func (f *Framer) QueuePDU(p PDU) error {
	if err := f.writable(); err != nil {
		return err
	}
	if err := p.EncodeFrame(&f.wframe); err != nil {
		return err
	}
	err := f.Queue(&f.wframe)
	f.wframe.Data = nil // do not keep the caller's memory alive
	return err
}

// Queue adds the PDU in fr to the batch the next Flush writes. It sets
// fr's length fields, then copies the header, AHS and digests, so fr may
// be reused at once; the data segment is NOT copied: fr.Data's memory must
// stay untouched until Flush returns.
//
// A data segment longer than the peer's MaxRecvDataSegmentLength is
// refused with ErrDataSegmentLength and nothing is queued.
func (f *Framer) Queue(fr *Frame) error {
	if err := f.writable(); err != nil {
		return err
	}
	if err := fr.SetLengths(); err != nil {
		return err
	}
	// RFC 7143 section 13.12: "The transmitter (initiator or target) is
	// required to send PDUs with a data segment that does not exceed
	// MaxRecvDataSegmentLength of the receiver."
	if n := len(fr.Data); n > f.wcfg.maxData {
		return fmt.Errorf("%w: %v with %d bytes, the peer's MaxRecvDataSegmentLength is %d", ErrDataSegmentLength, fr.BHS.Opcode(), n, f.wcfg.maxData)
	}
	start := len(f.arena)
	f.arena = append(f.arena, fr.BHS[:]...)
	f.arena = append(f.arena, fr.AHS...)
	if f.wcfg.headerDigest {
		f.arena = appendDigest(f.arena, crc32cHeader(&fr.BHS, fr.AHS))
	}
	f.addArena(start)
	if len(fr.Data) == 0 {
		return nil
	}
	f.segs = append(f.segs, segment{data: fr.Data})
	start = len(f.arena)
	pad := zeroPad[:wire.Pad4(len(fr.Data))]
	f.arena = append(f.arena, pad...)
	if f.wcfg.dataDigest {
		f.arena = appendDigest(f.arena, crc32cData(fr.Data, pad))
	}
	f.addArena(start)
	return nil
}

// addArena queues the arena bytes from start to the end, merging them with
// the previous segment when that one ends where they begin (consecutive
// PDUs without data segments become one buffer).
func (f *Framer) addArena(start int) {
	end := len(f.arena)
	if start == end {
		return
	}
	if n := len(f.segs); n > 0 && f.segs[n-1].data == nil && f.segs[n-1].end == start {
		f.segs[n-1].end = end
		return
	}
	f.segs = append(f.segs, segment{start: start, end: end})
}

// Flush writes every queued PDU with one vectored write (writev on a
// *net.TCPConn or *net.UnixConn; on other writers, one Write per
// segment) and empties the queue. A failed write is sticky: the peer may
// have received part of a PDU, so every later write fails too.
func (f *Framer) Flush() error {
	if err := f.writable(); err != nil {
		return err
	}
	if len(f.segs) == 0 {
		return nil
	}
	bufs := f.wbufs[:0]
	for _, s := range f.segs {
		if s.data != nil {
			bufs = append(bufs, s.data)
		} else {
			bufs = append(bufs, f.arena[s.start:s.end])
		}
	}
	f.wbufs = bufs
	f.wv = bufs
	_, err := f.wv.WriteTo(f.w)
	clear(f.wbufs) // drop references to callers' data
	clear(f.segs)
	f.segs, f.arena, f.wv = f.segs[:0], f.arena[:0], nil
	if err != nil {
		f.werr = fmt.Errorf("iscsi: writing PDUs: %w", err)
		return f.werr
	}
	return nil
}

// writable reports why the writing side cannot be used, if it cannot.
func (f *Framer) writable() error {
	if f.w == nil {
		return fmt.Errorf("%w: Framer has no writer", ErrFramerUsage)
	}
	return f.werr
}
