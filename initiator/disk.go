package initiator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Errors of the disk layer. They are wrapped with %w and the values
// involved; match them with errors.Is.
var (
	// ErrUnaligned means an offset or a length given to a Disk is not a
	// multiple of its logical block size (or is negative).
	ErrUnaligned = errors.New("initiator: offset or length not a multiple of the block size")
	// ErrNotDisk means the logical unit is not a direct-access block
	// device (SBC), so it has no blocks to read or write.
	ErrNotDisk = errors.New("initiator: logical unit is not a direct-access block device")
	// ErrLUNNotPresent means INQUIRY reported no logical unit connected
	// at the LUN (a peripheral qualifier other than 000b).
	ErrLUNNotPresent = errors.New("initiator: no logical unit at this LUN")
	// ErrShortRead means a command completed with GOOD status but the
	// target returned less data than the command asked for.
	ErrShortRead = errors.New("initiator: target returned less data than asked")
	// ErrCapacity means READ CAPACITY returned data lunar cannot use (a
	// logical block length of zero, or a capacity beyond 2^63-1 bytes).
	ErrCapacity = errors.New("initiator: unusable capacity data")
)

// DefaultMaxTransfer is the most bytes one READ or WRITE command moves
// when DiskConfig.MaxTransfer is zero: 1 MiB, four times the default
// MaxBurstLength of 256 KiB, which a session moves in four bursts.
const DefaultMaxTransfer = 1 << 20

// diskUARetries is how many times the disk layer re-issues a command that
// a unit attention condition terminated. SAM-5 section 5.14: a command
// terminated with a unit attention was not executed, so it is safe to send
// again; each attempt reports (and clears) one pending condition.
const diskUARetries = 8

// DiskConfig tunes a Disk. The zero value is ready to use.
type DiskConfig struct {
	// MaxTransfer caps the bytes one READ or WRITE command moves; a
	// larger request is split into several commands. The Block Limits VPD
	// page's MAXIMUM and OPTIMAL TRANSFER LENGTH lower it further. Zero is
	// DefaultMaxTransfer, rounded down to a multiple of the session's
	// negotiated MaxBurstLength when the Executor reports it (as *Session
	// does with Params), so that every Data-In and solicited Data-Out
	// sequence is full.
	MaxTransfer int
	// Concurrency is how many of those commands one ReadAt or WriteAt keeps
	// in flight at once. Zero or one sends them one after another.
	Concurrency int
}

// validate checks cfg and fills in the defaults.
func (cfg *DiskConfig) validate() error {
	if cfg.MaxTransfer < 0 {
		return fmt.Errorf("initiator: DiskConfig.MaxTransfer %d is negative", cfg.MaxTransfer)
	}
	if cfg.Concurrency < 0 {
		return fmt.Errorf("initiator: DiskConfig.Concurrency %d is negative", cfg.Concurrency)
	}
	if cfg.MaxTransfer == 0 {
		cfg.MaxTransfer = DefaultMaxTransfer
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 1
	}
	return nil
}

// diskParamser is an Executor that reports its session's negotiated
// parameters (*Session).
type diskParamser interface {
	Params() iscsi.SessionParams
}

// Disk is one logical unit of a direct-access block device reached through
// an Executor (a Session): an io.ReaderAt and io.WriterAt over its blocks,
// with its identity (WWN, serial, INQUIRY strings), its capacity and the
// block commands a cluster node needs (SYNCHRONIZE CACHE, UNMAP, WRITE
// SAME, and raw CDBs).
//
// A Disk is safe for concurrent use: commands from several goroutines run
// on the session's command window at once.
type Disk struct {
	ex  Executor
	lun uint64
	cfg DiskConfig

	info   DiskInfo
	limits scsi.VPDBlockLimits // zero when the page is not supported

	geom atomic.Pointer[diskGeometry]
}

// diskGeometry is the capacity a Disk last read, with the per-command
// transfer limit derived from it. It is replaced, never changed.
type diskGeometry struct {
	blockSize int64
	blocks    uint64
	// maxBlocks is the most blocks one READ or WRITE moves.
	maxBlocks uint32
}

