package target

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lunarsan/lunar/scsi"
)

// Reservations of a logical unit: SCSI-3 persistent reservations (SPC-4
// section 5.12) and SPC-2 RESERVE/RELEASE reservations, with the
// exceptions SPC-4 section 5.12.3 defines for their coexistence
// (compatible reservation handling, CRH). The state lives with the LU
// (LU.pr). Commands check it before they run (prConflict); the check is a
// single atomic load when the LU holds no reservation.

// prID identifies the I_T nexuses a registration covers: an initiator port
// (iSCSI name and ISID) through one target port (relative target port
// identifier), or every ISID of the name (a registration made with a
// device-name TransportID), or every target port (ALL_TG_PT).
type prID struct {
	name    string
	isid    uint64 // 48 bits
	anyISID bool
	rtp     uint16
	allTgPt bool
}

// prReg is one registration: the I_T nexuses it covers and their
// reservation key.
type prReg struct {
	id  prID
	key uint64
}

// prState is the persistent reservation state of a logical unit. It is
// a value: a change edits a clone (prState.clone) that replaces the
// current state once persisted.
type prState struct {
	// gen is the PRgeneration (SPC-4 section 6.15.2): incremented by
	// every successful PERSISTENT RESERVE OUT command but RESERVE and
	// RELEASE (and by none that completes without changing anything).
	gen uint32
	// regs are the registrations in the order they were made.
	regs []prReg
	// resv reports whether a persistent reservation exists, of type typ
	// (scope is always LU_SCOPE), held by holder (the registration whose
	// id it is) unless typ is an all registrants type, where every
	// registrant holds it.
	resv   bool
	typ    scsi.PRType
	holder prID
	// aptpl is the last valid APTPL bit received: the state persists
	// through power loss.
	aptpl bool
}

// clone returns a copy of s that shares nothing with it.
func (s *prState) clone() prState {
	n := *s
	n.regs = slices.Clone(s.regs)
	return n
}

// luPR holds a logical unit's reservations.
type luPR struct {
	// active is set while a persistent or an SPC-2 reservation exists:
	// without one no command conflicts, and the I/O path checks only
	// this.
	active atomic.Bool

	mu sync.RWMutex
	st prState
	// spc2 is the I_T nexus holding an SPC-2 reservation, or nil.
	spc2 *Nexus
	// persist, when set, stores the state of an APTPL logical unit
	// (atomically, with the LUN's configuration); nil clears it. A LU
	// without it cannot persist through power loss (PTPLC is zero).
	persist func(*PRSnapshot) error
}

// updateActive recomputes the fast-path flag; p.mu is held.
func (p *luPR) updateActive() {
	p.active.Store(p.st.resv || p.spc2 != nil)
}

// prRTP is the relative target port identifier of the nexus's target
// port (the one VPD page 83h reports; 0 is reserved).
func prRTP(n *Nexus) uint16 { return max(n.tpgt, 1) }

// prISID returns the nexus's ISID as a 48-bit number.
func prISID(n *Nexus) uint64 {
	var b [8]byte
	copy(b[2:], n.isid[:])
	return binary.BigEndian.Uint64(b[:])
}

// prNexusID returns the identity of exactly the nexus n.
func prNexusID(n *Nexus) prID {
	return prID{name: n.initiator, isid: prISID(n), rtp: prRTP(n)}
}

// matches reports whether the registration identity covers nexus n.
func (id *prID) matches(n *Nexus) bool {
	if n == nil || id.name != n.initiator {
		return false
	}
	if !id.anyISID && id.isid != prISID(n) {
		return false
	}
	return id.allTgPt || id.rtp == prRTP(n)
}

// overlaps reports whether two identities cover a common I_T nexus.
func (id *prID) overlaps(o *prID) bool {
	if id.name != o.name {
		return false
	}
	if !id.anyISID && !o.anyISID && id.isid != o.isid {
		return false
	}
	return id.allTgPt || o.allTgPt || id.rtp == o.rtp
}

// allRegistrants reports whether t is an all registrants type, where every
// registered I_T nexus is a reservation holder (SPC-4 section 5.12.10).
func prAllRegistrants(t scsi.PRType) bool {
	return t == scsi.PRTypeWriteExclusiveAllRegistrants || t == scsi.PRTypeExclusiveAccessAllRegistrants
}

