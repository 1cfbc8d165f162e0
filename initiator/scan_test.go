package initiator

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

func TestRescan(t *testing.T) {
	tests := []struct {
		name string
		luns []uint64
	}{
		{"none", nil},
		{"one", []uint64{0}},
		{"several", []uint64{0, 1, 7, 42}},
		{"no LUN 0", []uint64{3, 9}},
		// More than the first REPORT LUNS allocation length holds, and
		// LUNs in flat space addressing.
		{"many", func() []uint64 {
			var l []uint64
			for i := range uint64(300) {
				l = append(l, i*3)
			}
			return l
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newDiskEngine()
			for i, n := range tt.luns {
				x.mapLU(n, diskNewLU(t, i, int64(4096*(i+1)), 512))
			}
			infos, err := Rescan(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != len(tt.luns) {
				t.Fatalf("%d disks, want %d", len(infos), len(tt.luns))
			}
			for i, info := range infos {
				want := DiskInfo{
					LUN: tt.luns[i], WWN: diskWWN(i), Serial: diskNewLUSerial(i),
					Vendor: info.Vendor, Product: info.Product, Revision: info.Revision,
					Size: int64(4096 * (i + 1)), BlockSize: 512, DeviceType: scsi.InquiryDeviceDirectAccess,
				}
				if info != want {
					t.Errorf("disk %d = %+v, want %+v", i, info, want)
				}
				if info.Vendor == "" || info.Product == "" {
					t.Errorf("disk %d has no INQUIRY strings: %+v", i, info)
				}
			}
		})
	}
}

// diskNewLUSerial is the serial number diskNewLU's LU i reports.
func diskNewLUSerial(i int) string {
	return "SER" + string(rune('0'+i/1000%10)) + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestRescanLUNGoneDuringScan(t *testing.T) {
	x := newDiskEngine()
	for i := range 3 {
		x.mapLU(uint64(i), diskNewLU(t, i, 4096, 512))
	}
	// LUN 1 is unmapped after REPORT LUNS listed it: its INQUIRY answers
	// with peripheral qualifier 011b and the scan leaves it out.
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpInquiry) && cmd.LUN == 1 {
			x.unmapLU(1)
		}
		return nil
	}
	infos, err := Rescan(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].LUN != 0 || infos[1].LUN != 2 {
		t.Errorf("disks = %+v, want LUNs 0 and 2", infos)
	}
}

func TestRescanTransportError(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	lost := errors.New("connection lost")
	for _, op := range []scsi.OpCode{scsi.OpReportLUNs, scsi.OpInquiry, scsi.OpServiceActionIn16} {
		x.fail = func(cmd *Command) error {
			if cmd.CDB[0] == byte(op) {
				return lost
			}
			return nil
		}
		if _, err := Rescan(context.Background(), x); !errors.Is(err, lost) {
			t.Errorf("Rescan with %v failing = %v, want the transport error", op, err)
		}
	}
}

func TestReadCapacity10Fallback(t *testing.T) {
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 1<<20, 512))
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpServiceActionIn16) {
			return scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode)
		}
		return nil
	}
	d, err := OpenDisk(context.Background(), x, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 1<<20 || d.BlockSize() != 512 {
		t.Errorf("capacity = %d, %d; want 1 MiB of 512-byte blocks", d.Size(), d.BlockSize())
	}
}

func TestRescanNoVPD(t *testing.T) {
	// A unit that refuses every VPD page still scans, with no WWN or
	// serial.
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpInquiry) && cmd.CDB[1]&1 != 0 {
			return scsi.InvalidFieldInCDB(2, -1)
		}
		return nil
	}
	infos, err := Rescan(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].WWN != "" || infos[0].Serial != "" || infos[0].Size != 4096 {
		t.Errorf("disks = %+v", infos)
	}
}