// OpenDisk identifies the logical unit at lun on ex and returns it as a
// Disk with the default DiskConfig. It sends INQUIRY, the Unit Serial
// Number (80h), Device Identification (83h) and Block Limits (B0h) VPD
// pages the unit supports, and READ CAPACITY(16) (READ CAPACITY(10) when
// that is refused). On a *Session these go out together, in one round
// trip.
func OpenDisk(ctx context.Context, ex Executor, lun uint64) (*Disk, error) {
	return OpenDiskConfig(ctx, ex, lun, DiskConfig{})
}

// NewDisk returns the Disk that info, an answer of Rescan (or a
// Watcher) on ex, describes, without sending a command: the scan read its
// identity, capacity and Block Limits page already. An info without a
// capacity, or without the Block Limits page of a unit that has one (not
// scanned on a *Session), is opened with OpenDiskConfig instead. The
// capacity is the scan's: Refresh reads it again.
func NewDisk(ctx context.Context, ex Executor, info DiskInfo, cfg DiskConfig) (*Disk, error) {
	if !info.IsDisk() {
		return nil, fmt.Errorf("%w: LUN %d has peripheral device type %#02x, want %#02x",
			ErrNotDisk, info.LUN, info.DeviceType, scsi.InquiryDeviceDirectAccess)
	}
	if info.BlockLimits == nil || info.BlockSize <= 0 || info.Size <= 0 || info.Size%int64(info.BlockSize) != 0 {
		return OpenDiskConfig(ctx, ex, info.LUN, cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = diskTransferCap(ex, cfg)
	d := &Disk{ex: ex, lun: info.LUN, cfg: cfg, limits: *info.BlockLimits}
	d.info = info
	d.info.BlockLimits = nil
	d.setGeometry(uint64(info.Size/int64(info.BlockSize)), uint32(info.BlockSize))
	return d, nil
}

// diskTransferCap lowers the default MaxTransfer to a multiple of the
// session's MaxBurstLength when that is smaller.
func diskTransferCap(ex Executor, cfg DiskConfig) DiskConfig {
	if p, ok := ex.(diskParamser); ok && cfg.MaxTransfer == DefaultMaxTransfer {
		if mbl := int(p.Params().MaxBurstLength); mbl > 0 && mbl < cfg.MaxTransfer {
			cfg.MaxTransfer -= cfg.MaxTransfer % mbl
		}
	}
	return cfg
}

// OpenDiskConfig is OpenDisk with a DiskConfig.
func OpenDiskConfig(ctx context.Context, ex Executor, lun uint64, cfg DiskConfig) (*Disk, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = diskTransferCap(ex, cfg)
	d := &Disk{ex: ex, lun: lun, cfg: cfg}
	if scanConcurrent(ex) {
		// Every identification command at once: one round trip.
		b := scanFetch(ctx, ex, lun, []scsi.VPDPageCode{scsi.VPDPageSupported, scsi.VPDPageUnitSerial,
			scsi.VPDPageDeviceID, scsi.VPDPageBlockLimits}, true)
		if err := d.identify(ctx, b.inq, b.vpd); err != nil {
			return nil, err
		}
		if b.capErr != nil {
			return nil, b.capErr
		}
		d.setGeometry(b.blocks, b.bs)
		return d, nil
	}
	var inq scanAnswer
	inq.b, inq.err = scanInquiry(ctx, ex, lun, false, 0)
	if err := d.identify(ctx, inq, scanVPD); err != nil {
		return nil, err
	}
	if err := d.Refresh(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// identify fills in the Disk's identity and block limits from the INQUIRY
// answer and the VPD pages vpd returns.
func (d *Disk) identify(ctx context.Context, inq scanAnswer,
	vpd func(context.Context, Executor, uint64, scsi.VPDPageCode) ([]byte, error)) error {
	ex, lun := d.ex, d.lun
	id, err := scanIdentifyFrom(ctx, ex, lun, inq, vpd)
	if err != nil {
		return err
	}
	if id.info.DeviceType != scsi.InquiryDeviceDirectAccess {
		return fmt.Errorf("%w: LUN %d has peripheral device type %#02x, want %#02x",
			ErrNotDisk, lun, id.info.DeviceType, scsi.InquiryDeviceDirectAccess)
	}
	d.info = id.info
	if id.pages.Supports(scsi.VPDPageBlockLimits) {
		b, err := vpd(ctx, ex, lun, scsi.VPDPageBlockLimits)
		if err != nil {
			return fmt.Errorf("initiator: LUN %d Block Limits VPD page: %w", lun, err)
		}
		if err := d.limits.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("initiator: LUN %d Block Limits VPD page: %w", lun, err)
		}
	}
	return nil
}

// Refresh reads the capacity again (READ CAPACITY(16), or (10) when that
// is refused), as after CAPACITY DATA HAS CHANGED (2A/09). Size, Blocks
// and BlockSize report the new values once it returns.
func (d *Disk) Refresh(ctx context.Context) error {
	blocks, bs, err := scanCapacity(ctx, d.ex, d.lun)
	if err != nil {
		return err
	}
	d.setGeometry(blocks, bs)
	return nil
}

// setGeometry makes blocks of bs bytes the Disk's capacity.
func (d *Disk) setGeometry(blocks uint64, bs uint32) {
	d.geom.Store(&diskGeometry{blockSize: int64(bs), blocks: blocks, maxBlocks: d.maxBlocks(bs)})
}

// maxBlocks returns the most blocks one READ or WRITE moves at block size
// bs: the configured cap, lowered to the Block Limits page's MAXIMUM
// TRANSFER LENGTH and OPTIMAL TRANSFER LENGTH (SBC-3 section 6.6.4: a
// transfer above the optimal length "may incur significant delays") and
// rounded down to its OPTIMAL TRANSFER LENGTH GRANULARITY; at least one,
// and within what READ(16) can carry.
func (d *Disk) maxBlocks(bs uint32) uint32 {
	n := uint64(d.cfg.MaxTransfer) / uint64(bs)
	if m := uint64(d.limits.MaxTransferLength); m != 0 {
		n = min(n, m)
	}
	if o := uint64(d.limits.OptimalTransferLength); o != 0 {
		n = min(n, o)
	}
	if g := uint64(d.limits.OptimalTransferLengthGranularity); g > 1 && n > g {
		n -= n % g
	}
	return uint32(max(1, min(n, 0xffffffff)))
}

// size returns the capacity in bytes.
func (g *diskGeometry) size() int64 {
	return int64(g.blocks) * g.blockSize
}

// span checks that off and n are block aligned and returns the first LBA.
func (g *diskGeometry) span(off int64, n int) (uint64, error) {
	if off < 0 || off%g.blockSize != 0 || int64(n)%g.blockSize != 0 {
		return 0, fmt.Errorf("%w: offset %d, length %d, block size %d", ErrUnaligned, off, n, g.blockSize)
	}
	return uint64(off / g.blockSize), nil
}

// LUN returns the LUN number the Disk addresses.
func (d *Disk) LUN() uint64 { return d.lun }

// Size returns the capacity in bytes, as last read.
func (d *Disk) Size() int64 { return d.geom.Load().size() }

// BlockSize returns the logical block length in bytes.
func (d *Disk) BlockSize() int { return int(d.geom.Load().blockSize) }

// Blocks returns the number of logical blocks, as last read.
func (d *Disk) Blocks() uint64 { return d.geom.Load().blocks }

// WWN returns the logical unit's name from the Device Identification VPD
// page: its NAA designator as scsi.FormatNAA writes it ("naa.6..."), or
// when it has none an EUI-64 ("eui.") or T10 vendor ID ("t10.")
// designator; empty when the page names none of these.
func (d *Disk) WWN() string { return d.info.WWN }

// Serial returns the unit serial number (VPD page 80h), empty when the
// page is not supported.
func (d *Disk) Serial() string { return d.info.Serial }

// Vendor returns the T10 VENDOR IDENTIFICATION of the INQUIRY data.
func (d *Disk) Vendor() string { return d.info.Vendor }

// Product returns the PRODUCT IDENTIFICATION of the INQUIRY data.
func (d *Disk) Product() string { return d.info.Product }

// Revision returns the PRODUCT REVISION LEVEL of the INQUIRY data.
func (d *Disk) Revision() string { return d.info.Revision }

// BlockLimits returns the Block Limits VPD page (B0h) the Disk splits its
// commands by; the zero value when the unit does not support the page.
func (d *Disk) BlockLimits() scsi.VPDBlockLimits { return d.limits }

// Info returns what the Disk knows about itself as a DiskInfo.
func (d *Disk) Info() DiskInfo {
	info := d.info
	g := d.geom.Load()
	info.Size, info.BlockSize = g.size(), int(g.blockSize)
	return info
}

// ReadAt reads len(p) bytes from offset off (io.ReaderAt). Both must be
// multiples of the block size; a read past the end fails with the
// target's LOGICAL BLOCK ADDRESS OUT OF RANGE as a *scsi.SenseError,
// after the blocks before the end were read. It uses
// context.Background(); see ReadAtContext.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	return d.diskTransfer(context.Background(), diskRead, p, off)
}

// WriteAt writes p at offset off (io.WriterAt), with the same rules as
// ReadAt.
func (d *Disk) WriteAt(p []byte, off int64) (int, error) {
	return d.diskTransfer(context.Background(), diskWrite, p, off)
}

// ReadAtContext is ReadAt under ctx: when ctx ends, the commands in flight
// are aborted and it returns ctx's error.
func (d *Disk) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	return d.diskTransfer(ctx, diskRead, p, off)
}

// WriteAtContext is WriteAt under ctx. Blocks of a write that ctx
// interrupted may or may not have been written.
func (d *Disk) WriteAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	return d.diskTransfer(ctx, diskWrite, p, off)
}

