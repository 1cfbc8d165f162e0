package target

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

func TestSBCCompareAndWrite(t *testing.T) {
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, 16, LUConfig{})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			old := bytes.Repeat([]byte{1}, 1024)
			r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 2, Blocks: 2}), old, 0)
			luWantGood(t, r)
			caw := luCDB(t, &scsi.CompareAndWrite{LBA: 2, Blocks: 2})
			nw := bytes.Repeat([]byte{2}, 1024)

			// Miscompare: INFORMATION is the offset of the first byte
			// that differs; nothing is written.
			verify := bytes.Clone(old)
			verify[700] = 9
			r, _ = luRun(e, lu, n, caw, append(bytes.Clone(verify), nw...), 0)
			sd := luWantSense(t, r, scsi.SenseKeyMiscompare, scsi.SenseMiscompareDuringVerify)
			if !sd.InformationValid || sd.Information != 700 {
				t.Errorf("INFORMATION %d (valid %v), want 700", sd.Information, sd.InformationValid)
			}
			_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 2, Blocks: 2}), nil, 1024)
			if !bytes.Equal(in, old) {
				t.Fatal("blocks changed by a miscompare")
			}
			// Match: written.
			r, _ = luRun(e, lu, n, caw, append(bytes.Clone(old), nw...), 0)
			luWantGood(t, r)
			if r.Transfer != 2048 {
				t.Errorf("Transfer %d, want 2048", r.Transfer)
			}
			_, in = luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 2, Blocks: 2}), nil, 1024)
			if !bytes.Equal(in, nw) {
				t.Fatal("blocks not written after a match")
			}
			// Data-Out of the wrong size (libiscsi InvalidDataOutSize).
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 2, Blocks: 1}), append(bytes.Clone(nw), nw...), 0)
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 15, Blocks: 2}), make([]byte, 2048), 0)
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 2, Blocks: 0}), nil, 0)
			luWantGood(t, r)
		})
	}
}

// TestSBCCompareAndWriteAtomic has goroutines increment a counter in one
// block with COMPARE AND WRITE (retrying on MISCOMPARE) while others
// overwrite the neighbouring blocks: no increment may be lost.
func TestSBCCompareAndWriteAtomic(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	const workers, each = 4, 50
	counter := func(v uint64) []byte {
		b := make([]byte, 512)
		binary.BigEndian.PutUint64(b, v)
		return b
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for done := 0; done < each; {
				r, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 5, Blocks: 1}), nil, 512)
				if r.Status != scsi.StatusGood {
					t.Errorf("read: %v", r.Status)
					return
				}
				v := binary.BigEndian.Uint64(in)
				r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 5, Blocks: 1}), append(counter(v), counter(v+1)...), 0)
				if r.Status == scsi.StatusGood {
					done++
				}
			}
		})
		wg.Go(func() {
			for i := range each {
				// Blocks 4 and 6, around the counter: a write spanning
				// them must not disturb it.
				r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 6, Blocks: 2}), bytes.Repeat([]byte{byte(i)}, 1024), 0)
				r2, _ := luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame10, LBA: 3, Blocks: 2}), bytes.Repeat([]byte{byte(i)}, 512), 0)
				if r.Status != scsi.StatusGood || r2.Status != scsi.StatusGood {
					t.Errorf("write: %v %v", r.Status, r2.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 5, Blocks: 1}), nil, 512)
	if got := binary.BigEndian.Uint64(in); got != workers*each {
		t.Errorf("counter %d after %d increments", got, workers*each)
	}
}

