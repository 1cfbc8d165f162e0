package scsi

// WriteAndVerify is WRITE AND VERIFY(10) or WRITE AND VERIFY(16) (SBC-3
// sections 5.38 and 5.40; BYTCHK as widened to two bits by SBC-4):
//
//	byte 0    OPERATION CODE (2Eh or 8Eh)
//	byte 1    WRPROTECT (7-5) | DPO (4) | reserved (3) | BYTCHK (2-1) | obsolete/reserved (0)
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), TRANSFER LENGTH 7-8, CONTROL 9
//	16: LBA 2-9, TRANSFER LENGTH 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type WriteAndVerify struct {
	// Op is OpWriteAndVerify10 or OpWriteAndVerify16. Zero encodes as the
	// 10-byte form when LBA and Blocks fit it.
	Op        OpCode
	WRProtect uint8 // WRPROTECT, 3 bits; the target checks it
	DPO       bool  // DPO: disable page out
	// ByteCheck is BYTCHK: 00b verify the medium only, 01b compare the
	// written data byte by byte, 11b compare one block of Data-Out with
	// every block; 10b is reserved and rejected on decode.
	ByteCheck uint8
	LBA       uint64      // LOGICAL BLOCK ADDRESS of the first block; 32 bits in WRITE AND VERIFY(10)
	Blocks    uint32      // TRANSFER LENGTH
	Group     uint8       // GROUP NUMBER, 5 bits
	Control   ControlByte // CONTROL byte
}

// OpCode returns Op, or the operation code a zero Op encodes as.
func (w *WriteAndVerify) OpCode() OpCode {
	return cdbPickOp(w.Op, OpWriteAndVerify10, OpWriteAndVerify16, w.LBA, w.Blocks)
}

// Range returns the LBA and the number of blocks written.
func (w *WriteAndVerify) Range() (uint64, uint32) { return w.LBA, w.Blocks }

// TransferBlocks returns the number of logical blocks of Data-Out: one
// when ByteCheck is 11b, Blocks otherwise.
func (w *WriteAndVerify) TransferBlocks() uint32 {
	if w.ByteCheck == cdbByteCheckOneBlock && w.Blocks > 0 {
		return 1
	}
	return w.Blocks
}

// MarshalBinary returns the CDB.
func (w *WriteAndVerify) MarshalBinary() ([]byte, error) { return w.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (w *WriteAndVerify) AppendBinary(b []byte) ([]byte, error) {
	return cdbWriteAndVerifyKind.append(b, w.OpCode(), cdbRW{
		protect: w.WRProtect, dpo: w.DPO, byteCheck: w.ByteCheck, lba: w.LBA,
		blocks: w.Blocks, group: w.Group, control: w.Control,
	})
}

// UnmarshalBinary decodes a WRITE AND VERIFY CDB. A reserved BYTCHK value
// is a *CDBFieldError at byte 1 bit 2.
func (w *WriteAndVerify) UnmarshalBinary(cdb []byte) error {
	op, f, err := cdbWriteAndVerifyKind.decode(cdb)
	if err != nil {
		return err
	}
	*w = WriteAndVerify{
		Op:        op,
		WRProtect: f.protect,
		DPO:       f.dpo,
		ByteCheck: f.byteCheck,
		LBA:       f.lba,
		Blocks:    f.blocks,
		Group:     f.group,
		Control:   f.control,
	}
	return nil
}

// BYTCHK (byte 1 bits 2-1) of VERIFY and WRITE AND VERIFY.
const (
	cdbByteCheckShift    = 1
	cdbByteCheckNone     = 0x0
	cdbByteCheckReserved = 0x2
	cdbByteCheckOneBlock = 0x3
)

// cdbCheckByteCheck rejects the reserved BYTCHK value.
func cdbCheckByteCheck(op OpCode, bc uint8) error {
	if bc == cdbByteCheckReserved {
		// SPC-4 4.2.5.1: a device server shall terminate a command with a
		// reserved value in a CDB field with INVALID FIELD IN CDB.
		return &CDBFieldError{Op: op, Byte: 1, Bit: 2, Reason: "BYTCHK 10b is reserved"}
	}
	return nil
}
