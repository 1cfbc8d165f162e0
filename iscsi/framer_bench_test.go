package iscsi

import (
	"fmt"
	"io"
	"testing"
)

// framerBenchSizes are the data segment sizes the Framer benchmarks use.
var framerBenchSizes = []int{8 << 10, 256 << 10}

// framerLoopReader replays one encoded PDU forever without allocating.
type framerLoopReader struct {
	pdu []byte
	off int
}

func (r *framerLoopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.pdu[r.off:])
		n += c
		r.off = (r.off + c) % len(r.pdu)
	}
	return n, nil
}

func framerBenchCases(b *testing.B, fn func(b *testing.B, size int, cfg FramerConfig)) {
	for _, size := range framerBenchSizes {
		for _, m := range []struct {
			name string
			on   bool
		}{{"digests=off", false}, {"digests=on", true}} {
			b.Run(fmt.Sprintf("%dKiB/%s", size>>10, m.name), func(b *testing.B) {
				fn(b, size, FramerConfig{
					MaxRecvDataSegmentLength: size,
					MaxSendDataSegmentLength: size,
					HeaderDigest:             m.on,
					DataDigest:               m.on,
				})
			})
		}
	}
}

// BenchmarkFramerRead reads Data-In PDUs with ReadFrame, and with
// ReadHeader + ReadData into a caller's buffer ("zerocopy").
func BenchmarkFramerRead(b *testing.B) {
	for _, twoStep := range []bool{false, true} {
		name := "ReadFrame"
		if twoStep {
			name = "zerocopy"
		}
		b.Run(name, func(b *testing.B) {
			framerBenchCases(b, func(b *testing.B, size int, cfg FramerConfig) {
				f := framerTestFrame(OpDataIn, 1, nil, framerPattern(size, 1))
				src := &framerLoopReader{pdu: framerWire(f, cfg.HeaderDigest, cfg.DataDigest)}
				fr := newFramerT(b, src, nil, cfg)
				dst := make([]byte, 0, size)
				if _, err := fr.ReadFrame(); err != nil { // warm-up: sizes the buffer
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					if twoStep {
						if _, err := fr.ReadHeader(); err != nil {
							b.Fatal(err)
						}
						if _, err := fr.ReadData(dst); err != nil {
							b.Fatal(err)
						}
					} else if _, err := fr.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkFramerWrite writes one Data-In PDU per iteration, by
// WriteFrame to io.Discard and to a loopback TCP connection (writev), and
// by WritePDU.
func BenchmarkFramerWrite(b *testing.B) {
	for _, sink := range []string{"discard", "tcp", "WritePDU"} {
		b.Run(sink, func(b *testing.B) {
			framerBenchCases(b, func(b *testing.B, size int, cfg FramerConfig) {
				w := framerBenchSink(b, sink)
				fw := newFramerT(b, nil, w, cfg)
				f := framerTestFrame(OpDataIn, 1, nil, framerPattern(size, 1))
				p := &framerTestPDU{f: f}
				if err := fw.WritePDU(p); err != nil { // warm-up: sizes the queue
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					var err error
					if sink == "WritePDU" {
						err = fw.WritePDU(p)
					} else {
						err = fw.WriteFrame(f)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkFramerQueueFlush queues 32 Data-In PDUs through one reused
// Frame and writes them with one Flush per iteration.
func BenchmarkFramerQueueFlush(b *testing.B) {
	const batch = 32
	for _, sink := range []string{"discard", "tcp"} {
		b.Run(sink, func(b *testing.B) {
			framerBenchCases(b, func(b *testing.B, size int, cfg FramerConfig) {
				w := framerBenchSink(b, sink)
				fw := newFramerT(b, nil, w, cfg)
				data := framerPattern(size, 1)
				src := framerTestFrame(OpDataIn, 1, nil, data)
				var f Frame
				round := func() {
					for i := range batch {
						f.BHS, f.Data = src.BHS, data
						f.BHS.SetITT(uint32(i))
						if err := fw.Queue(&f); err != nil {
							b.Fatal(err)
						}
					}
					if err := fw.Flush(); err != nil {
						b.Fatal(err)
					}
				}
				round() // warm-up: sizes the queue
				b.ReportAllocs()
				b.SetBytes(int64(batch * size))
				for b.Loop() {
					round()
				}
			})
		})
	}
}

// framerBenchSink returns io.Discard, or the client end of a loopback TCP
// connection whose server end a goroutine drains.
func framerBenchSink(b *testing.B, kind string) io.Writer {
	if kind != "tcp" {
		return io.Discard
	}
	client, server := framerTCPPair(b)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, server) //nolint:errcheck // drains until the client closes
	}()
	b.Cleanup(func() { client.Close(); <-drained })
	return client
}
