package target

import (
	"encoding/hex"

	"github.com/lunarsan/lunar/scsi"
)

// Identification lunar reports in INQUIRY data.
const (
	spcVendorID   = "LUNAR"
	spcProductID  = "VIRTUAL-DISK"
	spcProductRev = "0001"
)

func init() {
	ctl := byte(0x04)
	luRegister(
		luCommand{op: scsi.OpTestUnitReady, usage: []byte{byte(scsi.OpTestUnitReady), 0, 0, 0, 0, ctl}, run: spcTestUnitReady, quick: true},
		luCommand{op: scsi.OpRequestSense, usage: []byte{byte(scsi.OpRequestSense), 0x01, 0, 0, 0xff, ctl}, run: spcRequestSense, quick: true},
		luCommand{op: scsi.OpInquiry, usage: []byte{byte(scsi.OpInquiry), 0x01, 0xff, 0xff, 0xff, ctl}, run: spcInquiry, quick: true},
		luCommand{op: scsi.OpReportLUNs, usage: []byte{byte(scsi.OpReportLUNs), 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, ctl}, run: spcReportLUNs, quick: true},
		luCommand{op: scsi.OpMaintenanceIn, sa: scsi.SAReportSupportedOperationCodes, hasSA: true,
			usage: []byte{byte(scsi.OpMaintenanceIn), scsi.SAReportSupportedOperationCodes, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, ctl},
			run:   spcReportSupportedOpCodes, quick: true},
		luCommand{op: scsi.OpMaintenanceIn, sa: scsi.SAReportSupportedTaskMgmtFuncs, hasSA: true,
			usage: []byte{byte(scsi.OpMaintenanceIn), scsi.SAReportSupportedTaskMgmtFuncs, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, ctl},
			run:   spcReportSupportedTMFs, quick: true},
	)
	// RESERVE/RELEASE (reserve.go) and PERSISTENT RESERVE IN/OUT
	// (pr_in.go, pr_out.go) register themselves.
}

// spcTestUnitReady runs TEST UNIT READY: ready unless closed.
func spcTestUnitReady(c *luCmd) error {
	var t scsi.TestUnitReady
	if err := t.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if c.lu.closed.Load() {
		return scsi.NewSenseError(scsi.SenseKeyNotReady, scsi.SenseLUNotReadyCauseNotReportable)
	}
	return nil
}

// spcRequestSense runs REQUEST SENSE: it returns the pending unit
// attention condition, and clears it (SPC-4 section 6.29), or NO SENSE.
func spcRequestSense(c *luCmd) error {
	var r scsi.RequestSense
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	sd := scsi.SenseData{Key: scsi.SenseKeyNoSense}
	if n := c.t.Nexus; n != nil {
		if code, ok := n.takeUA(c.lu, true); ok {
			sd = scsi.UnitAttention(code).SenseData()
		}
	}
	c.requestSenseData(&r, sd)
	return nil
}

// requestSenseData returns sd as REQUEST SENSE parameter data, in
// descriptor format when DESC is set ("If the DESC bit is set to one and
// descriptor format sense data is supported, then the device server shall
// return descriptor format sense data", SPC-4 section 6.29).
func (c *luCmd) requestSenseData(r *scsi.RequestSense, sd scsi.SenseData) {
	sd.Descriptor = r.Desc
	b, _ := sd.MarshalBinary() // never fails
	c.dataIn(b, uint32(r.AllocationLength))
}

// spcInquiryData returns the standard INQUIRY data with peripheral
// qualifier q and device type dt.
func spcInquiryData(q, dt uint8) []byte {
	d := scsi.InquiryData{
		PeripheralQualifier: q,
		DeviceType:          dt,
		Version:             scsi.InquiryVersionSPC4,
		HiSup:               true,
		ResponseDataFormat:  scsi.InquiryResponseDataFormat,
		CmdQue:              true,
		VendorID:            spcVendorID,
		ProductID:           spcProductID,
		ProductRev:          spcProductRev,
		VersionDescriptors: []uint16{
			scsi.InquiryVersionDescSAM5, scsi.InquiryVersionDescISCSI,
			scsi.InquiryVersionDescSPC4, scsi.InquiryVersionDescSBC3,
		},
	}
	b, _ := d.MarshalBinary() // constant, valid fields
	return b
}

