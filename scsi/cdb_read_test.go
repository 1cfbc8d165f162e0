package scsi

import (
	"errors"
	"testing"
)

func readCases() []cdbCase {
	return []cdbCase{
		{"READ(6) 256", "08 1f ff ff 00 00", &Read{Op: OpRead6, LBA: 0x1fffff, Blocks: 256}},
		{"READ(6) 8", "08 00 01 00 08 00", &Read{Op: OpRead6, LBA: 0x100, Blocks: 8}},
		{"READ(10) SBC example", "28 00 12 34 56 78 00 00 08 00", &Read{Op: OpRead10, LBA: 0x12345678, Blocks: 8}},
		{"READ(10) all flags", "28 fa 00 00 00 01 1f ff ff 04",
			&Read{Op: OpRead10, RDProtect: 7, DPO: true, FUA: true, FUANV: true, LBA: 1, Blocks: 0xffff, Group: 0x1f, Control: 0x04}},
		{"READ(10) zero length", "28 00 00 00 00 00 00 00 00 00", &Read{Op: OpRead10}},
		{"READ(12)", "a8 18 00 00 10 00 00 01 00 00 05 00",
			&Read{Op: OpRead12, DPO: true, FUA: true, LBA: 0x1000, Blocks: 0x10000, Group: 5}},
		{"READ(16)", "88 20 01 23 45 67 89 ab cd ef 00 00 01 00 00 00",
			&Read{Op: OpRead16, RDProtect: 1, LBA: 0x0123456789abcdef, Blocks: 256}},
	}
}

func TestCDBRead(t *testing.T) {
	testCDBGolden(t, readCases())
	r := &Read{Op: OpRead6, LBA: 2, Blocks: 256}
	if lba, n := r.Range(); lba != 2 || n != 256 || r.TransferBlocks() != 256 {
		t.Errorf("READ(6) Range %d,%d TransferBlocks %d", lba, n, r.TransferBlocks())
	}
	var _ BlockIO = r
}

func TestCDBReadIgnoresReservedBits(t *testing.T) {
	c, err := DecodeCDB(cdbHex(t, "08 e0 00 01 01 00"))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.(*Read); r.LBA != 1 || r.Blocks != 1 {
		t.Errorf("READ(6) with obsolete LUN bits: %+v", r)
	}
}

func TestCDBReadPickOp(t *testing.T) {
	for _, tc := range []struct {
		r    Read
		want OpCode
	}{
		{Read{LBA: 8, Blocks: 1}, OpRead10},
		{Read{LBA: 0xffffffff, Blocks: 0xffff}, OpRead10},
		{Read{LBA: 1 << 32, Blocks: 1}, OpRead16},
		{Read{LBA: 0, Blocks: 0x10000}, OpRead16},
	} {
		if got := tc.r.OpCode(); got != tc.want {
			t.Errorf("%+v: OpCode %v, want %v", tc.r, got, tc.want)
		}
		b, err := tc.r.MarshalBinary()
		if err != nil || OpCode(b[0]) != tc.want || len(b) != tc.want.CDBLength() {
			t.Errorf("%+v: % x, %v", tc.r, b, err)
		}
	}
}

func TestCDBReadEncodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		r         Read
		byte, bit int
	}{
		{"READ(6) LBA 22 bits", Read{Op: OpRead6, LBA: 1 << 21, Blocks: 1}, 1, 4},
		{"READ(6) 0 blocks", Read{Op: OpRead6, Blocks: 0}, 4, -1},
		{"READ(6) 257 blocks", Read{Op: OpRead6, Blocks: 257}, 4, -1},
		{"READ(6) FUA", Read{Op: OpRead6, Blocks: 1, FUA: true}, 1, 7},
		{"READ(10) LBA 33 bits", Read{Op: OpRead10, LBA: 1 << 32, Blocks: 1}, 2, -1},
		{"READ(10) length 17 bits", Read{Op: OpRead10, Blocks: 0x10000}, 7, -1},
		{"READ(10) group", Read{Op: OpRead10, Group: 32}, 6, 4},
		{"READ(12) group", Read{Op: OpRead12, Group: 32}, 10, 4},
		{"READ(12) LBA 33 bits", Read{Op: OpRead12, LBA: 1 << 32}, 2, -1},
		{"READ(16) group", Read{Op: OpRead16, Group: 0xff}, 14, 4},
		{"READ(16) RDPROTECT", Read{Op: OpRead16, RDProtect: 8}, 1, 7},
	} {
		b, err := tc.r.AppendBinary([]byte{1})
		cdbWantFieldError(t, tc.name, err, tc.byte, tc.bit)
		cdbWantBytes(t, tc.name+" buffer", b, []byte{1})
	}
	if _, err := (&Read{Op: OpWrite10}).MarshalBinary(); !errors.Is(err, ErrUnsupportedOpCode) {
		t.Errorf("Read with WRITE(10) op: %v, want ErrUnsupportedOpCode", err)
	}
}
