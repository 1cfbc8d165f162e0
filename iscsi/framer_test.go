package iscsi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
)

// Helpers. Their names carry "framer" so they cannot clash with the helpers
// of other test files in the package.

func newFramerT(t testing.TB, r io.Reader, w io.Writer, cfg FramerConfig) *Framer {
	t.Helper()
	f, err := NewFramer(r, w, cfg)
	if err != nil {
		t.Fatalf("NewFramer: %v", err)
	}
	return f
}

func framerNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func framerErrIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want one matching %v", err, target)
	}
}

func framerBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes differ\n got % x\nwant % x", got, want)
	}
}

func framerEqual(t testing.TB, got, want *Frame) {
	t.Helper()
	if got == nil {
		t.Fatal("got nil Frame")
	}
	if got.BHS != want.BHS {
		t.Fatalf("BHS differs\n got % x\nwant % x", got.BHS[:], want.BHS[:])
	}
	framerBytes(t, got.AHS, want.AHS)
	framerBytes(t, got.Data, want.Data)
}

// framerTestFrame builds a Frame by hand: opcode, ITT, AHS and data, with
// its length fields set.
func framerTestFrame(op Opcode, itt uint32, ahs, data []byte) *Frame {
	f := &Frame{AHS: ahs, Data: data}
	f.BHS.SetOpcode(op, false)
	f.BHS.SetFinal(true)
	f.BHS.SetLUN(0x0001000000000000)
	f.BHS.SetITT(itt)
	f.BHS.PutUint32(24, 0x11223344)
	f.BHS.PutUint32(44, itt^0xffffffff)
	if err := f.SetLengths(); err != nil {
		panic(err)
	}
	return f
}

// bidiAHS is a Bidirectional Read Expected Data Transfer Length AHS (RFC
// 7143 section 11.2.2.4): AHSLength 5, AHSType 2, reserved, length.
var bidiAHS = []byte{0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00}

func framerPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

// framerTestFrames is a mix of PDUs: header only, AHS (a small one and
// the largest), every padding length, and a full 8 KiB segment.
func framerTestFrames() []*Frame {
	return []*Frame{
		framerTestFrame(OpNOPOut, 1, nil, nil),
		framerTestFrame(OpSCSICommand, 2, bidiAHS, nil),
		framerTestFrame(OpSCSICommand, 3, bidiAHS, framerPattern(5, 1)),
		framerTestFrame(OpDataOut, 4, nil, framerPattern(1, 2)),
		framerTestFrame(OpDataOut, 5, nil, framerPattern(2, 3)),
		framerTestFrame(OpDataOut, 6, nil, framerPattern(3, 4)),
		framerTestFrame(OpDataOut, 7, nil, framerPattern(4, 5)),
		framerTestFrame(OpDataIn, 8, nil, framerPattern(8192, 6)),
		framerTestFrame(OpR2T, 9, nil, nil),
		framerTestFrame(OpSCSICommand, 10, framerPattern(MaxAHSLen, 7), framerPattern(5, 8)),
		framerTestFrame(OpSCSICommand, 11, bidiAHS, nil),
	}
}

// framerWire is the reference encoding of a PDU, built straight from RFC
// 7143 section 11.1 with hash/crc32 and no Framer code: BHS, AHS, header
// digest, data, zero padding, data digest; digests little-endian.
func framerWire(f *Frame, hd, dd bool) []byte {
	tab := crc32.MakeTable(crc32.Castagnoli)
	var b []byte
	b = append(b, f.BHS[:]...)
	b = append(b, f.AHS...)
	if hd {
		b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, tab))
	}
	if len(f.Data) > 0 {
		seg := append([]byte(nil), f.Data...)
		for len(seg)%4 != 0 {
			seg = append(seg, 0)
		}
		b = append(b, seg...)
		if dd {
			b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(seg, tab))
		}
	}
	return b
}

var framerDigestModes = []struct {
	name   string
	hd, dd bool
}{
	{"none", false, false},
	{"header", true, false},
	{"data", false, true},
	{"both", true, true},
}