// WriteAtFUA is WriteAtContext with Force Unit Access: every WRITE has
// its FUA bit set, so the target answers GOOD only once the blocks are
// on its non-volatile medium (SBC-3 section 5.35) and no SYNCHRONIZE
// CACHE has to follow. Writes landed with WriteAt before it are not made
// durable by it.
func (d *Disk) WriteAtFUA(ctx context.Context, p []byte, off int64) (int, error) {
	return d.diskTransfer(ctx, diskWriteFUA, p, off)
}

// diskMode is what a transfer does.
type diskMode uint8

const (
	diskRead     diskMode = iota // READ
	diskWrite                    // WRITE
	diskWriteFUA                 // WRITE with FUA set
)

// writes reports whether m sends data to the target.
func (m diskMode) writes() bool { return m != diskRead }

// diskTransfer reads or writes p at off, split into commands of at most
// maxBlocks blocks, one after another or cfg.Concurrency at a time. It
// returns the bytes moved before the first command that failed.
func (d *Disk) diskTransfer(ctx context.Context, op diskMode, p []byte, off int64) (int, error) {
	g := d.geom.Load()
	lba, err := g.span(off, len(p))
	if err != nil {
		return 0, err
	}
	chunk := int(int64(g.maxBlocks) * g.blockSize)
	if d.cfg.Concurrency > 1 && len(p) > chunk {
		return d.diskParallel(ctx, op, p, lba, g, chunk)
	}
	done := 0
	for done < len(p) {
		n := min(chunk, len(p)-done)
		if err := d.diskIO(ctx, op, lba+uint64(done/int(g.blockSize)), uint32(n/int(g.blockSize)), p[done:done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

// diskParallel runs the commands of one large transfer with up to
// cfg.Concurrency in flight. The first failure cancels the others; the
// count returned covers the chunks before the first one not completed.
func (d *Disk) diskParallel(ctx context.Context, op diskMode, p []byte, lba uint64, g *diskGeometry, chunk int) (int, error) {
	chunks := (len(p) + chunk - 1) / chunk
	workers := min(d.cfg.Concurrency, chunks)
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error // the error that failed first, which cancelled the rest
	)
	completed := make([]bool, chunks)
	bs := int(g.blockSize)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= chunks {
					return
				}
				start := i * chunk
				n := min(chunk, len(p)-start)
				if err := d.diskIO(ctx, op, lba+uint64(start/bs), uint32(n/bs), p[start:start+n]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				completed[i] = true
			}
		})
	}
	wg.Wait()
	for i, ok := range completed {
		if ok {
			continue
		}
		err := firstErr
		if err == nil || parent.Err() != nil {
			err = parent.Err()
		}
		return i * chunk, err
	}
	return len(p), nil
}

