package initiator

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

// The disk layer's tests run against lunar's real SCSI engine: an
// Executor adapter (diskEngine) hands each Command to target.Engine as a
// Task on a LUN map the test changes (diskView), and maps the Result back
// the way the contract says a Session does.

// diskView is an immutable LUN map (target.View).
type diskView struct {
	lus  map[uint64]*target.LU
	luns []uint64
}

// Lookup returns the LU at LUN n.
func (v *diskView) Lookup(n uint64) (*target.LU, bool) {
	lu, ok := v.lus[n]
	return lu, ok
}

// LUNs returns the LUN numbers in ascending order.
func (v *diskView) LUNs() []uint64 { return v.luns }

// diskOp is one command the engine ran: its operation code and, for
// READ and WRITE, its LBA and block count.
type diskOp struct {
	op     scsi.OpCode
	lba    uint64
	blocks uint32
	fua    bool // a READ or WRITE with its FUA bit (byte 1 bit 3) set
}

// diskTaskPool recycles the adapter's Tasks, so that the benchmark counts
// the disk layer's allocations and the engine's, not the adapter's.
var diskTaskPool = sync.Pool{New: func() any { return new(target.Task) }}

// diskEngine is an Executor over target.Engine with one I_T nexus.
type diskEngine struct {
	eng   target.Engine
	nexus *target.Nexus
	view  atomic.Pointer[diskView]

	// retryUA makes Execute behave like a Session: a unit attention is
	// reported on events and the command sent again.
	retryUA bool
	events  chan Event

	record atomic.Bool
	mu     sync.Mutex
	ops    []diskOp
	fail   func(cmd *Command) error // when set and non-nil, fails the command
}

// newDiskEngine returns an engine executor with an empty LUN map.
func newDiskEngine() *diskEngine {
	x := &diskEngine{
		nexus:  target.NewNexus("iqn.2026-11.org.example:disk-test", iscsi.NewRandomISID(0x123456, 1), "iqn.2026-11.org.lunar:disk-test", 1),
		events: make(chan Event, 64),
	}
	x.view.Store(&diskView{lus: map[uint64]*target.LU{}})
	return x
}