func TestFramerConfig(t *testing.T) {
	f := newFramerT(t, &bytes.Buffer{}, &bytes.Buffer{}, FramerConfig{})
	if f.rcfg.maxData != 8192 || f.wcfg.maxData != 8192 {
		t.Fatalf("zero config limits %d/%d, want 8192/8192", f.rcfg.maxData, f.wcfg.maxData)
	}
	if f.rcfg.headerDigest || f.rcfg.dataDigest || f.wcfg.headerDigest || f.wcfg.dataDigest {
		t.Fatal("zero config has digests on")
	}
	for _, n := range []int{-1, 1, 511, 1 << 24, 1 << 30} {
		_, err := NewFramer(nil, nil, FramerConfig{MaxRecvDataSegmentLength: n})
		framerErrIs(t, err, ErrInvalidField)
		_, err = NewFramer(nil, nil, FramerConfig{MaxSendDataSegmentLength: n})
		framerErrIs(t, err, ErrInvalidField)
		framerErrIs(t, f.SetMaxRecvDataSegmentLength(n), ErrInvalidField)
		framerErrIs(t, f.SetMaxSendDataSegmentLength(n), ErrInvalidField)
	}
	for _, n := range []int{512, 8192, 262144, 1<<24 - 1} {
		framerNoErr(t, f.SetMaxRecvDataSegmentLength(n))
		framerNoErr(t, f.SetMaxSendDataSegmentLength(n))
		if f.rcfg.maxData != n || f.wcfg.maxData != n {
			t.Fatalf("limits %d/%d after setting %d", f.rcfg.maxData, f.wcfg.maxData, n)
		}
	}
	// Setting zero after construction restores the default.
	framerNoErr(t, f.SetMaxRecvDataSegmentLength(0))
	if f.rcfg.maxData != 8192 {
		t.Fatalf("SetMaxRecvDataSegmentLength(0) left %d", f.rcfg.maxData)
	}
}

// TestFramerWireBytes checks what WriteFrame puts on the wire against the
// reference encoding, and that ReadFrame takes it back.
func TestFramerWireBytes(t *testing.T) {
	for _, m := range framerDigestModes {
		t.Run(m.name, func(t *testing.T) {
			cfg := FramerConfig{HeaderDigest: m.hd, DataDigest: m.dd}
			for _, fr := range framerTestFrames() {
				var out bytes.Buffer
				w := newFramerT(t, nil, &out, cfg)
				framerNoErr(t, w.WriteFrame(fr))
				want := framerWire(fr, m.hd, m.dd)
				framerBytes(t, out.Bytes(), want)

				r := newFramerT(t, bytes.NewReader(want), nil, cfg)
				got, err := r.ReadFrame()
				framerNoErr(t, err)
				framerEqual(t, got, fr)
				_, err = r.ReadFrame()
				if err != io.EOF {
					t.Fatalf("after the last PDU: %v, want io.EOF", err)
				}
			}
		})
	}
}

// TestFramerWireBytesHandBuilt spells out one PDU with an AHS, a 5-byte
// data segment and both digests byte by byte.
func TestFramerWireBytesHandBuilt(t *testing.T) {
	fr := &Frame{AHS: bidiAHS, Data: []byte("hello")}
	fr.BHS.SetOpcode(OpSCSICommand, true)
	fr.BHS.SetFinal(true)
	fr.BHS.SetITT(0xcafef00d)
	var out bytes.Buffer
	w := newFramerT(t, nil, &out, FramerConfig{HeaderDigest: true, DataDigest: true})
	framerNoErr(t, w.WriteFrame(fr))

	want := []byte{
		0x41, 0x80, 0x00, 0x00, // I, opcode 0x01, F
		0x02, 0x00, 0x00, 0x05, // TotalAHSLength 2 words, DataSegmentLength 5
		0, 0, 0, 0, 0, 0, 0, 0, // LUN
		0xca, 0xfe, 0xf0, 0x0d, // ITT
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00, // AHS
	}
	hcrc := crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli))
	want = append(want, byte(hcrc), byte(hcrc>>8), byte(hcrc>>16), byte(hcrc>>24))
	seg := []byte{'h', 'e', 'l', 'l', 'o', 0, 0, 0}
	dcrc := crc32.Checksum(seg, crc32.MakeTable(crc32.Castagnoli))
	want = append(want, seg...)
	want = append(want, byte(dcrc), byte(dcrc>>8), byte(dcrc>>16), byte(dcrc>>24))
	framerBytes(t, out.Bytes(), want)
	if len(want) != 48+8+4+8+4 {
		t.Fatalf("want is %d bytes", len(want))
	}
}

