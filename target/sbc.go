package target

import (
	"bytes"
	"errors"

	"github.com/lunarsan/lunar/scsi"
)

// Block Limits (VPD page B0h) and other limits of lunar's logical units.
const (
	// sbcMaxTransferBytes is the MAXIMUM TRANSFER LENGTH in bytes.
	sbcMaxTransferBytes = 8 << 20
	// sbcOptimalTransferBytes is the OPTIMAL TRANSFER LENGTH in bytes.
	sbcOptimalTransferBytes = 1 << 20
	// sbcChunkBytes is how much one backend call moves; the task's
	// context is checked between chunks.
	sbcChunkBytes = 1 << 20
	// sbcMaxCAWBlocks is the MAXIMUM COMPARE AND WRITE LENGTH.
	sbcMaxCAWBlocks = 255
	// sbcMaxWriteSameBlocks is the MAXIMUM WRITE SAME LENGTH: the most
	// blocks one WRITE SAME writes or unmaps, the largest count WRITE
	// SAME(10) can carry. It bounds the work of one command; the Block
	// Limits page reports it and sbcWriteSame enforces it.
	sbcMaxWriteSameBlocks = 0xffff
	// sbcMaxUnmapBlocks is the MAXIMUM UNMAP LBA COUNT (thin LUs).
	sbcMaxUnmapBlocks = 1 << 20
	// sbcMaxUnmapDescriptors is the MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT.
	sbcMaxUnmapDescriptors = 256
	// sbcMaxLBAStatusDescriptors bounds one GET LBA STATUS answer.
	sbcMaxLBAStatusDescriptors = 64
)

func init() {
	ctl := byte(0x04) // CONTROL: only NACA is examined
	rw10 := func(op scsi.OpCode, b1 byte) []byte {
		return []byte{byte(op), b1, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, ctl}
	}
	rw12 := func(op scsi.OpCode, b1 byte) []byte {
		return []byte{byte(op), b1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, ctl}
	}
	rw16 := func(op scsi.OpCode, b1 byte) []byte {
		return []byte{byte(op), b1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, ctl}
	}
	// Byte 1 masks: xxPROTECT (e0), DPO (10), FUA (08), FUA_NV (02);
	// BYTCHK (06); WRITE SAME's ANCHOR, UNMAP, PBDATA, LBDATA (1e) and NDOB (01).
	const rwFlags, vFlags, wsFlags = 0xfa, 0xf6, 0xfe
	thin := func(lu *LU) bool { return lu.cfg.Thin }
	luRegister(
		luCommand{op: scsi.OpRead6, usage: []byte{byte(scsi.OpRead6), 0x1f, 0xff, 0xff, 0xff, ctl}, run: sbcRead},
		luCommand{op: scsi.OpRead10, usage: rw10(scsi.OpRead10, rwFlags), run: sbcRead},
		luCommand{op: scsi.OpRead12, usage: rw12(scsi.OpRead12, rwFlags), run: sbcRead},
		luCommand{op: scsi.OpRead16, usage: rw16(scsi.OpRead16, rwFlags), run: sbcRead},
		luCommand{op: scsi.OpWrite6, usage: []byte{byte(scsi.OpWrite6), 0x1f, 0xff, 0xff, 0xff, ctl}, run: sbcWrite},
		luCommand{op: scsi.OpWrite10, usage: rw10(scsi.OpWrite10, rwFlags), run: sbcWrite},
		luCommand{op: scsi.OpWrite12, usage: rw12(scsi.OpWrite12, rwFlags), run: sbcWrite},
		luCommand{op: scsi.OpWrite16, usage: rw16(scsi.OpWrite16, rwFlags), run: sbcWrite},
		luCommand{op: scsi.OpWriteAndVerify10, usage: rw10(scsi.OpWriteAndVerify10, vFlags), run: sbcWriteAndVerify},
		luCommand{op: scsi.OpWriteAndVerify16, usage: rw16(scsi.OpWriteAndVerify16, vFlags), run: sbcWriteAndVerify},
		luCommand{op: scsi.OpVerify10, usage: rw10(scsi.OpVerify10, vFlags), run: sbcVerify},
		luCommand{op: scsi.OpVerify16, usage: rw16(scsi.OpVerify16, vFlags), run: sbcVerify},
		luCommand{op: scsi.OpSynchronizeCache10, usage: rw10(scsi.OpSynchronizeCache10, 0x06), run: sbcSynchronizeCache},
		luCommand{op: scsi.OpSynchronizeCache16, usage: rw16(scsi.OpSynchronizeCache16, 0x06), run: sbcSynchronizeCache},
		luCommand{op: scsi.OpPreFetch10, usage: rw10(scsi.OpPreFetch10, 0x02), run: sbcPreFetch},
		luCommand{op: scsi.OpPreFetch16, usage: rw16(scsi.OpPreFetch16, 0x02), run: sbcPreFetch},
		luCommand{op: scsi.OpWriteSame10, usage: rw10(scsi.OpWriteSame10, wsFlags), run: sbcWriteSame},
		luCommand{op: scsi.OpWriteSame16, usage: rw16(scsi.OpWriteSame16, wsFlags|0x01), run: sbcWriteSame},
		luCommand{op: scsi.OpUnmap, usage: []byte{byte(scsi.OpUnmap), 0x01, 0, 0, 0, 0, 0x1f, 0xff, 0xff, ctl}, run: sbcUnmap, supported: thin},
		luCommand{op: scsi.OpCompareAndWrite, usage: []byte{byte(scsi.OpCompareAndWrite), rwFlags, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x1f, ctl}, run: sbcCompareAndWrite},
		luCommand{op: scsi.OpORWrite16, usage: rw16(scsi.OpORWrite16, rwFlags), run: sbcORWrite},
		luCommand{op: scsi.OpReadCapacity10, usage: []byte{byte(scsi.OpReadCapacity10), 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, ctl}, run: sbcReadCapacity10, quick: true},
		luCommand{op: scsi.OpServiceActionIn16, sa: scsi.SAReadCapacity16, hasSA: true,
			usage: []byte{byte(scsi.OpServiceActionIn16), scsi.SAReadCapacity16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, ctl},
			run:   sbcReadCapacity16, quick: true},
		luCommand{op: scsi.OpServiceActionIn16, sa: scsi.SAGetLBAStatus, hasSA: true,
			usage: []byte{byte(scsi.OpServiceActionIn16), scsi.SAGetLBAStatus, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, ctl},
			run:   sbcGetLBAStatus},
		luCommand{op: scsi.OpStartStopUnit, usage: []byte{byte(scsi.OpStartStopUnit), 0x01, 0, 0x0f, 0xf7, ctl}, run: sbcStartStopUnit},
		luCommand{op: scsi.OpPreventAllowMediumRemoval, usage: []byte{byte(scsi.OpPreventAllowMediumRemoval), 0, 0, 0, 0x03, ctl}, run: sbcPreventAllow},
	)
}

