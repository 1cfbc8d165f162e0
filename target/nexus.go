package target

import (
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// Nexus is an I_T nexus: one initiator port (initiator name and ISID)
// talking to one target port. Unit attentions are kept per nexus and
// logical unit.
//
// There is no registry of nexuses: a logical unit keeps a short log of the
// unit attention conditions it establishes, numbered by a generation
// counter, and each nexus compares the generation it last saw with the
// logical unit's when a command arrives. A nexus is safe for concurrent
// use.
type Nexus struct {
	initiator string
	isid      iscsi.ISID
	target    string
	tpgt      uint16
	port      string // "<initiator>,i,0x<isid>"
	tport     string // "<target>,t,0x<tpgt>"

	// aborter, set by the iSCSI layer, aborts other nexuses' tasks for
	// PREEMPT AND ABORT (pr_out.go); nil in engine-only use.
	aborter nexusAborter

	// lunsChanged is REPORTED LUNS DATA HAS CHANGED pending.
	lunsChanged atomic.Bool

	mu  sync.Mutex
	lus map[*LU]*nexusLU
}

// nexusLU is the unit attention state of one nexus for one logical unit.
type nexusLU struct {
	// seen is the logical unit's unit attention generation last merged
	// into pending.
	seen uint64
	// pending are the unit attention conditions not yet reported.
	pending []scsi.SenseCode
}

// nexusMaxPending bounds the unit attention queue of one (nexus, LU).
const nexusMaxPending = 8

// NewNexus returns the nexus of an initiator port and a target port.
func NewNexus(initiator string, isid iscsi.ISID, target string, tpgt uint16) *Nexus {
	return &Nexus{
		initiator: initiator,
		isid:      isid,
		target:    target,
		tpgt:      tpgt,
		port:      initiator + ",i,0x" + hex.EncodeToString(isid[:]),
		tport:     fmt.Sprintf("%s,t,0x%04x", target, tpgt),
		lus:       make(map[*LU]*nexusLU),
	}
}

// Initiator returns the initiator's iSCSI name.
func (n *Nexus) Initiator() string { return n.initiator }

// ISID returns the initiator port's ISID.
func (n *Nexus) ISID() iscsi.ISID { return n.isid }

// Target returns the target's iSCSI name.
func (n *Nexus) Target() string { return n.target }

// TPGT returns the target portal group tag, which names the target port.
func (n *Nexus) TPGT() uint16 { return n.tpgt }

// InitiatorPort returns the SCSI initiator port name (SPC-4 section
// 7.6.4.6): "<initiator name>,i,0x<ISID in hex>".
func (n *Nexus) InitiatorPort() string { return n.port }

// TargetPort returns the SCSI target port name: "<target name>,t,0x<TPGT
// in hex>".
func (n *Nexus) TargetPort() string { return n.tport }

// ReportedLUNsChanged establishes REPORTED LUNS DATA HAS CHANGED (3F/0E),
// reported on the next command to any logical unit through this nexus
// (SPC-4 section 6.33) and cleared by REPORT LUNS.
func (n *Nexus) ReportedLUNsChanged() { n.lunsChanged.Store(true) }

// nexusUARank is a unit attention's precedence: lower reports first.
// SAM-5 section 5.14: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED and
// the other 29h codes come before every other unit attention condition.
func nexusUARank(c scsi.SenseCode) int {
	switch {
	case c == scsi.SensePowerOnReset:
		return 0
	case c.ASC() == 0x29:
		return 1
	}
	return 2
}

// state returns the nexus's state for lu, creating it on first access
// with POWER ON, RESET, OR BUS DEVICE RESET OCCURRED pending, and merges
// the conditions lu established since the nexus last looked. n.mu is
// held.
func (n *Nexus) state(lu *LU) *nexusLU {
	st := n.lus[lu]
	if st == nil {
		// SAM-5 section 5.14: a power on or a new I_T nexus establishes
		// POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
		st = &nexusLU{seen: lu.uaGen.Load(), pending: make([]scsi.SenseCode, 1, 4)}
		st.pending[0] = scsi.SensePowerOnReset
		n.lus[lu] = st
		return st
	}
	if g := lu.uaGen.Load(); g != st.seen {
		st.seen = lu.luUAMerge(st.seen, n, st)
	}
	return st
}

// add queues a unit attention unless the same one is already pending.
func (st *nexusLU) add(c scsi.SenseCode) {
	for _, p := range st.pending {
		if p == c {
			return
		}
	}
	if len(st.pending) >= nexusMaxPending {
		// Drop the lowest precedence (last of the highest rank) one.
		worst := 0
		for i, p := range st.pending {
			if nexusUARank(p) >= nexusUARank(st.pending[worst]) {
				worst = i
			}
		}
		if nexusUARank(c) > nexusUARank(st.pending[worst]) {
			return
		}
		st.pending = append(st.pending[:worst], st.pending[worst+1:]...)
	}
	st.pending = append(st.pending, c)
}

// best returns the index of the highest precedence pending condition, or
// -1.
func (st *nexusLU) best() int {
	b := -1
	for i, p := range st.pending {
		if b < 0 || nexusUARank(p) < nexusUARank(st.pending[b]) {
			b = i
		}
	}
	return b
}

// takeUA returns the highest precedence unit attention condition pending
// for lu on this nexus, clearing it when clear is set. ok is false when
// none is pending. REPORTED LUNS DATA HAS CHANGED ranks with the other
// non-reset conditions, after the logical unit's own.
func (n *Nexus) takeUA(lu *LU, clear bool) (code scsi.SenseCode, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.state(lu)
	if b := st.best(); b >= 0 {
		code = st.pending[b]
		if clear {
			st.pending = append(st.pending[:b], st.pending[b+1:]...)
		}
		return code, true
	}
	if n.lunsChanged.Load() {
		if clear {
			n.lunsChanged.Store(false)
		}
		return scsi.SenseReportedLUNsDataHasChanged, true
	}
	return 0, false
}

// clearReportedLUNsChanged clears REPORTED LUNS DATA HAS CHANGED, as a
// REPORT LUNS command does.
func (n *Nexus) clearReportedLUNsChanged() { n.lunsChanged.Store(false) }

// touch creates the nexus's state for lu if it has none, so the POWER ON
// condition is established at the first command even when that command
// (INQUIRY, REPORT LUNS) does not report it.
func (n *Nexus) touch(lu *LU) {
	n.mu.Lock()
	n.state(lu)
	n.mu.Unlock()
}
