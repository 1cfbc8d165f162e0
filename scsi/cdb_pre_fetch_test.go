package scsi

import "testing"

func preFetchCases() []cdbCase {
	return []cdbCase{
		{"(10) IMMED", "34 02 00 00 00 08 00 00 10 00", &PreFetch{Op: OpPreFetch10, Immed: true, LBA: 8, Blocks: 16}},
		{"(16)", "90 00 00 00 00 00 00 00 00 08 00 01 00 00 04 00",
			&PreFetch{Op: OpPreFetch16, LBA: 8, Blocks: 0x10000, Group: 4}},
	}
}

func TestCDBPreFetch(t *testing.T) {
	testCDBGolden(t, preFetchCases())
	p := &PreFetch{LBA: 1 << 33, Blocks: 1}
	if p.OpCode() != OpPreFetch16 || p.TransferBlocks() != 0 {
		t.Errorf("%+v: %v %d", p, p.OpCode(), p.TransferBlocks())
	}
	var _ BlockIO = p
}
