package scsi

// SynchronizeCache is SYNCHRONIZE CACHE(10) or SYNCHRONIZE CACHE(16)
// (SBC-3 sections 5.22 and 5.23):
//
//	byte 0    OPERATION CODE (35h or 91h)
//	byte 1    reserved (7-3) | SYNC_NV (2) | IMMED (1) | obsolete/reserved (0)
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), NUMBER OF LOGICAL BLOCKS 7-8, CONTROL 9
//	16: LBA 2-9, NUMBER OF LOGICAL BLOCKS 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type SynchronizeCache struct {
	// Op is OpSynchronizeCache10 or OpSynchronizeCache16. Zero encodes as
	// the 10-byte form when LBA and Blocks fit it.
	Op     OpCode
	SyncNV bool   // SYNC_NV
	Immed  bool   // IMMED: return status before the cache is synchronized
	LBA    uint64 // LOGICAL BLOCK ADDRESS of the first block; 32 bits in SYNCHRONIZE CACHE(10)
	// Blocks is NUMBER OF LOGICAL BLOCKS; zero means every block from LBA
	// to the last one (SBC-3 5.22).
	Blocks  uint32
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// cdbBitSyncNV is SYNC_NV, byte 1 bit 2.
const cdbBitSyncNV = 0x04

// OpCode returns Op, or the operation code a zero Op encodes as.
func (s *SynchronizeCache) OpCode() OpCode {
	return cdbPickOp(s.Op, OpSynchronizeCache10, OpSynchronizeCache16, s.LBA, s.Blocks)
}

// Range returns the LBA and the number of blocks (zero: to the end).
func (s *SynchronizeCache) Range() (uint64, uint32) { return s.LBA, s.Blocks }

// TransferBlocks returns 0: the command moves no data.
func (s *SynchronizeCache) TransferBlocks() uint32 { return 0 }

// MarshalBinary returns the CDB.
func (s *SynchronizeCache) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, 16))
}

// AppendBinary appends the CDB to b.
func (s *SynchronizeCache) AppendBinary(b []byte) ([]byte, error) {
	op := s.OpCode()
	if err := cdbCheckOp(op, OpSynchronizeCache10, OpSynchronizeCache16); err != nil {
		return b, err
	}
	flags := cdbBit(s.SyncNV, cdbBitSyncNV) | cdbBit(s.Immed, cdbBitImmed)
	return cdbAppendBlock(b, op, cdbBlockFields{flags: flags, lba: s.LBA, length: s.Blocks, group: s.Group, control: s.Control})
}

// UnmarshalBinary decodes a SYNCHRONIZE CACHE CDB.
func (s *SynchronizeCache) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpSynchronizeCache10, OpSynchronizeCache16)
	if err != nil {
		return err
	}
	f := cdbDecodeBlock(op, cdb)
	*s = SynchronizeCache{
		Op:      op,
		SyncNV:  f.flags&cdbBitSyncNV != 0,
		Immed:   f.flags&cdbBitImmed != 0,
		LBA:     f.lba,
		Blocks:  f.length,
		Group:   f.group,
		Control: f.control,
	}
	return nil
}
