package scsi

// Read is READ(6), READ(10), READ(12) or READ(16) (SBC-3 sections 5.8 to
// 5.11):
//
//	READ(6)
//	byte 0    OPERATION CODE (08h)
//	byte 1    reserved (7-5) | LOGICAL BLOCK ADDRESS (4-0, MSB)
//	byte 2-3  LOGICAL BLOCK ADDRESS (LSB)
//	byte 4    TRANSFER LENGTH (0 means 256 blocks)
//	byte 5    CONTROL
//
//	READ(10) (28h), READ(12) (A8h), READ(16) (88h)
//	byte 1    RDPROTECT (7-5) | DPO (4) | FUA (3) | reserved (2) | FUA_NV (1) | obsolete/reserved (0)
//	          then LOGICAL BLOCK ADDRESS, TRANSFER LENGTH, GROUP NUMBER
//	          and CONTROL at:
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), TRANSFER LENGTH 7-8, CONTROL 9
//	12: LBA 2-5, TRANSFER LENGTH 6-9, GROUP NUMBER 10 (4-0), CONTROL 11
//	16: LBA 2-9, TRANSFER LENGTH 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type Read struct {
	// Op is OpRead6, OpRead10, OpRead12 or OpRead16. Zero encodes as
	// READ(10) when LBA and Blocks fit it, READ(16) otherwise.
	Op OpCode
	// RDProtect is the 3-bit RDPROTECT field; whether a non-zero value is
	// acceptable depends on the logical unit's protection information,
	// so the target checks it.
	RDProtect uint8
	DPO       bool   // disable page out
	FUA       bool   // force unit access
	FUANV     bool   // FUA_NV: force unit access, non-volatile cache
	LBA       uint64 // LOGICAL BLOCK ADDRESS of the first block; 21 bits in READ(6), 32 in READ(10) and READ(12)
	// Blocks is the number of logical blocks to transfer: the TRANSFER
	// LENGTH field, except that a READ(6) TRANSFER LENGTH of zero is 256
	// blocks (SBC-3 section 5.8) and Blocks holds 256.
	Blocks  uint32
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// OpCode returns Op, or the operation code a zero Op encodes as.
func (r *Read) OpCode() OpCode { return cdbPickOp(r.Op, OpRead10, OpRead16, r.LBA, r.Blocks) }

// Range returns the LBA and the number of blocks read.
func (r *Read) Range() (uint64, uint32) { return r.LBA, r.Blocks }

// TransferBlocks returns the number of logical blocks of Data-In: Blocks.
func (r *Read) TransferBlocks() uint32 { return r.Blocks }

// MarshalBinary returns the CDB.
func (r *Read) MarshalBinary() ([]byte, error) { return r.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (r *Read) AppendBinary(b []byte) ([]byte, error) {
	return cdbReadKind.append(b, r.OpCode(), cdbRW{
		protect: r.RDProtect, dpo: r.DPO, fua: r.FUA, fuanv: r.FUANV,
		lba: r.LBA, blocks: r.Blocks, group: r.Group, control: r.Control,
	})
}

// UnmarshalBinary decodes a READ CDB. Every value of every field is
// accepted; RDPROTECT and the CONTROL byte are the target's to check.
func (r *Read) UnmarshalBinary(cdb []byte) error {
	op, f, err := cdbReadKind.decode(cdb)
	if err != nil {
		return err
	}
	*r = Read{
		Op:        op,
		RDProtect: f.protect,
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