// TestFramerRoundTrip sends a mix of PDUs over several transports with
// every digest mode, by WriteFrame, WritePDU and Queue+Flush.
func TestFramerRoundTrip(t *testing.T) {
	transports := []struct {
		name string
		conn func(t *testing.T) (io.Reader, io.Writer, func())
	}{
		{"io.Pipe", func(t *testing.T) (io.Reader, io.Writer, func()) {
			pr, pw := io.Pipe()
			return pr, pw, func() { pw.Close() }
		}},
		{"net.Pipe", func(t *testing.T) (io.Reader, io.Writer, func()) {
			a, b := net.Pipe()
			t.Cleanup(func() { b.Close() })
			return b, a, func() { a.Close() }
		}},
		{"tcp", func(t *testing.T) (io.Reader, io.Writer, func()) {
			a, b := framerTCPPair(t)
			return b, a, func() { a.Close() }
		}},
	}
	for _, tr := range transports {
		for _, m := range framerDigestModes {
			for _, mode := range []string{"WriteFrame", "WritePDU", "Queue"} {
				t.Run(tr.name+"/"+m.name+"/"+mode, func(t *testing.T) {
					cfg := FramerConfig{HeaderDigest: m.hd, DataDigest: m.dd}
					r, w, closeW := tr.conn(t)
					frames := framerTestFrames()
					done := make(chan error, 1)
					go func() {
						defer closeW()
						fw, err := NewFramer(nil, w, cfg)
						if err != nil {
							done <- err
							return
						}
						// Its own copies: WriteFrame sets the length fields.
						done <- framerSend(fw, framerTestFrames(), mode)
					}()
					fr := newFramerT(t, r, nil, cfg)
					for i, want := range frames {
						got, err := fr.ReadFrame()
						if err != nil {
							t.Fatalf("PDU %d: %v", i, err)
						}
						framerEqual(t, got, want)
					}
					if _, err := fr.ReadFrame(); err != io.EOF {
						t.Fatalf("after the last PDU: %v, want io.EOF", err)
					}
					framerNoErr(t, <-done)
				})
			}
		}
	}
}

func framerSend(fw *Framer, frames []*Frame, mode string) error {
	var scratch Frame
	for _, f := range frames {
		var err error
		switch mode {
		case "WriteFrame":
			err = fw.WriteFrame(f)
		case "WritePDU":
			err = fw.WritePDU(&framerTestPDU{f: f})
		case "Queue":
			// Reuse one Frame for every PDU, as a writer goroutine
			// does: Queue must copy the header.
			scratch = Frame{BHS: f.BHS, AHS: append(scratch.AHS[:0], f.AHS...), Data: f.Data}
			err = fw.Queue(&scratch)
		}
		if err != nil {
			return err
		}
	}
	return fw.Flush()
}

// framerTestPDU is a PDU that encodes to a given Frame; it stands in for the
// real PDU types in these tests.
type framerTestPDU struct{ f *Frame }

func (p *framerTestPDU) Opcode() Opcode { return p.f.BHS.Opcode() }

func (p *framerTestPDU) EncodeFrame(f *Frame) error {
	f.BHS = p.f.BHS
	f.AHS = append(f.AHS[:0], p.f.AHS...)
	f.Data = p.f.Data
	return f.SetLengths()
}

func (p *framerTestPDU) DecodeFrame(f *Frame) error { p.f = f.Clone(); return nil }

func framerTCPPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	framerNoErr(t, err)
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	a, err := net.Dial("tcp", ln.Addr().String())
	framerNoErr(t, err)
	r := <-ch
	framerNoErr(t, r.err)
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a.(*net.TCPConn), r.c.(*net.TCPConn)
}

// framerStream encodes frames with the reference encoder and returns the
// stream and the offsets where each PDU ends.
func framerStream(frames []*Frame, hd, dd bool) ([]byte, []int) {
	var b []byte
	var ends []int
	for _, f := range frames {
		b = append(b, framerWire(f, hd, dd)...)
		ends = append(ends, len(b))
	}
	return b, ends
}

// TestFramerTruncated cuts a valid stream at every byte: a cut on a PDU
// boundary is a clean io.EOF, any other cut is io.ErrUnexpectedEOF (and
// ErrTruncated), and the error sticks.
func TestFramerTruncated(t *testing.T) {
	frames := []*Frame{
		framerTestFrame(OpSCSICommand, 1, bidiAHS, framerPattern(5, 1)),
		framerTestFrame(OpNOPIn, 2, nil, nil),
		framerTestFrame(OpDataIn, 3, nil, framerPattern(67, 2)),
	}
	for _, m := range framerDigestModes {
		for _, twoStep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/twostep=%v", m.name, twoStep), func(t *testing.T) {
				cfg := FramerConfig{HeaderDigest: m.hd, DataDigest: m.dd}
				stream, ends := framerStream(frames, m.hd, m.dd)
				boundary := map[int]int{0: 0}
				for i, e := range ends {
					boundary[e] = i + 1
				}
				for cut := 0; cut < len(stream); cut++ {
					fr := newFramerT(t, bytes.NewReader(stream[:cut]), nil, cfg)
					n := 0
					var err error
					for {
						if twoStep {
							var h *Frame
							h, err = fr.ReadHeader()
							if err == nil {
								_, err = fr.ReadData(make([]byte, 0, h.BHS.DataSegmentLength()))
							}
						} else {
							_, err = fr.ReadFrame()
						}
						if err != nil {
							break
						}
						n++
					}
					if whole, ok := boundary[cut]; ok {
						if err != io.EOF || n != whole {
							t.Fatalf("cut %d: %d PDUs then %v, want %d then io.EOF", cut, n, err, whole)
						}
						continue
					}
					if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.Is(err, ErrTruncated) {
						t.Fatalf("cut %d: %v, want io.ErrUnexpectedEOF and ErrTruncated", cut, err)
					}
					_, again := fr.ReadFrame()
					if again != err {
						t.Fatalf("cut %d: error did not stick: %v then %v", cut, err, again)
					}
				}
			})
		}
	}
}