// diskCmd is a pooled Command with room for its CDB, so that a READ or
// WRITE allocates nothing in the disk layer.
type diskCmd struct {
	cmd Command
	cdb [16]byte
}

// diskCmdPool holds diskCmds between commands.
var diskCmdPool = sync.Pool{New: func() any { return new(diskCmd) }}

// diskIO sends one READ or WRITE of blocks blocks at lba with buf as its
// data: the 10-byte form when LBA and length fit it, the 16-byte form
// otherwise (SBC-3 sections 5.8 to 5.11, 5.32 to 5.35).
func (d *Disk) diskIO(ctx context.Context, op diskMode, lba uint64, blocks uint32, buf []byte) error {
	write := op.writes()
	c := diskCmdPool.Get().(*diskCmd)
	defer func() {
		c.cmd = Command{}
		diskCmdPool.Put(c)
	}()
	long := blocks > 0xffff || lba+uint64(blocks)-1 > 0xffffffff
	cdb := c.cdb[:]
	clear(cdb)
	switch {
	case write && long:
		cdb = cdb[:16]
		cdb[0] = byte(scsi.OpWrite16)
	case write:
		cdb = cdb[:10]
		cdb[0] = byte(scsi.OpWrite10)
	case long:
		cdb = cdb[:16]
		cdb[0] = byte(scsi.OpRead16)
	default:
		cdb = cdb[:10]
		cdb[0] = byte(scsi.OpRead10)
	}
	if long {
		// READ(16)/WRITE(16): LOGICAL BLOCK ADDRESS in bytes 2-9,
		// TRANSFER LENGTH in bytes 10-13.
		binary.BigEndian.PutUint64(cdb[2:10], lba)
		binary.BigEndian.PutUint32(cdb[10:14], blocks)
	} else {
		// READ(10)/WRITE(10): LOGICAL BLOCK ADDRESS in bytes 2-5,
		// TRANSFER LENGTH in bytes 7-8.
		binary.BigEndian.PutUint32(cdb[2:6], uint32(lba))
		binary.BigEndian.PutUint16(cdb[7:9], uint16(blocks))
	}
	if op == diskWriteFUA {
		cdb[1] |= 0x08 // FUA: byte 1 bit 3 in both forms
	}
	c.cmd = Command{LUN: d.lun, CDB: cdb}
	if write {
		c.cmd.DataOut = buf
	} else {
		c.cmd.DataIn = buf
	}
	resp, err := scanExec(ctx, d.ex, &c.cmd)
	if err != nil {
		return err
	}
	if !write && resp.DataIn < len(buf) {
		return fmt.Errorf("%w: READ at LBA %d: %d of %d bytes", ErrShortRead, lba, resp.DataIn, len(buf))
	}
	return nil
}

