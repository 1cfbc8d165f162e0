package scsi

import (
	"errors"
	"testing"
)

func writeCases() []cdbCase {
	return []cdbCase{
		{"WRITE(6)", "0a 01 02 03 01 00", &Write{Op: OpWrite6, LBA: 0x010203, Blocks: 1}},
		{"WRITE(6) 256", "0a 00 00 00 00 04", &Write{Op: OpWrite6, Blocks: 256, Control: 0x04}},
		{"WRITE(10) FUA", "2a 08 00 00 00 10 00 00 01 00", &Write{Op: OpWrite10, FUA: true, LBA: 16, Blocks: 1}},
		{"WRITE(12)", "aa 00 ff ff ff ff 00 00 00 01 00 00", &Write{Op: OpWrite12, LBA: 0xffffffff, Blocks: 1}},
		{"WRITE(16) WRPROTECT", "8a 60 00 00 00 01 00 00 00 00 ff ff ff ff 00 00",
			&Write{Op: OpWrite16, WRProtect: 3, LBA: 1 << 32, Blocks: 0xffffffff}},
		{"WRITE(16) flags", "8a 1a 00 00 00 00 00 00 00 07 00 00 00 02 11 00",
			&Write{Op: OpWrite16, DPO: true, FUA: true, FUANV: true, LBA: 7, Blocks: 2, Group: 0x11}},
	}
}

func TestCDBWrite(t *testing.T) {
	testCDBGolden(t, writeCases())
	w := &Write{LBA: 1 << 40, Blocks: 3}
	if w.OpCode() != OpWrite16 || w.TransferBlocks() != 3 {
		t.Errorf("OpCode %v TransferBlocks %d", w.OpCode(), w.TransferBlocks())
	}
	var _ BlockIO = w
	_, err := (&Write{Op: OpWrite6, Blocks: 1, WRProtect: 1}).MarshalBinary()
	cdbWantFieldError(t, "WRITE(6) WRPROTECT", err, 1, 7)
	_, err = (&Write{Op: OpWrite10, WRProtect: 9}).MarshalBinary()
	cdbWantFieldError(t, "WRITE(10) WRPROTECT", err, 1, 7)
	if _, err := (&Write{Op: OpRead10}).MarshalBinary(); !errors.Is(err, ErrUnsupportedOpCode) {
		t.Errorf("Write with READ(10) op: %v", err)
	}
}
