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
	luns, err := scanReportLUNs(ctx, ex, scanReportLUNsAlloc)
	if err != nil {
		return nil, err
	}
	return rescanLUNs(ctx, ex, luns, 0, nil)
}

// RescanExpecting is Rescan for a caller that expects the unit at LUN
// lun among them (a node that was just given the LUN by the storage
// system, which told it the number): on a *Session that LUN's
// identification commands go out in the same write as REPORT LUNS, so
// the scan costs one round trip instead of two when the LUN is there. The
// result is Rescan's either way: every LUN that REPORT LUNS lists, and
// only those (the early answers of a LUN it does not list are dropped).
func RescanExpecting(ctx context.Context, ex Executor, lun uint64) ([]DiskInfo, error) {
	if !scanConcurrent(ex) {
		return Rescan(ctx, ex)
	}
	report, buf, err := scanReportLUNsCommand(scanReportLUNsAlloc)
	if err != nil {
		return nil, err
	}
	b, resp, err := scanFetchAfter(ctx, ex, lun, scanLUNPages, true, report)
	luns, err := scanReportLUNsResult(buf, resp, err)
	if longer := (*scanLUNListError)(nil); errors.As(err, &longer) {
		luns, err = scanReportLUNs(ctx, ex, longer.need)
	}
	if err != nil {
		return nil, err
	}
	return rescanLUNs(ctx, ex, luns, lun, b)
}

