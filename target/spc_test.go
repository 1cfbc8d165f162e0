package target

import (
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

func TestSPCInquiry(t *testing.T) {
	e := &Engine{}
	for _, thin := range []bool{false, true} {
		lu := luTestLU(t, "mem", 16, LUConfig{Thin: thin})
		n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
		r, in := luRun(e, lu, n, luCDB(t, &scsi.Inquiry{AllocationLength: 255}), nil, 255)
		luWantGood(t, r)
		var d scsi.InquiryData
		if err := d.UnmarshalBinary(in); err != nil || d.PeripheralQualifier != 0 || d.DeviceType != 0 || d.VendorID != spcVendorID || !d.CmdQue || d.RMB {
			t.Fatalf("standard INQUIRY %+v %v", d, err)
		}
		// Allocation length cuts the data; Transfer is the allocation length.
		r, in = luRun(e, lu, n, luCDB(t, &scsi.Inquiry{AllocationLength: 5}), nil, 255)
		luWantGood(t, r)
		if len(in) != 5 || r.Transfer != 5 {
			t.Errorf("INQUIRY alloc 5: %d bytes, Transfer %d", len(in), r.Transfer)
		}
		r, in = luRun(e, lu, n, luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: 0, AllocationLength: 255}), nil, 255)
		luWantGood(t, r)
		p, err := scsi.ParseVPD(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range p.(*scsi.VPDSupportedPages).Pages {
			r, in := luRun(e, lu, n, luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: uint8(code), AllocationLength: 1024}), nil, 1024)
			luWantGood(t, r)
			page, err := scsi.ParseVPD(in)
			if err != nil || page.PageCode() != code {
				t.Fatalf("VPD %v: %T %v", code, page, err)
			}
			switch pg := page.(type) {
			case *scsi.VPDUnitSerialNumber:
				if pg.Serial != "SERIAL0001" {
					t.Errorf("serial %q", pg.Serial)
				}
			case *scsi.VPDDeviceIdentification:
				if wwn, ok := pg.WWN(); !ok || wwn != scsi.FormatNAA(lu.cfg.NAA[:]) {
					t.Errorf("WWN %q", wwn)
				}
				d, ok := pg.Find(scsi.VPDAssocTargetPort, scsi.VPDDesigSCSIName)
				if name, _ := d.SCSIName(); !ok || name != "iqn.2026-01.test:tgt,t,0x0001" {
					t.Errorf("target port name %q", name)
				}
				if d, ok := pg.Find(scsi.VPDAssocTargetPort, scsi.VPDDesigRelativeTargetPort); !ok {
					t.Error("no relative target port designator")
				} else if port, _ := d.RelativeTargetPort(); port != 1 {
					t.Errorf("relative port %d", port)
				}
				if _, ok := pg.Find(scsi.VPDAssocTargetPort, scsi.VPDDesigTargetPortGroup); !ok {
					t.Error("no target port group designator")
				}
				if _, ok := pg.Find(scsi.VPDAssocLU, scsi.VPDDesigT10VendorID); !ok {
					t.Error("no T10 vendor ID designator")
				}
			case *scsi.VPDBlockLimits:
				if thin != (pg.MaxUnmapLBACount != 0 && pg.MaxUnmapBlockDescriptorCount != 0) || pg.MaxTransferLength != lu.maxTransferBlocks() {
					t.Errorf("block limits %+v for thin=%v", pg, thin)
				}
			case *scsi.VPDLogicalBlockProvisioning:
				if pg.LBPU != thin || pg.LBPWS != thin || (pg.LBPRZ == 1) != thin {
					t.Errorf("provisioning %+v for thin=%v", pg, thin)
				}
			}
		}
		r, _ = luRun(e, lu, n, luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: 0x99, AllocationLength: 255}), nil, 255)
		luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
		r, _ = luRun(e, lu, n, []byte{0x12, 0, 0x80, 0, 255, 0}, nil, 255)
		luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
	}
}