// TestFramerHeaderDigestError flips each byte of the BHS, the AHS and the
// header digest in turn.
func TestFramerHeaderDigestError(t *testing.T) {
	frames := []*Frame{framerTestFrame(OpSCSICommand, 1, bidiAHS, framerPattern(5, 1)), framerTestFrame(OpNOPOut, 2, nil, nil)}
	stream, _ := framerStream(frames, true, false)
	// Room for a TotalAHSLength the flip makes larger.
	stream = append(stream, make([]byte, MaxAHSLen)...)
	for i := range BHSLen + len(bidiAHS) + DigestLen {
		bad := bytes.Clone(stream)
		bad[i] ^= 0x20
		fr := newFramerT(t, bytes.NewReader(bad), nil, FramerConfig{HeaderDigest: true})
		got, err := fr.ReadFrame()
		if got != nil {
			t.Fatalf("byte %d: got a Frame with %v", i, err)
		}
		framerErrIs(t, err, ErrHeaderDigest)
		// Connection-fatal: the error sticks.
		_, err2 := fr.ReadFrame()
		framerErrIs(t, err2, ErrHeaderDigest)
	}
}

// TestFramerDataDigestError corrupts a data byte, a padding byte and the
// digest: each is reported with the Frame, and the next PDU reads fine.
func TestFramerDataDigestError(t *testing.T) {
	first := framerTestFrame(OpDataOut, 1, nil, framerPattern(5, 1))
	second := framerTestFrame(OpDataOut, 2, nil, framerPattern(8, 2))
	stream, ends := framerStream([]*Frame{first, second}, true, true)
	dataStart := BHSLen + DigestLen
	for _, off := range []int{dataStart, dataStart + 4, dataStart + 5, dataStart + 7, ends[0] - 1} {
		for _, twoStep := range []bool{false, true} {
			bad := bytes.Clone(stream)
			bad[off] ^= 0x01
			fr := newFramerT(t, bytes.NewReader(bad), nil, FramerConfig{HeaderDigest: true, DataDigest: true})
			var got *Frame
			var err error
			if twoStep {
				got, err = fr.ReadHeader()
				framerNoErr(t, err)
				_, err = fr.ReadData(make([]byte, 0, 64))
			} else {
				got, err = fr.ReadFrame()
			}
			framerErrIs(t, err, ErrDataDigest)
			if got == nil || got.BHS != first.BHS {
				t.Fatalf("offset %d: Frame not returned with the data digest error", off)
			}
			next, err := fr.ReadFrame()
			framerNoErr(t, err)
			framerEqual(t, next, second)
		}
	}
}

// TestFramerPaddingIgnored reads PDUs whose padding bytes are not zero:
// without a data digest they are ignored.
func TestFramerPaddingIgnored(t *testing.T) {
	f := framerTestFrame(OpDataIn, 1, nil, framerPattern(5, 9))
	stream := framerWire(f, false, false)
	stream[len(stream)-1], stream[len(stream)-2], stream[len(stream)-3] = 0xff, 0xee, 0xdd
	stream = append(stream, framerWire(framerTestFrame(OpNOPIn, 2, nil, nil), false, false)...)
	fr := newFramerT(t, bytes.NewReader(stream), nil, FramerConfig{})
	got, err := fr.ReadFrame()
	framerNoErr(t, err)
	framerEqual(t, got, f)
	got, err = fr.ReadFrame()
	framerNoErr(t, err)
	if got.BHS.ITT() != 2 {
		t.Fatalf("second PDU ITT %d, want 2", got.BHS.ITT())
	}
}

// framerEndless returns a BHS and then an endless stream of bytes, and
// counts how much was read from it.
type framerEndless struct {
	head []byte
	read int
}

func (r *framerEndless) Read(p []byte) (int, error) {
	n := 0
	if r.read < len(r.head) {
		n = copy(p, r.head[r.read:])
	} else {
		for i := range p {
			p[i] = 0x5a
		}
		n = len(p)
	}
	r.read += n
	return n, nil
}