func TestScanWWN(t *testing.T) {
	naa, err := scsi.ParseNAA("naa.6C756E0000000000000000000000ABCD")
	if err != nil {
		t.Fatal(err)
	}
	t10, err := scsi.VPDT10VendorIDDesignator("LUNAR", "SER  42")
	if err != nil {
		t.Fatal(err)
	}
	eui := scsi.VPDDesignator{CodeSet: scsi.VPDCodeSetBinary, Association: scsi.VPDAssocLU, Type: scsi.VPDDesigEUI64, Designator: []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}}
	port := scsi.VPDRelativeTargetPortDesignator(1)
	tests := []struct {
		name  string
		desig []scsi.VPDDesignator
		want  string
	}{
		{"naa first", []scsi.VPDDesignator{port, t10, eui, scsi.VPDNAADesignator(naa)}, "naa.6c756e0000000000000000000000abcd"},
		{"eui", []scsi.VPDDesignator{t10, eui}, "eui.0011223344556677"},
		{"t10", []scsi.VPDDesignator{port, t10}, "t10.LUNAR SER 42"},
		{"none", []scsi.VPDDesignator{port}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &scsi.VPDDeviceIdentification{Designators: tt.desig}
			if got := scanWWN(p); got != tt.want {
				t.Errorf("scanWWN = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOpenDiskNotDisk(t *testing.T) {
	// INQUIRY data of an enclosure: OpenDisk refuses it, Rescan lists it
	// with no capacity.
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4096, 512))
	ex := &diskDeviceType{Executor: x, typ: scsi.InquiryDeviceEnclosure}
	if _, err := OpenDisk(context.Background(), ex, 0); !errors.Is(err, ErrNotDisk) {
		t.Errorf("OpenDisk = %v, want ErrNotDisk", err)
	}
	infos, err := Rescan(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].IsDisk() || infos[0].Size != 0 {
		t.Errorf("disks = %+v, want one enclosure without capacity", infos)
	}
}

// diskDeviceType rewrites the peripheral device type of INQUIRY data.
type diskDeviceType struct {
	Executor
	typ uint8
}

// Execute runs cmd and patches byte 0 of INQUIRY data.
func (e *diskDeviceType) Execute(ctx context.Context, cmd *Command) (Response, error) {
	r, err := e.Executor.Execute(ctx, cmd)
	if err == nil && cmd.CDB[0] == byte(scsi.OpInquiry) && r.DataIn > 0 {
		cmd.DataIn[0] = cmd.DataIn[0]&0xe0 | e.typ
	}
	return r, err
}

// scanFuzzTarget answers every command from a script of bytes: per
// command one selector byte (GOOD, CHECK CONDITION, BUSY), a 16-bit
// length, then that many bytes of Data-In (or sense data).
type scanFuzzTarget struct {
	script []byte
	calls  int
}

// Execute answers cmd from the script; an exhausted script answers BUSY.
func (f *scanFuzzTarget) Execute(ctx context.Context, cmd *Command) (Response, error) {
	f.calls++
	if len(f.script) < 3 || f.calls > 1000 {
		return Response{Status: scsi.StatusBusy}, &StatusError{Status: scsi.StatusBusy}
	}
	sel, n := f.script[0], int(f.script[1])<<8|int(f.script[2])
	f.script = f.script[3:]
	n = min(n, len(f.script))
	data := f.script[:n]
	f.script = f.script[n:]
	switch sel % 3 {
	case 0:
		k := copy(cmd.DataIn, data)
		return Response{Status: scsi.StatusGood, DataIn: k, Residual: int64(len(cmd.DataIn) - k)}, nil
	case 1:
		sd, err := scsi.ParseSense(data)
		if err != nil {
			return Response{Status: scsi.StatusCheckCondition}, err
		}
		return Response{Status: scsi.StatusCheckCondition, Sense: data}, sd.AsError()
	}
	return Response{Status: scsi.StatusBusy}, &StatusError{Status: scsi.StatusBusy}
}

// scanFuzzScript builds a script from (selector, data) answers.
func scanFuzzScript(answers ...[]byte) []byte {
	var b []byte
	for i := 0; i+1 < len(answers); i += 2 {
		b = append(b, answers[i][0], byte(len(answers[i+1])>>8), byte(len(answers[i+1])))
		b = append(b, answers[i+1]...)
	}
	return b
}

// FuzzScanResponses feeds arbitrary answers to Rescan and OpenDisk: the
// disk layer decodes INQUIRY, VPD, REPORT LUNS and READ CAPACITY data
// from the target and must never panic on them.
func FuzzScanResponses(f *testing.F) {
	// Seed with the answers of lunar's engine for one LU.
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(f, 0, 4096, 512))
	rec := &scanRecorder{Executor: x}
	if _, err := Rescan(context.Background(), rec); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.script)
	rec.script = nil
	if _, err := OpenDisk(context.Background(), rec, 0); err != nil {
		f.Fatal(err)
	}
	f.Add(rec.script)
	ua := scsi.UnitAttention(scsi.SenseReportedLUNsDataHasChanged).SenseData()
	f.Add(scanFuzzScript([]byte{1}, ua.MarshalFixed(), []byte{0}, []byte{0, 0, 0, 8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}))
	f.Add(scanFuzzScript([]byte{0}, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, script []byte) {
		ctx := context.Background()
		infos, _ := Rescan(ctx, &scanFuzzTarget{script: script})
		for _, i := range infos {
			if i.Size < 0 || i.BlockSize < 0 {
				t.Fatalf("negative geometry: %+v", i)
			}
		}
		d, err := OpenDisk(ctx, &scanFuzzTarget{script: script}, 0)
		if err == nil {
			if d.Size() < 0 || d.BlockSize() <= 0 {
				t.Fatalf("bad geometry: %d bytes, %d-byte blocks", d.Size(), d.BlockSize())
			}
			buf := make([]byte, min(d.BlockSize()*4, 1<<16))
			d.ReadAt(buf, 0)
		}
	})
}

