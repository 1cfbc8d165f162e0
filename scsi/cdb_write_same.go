package scsi

// WriteSame is WRITE SAME(10) or WRITE SAME(16) (SBC-3 sections 5.42 and
// 5.43):
//
//	byte 0    OPERATION CODE (41h or 93h)
//	byte 1    WRPROTECT (7-5) | ANCHOR (4) | UNMAP (3) | PBDATA (2, obsolete) |
//	          LBDATA (1, obsolete) | obsolete (0) in (10), NDOB (0) in (16)
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), NUMBER OF LOGICAL BLOCKS 7-8, CONTROL 9
//	16: LBA 2-9, NUMBER OF LOGICAL BLOCKS 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type WriteSame struct {
	// Op is OpWriteSame10 or OpWriteSame16. Zero encodes as the 10-byte
	// form when LBA and Blocks fit it and NDOB is clear.
	Op        OpCode
	WRProtect uint8  // WRPROTECT, 3 bits; the target checks it
	Anchor    bool   // ANCHOR
	Unmap     bool   // UNMAP
	PBData    bool   // PBDATA (obsolete in SBC-3; the target decides)
	LBData    bool   // LBDATA (obsolete in SBC-3; the target decides)
	NDOB      bool   // NDOB, WRITE SAME(16) only: no Data-Out buffer
	LBA       uint64 // LOGICAL BLOCK ADDRESS of the first block; 32 bits in WRITE SAME(10)
	// Blocks is NUMBER OF LOGICAL BLOCKS; zero means every block from LBA
	// to the last one unless the target's WSNZ bit forbids it.
	Blocks  uint32
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// Byte 1 bits of WRITE SAME.
const (
	cdbBitAnchor = 0x10
	cdbBitUnmap  = 0x08
	cdbBitPBData = 0x04
	cdbBitLBData = 0x02
	cdbBitNDOB   = 0x01
)

// OpCode returns Op, or the operation code a zero Op encodes as.
func (w *WriteSame) OpCode() OpCode {
	if w.Op == 0 && w.NDOB {
		return OpWriteSame16
	}
	return cdbPickOp(w.Op, OpWriteSame10, OpWriteSame16, w.LBA, w.Blocks)
}

// Range returns the LBA and the number of blocks (zero: to the end).
func (w *WriteSame) Range() (uint64, uint32) { return w.LBA, w.Blocks }

// TransferBlocks returns the number of logical blocks of Data-Out: one,
// or none when NDOB is set.
func (w *WriteSame) TransferBlocks() uint32 {
	if w.NDOB {
		return 0
	}
	return 1
}

// MarshalBinary returns the CDB.
func (w *WriteSame) MarshalBinary() ([]byte, error) { return w.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (w *WriteSame) AppendBinary(b []byte) ([]byte, error) {
	op := w.OpCode()
	if err := cdbCheckOp(op, OpWriteSame10, OpWriteSame16); err != nil {
		return b, err
	}
	if err := cdbProtectFits(op, "WRPROTECT", w.WRProtect); err != nil {
		return b, err
	}
	if w.NDOB && op != OpWriteSame16 {
		return b, &CDBFieldError{Op: op, Byte: 1, Bit: 0, Reason: "NDOB exists in WRITE SAME(16) only"}
	}
	flags := w.WRProtect<<cdbProtectShift | cdbBit(w.Anchor, cdbBitAnchor) | cdbBit(w.Unmap, cdbBitUnmap) |
		cdbBit(w.PBData, cdbBitPBData) | cdbBit(w.LBData, cdbBitLBData) | cdbBit(w.NDOB, cdbBitNDOB)
	return cdbAppendBlock(b, op, cdbBlockFields{flags: flags, lba: w.LBA, length: w.Blocks, group: w.Group, control: w.Control})
}

// UnmarshalBinary decodes a WRITE SAME CDB. ANCHOR set with UNMAP clear
// is a *CDBFieldError at byte 1 bit 4.
func (w *WriteSame) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpWriteSame10, OpWriteSame16)
	if err != nil {
		return err
	}
	f := cdbDecodeBlock(op, cdb)
	if f.flags&cdbBitAnchor != 0 && f.flags&cdbBitUnmap == 0 {
		// SBC-3 5.42, table of UNMAP and ANCHOR: with UNMAP 0b and ANCHOR
		// 1b "the device server shall terminate the command with CHECK
		// CONDITION status with the sense key set to ILLEGAL REQUEST and
		// the additional sense code set to INVALID FIELD IN CDB".
		return &CDBFieldError{Op: op, Byte: 1, Bit: 4, Reason: "ANCHOR set without UNMAP"}
	}
	*w = WriteSame{
		Op:        op,
		WRProtect: f.flags >> cdbProtectShift,
		Anchor:    f.flags&cdbBitAnchor != 0,
		Unmap:     f.flags&cdbBitUnmap != 0,
		PBData:    f.flags&cdbBitPBData != 0,
		LBData:    f.flags&cdbBitLBData != 0,
		NDOB:      op == OpWriteSame16 && f.flags&cdbBitNDOB != 0,
		LBA:       f.lba,
		Blocks:    f.length,
		Group:     f.group,
		Control:   f.control,
	}
	return nil
}