func TestSBCUnmapAndLBAStatus(t *testing.T) {
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, 64, LUConfig{Thin: true, BlockSize: 4096})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 0, Blocks: 16}), bytes.Repeat([]byte{0xee}, 16*4096), 0)
			luWantGood(t, r)
			list := func(ds ...scsi.UnmapBlockDescriptor) []byte {
				l := scsi.UnmapParameterList{Descriptors: ds}
				b, err := l.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			pl := list(scsi.UnmapBlockDescriptor{LBA: 4, Blocks: 4})
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Unmap{ParameterListLength: uint16(len(pl))}), pl, 0)
			luWantGood(t, r)
			_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 3, Blocks: 6}), nil, 6*4096)
			want := append(append(bytes.Repeat([]byte{0xee}, 4096), make([]byte, 4*4096)...), bytes.Repeat([]byte{0xee}, 4096)...)
			if !bytes.Equal(in, want) {
				t.Fatal("unmapped blocks do not read back as zeros")
			}
			r, in = luRun(e, lu, n, luCDB(t, &scsi.GetLBAStatus{LBA: 4, AllocationLength: 24}), nil, 24)
			luWantGood(t, r)
			var d scsi.LBAStatusData
			if err := d.UnmarshalBinary(in); err != nil || len(d.Descriptors) != 1 {
				t.Fatalf("GET LBA STATUS %x: %v", in, err)
			}
			wantStatus := scsi.ProvisioningDeallocated
			if kind == "mem" {
				wantStatus = scsi.ProvisioningMapped // memory does not track holes
			}
			if got := d.Descriptors[0]; got.LBA != 4 || got.Status != wantStatus || (kind == "file" && got.Blocks != 4) {
				t.Errorf("descriptor %+v, want LBA 4 status %v", got, wantStatus)
			}
			r, in = luRun(e, lu, n, luCDB(t, &scsi.GetLBAStatus{LBA: 8, AllocationLength: 24}), nil, 24)
			luWantGood(t, r)
			if d.UnmarshalBinary(in) != nil || d.Descriptors[0].LBA != 8 || d.Descriptors[0].Status != scsi.ProvisioningMapped {
				t.Errorf("LBA 8: %+v, want mapped", d.Descriptors)
			}
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.GetLBAStatus{LBA: 64, AllocationLength: 24}), nil, 24)
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)

			bad := []struct {
				name string
				pl   []byte
				pll  uint16
				code scsi.SenseCode
			}{
				{"beyond end", list(scsi.UnmapBlockDescriptor{LBA: 60, Blocks: 5}), 0, scsi.SenseLBAOutOfRange},
				{"short list", []byte{0, 6, 0, 0}, 4, scsi.SenseParameterListLengthError},
				{"too many blocks", list(scsi.UnmapBlockDescriptor{LBA: 0, Blocks: sbcMaxUnmapBlocks + 1}), 0, scsi.SenseInvalidFieldInParameterList},
			}
			for _, tt := range bad {
				pll := tt.pll
				if pll == 0 {
					pll = uint16(len(tt.pl))
				}
				r, _ = luRun(e, lu, n, luCDB(t, &scsi.Unmap{ParameterListLength: pll}), tt.pl, 0)
				if tt.code == scsi.SenseLBAOutOfRange {
					luWantSense(t, r, scsi.SenseKeyIllegalRequest, tt.code)
					continue
				}
				luWantSense(t, r, scsi.SenseKeyIllegalRequest, tt.code)
			}
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Unmap{}), nil, 0)
			luWantGood(t, r)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.Unmap{Anchor: true, ParameterListLength: 24}), pl, 0)
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
		})
	}
}

func TestSBCUnmapThick(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	r, _ := luRun(e, lu, n, luCDB(t, &scsi.Unmap{ParameterListLength: 24}), make([]byte, 24), 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidCommandOperationCode)
}

