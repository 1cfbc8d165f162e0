package scsi

// Verify is VERIFY(10) or VERIFY(16) (SBC-3 sections 5.33 and 5.35):
//
//	byte 0    OPERATION CODE (2Fh or 8Fh)
//	byte 1    VRPROTECT (7-5) | DPO (4) | reserved (3) | BYTCHK (2-1) | obsolete/reserved (0)
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), VERIFICATION LENGTH 7-8, CONTROL 9
//	16: LBA 2-9, VERIFICATION LENGTH 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type Verify struct {
	// Op is OpVerify10 or OpVerify16. Zero encodes as the 10-byte form
	// when LBA and Blocks fit it.
	Op        OpCode
	VRProtect uint8 // VRPROTECT, 3 bits; the target checks it
	DPO       bool  // DPO: disable page out
	// ByteCheck is BYTCHK: 00b verify the medium only (no Data-Out), 01b
	// compare Blocks blocks of Data-Out, 11b compare one block of Data-Out
	// with every block; 10b is reserved and rejected on decode.
	ByteCheck uint8
	LBA       uint64      // LOGICAL BLOCK ADDRESS of the first block; 32 bits in VERIFY(10)
	Blocks    uint32      // VERIFICATION LENGTH
	Group     uint8       // GROUP NUMBER, 5 bits
	Control   ControlByte // CONTROL byte
}

// OpCode returns Op, or the operation code a zero Op encodes as.
func (v *Verify) OpCode() OpCode { return cdbPickOp(v.Op, OpVerify10, OpVerify16, v.LBA, v.Blocks) }

// Range returns the LBA and the number of blocks verified.
func (v *Verify) Range() (uint64, uint32) { return v.LBA, v.Blocks }

// TransferBlocks returns the number of logical blocks of Data-Out: none
// for BYTCHK 00b, one for 11b, Blocks for 01b.
func (v *Verify) TransferBlocks() uint32 {
	switch v.ByteCheck {
	case cdbByteCheckNone:
		return 0
	case cdbByteCheckOneBlock:
		return min(v.Blocks, 1)
	}
	return v.Blocks
}

// MarshalBinary returns the CDB.
func (v *Verify) MarshalBinary() ([]byte, error) { return v.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (v *Verify) AppendBinary(b []byte) ([]byte, error) {
	return cdbVerifyKind.append(b, v.OpCode(), cdbRW{
		protect: v.VRProtect, dpo: v.DPO, byteCheck: v.ByteCheck, lba: v.LBA,
		blocks: v.Blocks, group: v.Group, control: v.Control,
	})
}

// UnmarshalBinary decodes a VERIFY CDB. A reserved BYTCHK value is a
// *CDBFieldError at byte 1 bit 2.
func (v *Verify) UnmarshalBinary(cdb []byte) error {
	op, f, err := cdbVerifyKind.decode(cdb)
	if err != nil {
		return err
	}
	*v = Verify{
		Op:        op,
		VRProtect: f.protect,
		DPO:       f.dpo,
		ByteCheck: f.byteCheck,
		LBA:       f.lba,
		Blocks:    f.blocks,
		Group:     f.group,
		Control:   f.control,
	}
	return nil
}
