package initiator

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
	"github.com/lunarsan/lunar/target"
)

// pipelineRW returns a WRITE(10) of data and a READ(10) into got of the
// same blocks at lba, the READ with attribute attr.
func pipelineRW(lba uint32, data, got []byte, attr iscsi.TaskAttr) (*Command, *Command) {
	w := make([]byte, 10)
	w[0] = byte(scsi.OpWrite10)
	binary.BigEndian.PutUint32(w[2:6], lba)
	binary.BigEndian.PutUint16(w[7:9], uint16(len(data)/512))
	r := make([]byte, 10)
	r[0] = byte(scsi.OpRead10)
	binary.BigEndian.PutUint32(r[2:6], lba)
	binary.BigEndian.PutUint16(r[7:9], uint16(len(got)/512))
	return &Command{CDB: w, DataOut: data}, &Command{CDB: r, DataIn: got, Attr: attr}
}

func TestExecuteInOrder(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:pipeline"
	e := diskE2EStart(t)
	e.createLUN(t, "p0", 1<<20, initiator, 0)
	s := e.dial(t, initiator)
	ctx := context.Background()
	// The power-on unit attention goes to the TEST UNIT READY (retried
	// there); the READ CAPACITY behind it runs clean.
	tur := &Command{CDB: make([]byte, 6)}
	rc, err := (&scsi.ReadCapacity16{AllocationLength: scsi.ReadCapacity16DataLength}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	capBuf := make([]byte, scsi.ReadCapacity16DataLength)
	resps, errs := ExecuteInOrder(ctx, s, tur, &Command{CDB: rc, DataIn: capBuf, Attr: iscsi.TaskAttrOrdered})
	if errs[0] != nil || errs[1] != nil || resps[1].DataIn != len(capBuf) {
		t.Fatalf("TUR, READ CAPACITY = %v, %v (%d bytes)", errs[0], errs[1], resps[1].DataIn)
	}
	// An ORDERED READ behind a WRITE of the same blocks, issued together,
	// always reads what the WRITE wrote; so does every READ of a batch on
	// an Executor that is not a Session (one after another).
	for _, ex := range []Executor{s, &diskCountingExec{ex: s}} {
		for i := range 50 {
			data := bytes.Repeat([]byte{byte(i + 1)}, 4096)
			got := make([]byte, len(data))
			w, r := pipelineRW(8, data, got, iscsi.TaskAttrOrdered)
			_, errs := ExecuteInOrder(ctx, ex, w, r)
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("round %d: WRITE %v, READ %v", i, errs[0], errs[1])
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("round %d (%T): the ORDERED READ did not see the WRITE before it", i, ex)
			}
		}
	}
	if resps, errs := ExecuteInOrder(ctx, s); len(resps) != 0 || len(errs) != 0 {
		t.Fatal("an empty batch returned results")
	}
	// A refused command fails alone, at its index.
	bad := &Command{CDB: []byte{0xff, 0, 0, 0, 0, 0}}
	_, errs = ExecuteInOrder(ctx, s, tur, bad, tur)
	if errs[0] != nil || errs[2] != nil || !scsi.IsIllegalRequest(errs[1]) {
		t.Fatalf("errors %v: want only the second, ILLEGAL REQUEST", errs)
	}
}

// pipelineUACounter is a target executor that counts the commands that
// ended in a unit attention, and all commands, by opcode.
type pipelineUACounter struct {
	target.Engine
	mu  sync.Mutex
	uas map[scsi.OpCode]int
	all map[scsi.OpCode]int
}

func (c *pipelineUACounter) Execute(t *target.Task) target.Result {
	r := c.Engine.Execute(t)
	c.mu.Lock()
	c.all[scsi.OpCode(t.CDB[0])]++
	c.mu.Unlock()
	if r.Status == scsi.StatusCheckCondition && len(r.Sense) > 2 && r.Sense[2]&0x0f == byte(scsi.SenseKeyUnitAttention) {
		c.mu.Lock()
		c.uas[scsi.OpCode(t.CDB[0])]++
		c.mu.Unlock()
	}
	return r
}