func TestSBCWriteSame(t *testing.T) {
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, 32, LUConfig{Thin: true})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			blk := bytes.Repeat([]byte{0x5a}, 512)
			readAll := func() []byte {
				_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, Blocks: 32}), nil, 32*512)
				return in
			}
			r, _ := luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame10, LBA: 2, Blocks: 3}), blk, 0)
			luWantGood(t, r)
			got := readAll()
			if !bytes.Equal(got[2*512:5*512], bytes.Repeat(blk, 3)) || !bytes.Equal(got[:1024], make([]byte, 1024)) {
				t.Fatal("WRITE SAME did not write blocks 2-4 only")
			}
			// Zero blocks: to the end of the LU.
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame16, LBA: 20, Blocks: 0}), blk, 0)
			luWantGood(t, r)
			if got := readAll(); !bytes.Equal(got[20*512:], bytes.Repeat(blk, 12)) {
				t.Fatal("WRITE SAME with zero blocks did not write to the end")
			}
			// UNMAP with zeros deallocates; NDOB too.
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame10, Unmap: true, LBA: 2, Blocks: 3}), make([]byte, 512), 0)
			luWantGood(t, r)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame16, Unmap: true, NDOB: true, LBA: 20, Blocks: 12}), nil, 0)
			luWantGood(t, r)
			if got := readAll(); !bytes.Equal(got, make([]byte, 32*512)) {
				t.Fatal("WRITE SAME UNMAP / NDOB left data behind")
			}
			bad := []struct {
				name string
				cdb  scsi.Command
				out  []byte
				code scsi.SenseCode
			}{
				{"half a block", &scsi.WriteSame{Op: scsi.OpWriteSame10, Blocks: 1}, blk[:256], scsi.SenseInvalidFieldInCDB},
				{"two blocks", &scsi.WriteSame{Op: scsi.OpWriteSame10, Blocks: 1}, append(bytes.Clone(blk), blk...), scsi.SenseInvalidFieldInCDB},
				{"beyond end", &scsi.WriteSame{Op: scsi.OpWriteSame10, LBA: 31, Blocks: 2}, blk, scsi.SenseLBAOutOfRange},
				{"zero blocks past end", &scsi.WriteSame{Op: scsi.OpWriteSame10, LBA: 33}, blk, scsi.SenseLBAOutOfRange},
				{"anchor", &scsi.WriteSame{Op: scsi.OpWriteSame10, Anchor: true, Unmap: true, Blocks: 1}, blk, scsi.SenseInvalidFieldInCDB},
				{"wrprotect", &scsi.WriteSame{Op: scsi.OpWriteSame10, WRProtect: 1, Blocks: 1}, blk, scsi.SenseInvalidFieldInCDB},
			}
			for _, tt := range bad {
				r, _ = luRun(e, lu, n, luCDB(t, tt.cdb), tt.out, 0)
				luWantSense(t, r, scsi.SenseKeyIllegalRequest, tt.code)
			}
		})
	}
}

func TestSBCSync(t *testing.T) {
	tests := []struct {
		name      string
		wcd       bool
		cdb       scsi.Command
		out       int
		wantSyncs int64
	}{
		{"write", false, &scsi.Write{Op: scsi.OpWrite10, Blocks: 1}, 512, 0},
		{"write FUA", false, &scsi.Write{Op: scsi.OpWrite10, FUA: true, Blocks: 1}, 512, 1},
		{"write cache disabled", true, &scsi.Write{Op: scsi.OpWrite10, Blocks: 1}, 512, 1},
		{"synchronize cache 10", false, &scsi.SynchronizeCache{Op: scsi.OpSynchronizeCache10}, 0, 1},
		{"synchronize cache 16", false, &scsi.SynchronizeCache{Op: scsi.OpSynchronizeCache16, LBA: 3, Blocks: 2}, 0, 1},
		{"write and verify", false, &scsi.WriteAndVerify{Op: scsi.OpWriteAndVerify10, Blocks: 1}, 512, 1},
		{"compare and write FUA", false, &scsi.CompareAndWrite{FUA: true, Blocks: 1}, 1024, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{}
			b := &luSyncCounter{Backend: NewMemBackend(16 * 512)}
			lu := luTestLU(t, "mem", 16, LUConfig{Backend: b, WriteCacheDisabled: tt.wcd})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			r, _ := luRun(e, lu, n, luCDB(t, tt.cdb), make([]byte, tt.out), 0)
			luWantGood(t, r)
			if got := b.syncs.Load(); got != tt.wantSyncs {
				t.Errorf("%d syncs, want %d", got, tt.wantSyncs)
			}
		})
	}
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	r, _ := luRun(e, lu, n, luCDB(t, &scsi.SynchronizeCache{Op: scsi.OpSynchronizeCache10, LBA: 17}), nil, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
}

