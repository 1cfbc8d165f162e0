package scsi

import (
	"encoding"
	"fmt"
	"slices"
)

// Command is a decoded CDB. Every command type in this package implements
// it through its pointer (*Read, *Inquiry, ...); DecodeCDB returns those
// pointers, and a type switch on the result selects the command.
//
// MarshalBinary and AppendBinary encode what they are given, so an
// initiator (or a conformance test) can send a CDB a target must reject;
// they fail only when a value does not fit its field, with a
// *CDBFieldError. UnmarshalBinary reads the first CDB-length bytes of its
// input (an iSCSI CDB field pads short CDBs to 16 bytes), checks the
// fields SPC-4 and SBC-3 tell a device server to reject regardless of its
// configuration, and leaves configuration-dependent checks (protection
// information, NACA, supported page codes ...) to the target.
type Command interface {
	// OpCode returns the CDB's operation code.
	OpCode() OpCode
	encoding.BinaryMarshaler
	encoding.BinaryAppender
	encoding.BinaryUnmarshaler
}

// BlockIO is implemented by the commands that address a range of logical
// blocks: READ, WRITE, WRITE AND VERIFY, VERIFY, WRITE SAME, COMPARE AND
// WRITE, ORWRITE, SYNCHRONIZE CACHE and PRE-FETCH. A target checks Range
// against the capacity (LOGICAL BLOCK ADDRESS OUT OF RANGE) and sizes its
// buffers from TransferBlocks, before it allocates anything.
type BlockIO interface {
	Command
	// Range returns the first logical block the command addresses and the
	// number of blocks it addresses. For SYNCHRONIZE CACHE and WRITE SAME
	// a count of zero means "to the last logical block" (SBC-3); the
	// target resolves it.
	Range() (lba uint64, blocks uint32)
	// TransferBlocks returns the number of logical blocks of data the
	// command moves across the service delivery subsystem: Data-In for
	// reads, Data-Out for writes; zero when it moves none.
	TransferBlocks() uint32
}

// ControlByte is the CONTROL byte that ends every CDB (SAM-5 section
// 5.2, SPC-4 section 4.2.5.7). This package decodes and encodes it
// unchanged; the target decides whether it accepts the bits set in it.
type ControlByte uint8

// NACA returns the normal ACA bit (bit 2). A device server that does not
// support ACA rejects a CDB with NACA set with INVALID FIELD IN CDB
// (SAM-5 section 5.9.3): that check is the target's.
func (c ControlByte) NACA() bool { return c&0x04 != 0 }

// Link returns the obsolete LINK bit (bit 0).
func (c ControlByte) Link() bool { return c&0x01 != 0 }

// DecodeCDB decodes cdb by its operation code (and, for SERVICE ACTION IN
// (16) and MAINTENANCE IN, its service action) into the matching command
// type, returned as a pointer. cdb may be longer than the command's CDB
// length, as an iSCSI SCSI Command PDU's 16-byte CDB field is; the extra
// bytes are ignored.
//
// An operation code this package does not decode returns an error
// wrapping ErrUnsupportedOpCode (INVALID COMMAND OPERATION CODE); an
// unknown service action of a decoded operation code returns a
// *CDBFieldError pointing at the SERVICE ACTION field (SPC-4 answers it
// with INVALID FIELD IN CDB); a short CDB returns an error wrapping
// ErrTruncated.
//
// DecodeCDB allocates the command it returns. A path that must not
// allocate per command switches on OpCode(cdb[0]) itself and calls
// UnmarshalBinary on a command value it owns; the result is the same.
func DecodeCDB(cdb []byte) (Command, error) {
	if len(cdb) < 1 {
		return nil, fmt.Errorf("%w: empty CDB", ErrTruncated)
	}
	op := OpCode(cdb[0])
	var c Command
	switch op {
	case OpTestUnitReady:
		c = new(TestUnitReady)
	case OpRequestSense:
		c = new(RequestSense)
	case OpInquiry:
		c = new(Inquiry)
	case OpReadCapacity10:
		c = new(ReadCapacity10)
	case OpRead6, OpRead10, OpRead12, OpRead16:
		c = new(Read)
	case OpWrite6, OpWrite10, OpWrite12, OpWrite16:
		c = new(Write)
	case OpWriteAndVerify10, OpWriteAndVerify16:
		c = new(WriteAndVerify)
	case OpVerify10, OpVerify16:
		c = new(Verify)
	case OpSynchronizeCache10, OpSynchronizeCache16:
		c = new(SynchronizeCache)
	case OpWriteSame10, OpWriteSame16:
		c = new(WriteSame)
	case OpUnmap:
		c = new(Unmap)
	case OpCompareAndWrite:
		c = new(CompareAndWrite)
	case OpORWrite16:
		c = new(ORWrite)
	case OpPreFetch10, OpPreFetch16:
		c = new(PreFetch)
	case OpReportLUNs:
		c = new(ReportLUNs)
	case OpModeSense6, OpModeSense10:
		c = new(ModeSense)
	case OpModeSelect6, OpModeSelect10:
		c = new(ModeSelect)
	case OpStartStopUnit:
		c = new(StartStopUnit)
	case OpPreventAllowMediumRemoval:
		c = new(PreventAllowMediumRemoval)
	case OpReserve6, OpReserve10:
		c = new(Reserve)
	case OpRelease6, OpRelease10:
		c = new(Release)
	case OpPersistentReserveIn:
		c = new(PersistentReserveIn)
	case OpPersistentReserveOut:
		c = new(PersistentReserveOut)
	case OpServiceActionIn16:
		if err := cdbCheckLen(op, cdb, 2); err != nil {
			return nil, err
		}
		switch sa := cdb[1] & serviceActionMask; sa {
		case SAReadCapacity16:
			c = new(ReadCapacity16)
		case SAGetLBAStatus:
			c = new(GetLBAStatus)
		default:
			return nil, cdbErrServiceAction(op, sa)
		}
	case OpMaintenanceIn:
		if err := cdbCheckLen(op, cdb, 2); err != nil {
			return nil, err
		}
		switch sa := cdb[1] & serviceActionMask; sa {
		case SAReportSupportedOperationCodes:
			c = new(ReportSupportedOperationCodes)
		case SAReportSupportedTaskMgmtFuncs:
			c = new(ReportSupportedTaskManagementFunctions)
		default:
			return nil, cdbErrServiceAction(op, sa)
		}
	default:
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedOpCode, op)
	}
	if err := c.UnmarshalBinary(cdb); err != nil {
		return nil, err
	}
	return c, nil
}

