package initiator

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// DiskInfo describes one logical unit found by Rescan.
type DiskInfo struct {
	// LUN is the LUN number.
	LUN uint64 `json:"lun"`
	// WWN is the unit's name from the Device Identification VPD page
	// (see Disk.WWN); empty when the page names none.
	WWN string `json:"wwn,omitempty"`
	// Serial is the unit serial number (VPD page 80h).
	Serial string `json:"serial,omitempty"`
	// Vendor, Product and Revision are the INQUIRY identification
	// strings, without their padding.
	Vendor   string `json:"vendor"`   // T10 VENDOR IDENTIFICATION
	Product  string `json:"product"`  // PRODUCT IDENTIFICATION
	Revision string `json:"revision"` // PRODUCT REVISION LEVEL
	// Size is the capacity in bytes; zero for a unit that is not a
	// direct-access block device or whose capacity could not be read.
	Size int64 `json:"size"`
	// BlockSize is the logical block length in bytes (zero as Size).
	BlockSize int `json:"block_size"`
	// DeviceType is the PERIPHERAL DEVICE TYPE (scsi.InquiryDevice*).
	DeviceType uint8 `json:"device_type"`
	// BlockLimits is the Block Limits VPD page (B0h) of a unit that has
	// one, read in the same batch as the rest on a *Session (nil
	// otherwise): with it, NewDisk needs no command of its own.
	BlockLimits *scsi.VPDBlockLimits `json:"block_limits,omitempty"`
}

// IsDisk reports whether the unit is a direct-access block device.
func (i DiskInfo) IsDisk() bool { return i.DeviceType == scsi.InquiryDeviceDirectAccess }

// scanMaxLUNList bounds the REPORT LUNS data Rescan asks for: eight bytes
// for each of the 16384 LUNs flat space addressing names, and the header.
const scanMaxLUNList = 8 + 8*(scsi.MaxFlatLUN+1)

// Rescan lists the logical units ex reaches: REPORT LUNS (SPC-4 section
// 6.33) to LUN 0, then for each LUN INQUIRY, the Unit Serial Number (80h)
// and Device Identification (83h) VPD pages, and READ CAPACITY(16) for
// direct-access block devices. LUNs whose peripheral qualifier says no
// unit is connected, and LUNs that answer INQUIRY with CHECK CONDITION
// (removed while the scan ran), are left out; the result is in REPORT
// LUNS order. A transport or context error ends the scan.
//
// On a *Session, which runs many commands at once, the commands after
// REPORT LUNS go out together (those of several LUNs at a time), so a scan
// costs about two round trips; other Executors get them one at a time.
func Rescan(ctx context.Context, ex Executor) ([]DiskInfo, error) {
	luns, err := scanReportLUNs(ctx, ex)
	if err != nil {
		return nil, err
	}
	type result struct {
		info DiskInfo
		err  error
	}
	results := make([]result, len(luns))
	if scanConcurrent(ex) {
		// The LUNs at once (a bounded number), each with its commands at
		// once: a scan costs about two round trips, not six per LUN.
		var wg sync.WaitGroup
		sem := make(chan struct{}, scanLUNConcurrency)
		for i, n := range luns {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i].info, results[i].err = scanLUN(ctx, ex, n)
			})
		}
		wg.Wait()
	} else {
		for i, n := range luns {
			results[i].info, results[i].err = scanLUN(ctx, ex, n)
			if !scanSkippable(results[i].err) {
				break
			}
		}
	}
	infos := make([]DiskInfo, 0, len(luns))
	for _, r := range results {
		switch {
		case r.err == nil:
			infos = append(infos, r.info)
		case scanSkippable(r.err):
			// Not there (any more): SPC-4 section 6.33 lets the list
			// change between REPORT LUNS and the commands that follow.
		default:
			return nil, r.err
		}
	}
	return infos, nil
}

// scanSkippable reports whether err only means that a LUN is not there
// (any more): no unit connected, or CHECK CONDITION to INQUIRY. A nil err
// is skippable too (the scan goes on).
func scanSkippable(err error) bool {
	var se *scsi.SenseError
	return err == nil || errors.Is(err, ErrLUNNotPresent) || errors.As(err, &se)
}