// spcVPDPages are the VPD pages a logical unit supports, ascending.
var spcVPDPages = []scsi.VPDPageCode{
	scsi.VPDPageSupported, scsi.VPDPageUnitSerial, scsi.VPDPageDeviceID,
	scsi.VPDPageBlockLimits, scsi.VPDPageBlockCharacteristics, scsi.VPDPageProvisioning,
}

// spcInquiry runs INQUIRY: standard data, or a VPD page.
func spcInquiry(c *luCmd) error {
	var q scsi.Inquiry
	if err := q.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(q.AllocationLength)
	if !q.EVPD {
		c.dataIn(spcInquiryData(scsi.InquiryQualifierConnected, scsi.InquiryDeviceDirectAccess), uint32(q.AllocationLength))
		return nil
	}
	page, err := c.lu.spcVPD(scsi.VPDPageCode(q.PageCode), c.t.Nexus)
	if err != nil {
		return err
	}
	b, err := page.MarshalBinary()
	if err != nil {
		return err
	}
	c.dataIn(b, uint32(q.AllocationLength))
	return nil
}

// spcVPD builds VPD page code for the logical unit as seen through n (nil
// leaves out the target port designators).
func (lu *LU) spcVPD(code scsi.VPDPageCode, n *Nexus) (scsi.VPDPage, error) {
	per := scsi.VPDPeripheral{PeripheralQualifier: scsi.InquiryQualifierConnected, DeviceType: scsi.InquiryDeviceDirectAccess}
	switch code {
	case scsi.VPDPageSupported:
		return &scsi.VPDSupportedPages{VPDPeripheral: per, Pages: spcVPDPages}, nil
	case scsi.VPDPageUnitSerial:
		return &scsi.VPDUnitSerialNumber{VPDPeripheral: per, Serial: lu.cfg.Serial}, nil
	case scsi.VPDPageDeviceID:
		return lu.spcDeviceID(per, n)
	case scsi.VPDPageBlockLimits:
		bl := &scsi.VPDBlockLimits{
			VPDPeripheral:                    per,
			MaxCompareAndWriteLength:         sbcMaxCAWBlocks,
			OptimalTransferLengthGranularity: 1,
			MaxTransferLength:                lu.maxTransferBlocks(),
			OptimalTransferLength:            sbcOptimalTransferBytes >> lu.shift,
			MaxWriteSameLength:               sbcMaxWriteSameBlocks,
		}
		if lu.cfg.Thin {
			// libiscsi's Inquiry.BlockLimits: with LBPU set both unmap
			// limits must be non-zero; without it both must be zero.
			bl.MaxUnmapLBACount = sbcMaxUnmapBlocks
			bl.MaxUnmapBlockDescriptorCount = sbcMaxUnmapDescriptors
			bl.OptimalUnmapGranularity = max(uint32(4096)>>lu.shift, 1)
		}
		return bl, nil
	case scsi.VPDPageBlockCharacteristics:
		return &scsi.VPDBlockDeviceCharacteristics{VPDPeripheral: per, MediumRotationRate: scsi.VPDRotationNonRotating}, nil
	case scsi.VPDPageProvisioning:
		p := &scsi.VPDLogicalBlockProvisioning{VPDPeripheral: per, ProvisioningType: scsi.VPDProvisioningFull}
		if lu.cfg.Thin {
			p.LBPU, p.LBPWS, p.LBPWS10, p.LBPRZ = true, true, true, 1
			p.ProvisioningType = scsi.VPDProvisioningThin
		}
		return p, nil
	}
	// SPC-4 section 6.6.1: a VPD page that is not supported is INVALID
	// FIELD IN CDB.
	return nil, scsi.InvalidFieldInCDB(2, -1)
}