// prRegistrantsOnly reports whether t is a registrants only type.
func prRegistrantsOnly(t scsi.PRType) bool {
	return t == scsi.PRTypeWriteExclusiveRegistrantsOnly || t == scsi.PRTypeExclusiveAccessRegistrantsOnly
}

// prValidType reports whether t is a reservation type lunar supports.
func prValidType(t scsi.PRType) bool {
	switch t {
	case scsi.PRTypeWriteExclusive, scsi.PRTypeExclusiveAccess,
		scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PRTypeExclusiveAccessRegistrantsOnly,
		scsi.PRTypeWriteExclusiveAllRegistrants, scsi.PRTypeExclusiveAccessAllRegistrants:
		return true
	}
	return false
}

// regFor returns the index of the registration covering n, or -1.
func (s *prState) regFor(n *Nexus) int {
	for i := range s.regs {
		if s.regs[i].id.matches(n) {
			return i
		}
	}
	return -1
}

// isHolder reports whether n holds the persistent reservation.
func (s *prState) isHolder(n *Nexus) bool {
	if !s.resv {
		return false
	}
	i := s.regFor(n)
	if i < 0 {
		return false
	}
	return prAllRegistrants(s.typ) || s.regs[i].id == s.holder
}

// release drops the persistent reservation.
func (s *prState) release() {
	s.resv, s.typ, s.holder = false, 0, prID{}
}

// remove deletes the registrations at the indexes del selects and applies
// SPC-4 section 5.12.11.2.3 to the reservation: a holder's removal
// releases it (an all registrants reservation only with its last
// registrant). It returns the identities removed and whether a registrants
// only reservation was released that way (which calls for RESERVATIONS
// RELEASED to the remaining registrants).
func (s *prState) remove(del func(i int, r *prReg) bool) (removed []prID, roReleased bool) {
	kept := s.regs[:0]
	holderGone := false
	for i := range s.regs {
		r := s.regs[i]
		if del(i, &r) {
			removed = append(removed, r.id)
			if s.resv && !prAllRegistrants(s.typ) && r.id == s.holder {
				holderGone = true
			}
			continue
		}
		kept = append(kept, r)
	}
	clear(s.regs[len(kept):])
	s.regs = kept
	if s.resv && (holderGone || len(s.regs) == 0) {
		roReleased = holderGone && prRegistrantsOnly(s.typ)
		s.release()
	}
	return removed, roReleased
}

// prClass sorts commands for the conflict tables of SPC-4 section 5.12.1
// (table 63) and SBC-3 section 4.17 (table 13).
type prClass uint8

const (
	// prAllowed: allowed through every persistent reservation.
	prAllowed prClass = iota
	// prRead: reads the medium; allowed through Write Exclusive types.
	prRead
	// prOther: writes the medium or changes or reads the state of the
	// logical unit; allowed only from holders (and registrants of the
	// registrants only and all registrants types).
	prOther
)

// prClassify returns the class of a command, from its CDB.
func prClassify(cdb []byte) prClass {
	switch scsi.OpCode(cdb[0]) {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense, scsi.OpTestUnitReady,
		scsi.OpPersistentReserveIn, scsi.OpPersistentReserveOut,
		scsi.OpReserve6, scsi.OpReserve10, scsi.OpRelease6, scsi.OpRelease10,
		scsi.OpReadCapacity10, scsi.OpMaintenanceIn, 0x4d /* LOG SENSE */ :
		// RESERVE and RELEASE decide themselves (SPC-4 section
		// 5.12.3); PERSISTENT RESERVE OUT too (table 63's note: the
		// service actions allowed depend on the registration).
		return prAllowed
	case scsi.OpServiceActionIn16:
		if len(cdb) > 1 && cdb[1]&0x1f == scsi.SAReadCapacity16 {
			return prAllowed
		}
		return prRead // GET LBA STATUS
	case scsi.OpRead6, scsi.OpRead10, scsi.OpRead12, scsi.OpRead16,
		scsi.OpVerify10, scsi.OpVerify16, 0xaf, /* VERIFY(12) */
		scsi.OpPreFetch10, scsi.OpPreFetch16:
		return prRead
	}
	return prOther
}