// maxTransferBlocks is the MAXIMUM TRANSFER LENGTH in logical blocks.
func (lu *LU) maxTransferBlocks() uint32 { return sbcMaxTransferBytes >> lu.shift }

// checkRange checks that blocks [lba, lba+n) lie within the logical unit.
// SBC-3 section 4.5: "If a command ... requests access to a logical block
// address that exceeds the capacity ... the device server shall terminate
// the command with CHECK CONDITION status with the sense key set to
// ILLEGAL REQUEST and the additional sense code set to LOGICAL BLOCK
// ADDRESS OUT OF RANGE." Nothing is transferred before this check.
func (lu *LU) checkRange(lba, n uint64) error {
	capacity := lu.blocks.Load()
	if lba > capacity || n > capacity-lba {
		return scsi.LBAOutOfRange()
	}
	return nil
}

// checkWritable refuses to modify a read-only logical unit: DATA
// PROTECT, WRITE PROTECTED (SBC-3 section 4.13).
func (lu *LU) checkWritable() error {
	if lu.cfg.ReadOnly {
		return scsi.NewSenseError(scsi.SenseKeyDataProtect, scsi.SenseWriteProtected)
	}
	return nil
}

// syncAfterWrite makes written data stable when FUA is set or the write
// cache is disabled (SBC-3 section 4.15: with FUA "the device server
// shall write the logical blocks to the medium" before completing; with
// WCE zero the cache is write-through).
func (lu *LU) syncAfterWrite(fua bool) error {
	if !fua && lu.wce.Load() {
		return nil
	}
	if err := lu.cfg.Backend.Sync(); err != nil {
		return luMediumError(err, scsi.SenseWriteError)
	}
	return nil
}