func TestSBCVerifyORWrite(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "file", 16, LUConfig{})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	data := bytes.Repeat([]byte{0x0f}, 1024)
	r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 1, Blocks: 2}), data, 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify10, ByteCheck: 1, LBA: 1, Blocks: 2}), data, 0)
	luWantGood(t, r)
	bad := bytes.Clone(data)
	bad[600] = 0
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify16, ByteCheck: 1, LBA: 1, Blocks: 2}), bad, 0)
	if sd := luWantSense(t, r, scsi.SenseKeyMiscompare, scsi.SenseMiscompareDuringVerify); sd.Information != 600 {
		t.Errorf("INFORMATION %d, want 600", sd.Information)
	}
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify10, ByteCheck: 3, LBA: 1, Blocks: 2}), data[:512], 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify10, LBA: 1, Blocks: 2}), nil, 0)
	luWantGood(t, r)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify10, LBA: 16, Blocks: 1}), nil, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Verify{Op: scsi.OpVerify10, VRProtect: 1, Blocks: 1}), nil, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)

	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ORWrite{LBA: 1, Blocks: 2}), bytes.Repeat([]byte{0xf0}, 1024), 0)
	luWantGood(t, r)
	_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 1, Blocks: 2}), nil, 1024)
	if !bytes.Equal(in, bytes.Repeat([]byte{0xff}, 1024)) {
		t.Error("ORWRITE did not OR the data")
	}
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.ORWrite{LBA: 15, Blocks: 2}), make([]byte, 1024), 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
}

func TestSBCMisc(t *testing.T) {
	e := &Engine{}
	lu := luTestLU(t, "mem", 16, LUConfig{Thin: true, BlockSize: 4096})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
	r, in := luRun(e, lu, n, luCDB(t, &scsi.ReadCapacity10{}), nil, 8)
	luWantGood(t, r)
	if !bytes.Equal(in, []byte{0, 0, 0, 15, 0, 0, 0x10, 0}) {
		t.Errorf("READ CAPACITY(10) %x", in)
	}
	r, in = luRun(e, lu, n, luCDB(t, &scsi.ReadCapacity16{AllocationLength: 32}), nil, 32)
	luWantGood(t, r)
	var rc scsi.ReadCapacity16Data
	if err := rc.UnmarshalBinary(in); err != nil || rc.LastLBA != 15 || rc.BlockLength != 4096 || !rc.LBPME || !rc.LBPRZ {
		t.Errorf("READ CAPACITY(16) %+v %v", rc, err)
	}
	r, in = luRun(e, lu, n, luCDB(t, &scsi.ReadCapacity16{AllocationLength: 12}), nil, 32)
	luWantGood(t, r)
	if len(in) != 12 || r.Transfer != 12 {
		t.Errorf("READ CAPACITY(16) alloc 12: %d bytes, Transfer %d", len(in), r.Transfer)
	}
	good := []scsi.Command{
		&scsi.PreFetch{Op: scsi.OpPreFetch10, LBA: 2, Blocks: 3},
		&scsi.PreFetch{Op: scsi.OpPreFetch16, LBA: 2},
		&scsi.StartStopUnit{Start: true},
		&scsi.StartStopUnit{},
		&scsi.StartStopUnit{Immed: true, PowerCondition: 2},
		&scsi.PreventAllowMediumRemoval{Prevent: 1},
		&scsi.PreventAllowMediumRemoval{},
		&scsi.TestUnitReady{},
	}
	for _, c := range good {
		r, _ := luRun(e, lu, n, luCDB(t, c), nil, 0)
		luWantGood(t, r)
	}
	bad := []struct {
		cdb  scsi.Command
		code scsi.SenseCode
	}{
		{&scsi.PreFetch{Op: scsi.OpPreFetch10, LBA: 15, Blocks: 2}, scsi.SenseLBAOutOfRange},
		{&scsi.StartStopUnit{LoEj: true}, scsi.SenseInvalidFieldInCDB},
		{&scsi.PreventAllowMediumRemoval{Prevent: 2}, scsi.SenseInvalidFieldInCDB},
		// Reservations: pr_test.go, reserve_test.go.
		{&scsi.PersistentReserveOut{ParameterListLength: 24}, scsi.SenseParameterListLengthError},
	}
	for _, tt := range bad {
		r, _ := luRun(e, lu, n, luCDB(t, tt.cdb), nil, 0)
		luWantSense(t, r, scsi.SenseKeyIllegalRequest, tt.code)
	}
	// An unknown service action of SERVICE ACTION IN(16).
	r, _ = luRun(e, lu, n, []byte{0x9e, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, 0)
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
}

// TestSBCCompareAndWriteZeroBlocksWithData reproduces libiscsi's
// CompareAndWrite.Simple and .Miscompare at 256 blocks, one more than the
// MAXIMUM COMPARE AND WRITE LENGTH: the one-byte NUMBER OF LOGICAL BLOCKS
// wraps to zero while the initiator sends 512 blocks of Data-Out. The
// data disagrees with the CDB, so the command is refused with INVALID
// FIELD IN CDB pointing at NUMBER OF LOGICAL BLOCKS, and nothing is
// written; zero blocks without data stays GOOD.
func TestSBCCompareAndWriteZeroBlocksWithData(t *testing.T) {
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, 1024, LUConfig{})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			old := bytes.Repeat([]byte{'A'}, 256*512)
			r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite16, LBA: 0, Blocks: 256}), old, 0)
			luWantGood(t, r)
			out := append(bytes.Clone(old), bytes.Repeat([]byte{'B'}, 256*512)...)
			for _, lba := range []uint64{0, 1024 - 256} {
				cdb := luCDB(t, &scsi.CompareAndWrite{LBA: lba, Blocks: uint8(256 & 0xff)})
				r, _ = luRun(e, lu, n, cdb, out, 0)
				sd := luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
				if cdbField, b, _, ok := sd.SenseKeySpecific.FieldPointer(); !ok || !cdbField || b != 13 {
					t.Errorf("LBA %d: field pointer %v byte %d (valid %v), want CDB byte 13", lba, cdbField, b, ok)
				}
			}
			_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead16, LBA: 0, Blocks: 256}), nil, 256*512)
			if !bytes.Equal(in, old) {
				t.Fatal("a refused COMPARE AND WRITE changed the blocks")
			}
			// The largest length the Block Limits page allows works.
			n255 := 255 * 512
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 0, Blocks: 255}), append(bytes.Clone(old[:n255]), out[256*512:256*512+n255]...), 0)
			luWantGood(t, r)
			r, _ = luRun(e, lu, n, luCDB(t, &scsi.CompareAndWrite{LBA: 0, Blocks: 0}), nil, 0)
			luWantGood(t, r)
		})
	}
}