func TestSPCReportSupportedOpCodes(t *testing.T) {
	e := &Engine{}
	for _, thin := range []bool{false, true} {
		lu := luTestLU(t, "mem", 16, LUConfig{Thin: thin})
		n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
		for _, rctd := range []bool{false, true} {
			r, in := luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedOperationCodes{RCTD: rctd, AllocationLength: 65535}), nil, 65535)
			luWantGood(t, r)
			var d scsi.SupportedOpCodes
			if err := d.UnmarshalBinary(in); err != nil || !d.Complete() {
				t.Fatalf("all_commands: %v", err)
			}
			seen := map[scsi.OpCode]bool{}
			for _, cd := range d.Commands {
				seen[cd.Op] = true
				if (cd.Timeouts != nil) != rctd {
					t.Errorf("%v: timeouts %v with RCTD %v", cd.Op, cd.Timeouts, rctd)
				}
				// Every listed command is accepted by the dispatcher and
				// described by one_command.
				opt := scsi.ReportingOptionsOpCode
				if cd.ServiceActionValid {
					opt = scsi.ReportingOptionsOpCodeServiceAction
				}
				r, in := luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedOperationCodes{ReportingOptions: opt, RequestedOpCode: cd.Op, RequestedServiceAction: cd.ServiceAction, AllocationLength: 512}), nil, 512)
				luWantGood(t, r)
				var one scsi.SupportedOpCode
				if err := one.UnmarshalBinary(in); err != nil || one.Support != scsi.CommandSupportStandard || len(one.CDBUsage) != int(cd.CDBLength) || one.CDBUsage[0] != byte(cd.Op) {
					t.Errorf("one_command %v/%x: %+v %v", cd.Op, cd.ServiceAction, one, err)
				}
				if cd.ServiceActionValid && one.CDBUsage[1] != byte(cd.ServiceAction) {
					t.Errorf("%v usage byte 1 %#x, want the service action %#x", cd.Op, one.CDBUsage[1], cd.ServiceAction)
				}
				// The wrong reporting option for the command's kind.
				wrong := scsi.ReportingOptionsOpCodeServiceAction
				if cd.ServiceActionValid {
					wrong = scsi.ReportingOptionsOpCode
				}
				r, _ = luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedOperationCodes{ReportingOptions: wrong, RequestedOpCode: cd.Op, RequestedServiceAction: cd.ServiceAction, AllocationLength: 512}), nil, 512)
				luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
			}
			for _, op := range []scsi.OpCode{scsi.OpRead10, scsi.OpWrite16, scsi.OpInquiry, scsi.OpCompareAndWrite, scsi.OpORWrite16, scsi.OpModeSense6} {
				if !seen[op] {
					t.Errorf("%v not listed", op)
				}
			}
			for _, op := range []scsi.OpCode{scsi.OpPersistentReserveIn, scsi.OpPersistentReserveOut, scsi.OpReserve6, scsi.OpRelease10} {
				if !seen[op] {
					t.Errorf("%v not listed", op)
				}
			}
			if seen[scsi.OpUnmap] != thin {
				t.Errorf("UNMAP listed %v on thin=%v", seen[scsi.OpUnmap], thin)
			}
		}
		// READ(10) usage shows DPO and FUA (DPOFUA is set).
		_, in := luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedOperationCodes{ReportingOptions: scsi.ReportingOptionsOpCode, RequestedOpCode: scsi.OpRead10, AllocationLength: 512}), nil, 512)
		var one scsi.SupportedOpCode
		if err := one.UnmarshalBinary(in); err != nil || one.CDBUsage[1]&0x18 != 0x18 {
			t.Errorf("READ(10) usage %x %v", one.CDBUsage, err)
		}
		r, in := luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedOperationCodes{ReportingOptions: scsi.ReportingOptionsOpCodeServiceAction, RequestedOpCode: scsi.OpPersistentReserveOut, RequestedServiceAction: uint16(scsi.PROutPreemptAndAbort), AllocationLength: 512}), nil, 512)
		luWantGood(t, r)
		if err := one.UnmarshalBinary(in); err != nil || one.Support != scsi.CommandSupportStandard {
			t.Errorf("PR OUT PREEMPT AND ABORT support %v %v", one.Support, err)
		}
	}
}

