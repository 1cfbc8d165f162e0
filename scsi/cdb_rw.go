package scsi

import "fmt"

// cdbRW holds the fields of READ and WRITE, and of VERIFY and WRITE AND
// VERIFY (byteCheck, dpo): each pair's CDBs differ only in their
// operation codes and the name of the protection field.
type cdbRW struct {
	protect         uint8 // RDPROTECT, WRPROTECT or VRPROTECT
	dpo, fua, fuanv bool
	byteCheck       uint8 // BYTCHK (the verifying commands)
	lba             uint64
	blocks          uint32
	group           uint8
	control         ControlByte
}

// cdbRWKind is one of those commands: its operation codes (the 6-byte
// form first, when it has one) and what it calls its fields.
type cdbRWKind struct {
	ops     []OpCode
	op6     OpCode // zero when there is no 6-byte form
	name    string // READ, WRITE
	protect string // RDPROTECT, WRPROTECT, VRPROTECT
	verify  bool   // BYTCHK instead of FUA and FUA_NV
}

var (
	cdbReadKind = cdbRWKind{ops: []OpCode{OpRead6, OpRead10, OpRead12, OpRead16}, op6: OpRead6,
		name: "READ", protect: "RDPROTECT"}
	cdbWriteKind = cdbRWKind{ops: []OpCode{OpWrite6, OpWrite10, OpWrite12, OpWrite16}, op6: OpWrite6,
		name: "WRITE", protect: "WRPROTECT"}
	cdbVerifyKind         = cdbRWKind{ops: []OpCode{OpVerify10, OpVerify16}, protect: "VRPROTECT", verify: true}
	cdbWriteAndVerifyKind = cdbRWKind{ops: []OpCode{OpWriteAndVerify10, OpWriteAndVerify16}, protect: "WRPROTECT", verify: true}
)

// append appends the CDB of f with operation code op to b.
func (k *cdbRWKind) append(b []byte, op OpCode, f cdbRW) ([]byte, error) {
	if err := cdbCheckOp(op, k.ops...); err != nil {
		return b, err
	}
	if k.op6 != 0 && op == k.op6 {
		if f.protect != 0 || f.dpo || f.fua || f.fuanv || f.group != 0 {
			return b, &CDBFieldError{Op: op, Byte: 1, Bit: 7,
				Reason: fmt.Sprintf("%s(6) has no %s, DPO, FUA, FUA_NV or GROUP NUMBER field", k.name, k.protect)}
		}
		return cdbAppendRW6(b, op, f.lba, f.blocks, f.control)
	}
	if err := cdbProtectFits(op, k.protect, f.protect); err != nil {
		return b, err
	}
	flags := f.protect<<cdbProtectShift | cdbBit(f.dpo, cdbBitDPO)
	if k.verify {
		if !cdbFits(uint64(f.byteCheck), 2) {
			return b, cdbFitErr(op, 1, 2, "BYTCHK", uint64(f.byteCheck), 2)
		}
		flags |= f.byteCheck << cdbByteCheckShift
	} else {
		flags |= cdbBit(f.fua, cdbBitFUA) | cdbBit(f.fuanv, cdbBitFUANV)
	}
	return cdbAppendBlock(b, op, cdbBlockFields{flags: flags, lba: f.lba, length: f.blocks, group: f.group, control: f.control})
}

// decode decodes a CDB of the command. Every value of every field is
// accepted but a reserved BYTCHK (a *CDBFieldError at byte 1 bit 2).
func (k *cdbRWKind) decode(cdb []byte) (OpCode, cdbRW, error) {
	op, err := cdbCheck(cdb, k.ops...)
	if err != nil {
		return op, cdbRW{}, err
	}
	if k.op6 != 0 && op == k.op6 {
		lba, blocks, control := cdbDecodeRW6(cdb)
		return op, cdbRW{lba: lba, blocks: blocks, control: control}, nil
	}
	b := cdbDecodeBlock(op, cdb)
	f := cdbRW{protect: b.flags >> cdbProtectShift, dpo: b.flags&cdbBitDPO != 0,
		lba: b.lba, blocks: b.length, group: b.group, control: b.control}
	if k.verify {
		f.byteCheck = b.flags >> cdbByteCheckShift & 0x3
		if err := cdbCheckByteCheck(op, f.byteCheck); err != nil {
			return op, cdbRW{}, err
		}
	} else {
		f.fua, f.fuanv = b.flags&cdbBitFUA != 0, b.flags&cdbBitFUANV != 0
	}
	return op, f, nil
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