// sbcLengthByte returns the byte of the TRANSFER LENGTH field of a READ,
// WRITE, VERIFY or WRITE AND VERIFY CDB, for field pointers.
func sbcLengthByte(op scsi.OpCode) int {
	switch op.CDBLength() {
	case 6:
		return 4
	case 10:
		return 7
	case 12:
		return 6
	}
	return 10
}

// sbcWriteSameLengthByte returns the byte of the NUMBER OF LOGICAL
// BLOCKS field of a WRITE SAME CDB, for field pointers.
func sbcWriteSameLengthByte(op scsi.OpCode) int {
	if op == scsi.OpWriteSame10 {
		return 7
	}
	return 10
}

// sbcProtectError is the answer to a non-zero RDPROTECT, WRPROTECT,
// VRPROTECT or ORPROTECT on a logical unit without protection
// information: SBC-3 section 4.22.2 (table 13): "If the logical unit does
// not support protection information ... the device server shall
// terminate the command with ... INVALID FIELD IN CDB".
func sbcProtectError() error { return scsi.InvalidFieldInCDB(1, 7) }

// admitBlocks makes the checks of a command that moves blocks of data
// (READ, WRITE, ORWRITE) before it touches the medium, in order: it sets
// the expected transfer, then refuses a protection field (protect), more
// blocks than the unit takes at once (lengthByte is the CDB's TRANSFER
// LENGTH byte), a write to a read-only unit (write) and blocks out of
// range.
func (c *luCmd) admitBlocks(protect uint8, lba uint64, blocks uint32, lengthByte int, write bool) error {
	lu := c.lu
	c.res.Transfer = int(uint64(blocks) << lu.shift)
	if protect != 0 {
		return sbcProtectError()
	}
	if blocks > lu.maxTransferBlocks() {
		return scsi.InvalidFieldInCDB(lengthByte, -1)
	}
	if write {
		if err := lu.checkWritable(); err != nil {
			return err
		}
	}
	return lu.checkRange(lba, uint64(blocks))
}

// sbcRead runs READ(6/10/12/16), reading straight into the Data-In
// buffer.
func sbcRead(c *luCmd) error {
	// Decoded into a value on the stack: the READ path allocates nothing
	// (scsi's TestReadDecodeAllocs guards the decoder).
	var r scsi.Read
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if err := c.admitBlocks(r.RDProtect, r.LBA, r.Blocks, sbcLengthByte(r.Op), false); err != nil {
		return err
	}
	lu := c.lu
	// Never more than the Data-In buffer holds: the iSCSI layer sizes it
	// from the Expected Data Transfer Length and reports the rest as
	// residual overflow.
	n := min(len(c.t.DataIn), c.res.Transfer)
	off := int64(r.LBA << lu.shift)
	for done := 0; done < n; {
		if luCanceled(c.t) {
			return errLUAborted
		}
		k := min(n-done, sbcChunkBytes)
		if _, err := lu.cfg.Backend.ReadAt(c.t.DataIn[done:done+k], off+int64(done)); err != nil {
			return luMediumError(err, scsi.SenseUnrecoveredReadError)
		}
		done += k
		c.res.DataIn = done
	}
	return nil
}

// sbcWrite runs WRITE(6/10/12/16), writing straight from the Data-Out
// buffer.
func sbcWrite(c *luCmd) error {
	var w scsi.Write
	if err := w.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if err := c.admitBlocks(w.WRProtect, w.LBA, w.Blocks, sbcLengthByte(w.Op), true); err != nil {
		return err
	}
	return c.writeBlocks(w.LBA, w.Blocks, w.FUA)
}