// diskNewLU returns a thin in-memory LU of size bytes named by i.
func diskNewLU(tb testing.TB, i int, size int64, bs uint32) *target.LU {
	tb.Helper()
	var naa [16]byte
	naa[0] = 0x60 | 0x0c
	binary.BigEndian.PutUint64(naa[8:], uint64(i)+0x1000)
	lu, err := target.NewLU(target.LUConfig{
		Name:      fmt.Sprintf("lu%d", i),
		NAA:       naa,
		Serial:    fmt.Sprintf("SER%04d", i),
		BlockSize: bs,
		Backend:   target.NewMemBackend(size),
		Thin:      true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return lu
}

// diskWWN is the WWN diskNewLU's LU i reports.
func diskWWN(i int) string {
	return fmt.Sprintf("naa.6c000000000000000000000000%06x", i+0x1000)
}

// mapLU maps lu at LUN n and raises REPORTED LUNS DATA HAS CHANGED.
func (x *diskEngine) mapLU(n uint64, lu *target.LU) {
	old := x.view.Load()
	v := &diskView{lus: make(map[uint64]*target.LU, len(old.lus)+1)}
	for k, l := range old.lus {
		v.lus[k] = l
	}
	v.lus[n] = lu
	x.setView(v)
}

// unmapLU removes LUN n and raises REPORTED LUNS DATA HAS CHANGED.
func (x *diskEngine) unmapLU(n uint64) {
	old := x.view.Load()
	v := &diskView{lus: make(map[uint64]*target.LU, len(old.lus))}
	for k, l := range old.lus {
		if k != n {
			v.lus[k] = l
		}
	}
	x.setView(v)
}

// setView installs v with its sorted LUN list.
func (x *diskEngine) setView(v *diskView) {
	for k := range v.lus {
		v.luns = append(v.luns, k)
	}
	slices.Sort(v.luns)
	x.view.Store(v)
	x.nexus.ReportedLUNsChanged()
}

// takeOps returns and forgets the commands recorded so far.
func (x *diskEngine) takeOps() []diskOp {
	x.mu.Lock()
	defer x.mu.Unlock()
	ops := x.ops
	x.ops = nil
	return ops
}

// Execute runs cmd on the engine and maps the result as a Session does:
// GOOD → nil; CHECK CONDITION → the *scsi.SenseError of the sense data;
// another status → *StatusError; TASK ABORTED of a cancelled ctx →
// ctx.Err().
func (x *diskEngine) Execute(ctx context.Context, cmd *Command) (Response, error) {
	if x.fail != nil {
		if err := x.fail(cmd); err != nil {
			return Response{}, err
		}
	}
	edtl := len(cmd.DataIn)
	if cmd.DataOut != nil {
		edtl = len(cmd.DataOut)
	}
	for attempt := 0; ; attempt++ {
		t := diskTaskPool.Get().(*target.Task)
		*t = target.Task{
			Ctx:                        ctx,
			Nexus:                      x.nexus,
			View:                       x.view.Load(),
			LUN:                        cmd.LUN,
			CDB:                        cmd.CDB,
			Attr:                       cmd.Attr,
			ExpectedDataTransferLength: uint32(edtl),
			DataOut:                    cmd.DataOut,
			DataIn:                     cmd.DataIn,
		}
		res := x.eng.Execute(t)
		*t = target.Task{}
		diskTaskPool.Put(t)
		if x.record.Load() && len(cmd.CDB) > 0 {
			op := diskOp{op: scsi.OpCode(cmd.CDB[0])}
			op.fua = len(cmd.CDB) > 1 && cmd.CDB[1]&0x08 != 0
			if c, err := scsi.DecodeCDB(cmd.CDB); err == nil {
				if b, ok := c.(scsi.BlockIO); ok {
					op.lba, op.blocks = b.Range()
				}
			}
			x.mu.Lock()
			x.ops = append(x.ops, op)
			x.mu.Unlock()
		}
		resp := Response{Status: res.Status, DataIn: res.DataIn, Residual: int64(edtl) - int64(res.Transfer)}
		switch res.Status {
		case scsi.StatusGood:
			return resp, nil
		case scsi.StatusCheckCondition:
			resp.Sense = res.Sense
			sd, err := scsi.ParseSense(res.Sense)
			if err != nil {
				return resp, fmt.Errorf("bad sense data: %w", err)
			}
			se := sd.AsError()
			if x.retryUA && se.Key == scsi.SenseKeyUnitAttention && attempt < 8 {
				select {
				case x.events <- Event{Kind: EventUnitAttention, LUN: cmd.LUN, Sense: se.Code()}:
				default:
				}
				continue
			}
			return resp, se
		case scsi.StatusTaskAborted:
			if ctx.Err() != nil {
				return resp, ctx.Err()
			}
		}
		return resp, &StatusError{Status: res.Status}
	}
}

// diskSetup returns an engine executor with one LU of size bytes at LUN 0
// and the Disk opened on it.
func diskSetup(tb testing.TB, size int64, cfg DiskConfig) (*diskEngine, *target.LU, *Disk) {
	tb.Helper()
	x := newDiskEngine()
	lu := diskNewLU(tb, 0, size, 512)
	x.mapLU(0, lu)
	d, err := OpenDiskConfig(context.Background(), x, 0, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return x, lu, d
}

// wantSense checks that err holds a *scsi.SenseError with key and code.
func wantSense(t *testing.T, err error, key scsi.SenseKey, code scsi.SenseCode) {
	t.Helper()
	var se *scsi.SenseError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *scsi.SenseError", err)
	}
	if se.Key != key || se.Code() != code {
		t.Fatalf("sense = %v %v, want %v %v", se.Key, se.Code(), key, code)
	}
}

// wantBytes checks that got equals want, reporting the first difference.
func wantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: first difference at byte %d: %#02x, want %#02x", what, i, got[i], want[i])
		}
	}
}