// rescanLUNs identifies luns, in order; early, when not nil, is the batch
// of LUN earlyLUN fetched already.
func rescanLUNs(ctx context.Context, ex Executor, luns []uint64, earlyLUN uint64, early *scanBatch) ([]DiskInfo, error) {
	scan := func(n uint64) (DiskInfo, error) {
		if early != nil && n == earlyLUN {
			return scanLUNFrom(ctx, ex, n, early)
		}
		return scanLUN(ctx, ex, n)
	}
	type result struct {
		info DiskInfo
		err  error
	}
	results := make([]result, len(luns))
	if scanConcurrent(ex) && len(luns) > 1 {
		// The LUNs at once (a bounded number), each with its commands at
		// once: a scan costs about two round trips, not six per LUN. One
		// LUN (a cluster node's usual view) is scanned below, without a
		// goroutine to start.
		var wg sync.WaitGroup
		sem := make(chan struct{}, scanLUNConcurrency)
		for i, n := range luns {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i].info, results[i].err = scan(n)
			})
		}
		wg.Wait()
	} else {
		for i, n := range luns {
			results[i].info, results[i].err = scan(n)
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

// scanFetch sends the batch's commands in one go (one write, one round
// trip) and waits for their answers; ex is a *Session. An answer that
// needs more (a unit attention the session gave up retrying, a VPD page
// longer than the first allocation length, READ CAPACITY(16) refused) is
// completed with commands of its own.
func scanFetch(ctx context.Context, ex Executor, lun uint64, pages []scsi.VPDPageCode, capacity bool) *scanBatch {
	b, _, _ := scanFetchAfter(ctx, ex, lun, pages, capacity, nil)
	return b
}

// scanFetchAfter is scanFetch with lead, when not nil, sent first in the
// same batch (REPORT LUNS, for RescanExpecting); it returns lead's answer
// too.
func scanFetchAfter(ctx context.Context, ex Executor, lun uint64, pages []scsi.VPDPageCode, capacity bool, lead *Command) (*scanBatch, Response, error) {
	b := &scanBatch{pages: make(map[scsi.VPDPageCode]scanAnswer, len(pages))}
	cmds := make([]*Command, 0, len(pages)+4)
	if lead != nil {
		cmds = append(cmds, lead)
	}
	first := len(cmds)
	for i := range len(pages) + 1 {
		evpd, page := i > 0, scsi.VPDPageCode(0)
		if evpd {
			page = pages[i-1]
		}
		cmd, err := scanInquiryCommand(lun, evpd, page, scanInquiryAlloc)
		if err != nil {
			b.inq.err, b.capErr = err, err
			return b, Response{}, err
		}
		cmds = append(cmds, cmd)
	}
	var tur, rc *Command
	if capacity {
		// The TEST UNIT READY takes the unit attention a new nexus has
		// pending (POWER ON, RESET, 29/00), which INQUIRY and REPORT LUNS
		// never report, so the READ CAPACITY, ORDERED behind it, is not
		// terminated by it and sent again a round trip later. Nobody waits
		// for the TEST UNIT READY, and it is sent once only: its answer
		// does not matter.
		tur = &Command{LUN: lun, CDB: make([]byte, 6)}
		var err error
		if rc, err = scanCapacityCommand(lun); err != nil {
			b.inq.err, b.capErr = err, err
			return b, Response{}, err
		}
		rc.Attr = iscsi.TaskAttrOrdered
		cmds = append(cmds, tur, rc)
	}
	resps, errs := executeInOrder(ctx, ex, cmds, tur)
	b.inq.b, b.inq.err = scanInquiryFinish(ctx, ex, cmds[first], resps[first], errs[first], false, 0)
	for i, p := range pages {
		var a scanAnswer
		k := first + 1 + i
		a.b, a.err = scanInquiryFinish(ctx, ex, cmds[k], resps[k], errs[k], true, p)
		if a.err == nil {
			a.err = scanVPDCheck(a.b, p)
		}
		b.pages[p] = a
	}
	if capacity {
		k := len(cmds) - 1
		if scsi.IsUnitAttention(errs[k]) {
			b.blocks, b.bs, b.capErr = scanCapacity(ctx, ex, lun)
		} else {
			b.blocks, b.bs, b.capErr = scanCapacityFinish(ctx, ex, lun, rc, resps[k], errs[k])
		}
	}
	if lead != nil {
		return b, resps[0], errs[0]
	}
	return b, Response{}, nil
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
	if scanConcurrent(ex) {
		return scanLUNFrom(ctx, ex, lun, scanFetch(ctx, ex, lun, scanLUNPages, true))
	}
	return scanLUNFrom(ctx, ex, lun, nil)
}

// scanLUNPages are the VPD pages a scan of a LUN on a *Session fetches in
// its batch.
var scanLUNPages = []scsi.VPDPageCode{scsi.VPDPageSupported, scsi.VPDPageUnitSerial,
	scsi.VPDPageDeviceID, scsi.VPDPageBlockLimits}

// scanLUNFrom is scanLUN with b, the LUN's batch of scanLUNPages and
// READ CAPACITY fetched already; nil sends the commands one at a time.
func scanLUNFrom(ctx context.Context, ex Executor, lun uint64, b *scanBatch) (DiskInfo, error) {
	var (
		id     scanIdent
		err    error
		blocks uint64
		bs     uint32
		capErr error
	)
	if b != nil {
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
func scanReportLUNs(ctx context.Context, ex Executor, alloc uint32) ([]uint64, error) {
	for {
		cmd, buf, err := scanReportLUNsCommand(alloc)
		if err != nil {
			return nil, err
		}
		resp, err := scanExec(ctx, ex, cmd)
		luns, err := scanReportLUNsResult(buf, resp, err)
		var longer *scanLUNListError
		if errors.As(err, &longer) {
			alloc = longer.need
			continue
		}
		return luns, err
	}
}

// scanReportLUNsAlloc is the allocation length of a first REPORT LUNS:
// room for 256 LUNs.
const scanReportLUNsAlloc = 8 + 8*256

// scanReportLUNsCommand returns a REPORT LUNS of the logical units with
// allocation length alloc, and the buffer its data goes to.
func scanReportLUNsCommand(alloc uint32) (*Command, []byte, error) {
	cdb, err := (&scsi.ReportLUNs{SelectReport: scsi.SelectReportLogicalUnits, AllocationLength: alloc}).MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, alloc)
	return &Command{LUN: 0, CDB: cdb, DataIn: buf}, buf, nil
}

// scanLUNListError says a REPORT LUNS list did not fit: ask again with
// need bytes.
type scanLUNListError struct{ need uint32 }

func (e *scanLUNListError) Error() string {
	return fmt.Sprintf("initiator: REPORT LUNS: the list needs %d bytes", e.need)
}

// scanReportLUNsResult reads the LUN numbers from the answer (resp, err)
// to a REPORT LUNS whose data went to buf; a *scanLUNListError asks for a
// longer allocation length.
func scanReportLUNsResult(buf []byte, resp Response, err error) ([]uint64, error) {
	if err != nil {
		return nil, fmt.Errorf("initiator: REPORT LUNS: %w", err)
	}
	var d scsi.ReportLUNsData
	if err := d.UnmarshalBinary(buf[:min(resp.DataIn, len(buf))]); err != nil {
		return nil, fmt.Errorf("initiator: REPORT LUNS data: %w", err)
	}
	if !d.Complete() {
		need := uint64(d.ListLength) + 8
		if need > scanMaxLUNList || need <= uint64(len(buf)) {
			return nil, fmt.Errorf("initiator: REPORT LUNS: list of %d bytes with %d bytes received (limit %d)",
				d.ListLength, resp.DataIn, scanMaxLUNList)
		}
		return nil, &scanLUNListError{need: uint32(need)}
	}
	luns := make([]uint64, 0, len(d.LUNs))
	for _, l := range d.LUNs {
		if n, err := l.Number(); err == nil {
			luns = append(luns, uint64(n))
		}
	}
	return luns, nil
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

// scanInquiryAlloc is the allocation length of a first INQUIRY: standard
// data and the usual VPD pages fit.
const scanInquiryAlloc = 255

// scanInquiryCommand returns an INQUIRY (SPC-4 section 6.6) of lun for
// standard data or, with evpd, a VPD page, with a buffer of alloc bytes.
func scanInquiryCommand(lun uint64, evpd bool, page scsi.VPDPageCode, alloc int) (*Command, error) {
	cdb, err := (&scsi.Inquiry{EVPD: evpd, PageCode: uint8(page), AllocationLength: uint16(alloc)}).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Command{LUN: lun, CDB: cdb, DataIn: make([]byte, alloc)}, nil
}

// scanInquiry sends INQUIRY for standard data or a VPD page and returns
// the bytes received, asking again with the length the page announces
// when it did not fit.
func scanInquiry(ctx context.Context, ex Executor, lun uint64, evpd bool, page scsi.VPDPageCode) ([]byte, error) {
	alloc := scanInquiryAlloc
	for {
		cmd, err := scanInquiryCommand(lun, evpd, page, alloc)
		if err != nil {
			return nil, err
		}
		resp, err := scanExec(ctx, ex, cmd)
		if err != nil {
			return nil, err
		}
		b, need := scanInquiryData(cmd, resp, evpd)
		if need == 0 {
			return b, nil
		}
		alloc = need
	}
}

// scanInquiryData returns the bytes an INQUIRY cmd received, and the
// allocation length to ask again with when a VPD page did not fit (zero
// when it did). Standard data beyond its buffer is vendor specific: what
// arrived is enough.
func scanInquiryData(cmd *Command, resp Response, evpd bool) (b []byte, need int) {
	alloc := len(cmd.DataIn)
	b = cmd.DataIn[:min(resp.DataIn, alloc)]
	if !evpd || len(b) < scsi.VPDHeaderLength || alloc == 0xffff {
		return b, 0
	}
	// PAGE LENGTH (n-3) in bytes 2-3.
	if n := int(binary.BigEndian.Uint16(b[2:4])) + scsi.VPDHeaderLength; n > alloc {
		return b, min(n, 0xffff)
	}
	return b, 0
}

// scanInquiryFinish completes an INQUIRY answered in a batch: one the
// session gave up retrying after unit attentions, or a VPD page longer
// than the buffer, is asked for again on its own.
func scanInquiryFinish(ctx context.Context, ex Executor, cmd *Command, resp Response, err error, evpd bool, page scsi.VPDPageCode) ([]byte, error) {
	if scsi.IsUnitAttention(err) {
		return scanInquiry(ctx, ex, cmd.LUN, evpd, page)
	}
	if err != nil {
		return nil, err
	}
	b, need := scanInquiryData(cmd, resp, evpd)
	if need > 0 {
		return scanInquiry(ctx, ex, cmd.LUN, evpd, page)
	}
	return b, nil
}

// scanVPD returns a VPD page of lun.
func scanVPD(ctx context.Context, ex Executor, lun uint64, page scsi.VPDPageCode) ([]byte, error) {
	b, err := scanInquiry(ctx, ex, lun, true, page)
	if err != nil {
		return nil, err
	}
	return b, scanVPDCheck(b, page)
}

// scanVPDCheck checks that b holds a whole header of VPD page page.
func scanVPDCheck(b []byte, page scsi.VPDPageCode) error {
	if len(b) < scsi.VPDHeaderLength || scsi.VPDPageCode(b[1]) != page {
		return fmt.Errorf("%w: VPD page %s: %d bytes, page code %#02x", scsi.ErrTruncated, page, len(b), firstByte(b[min(1, len(b)):]))
	}
	return nil
}

// firstByte returns b[0], or zero for an empty b.
func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// scanCapacityCommand returns a READ CAPACITY(16) of lun with its buffer.
func scanCapacityCommand(lun uint64) (*Command, error) {
	cdb, err := (&scsi.ReadCapacity16{AllocationLength: scsi.ReadCapacity16DataLength}).MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Command{LUN: lun, CDB: cdb, DataIn: make([]byte, scsi.ReadCapacity16DataLength)}, nil
}

// scanCapacity reads the capacity with READ CAPACITY(16) (SBC-3 section
// 5.16), or with READ CAPACITY(10) (section 5.15) when the unit refuses
// the 16-byte command as ILLEGAL REQUEST.
func scanCapacity(ctx context.Context, ex Executor, lun uint64) (blocks uint64, blockSize uint32, err error) {
	rc, err := scanCapacityCommand(lun)
	if err != nil {
		return 0, 0, err
	}
	resp, err := scanExec(ctx, ex, rc)
	return scanCapacityFinish(ctx, ex, lun, rc, resp, err)
}

// scanCapacityFinish completes scanCapacity given the READ CAPACITY(16)
// rc and its outcome.
func scanCapacityFinish(ctx context.Context, ex Executor, lun uint64, rc *Command, resp Response, err error) (blocks uint64, blockSize uint32, _ error) {
	buf := rc.DataIn
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