// prSPC2Allowed reports whether a command is allowed from an I_T nexus
// other than the one holding an SPC-2 reservation (SPC-2 section 5.5.1
// and its annex B tables: INQUIRY, REPORT LUNS, REQUEST SENSE, LOG SENSE,
// READ CAPACITY, and RELEASE, which completes without releasing; SPC-4
// table 63 lets TEST UNIT READY and the REPORT SUPPORTED commands
// through as well).
func prSPC2Allowed(cdb []byte) bool {
	switch scsi.OpCode(cdb[0]) {
	case scsi.OpInquiry, scsi.OpReportLUNs, scsi.OpRequestSense, scsi.OpTestUnitReady,
		scsi.OpRelease6, scsi.OpRelease10, scsi.OpReadCapacity10, scsi.OpMaintenanceIn, 0x4d:
		return true
	case scsi.OpServiceActionIn16:
		return len(cdb) > 1 && cdb[1]&0x1f == scsi.SAReadCapacity16
	}
	return false
}

// prConflict reports whether the command in cdb from n conflicts with a
// reservation of lu; the caller has seen lu.pr.active set. It allocates
// nothing.
func (lu *LU) prConflict(n *Nexus, cdb []byte) bool {
	p := &lu.pr
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.spc2 != nil && p.spc2 != n && !prSPC2Allowed(cdb) {
		// SPC-2 section 5.5.1: a logical unit reserved by another
		// initiator terminates the command with RESERVATION CONFLICT.
		return true
	}
	s := &p.st
	if !s.resv {
		return false
	}
	class := prClassify(cdb)
	if class == prAllowed || s.isHolder(n) {
		return false
	}
	registered := s.regFor(n) >= 0
	switch s.typ {
	case scsi.PRTypeWriteExclusive:
		// "Write Exclusive: ... commands that request a transfer to
		// the medium ... from a non-holder shall be terminated with
		// RESERVATION CONFLICT"; reads are shared.
		return class != prRead
	case scsi.PRTypeExclusiveAccess:
		return true
	case scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PRTypeWriteExclusiveAllRegistrants:
		return !registered && class != prRead
	case scsi.PRTypeExclusiveAccessRegistrantsOnly, scsi.PRTypeExclusiveAccessAllRegistrants:
		return !registered
	}
	return false
}

// prUA establishes unit attention code for the I_T nexuses ids cover, but
// not for except (SPC-4 section 5.12.11: the conditions a PERSISTENT
// RESERVE OUT command establishes go to "the initiator port associated
// with every I_T nexus" concerned, never to the sender).
func (lu *LU) prUA(code scsi.SenseCode, ids []prID, except *Nexus) {
	if len(ids) == 0 {
		return
	}
	ids = slices.Clone(ids)
	lu.establishUAWhere(code, func(n *Nexus) bool {
		if n == except {
			return false
		}
		for i := range ids {
			if ids[i].matches(n) {
				return true
			}
		}
		return false
	})
}

// prRegIDs returns the identities of s's registrations.
func (s *prState) regIDs() []prID {
	ids := make([]prID, len(s.regs))
	for i := range s.regs {
		ids[i] = s.regs[i].id
	}
	return ids
}

// prResetSPC2 releases an SPC-2 reservation held by any nexus (a logical
// unit reset, SPC-2 section 5.5.1: reservations are released by a hard
// reset or a LOGICAL UNIT RESET), keeping persistent reservations, which
// "shall not be affected" by resets (SPC-4 section 5.12.1).
func (lu *LU) prResetSPC2() {
	p := &lu.pr
	p.mu.Lock()
	p.spc2 = nil
	p.updateActive()
	p.mu.Unlock()
}

// prNexusLost releases the SPC-2 reservation n holds, if any: SPC-2
// reservations end with their I_T nexus (logout, connection loss, session
// reinstatement). Registrations survive: "an I_T nexus loss shall not
// affect persistent reservations" (SPC-4 section 5.12.1).
func (lu *LU) prNexusLost(n *Nexus) {
	p := &lu.pr
	p.mu.Lock()
	if p.spc2 == n {
		p.spc2 = nil
		p.updateActive()
	}
	p.mu.Unlock()
}

// ITNexusLost tells every logical unit n has addressed that the I_T
// nexus is gone: SPC-2 reservations it holds are released. The iSCSI
// layer calls it when a session ends.
func (n *Nexus) ITNexusLost() {
	n.mu.Lock()
	lus := make([]*LU, 0, len(n.lus))
	for lu := range n.lus {
		lus = append(lus, lu)
	}
	n.mu.Unlock()
	for _, lu := range lus {
		lu.prNexusLost(n)
	}
}