// Sync asks the unit to write its volatile cache to the medium:
// SYNCHRONIZE CACHE(16) for every block (SBC-3 section 5.23), or (10)
// when the 16-byte form is refused as an unsupported command.
func (d *Disk) Sync(ctx context.Context) error {
	cdb, err := (&scsi.SynchronizeCache{Op: scsi.OpSynchronizeCache16}).MarshalBinary()
	if err != nil {
		return err
	}
	_, err = scanExec(ctx, d.ex, &Command{LUN: d.lun, CDB: cdb})
	if scsi.IsSense(err, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode) {
		if cdb, err = (&scsi.SynchronizeCache{Op: scsi.OpSynchronizeCache10}).MarshalBinary(); err != nil {
			return err
		}
		_, err = scanExec(ctx, d.ex, &Command{LUN: d.lun, CDB: cdb})
	}
	return err
}

// Unmap deallocates n bytes from off (both block aligned) with UNMAP
// (SBC-3 section 5.28). The range is cut into block descriptors of at most
// the Block Limits page's MAXIMUM UNMAP LBA COUNT and sent in commands of
// at most its MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT descriptors (one when
// the unit reports no limit), and at most what the 16-bit PARAMETER LIST
// LENGTH holds.
func (d *Disk) Unmap(ctx context.Context, off, n int64) error {
	g := d.geom.Load()
	if n < 0 || n > int64(^uint(0)>>1) {
		return fmt.Errorf("%w: length %d", ErrUnaligned, n)
	}
	lba, err := g.span(off, int(n))
	if err != nil {
		return err
	}
	blocks := uint64(n / g.blockSize)
	perDesc := uint64(0xffffffff)
	if m := d.limits.MaxUnmapLBACount; m != 0 && m != 0xffffffff {
		perDesc = uint64(m)
	}
	// UNMAP parameter list: an eight-byte header, then 16-byte block
	// descriptors; PARAMETER LIST LENGTH is 16 bits.
	perCmd := uint64(max(1, d.limits.MaxUnmapBlockDescriptorCount))
	perCmd = min(perCmd, (0xffff-8)/16)
	var list scsi.UnmapParameterList
	for blocks > 0 {
		list.Descriptors = list.Descriptors[:0]
		for blocks > 0 && uint64(len(list.Descriptors)) < perCmd {
			k := min(blocks, perDesc)
			list.Descriptors = append(list.Descriptors, scsi.UnmapBlockDescriptor{LBA: lba, Blocks: uint32(k)})
			lba += k
			blocks -= k
		}
		data, err := list.MarshalBinary()
		if err != nil {
			return err
		}
		cdb, err := (&scsi.Unmap{ParameterListLength: uint16(len(data))}).MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := scanExec(ctx, d.ex, &Command{LUN: d.lun, CDB: cdb, DataOut: data}); err != nil {
			return err
		}
	}
	return nil
}