// scanLUNConcurrency bounds how many LUNs a Rescan identifies at once.
const scanLUNConcurrency = 8

// scanConcurrent reports whether ex runs several commands at once (a
// *Session does); other Executors get one command at a time, in order.
func scanConcurrent(ex Executor) bool {
	_, ok := ex.(*Session)
	return ok
}

// scanAnswer is the outcome of one command of a scanBatch.
type scanAnswer struct {
	b   []byte
	err error
}

// scanBatch is the identification commands of one LUN sent all at once:
// INQUIRY, the VPD pages asked for (whether or not the unit lists them in
// its Supported VPD Pages page: a page it lacks is refused with CHECK
// CONDITION and its answer ignored), and READ CAPACITY when asked for.
type scanBatch struct {
	inq    scanAnswer
	pages  map[scsi.VPDPageCode]scanAnswer
	blocks uint64
	bs     uint32
	capErr error
}

// scanFetch sends the batch's commands concurrently and waits for all.
func scanFetch(ctx context.Context, ex Executor, lun uint64, pages []scsi.VPDPageCode, capacity bool) *scanBatch {
	b := &scanBatch{pages: make(map[scsi.VPDPageCode]scanAnswer, len(pages))}
	answers := make([]scanAnswer, len(pages))
	var wg sync.WaitGroup
	wg.Go(func() { b.inq.b, b.inq.err = scanInquiry(ctx, ex, lun, false, 0) })
	for i, p := range pages {
		wg.Go(func() { answers[i].b, answers[i].err = scanVPD(ctx, ex, lun, p) })
	}
	if capacity {
		wg.Go(func() { b.blocks, b.bs, b.capErr = scanCapacityFrom(ctx, ex, lun, true) })
	}
	wg.Wait()
	for i, p := range pages {
		b.pages[p] = answers[i]
	}
	return b
}

// vpd returns the batch's answer for page.
func (b *scanBatch) vpd(_ context.Context, _ Executor, _ uint64, page scsi.VPDPageCode) ([]byte, error) {
	a, ok := b.pages[page]
	if !ok {
		return nil, fmt.Errorf("initiator: VPD page %s was not fetched", page)
	}
	return a.b, a.err
}

// scanLUN identifies one LUN and, for a block device, reads its capacity.
// A capacity the unit cannot report now (NOT READY, say) leaves Size zero.
func scanLUN(ctx context.Context, ex Executor, lun uint64) (DiskInfo, error) {
	var (
		id     scanIdent
		err    error
		blocks uint64
		bs     uint32
		capErr error
	)
	if scanConcurrent(ex) {
		b := scanFetch(ctx, ex, lun, []scsi.VPDPageCode{scsi.VPDPageSupported, scsi.VPDPageUnitSerial,
			scsi.VPDPageDeviceID, scsi.VPDPageBlockLimits}, true)
		id, err = scanIdentifyFrom(ctx, ex, lun, b.inq, b.vpd)
		blocks, bs, capErr = b.blocks, b.bs, b.capErr
		if err == nil && id.info.IsDisk() && id.pages.Supports(scsi.VPDPageBlockLimits) {
			// A page the unit lists but answers badly leaves BlockLimits
			// nil: NewDisk then reads it itself.
			if page, perr := b.vpd(ctx, ex, lun, scsi.VPDPageBlockLimits); perr == nil {
				var bl scsi.VPDBlockLimits
				if bl.UnmarshalBinary(page) == nil {
					id.info.BlockLimits = &bl
				}
			}
		}
	} else {
		id, err = scanIdentify(ctx, ex, lun)
		if err == nil && id.info.IsDisk() {
			blocks, bs, capErr = scanCapacity(ctx, ex, lun)
		}
	}
	if err != nil {
		return DiskInfo{}, err
	}
	info := id.info
	if !info.IsDisk() {
		return info, nil
	}
	var se *scsi.SenseError
	switch {
	case capErr == nil:
		info.Size, info.BlockSize = int64(blocks)*int64(bs), int(bs)
	case errors.As(capErr, &se), errors.Is(capErr, ErrCapacity):
	default:
		return DiskInfo{}, capErr
	}
	return info, nil
}

