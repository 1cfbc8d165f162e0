package scsi

import "testing"

func writeAndVerifyCases() []cdbCase {
	return []cdbCase{
		{"(10) BYTCHK 01b", "2e 12 00 00 00 20 00 00 04 00",
			&WriteAndVerify{Op: OpWriteAndVerify10, DPO: true, ByteCheck: 1, LBA: 32, Blocks: 4}},
		{"(10) WRPROTECT", "2e a0 00 00 00 00 03 00 01 00",
			&WriteAndVerify{Op: OpWriteAndVerify10, WRProtect: 5, Blocks: 1, Group: 3}},
		{"(16) BYTCHK 11b", "8e 06 00 00 00 00 00 00 00 40 00 00 00 08 00 00",
			&WriteAndVerify{Op: OpWriteAndVerify16, ByteCheck: 3, LBA: 64, Blocks: 8}},
	}
}

func TestCDBWriteAndVerify(t *testing.T) {
	testCDBGolden(t, writeAndVerifyCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"(10) BYTCHK 10b", "2e 04 00 00 00 00 00 00 01 00", 1, 2},
		{"(16) BYTCHK 10b", "8e 04 00 00 00 00 00 00 00 00 00 00 00 01 00 00", 1, 2},
	})
	for _, tc := range []struct {
		w    WriteAndVerify
		want uint32
	}{
		{WriteAndVerify{ByteCheck: 0, Blocks: 8}, 8},
		{WriteAndVerify{ByteCheck: 1, Blocks: 8}, 8},
		{WriteAndVerify{ByteCheck: 3, Blocks: 8}, 1},
		{WriteAndVerify{ByteCheck: 3, Blocks: 0}, 0},
	} {
		if got := tc.w.TransferBlocks(); got != tc.want {
			t.Errorf("%+v: TransferBlocks %d, want %d", tc.w, got, tc.want)
		}
	}
	_, err := (&WriteAndVerify{ByteCheck: 4}).MarshalBinary()
	cdbWantFieldError(t, "BYTCHK 3 bits", err, 1, 2)
	_, err = (&WriteAndVerify{WRProtect: 8}).MarshalBinary()
	cdbWantFieldError(t, "WRPROTECT", err, 1, 7)
}
