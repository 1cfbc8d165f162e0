package scsi

// ORWrite is ORWRITE(16) (SBC-3 section 5.7):
//
//	byte 0      OPERATION CODE (8Bh)
//	byte 1      ORPROTECT (7-5) | DPO (4) | FUA (3) | reserved (2) | FUA_NV (1) | reserved (0)
//	byte 2-9    LOGICAL BLOCK ADDRESS
//	byte 10-13  TRANSFER LENGTH
//	byte 14     reserved (7-5) | GROUP NUMBER (4-0)
//	byte 15     CONTROL
type ORWrite struct {
	ORProtect uint8       // ORPROTECT, 3 bits; the target checks it
	DPO       bool        // DPO: disable page out
	FUA       bool        // FUA: force unit access
	FUANV     bool        // FUA_NV: force unit access, non-volatile cache
	LBA       uint64      // LOGICAL BLOCK ADDRESS of the first block
	Blocks    uint32      // TRANSFER LENGTH
	Group     uint8       // GROUP NUMBER, 5 bits
	Control   ControlByte // CONTROL byte
}

// OpCode returns OpORWrite16.
func (o *ORWrite) OpCode() OpCode { return OpORWrite16 }

// Range returns the LBA and the number of blocks.
func (o *ORWrite) Range() (uint64, uint32) { return o.LBA, o.Blocks }

// TransferBlocks returns the number of logical blocks of Data-Out: Blocks.
func (o *ORWrite) TransferBlocks() uint32 { return o.Blocks }

// MarshalBinary returns the CDB.
func (o *ORWrite) MarshalBinary() ([]byte, error) { return o.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (o *ORWrite) AppendBinary(b []byte) ([]byte, error) {
	op := OpORWrite16
	if err := cdbProtectFits(op, "ORPROTECT", o.ORProtect); err != nil {
		return b, err
	}
	flags := o.ORProtect<<cdbProtectShift | cdbBit(o.DPO, cdbBitDPO) | cdbBit(o.FUA, cdbBitFUA) | cdbBit(o.FUANV, cdbBitFUANV)
	return cdbAppendBlock(b, op, cdbBlockFields{flags: flags, lba: o.LBA, length: o.Blocks, group: o.Group, control: o.Control})
}

// UnmarshalBinary decodes an ORWRITE(16) CDB.
func (o *ORWrite) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpORWrite16)
	if err != nil {
		return err
	}
	f := cdbDecodeBlock(op, cdb)
	*o = ORWrite{
		ORProtect: f.flags >> cdbProtectShift,
		DPO:       f.flags&cdbBitDPO != 0,
		FUA:       f.flags&cdbBitFUA != 0,
		FUANV:     f.flags&cdbBitFUANV != 0,
		LBA:       f.lba,
		Blocks:    f.length,
		Group:     f.group,
		Control:   f.control,
	}
	return nil
}