// scanReportLUNs returns the LUN numbers of REPORT LUNS, asking again
// with a larger allocation length when the list did not fit. LUN
// structures that do not map to a LUN number are skipped.
func scanReportLUNs(ctx context.Context, ex Executor) ([]uint64, error) {
	alloc := uint32(8 + 8*256)
	for {
		cdb, err := (&scsi.ReportLUNs{SelectReport: scsi.SelectReportLogicalUnits, AllocationLength: alloc}).MarshalBinary()
		if err != nil {
			return nil, err
		}
		buf := make([]byte, alloc)
		resp, err := scanExec(ctx, ex, &Command{LUN: 0, CDB: cdb, DataIn: buf})
		if err != nil {
			return nil, fmt.Errorf("initiator: REPORT LUNS: %w", err)
		}
		var d scsi.ReportLUNsData
		if err := d.UnmarshalBinary(buf[:min(resp.DataIn, len(buf))]); err != nil {
			return nil, fmt.Errorf("initiator: REPORT LUNS data: %w", err)
		}
		if !d.Complete() {
			need := uint64(d.ListLength) + 8
			if need > scanMaxLUNList || need <= uint64(alloc) {
				return nil, fmt.Errorf("initiator: REPORT LUNS: list of %d bytes with %d bytes received (limit %d)",
					d.ListLength, resp.DataIn, scanMaxLUNList)
			}
			alloc = uint32(need)
			continue
		}
		luns := make([]uint64, 0, len(d.LUNs))
		for _, l := range d.LUNs {
			if n, err := l.Number(); err == nil {
				luns = append(luns, uint64(n))
			}
		}
		return luns, nil
	}
}

// scanIdent is what scanIdentify learns about a LUN.
type scanIdent struct {
	info  DiskInfo
	pages scsi.VPDSupportedPages
}

// scanIdentify sends INQUIRY and reads the Supported VPD Pages, Unit
// Serial Number and Device Identification pages. A unit that refuses the
// Supported VPD Pages page is still asked for 80h and 83h, and a refusal
// of those leaves Serial or WWN empty.
func scanIdentify(ctx context.Context, ex Executor, lun uint64) (scanIdent, error) {
	var inq scanAnswer
	inq.b, inq.err = scanInquiry(ctx, ex, lun, false, 0)
	return scanIdentifyFrom(ctx, ex, lun, inq, scanVPD)
}

// scanIdentifyFrom is scanIdentify given the INQUIRY answer and a way to
// get VPD pages: scanVPD sends the command, a scanBatch's vpd returns the
// answer it already has.
func scanIdentifyFrom(ctx context.Context, ex Executor, lun uint64, first scanAnswer,
	vpd func(context.Context, Executor, uint64, scsi.VPDPageCode) ([]byte, error)) (scanIdent, error) {
	var id scanIdent
	b, err := first.b, first.err
	if err != nil {
		return id, fmt.Errorf("initiator: LUN %d INQUIRY: %w", lun, err)
	}
	var inq scsi.InquiryData
	if err := inq.UnmarshalBinary(b); err != nil {
		return id, fmt.Errorf("initiator: LUN %d INQUIRY data: %w", lun, err)
	}
	if inq.PeripheralQualifier != scsi.InquiryQualifierConnected {
		return id, fmt.Errorf("%w: LUN %d peripheral qualifier %d", ErrLUNNotPresent, lun, inq.PeripheralQualifier)
	}
	id.info = DiskInfo{
		LUN:        lun,
		Vendor:     inq.VendorID,
		Product:    inq.ProductID,
		Revision:   inq.ProductRev,
		DeviceType: inq.DeviceType,
	}
	b, err = vpd(ctx, ex, lun, scsi.VPDPageSupported)
	var se *scsi.SenseError
	switch {
	case err == nil:
		if err := id.pages.UnmarshalBinary(b); err != nil {
			return id, fmt.Errorf("initiator: LUN %d Supported VPD Pages: %w", lun, err)
		}
	case errors.As(err, &se):
		id.pages.Pages = []scsi.VPDPageCode{scsi.VPDPageUnitSerial, scsi.VPDPageDeviceID}
	default:
		return id, fmt.Errorf("initiator: LUN %d Supported VPD Pages: %w", lun, err)
	}
	if id.pages.Supports(scsi.VPDPageUnitSerial) {
		b, err := vpd(ctx, ex, lun, scsi.VPDPageUnitSerial)
		switch {
		case err == nil:
			var p scsi.VPDUnitSerialNumber
			if err := p.UnmarshalBinary(b); err != nil {
				return id, fmt.Errorf("initiator: LUN %d Unit Serial Number: %w", lun, err)
			}
			id.info.Serial = p.Serial
		case !errors.As(err, &se):
			return id, fmt.Errorf("initiator: LUN %d Unit Serial Number: %w", lun, err)
		}
	}
	if id.pages.Supports(scsi.VPDPageDeviceID) {
		b, err := vpd(ctx, ex, lun, scsi.VPDPageDeviceID)
		switch {
		case err == nil:
			var p scsi.VPDDeviceIdentification
			if err := p.UnmarshalBinary(b); err != nil {
				return id, fmt.Errorf("initiator: LUN %d Device Identification: %w", lun, err)
			}
			id.info.WWN = scanWWN(&p)
		case !errors.As(err, &se):
			return id, fmt.Errorf("initiator: LUN %d Device Identification: %w", lun, err)
		}
	}
	return id, nil
}