// writeBlocks writes the Data-Out buffer to blocks starting at lba, the
// CDB asking for blocks of them (already range checked).
//
// When the initiator sent less than the CDB asks for (Expected Data
// Transfer Length below the transfer length), only the whole blocks that
// arrived are written and the command completes with GOOD, the iSCSI layer
// reporting the residual overflow; data is never taken from beyond what
// arrived nor written beyond the CDB's range. This is what libiscsi's
// iSCSIResiduals tests expect (test-tool/test_write10_residuals.c:
// "Write two blocks of 'b' but set iSCSI EDTL to 1 blocks" → GOOD,
// residual overflow of one block, first block written, "second block was
// NOT overwritten"; EDTL of 0 or 200 bytes for one block → GOOD with the
// overflow, nothing written) and RFC 7143 section 11.4.5.1 allows.
func (c *luCmd) writeBlocks(lba uint64, blocks uint32, fua bool) error {
	lu := c.lu
	want := int(uint64(blocks) << lu.shift)
	n := min(len(c.t.DataOut), want) >> lu.shift << lu.shift
	if n == 0 {
		return nil
	}
	nb := uint64(n) >> lu.shift
	lu.locks.lock(lba, nb)
	err := c.writeLocked(int64(lba<<lu.shift), c.t.DataOut[:n])
	lu.locks.unlock(lba, nb)
	if err != nil {
		return err
	}
	return lu.syncAfterWrite(fua)
}

// writeLocked writes data at off in chunks, checking for cancellation
// between them; the caller holds the range lock.
func (c *luCmd) writeLocked(off int64, data []byte) error {
	for done := 0; done < len(data); {
		if luCanceled(c.t) {
			return errLUAborted
		}
		k := min(len(data)-done, sbcChunkBytes)
		if _, err := c.lu.cfg.Backend.WriteAt(data[done:done+k], off+int64(done)); err != nil {
			return luMediumError(err, scsi.SenseWriteError)
		}
		done += k
	}
	return nil
}

// sbcWriteAndVerify runs WRITE AND VERIFY(10/16): a write that reaches
// stable storage; the verification of data just written cannot fail.
func sbcWriteAndVerify(c *luCmd) error {
	var w scsi.WriteAndVerify
	if err := w.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	c.res.Transfer = int(uint64(w.Blocks) << lu.shift)
	if w.WRProtect != 0 {
		return sbcProtectError()
	}
	if w.ByteCheck == 3 {
		// SBC-4 table 124 (WRITE AND VERIFY): BYTCHK 11b is not defined
		// for this command here.
		return scsi.InvalidFieldInCDB(1, 2)
	}
	if w.Blocks > lu.maxTransferBlocks() {
		return scsi.InvalidFieldInCDB(sbcLengthByte(w.Op), -1)
	}
	if err := lu.checkWritable(); err != nil {
		return err
	}
	if err := lu.checkRange(w.LBA, uint64(w.Blocks)); err != nil {
		return err
	}
	return c.writeBlocks(w.LBA, w.Blocks, true)
}

// sbcMiscompare is MISCOMPARE, MISCOMPARE DURING VERIFY OPERATION, with
// the offset of the first byte that differs in the INFORMATION field
// (SBC-3 sections 5.2 and 5.33: "the offset from the start of the Data-Out
// Buffer to the first byte of data that was not equal shall be reported in
// the INFORMATION field").
func sbcMiscompare(off int) error {
	se := scsi.NewSenseError(scsi.SenseKeyMiscompare, scsi.SenseMiscompareDuringVerify)
	se.InformationValid, se.Information = true, uint64(off)
	return se
}

// sbcFirstDiff returns the index of the first byte where a and b differ,
// or -1.
func sbcFirstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; {
		k := min(n-i, 4096)
		if !bytes.Equal(a[i:i+k], b[i:i+k]) {
			for j := i; j < i+k; j++ {
				if a[j] != b[j] {
					return j
				}
			}
		}
		i += k
	}
	return -1
}

