package target

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// luTestView is a View over a fixed map.
type luTestView map[uint64]*LU

func (v luTestView) Lookup(n uint64) (*LU, bool) { lu, ok := v[n]; return lu, ok }

func (v luTestView) LUNs() []uint64 {
	var ns []uint64
	for n := range v {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// luSyncCounter wraps a Backend and counts Sync calls.
type luSyncCounter struct {
	Backend
	syncs atomic.Int64
}

func (b *luSyncCounter) Sync() error { b.syncs.Add(1); return b.Backend.Sync() }

// luBackends are the backends every table test runs on.
var luBackends = []string{"mem", "file"}

// luTestBackend returns a backend of size bytes of the given kind.
func luTestBackend(t testing.TB, kind string, size int64, thin bool) Backend {
	t.Helper()
	if kind == "mem" {
		return NewMemBackend(size)
	}
	b, err := OpenFileBackend(filepath.Join(t.TempDir(), "lun.img"), size, thin)
	if err != nil {
		t.Fatalf("OpenFileBackend: %v", err)
	}
	return b
}

// luTestLU returns a logical unit over a backend of the given kind; cfg's
// Backend and BlockSize default to that backend and 512.
func luTestLU(t testing.TB, kind string, blocks int64, cfg LUConfig) *LU {
	t.Helper()
	if cfg.BlockSize == 0 {
		cfg.BlockSize = 512
	}
	if cfg.Backend == nil {
		cfg.Backend = luTestBackend(t, kind, blocks*int64(cfg.BlockSize), cfg.Thin)
	}
	if cfg.Serial == "" {
		cfg.Serial = "SERIAL0001"
	}
	cfg.NAA = [16]byte{0x60, 0x01, 0x40, 0x50, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	lu, err := NewLU(cfg)
	if err != nil {
		t.Fatalf("NewLU: %v", err)
	}
	t.Cleanup(func() { lu.Close() })
	return lu
}

// luTestNexus returns a nexus whose power-on unit attention for lu has
// already been consumed.
func luTestNexus(t testing.TB, e *Engine, lu *LU, initiator string) *Nexus {
	t.Helper()
	n := NewNexus(initiator, iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 1)
	r, _ := luRun(e, lu, n, luCDB(t, &scsi.TestUnitReady{}), nil, 0)
	luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SensePowerOnReset)
	return n
}

// luCDB encodes a command.
func luCDB(t testing.TB, c scsi.Command) []byte {
	t.Helper()
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatalf("encode %T: %v", c, err)
	}
	return b
}

// luRun runs one command on LUN 0 of a view holding lu, with a Data-In
// buffer of inLen bytes, and returns the result and the data read.
func luRun(e *Engine, lu *LU, n *Nexus, cdb, out []byte, inLen int) (Result, []byte) {
	t := &Task{Ctx: context.Background(), Nexus: n, View: luTestView{0: lu}, CDB: cdb, DataOut: out,
		ExpectedDataTransferLength: uint32(max(len(out), inLen)), DataIn: make([]byte, inLen)}
	r := e.Execute(t)
	return r, t.DataIn[:r.DataIn]
}

// luWantGood fails unless r is GOOD.
func luWantGood(t testing.TB, r Result) {
	t.Helper()
	if r.Status != scsi.StatusGood {
		sd, _ := scsi.ParseSense(r.Sense)
		t.Fatalf("status %v, want GOOD (sense %v)", r.Status, &sd)
	}
}

// luWantSense fails unless r is CHECK CONDITION with key and code, and
// returns the decoded sense.
func luWantSense(t testing.TB, r Result, key scsi.SenseKey, code scsi.SenseCode) scsi.SenseData {
	t.Helper()
	if r.Status != scsi.StatusCheckCondition {
		t.Fatalf("status %v, want CHECK CONDITION %v %v", r.Status, key, code)
	}
	sd, err := scsi.ParseSense(r.Sense)
	if err != nil {
		t.Fatalf("sense %x: %v", r.Sense, err)
	}
	if sd.Key != key || sd.Code() != code {
		t.Fatalf("sense %v, want %v %v", &sd, key, code)
	}
	return sd
}

func TestEngineReadWrite(t *testing.T) {
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, 64, LUConfig{})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			data := bytes.Repeat([]byte{0xa5}, 2*512)
			for _, op := range []scsi.OpCode{scsi.OpWrite6, scsi.OpWrite10, scsi.OpWrite12, scsi.OpWrite16} {
				r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: op, LBA: 4, Blocks: 2}), data, 0)
				luWantGood(t, r)
				if r.Transfer != 1024 {
					t.Errorf("%v Transfer %d, want 1024", op, r.Transfer)
				}
			}
			for _, op := range []scsi.OpCode{scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16} {
				r, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: op, LBA: 4, Blocks: 2}), nil, 1024)
				luWantGood(t, r)
				if !bytes.Equal(in, data) || r.Transfer != 1024 {
					t.Errorf("%v read %d bytes (Transfer %d), want the written data", op, len(in), r.Transfer)
				}
			}
			tests := []struct {
				name string
				cdb  scsi.Command
				out  []byte
				key  scsi.SenseKey
				code scsi.SenseCode
			}{
				{"read beyond end", &scsi.Read{Op: scsi.OpRead10, LBA: 63, Blocks: 2}, nil, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange},
				{"read lba -1", &scsi.Read{Op: scsi.OpRead16, LBA: ^uint64(0), Blocks: 1}, nil, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange},
				{"write beyond end", &scsi.Write{Op: scsi.OpWrite16, LBA: 64, Blocks: 1}, data[:512], scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange},
				{"read too long", &scsi.Read{Op: scsi.OpRead16, LBA: 0, Blocks: lu.maxTransferBlocks() + 1}, nil, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB},
				{"rdprotect", &scsi.Read{Op: scsi.OpRead10, RDProtect: 1, Blocks: 1}, nil, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB},
				{"wrprotect", &scsi.Write{Op: scsi.OpWrite10, WRProtect: 2, Blocks: 1}, data[:512], scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					r, in := luRun(e, lu, n, luCDB(t, tt.cdb), tt.out, 512)
					luWantSense(t, r, tt.key, tt.code)
					if len(in) != 0 {
						t.Errorf("%d bytes of Data-In with CHECK CONDITION", len(in))
					}
				})
			}
			// Nothing was written at LBA 63 by the refused write.
			r, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 63, Blocks: 1}), nil, 512)
			luWantGood(t, r)
			if !bytes.Equal(in, make([]byte, 512)) {
				t.Error("last block changed by a refused write")
			}
			// Zero blocks: GOOD, nothing moved.
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 64, Blocks: 0}), nil, 0)
			luWantGood(t, r)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 65, Blocks: 0}), nil, 0)
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
			// DPO and FUA are supported (DPOFUA is set in MODE SENSE).
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, DPO: true, FUA: true, Blocks: 1}), nil, 512)
			luWantGood(t, r)
			// NACA is refused.
			cdb := luCDB(t, &scsi.Read{Op: scsi.OpRead10, Blocks: 1, Control: 0x04})
			r, _ = luRun(e, lu, n, cdb, nil, 512)
			sd := luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
			if _, b, bit, ok := sd.SenseKeySpecific.FieldPointer(); !ok || b != 9 || bit != 2 {
				t.Errorf("NACA field pointer byte %d bit %d ok %v, want 9, 2", b, bit, ok)
			}
		})
	}
}