// cdbErrServiceAction reports an unknown service action in byte 1 bits 4-0.
// SPC-4 section 4.2.5.1: an unsupported service action of a supported
// operation code is answered with ILLEGAL REQUEST, INVALID FIELD IN CDB.
func cdbErrServiceAction(op OpCode, sa uint8) error {
	return &CDBFieldError{Op: op, Byte: 1, Bit: 4, Reason: fmt.Sprintf("unsupported service action 0x%02x", sa)}
}

// cdbCheckLen returns an ErrTruncated error if cdb is shorter than n bytes.
func cdbCheckLen(op OpCode, cdb []byte, n int) error {
	if len(cdb) < n {
		return fmt.Errorf("%w: %v CDB is %d bytes, want %d", ErrTruncated, op, len(cdb), n)
	}
	return nil
}

// cdbCheck checks that cdb starts with one of ops and holds that
// operation code's full CDB length. It returns the operation code found.
func cdbCheck(cdb []byte, ops ...OpCode) (OpCode, error) {
	if len(cdb) < 1 {
		return 0, fmt.Errorf("%w: empty CDB, want %v", ErrTruncated, ops[0])
	}
	op := OpCode(cdb[0])
	for _, want := range ops {
		if op == want {
			return op, cdbCheckLen(op, cdb, op.CDBLength())
		}
	}
	// Cloned so that the variadic slice does not escape: decoding on
	// the I/O path must not allocate.
	return op, fmt.Errorf("%w: %v, want %v", ErrUnsupportedOpCode, op, slices.Clone(ops))
}

// cdbCheckSA checks the service action in byte 1 bits 4-0 of an already
// length-checked cdb.
func cdbCheckSA(op OpCode, cdb []byte, want uint8) error {
	if sa := cdb[1] & serviceActionMask; sa != want {
		return cdbErrServiceAction(op, sa)
	}
	return nil
}

// cdbCheckOp returns an error wrapping ErrUnsupportedOpCode if op is not one
// of ops; encoders use it on a command's Op field.
func cdbCheckOp(op OpCode, ops ...OpCode) error {
	for _, want := range ops {
		if op == want {
			return nil
		}
	}
	return fmt.Errorf("%w: %v, want one of %v", ErrUnsupportedOpCode, op, slices.Clone(ops))
}

// cdbFitErr reports a value that does not fit the field at byte/bit.
func cdbFitErr(op OpCode, byteN, bit int, name string, v uint64, bits int) error {
	return &CDBFieldError{Op: op, Byte: byteN, Bit: bit,
		Reason: fmt.Sprintf("%s 0x%x does not fit in %d bits", name, v, bits)}
}

// fits reports whether v fits in bits bits.
func cdbFits(v uint64, bits int) bool { return bits >= 64 || v>>bits == 0 }

// bit returns mask if b is true and 0 otherwise.
func cdbBit(b bool, mask byte) byte {
	if b {
		return mask
	}
	return 0
}