// sbcVerify runs VERIFY(10/16). BYTCHK 00b verifies the medium (always
// readable here); 01b compares the Data-Out buffer with the blocks; 11b
// compares one block of Data-Out with every block.
func sbcVerify(c *luCmd) error {
	var v scsi.Verify
	if err := v.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	c.res.Transfer = int(uint64(v.TransferBlocks()) << lu.shift)
	if v.VRProtect != 0 {
		return sbcProtectError()
	}
	if v.ByteCheck == 1 && v.Blocks > lu.maxTransferBlocks() {
		return scsi.InvalidFieldInCDB(sbcLengthByte(v.Op), -1)
	}
	if err := lu.checkRange(v.LBA, uint64(v.Blocks)); err != nil {
		return err
	}
	if v.ByteCheck == 0 || v.Blocks == 0 {
		return nil
	}
	bs := int(lu.bs)
	data := c.t.DataOut[:min(len(c.t.DataOut), c.res.Transfer)]
	if v.ByteCheck == 3 {
		if len(data) < bs {
			return nil
		}
		cur := make([]byte, bs)
		for i := uint64(0); i < uint64(v.Blocks); i++ {
			if i%256 == 0 && luCanceled(c.t) {
				return errLUAborted
			}
			if _, err := lu.cfg.Backend.ReadAt(cur, int64((v.LBA+i)<<lu.shift)); err != nil {
				return luMediumError(err, scsi.SenseUnrecoveredReadError)
			}
			if d := sbcFirstDiff(data[:bs], cur); d >= 0 {
				return sbcMiscompare(d)
			}
		}
		return nil
	}
	data = data[:len(data)/bs*bs]
	cur := make([]byte, min(len(data), sbcChunkBytes))
	off := int64(v.LBA << lu.shift)
	for done := 0; done < len(data); {
		if luCanceled(c.t) {
			return errLUAborted
		}
		k := min(len(data)-done, len(cur))
		if _, err := lu.cfg.Backend.ReadAt(cur[:k], off+int64(done)); err != nil {
			return luMediumError(err, scsi.SenseUnrecoveredReadError)
		}
		if d := sbcFirstDiff(data[done:done+k], cur[:k]); d >= 0 {
			return sbcMiscompare(done + d)
		}
		done += k
	}
	return nil
}

// sbcResolveRange resolves a NUMBER OF LOGICAL BLOCKS of zero ("to the
// last logical block", SBC-3 sections 5.22 and 5.42) and range checks.
func (lu *LU) sbcResolveRange(lba uint64, blocks uint32) (uint64, error) {
	n := uint64(blocks)
	if n == 0 {
		capacity := lu.blocks.Load()
		if lba > capacity {
			return 0, scsi.LBAOutOfRange()
		}
		n = capacity - lba
	}
	return n, lu.checkRange(lba, n)
}

// sbcSynchronizeCache runs SYNCHRONIZE CACHE(10/16): fdatasync, whatever
// the range (IMMED is honoured by syncing before GOOD anyway).
func sbcSynchronizeCache(c *luCmd) error {
	var s scsi.SynchronizeCache
	if err := s.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lba, blocks := s.Range()
	if _, err := c.lu.sbcResolveRange(lba, blocks); err != nil {
		return err
	}
	if err := c.lu.cfg.Backend.Sync(); err != nil {
		return luMediumError(err, scsi.SenseWriteError)
	}
	return nil
}

// sbcPreFetch runs PRE-FETCH(10/16). There is no cache to load, so it
// completes with GOOD (SBC-3 section 5.3: GOOD when the blocks are not
// all kept in cache).
func sbcPreFetch(c *luCmd) error {
	var p scsi.PreFetch
	if err := p.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lba, blocks := p.Range()
	_, err := c.lu.sbcResolveRange(lba, blocks)
	return err
}

// sbcWriteSame runs WRITE SAME(10/16). With UNMAP on a thin logical unit
// the range is deallocated (it reads back as zeros: LBPRZ); otherwise the
// block (zeros with NDOB) is written to every block.
func sbcWriteSame(c *luCmd) error {
	var w scsi.WriteSame
	if err := w.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	bs := int(lu.bs)
	c.res.Transfer = int(uint64(w.TransferBlocks()) << lu.shift)
	switch {
	case w.WRProtect != 0:
		return sbcProtectError()
	case w.Anchor:
		// SBC-3 section 5.42: ANCHOR set when ANC_SUP is zero is INVALID
		// FIELD IN CDB.
		return scsi.InvalidFieldInCDB(1, 4)
	case w.PBData:
		return scsi.InvalidFieldInCDB(1, 2)
	case w.LBData:
		return scsi.InvalidFieldInCDB(1, 1)
	}
	if err := lu.checkWritable(); err != nil {
		return err
	}
	lba, blocks := w.Range()
	n, err := lu.sbcResolveRange(lba, blocks)
	if err != nil {
		return err
	}
	if n > sbcMaxWriteSameBlocks {
		// SBC-3 section 5.42: "If the number of logical blocks specified
		// to be unmapped or written exceeds the value in the MAXIMUM
		// WRITE SAME LENGTH field ... the device server shall terminate
		// the command with CHECK CONDITION status with the sense key set
		// to ILLEGAL REQUEST and the additional sense code set to INVALID
		// FIELD IN CDB." A NUMBER OF LOGICAL BLOCKS of zero specifies the
		// blocks up to the last one, so the resolved count is checked.
		return scsi.InvalidFieldInCDB(sbcWriteSameLengthByte(w.Op), -1)
	}
	var block []byte
	if !w.NDOB {
		// SBC-3 section 5.42: the Data-Out buffer holds exactly one
		// logical block; libiscsi's WriteSame10.InvalidDataOutSize
		// expects half a block or two blocks to be refused.
		if len(c.t.DataOut) != bs || c.t.ExpectedDataTransferLength != uint32(bs) {
			return scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
		}
		block = c.t.DataOut
	}
	if n == 0 {
		return nil
	}
	if w.Unmap && lu.cfg.Thin {
		// SBC-3 section 5.42 (UNMAP one, ANCHOR zero): the
		// device server in a thin provisioned logical unit "should
		// deallocate each LBA specified by the command", whatever the
		// Data-Out block holds; with LBPRZ set they then read back as
		// zeros (libiscsi's WriteSame10.UnmapUntilEnd sends a block of
		// 0xFF with UNMAP and expects zeros).
		if err := c.unmapBlocks(lba, n); err != nil {
			return err
		}
		return lu.syncAfterWrite(false)
	}
	if err := c.fillBlocks(lba, n, block); err != nil {
		return err
	}
	return lu.syncAfterWrite(false)
}