func TestEngineWriteResiduals(t *testing.T) {
	// libiscsi test_write10_residuals.c: the Expected Data Transfer Length
	// and the CDB disagree.
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	fill := func(b byte) {
		r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, Blocks: 2}), bytes.Repeat([]byte{b}, 1024), 0)
		luWantGood(t, r)
	}
	read2 := func() []byte {
		_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, Blocks: 2}), nil, 1024)
		return in
	}
	tests := []struct {
		name     string
		blocks   uint32
		out      int
		wantB    int // blocks of 'b' expected afterwards
		transfer int
	}{
		{"EDTL 0", 1, 0, 0, 512},
		{"EDTL 200", 1, 200, 0, 512},
		{"EDTL one block of two", 2, 512, 1, 1024},
		{"EDTL two blocks for one", 1, 1024, 1, 512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fill('a')
			r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, Blocks: tt.blocks}), bytes.Repeat([]byte{'b'}, tt.out), 0)
			luWantGood(t, r)
			if r.Transfer != tt.transfer {
				t.Errorf("Transfer %d, want %d", r.Transfer, tt.transfer)
			}
			got := read2()
			want := append(bytes.Repeat([]byte{'b'}, 512*tt.wantB), bytes.Repeat([]byte{'a'}, 1024-512*tt.wantB)...)
			if !bytes.Equal(got, want) {
				t.Errorf("blocks after the write differ from %d block(s) of 'b' then 'a'", tt.wantB)
			}
		})
	}
	// A short Data-In buffer is never overrun.
	r, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, Blocks: 2}), nil, 700)
	luWantGood(t, r)
	if len(in) != 700 || r.Transfer != 1024 {
		t.Errorf("read %d bytes, Transfer %d; want 700, 1024", len(in), r.Transfer)
	}
}