func TestRescanTakesPowerOnUAWithTUR(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:primed"
	c := &pipelineUACounter{uas: map[scsi.OpCode]int{}, all: map[scsi.OpCode]int{}}
	e := diskE2EStartWith(t, c)
	e.createLUN(t, "u0", 1<<20, initiator, 0)
	e.createLUN(t, "u1", 1<<20, initiator, 1)
	s := e.dial(t, initiator)
	ctx := context.Background()
	infos, err := Rescan(ctx, s)
	if err != nil || len(infos) != 2 || infos[0].Size != 1<<20 || infos[1].Size != 1<<20 {
		t.Fatalf("Rescan = %+v, %v", infos, err)
	}
	// An ORDERED command to each LUN, issued now, starts only after
	// anything the scan left in flight there (a TEST UNIT READY sent
	// again, say) has completed: once both are answered the counts are
	// complete.
	for lun := range uint64(2) {
		cmd, err := scanInquiryCommand(lun, false, 0, scanInquiryAlloc)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Attr = iscsi.TaskAttrOrdered
		if _, err := s.Execute(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.uas[scsi.OpTestUnitReady] != 2 || len(c.uas) != 1 {
		t.Fatalf("unit attentions by opcode %v: want the power-on one of each LUN on TEST UNIT READY only", c.uas)
	}
	// The TEST UNIT READY is there only to take the unit attention: it
	// is not sent again after it.
	if c.all[scsi.OpTestUnitReady] != 2 {
		t.Fatalf("%d TEST UNIT READY commands for 2 LUNs, want one each", c.all[scsi.OpTestUnitReady])
	}
}

// TestExecuteInOrderOneWrite checks that a batch leaves in one write: the
// writer is not woken until every command of it is queued.
func TestExecuteInOrderOneWrite(t *testing.T) {
	const initiator = "iqn.2026-11.org.example:pipeline-write"
	e := diskE2EStart(t)
	e.createLUN(t, "p0", 1<<20, initiator, 0)
	s := e.dial(t, initiator)
	ctx := context.Background()
	// The first command takes the power-on unit attention.
	if _, err := s.Execute(ctx, &Command{CDB: make([]byte, 6)}); err != nil {
		t.Fatal(err)
	}
	writes := pipelineWrites(s)
	// Each command's Start takes a millisecond: ample time for a writer
	// woken by the first to write it alone. Round 0 is not checked: the
	// writer goroutine may record the write of the TEST UNIT READY above
	// after that command has been answered.
	slow := pipelineSlowCtx{ctx}
	for round := range 20 {
		cmds := make([]*Command, 7)
		for i := range cmds {
			cmds[i] = &Command{CDB: make([]byte, 6)}
		}
		writes() // forget the earlier rounds' writes
		_, errs := ExecuteInOrder(slow, s, cmds...)
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: command %d: %v", round, i, err)
			}
		}
		if got := writes(); round > 0 && (len(got) != 1 || got[0] != len(cmds)) {
			t.Fatalf("round %d: %d commands went out in writes of %v PDUs, want one write", round, len(cmds), got)
		}
	}
}

// pipelineWrites records how many PDUs each write of s's connection
// carries; the function it returns hands the counts recorded since its
// last call over.
func pipelineWrites(s *Session) func() []int {
	var (
		mu     sync.Mutex
		writes []int
	)
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	c.wmu.Lock()
	c.onWrite = func(n int) {
		mu.Lock()
		writes = append(writes, n)
		mu.Unlock()
	}
	c.wmu.Unlock()
	return func() []int {
		mu.Lock()
		defer mu.Unlock()
		got := writes
		writes = nil
		return got
	}
}

// pipelineSlowCtx is a context whose Err takes a millisecond: Start checks
// it, so a batch's commands are queued far apart.
type pipelineSlowCtx struct{ context.Context }

func (c pipelineSlowCtx) Err() error {
	time.Sleep(time.Millisecond)
	return c.Context.Err()
}
