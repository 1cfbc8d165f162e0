package scsi

import "testing"

func verifyCases() []cdbCase {
	return []cdbCase{
		{"(10) medium", "2f 00 00 00 00 00 00 00 10 00", &Verify{Op: OpVerify10, Blocks: 16}},
		{"(10) BYTCHK 01b", "2f 32 00 01 00 00 02 00 02 00",
			&Verify{Op: OpVerify10, VRProtect: 1, DPO: true, ByteCheck: 1, LBA: 0x10000, Blocks: 2, Group: 2}},
		{"(16) BYTCHK 11b", "8f 06 00 00 00 00 00 00 00 01 00 00 01 00 00 00",
			&Verify{Op: OpVerify16, ByteCheck: 3, LBA: 1, Blocks: 256}},
	}
}

func TestCDBVerify(t *testing.T) {
	testCDBGolden(t, verifyCases())
	testCDBInvalid(t, []cdbInvalidCase{
		{"(10) BYTCHK 10b", "2f 04 00 00 00 00 00 00 01 00", 1, 2},
		{"(16) BYTCHK 10b", "8f 04 00 00 00 00 00 00 00 00 00 00 00 01 00 00", 1, 2},
	})
	for _, tc := range []struct {
		v    Verify
		want uint32
	}{
		{Verify{ByteCheck: 0, Blocks: 8}, 0},
		{Verify{ByteCheck: 1, Blocks: 8}, 8},
		{Verify{ByteCheck: 3, Blocks: 8}, 1},
		{Verify{ByteCheck: 3}, 0},
	} {
		if got := tc.v.TransferBlocks(); got != tc.want {
			t.Errorf("%+v: TransferBlocks %d, want %d", tc.v, got, tc.want)
		}
	}
	_, err := (&Verify{ByteCheck: 4}).MarshalBinary()
	cdbWantFieldError(t, "BYTCHK 3 bits", err, 1, 2)
	_, err = (&Verify{VRProtect: 8}).MarshalBinary()
	cdbWantFieldError(t, "VRPROTECT", err, 1, 7)
}
