package scsi

// Write is WRITE(6), WRITE(10), WRITE(12) or WRITE(16) (SBC-3):
//
//	WRITE(6)
//	byte 0    OPERATION CODE (0Ah)
//	byte 1    reserved (7-5) | LOGICAL BLOCK ADDRESS (4-0, MSB)
//	byte 2-3  LOGICAL BLOCK ADDRESS (LSB)
//	byte 4    TRANSFER LENGTH (0 means 256 blocks)
//	byte 5    CONTROL
//
//	WRITE(10) (2Ah), WRITE(12) (AAh), WRITE(16) (8Ah)
//	byte 1    WRPROTECT (7-5) | DPO (4) | FUA (3) | reserved (2) | FUA_NV (1) | obsolete/reserved (0)
//	          then LOGICAL BLOCK ADDRESS, TRANSFER LENGTH, GROUP NUMBER
//	          and CONTROL at:
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), TRANSFER LENGTH 7-8, CONTROL 9
//	12: LBA 2-5, TRANSFER LENGTH 6-9, GROUP NUMBER 10 (4-0), CONTROL 11
//	16: LBA 2-9, TRANSFER LENGTH 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type Write struct {
	// Op is OpWrite6, OpWrite10, OpWrite12 or OpWrite16. Zero encodes as
	// WRITE(10) when LBA and Blocks fit it, WRITE(16) otherwise.
	Op OpCode
	// WRProtect is the 3-bit WRPROTECT field; whether a non-zero value is
	// acceptable depends on the logical unit's protection information,
	// so the target checks it.
	WRProtect uint8
	DPO       bool   // disable page out
	FUA       bool   // force unit access
	FUANV     bool   // FUA_NV: force unit access, non-volatile cache
	LBA       uint64 // LOGICAL BLOCK ADDRESS of the first block; 21 bits in WRITE(6), 32 in WRITE(10) and WRITE(12)
	// Blocks is the number of logical blocks to write: the TRANSFER
	// LENGTH field, except that a WRITE(6) TRANSFER LENGTH of zero is 256
	// blocks (SBC-3, WRITE(6)) and Blocks holds 256.
	Blocks  uint32
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// OpCode returns Op, or the operation code a zero Op encodes as.
func (w *Write) OpCode() OpCode { return cdbPickOp(w.Op, OpWrite10, OpWrite16, w.LBA, w.Blocks) }

// Range returns the LBA and the number of blocks written.
func (w *Write) Range() (uint64, uint32) { return w.LBA, w.Blocks }

// TransferBlocks returns the number of logical blocks of Data-Out: Blocks.
func (w *Write) TransferBlocks() uint32 { return w.Blocks }

// MarshalBinary returns the CDB.
func (w *Write) MarshalBinary() ([]byte, error) { return w.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (w *Write) AppendBinary(b []byte) ([]byte, error) {
	return cdbWriteKind.append(b, w.OpCode(), cdbRW{
		protect: w.WRProtect, dpo: w.DPO, fua: w.FUA, fuanv: w.FUANV,
		lba: w.LBA, blocks: w.Blocks, group: w.Group, control: w.Control,
	})
}

// UnmarshalBinary decodes a WRITE CDB. Every value of every field is
// accepted; WRPROTECT and the CONTROL byte are the target's to check.
func (w *Write) UnmarshalBinary(cdb []byte) error {
	op, f, err := cdbWriteKind.decode(cdb)
	if err != nil {
		return err
	}
	*w = Write{
		Op:        op,
		WRProtect: f.protect,
		DPO:       f.dpo,
		FUA:       f.fua,
		FUANV:     f.fuanv,
		LBA:       f.lba,
		Blocks:    f.blocks,
		Group:     f.group,
		Control:   f.control,
	}
	return nil
}