func TestOpenDiskIdentity(t *testing.T) {
	x, _, d := diskSetup(t, 1<<20, DiskConfig{})
	if got, want := d.WWN(), diskWWN(0); got != want {
		t.Errorf("WWN = %q, want %q", got, want)
	}
	if got, want := d.Serial(), "SER0000"; got != want {
		t.Errorf("Serial = %q, want %q", got, want)
	}
	if d.Vendor() == "" || d.Product() == "" || d.Revision() == "" {
		t.Errorf("INQUIRY strings = %q %q %q, want all set", d.Vendor(), d.Product(), d.Revision())
	}
	if d.Size() != 1<<20 || d.BlockSize() != 512 || d.Blocks() != 2048 {
		t.Errorf("geometry = %d bytes, %d-byte blocks, %d blocks; want 1048576, 512, 2048", d.Size(), d.BlockSize(), d.Blocks())
	}
	if d.BlockLimits().MaxTransferLength == 0 {
		t.Errorf("Block Limits not read: %+v", d.BlockLimits())
	}
	if d.LUN() != 0 {
		t.Errorf("LUN = %d", d.LUN())
	}
	info := d.Info()
	if info.WWN != d.WWN() || info.Size != d.Size() || !info.IsDisk() {
		t.Errorf("Info = %+v", info)
	}
	// A LUN that is not mapped has peripheral qualifier 011b.
	if _, err := OpenDisk(context.Background(), x, 5); !errors.Is(err, ErrLUNNotPresent) {
		t.Errorf("OpenDisk(unmapped LUN) = %v, want ErrLUNNotPresent", err)
	}
}

func TestOpenDiskConfigInvalid(t *testing.T) {
	x := newDiskEngine()
	for _, cfg := range []DiskConfig{{MaxTransfer: -1}, {Concurrency: -1}} {
		if _, err := OpenDiskConfig(context.Background(), x, 0, cfg); err == nil {
			t.Errorf("OpenDiskConfig(%+v) = nil error", cfg)
		}
	}
}

func TestDiskReadWriteWhole(t *testing.T) {
	const size = 3<<20 + 512*7 // not a multiple of the transfer size
	tests := []struct {
		name   string
		cfg    DiskConfig
		pieces []int // bytes per WriteAt/ReadAt call, cycled
	}{
		{"default", DiskConfig{}, []int{size}},
		{"small cap", DiskConfig{MaxTransfer: 64 << 10}, []int{512, 4096, 1536, 131072 + 512}},
		{"odd cap", DiskConfig{MaxTransfer: 512 * 13}, []int{512 * 101, 512 * 3}},
		{"concurrent", DiskConfig{MaxTransfer: 32 << 10, Concurrency: 4}, []int{1 << 20, 512 * 77}},
		{"cap below block", DiskConfig{MaxTransfer: 100}, []int{512 * 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, _, d := diskSetup(t, size, tt.cfg)
			want := make([]byte, size)
			r := rand.New(rand.NewPCG(1, uint64(len(tt.name))))
			for i := range want {
				want[i] = byte(r.Uint32())
			}
			x.record.Store(true)
			for off, i := 0, 0; off < size; i++ {
				n := min(tt.pieces[i%len(tt.pieces)], size-off)
				got, err := d.WriteAt(want[off:off+n], int64(off))
				if err != nil || got != n {
					t.Fatalf("WriteAt(%d bytes at %d) = %d, %v", n, off, got, err)
				}
				off += n
			}
			chunk := max(512, min(tt.cfg.MaxTransfer, DefaultMaxTransfer)/512*512)
			if tt.cfg.MaxTransfer == 0 {
				chunk = DefaultMaxTransfer
			}
			for _, op := range x.takeOps() {
				if op.op != scsi.OpWrite10 && op.op != scsi.OpWrite16 {
					t.Fatalf("write sent %v", op.op)
				}
				if int(op.blocks)*512 > chunk {
					t.Fatalf("WRITE of %d blocks, above the %d-byte cap", op.blocks, chunk)
				}
			}
			got := make([]byte, size)
			for off, i := 0, 0; off < size; i++ {
				n := min(tt.pieces[(i+1)%len(tt.pieces)], size-off)
				k, err := d.ReadAt(got[off:off+n], int64(off))
				if err != nil || k != n {
					t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
				}
				off += n
			}
			wantBytes(t, "read back", got, want)
			for _, op := range x.takeOps() {
				if int(op.blocks)*512 > chunk {
					t.Fatalf("READ of %d blocks, above the %d-byte cap", op.blocks, chunk)
				}
			}
		})
	}
}

func TestDiskSplitByBlockLimits(t *testing.T) {
	// lunar's Block Limits page has an OPTIMAL TRANSFER LENGTH of 1 MiB:
	// a larger cap is lowered to it.
	x, _, d := diskSetup(t, 4<<20, DiskConfig{MaxTransfer: 8 << 20})
	x.record.Store(true)
	buf := make([]byte, 3<<20)
	if _, err := d.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	ops := x.takeOps()
	if len(ops) != 3 {
		t.Fatalf("%d commands, want 3: %v", len(ops), ops)
	}
	for i, op := range ops {
		if op.op != scsi.OpRead10 || op.blocks != 2048 || op.lba != uint64(i)*2048 {
			t.Errorf("command %d = %+v, want READ(10) of 2048 blocks at %d", i, op, i*2048)
		}
	}
}

