package scsi

import "encoding/binary"

// cdbBlockFields are the fields the 10-, 12- and 16-byte block command CDBs
// of SBC-3 share, at positions that depend only on the CDB length:
//
//	      10-byte            12-byte            16-byte
//	0     OPERATION CODE     OPERATION CODE     OPERATION CODE
//	1     flags              flags              flags
//	2-5   LBA (32)           LBA (32)           2-9   LBA (64)
//	6     GROUP NUMBER       6-9 LENGTH (32)    10-13 LENGTH (32)
//	7-8   LENGTH (16)        10  GROUP NUMBER   14    GROUP NUMBER
//	9     CONTROL            11  CONTROL        15    CONTROL
//
// GROUP NUMBER is bits 4-0 of its byte; LENGTH is the command's transfer
// length, verification length, number of logical blocks or prefetch
// length.
type cdbBlockFields struct {
	flags   byte // byte 1, whole
	lba     uint64
	length  uint32
	group   uint8
	control ControlByte
}

// cdbGroupMask selects GROUP NUMBER (bits 4-0) in its byte.
const cdbGroupMask = 0x1f

// cdbDecodeBlock reads the fields of a length-checked 10-, 12- or
// 16-byte block CDB.
func cdbDecodeBlock(op OpCode, cdb []byte) cdbBlockFields {
	f := cdbBlockFields{flags: cdb[1]}
	switch op.CDBLength() {
	case 10:
		f.lba = uint64(binary.BigEndian.Uint32(cdb[2:6]))
		f.group = cdb[6] & cdbGroupMask
		f.length = uint32(binary.BigEndian.Uint16(cdb[7:9]))
		f.control = ControlByte(cdb[9])
	case 12:
		f.lba = uint64(binary.BigEndian.Uint32(cdb[2:6]))
		f.length = binary.BigEndian.Uint32(cdb[6:10])
		f.group = cdb[10] & cdbGroupMask
		f.control = ControlByte(cdb[11])
	default:
		f.lba = binary.BigEndian.Uint64(cdb[2:10])
		f.length = binary.BigEndian.Uint32(cdb[10:14])
		f.group = cdb[14] & cdbGroupMask
		f.control = ControlByte(cdb[15])
	}
	return f
}

// cdbAppendBlock appends a 10-, 12- or 16-byte block CDB to b. It fails
// with a *CDBFieldError when the LBA, length or group number does not
// fit its field.
func cdbAppendBlock(b []byte, op OpCode, f cdbBlockFields) ([]byte, error) {
	var c [16]byte
	n := op.CDBLength()
	c[0] = byte(op)
	c[1] = f.flags
	if !cdbFits(uint64(f.group), 5) {
		gb := n - 2 // byte 14 of 16, byte 10 of 12
		if n == 10 {
			gb = 6
		}
		return b, cdbFitErr(op, gb, 4, "GROUP NUMBER", uint64(f.group), 5)
	}
	switch n {
	case 10:
		if !cdbFits(f.lba, 32) {
			return b, cdbFitErr(op, 2, -1, "LOGICAL BLOCK ADDRESS", f.lba, 32)
		}
		if !cdbFits(uint64(f.length), 16) {
			return b, cdbFitErr(op, 7, -1, "length", uint64(f.length), 16)
		}
		binary.BigEndian.PutUint32(c[2:6], uint32(f.lba))
		c[6] = f.group
		binary.BigEndian.PutUint16(c[7:9], uint16(f.length))
		c[9] = byte(f.control)
	case 12:
		if !cdbFits(f.lba, 32) {
			return b, cdbFitErr(op, 2, -1, "LOGICAL BLOCK ADDRESS", f.lba, 32)
		}
		binary.BigEndian.PutUint32(c[2:6], uint32(f.lba))
		binary.BigEndian.PutUint32(c[6:10], f.length)
		c[10] = f.group
		c[11] = byte(f.control)
	default:
		binary.BigEndian.PutUint64(c[2:10], f.lba)
		binary.BigEndian.PutUint32(c[10:14], f.length)
		c[14] = f.group
		c[15] = byte(f.control)
	}
	return append(b, c[:n]...), nil
}

// cdbProtectFits checks a 3-bit protection field (RDPROTECT, WRPROTECT,
// VRPROTECT, ORPROTECT) in byte 1 bits 7-5.
func cdbProtectFits(op OpCode, name string, v uint8) error {
	if !cdbFits(uint64(v), 3) {
		return cdbFitErr(op, 1, 7, name, uint64(v), 3)
	}
	return nil
}

// cdbPickOp returns op, or, if op is zero, the 10-byte form small when lba
// and blocks fit it and the 16-byte form big otherwise.
func cdbPickOp(op, small, big OpCode, lba uint64, blocks uint32) OpCode {
	if op != 0 {
		return op
	}
	if lba <= 0xffffffff && blocks <= 0xffff {
		return small
	}
	return big
}

// Byte 1 bits shared by the block commands.
const (
	cdbProtectShift = 5    // RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT, bits 7-5
	cdbBitDPO       = 0x10 // DPO, bit 4
	cdbBitFUA       = 0x08 // FUA, bit 3
	cdbBitFUANV     = 0x02 // FUA_NV, bit 1
	cdbBitImmed     = 0x02 // IMMED, bit 1 (SYNCHRONIZE CACHE, PRE-FETCH)
)