func TestEngineUnmappedLUN(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	run := func(cdb []byte, inLen int) (Result, []byte) {
		tk := &Task{Ctx: context.Background(), View: luTestView{0: lu, 300: lu}, LUN: 7, CDB: cdb, DataIn: make([]byte, inLen)}
		r := e.Execute(tk)
		return r, tk.DataIn[:r.DataIn]
	}
	r, in := run(luCDB(t, &scsi.Inquiry{AllocationLength: 96}), 96)
	luWantGood(t, r)
	if len(in) < 36 || in[0] != 0x7f {
		t.Fatalf("INQUIRY byte 0 %#x (%d bytes), want 0x7f", in[0], len(in))
	}
	r, in = run(luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: 0, AllocationLength: 255}), 255)
	luWantGood(t, r)
	if !bytes.Equal(in, []byte{0x7f, 0, 0, 1, 0}) {
		t.Errorf("VPD 00h %x", in)
	}
	r, _ = run(luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: 0x83, AllocationLength: 255}), 255)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
	r, in = run(luCDB(t, &scsi.ReportLUNs{AllocationLength: 64}), 64)
	luWantGood(t, r)
	var d scsi.ReportLUNsData
	if err := d.UnmarshalBinary(in); err != nil || len(d.LUNs) != 2 || d.LUNs[0] != scsi.EncodeLUN(0) || d.LUNs[1] != scsi.EncodeLUN(300) {
		t.Errorf("REPORT LUNS %v, %v", d.LUNs, err)
	}
	r, in = run(luCDB(t, &scsi.RequestSense{AllocationLength: 252}), 252)
	luWantGood(t, r)
	if sd, err := scsi.ParseSense(in); err != nil || sd.Code() != scsi.SenseLUNotSupported || sd.Key != scsi.SenseKeyIllegalRequest {
		t.Errorf("REQUEST SENSE %v, %v", &sd, err)
	}
	for _, c := range []scsi.Command{&scsi.TestUnitReady{}, &scsi.Read{Op: scsi.OpRead10, Blocks: 1}, &scsi.PersistentReserveIn{AllocationLength: 8}} {
		r, _ = run(luCDB(t, c), 512)
		luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLUNotSupported)
	}
	r, _ = run([]byte{0xff, 0, 0, 0, 0, 0}, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLUNotSupported)
}