// diskParams is an Executor that reports session parameters.
type diskParams struct {
	*diskEngine
	mbl uint32
}

// Params reports MaxBurstLength.
func (p diskParams) Params() iscsi.SessionParams { return iscsi.SessionParams{MaxBurstLength: p.mbl} }

func TestDiskMaxBurstLength(t *testing.T) {
	// The default cap is rounded down to a multiple of MaxBurstLength.
	x := newDiskEngine()
	x.mapLU(0, diskNewLU(t, 0, 4<<20, 512))
	d, err := OpenDisk(context.Background(), diskParams{x, 384 << 10}, 0)
	if err != nil {
		t.Fatal(err)
	}
	x.record.Store(true)
	if _, err := d.ReadAt(make([]byte, 2<<20), 0); err != nil {
		t.Fatal(err)
	}
	for i, op := range x.takeOps() {
		if want := uint32(min(768<<10, 2<<20-i*(768<<10)) / 512); op.blocks != want {
			t.Errorf("command %d: %d blocks, want %d", i, op.blocks, want)
		}
	}
}

func TestDiskUnaligned(t *testing.T) {
	_, _, d := diskSetup(t, 1<<20, DiskConfig{})
	buf := make([]byte, 4096)
	tests := []struct {
		name string
		p    []byte
		off  int64
	}{
		{"offset", buf, 100},
		{"length", buf[:1000], 0},
		{"negative", buf, -512},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := d.ReadAt(tt.p, tt.off); n != 0 || !errors.Is(err, ErrUnaligned) {
				t.Errorf("ReadAt = %d, %v; want 0, ErrUnaligned", n, err)
			}
			if n, err := d.WriteAt(tt.p, tt.off); n != 0 || !errors.Is(err, ErrUnaligned) {
				t.Errorf("WriteAt = %d, %v; want 0, ErrUnaligned", n, err)
			}
		})
	}
	if err := d.Unmap(context.Background(), 1, 512); !errors.Is(err, ErrUnaligned) {
		t.Errorf("Unmap = %v, want ErrUnaligned", err)
	}
	if err := d.WriteSame(context.Background(), 0, 700, nil, false); !errors.Is(err, ErrUnaligned) {
		t.Errorf("WriteSame = %v, want ErrUnaligned", err)
	}
	if n, err := d.ReadAt(nil, 0); n != 0 || err != nil {
		t.Errorf("ReadAt(empty) = %d, %v", n, err)
	}
}

func TestDiskBeyondEnd(t *testing.T) {
	for _, cfg := range []DiskConfig{{}, {MaxTransfer: 64 << 10}, {MaxTransfer: 64 << 10, Concurrency: 3}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			_, _, d := diskSetup(t, 1<<20, cfg)
			buf := make([]byte, 256<<10)
			// Wholly beyond the end.
			n, err := d.ReadAt(buf[:4096], 2<<20)
			if n != 0 {
				t.Errorf("n = %d", n)
			}
			wantSense(t, err, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
			// Straddling the end: with a 64 KiB cap, the commands before
			// the end succeed.
			n, err = d.WriteAt(buf, 1<<20-128<<10)
			wantSense(t, err, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
			// Sequentially, exactly the chunks before the end land; with
			// concurrency the failure may cancel some of them first.
			if cfg.MaxTransfer == 64<<10 && cfg.Concurrency <= 1 && n != 128<<10 {
				t.Errorf("n = %d, want %d", n, 128<<10)
			}
			if n > 128<<10 || n%(64<<10) != 0 && cfg.MaxTransfer == 64<<10 {
				t.Errorf("n = %d, want at most %d in whole chunks", n, 128<<10)
			}
			if n >= len(buf) {
				t.Errorf("n = %d with an error", n)
			}
		})
	}
}