func TestSPCRequestSenseAndTMFs(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	r, in := luRun(e, lu, n, luCDB(t, &scsi.RequestSense{AllocationLength: 252}), nil, 252)
	luWantGood(t, r)
	if sd, err := scsi.ParseSense(in); err != nil || sd.Key != scsi.SenseKeyNoSense || sd.Descriptor || len(in) != scsi.SenseFixedLength {
		t.Errorf("REQUEST SENSE %v %v (%d bytes)", &sd, err, len(in))
	}
	r, in = luRun(e, lu, n, luCDB(t, &scsi.RequestSense{Desc: true, AllocationLength: 252}), nil, 252)
	luWantGood(t, r)
	if sd, err := scsi.ParseSense(in); err != nil || !sd.Descriptor {
		t.Errorf("REQUEST SENSE DESC %v %v", &sd, err)
	}
	r, in = luRun(e, lu, n, luCDB(t, &scsi.ReportSupportedTaskManagementFunctions{AllocationLength: 4}), nil, 16)
	luWantGood(t, r)
	var tmf scsi.SupportedTMFs
	if err := tmf.UnmarshalBinary(in); err != nil || !tmf.ATS || !tmf.LURS {
		t.Errorf("TMFs %+v %v", tmf, err)
	}
}

func TestSPCModeSenseSelect(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{WriteCacheDisabled: true})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	sense := func(op scsi.OpCode, pc scsi.PageControl, page uint8, alloc uint16) (Result, *scsi.ModeData) {
		t.Helper()
		r, in := luRun(e, lu, n, luCDB(t, &scsi.ModeSense{Op: op, PC: pc, PageCode: page, AllocationLength: alloc}), nil, int(alloc))
		if r.Status != scsi.StatusGood {
			return r, nil
		}
		d := &scsi.ModeData{Header10: op == scsi.OpModeSense10}
		if err := d.UnmarshalBinary(in); err != nil {
			t.Fatalf("mode data %x: %v", in, err)
		}
		return r, d
	}
	page := func(d *scsi.ModeData, code uint8) scsi.ModePage {
		for _, p := range d.Pages {
			if c, _ := p.Page(); c == code {
				return p
			}
		}
		t.Fatalf("page %#x missing", code)
		return nil
	}
	for _, op := range []scsi.OpCode{scsi.OpModeSense6, scsi.OpModeSense10} {
		r, d := sense(op, scsi.PageControlCurrent, scsi.ModePageCodeAll, 255)
		luWantGood(t, r)
		if d.DeviceSpecific&scsi.ModeDeviceSpecificDPOFUA == 0 || len(d.Pages) != 3 {
			t.Errorf("%v: device specific %#x, %d pages", op, d.DeviceSpecific, len(d.Pages))
		}
		if page(d, scsi.ModePageCodeCaching).(*scsi.CachingPage).WCE {
			t.Error("WCE set on a write-cache-disabled LU")
		}
		r, d = sense(op, scsi.PageControlChangeable, scsi.ModePageCodeControl, 255)
		luWantGood(t, r)
		if !page(d, scsi.ModePageCodeControl).(*scsi.ControlPage).DSense {
			t.Error("D_SENSE not changeable")
		}
	}
	// MODE SENSE(6) with 4 bytes: the header only, no overflow.
	r, in := luRun(e, lu, n, luCDB(t, &scsi.ModeSense{Op: scsi.OpModeSense6, PageCode: scsi.ModePageCodeAll, AllocationLength: 4}), nil, 4)
	luWantGood(t, r)
	if len(in) != 4 || r.Transfer != 4 {
		t.Errorf("MODE SENSE alloc 4: %d bytes, Transfer %d", len(in), r.Transfer)
	}
	r, _ = sense(scsi.OpModeSense6, scsi.PageControlSaved, scsi.ModePageCodeAll, 255)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseSavingParametersNotSupported)
	r, _ = sense(scsi.OpModeSense6, scsi.PageControlCurrent, 0x19, 255)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)

	// Enable the write cache with MODE SELECT(10).
	md := scsi.ModeData{Header10: true, Pages: []scsi.ModePage{&scsi.CachingPage{WCE: true}}}
	pl, err := md.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	pl[0], pl[1] = 0, 0
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect10, PF: true, ParameterListLength: uint16(len(pl))}), pl, 0)
	luWantGood(t, r)
	if !lu.wce.Load() || lu.Config().WriteCacheDisabled {
		t.Error("WCE not enabled by MODE SELECT")
	}
	// Changing what is not changeable, saving, a short list.
	bad := scsi.ModeData{Pages: []scsi.ModePage{&scsi.CachingPage{WCE: true, RCD: true}}}
	bpl, _ := bad.MarshalBinary()
	bpl[0] = 0
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect6, PF: true, ParameterListLength: uint16(len(bpl))}), bpl, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInParameterList)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect10, PF: true, SP: true, ParameterListLength: uint16(len(pl))}), pl, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect10, PF: true, ParameterListLength: uint16(len(pl))}), pl[:6], 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseParameterListLengthError)

	// D_SENSE: sense in descriptor format afterwards.
	ms := luModeSelectDSense(t, true)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect6, PF: true, ParameterListLength: uint16(len(ms))}), ms, 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead16, LBA: ^uint64(0), Blocks: 1}), nil, 512)
	if sd := luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange); !sd.Descriptor || r.Sense[0] != scsi.SenseResponseDescriptorCurrent {
		t.Errorf("sense %x not in descriptor format", r.Sense)
	}
}

