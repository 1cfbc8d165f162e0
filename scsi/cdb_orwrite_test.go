package scsi

import "testing"

func orWriteCases() []cdbCase {
	return []cdbCase{
		{"ORWRITE(16)", "8b 00 00 00 00 00 00 00 00 08 00 00 00 02 00 00", &ORWrite{LBA: 8, Blocks: 2}},
		{"flags", "8b 9a 00 00 00 00 00 00 00 00 00 00 00 01 01 00",
			&ORWrite{ORProtect: 4, DPO: true, FUA: true, FUANV: true, Blocks: 1, Group: 1}},
	}
}

func TestCDBORWrite(t *testing.T) {
	testCDBGolden(t, orWriteCases())
	o := &ORWrite{Blocks: 5}
	if o.TransferBlocks() != 5 {
		t.Errorf("TransferBlocks %d", o.TransferBlocks())
	}
	var _ BlockIO = o
	_, err := (&ORWrite{ORProtect: 8}).MarshalBinary()
	cdbWantFieldError(t, "ORPROTECT", err, 1, 7)
}