// fillBlocks writes block (nil: zeros) to n blocks from lba, a chunk at a
// time, each chunk under the range lock.
func (c *luCmd) fillBlocks(lba, n uint64, block []byte) error {
	lu := c.lu
	chunkBlocks := uint64(sbcChunkBytes) >> lu.shift
	buf := make([]byte, min(n, chunkBlocks)<<lu.shift)
	if block != nil {
		for i := 0; i < len(buf); i += len(block) {
			copy(buf[i:], block)
		}
	}
	for done := uint64(0); done < n; {
		k := min(n-done, chunkBlocks)
		lu.locks.lock(lba+done, k)
		err := c.writeLocked(int64((lba+done)<<lu.shift), buf[:k<<lu.shift])
		lu.locks.unlock(lba+done, k)
		if err != nil {
			return err
		}
		done += k
	}
	return nil
}

// unmapBlocks deallocates n blocks from lba; a backend that cannot punch
// holes gets zeros written instead, so the blocks read back as zeros as
// LBPRZ promises.
func (c *luCmd) unmapBlocks(lba, n uint64) error {
	lu := c.lu
	if luCanceled(c.t) {
		return errLUAborted
	}
	lu.locks.lock(lba, n)
	err := lu.cfg.Backend.Unmap(int64(lba<<lu.shift), int64(n<<lu.shift))
	lu.locks.unlock(lba, n)
	if errors.Is(err, ErrUnmapUnsupported) {
		return c.fillBlocks(lba, n, nil)
	}
	if err != nil {
		return luMediumError(err, scsi.SenseWriteError)
	}
	return nil
}

// sbcUnmap runs UNMAP (thin logical units only): every descriptor is
// checked before anything is deallocated.
func sbcUnmap(c *luCmd) error {
	var u scsi.Unmap
	if err := u.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	c.res.Transfer = int(u.ParameterListLength)
	if u.Anchor {
		// SBC-3 section 5.28: ANCHOR set when ANC_SUP is zero is INVALID
		// FIELD IN CDB.
		return scsi.InvalidFieldInCDB(1, 0)
	}
	if err := lu.checkWritable(); err != nil {
		return err
	}
	if u.ParameterListLength == 0 {
		// SBC-3 section 5.28: "A PARAMETER LIST LENGTH field set to zero
		// specifies that no data shall be sent. This shall not be
		// considered an error."
		return nil
	}
	var l scsi.UnmapParameterList
	if err := l.UnmarshalBinary(c.t.DataOut[:min(len(c.t.DataOut), int(u.ParameterListLength))]); err != nil {
		return err
	}
	if len(l.Descriptors) > sbcMaxUnmapDescriptors {
		// SBC-3 section 5.28.2: more descriptors than the MAXIMUM UNMAP
		// BLOCK DESCRIPTOR COUNT is INVALID FIELD IN PARAMETER LIST.
		return scsi.InvalidFieldInParameterList(2, -1)
	}
	for i, d := range l.Descriptors {
		if d.Blocks > sbcMaxUnmapBlocks {
			return scsi.InvalidFieldInParameterList(8+16*i+8, -1)
		}
		if err := lu.checkRange(d.LBA, uint64(d.Blocks)); err != nil {
			return err
		}
	}
	for _, d := range l.Descriptors {
		if d.Blocks == 0 {
			continue
		}
		if err := c.unmapBlocks(d.LBA, uint64(d.Blocks)); err != nil {
			return err
		}
	}
	return lu.syncAfterWrite(false)
}

