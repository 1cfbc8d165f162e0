package scsi

import "testing"

func writeSameCases() []cdbCase {
	return []cdbCase{
		{"(10) UNMAP", "41 08 00 00 01 00 00 00 10 00", &WriteSame{Op: OpWriteSame10, Unmap: true, LBA: 256, Blocks: 16}},
		{"(10) obsolete data bits", "41 26 00 00 00 00 00 00 01 00",
			&WriteSame{Op: OpWriteSame10, WRProtect: 1, PBData: true, LBData: true, Blocks: 1}},
		{"(16) ANCHOR UNMAP NDOB", "93 19 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
			&WriteSame{Op: OpWriteSame16, Anchor: true, Unmap: true, NDOB: true}},
		{"(16) write", "93 00 00 00 00 00 ff ff ff ff 00 00 10 00 00 00",
			&WriteSame{Op: OpWriteSame16, LBA: 0xffffffff, Blocks: 4096}},
	}
}

func TestCDBWriteSame(t *testing.T) {
	testCDBGolden(t, writeSameCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"(10) ANCHOR without UNMAP", "41 10 00 00 00 00 00 00 01 00", 1, 4},
		{"(16) ANCHOR without UNMAP", "93 11 00 00 00 00 00 00 00 00 00 00 00 01 00 00", 1, 4},
	})
	// Bit 0 of WRITE SAME(10) is obsolete, not NDOB: ignored.
	c, err := DecodeCDB(cdbHex(t, "41 01 00 00 00 00 00 00 01 00"))
	if err != nil || c.(*WriteSame).NDOB {
		t.Errorf("WRITE SAME(10) bit 0: %+v, %v", c, err)
	}
	w := &WriteSame{NDOB: true}
	if w.OpCode() != OpWriteSame16 || w.TransferBlocks() != 0 {
		t.Errorf("NDOB: %v %d", w.OpCode(), w.TransferBlocks())
	}
	if (&WriteSame{Blocks: 9}).TransferBlocks() != 1 {
		t.Errorf("TransferBlocks without NDOB is not 1")
	}
	var _ BlockIO = w
	_, err = (&WriteSame{Op: OpWriteSame10, NDOB: true}).MarshalBinary()
	cdbWantFieldError(t, "NDOB in (10)", err, 1, 0)
}