func TestEngineUnitAttentions(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	isid := iscsi.ISID{0x80, 0, 0, 1, 0, 1}
	a := NewNexus("iqn.2026-01.test:a", isid, "iqn.2026-01.test:tgt", 1)
	b := NewNexus("iqn.2026-01.test:b", isid, "iqn.2026-01.test:tgt", 1)
	tur := luCDB(t, &scsi.TestUnitReady{})
	inq := luCDB(t, &scsi.Inquiry{AllocationLength: 36})
	rs := luCDB(t, &scsi.RequestSense{AllocationLength: 18})

	// INQUIRY is not blocked and does not clear POWER ON.
	r, _ := luRun(e, lu, a, inq, nil, 36)
	luWantGood(t, r)
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SensePowerOnReset)
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantGood(t, r)

	// REQUEST SENSE reports the unit attention and clears it.
	r, in := luRun(e, lu, b, rs, nil, 18)
	luWantGood(t, r)
	if sd, _ := scsi.ParseSense(in); sd.Key != scsi.SenseKeyUnitAttention || sd.Code() != scsi.SensePowerOnReset {
		t.Fatalf("REQUEST SENSE %v, want POWER ON", &sd)
	}
	r, _ = luRun(e, lu, b, tur, nil, 0)
	luWantGood(t, r)

	// Resize: CAPACITY DATA HAS CHANGED for every nexus; a LUN reset
	// afterwards reports first (higher precedence).
	if err := lu.Resize(32 * 512); err != nil {
		t.Fatal(err)
	}
	lu.Reset(a)
	for _, n := range []*Nexus{a, b} {
		r, _ = luRun(e, lu, n, tur, nil, 0)
		luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SenseBusDeviceResetFunctionOccurred)
		r, _ = luRun(e, lu, n, tur, nil, 0)
		luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SenseCapacityDataHasChanged)
		r, _ = luRun(e, lu, n, tur, nil, 0)
		luWantGood(t, r)
	}
	if lu.Blocks() != 32 {
		t.Errorf("Blocks %d after resize, want 32", lu.Blocks())
	}

	// MODE SELECT on a: MODE PARAMETERS CHANGED on b only.
	ms := luModeSelectDSense(t, true)
	r, _ = luRun(e, lu, a, luCDB(t, &scsi.ModeSelect{Op: scsi.OpModeSelect6, PF: true, ParameterListLength: uint16(len(ms))}), ms, 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, b, tur, nil, 0)
	sd := luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SenseModeParametersChanged)
	if !sd.Descriptor {
		t.Error("sense after D_SENSE=1 is not in descriptor format")
	}

	// REPORTED LUNS DATA HAS CHANGED: reported once, REPORT LUNS clears it.
	a.ReportedLUNsChanged()
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantSense(t, r, scsi.SenseKeyUnitAttention, scsi.SenseReportedLUNsDataHasChanged)
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantGood(t, r)
	a.ReportedLUNsChanged()
	r, _ = luRun(e, lu, a, luCDB(t, &scsi.ReportLUNs{AllocationLength: 16}), nil, 16)
	luWantGood(t, r)
	r, _ = luRun(e, lu, a, tur, nil, 0)
	luWantGood(t, r)

	if got, want := a.InitiatorPort(), "iqn.2026-01.test:a,i,0x800000010001"; got != want {
		t.Errorf("InitiatorPort %q, want %q", got, want)
	}
	if a.Initiator() != "iqn.2026-01.test:a" || a.TargetPort() != "iqn.2026-01.test:tgt,t,0x0001" {
		t.Errorf("Initiator %q TargetPort %q", a.Initiator(), a.TargetPort())
	}
}

// luModeSelectDSense returns a MODE SELECT(6) parameter list setting the
// control page's D_SENSE.
func luModeSelectDSense(t *testing.T, dsense bool) []byte {
	t.Helper()
	d := scsi.ModeData{Pages: []scsi.ModePage{luControlPage(dsense)}}
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b[0] = 0 // MODE DATA LENGTH is reserved in MODE SELECT
	return b
}