func TestDiskLBA16(t *testing.T) {
	// LBAs above 32 bits need READ(16)/WRITE(16): a sparse file-backed LU
	// of a little over 2 TiB.
	size := int64(1)<<41 + 1<<20
	be, err := target.OpenFileBackend(t.TempDir()+"/big", size, true)
	if err != nil {
		t.Skipf("no sparse 2 TiB file here: %v", err)
	}
	lu, err := target.NewLU(target.LUConfig{Name: "big", Serial: "BIG", BlockSize: 512, Backend: be, Thin: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lu.Close() })
	x := newDiskEngine()
	x.mapLU(0, lu)
	d, err := OpenDisk(context.Background(), x, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != size {
		t.Fatalf("Size = %d, want %d", d.Size(), size)
	}
	x.record.Store(true)
	buf := make([]byte, 8192)
	for i := range buf {
		buf[i] = byte(i / 512)
	}
	// The first write stays below 2^32 blocks; the second starts below
	// and ends above; the third is wholly above.
	offs := []int64{1<<41 - 1<<20, 1<<41 - 4096, 1 << 41}
	for _, off := range offs {
		if _, err := d.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(buf))
		if _, err := d.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, "read back", got, buf)
	}
	ops := x.takeOps()
	wantOps := []scsi.OpCode{scsi.OpWrite10, scsi.OpRead10, scsi.OpWrite16, scsi.OpRead16, scsi.OpWrite16, scsi.OpRead16}
	if len(ops) != len(wantOps) {
		t.Fatalf("commands = %+v", ops)
	}
	for i, op := range ops {
		if op.op != wantOps[i] || op.lba != uint64(offs[i/2]/512) || op.blocks != 16 || op.fua {
			t.Errorf("command %d = %+v, want %v at LBA %d", i, op, wantOps[i], offs[i/2]/512)
		}
	}
	// With FUA: the same WRITEs with the bit set, nothing else sent.
	for _, off := range offs {
		if _, err := d.WriteAtFUA(context.Background(), buf, off); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(buf))
		if _, err := d.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		wantBytes(t, "read back after FUA", got, buf)
	}
	ops = x.takeOps()
	if len(ops) != len(wantOps) {
		t.Fatalf("commands = %+v", ops)
	}
	for i, op := range ops {
		write := i%2 == 0
		if op.op != wantOps[i] || op.lba != uint64(offs[i/2]/512) || op.fua != write {
			t.Errorf("command %d = %+v, want %v at LBA %d, FUA %v", i, op, wantOps[i], offs[i/2]/512, write)
		}
	}
}

func TestDiskUnmapWriteSame(t *testing.T) {
	ctx := context.Background()
	x, _, d := diskSetup(t, 1<<20, DiskConfig{})
	ones := bytes.Repeat([]byte{0xff}, 1<<20)
	if _, err := d.WriteAt(ones, 0); err != nil {
		t.Fatal(err)
	}
	// UNMAP split into descriptors and commands by small limits.
	d.limits.MaxUnmapLBACount = 16
	d.limits.MaxUnmapBlockDescriptorCount = 3
	x.record.Store(true)
	if err := d.Unmap(ctx, 512*10, 512*100); err != nil {
		t.Fatal(err)
	}
	ops := x.takeOps()
	if len(ops) != 3 { // 100 blocks: 7 descriptors of at most 16, 3 per command
		t.Errorf("%d UNMAP commands, want 3", len(ops))
	}
	got := make([]byte, 1<<20)
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(ones)
	clear(want[512*10 : 512*110])
	wantBytes(t, "after UNMAP", got, want)

	// WRITE SAME of a pattern, split by MAXIMUM WRITE SAME LENGTH.
	block := make([]byte, 512)
	for i := range block {
		block[i] = byte(i)
	}
	d.limits.MaxWriteSameLength = 7
	x.takeOps()
	if err := d.WriteSame(ctx, 512*200, 512*30, block, false); err != nil {
		t.Fatal(err)
	}
	if ops := x.takeOps(); len(ops) != 5 || ops[0].op != scsi.OpWriteSame16 {
		t.Errorf("WRITE SAME commands = %+v, want 5 WRITE SAME(16)", ops)
	}
	for i := 200; i < 230; i++ {
		copy(want[512*i:], block)
	}
	// WRITE SAME with UNMAP on a thin LU deallocates: zeros.
	if err := d.WriteSame(ctx, 512*300, 512*4, block, true); err != nil {
		t.Fatal(err)
	}
	clear(want[512*300 : 512*304])
	// A nil block writes zeros.
	if err := d.WriteSame(ctx, 512*400, 512*2, nil, false); err != nil {
		t.Fatal(err)
	}
	clear(want[512*400 : 512*402])
	if err := d.WriteSame(ctx, 0, 0, block, false); err != nil {
		t.Errorf("WriteSame of nothing = %v", err)
	}
	if err := d.WriteSame(ctx, 0, 512, block[:100], false); err == nil {
		t.Errorf("WriteSame with a short block = nil error")
	}
	if _, err := d.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, "after WRITE SAME", got, want)
	if err := d.Sync(ctx); err != nil {
		t.Errorf("Sync = %v", err)
	}
}