// scanRecorder records the answers of an Executor as a scanFuzzTarget
// script.
type scanRecorder struct {
	Executor
	script []byte
}

// Execute runs cmd and records its answer.
func (r *scanRecorder) Execute(ctx context.Context, cmd *Command) (Response, error) {
	resp, err := r.Executor.Execute(ctx, cmd)
	switch {
	case err == nil:
		r.script = append(r.script, scanFuzzScript([]byte{0}, cmd.DataIn[:resp.DataIn])...)
	case resp.Status == scsi.StatusCheckCondition:
		r.script = append(r.script, scanFuzzScript([]byte{1}, resp.Sense)...)
	default:
		r.script = append(r.script, scanFuzzScript([]byte{2}, nil)...)
	}
	return resp, err
}

// TestRescanBatchOneWrite checks that a scan sends a LUN's identification
// commands (INQUIRY, four VPD pages, TEST UNIT READY, READ CAPACITY) in one
// write after REPORT LUNS.
func TestRescanBatchOneWrite(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:scan-write"
	e := diskE2EStart(t)
	e.createLUN(t, "w0", 1<<20, initiator, 0)
	for round := range 5 {
		s := e.dial(t, initiator)
		writes := pipelineWrites(s)
		infos, err := Rescan(pipelineSlowCtx{context.Background()}, s)
		if err != nil || len(infos) != 1 || infos[0].Size != 1<<20 {
			t.Fatalf("round %d: Rescan = %+v, %v", round, infos, err)
		}
		// The writer goroutine may record REPORT LUNS's write after the
		// batch's (written by the scan's goroutine): the order is not
		// checked.
		if got := writes(); !slices.Contains(got, 7) {
			t.Fatalf("round %d: writes of %v PDUs, want the 7 commands of the LUN in one", round, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// RescanExpecting finds what Rescan finds, whatever the LUN it expects;
// when that LUN is the only one, the whole scan is one write: REPORT LUNS
// and the LUN's seven identification commands.
func TestRescanExpecting(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:scan-expect"
	e := diskE2EStart(t)
	e.createLUN(t, "x3", 1<<20, initiator, 3)
	s := e.dial(t, initiator)
	ctx := pipelineSlowCtx{context.Background()}
	for round := range 3 {
		writes := pipelineWrites(s)
		infos, err := RescanExpecting(ctx, s, 3)
		if err != nil || len(infos) != 1 || infos[0].LUN != 3 || infos[0].Size != 1<<20 || infos[0].WWN == "" {
			t.Fatalf("round %d: RescanExpecting = %+v, %v", round, infos, err)
		}
		if got := writes(); !slices.Equal(got, []int{8}) {
			t.Fatalf("round %d: writes of %v PDUs, want one of 8", round, got)
		}
	}

	e.createLUN(t, "x5", 2<<20, initiator, 5)
	want, err := Rescan(context.Background(), s)
	if err != nil || len(want) != 2 {
		t.Fatalf("Rescan = %+v, %v", want, err)
	}
	for _, lun := range []uint64{3, 5, 9} {
		got, err := RescanExpecting(context.Background(), s, lun)
		if err != nil {
			t.Fatalf("expecting LUN %d: %v", lun, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("expecting LUN %d: %+v, want Rescan's %+v", lun, got, want)
		}
	}
}