// TestFramerOversizeRejected announces data segments above the limit: the
// Framer fails with ErrDataSegmentLength having read no more than the
// header, and allocates nothing for the data.
func TestFramerOversizeRejected(t *testing.T) {
	for _, tc := range []struct {
		limit, dsl int
		hd         bool
	}{
		{0, 8193, false},
		{0, 1<<24 - 1, true},
		{512, 513, false},
		{262144, 262145, true},
	} {
		var h BHS
		h.SetOpcode(OpDataOut, false)
		h[5], h[6], h[7] = byte(tc.dsl>>16), byte(tc.dsl>>8), byte(tc.dsl)
		head := h[:]
		want := BHSLen
		if tc.hd {
			head = binary.LittleEndian.AppendUint32(bytes.Clone(head), crc32cHeader(&h, nil))
			want += DigestLen
		}
		src := &framerEndless{head: head}
		fr := newFramerT(t, src, nil, FramerConfig{MaxRecvDataSegmentLength: tc.limit, HeaderDigest: tc.hd})
		allocs := testing.AllocsPerRun(1, func() {
			_, err := fr.ReadFrame()
			framerErrIs(t, err, ErrDataSegmentLength)
		})
		if src.read != want {
			t.Fatalf("limit %d, DSL %d: read %d bytes, want %d", tc.limit, tc.dsl, src.read, want)
		}
		if cap(fr.rbuf) != 0 {
			t.Fatalf("limit %d, DSL %d: data buffer of %d bytes allocated", tc.limit, tc.dsl, cap(fr.rbuf))
		}
		// The allocations are the error value alone, never the data.
		if allocs > 4 {
			t.Fatalf("limit %d, DSL %d: %v allocations", tc.limit, tc.dsl, allocs)
		}
		// Connection-fatal: it sticks, and nothing more is read.
		_, err := fr.ReadHeader()
		framerErrIs(t, err, ErrDataSegmentLength)
		if src.read != want {
			t.Fatalf("read %d bytes after the error", src.read)
		}
	}
}

// TestFramerBufferBounded reads a growing series of PDUs and checks the
// data buffer never exceeds the limit plus padding and digest, and that
// lowering the limit drops a buffer that is now too large.
func TestFramerBufferBounded(t *testing.T) {
	const limit = 10000
	var frames []*Frame
	for _, n := range []int{1, 100, 4097, 8191, 9999, limit} {
		frames = append(frames, framerTestFrame(OpDataOut, uint32(n), nil, framerPattern(n, 3)))
	}
	stream, _ := framerStream(frames, false, true)
	fr := newFramerT(t, bytes.NewReader(stream), nil, FramerConfig{MaxRecvDataSegmentLength: limit, DataDigest: true})
	for _, want := range frames {
		got, err := fr.ReadFrame()
		framerNoErr(t, err)
		framerEqual(t, got, want)
		if c := cap(fr.rbuf); c > limit+3+DigestLen {
			t.Fatalf("buffer cap %d above %d", c, limit+3+DigestLen)
		}
	}
	framerNoErr(t, fr.SetMaxRecvDataSegmentLength(512))
	if fr.rbuf != nil {
		t.Fatalf("buffer of %d bytes kept after lowering the limit to 512", cap(fr.rbuf))
	}
}