func TestDiskExecAndRefresh(t *testing.T) {
	ctx := context.Background()
	_, lu, d := diskSetup(t, 1<<20, DiskConfig{})
	cdb, _ := (&scsi.TestUnitReady{}).MarshalBinary()
	cmd := &Command{LUN: 99, CDB: cdb}
	if _, err := d.Exec(ctx, cmd); err != nil || cmd.LUN != 0 {
		t.Errorf("Exec(TEST UNIT READY) = %v, LUN %d", err, cmd.LUN)
	}
	if err := lu.Resize(2 << 20); err != nil {
		t.Fatal(err)
	}
	// The raw pass-through does not hide the unit attention.
	_, err := d.Exec(ctx, &Command{CDB: cdb})
	wantSense(t, err, scsi.SenseKeyUnitAttention, scsi.SenseCapacityDataHasChanged)
	if d.Size() != 1<<20 {
		t.Errorf("Size before Refresh = %d", d.Size())
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Size() != 2<<20 || d.Blocks() != 4096 {
		t.Errorf("Size after Refresh = %d (%d blocks), want 2 MiB", d.Size(), d.Blocks())
	}
	// The new blocks can be written.
	if _, err := d.WriteAt(make([]byte, 4096), 2<<20-4096); err != nil {
		t.Errorf("WriteAt near the new end = %v", err)
	}
}

func TestDiskRetriesUnitAttention(t *testing.T) {
	_, lu, d := diskSetup(t, 1<<20, DiskConfig{})
	// Two pending conditions: each attempt reports one.
	if err := lu.Resize(2 << 20); err != nil {
		t.Fatal(err)
	}
	lu.Reset(nil)
	if _, err := d.ReadAt(make([]byte, 512), 0); err != nil {
		t.Errorf("ReadAt after unit attentions = %v", err)
	}
}

func TestDiskContextCancelled(t *testing.T) {
	_, _, d := diskSetup(t, 1<<20, DiskConfig{MaxTransfer: 4096, Concurrency: 4})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := d.ReadAtContext(ctx, make([]byte, 64<<10), 0)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("ReadAtContext(cancelled) = %d, %v", n, err)
	}
	n, err = d.WriteAtContext(ctx, make([]byte, 512), 0)
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("WriteAtContext(cancelled) = %d, %v", n, err)
	}

	// Cancelled in the middle: the count covers only whole chunks done
	// before the first one that was not.
	for _, conc := range []int{1, 4} {
		x, _, d := diskSetup(t, 1<<20, DiskConfig{MaxTransfer: 4096, Concurrency: conc})
		ctx, cancel := context.WithCancel(context.Background())
		x.fail = func(cmd *Command) error {
			if cmd.CDB[0] == byte(scsi.OpRead10) && binary.BigEndian.Uint32(cmd.CDB[2:6]) == 40 {
				cancel()
				return ctx.Err()
			}
			return nil
		}
		n, err := d.ReadAtContext(ctx, make([]byte, 64<<10), 0)
		if !errors.Is(err, context.Canceled) || n > 40*512 || n%4096 != 0 {
			t.Errorf("concurrency %d: ReadAtContext cancelled at LBA 40 = %d, %v", conc, n, err)
		}
		cancel()
	}
}

func TestDiskStatusAndShortRead(t *testing.T) {
	x, _, d := diskSetup(t, 1<<20, DiskConfig{})
	x.fail = func(cmd *Command) error {
		if cmd.CDB[0] == byte(scsi.OpWrite10) {
			return &StatusError{Status: scsi.StatusReservationConflict}
		}
		return nil
	}
	var se *StatusError
	if _, err := d.WriteAt(make([]byte, 512), 0); !errors.As(err, &se) || se.Status != scsi.StatusReservationConflict {
		t.Errorf("WriteAt = %v, want RESERVATION CONFLICT", err)
	}
	short := &diskShort{Executor: x}
	d.ex = short
	if _, err := d.ReadAt(make([]byte, 1024), 0); !errors.Is(err, ErrShortRead) {
		t.Errorf("ReadAt with short data = %v, want ErrShortRead", err)
	}
}