// TestSPCDataInResiduals reproduces libiscsi's ModeSense6.Residuals for
// every command answered with parameter data: the transfer is the data
// available cut at the allocation length, so an allocation length (and
// Expected Data Transfer Length) above the data is a residual underflow
// of the difference, and one below it is neither underflow nor overflow.
func TestSPCDataInResiduals(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	tests := []struct {
		name  string
		small uint16 // an allocation length at most the data available
		cdb   func(alloc uint16) scsi.Command
	}{
		{"MODE SENSE(6)", 4, func(a uint16) scsi.Command {
			return &scsi.ModeSense{Op: scsi.OpModeSense6, PageCode: scsi.ModePageCodeAll, AllocationLength: a}
		}},
		{"MODE SENSE(10)", 4, func(a uint16) scsi.Command {
			return &scsi.ModeSense{Op: scsi.OpModeSense10, PageCode: scsi.ModePageCodeAll, AllocationLength: a}
		}},
		{"INQUIRY", 4, func(a uint16) scsi.Command { return &scsi.Inquiry{AllocationLength: a} }},
		{"REPORT LUNS", 16, func(a uint16) scsi.Command { return &scsi.ReportLUNs{AllocationLength: uint32(a)} }},
		{"REQUEST SENSE", 4, func(a uint16) scsi.Command { return &scsi.RequestSense{AllocationLength: uint8(min(a, 255))} }},
	}
	for _, tt := range tests {
		// 255 bytes asked for, fewer available: underflow.
		r, in := luRun(e, lu, n, luCDB(t, tt.cdb(255)), nil, 255)
		luWantGood(t, r)
		if r.Transfer != len(in) || len(in) == 0 || len(in) >= 255 {
			t.Errorf("%s alloc 255: %d bytes, Transfer %d; want Transfer = bytes < 255", tt.name, len(in), r.Transfer)
		}
		if over, under, count := residual(r.Transfer, 255); over || !under || count != uint32(255-len(in)) {
			t.Errorf("%s alloc 255: overflow %v underflow %v count %d, want underflow %d", tt.name, over, under, count, 255-len(in))
		}
		// Less asked for than available: exactly that, no residual.
		r, in = luRun(e, lu, n, luCDB(t, tt.cdb(tt.small)), nil, int(tt.small))
		luWantGood(t, r)
		if over, under, _ := residual(r.Transfer, uint32(tt.small)); len(in) != int(tt.small) || over || under {
			t.Errorf("%s alloc %d: %d bytes, overflow %v underflow %v", tt.name, tt.small, len(in), over, under)
		}
	}
}
