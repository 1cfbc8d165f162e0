package scsi

import "testing"

func compareAndWriteCases() []cdbCase {
	return []cdbCase{
		{"one block", "89 18 00 00 00 00 00 00 10 00 00 00 00 01 00 00",
			&CompareAndWrite{DPO: true, FUA: true, LBA: 0x1000, Blocks: 1}},
		{"WRPROTECT FUA_NV", "89 e2 ff ff ff ff ff ff ff ff 00 00 00 ff 1f 04",
			&CompareAndWrite{WRProtect: 7, FUANV: true, LBA: ^uint64(0), Blocks: 255, Group: 0x1f, Control: 4}},
	}
}

func TestCDBCompareAndWrite(t *testing.T) {
	testCDBGolden(t, compareAndWriteCases())
	c := &CompareAndWrite{LBA: 3, Blocks: 4}
	if lba, n := c.Range(); lba != 3 || n != 4 || c.TransferBlocks() != 8 {
		t.Errorf("Range %d,%d TransferBlocks %d", lba, n, c.TransferBlocks())
	}
	var _ BlockIO = c
	_, err := (&CompareAndWrite{Group: 0x20}).MarshalBinary()
	cdbWantFieldError(t, "group", err, 14, 4)
	_, err = (&CompareAndWrite{WRProtect: 8}).MarshalBinary()
	cdbWantFieldError(t, "WRPROTECT", err, 1, 7)
}