// diskShort reports one byte less Data-In than the target sent.
type diskShort struct{ Executor }

// Execute runs cmd and shortens its Data-In count.
func (s *diskShort) Execute(ctx context.Context, cmd *Command) (Response, error) {
	r, err := s.Executor.Execute(ctx, cmd)
	if r.DataIn > 0 {
		r.DataIn--
	}
	return r, err
}

func TestDiskConcurrentUse(t *testing.T) {
	_, _, d := diskSetup(t, 1<<20, DiskConfig{MaxTransfer: 8192, Concurrency: 2})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			buf := bytes.Repeat([]byte{byte(g + 1)}, 64<<10)
			off := int64(g) * 64 << 10
			if _, err := d.WriteAt(buf, off); err != nil {
				t.Error(err)
				return
			}
			got := make([]byte, len(buf))
			if _, err := d.ReadAt(got, off); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, buf) {
				t.Errorf("goroutine %d read back other data", g)
			}
			_ = d.Size()
		})
	}
	wg.Go(func() {
		if err := d.Refresh(context.Background()); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
}

func BenchmarkDiskReadAt4K(b *testing.B) {
	_, _, d := diskSetup(b, 64<<20, DiskConfig{})
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	off := int64(0)
	for b.Loop() {
		if _, err := d.ReadAt(buf, off); err != nil {
			b.Fatal(err)
		}
		off = (off + 4096) % (64 << 20)
	}
}

// diskE2E is a real lunar target in-process (Store, Engine and Server on
// loopback) for end-to-end tests of the disk layer over a Session.
type diskE2E struct {
	store *target.Store
	addr  string
}

// diskE2ETarget is the target's IQN.
const diskE2ETarget = "iqn.2026-11.org.lunar:disk-e2e"

// diskE2EStart starts the target; cleanup stops it.
func diskE2EStart(t *testing.T) *diskE2E {
	t.Helper()
	return diskE2EStartWith(t, &target.Engine{})
}

// diskE2EStartWith is diskE2EStart with the target's SCSI executor.
func diskE2EStartWith(t *testing.T, ex target.Executor) *diskE2E {
	t.Helper()
	store, err := target.OpenStore(target.StoreConfig{DataDir: t.TempDir(), DefaultTarget: diskE2ETarget})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := target.NewServer(target.ServerConfig{Directory: store, Executor: ex})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	store.SetOnViewChange(srv.ViewChanged)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server Close: %v", err)
		}
		<-done
		store.SetOnViewChange(nil)
		if err := store.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	return &diskE2E{store: store, addr: ln.Addr().String()}
}