// TestSBCWriteSameUnmapAnyData reproduces libiscsi's
// WriteSame10.UnmapUntilEnd: WRITE SAME with UNMAP on a thin logical unit
// deallocates the blocks whatever the Data-Out block holds (here 0xFF),
// so with LBPRZ they read back as zeros. A fully provisioned logical unit
// writes the block instead.
func TestSBCWriteSameUnmapAnyData(t *testing.T) {
	const blocks = 64
	ff := bytes.Repeat([]byte{0xff}, 512)
	for _, kind := range luBackends {
		t.Run(kind, func(t *testing.T) {
			e := &Engine{}
			lu := luTestLU(t, kind, blocks, LUConfig{Thin: true})
			n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")
			for i := uint64(1); i <= 8; i++ {
				lba := blocks - i
				r, _ := luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: lba, Blocks: uint32(i)}), bytes.Repeat(ff, int(i)), 0)
				luWantGood(t, r)
				// NUMBER OF LOGICAL BLOCKS zero: to the last block.
				for _, op := range []scsi.OpCode{scsi.OpWriteSame10, scsi.OpWriteSame16} {
					r, _ = luRun(e, lu, n, luCDB(t, &scsi.WriteSame{Op: op, Unmap: true, LBA: lba}), ff, 0)
					luWantGood(t, r)
					_, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: lba, Blocks: uint32(i)}), nil, int(i)*512)
					if !bytes.Equal(in, make([]byte, i*512)) {
						t.Fatalf("%v UNMAP of %d blocks: blocks did not read back as zero", op, i)
					}
				}
			}
			// Fully provisioned: the UNMAP bit is not implemented there,
			// the block is written.
			thick := luTestLU(t, kind, blocks, LUConfig{})
			n2 := luTestNexus(t, e, thick, "iqn.2026-01.test:b")
			r, _ := luRun(e, thick, n2, luCDB(t, &scsi.WriteSame{Op: scsi.OpWriteSame16, Unmap: true, LBA: 4, Blocks: 2}), ff, 0)
			luWantGood(t, r)
			_, in := luRun(e, thick, n2, luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 4, Blocks: 2}), nil, 1024)
			if !bytes.Equal(in, bytes.Repeat(ff, 2)) {
				t.Fatal("WRITE SAME UNMAP on a fully provisioned LU did not write the block")
			}
		})
	}
}