// spcDeviceID builds the Device Identification page: the logical unit's
// NAA-6 and T10 vendor ID designators, and, through a nexus, the target
// port's SCSI name string, relative target port and target port group
// designators and the target device's name.
func (lu *LU) spcDeviceID(per scsi.VPDPeripheral, n *Nexus) (scsi.VPDPage, error) {
	p := &scsi.VPDDeviceIdentification{VPDPeripheral: per}
	p.Designators = append(p.Designators, scsi.VPDNAADesignator(lu.cfg.NAA[:]))
	specific := lu.cfg.Serial
	if specific == "" {
		specific = hex.EncodeToString(lu.cfg.NAA[:])
	}
	t10, err := scsi.VPDT10VendorIDDesignator(spcVendorID, specific)
	if err != nil {
		return nil, err
	}
	p.Designators = append(p.Designators, t10)
	if n != nil {
		port := max(n.tpgt, 1) // relative port 0 is reserved
		p.Designators = append(p.Designators,
			scsi.VPDSCSINameDesignator(scsi.VPDAssocTargetPort, n.TargetPort()),
			scsi.VPDRelativeTargetPortDesignator(port),
			scsi.VPDTargetPortGroupDesignator(port),
			scsi.VPDSCSINameDesignator(scsi.VPDAssocTargetDevice, n.target),
		)
	}
	return p, nil
}

// spcReportLUNs runs REPORT LUNS: the LUNs of the initiator's view, and it
// clears REPORTED LUNS DATA HAS CHANGED (SPC-4 section 6.33: the device
// server "shall clear any pending unit attention condition with an
// additional sense code of REPORTED LUNS DATA HAS CHANGED").
func spcReportLUNs(c *luCmd) error {
	var r scsi.ReportLUNs
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(r.AllocationLength)
	var d scsi.ReportLUNsData
	switch r.SelectReport {
	case scsi.SelectReportLogicalUnits, scsi.SelectReportAll:
		if c.t.View != nil {
			for _, n := range c.t.View.LUNs() {
				if n <= 0xffff {
					d.LUNs = append(d.LUNs, scsi.EncodeLUN(uint16(n)))
				}
			}
		}
	case scsi.SelectReportWellKnown:
		// No well known logical units.
	default:
		return scsi.InvalidFieldInCDB(2, -1)
	}
	b, err := d.MarshalBinary()
	if err != nil {
		return err
	}
	if c.t.Nexus != nil {
		c.t.Nexus.clearReportedLUNsChanged()
	}
	c.dataIn(b, r.AllocationLength)
	return nil
}

// spcReportSupportedOpCodes runs REPORT SUPPORTED OPERATION CODES from the
// command table the engine dispatches with.
func spcReportSupportedOpCodes(c *luCmd) error {
	var r scsi.ReportSupportedOperationCodes
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(r.AllocationLength)
	var timeouts *scsi.CommandTimeouts
	if r.RCTD {
		timeouts = &scsi.CommandTimeouts{}
	}
	if r.ReportingOptions == scsi.ReportingOptionsAll {
		var d scsi.SupportedOpCodes
		add := func(cmd *luCommand) {
			if cmd == nil || (cmd.supported != nil && !cmd.supported(c.lu)) {
				return
			}
			d.Commands = append(d.Commands, scsi.CommandDescriptor{
				Op: cmd.op, ServiceAction: uint16(cmd.sa), ServiceActionValid: cmd.hasSA,
				CDBLength: uint16(len(cmd.usage)), Timeouts: timeouts,
			})
		}
		for op := range 256 {
			if tab := luSATable(scsi.OpCode(op)); tab != nil {
				for _, cmd := range tab {
					add(cmd)
				}
				continue
			}
			add(luOps[op])
		}
		return c.marshalDataIn(&d, r.AllocationLength)
	}
	hasSA := luSATable(r.RequestedOpCode) != nil
	switch r.ReportingOptions {
	case scsi.ReportingOptionsOpCode:
		// SPC-4 section 6.35.1: 001b with an operation code that has
		// service actions is INVALID FIELD IN CDB.
		if hasSA {
			return scsi.InvalidFieldInCDB(2, 2)
		}
	case scsi.ReportingOptionsOpCodeServiceAction:
		// ... and 010b with one that has none.
		if !hasSA {
			return scsi.InvalidFieldInCDB(2, 2)
		}
	}
	if r.RequestedServiceAction > 0x1f && hasSA {
		return scsi.InvalidFieldInCDB(4, -1)
	}
	cmd, _ := luLookup(c.lu, r.RequestedOpCode, uint8(r.RequestedServiceAction))
	d := scsi.SupportedOpCode{Support: scsi.CommandSupportNone}
	if cmd != nil {
		d = scsi.SupportedOpCode{Support: scsi.CommandSupportStandard, CDBUsage: cmd.usage, Timeouts: timeouts}
	}
	return c.marshalDataIn(&d, r.AllocationLength)
}

