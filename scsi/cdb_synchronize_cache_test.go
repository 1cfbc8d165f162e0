package scsi

import "testing"

func synchronizeCacheCases() []cdbCase {
	return []cdbCase{
		{"(10) IMMED whole", "35 02 00 00 00 00 00 00 00 00", &SynchronizeCache{Op: OpSynchronizeCache10, Immed: true}},
		{"(10) SYNC_NV range", "35 04 00 00 10 00 01 00 80 00",
			&SynchronizeCache{Op: OpSynchronizeCache10, SyncNV: true, LBA: 0x1000, Blocks: 128, Group: 1}},
		{"(16) range", "91 00 00 00 00 01 00 00 00 00 00 00 00 80 00 00",
			&SynchronizeCache{Op: OpSynchronizeCache16, LBA: 1 << 32, Blocks: 128}},
	}
}

func TestCDBSynchronizeCache(t *testing.T) {
	testCDBGolden(t, synchronizeCacheCases())
	s := &SynchronizeCache{LBA: 5, Blocks: 0}
	if lba, n := s.Range(); lba != 5 || n != 0 || s.TransferBlocks() != 0 || s.OpCode() != OpSynchronizeCache10 {
		t.Errorf("%+v", s)
	}
	var _ BlockIO = s
}
