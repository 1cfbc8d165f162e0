package scsi

import "fmt"

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
	op := r.OpCode()
	if err := cdbCheckOp(op, OpRead6, OpRead10, OpRead12, OpRead16); err != nil {
		return b, err
	}
	if op == OpRead6 {
		if r.RDProtect != 0 || r.DPO || r.FUA || r.FUANV || r.Group != 0 {
			return b, &CDBFieldError{Op: op, Byte: 1, Bit: 7, Reason: "READ(6) has no RDPROTECT, DPO, FUA, FUA_NV or GROUP NUMBER field"}
		}
		return cdbAppendRW6(b, op, r.LBA, r.Blocks, r.Control)
	}
	if err := cdbProtectFits(op, "RDPROTECT", r.RDProtect); err != nil {
		return b, err
	}
	flags := r.RDProtect<<cdbProtectShift | cdbBit(r.DPO, cdbBitDPO) | cdbBit(r.FUA, cdbBitFUA) | cdbBit(r.FUANV, cdbBitFUANV)
	return cdbAppendBlock(b, op, cdbBlockFields{flags: flags, lba: r.LBA, length: r.Blocks, group: r.Group, control: r.Control})
}

// UnmarshalBinary decodes a READ CDB. Every value of every field is
// accepted; RDPROTECT and the CONTROL byte are the target's to check.
func (r *Read) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpRead6, OpRead10, OpRead12, OpRead16)
	if err != nil {
		return err
	}
	if op == OpRead6 {
		lba, blocks, control := cdbDecodeRW6(cdb)
		*r = Read{Op: op, LBA: lba, Blocks: blocks, Control: control}
		return nil
	}
	f := cdbDecodeBlock(op, cdb)
	*r = Read{
		Op:        op,
		RDProtect: f.flags >> cdbProtectShift,
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

// cdbDecodeRW6 reads the fields of a length-checked READ(6) or WRITE(6) CDB.
func cdbDecodeRW6(cdb []byte) (lba uint64, blocks uint32, control ControlByte) {
	lba = uint64(cdb[1]&0x1f)<<16 | uint64(cdb[2])<<8 | uint64(cdb[3])
	blocks = uint32(cdb[4])
	if blocks == 0 {
		// SBC-3 5.8: "A TRANSFER LENGTH field set to zero specifies that
		// 256 logical blocks shall be read."
		blocks = 256
	}
	return lba, blocks, ControlByte(cdb[5])
}

// cdbAppendRW6 appends a READ(6) or WRITE(6) CDB to b.
func cdbAppendRW6(b []byte, op OpCode, lba uint64, blocks uint32, control ControlByte) ([]byte, error) {
	if !cdbFits(lba, 21) {
		return b, cdbFitErr(op, 1, 4, "LOGICAL BLOCK ADDRESS", lba, 21)
	}
	if blocks < 1 || blocks > 256 {
		return b, &CDBFieldError{Op: op, Byte: 4, Bit: -1,
			Reason: fmt.Sprintf("%d blocks, want 1 to 256 (a TRANSFER LENGTH of 0 is 256 blocks)", blocks)}
	}
	return append(b, byte(op), byte(lba>>16), byte(lba>>8), byte(lba), byte(blocks), byte(control)), nil
}
