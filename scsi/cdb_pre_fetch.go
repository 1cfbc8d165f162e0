package scsi

// PreFetch is PRE-FETCH(10) or PRE-FETCH(16) (SBC-3 sections 5.3 and
// 5.4):
//
//	byte 0    OPERATION CODE (34h or 90h)
//	byte 1    reserved (7-2) | IMMED (1) | obsolete/reserved (0)
//	10: LBA 2-5, GROUP NUMBER 6 (4-0), PREFETCH LENGTH 7-8, CONTROL 9
//	16: LBA 2-9, PREFETCH LENGTH 10-13, GROUP NUMBER 14 (4-0), CONTROL 15
type PreFetch struct {
	// Op is OpPreFetch10 or OpPreFetch16. Zero encodes as the 10-byte
	// form when LBA and Blocks fit it.
	Op      OpCode
	Immed   bool        // IMMED
	LBA     uint64      // LOGICAL BLOCK ADDRESS of the first block to prefetch; 32 bits in PRE-FETCH(10)
	Blocks  uint32      // PREFETCH LENGTH; zero means to the last block
	Group   uint8       // GROUP NUMBER, 5 bits
	Control ControlByte // CONTROL byte
}

// OpCode returns Op, or the operation code a zero Op encodes as.
func (p *PreFetch) OpCode() OpCode {
	return cdbPickOp(p.Op, OpPreFetch10, OpPreFetch16, p.LBA, p.Blocks)
}

// Range returns the LBA and the number of blocks to prefetch.
func (p *PreFetch) Range() (uint64, uint32) { return p.LBA, p.Blocks }

// TransferBlocks returns 0: the command moves no data.
func (p *PreFetch) TransferBlocks() uint32 { return 0 }

// MarshalBinary returns the CDB.
func (p *PreFetch) MarshalBinary() ([]byte, error) { return p.AppendBinary(make([]byte, 0, 16)) }

// AppendBinary appends the CDB to b.
func (p *PreFetch) AppendBinary(b []byte) ([]byte, error) {
	op := p.OpCode()
	if err := cdbCheckOp(op, OpPreFetch10, OpPreFetch16); err != nil {
		return b, err
	}
	return cdbAppendBlock(b, op, cdbBlockFields{flags: cdbBit(p.Immed, cdbBitImmed), lba: p.LBA, length: p.Blocks, group: p.Group, control: p.Control})
}

// UnmarshalBinary decodes a PRE-FETCH CDB.
func (p *PreFetch) UnmarshalBinary(cdb []byte) error {
	op, err := cdbCheck(cdb, OpPreFetch10, OpPreFetch16)
	if err != nil {
		return err
	}
	f := cdbDecodeBlock(op, cdb)
	*p = PreFetch{Op: op, Immed: f.flags&cdbBitImmed != 0, LBA: f.lba, Blocks: f.length, Group: f.group, Control: f.control}
	return nil
}