// WriteSame writes block, one logical block of data, to every block of
// the n bytes from off (both block aligned) with WRITE SAME(16) (SBC-3
// section 5.43); a nil block writes zeros. With unmap set the unit may
// deallocate the blocks instead (the UNMAP bit), on a thin-provisioned
// unit. The range is split by the Block Limits page's MAXIMUM WRITE SAME
// LENGTH. A length of zero sends nothing (a NUMBER OF LOGICAL BLOCKS of
// zero would mean "to the last block").
func (d *Disk) WriteSame(ctx context.Context, off, n int64, block []byte, unmap bool) error {
	g := d.geom.Load()
	if block == nil {
		block = make([]byte, g.blockSize)
	}
	if int64(len(block)) != g.blockSize {
		return fmt.Errorf("initiator: WRITE SAME block of %d bytes, want the block size %d", len(block), g.blockSize)
	}
	if n < 0 || n > int64(^uint(0)>>1) {
		return fmt.Errorf("%w: length %d", ErrUnaligned, n)
	}
	lba, err := g.span(off, int(n))
	if err != nil {
		return err
	}
	blocks := uint64(n / g.blockSize)
	per := uint64(0xffffffff)
	if m := d.limits.MaxWriteSameLength; m != 0 {
		per = min(per, m)
	}
	for blocks > 0 {
		k := min(blocks, per)
		cdb, err := (&scsi.WriteSame{Op: scsi.OpWriteSame16, LBA: lba, Blocks: uint32(k), Unmap: unmap}).MarshalBinary()
		if err != nil {
			return err
		}
		if _, err := scanExec(ctx, d.ex, &Command{LUN: d.lun, CDB: cdb, DataOut: block}); err != nil {
			return err
		}
		lba += k
		blocks -= k
	}
	return nil
}

// Exec sends a raw command to the Disk's logical unit: cmd.LUN is set to
// the Disk's LUN and the rest is sent as it is, without the retry on unit
// attention the Disk's own commands get. The Response and error are the
// Executor's.
func (d *Disk) Exec(ctx context.Context, cmd *Command) (Response, error) {
	cmd.LUN = d.lun
	return d.ex.Execute(ctx, cmd)
}

// ExecInOrder sends raw commands to the Disk's LUN as one ordered batch
// (ExecuteInOrder): one round trip on a *Session, each command's LUN set
// as Exec sets it.
func (d *Disk) ExecInOrder(ctx context.Context, cmds ...*Command) ([]Response, []error) {
	for _, c := range cmds {
		c.LUN = d.lun
	}
	return ExecuteInOrder(ctx, d.ex, cmds...)
}
