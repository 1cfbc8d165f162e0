package iscsi

import (
	"bytes"
	"testing"
)

// rfcReadPDU is the SCSI READ (10) command PDU of RFC 7143 appendix A.4
// (RFC 3720 appendix B.4).
var rfcReadPDU = []byte{
	0x01, 0xc0, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x14, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x04, 0x00,
	0x00, 0x00, 0x00, 0x14,
	0x00, 0x00, 0x00, 0x18,
	0x28, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00,
}

// TestCRC32CRFCExamples checks the CRC examples of RFC 7143 appendix A.4:
// the CRC value, and the four bytes the RFC prints, which are the bytes on
// the wire.
func TestCRC32CRFCExamples(t *testing.T) {
	inc, dec := make([]byte, 32), make([]byte, 32)
	for i := range 32 {
		inc[i], dec[i] = byte(i), byte(31-i)
	}
	tests := []struct {
		name string
		in   []byte
		crc  uint32
		wire []byte
	}{
		{"32 bytes of zeroes", make([]byte, 32), 0x8a9136aa, []byte{0xaa, 0x36, 0x91, 0x8a}},
		{"32 bytes of ones", bytes.Repeat([]byte{0xff}, 32), 0x62a8ab43, []byte{0x43, 0xab, 0xa8, 0x62}},
		{"32 bytes incrementing 00..1f", inc, 0x46dd794e, []byte{0x4e, 0x79, 0xdd, 0x46}},
		{"32 bytes decrementing 1f..00", dec, 0x113fdb5c, []byte{0x5c, 0xdb, 0x3f, 0x11}},
		{"SCSI READ (10) command PDU", rfcReadPDU, 0xd9963a56, []byte{0x56, 0x3a, 0x96, 0xd9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := crc32cUpdate(0, tt.in)
			if got != tt.crc {
				t.Fatalf("CRC32C = 0x%08x, want 0x%08x", got, tt.crc)
			}
			if b := appendDigest(nil, got); !bytes.Equal(b, tt.wire) {
				t.Fatalf("wire bytes % x, want % x", b, tt.wire)
			}
			if v := digestAt(tt.wire); v != tt.crc {
				t.Fatalf("digestAt(% x) = 0x%08x, want 0x%08x", tt.wire, v, tt.crc)
			}
			// Byte-at-a-time continuation gives the same value.
			var c uint32
			for i := range tt.in {
				c = crc32cUpdate(c, tt.in[i:i+1])
			}
			if c != tt.crc {
				t.Fatalf("incremental CRC32C = 0x%08x, want 0x%08x", c, tt.crc)
			}
		})
	}
}

// TestCRC32CHeaderRFCPDU computes the header digest of the RFC's READ (10)
// PDU through crc32cHeader and through a Framer, and checks the bytes the
// Framer puts on the wire after the BHS.
func TestCRC32CHeaderRFCPDU(t *testing.T) {
	var fr Frame
	copy(fr.BHS[:], rfcReadPDU)
	if got := crc32cHeader(&fr.BHS, nil); got != 0xd9963a56 {
		t.Fatalf("crc32cHeader = 0x%08x, want 0xd9963a56", got)
	}
	var out bytes.Buffer
	w := newFramerT(t, nil, &out, FramerConfig{HeaderDigest: true})
	framerNoErr(t, w.WriteFrame(&fr))
	want := append(append([]byte(nil), rfcReadPDU...), 0x56, 0x3a, 0x96, 0xd9)
	framerBytes(t, out.Bytes(), want)

	r := newFramerT(t, bytes.NewReader(want), nil, FramerConfig{HeaderDigest: true})
	got, err := r.ReadFrame()
	framerNoErr(t, err)
	framerBytes(t, got.BHS[:], rfcReadPDU)

	// The same PDU with the digest bytes in big-endian order must fail.
	bad := append(append([]byte(nil), rfcReadPDU...), 0xd9, 0x96, 0x3a, 0x56)
	r = newFramerT(t, bytes.NewReader(bad), nil, FramerConfig{HeaderDigest: true})
	_, err = r.ReadFrame()
	framerErrIs(t, err, ErrHeaderDigest)
}

// TestCRC32CData checks that the data digest covers the padding bytes.
func TestCRC32CData(t *testing.T) {
	data := []byte{1, 2, 3, 4, 5}
	want := crc32cUpdate(0, []byte{1, 2, 3, 4, 5, 0, 0, 0})
	if got := crc32cData(data, []byte{0, 0, 0}); got != want {
		t.Fatalf("crc32cData = 0x%08x, want 0x%08x", got, want)
	}
	if got := crc32cData(data, nil); got == want {
		t.Fatalf("crc32cData without padding = with padding 0x%08x", got)
	}
}