// TestSBCWriteSameMaxLength reproduces libiscsi's WriteSame16.Unmap and
// WriteSame10/16.ZeroBlocks: the Block Limits page reports a MAXIMUM
// WRITE SAME LENGTH, and a WRITE SAME that would write or unmap more
// blocks, counted from NUMBER OF LOGICAL BLOCKS or, when that is zero, up
// to the last block, is INVALID FIELD IN CDB (pointing at NUMBER OF
// LOGICAL BLOCKS) and touches nothing.
func TestSBCWriteSameMaxLength(t *testing.T) {
	const blocks = sbcMaxWriteSameBlocks + 100
	e := &Engine{}
	lu := luTestLU(t, "file", blocks, LUConfig{Thin: true})
	n := luTestNexus(t, e, lu, "iqn.2026-01.test:a")

	r, in := luRun(e, lu, n, luCDB(t, &scsi.Inquiry{EVPD: true, PageCode: uint8(scsi.VPDPageBlockLimits), AllocationLength: 255}), nil, 255)
	luWantGood(t, r)
	p, err := scsi.ParseVPD(in)
	if err != nil {
		t.Fatal(err)
	}
	if bl := p.(*scsi.VPDBlockLimits); bl.MaxWriteSameLength != sbcMaxWriteSameBlocks || bl.WSNZ {
		t.Fatalf("MAXIMUM WRITE SAME LENGTH %d (WSNZ %v), want %d", bl.MaxWriteSameLength, bl.WSNZ, sbcMaxWriteSameBlocks)
	}

	ff := bytes.Repeat([]byte{0xff}, 512)
	r, _ = luRun(e, lu, n, luCDB(t, &scsi.Write{Op: scsi.OpWrite16, LBA: 0, Blocks: 1}), ff, 0)
	luWantGood(t, r)
	tests := []struct {
		name   string
		cdb    *scsi.WriteSame
		fieldB int // 0: GOOD
	}{
		{"16: 65536 blocks", &scsi.WriteSame{Op: scsi.OpWriteSame16, Unmap: true, Blocks: sbcMaxWriteSameBlocks + 1}, 10},
		{"10: zero blocks from LBA 0", &scsi.WriteSame{Op: scsi.OpWriteSame10, Unmap: true}, 7},
		{"16: zero blocks, one too many to the end", &scsi.WriteSame{Op: scsi.OpWriteSame16, LBA: blocks - sbcMaxWriteSameBlocks - 1}, 10},
		{"10: zero blocks, the maximum to the end", &scsi.WriteSame{Op: scsi.OpWriteSame10, Unmap: true, LBA: blocks - sbcMaxWriteSameBlocks}, 0},
		{"16: the maximum", &scsi.WriteSame{Op: scsi.OpWriteSame16, Unmap: true, LBA: 100, Blocks: sbcMaxWriteSameBlocks}, 0},
	}
	for _, tt := range tests {
		r, _ := luRun(e, lu, n, luCDB(t, tt.cdb), make([]byte, 512), 0)
		if tt.fieldB == 0 {
			luWantGood(t, r)
			continue
		}
		sd := luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
		if cdbField, b, _, ok := sd.SenseKeySpecific.FieldPointer(); !ok || !cdbField || b != tt.fieldB {
			t.Errorf("%s: field pointer byte %d (valid %v), want %d", tt.name, b, ok, tt.fieldB)
		}
		if _, in := luRun(e, lu, n, luCDB(t, &scsi.Read{Op: scsi.OpRead16, LBA: 0, Blocks: 1}), nil, 512); !bytes.Equal(in, ff) {
			t.Fatalf("%s: a refused WRITE SAME changed block 0", tt.name)
		}
	}
}