// sbcCompareAndWrite runs COMPARE AND WRITE: under the range lock, so no
// other write to these blocks can come between the compare and the write.
func sbcCompareAndWrite(c *luCmd) error {
	var w scsi.CompareAndWrite
	if err := w.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	n := uint64(w.Blocks)
	half := int(n << lu.shift)
	c.res.Transfer = 2 * half
	if w.WRProtect != 0 {
		return sbcProtectError()
	}
	if n > sbcMaxCAWBlocks {
		// SBC-3 section 5.2: above the MAXIMUM COMPARE AND WRITE LENGTH
		// is INVALID FIELD IN CDB.
		return scsi.InvalidFieldInCDB(13, -1)
	}
	if err := lu.checkWritable(); err != nil {
		return err
	}
	if err := lu.checkRange(w.LBA, n); err != nil {
		return err
	}
	if len(c.t.DataOut) != 2*half || c.t.ExpectedDataTransferLength != uint32(2*half) {
		// The verify and write data must both be there, exactly: the
		// compare and the write are one atomic operation, so a Data-Out
		// buffer that disagrees with the NUMBER OF LOGICAL BLOCKS field
		// (libiscsi's CompareAndWrite.InvalidDataOutSize) is refused, not
		// carried out in part. That includes data sent with a NUMBER OF
		// LOGICAL BLOCKS of zero, which transfers none (an initiator
		// asking for 256 blocks, which the one-byte field cannot hold,
		// sends 512 blocks with the field wrapped to zero: libiscsi's
		// CompareAndWrite.Simple and .Miscompare expect INVALID FIELD IN
		// CDB for it).
		return scsi.InvalidFieldInCDB(13, -1)
	}
	if n == 0 {
		// SBC-3 section 5.2: "A NUMBER OF LOGICAL BLOCKS field set to
		// zero specifies that no read operations shall be performed, no
		// logical block data shall be transferred ... This condition
		// shall not be considered an error."
		return nil
	}
	cur := make([]byte, half)
	off := int64(w.LBA << lu.shift)
	lu.locks.lock(w.LBA, n)
	defer lu.locks.unlock(w.LBA, n)
	if _, err := lu.cfg.Backend.ReadAt(cur, off); err != nil {
		return luMediumError(err, scsi.SenseUnrecoveredReadError)
	}
	if d := sbcFirstDiff(c.t.DataOut[:half], cur); d >= 0 {
		return sbcMiscompare(d)
	}
	if err := c.writeLocked(off, c.t.DataOut[half:]); err != nil {
		return err
	}
	return lu.syncAfterWrite(w.FUA)
}

// sbcORWrite runs ORWRITE(16): each block becomes the OR of its data and
// the Data-Out data, atomically against other writers.
func sbcORWrite(c *luCmd) error {
	var o scsi.ORWrite
	if err := o.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if err := c.admitBlocks(o.ORProtect, o.LBA, o.Blocks, 10, true); err != nil {
		return err
	}
	lu := c.lu
	n := min(len(c.t.DataOut), c.res.Transfer) >> lu.shift << lu.shift
	if n == 0 {
		return nil
	}
	nb := uint64(n) >> lu.shift
	off := int64(o.LBA << lu.shift)
	buf := make([]byte, n)
	lu.locks.lock(o.LBA, nb)
	defer lu.locks.unlock(o.LBA, nb)
	if _, err := lu.cfg.Backend.ReadAt(buf, off); err != nil {
		return luMediumError(err, scsi.SenseUnrecoveredReadError)
	}
	for i, b := range c.t.DataOut[:n] {
		buf[i] |= b
	}
	if err := c.writeLocked(off, buf); err != nil {
		return err
	}
	return lu.syncAfterWrite(o.FUA)
}