// TestFramerTwoStep exercises ReadHeader and ReadData: zero-copy into a
// large enough buffer, fallback to the internal buffer, and misuse.
func TestFramerTwoStep(t *testing.T) {
	frames := []*Frame{
		framerTestFrame(OpDataOut, 1, nil, framerPattern(1000, 1)),
		framerTestFrame(OpDataOut, 2, nil, framerPattern(1001, 2)),
		framerTestFrame(OpNOPOut, 3, nil, nil),
		framerTestFrame(OpNOPOut, 4, nil, nil),
		framerTestFrame(OpDataOut, 5, nil, framerPattern(6, 3)),
	}
	for _, m := range framerDigestModes {
		t.Run(m.name, func(t *testing.T) {
			stream, _ := framerStream(frames, m.hd, m.dd)
			fr := newFramerT(t, bytes.NewReader(stream), nil, FramerConfig{HeaderDigest: m.hd, DataDigest: m.dd})

			_, err := fr.ReadData(nil)
			framerErrIs(t, err, ErrFramerUsage)

			// Zero copy: the data lands in dst.
			h, err := fr.ReadHeader()
			framerNoErr(t, err)
			if h.Data != nil {
				t.Fatal("Data set before ReadData")
			}
			dst := make([]byte, 0, 4096)
			data, err := fr.ReadData(dst)
			framerNoErr(t, err)
			if &data[0] != &dst[:1][0] {
				t.Fatal("data not read into dst")
			}
			framerEqual(t, h, frames[0])

			// ReadHeader again without ReadData is refused and
			// discards nothing.
			h, err = fr.ReadHeader()
			framerNoErr(t, err)
			_, err = fr.ReadHeader()
			framerErrIs(t, err, ErrFramerUsage)
			// dst too small: the internal buffer is used.
			small := make([]byte, 0, 10)
			data, err = fr.ReadData(small)
			framerNoErr(t, err)
			if &data[0] == &small[:1][0] {
				t.Fatal("data read into a too-small dst")
			}
			framerEqual(t, h, frames[1])

			// PDUs without data need no ReadData.
			h, err = fr.ReadHeader()
			framerNoErr(t, err)
			framerEqual(t, h, frames[2])
			h, err = fr.ReadHeader()
			framerNoErr(t, err)
			framerEqual(t, h, frames[3])
			data, err = fr.ReadData(nil)
			framerNoErr(t, err)
			if len(data) != 0 {
				t.Fatalf("ReadData of an empty segment returned %d bytes", len(data))
			}
			_, err = fr.ReadData(nil)
			framerErrIs(t, err, ErrFramerUsage)

			got, err := fr.ReadFrame()
			framerNoErr(t, err)
			framerEqual(t, got, frames[4])
			if _, err := fr.ReadHeader(); err != io.EOF {
				t.Fatalf("at the end: %v, want io.EOF", err)
			}
		})
	}
}

// TestFramerSetDigests switches digests on between PDUs, as at the end of
// login.
func TestFramerSetDigests(t *testing.T) {
	login := framerTestFrame(OpLoginResp, 1, nil, []byte("HeaderDigest=CRC32C\x00"))
	ffp := framerTestFrame(OpDataIn, 2, nil, framerPattern(11, 4))
	var buf bytes.Buffer
	fw := newFramerT(t, nil, &buf, FramerConfig{})
	framerNoErr(t, fw.WriteFrame(login))
	fw.SetDigests(true, true)
	framerNoErr(t, fw.WriteFrame(ffp))
	want := append(framerWire(login, false, false), framerWire(ffp, true, true)...)
	framerBytes(t, buf.Bytes(), want)

	fr := newFramerT(t, &buf, nil, FramerConfig{})
	got, err := fr.ReadFrame()
	framerNoErr(t, err)
	framerEqual(t, got, login)
	fr.SetDigests(true, true)
	got, err = fr.ReadFrame()
	framerNoErr(t, err)
	framerEqual(t, got, ffp)
}

// TestFramerWriteLimits checks the send-side limits: nothing is written
// for a refused PDU.
func TestFramerWriteLimits(t *testing.T) {
	var buf bytes.Buffer
	fw := newFramerT(t, nil, &buf, FramerConfig{MaxSendDataSegmentLength: 512})
	big := framerTestFrame(OpDataIn, 1, nil, make([]byte, 513))
	framerErrIs(t, fw.WriteFrame(big), ErrDataSegmentLength)
	framerErrIs(t, fw.Queue(big), ErrDataSegmentLength)
	badAHS := &Frame{AHS: []byte{1, 2, 3}}
	framerErrIs(t, fw.WriteFrame(badAHS), ErrAHSLength)
	framerNoErr(t, fw.Flush())
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written for refused PDUs", buf.Len())
	}
	framerNoErr(t, fw.SetMaxSendDataSegmentLength(513))
	framerNoErr(t, fw.WriteFrame(big))
	framerBytes(t, buf.Bytes(), framerWire(big, false, false))
}

// TestFramerSetsLengths writes a Frame whose length fields are stale.
func TestFramerSetsLengths(t *testing.T) {
	f := &Frame{AHS: bidiAHS, Data: []byte{1, 2, 3}}
	f.BHS.SetOpcode(OpSCSICommand, false)
	f.BHS[4], f.BHS[5], f.BHS[6], f.BHS[7] = 9, 9, 9, 9
	var buf bytes.Buffer
	fw := newFramerT(t, nil, &buf, FramerConfig{})
	framerNoErr(t, fw.WriteFrame(f))
	if f.BHS.TotalAHSLength() != 8 || f.BHS.DataSegmentLength() != 3 {
		t.Fatalf("lengths %d/%d, want 8/3", f.BHS.TotalAHSLength(), f.BHS.DataSegmentLength())
	}
	framerBytes(t, buf.Bytes(), framerWire(f, false, false))
}

// framerCountingWriter records every Write call.
type framerCountingWriter struct {
	bytes.Buffer
	calls int
}