// scanWWN names a logical unit from its Device Identification page the
// way Linux's wwid does: its NAA designator, else its EUI-64 designator,
// else its T10 vendor ID designator; empty when it has none.
func scanWWN(p *scsi.VPDDeviceIdentification) string {
	if w, ok := p.WWN(); ok {
		return w
	}
	if d, ok := p.Find(scsi.VPDAssocLU, scsi.VPDDesigEUI64); ok && len(d.Designator) > 0 {
		return "eui." + hex.EncodeToString(d.Designator)
	}
	if d, ok := p.Find(scsi.VPDAssocLU, scsi.VPDDesigT10VendorID); ok && len(d.Designator) > 0 {
		return "t10." + strings.Join(strings.Fields(string(d.Designator)), " ")
	}
	return ""
}

// scanInquiry sends INQUIRY (SPC-4 section 6.6) for standard data or a VPD
// page and returns the bytes received, asking again with the length the
// page announces when it did not fit.
func scanInquiry(ctx context.Context, ex Executor, lun uint64, evpd bool, page scsi.VPDPageCode) ([]byte, error) {
	alloc := 255
	for {
		cdb, err := (&scsi.Inquiry{EVPD: evpd, PageCode: uint8(page), AllocationLength: uint16(alloc)}).MarshalBinary()
		if err != nil {
			return nil, err
		}
		buf := make([]byte, alloc)
		resp, err := scanExec(ctx, ex, &Command{LUN: lun, CDB: cdb, DataIn: buf})
		if err != nil {
			return nil, err
		}
		b := buf[:min(resp.DataIn, len(buf))]
		var need int
		switch {
		case !evpd && len(b) >= 5:
			// Standard data: ADDITIONAL LENGTH (n-4) in byte 4.
			need = int(b[4]) + 5
		case evpd && len(b) >= scsi.VPDHeaderLength:
			// VPD page: PAGE LENGTH (n-3) in bytes 2-3.
			need = int(binary.BigEndian.Uint16(b[2:4])) + scsi.VPDHeaderLength
		}
		if need <= alloc || alloc == 0xffff || !evpd {
			// Standard INQUIRY data beyond 255 bytes is vendor specific;
			// what arrived is enough.
			return b, nil
		}
		alloc = min(need, 0xffff)
	}
}

// scanVPD returns a VPD page of lun.
func scanVPD(ctx context.Context, ex Executor, lun uint64, page scsi.VPDPageCode) ([]byte, error) {
	b, err := scanInquiry(ctx, ex, lun, true, page)
	if err != nil {
		return nil, err
	}
	if len(b) < scsi.VPDHeaderLength || scsi.VPDPageCode(b[1]) != page {
		return nil, fmt.Errorf("%w: VPD page %s: %d bytes, page code %#02x", scsi.ErrTruncated, page, len(b), firstByte(b[min(1, len(b)):]))
	}
	return b, nil
}