// sbcReadCapacity10 runs READ CAPACITY(10).
func sbcReadCapacity10(c *luCmd) error {
	var r scsi.ReadCapacity10
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	d := scsi.ReadCapacity10Data{LastLBA: c.lu.blocks.Load() - 1, BlockLength: c.lu.bs}
	return c.marshalDataIn(&d, scsi.ReadCapacity10DataLength)
}

// sbcReadCapacity16 runs READ CAPACITY(16); a thin logical unit reports
// LBPME and LBPRZ.
func sbcReadCapacity16(c *luCmd) error {
	var r scsi.ReadCapacity16
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	d := scsi.ReadCapacity16Data{
		LastLBA:     c.lu.blocks.Load() - 1,
		BlockLength: c.lu.bs,
		LBPME:       c.lu.cfg.Thin,
		LBPRZ:       c.lu.cfg.Thin,
	}
	return c.marshalDataIn(&d, r.AllocationLength)
}

// sbcGetLBAStatus runs GET LBA STATUS: on a thin logical unit over a
// file, holes (SEEK_DATA/SEEK_HOLE) are deallocated; everything else is
// mapped.
func sbcGetLBAStatus(c *luCmd) error {
	var g scsi.GetLBAStatus
	if err := g.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	c.res.Transfer = int(g.AllocationLength)
	capacity := lu.blocks.Load()
	if g.LBA >= capacity {
		// SBC-3 section 5.5: a STARTING LOGICAL BLOCK ADDRESS beyond the
		// last one is LOGICAL BLOCK ADDRESS OUT OF RANGE.
		return scsi.LBAOutOfRange()
	}
	maxDesc := 1
	if g.AllocationLength > 8 {
		maxDesc = min(max(int(g.AllocationLength-8)/16, 1), sbcMaxLBAStatusDescriptors)
	}
	er, ok := lu.cfg.Backend.(luExtentReporter)
	var d scsi.LBAStatusData
	for lba := g.LBA; lba < capacity && len(d.Descriptors) < maxDesc; {
		if !ok || !lu.cfg.Thin {
			d.Descriptors = append(d.Descriptors, scsi.LBAStatusDescriptor{LBA: lba, Blocks: uint32(min(capacity-lba, 0xffffffff)), Status: scsi.ProvisioningMapped})
			break
		}
		mapped, end, err := er.luExtent(int64(lba << lu.shift))
		if err != nil {
			return luMediumError(err, scsi.SenseUnrecoveredReadError)
		}
		endBlk := uint64(end) >> lu.shift
		if mapped && uint64(end)&uint64(lu.bs-1) != 0 {
			endBlk++ // a partly allocated block is mapped
		}
		endBlk = min(max(endBlk, lba+1), capacity)
		st := scsi.ProvisioningDeallocated
		if mapped {
			st = scsi.ProvisioningMapped
		}
		cnt := min(endBlk-lba, 0xffffffff)
		d.Descriptors = append(d.Descriptors, scsi.LBAStatusDescriptor{LBA: lba, Blocks: uint32(cnt), Status: st})
		lba += cnt
	}
	return c.marshalDataIn(&d, g.AllocationLength)
}

// sbcStartStopUnit runs START STOP UNIT. The medium is not removable, so
// LOEJ is refused (libiscsi's StartStopUnit.Simple expects an eject to
// fail when RMB is zero); stopping flushes the cache unless NO_FLUSH.
func sbcStartStopUnit(c *luCmd) error {
	var s scsi.StartStopUnit
	if err := s.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if s.LoEj && s.PowerCondition == 0 {
		return scsi.InvalidFieldInCDB(4, 1)
	}
	if !s.Start && !s.NoFlush && s.PowerCondition == 0 {
		if err := c.lu.cfg.Backend.Sync(); err != nil {
			return luMediumError(err, scsi.SenseWriteError)
		}
	}
	return nil
}

// sbcPreventAllow runs PREVENT ALLOW MEDIUM REMOVAL. SBC-3 section 5.13:
// for a logical unit that does not support removable media the command
// has no effect on the medium; lunar accepts PREVENT 00b and 01b.
func sbcPreventAllow(c *luCmd) error {
	var p scsi.PreventAllowMediumRemoval
	if err := p.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if p.Prevent > 1 {
		return scsi.InvalidFieldInCDB(4, 1)
	}
	return nil
}