// createLUN creates a LUN and maps it to initiator at LUN id; it returns
// the LUN's WWN.
func (e *diskE2E) createLUN(t *testing.T, name string, size int64, initiator string, id uint64) string {
	t.Helper()
	ctx := context.Background()
	info, err := e.store.CreateLUN(ctx, target.LUNCreate{Name: name, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	group := "g-" + strings.NewReplacer(":", "-", ".", "-").Replace(initiator)
	if _, err := e.store.IGroup(group); err != nil {
		if _, err := e.store.CreateIGroup(ctx, target.IGroupCreate{Name: group, Initiators: []string{initiator}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Map(ctx, target.MapCreate{LUN: name, IGroup: group, LUNID: &id}); err != nil {
		t.Fatal(err)
	}
	return info.WWN
}

// dial logs initiator in; cleanup closes the session.
func (e *diskE2E) dial(t *testing.T, initiator string) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Dial(ctx, Config{InitiatorName: initiator, Portal: e.addr, TargetName: diskE2ETarget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDiskOverSession(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:disk-e2e"
	e := diskE2EStart(t)
	const size = 8<<20 + 512*3
	wwn := e.createLUN(t, "d0", size, initiator, 0)
	s := e.dial(t, initiator)
	ctx := context.Background()
	for _, cfg := range []DiskConfig{{}, {MaxTransfer: 96 << 10, Concurrency: 4}} {
		d, err := OpenDiskConfig(ctx, s, 0, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if d.WWN() != strings.ToLower(wwn) || d.Size() != size || d.Serial() == "" {
			t.Fatalf("disk = %s %d %q, want %s %d", d.WWN(), d.Size(), d.Serial(), wwn, size)
		}
		want := make([]byte, size)
		r := rand.New(rand.NewPCG(7, uint64(cfg.MaxTransfer)))
		for i := range want {
			want[i] = byte(r.Uint32())
		}
		// Concurrent writers over the whole disk, in odd block-aligned
		// pieces, then one read of everything.
		var wg sync.WaitGroup
		const pieces = 5
		per := size / 512 / pieces * 512
		for p := range pieces {
			wg.Go(func() {
				off := p * per
				end := off + per
				if p == pieces-1 {
					end = size
				}
				if _, err := d.WriteAt(want[off:end], int64(off)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got := make([]byte, size)
		if n, err := d.ReadAt(got, 0); err != nil || n != size {
			t.Fatalf("ReadAt = %d, %v", n, err)
		}
		wantBytes(t, "read back over the session", got, want)
		_, err = d.ReadAt(got[:4096], size)
		wantSense(t, err, scsi.SenseKeyIllegalRequest, scsi.SenseLBAOutOfRange)
		if err := d.Sync(ctx); err != nil {
			t.Errorf("Sync = %v", err)
		}
		if err := d.Unmap(ctx, 0, 1<<20); err != nil {
			t.Errorf("Unmap = %v", err)
		}
		if err := d.WriteSame(ctx, 1<<20, 64<<10, nil, true); err != nil {
			t.Errorf("WriteSame = %v", err)
		}
		if _, err := d.ReadAt(got[:2<<20], 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:(1<<20)+(64<<10)], make([]byte, (1<<20)+(64<<10))) {
			t.Error("unmapped blocks do not read back as zeros")
		}
	}
	infos, err := Rescan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].WWN != strings.ToLower(wwn) || infos[0].Size != size {
		t.Errorf("Rescan = %+v", infos)
	}
}

func TestNewDiskFromScan(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:disk-scan"
	e := diskE2EStart(t)
	const size = 4 << 20
	wwn := e.createLUN(t, "d0", size, initiator, 0)
	s := e.dial(t, initiator)
	ctx := context.Background()
	infos, err := Rescan(ctx, s)
	if err != nil || len(infos) != 1 {
		t.Fatalf("Rescan = %+v, %v", infos, err)
	}
	if infos[0].BlockLimits == nil {
		t.Fatal("the scan over a session did not read the Block Limits page")
	}
	opened, err := OpenDisk(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	counted := &diskCountingExec{ex: s}
	if _, err := NewDisk(ctx, counted, infos[0], DiskConfig{}); err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load(); n != 0 {
		t.Errorf("NewDisk sent %d commands, want none", n)
	}
	d, err := NewDisk(ctx, s, infos[0], DiskConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if d.WWN() != strings.ToLower(wwn) || d.Size() != size || d.Serial() != opened.Serial() ||
		d.BlockLimits() != opened.BlockLimits() || d.Info() != opened.Info() {
		t.Fatalf("NewDisk: %+v limits %+v; OpenDisk: %+v limits %+v", d.Info(), d.BlockLimits(), opened.Info(), opened.BlockLimits())
	}
	buf := bytes.Repeat([]byte{0xc3}, 8192)
	if _, err := d.WriteAt(buf, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(buf))
	if _, err := opened.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	wantBytes(t, "read back", got, buf)

	// Without the page (a scan through another Executor) it asks.
	info := infos[0]
	info.BlockLimits = nil
	if d, err = NewDisk(ctx, s, info, DiskConfig{}); err != nil || d.BlockLimits() != opened.BlockLimits() {
		t.Fatalf("NewDisk without the page: limits %+v, %v", d.BlockLimits(), err)
	}
	info.DeviceType = 5
	if _, err := NewDisk(ctx, s, info, DiskConfig{}); !errors.Is(err, ErrNotDisk) {
		t.Fatalf("NewDisk of a CD-ROM = %v, want ErrNotDisk", err)
	}
}

// diskCountingExec counts the commands it passes on.
type diskCountingExec struct {
	ex Executor
	n  atomic.Int64
}

func (c *diskCountingExec) Execute(ctx context.Context, cmd *Command) (Response, error) {
	c.n.Add(1)
	return c.ex.Execute(ctx, cmd)
}
