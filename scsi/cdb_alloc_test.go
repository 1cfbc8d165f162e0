package scsi

import "testing"

// TestReadDecodeAllocs guards the target's I/O path: decoding READ and
// WRITE CDBs into a value the caller owns must not allocate.
func TestReadDecodeAllocs(t *testing.T) {
	cdb := []byte{0x28, 0, 0, 0, 0, 8, 0, 0, 8, 0}
	var r Read
	n := testing.AllocsPerRun(100, func() { _ = r.UnmarshalBinary(cdb) })
	w := []byte{0x2a, 0, 0, 0, 0, 8, 0, 0, 8, 0}
	var wr Write
	m := testing.AllocsPerRun(100, func() { _ = wr.UnmarshalBinary(w) })
	if n != 0 || m != 0 {
		t.Fatalf("read %v write %v allocs", n, m)
	}
}