// firstByte returns b[0], or zero for an empty b.
func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// scanCapacity reads the capacity with READ CAPACITY(16) (SBC-3 section
// 5.16), or with READ CAPACITY(10) (section 5.15) when the unit refuses
// the 16-byte command as ILLEGAL REQUEST.
func scanCapacity(ctx context.Context, ex Executor, lun uint64) (blocks uint64, blockSize uint32, err error) {
	return scanCapacityFrom(ctx, ex, lun, false)
}

// scanCapacityFrom is scanCapacity; primed on a *Session, it sends a TEST
// UNIT READY just before the READ CAPACITY(16), which is ORDERED behind
// it: the unit attention a new nexus has pending (POWER ON, RESET, 29/00), which
// INQUIRY and REPORT LUNS never report, goes to the TEST UNIT READY, and
// the READ CAPACITY is not sent a second time a round trip later. Nobody
// waits for the TEST UNIT READY (its answer does not matter, and the
// session sends it again after the unit attention).
func scanCapacityFrom(ctx context.Context, ex Executor, lun uint64, primed bool) (blocks uint64, blockSize uint32, err error) {
	cdb, err := (&scsi.ReadCapacity16{AllocationLength: scsi.ReadCapacity16DataLength}).MarshalBinary()
	if err != nil {
		return 0, 0, err
	}
	buf := make([]byte, scsi.ReadCapacity16DataLength)
	rc := &Command{LUN: lun, CDB: cdb, DataIn: buf}
	if s, ok := ex.(*Session); ok && primed {
		// Start gives the TEST UNIT READY its CmdSN before it returns:
		// the READ CAPACITY's comes after.
		if s.Start(ctx, &Command{LUN: lun, CDB: make([]byte, 6)}, func(Response, error) {}) == nil {
			rc.Attr = iscsi.TaskAttrOrdered
		}
	}
	resp, err := scanExec(ctx, ex, rc)
	switch {
	case err == nil:
		var d scsi.ReadCapacity16Data
		if err := d.UnmarshalBinary(buf[:min(resp.DataIn, len(buf))]); err != nil {
			return 0, 0, fmt.Errorf("initiator: LUN %d READ CAPACITY(16) data: %w", lun, err)
		}
		blocks, blockSize = d.Blocks(), d.BlockLength
	case scsi.IsIllegalRequest(err):
		cdb, err := (&scsi.ReadCapacity10{}).MarshalBinary()
		if err != nil {
			return 0, 0, err
		}
		resp, err := scanExec(ctx, ex, &Command{LUN: lun, CDB: cdb, DataIn: buf[:scsi.ReadCapacity10DataLength]})
		if err != nil {
			return 0, 0, fmt.Errorf("initiator: LUN %d READ CAPACITY(10): %w", lun, err)
		}
		var d scsi.ReadCapacity10Data
		if err := d.UnmarshalBinary(buf[:min(resp.DataIn, scsi.ReadCapacity10DataLength)]); err != nil {
			return 0, 0, fmt.Errorf("initiator: LUN %d READ CAPACITY(10) data: %w", lun, err)
		}
		if d.NeedsReadCapacity16() {
			return 0, 0, fmt.Errorf("%w: LUN %d: READ CAPACITY(10) says the capacity needs READ CAPACITY(16), which was refused", ErrCapacity, lun)
		}
		blocks, blockSize = d.LastLBA+1, d.BlockLength
	default:
		return 0, 0, fmt.Errorf("initiator: LUN %d READ CAPACITY(16): %w", lun, err)
	}
	if blockSize == 0 || blocks > uint64(1<<63-1)/uint64(blockSize) {
		return 0, 0, fmt.Errorf("%w: LUN %d: %d blocks of %d bytes", ErrCapacity, lun, blocks, blockSize)
	}
	return blocks, blockSize, nil
}

// scanExec runs cmd, sending it again when a unit attention condition
// terminated it (up to diskUARetries times): such a command was not
// executed (SAM-5 section 5.14), and each attempt clears one condition.
func scanExec(ctx context.Context, ex Executor, cmd *Command) (Response, error) {
	for i := 0; ; i++ {
		resp, err := ex.Execute(ctx, cmd)
		if err == nil || i == diskUARetries || ctx.Err() != nil || !scsi.IsUnitAttention(err) {
			return resp, err
		}
	}
}
