package iscsi

import (
	"encoding/binary"
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// TaskAttr is the task attribute of a SCSI Command, the ATTR field in the
// low three bits of byte 1 (RFC 7143 section 11.3.1; SAM-5).
type TaskAttr uint8

// The task attributes of RFC 7143 section 11.3.1. Values 5-7 are
// reserved.
const (
	TaskAttrUntagged    TaskAttr = 0
	TaskAttrSimple      TaskAttr = 1
	TaskAttrOrdered     TaskAttr = 2
	TaskAttrHeadOfQueue TaskAttr = 3
	TaskAttrACA         TaskAttr = 4
)

// String returns the SAM name of the task attribute.
func (a TaskAttr) String() string {
	switch a {
	case TaskAttrUntagged:
		return "UNTAGGED"
	case TaskAttrSimple:
		return "SIMPLE"
	case TaskAttrOrdered:
		return "ORDERED"
	case TaskAttrHeadOfQueue:
		return "HEAD OF QUEUE"
	case TaskAttrACA:
		return "ACA"
	}
	return fmt.Sprintf("task attribute %d", uint8(a))
}

// Bits of byte 1 of a SCSI Command.
const (
	scsiCmdReadBit  = 0x40
	scsiCmdWriteBit = 0x20
	scsiCmdAttrMask = 0x07
)

// cdbBHSLen is the size of the CDB field in the BHS.
const cdbBHSLen = 16

// SCSICommand is the SCSI Command PDU, opcode 0x01 (RFC 7143 section
// 11.3):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|I| 0x01      |F|R|W|. .|ATTR | Reserved                      |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| Logical Unit Number (LUN)                                     |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| Initiator Task Tag                                            |
//	  +---------------+---------------+---------------+---------------+
//	20| Expected Data Transfer Length                                 |
//	  +---------------+---------------+---------------+---------------+
//	24| CmdSN                                                         |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpStatSN                                                     |
//	  +---------------+---------------+---------------+---------------+
//	32/ SCSI Command Descriptor Block (CDB)                           /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	48/ AHS (optional)                                                /
//	  +---------------+---------------+---------------+---------------+
//	 x/ Header-Digest (optional)                                      /
//	  +---------------+---------------+---------------+---------------+
//	 y/ (DataSegment, Command Data) (optional)                        /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//	 z/ Data-Digest (optional)                                        /
//	  +---------------+---------------+---------------+---------------+
//
// A CDB of up to 16 bytes travels in the BHS, zero-padded; a longer one
// puts its first 16 bytes in the BHS and the rest in an Extended CDB AHS.
// A bidirectional command carries its read length in a Bidirectional Read
// Expected Data Transfer Length AHS.
type SCSICommand struct {
	// Immediate is the I bit: deliver the command immediately.
	Immediate bool
	// Final is the F bit: no unsolicited Data-Out PDUs follow.
	Final bool
	// Read is the R bit: the command is expected to input data.
	Read bool
	// Write is the W bit: the command is expected to output data.
	Write bool
	// Attr is the task attribute.
	Attr TaskAttr
	// LUN addresses the logical unit.
	LUN scsi.LUN
	// ITT is the Initiator Task Tag.
	ITT uint32
	// ExpectedDataTransferLength is the number of bytes the command
	// transfers; for a bidirectional command, the write length.
	ExpectedDataTransferLength uint32
	// CmdSN is the command sequence number.
	CmdSN uint32
	// ExpStatSN acknowledges status up to ExpStatSN-1.
	ExpStatSN uint32
	// CDB is the command descriptor block, at least one byte. After
	// DecodeFrame it is the whole 16-byte CDB field of the BHS, aliasing
	// the frame's BHS, or, with an Extended CDB AHS, a new slice of 16
	// plus the extended bytes.
	CDB []byte
	// HasBidi reports a Bidirectional Read Expected Data Transfer Length
	// AHS; ExpectedBidiReadLength is its value.
	HasBidi bool
	// ExpectedBidiReadLength is the read length of a bidirectional
	// command. It is meaningful only when HasBidi is set.
	ExpectedBidiReadLength uint32
	// Data is the immediate data. After DecodeFrame or UnmarshalBinary it
	// aliases the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpSCSICommand.
func (p *SCSICommand) Opcode() Opcode { return OpSCSICommand }

// checkSCSICommandFlags enforces the rules on F, R, W and the lengths that
// hold on both ends.
func checkSCSICommandFlags(final, read, write, hasBidi bool, edtl, bidiLen uint32) error {
	// RFC 7143 section 11.3.1: "At least one of the W and F bits MUST be
	// set to 1."
	if !write && !final {
		return fmt.Errorf("%w: SCSI Command with W and F both 0", ErrInvalidField)
	}
	// RFC 7143 section 11.3.1: R and W "MUST NOT both be 0 when the
	// Expected Data Transfer Length and/or Bidirectional Read Expected
	// Data Transfer Length are not 0".
	if !read && !write && (edtl != 0 || (hasBidi && bidiLen != 0)) {
		return fmt.Errorf("%w: SCSI Command with R and W both 0 and Expected Data Transfer Length %d", ErrInvalidField, edtl)
	}
	// RFC 7143 section 11.3.4: "For bidirectional operations, an
	// additional header segment MUST be present in the header sequence
	// that indicates the Bidirectional Read Expected Data Transfer
	// Length."
	if read && write && !hasBidi {
		return fmt.Errorf("%w: bidirectional SCSI Command without a Bidirectional Read Expected Data Transfer Length AHS", ErrInvalidField)
	}
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data; the extended CDB bytes
// and the bidirectional read length are appended to f.AHS[:0].
func (p *SCSICommand) EncodeFrame(f *Frame) error {
	if len(p.CDB) == 0 {
		return fmt.Errorf("%w: SCSI Command with an empty CDB", ErrInvalidField)
	}
	if p.Attr > scsiCmdAttrMask {
		return fmt.Errorf("%w: task attribute %d does not fit three bits", ErrInvalidField, uint8(p.Attr))
	}
	if err := checkSCSICommandFlags(p.Final, p.Read, p.Write, p.HasBidi, p.ExpectedDataTransferLength, p.ExpectedBidiReadLength); err != nil {
		return err
	}
	// Keep the CDB head before beginFrame clears the BHS: p.CDB may alias
	// f.BHS when p was decoded from f.
	var head [cdbBHSLen]byte
	copy(head[:], p.CDB)
	beginFrame(f, OpSCSICommand, p.Immediate)
	h := &f.BHS
	h.SetFinal(p.Final)
	if p.Read {
		h[1] |= scsiCmdReadBit
	}
	if p.Write {
		h[1] |= scsiCmdWriteBit
	}
	h[1] |= byte(p.Attr)
	h.SetLUN(uint64(p.LUN))
	h.SetITT(p.ITT)
	h.PutUint32(20, p.ExpectedDataTransferLength)
	h.PutUint32(24, p.CmdSN)
	h.PutUint32(28, p.ExpStatSN)
	copy(h[32:48], head[:])
	if len(p.CDB) > cdbBHSLen {
		// RFC 7143 section 11.3.5: "Whenever the CDB is larger than 16
		// bytes, an Extended CDB AHS MUST be used to contain the CDB
		// spillover."
		var err error
		if f.AHS, err = appendExtendedCDBAHS(f.AHS, p.CDB[cdbBHSLen:]); err != nil {
			return err
		}
	}
	if p.HasBidi {
		f.AHS = appendBidiReadAHS(f.AHS, p.ExpectedBidiReadLength)
	}
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data, and p.CDB aliases
// f.BHS unless the command has an Extended CDB AHS.
func (p *SCSICommand) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpSCSICommand); err != nil {
		return err
	}
	h := &f.BHS
	c := SCSICommand{
		Immediate:                  h.Immediate(),
		Final:                      h.Final(),
		Read:                       h[1]&scsiCmdReadBit != 0,
		Write:                      h[1]&scsiCmdWriteBit != 0,
		Attr:                       TaskAttr(h[1] & scsiCmdAttrMask),
		LUN:                        scsi.LUN(h.LUN()),
		ITT:                        h.ITT(),
		ExpectedDataTransferLength: h.Uint32(20),
		CmdSN:                      h.Uint32(24),
		ExpStatSN:                  h.Uint32(28),
		CDB:                        h[32:48:48],
		Data:                       f.Data,
	}
	var ext []byte
	haveExt := false
	r := NewAHSReader(f.AHS)
	for r.Next() {
		d := r.Data()
		switch r.Type() {
		case AHSExtendedCDB:
			if haveExt {
				return fmt.Errorf("%w: SCSI Command with two Extended CDB AHSs", ErrInvalidField)
			}
			// RFC 7143 section 11.2.2.3: AHSLength is CDBLength - 15, and
			// "This type of AHS MUST NOT be used if the CDBLength is less
			// than 17."
			if len(d) < 2 {
				return fmt.Errorf("%w: Extended CDB AHSLength %d, want at least 2", ErrAHSLength, len(d))
			}
			haveExt, ext = true, d[1:]
		case AHSBidiReadLength:
			if c.HasBidi {
				return fmt.Errorf("%w: SCSI Command with two Bidirectional Read Expected Data Transfer Length AHSs", ErrInvalidField)
			}
			// RFC 7143 section 11.2.2.4: "AHSLength (0x0005)".
			if len(d) != bidiReadAHSLength {
				return fmt.Errorf("%w: Bidirectional Read Expected Data Transfer Length AHSLength %d, want %d",
					ErrAHSLength, len(d), bidiReadAHSLength)
			}
			c.HasBidi, c.ExpectedBidiReadLength = true, binary.BigEndian.Uint32(d[1:5])
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if err := checkSCSICommandFlags(c.Final, c.Read, c.Write, c.HasBidi, c.ExpectedDataTransferLength, c.ExpectedBidiReadLength); err != nil {
		return err
	}
	if haveExt {
		// ext is at most MaxAHSLen bytes: the AHS area bounds it.
		cdb := make([]byte, cdbBHSLen+len(ext))
		copy(cdb, h[32:48])
		copy(cdb[cdbBHSLen:], ext)
		c.CDB = cdb
	}
	*p = c
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *SCSICommand) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *SCSICommand) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole SCSI Command without digests. p.Data
// aliases b.
func (p *SCSICommand) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