// spcReportSupportedTMFs runs REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS:
// the functions the iSCSI layer implements.
func spcReportSupportedTMFs(c *luCmd) error {
	var r scsi.ReportSupportedTaskManagementFunctions
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(r.AllocationLength)
	if r.RepD {
		// Extended parameter data is not supported.
		return scsi.InvalidFieldInCDB(2, 7)
	}
	d := scsi.SupportedTMFs{ATS: true, ATSS: true, CTSS: true, LURS: true}
	return c.marshalDataIn(&d, r.AllocationLength)
}

// spcUnmapped answers a command addressed to a LUN the initiator's view
// does not map (SAM-5 section 5.9.? "incorrect logical unit selection"):
// INQUIRY returns peripheral qualifier 011b and device type 1Fh, REPORT
// LUNS works, REQUEST SENSE returns LOGICAL UNIT NOT SUPPORTED sense data,
// and every other command is terminated with CHECK CONDITION, ILLEGAL
// REQUEST, LOGICAL UNIT NOT SUPPORTED.
func spcUnmapped(t *Task) Result {
	c := &luCmd{t: t}
	notSupported := scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseLUNotSupported)
	var err error
	switch scsi.OpCode(t.CDB[0]) {
	case scsi.OpInquiry:
		err = spcUnmappedInquiry(c)
	case scsi.OpReportLUNs:
		err = spcReportLUNs(c)
	case scsi.OpRequestSense:
		var r scsi.RequestSense
		if err = r.UnmarshalBinary(t.CDB); err == nil {
			c.requestSenseData(&r, notSupported.SenseData())
		}
	default:
		err = notSupported
	}
	return c.finish(err)
}

// spcUnmappedInquiry answers INQUIRY for an unmapped LUN: standard data
// with qualifier 011b and type 1Fh, and of the VPD pages only the
// Supported VPD Pages page, listing itself, with the same byte 0.
func spcUnmappedInquiry(c *luCmd) error {
	var q scsi.Inquiry
	if err := q.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(q.AllocationLength)
	if !q.EVPD {
		c.dataIn(spcInquiryData(scsi.InquiryQualifierNotSupported, scsi.InquiryDeviceUnknown), uint32(q.AllocationLength))
		return nil
	}
	if scsi.VPDPageCode(q.PageCode) != scsi.VPDPageSupported {
		return scsi.InvalidFieldInCDB(2, -1)
	}
	p := scsi.VPDSupportedPages{
		VPDPeripheral: scsi.VPDPeripheral{PeripheralQualifier: scsi.InquiryQualifierNotSupported, DeviceType: scsi.InquiryDeviceUnknown},
		Pages:         []scsi.VPDPageCode{scsi.VPDPageSupported},
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	c.dataIn(b, uint32(q.AllocationLength))
	return nil
}