func TestEngineCancelled(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tk := &Task{Ctx: ctx, View: luTestView{0: lu}, CDB: luCDB(t, &scsi.Read{Op: scsi.OpRead10, Blocks: 1}), DataIn: make([]byte, 512)}
	if r := e.Execute(tk); r.Status != scsi.StatusTaskAborted {
		t.Errorf("status %v, want TASK ABORTED", r.Status)
	}
}

func TestEngineReadOnly(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{ReadOnly: true, Thin: true})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	blk := make([]byte, 512)
	for _, c := range []struct {
		cdb scsi.Command
		out []byte
	}{
		{&scsi.Write{Op: scsi.OpWrite10, Blocks: 1}, blk},
		{&scsi.WriteSame{Op: scsi.OpWriteSame10, Blocks: 1}, blk},
		{&scsi.WriteAndVerify{Op: scsi.OpWriteAndVerify10, Blocks: 1}, blk},
		{&scsi.CompareAndWrite{Blocks: 1}, append(blk, blk...)},
		{&scsi.ORWrite{Blocks: 1}, blk},
		{&scsi.Unmap{ParameterListLength: 24}, make([]byte, 24)},
	} {
		r, _ := luRun(e, lu, n, luCDB(t, c.cdb), c.out, 0)
		luWantSense(t, r, scsi.SenseKeyDataProtect, scsi.SenseWriteProtected)
	}
	r, in := luRun(e, lu, n, luCDB(t, &scsi.ModeSense{Op: scsi.OpModeSense6, PageCode: scsi.ModePageCodeAll, AllocationLength: 255}), nil, 255)
	luWantGood(t, r)
	if in[2]&scsi.ModeDeviceSpecificWP == 0 {
		t.Error("WP clear in MODE SENSE of a read-only LU")
	}
}

// Quick names the commands that only read or set the logical unit's state
// in memory; everything that reaches the backend, changes persistent
// state or is unknown runs on a task worker.
func TestEngineQuick(t *testing.T) {
	var e Engine
	for _, tc := range []struct {
		name  string
		cdb   []byte
		quick bool
	}{
		{"TEST UNIT READY", []byte{0x00, 0, 0, 0, 0, 0}, true},
		{"REQUEST SENSE", []byte{0x03, 0, 0, 0, 18, 0}, true},
		{"INQUIRY", []byte{0x12, 0, 0, 0, 36, 0}, true},
		{"INQUIRY VPD 0x83", []byte{0x12, 1, 0x83, 0, 255, 0}, true},
		{"MODE SENSE(6)", []byte{0x1a, 0, 0x3f, 0, 255, 0}, true},
		{"MODE SENSE(10)", []byte{0x5a, 0, 0x3f, 0, 0, 0, 0, 1, 0, 0}, true},
		{"READ CAPACITY(10)", []byte{0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, true},
		{"READ CAPACITY(16)", []byte{0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, true},
		{"REPORT LUNS", []byte{0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, true},
		{"REPORT SUPPORTED OPERATION CODES", []byte{0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}, true},
		{"REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", []byte{0xa3, 0x0d, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0}, true},
		{"READ(10)", []byte{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, false},
		{"WRITE(10)", []byte{0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, false},
		{"SYNCHRONIZE CACHE(10)", []byte{0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false},
		{"MODE SELECT(6)", []byte{0x15, 0x10, 0, 0, 24, 0}, false},
		{"GET LBA STATUS", []byte{0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, false},
		{"PERSISTENT RESERVE IN", []byte{0x5e, 0, 0, 0, 0, 0, 0, 0, 255, 0}, false},
		{"PERSISTENT RESERVE OUT", []byte{0x5f, 0, 0, 0, 0, 0, 0, 0, 24, 0}, false},
		{"unknown operation code", []byte{0xff, 0, 0, 0, 0, 0}, false},
		{"service action without its byte", []byte{0x9e}, false},
		{"empty", nil, false},
	} {
		if got := e.Quick(tc.cdb); got != tc.quick {
			t.Errorf("%s: Quick = %v, want %v", tc.name, got, tc.quick)
		}
	}
}