func (w *framerCountingWriter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

// TestFramerQueueFlush queues 32 PDUs through one reused Frame and flushes
// them at once: the bytes are exact, the header copies survive the reuse,
// and header-only PDUs coalesce into one buffer (one Write call even on a
// writer without writev).
func TestFramerQueueFlush(t *testing.T) {
	for _, m := range framerDigestModes {
		t.Run(m.name, func(t *testing.T) {
			cfg := FramerConfig{HeaderDigest: m.hd, DataDigest: m.dd}
			for _, withData := range []bool{false, true} {
				var cw framerCountingWriter
				fw := newFramerT(t, nil, &cw, cfg)
				var want []byte
				var scratch Frame
				datas := make([][]byte, 32)
				for i := range 32 {
					var data []byte
					if withData {
						data = framerPattern(i*37+1, byte(i))
						datas[i] = data
					}
					src := framerTestFrame(OpSCSIResponse, uint32(i), nil, data)
					want = append(want, framerWire(src, m.hd, m.dd)...)
					scratch.BHS, scratch.AHS, scratch.Data = src.BHS, nil, data
					framerNoErr(t, fw.Queue(&scratch))
					scratch.BHS = BHS{} // the queued copy must not change
				}
				if cw.calls != 0 {
					t.Fatalf("%d writes before Flush", cw.calls)
				}
				framerNoErr(t, fw.Flush())
				framerBytes(t, cw.Bytes(), want)
				if !withData && cw.calls != 1 {
					t.Fatalf("32 header-only PDUs took %d writes, want 1", cw.calls)
				}
				// An empty Flush writes nothing.
				calls := cw.calls
				framerNoErr(t, fw.Flush())
				if cw.calls != calls {
					t.Fatal("empty Flush wrote")
				}
			}
		})
	}
}

// TestFramerQueueFlushTCP sends a batch of 32 over loopback TCP, where
// Flush is a writev, and reads it back.
func TestFramerQueueFlushTCP(t *testing.T) {
	a, b := framerTCPPair(t)
	cfg := FramerConfig{HeaderDigest: true, DataDigest: true}
	fw := newFramerT(t, nil, a, cfg)
	var frames []*Frame
	for i := range 32 {
		f := framerTestFrame(OpDataIn, uint32(i), nil, framerPattern(i*131, byte(i)))
		frames = append(frames, f)
		framerNoErr(t, fw.Queue(f))
	}
	done := make(chan error, 1)
	go func() { done <- fw.Flush() }()
	fr := newFramerT(t, b, nil, cfg)
	for _, want := range frames {
		got, err := fr.ReadFrame()
		framerNoErr(t, err)
		framerEqual(t, got, want)
	}
	framerNoErr(t, <-done)
}

// framerFailingWriter fails after n bytes.
type framerFailingWriter struct{ n int }

var errFramerTestWrite = errors.New("test write failure")

func (w *framerFailingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errFramerTestWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestFramerWriteErrorSticky(t *testing.T) {
	fw := newFramerT(t, nil, &framerFailingWriter{n: 10}, FramerConfig{})
	f := framerTestFrame(OpNOPIn, 1, nil, []byte{1, 2, 3})
	framerErrIs(t, fw.WriteFrame(f), errFramerTestWrite)
	framerErrIs(t, fw.WriteFrame(f), errFramerTestWrite)
	framerErrIs(t, fw.Queue(f), errFramerTestWrite)
	framerErrIs(t, fw.Flush(), errFramerTestWrite)
}

func TestFramerOneSided(t *testing.T) {
	ro := newFramerT(t, bytes.NewReader(nil), nil, FramerConfig{})
	f := framerTestFrame(OpNOPIn, 1, nil, nil)
	framerErrIs(t, ro.WriteFrame(f), ErrFramerUsage)
	framerErrIs(t, ro.Queue(f), ErrFramerUsage)
	framerErrIs(t, ro.Flush(), ErrFramerUsage)
	framerErrIs(t, ro.WritePDU(&framerTestPDU{f: f}), ErrFramerUsage)
	framerErrIs(t, ro.QueuePDU(&framerTestPDU{f: f}), ErrFramerUsage)
	wo := newFramerT(t, nil, io.Discard, FramerConfig{})
	_, err := wo.ReadFrame()
	framerErrIs(t, err, ErrFramerUsage)
	_, err = wo.ReadHeader()
	framerErrIs(t, err, ErrFramerUsage)
	_, err = wo.ReadData(nil)
	framerErrIs(t, err, ErrFramerUsage)
}

// framerErrReader returns its error without any bytes: a read deadline on
// a PDU boundary.
type framerErrReader struct{ err error }

func (r framerErrReader) Read([]byte) (int, error) { return 0, r.err }

// TestFramerBoundaryErrorNotSticky: an error before the first byte of a
// PDU leaves the stream in sync, so it does not stick.
func TestFramerBoundaryErrorNotSticky(t *testing.T) {
	errTimeout := errors.New("timeout")
	src := &framerSwitchReader{first: framerErrReader{errTimeout}}
	src.then = bytes.NewReader(framerWire(framerTestFrame(OpNOPIn, 7, nil, nil), false, false))
	fr := newFramerT(t, src, nil, FramerConfig{})
	_, err := fr.ReadFrame()
	framerErrIs(t, err, errTimeout)
	got, err := fr.ReadFrame()
	framerNoErr(t, err)
	if got.BHS.ITT() != 7 {
		t.Fatalf("ITT %d, want 7", got.BHS.ITT())
	}
}

// TestFramerMidPDUErrorSticky: an I/O error after the first byte of a PDU
// is connection-fatal, keeps the underlying error and sticks.
func TestFramerMidPDUErrorSticky(t *testing.T) {
	errReset := errors.New("connection reset")
	f := framerTestFrame(OpDataIn, 1, nil, framerPattern(100, 1))
	src := &framerSwitchReader{first: bytes.NewReader(framerWire(f, false, false)[:60]), then: framerErrReader{errReset}} // BHS, then the reset
	fr := newFramerT(t, src, nil, FramerConfig{})
	_, err := fr.ReadFrame()
	framerErrIs(t, err, errReset)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v reported as truncation", err)
	}
	_, again := fr.ReadFrame()
	if again != err {
		t.Fatalf("error did not stick: %v then %v", err, again)
	}
}

type framerSwitchReader struct {
	first, then io.Reader
	used        bool
}

func (r *framerSwitchReader) Read(p []byte) (int, error) {
	if !r.used {
		r.used = true
		return r.first.Read(p)
	}
	return r.then.Read(p)
}

// FuzzFramerRead feeds arbitrary bytes through ReadFrame (or ReadHeader +
// ReadData) with fuzzed configuration bits. It must never panic, never
// return more data than the limit, never grow its buffer beyond the
// limit, and every PDU it accepts must re-encode to something that reads
// back the same.
func FuzzFramerRead(f *testing.F) {
	for _, m := range framerDigestModes {
		stream, _ := framerStream(framerTestFrames()[:7], m.hd, m.dd)
		bits := byte(0)
		if m.hd {
			bits |= 1
		}
		if m.dd {
			bits |= 2
		}
		f.Add(bits, uint16(0), stream)
		f.Add(bits|4, uint16(0), stream)
	}
	f.Add(byte(0), uint16(1), framerWire(framerTestFrame(OpDataOut, 1, nil, make([]byte, 600)), false, false))
	golden, digest := goldenPDUs(f)
	for i, b := range golden {
		bits := byte(0)
		if digest[i] {
			bits = 1
		}
		f.Add(bits, uint16(0), b)
	}
	f.Fuzz(func(t *testing.T, bits byte, limit uint16, in []byte) {
		cfg := FramerConfig{HeaderDigest: bits&1 != 0, DataDigest: bits&2 != 0}
		if limit != 0 {
			cfg.MaxRecvDataSegmentLength = 512 + int(limit)
		}
		twoStep := bits&4 != 0
		fr := newFramerT(t, bytes.NewReader(in), nil, cfg)
		limitN := fr.rcfg.maxData
		for range 64 {
			var got *Frame
			var err error
			if twoStep {
				got, err = fr.ReadHeader()
				if err == nil {
					var dst []byte
					if bits&8 != 0 {
						dst = make([]byte, 0, 1024)
					}
					_, err = fr.ReadData(dst)
				}
			} else {
				got, err = fr.ReadFrame()
			}
			if c := cap(fr.rbuf); c > limitN+3+DigestLen {
				t.Fatalf("buffer cap %d above limit %d", c, limitN)
			}
			if err != nil {
				if errors.Is(err, ErrDataDigest) {
					continue
				}
				return
			}
			if len(got.Data) > limitN || len(got.AHS) > MaxAHSLen {
				t.Fatalf("Data %d bytes (limit %d), AHS %d", len(got.Data), limitN, len(got.AHS))
			}
			// Re-encode and read back.
			var buf bytes.Buffer
			w := newFramerT(t, nil, &buf, FramerConfig{HeaderDigest: cfg.HeaderDigest, DataDigest: cfg.DataDigest, MaxSendDataSegmentLength: limitN})
			c := got.Clone()
			if err := w.WriteFrame(c); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			r := newFramerT(t, &buf, nil, cfg)
			back, err := r.ReadFrame()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			framerEqual(t, back, c)
		}
	})
}
