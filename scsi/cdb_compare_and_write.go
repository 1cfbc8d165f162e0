package scsi

import "encoding/binary"

// CompareAndWrite is COMPARE AND WRITE (SBC-3 section 5.2):
//
//	byte 0      OPERATION CODE (89h)
//	byte 1      WRPROTECT (7-5) | DPO (4) | FUA (3) | reserved (2) | FUA_NV (1) | reserved (0)
//	byte 2-9    LOGICAL BLOCK ADDRESS
//	byte 10-12  reserved
//	byte 13     NUMBER OF LOGICAL BLOCKS
//	byte 14     reserved (7-5) | GROUP NUMBER (4-0)
//	byte 15     CONTROL
type CompareAndWrite struct {
	WRProtect uint8  // WRPROTECT, 3 bits; the target checks it
	DPO       bool   // DPO: disable page out
	FUA       bool   // FUA: force unit access
	FUANV     bool   // FUA_NV: force unit access, non-volatile cache
	LBA       uint64 // LOGICAL BLOCK ADDRESS of the first block compared and written
	// Blocks is NUMBER OF LOGICAL BLOCKS; the target compares it with
	// its MAXIMUM COMPARE AND WRITE LENGTH.
	Blocks  uint8
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// OpCode returns OpCompareAndWrite.
func (c *CompareAndWrite) OpCode() OpCode { return OpCompareAndWrite }

// Range returns the LBA and the number of blocks compared and written.
func (c *CompareAndWrite) Range() (uint64, uint32) { return c.LBA, uint32(c.Blocks) }

// TransferBlocks returns the number of logical blocks of Data-Out: twice
// Blocks, the verify data followed by the write data (SBC-3 5.2).
func (c *CompareAndWrite) TransferBlocks() uint32 { return 2 * uint32(c.Blocks) }

// MarshalBinary returns the CDB.
func (c *CompareAndWrite) MarshalBinary() ([]byte, error) { return c.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (c *CompareAndWrite) AppendBinary(b []byte) ([]byte, error) {
	op := OpCompareAndWrite
	if err := cdbProtectFits(op, "WRPROTECT", c.WRProtect); err != nil {
		return b, err
	}
	if !cdbFits(uint64(c.Group), 5) {
		return b, cdbFitErr(op, 14, 4, "GROUP NUMBER", uint64(c.Group), 5)
	}
	var a [16]byte
	a[0] = byte(op)
	a[1] = c.WRProtect<<cdbProtectShift | cdbBit(c.DPO, cdbBitDPO) | cdbBit(c.FUA, cdbBitFUA) | cdbBit(c.FUANV, cdbBitFUANV)
	binary.BigEndian.PutUint64(a[2:10], c.LBA)
	a[13] = c.Blocks
	a[14] = c.Group
	a[15] = byte(c.Control)
	return append(b, a[:]...), nil
}

// UnmarshalBinary decodes a COMPARE AND WRITE CDB.
func (c *CompareAndWrite) UnmarshalBinary(cdb []byte) error {
	if _, err := cdbCheck(cdb, OpCompareAndWrite); err != nil {
		return err
	}
	*c = CompareAndWrite{
		WRProtect: cdb[1] >> cdbProtectShift,
		DPO:       cdb[1]&cdbBitDPO != 0,
		FUA:       cdb[1]&cdbBitFUA != 0,
		FUANV:     cdb[1]&cdbBitFUANV != 0,
		LBA:       binary.BigEndian.Uint64(cdb[2:10]),
		Blocks:    cdb[13],
		Group:     cdb[14] & cdbGroupMask,
		Control:   ControlByte(cdb[15]),
	}
	return nil
}
