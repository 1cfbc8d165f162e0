package target

import (
	"context"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// luBenchTask returns a 4 KiB READ(10) or WRITE(10) task on an in-memory
// logical unit whose unit attentions are consumed.
func luBenchTask(b *testing.B, write bool) (*Engine, *Task) {
	b.Helper()
	e := &Engine{}
	lu := luTestLU(b, "mem", 1<<14, LUConfig{BlockSize: 4096})
	n := NewNexus("iqn.2026-01.test:bench", iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 1)
	view := luTestView{0: lu}
	tur := &Task{Ctx: context.Background(), Nexus: n, View: view, CDB: luCDB(b, &scsi.TestUnitReady{})}
	e.Execute(tur) // POWER ON
	t := &Task{Ctx: context.Background(), Nexus: n, View: view, ExpectedDataTransferLength: 4096}
	if write {
		t.CDB = luCDB(b, &scsi.Write{Op: scsi.OpWrite10, LBA: 8, Blocks: 1})
		t.DataOut = make([]byte, 4096)
	} else {
		t.CDB = luCDB(b, &scsi.Read{Op: scsi.OpRead10, LBA: 8, Blocks: 1})
		t.DataIn = make([]byte, 4096)
	}
	if r := e.Execute(t); r.Status != scsi.StatusGood {
		b.Fatalf("status %v", r.Status)
	}
	return e, t
}

func BenchmarkEngineRead4K(b *testing.B) {
	e, t := luBenchTask(b, false)
	b.ReportAllocs()
	b.SetBytes(4096)
	for b.Loop() {
		if r := e.Execute(t); r.Status != scsi.StatusGood {
			b.Fatalf("status %v", r.Status)
		}
	}
}

func BenchmarkEngineWrite4K(b *testing.B) {
	e, t := luBenchTask(b, true)
	b.ReportAllocs()
	b.SetBytes(4096)
	for b.Loop() {
		if r := e.Execute(t); r.Status != scsi.StatusGood {
			b.Fatalf("status %v", r.Status)
		}
	}
}

// TestEngineReadWriteNoAllocs is the benchmarks' claim as a test: the
// READ/WRITE path allocates nothing per command.
func TestEngineReadWriteNoAllocs(t *testing.T) {
	for _, write := range []bool{false, true} {
		res := testing.Benchmark(func(b *testing.B) {
			e, tk := luBenchTask(b, write)
			b.ReportAllocs()
			for b.Loop() {
				e.Execute(tk)
			}
		})
		if a := res.AllocsPerOp(); a != 0 {
			t.Errorf("write=%v: %d allocations per command, want 0", write, a)
		}
	}
}

// FuzzEngineExecute runs arbitrary CDBs and data against a thin logical
// unit: Execute must never panic, never report more Data-In than the
// buffer, and always return sense data with CHECK CONDITION.
func FuzzEngineExecute(f *testing.F) {
	seeds := []scsi.Command{
		&scsi.TestUnitReady{}, &scsi.Inquiry{AllocationLength: 96}, &scsi.Inquiry{EVPD: true, PageCode: 0x83, AllocationLength: 255},
		&scsi.Read{Op: scsi.OpRead10, LBA: 1, Blocks: 2}, &scsi.Write{Op: scsi.OpWrite16, LBA: 3, Blocks: 1},
		&scsi.WriteSame{Op: scsi.OpWriteSame16, Unmap: true, NDOB: true, Blocks: 4}, &scsi.Unmap{ParameterListLength: 24},
		&scsi.CompareAndWrite{LBA: 2, Blocks: 1}, &scsi.ORWrite{LBA: 1, Blocks: 1}, &scsi.Verify{Op: scsi.OpVerify10, ByteCheck: 1, Blocks: 1},
		&scsi.ModeSense{Op: scsi.OpModeSense10, PageCode: 0x3f, SubpageCode: 0xff, AllocationLength: 512},
		&scsi.ModeSelect{Op: scsi.OpModeSelect6, PF: true, ParameterListLength: 16}, &scsi.GetLBAStatus{AllocationLength: 64},
		&scsi.ReportSupportedOperationCodes{AllocationLength: 1024}, &scsi.ReportLUNs{AllocationLength: 64},
		&scsi.ReadCapacity16{AllocationLength: 32}, &scsi.RequestSense{AllocationLength: 252},
	}
	for _, c := range seeds {
		cdb, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cdb, make([]byte, 1024), uint16(512), uint64(0))
	}
	e := &Engine{}
	lu := luTestLU(f, "mem", 16, LUConfig{Thin: true})
	n := NewNexus("iqn.2026-01.test:fuzz", iscsi.ISID{}, "iqn.2026-01.test:tgt", 1)
	view := luTestView{0: lu}
	f.Fuzz(func(t *testing.T, cdb, out []byte, inLen uint16, lun uint64) {
		tk := &Task{Ctx: context.Background(), Nexus: n, View: view, LUN: lun % 2, CDB: cdb, DataOut: out,
			ExpectedDataTransferLength: uint32(max(len(out), int(inLen))), DataIn: make([]byte, inLen)}
		r := e.Execute(tk)
		if r.DataIn < 0 || r.DataIn > len(tk.DataIn) {
			t.Fatalf("DataIn %d with a %d-byte buffer", r.DataIn, len(tk.DataIn))
		}
		if r.Status == scsi.StatusCheckCondition {
			if _, err := scsi.ParseSense(r.Sense); err != nil {
				t.Fatalf("sense %x: %v", r.Sense, err)
			}
		}
	})
}
