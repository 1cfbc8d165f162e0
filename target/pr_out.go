package target

import (
	"context"
	"encoding/binary"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// PERSISTENT RESERVE OUT (SPC-4 section 6.16, rules in section 5.12):
// REGISTER, REGISTER AND IGNORE EXISTING KEY, RESERVE, RELEASE, CLEAR,
// PREEMPT, PREEMPT AND ABORT and REGISTER AND MOVE.

func init() {
	ctl := byte(0x04)
	for sa := scsi.PROutRegister; sa <= scsi.PROutRegisterAndMove; sa++ {
		luRegister(luCommand{
			op: scsi.OpPersistentReserveOut, sa: uint8(sa), hasSA: true,
			usage: []byte{byte(scsi.OpPersistentReserveOut), uint8(sa), 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, ctl},
			run:   prOut,
		})
	}
}

// nexusAborter is the iSCSI layer's part of PREEMPT AND ABORT: it aborts
// the tasks that the nexuses match selects have on lu (but not the task
// whose context is self) and waits, until ctx ends, for them to finish.
type nexusAborter interface {
	prAbortTasks(ctx context.Context, lu *LU, match func(*Nexus) bool, self context.Context)
}

// errPRConflict makes the engine answer RESERVATION CONFLICT.
var errPRConflict = &prConflictError{}

// prConflictError is the RESERVATION CONFLICT status as an error.
type prConflictError struct{}

// Error returns the status name.
func (*prConflictError) Error() string { return "target: reservation conflict" }

// prOutcome is what a PERSISTENT RESERVE OUT command does after its new
// state is committed: unit attentions, and tasks to abort.
type prOutcome struct {
	uas   []prUAOp
	abort []prID
}

// prUAOp is a unit attention for the nexuses ids covers.
type prUAOp struct {
	code scsi.SenseCode
	ids  []prID
}

// prOut runs PERSISTENT RESERVE OUT.
func prOut(c *luCmd) error {
	var r scsi.PersistentReserveOut
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(r.ParameterListLength)
	n := c.t.Nexus
	if n == nil {
		return errPRConflict
	}
	if uint64(len(c.t.DataOut)) < uint64(r.ParameterListLength) {
		return scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseParameterListLengthError)
	}
	data := c.t.DataOut[:r.ParameterListLength]
	lu := c.lu
	p := &lu.pr
	p.mu.Lock()
	next := p.st.clone()
	var out prOutcome
	var err error
	changed := true
	if r.ServiceAction == scsi.PROutRegisterAndMove {
		err = prRegisterAndMove(p, &next, n, data)
	} else {
		var prm scsi.PROutParameters
		if err = prm.UnmarshalBinary(data); err == nil {
			err = prm.CheckServiceAction(r.ServiceAction)
		}
		if err == nil {
			changed, err = prOutService(p, &next, n, &r, &prm, &out)
		}
	}
	if err == nil && changed && p.persist != nil && (p.st.aptpl || next.aptpl) {
		var snap *PRSnapshot
		if next.aptpl {
			snap = next.snapshot()
		}
		if perr := p.persist(snap); perr != nil {
			err = luMediumError(perr, scsi.SenseWriteError)
		}
	}
	if err != nil {
		p.mu.Unlock()
		return err
	}
	if changed {
		p.st = next
		p.updateActive()
	}
	p.mu.Unlock()
	for _, u := range out.uas {
		lu.prUA(u.code, u.ids, n)
	}
	if len(out.abort) > 0 && n.aborter != nil {
		ids := out.abort
		ctx := c.t.Ctx
		if ctx == nil {
			ctx = context.Background()
		}
		// SPC-4 section 5.12.11.2.5: PREEMPT AND ABORT aborts "all
		// tasks ... received from the I_T nexuses whose registrations
		// were removed", except the PERSISTENT RESERVE OUT command
		// itself.
		n.aborter.prAbortTasks(ctx, lu, func(x *Nexus) bool {
			for i := range ids {
				if ids[i].matches(x) {
					return true
				}
			}
			return false
		}, c.t.Ctx)
	}
	return nil
}

// prCheckAPTPL refuses APTPL on a logical unit that cannot persist
// (SPC-4 section 6.16.3: "If a device server that does not support the
// APTPL bit ... receives ... the APTPL bit set to one ... the device
// server shall terminate the command with CHECK CONDITION status, with
// the sense key set to ILLEGAL REQUEST and the additional sense code set
// to INVALID FIELD IN PARAMETER LIST").
func prCheckAPTPL(p *luPR, aptpl bool, at int) error {
	if aptpl && p.persist == nil {
		return scsi.InvalidFieldInParameterList(at, 0)
	}
	return nil
}

// prCheckScopeType checks the CDB's SCOPE and TYPE for the service actions
// that use them: "If the SCOPE field is not LU_SCOPE ... or the TYPE field
// contains a value that is not supported, the device server shall
// terminate the command with ... INVALID FIELD IN CDB".
func prCheckScopeType(r *scsi.PersistentReserveOut) error {
	if r.Scope != scsi.PRScopeLU {
		return scsi.InvalidFieldInCDB(2, 7)
	}
	if !prValidType(r.Type) {
		return scsi.InvalidFieldInCDB(2, 3)
	}
	return nil
}

// prOutService runs every service action but REGISTER AND MOVE on next
// (a clone of the current state, p.mu held). changed is false when the
// command completes without changing anything.
func prOutService(p *luPR, next *prState, n *Nexus, r *scsi.PersistentReserveOut, prm *scsi.PROutParameters, out *prOutcome) (changed bool, err error) {
	ri := next.regFor(n)
	sa := r.ServiceAction
	switch sa {
	case scsi.PROutRegister, scsi.PROutRegisterAndIgnoreExistingKey:
		return prRegister(p, next, n, ri, sa, prm, out)
	case scsi.PROutReserve, scsi.PROutPreempt, scsi.PROutPreemptAndAbort:
		// RELEASE checks its SCOPE and TYPE against the reservation.
		if err := prCheckScopeType(r); err != nil {
			return false, err
		}
	}
	// Table 63 (SPC-4 section 5.12.1): from an I_T nexus that is not
	// registered, every service action but the two REGISTERs is a
	// RESERVATION CONFLICT; and section 5.12.7: a RESERVATION KEY that
	// is not the nexus's registered key is a RESERVATION CONFLICT.
	if ri < 0 || next.regs[ri].key != prm.Key {
		return false, errPRConflict
	}
	switch sa {
	case scsi.PROutReserve:
		if next.resv {
			// SPC-4 section 5.12.9: a reservation held by another
			// I_T nexus, or by this one with another type, is a
			// RESERVATION CONFLICT; the same one again is GOOD.
			if next.isHolder(n) && next.typ == r.Type {
				return false, nil
			}
			return false, errPRConflict
		}
		next.resv, next.typ, next.holder = true, r.Type, next.regs[ri].id
		return true, nil
	case scsi.PROutRelease:
		if !next.resv || !next.isHolder(n) {
			// "If ... the I_T nexus is not a persistent reservation
			// holder, the command shall be completed with GOOD status"
			// and nothing is released.
			return false, nil
		}
		if r.Scope != scsi.PRScopeLU || r.Type != next.typ {
			// "... the device server shall not release the persistent
			// reservation and shall terminate the command with ...
			// INVALID RELEASE OF PERSISTENT RESERVATION."
			return false, scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseInvalidReleaseOfPersistentReservation)
		}
		typ := next.typ
		next.release()
		if prRegistrantsOnly(typ) || prAllRegistrants(typ) {
			out.uas = append(out.uas, prUAOp{scsi.SenseReservationsReleased, next.regIDs()})
		}
		return true, nil
	case scsi.PROutClear:
		// SPC-4 section 5.12.11.2.6: release the reservation, remove
		// every registration, RESERVATIONS PREEMPTED for every other
		// registered I_T nexus.
		out.uas = append(out.uas, prUAOp{scsi.SenseReservationsPreempted, next.regIDs()})
		next.release()
		next.regs = nil
		next.gen++
		return true, nil
	case scsi.PROutPreempt, scsi.PROutPreemptAndAbort:
		err := prPreempt(next, n, ri, r.Type, prm.ServiceActionKey, out)
		if err != nil {
			return false, err
		}
		if sa == scsi.PROutPreemptAndAbort {
			out.abort = out.uas[0].ids
		}
		next.gen++
		return true, nil
	}
	return false, scsi.InvalidFieldInCDB(1, 4)
}

// prRegister runs REGISTER and REGISTER AND IGNORE EXISTING KEY (SPC-4
// section 5.12.7, tables 46 and 47).
func prRegister(p *luPR, next *prState, n *Nexus, ri int, sa scsi.PROutServiceAction, prm *scsi.PROutParameters, out *prOutcome) (bool, error) {
	ignore := sa == scsi.PROutRegisterAndIgnoreExistingKey
	if prm.SpecIPT && (ignore || ri >= 0) {
		// "If the SPEC_I_PT bit is set to one" for a registered I_T
		// nexus, or with REGISTER AND IGNORE EXISTING KEY, "the
		// device server shall terminate the command with ... INVALID
		// FIELD IN CDB".
		return false, scsi.InvalidFieldInCDB(1, 4)
	}
	if ri < 0 {
		if !ignore && prm.Key != 0 {
			// Unregistered I_T nexus, RESERVATION KEY not zero:
			// RESERVATION CONFLICT.
			return false, errPRConflict
		}
		if prm.ServiceActionKey == 0 {
			// "... SERVICE ACTION RESERVATION KEY set to zero ... the
			// command shall be completed with GOOD status" and
			// nothing else happens.
			return false, nil
		}
		if err := prCheckAPTPL(p, prm.APTPL, 20); err != nil {
			return false, err
		}
		me := prNexusID(n)
		me.allTgPt = prm.AllTgPt
		add := []prID{me}
		for _, tid := range prm.TransportIDs {
			id := prID{name: tid.Name, isid: tid.ISID, anyISID: !tid.Port, rtp: me.rtp, allTgPt: prm.AllTgPt}
			dup := false
			for j := range add {
				if add[j] == id {
					dup = true
				}
			}
			if dup {
				continue
			}
			for j := range next.regs {
				if next.regs[j].id.overlaps(&id) {
					// A TransportID naming an I_T nexus that is
					// registered already: nothing is registered.
					return false, scsi.InvalidFieldInParameterList(24, 7)
				}
			}
			add = append(add, id)
		}
		for _, id := range add {
			next.regs = append(next.regs, prReg{id: id, key: prm.ServiceActionKey})
		}
		next.aptpl = prm.APTPL
		next.gen++
		return true, nil
	}
	if !ignore && prm.Key != next.regs[ri].key {
		return false, errPRConflict
	}
	if prm.ServiceActionKey == 0 {
		// Unregister (SPC-4 section 5.12.11.2.3).
		_, roReleased := next.remove(func(i int, _ *prReg) bool { return i == ri })
		if roReleased {
			// "If the persistent reservation is a registrants only
			// type, the device server shall establish a unit attention
			// condition ... RESERVATIONS RELEASED" for the other
			// registrants.
			out.uas = append(out.uas, prUAOp{scsi.SenseReservationsReleased, next.regIDs()})
		}
		next.gen++
		return true, nil
	}
	if err := prCheckAPTPL(p, prm.APTPL, 20); err != nil {
		return false, err
	}
	next.regs[ri].key = prm.ServiceActionKey
	next.aptpl = prm.APTPL
	next.gen++
	return true, nil
}

// prPreempt runs PREEMPT (SPC-4 section 5.12.11.4) on next; its first
// unit attention lists the I_T nexuses whose registrations were removed.
func prPreempt(next *prState, n *Nexus, ri int, typ scsi.PRType, sark uint64, out *prOutcome) error {
	me := next.regs[ri].id
	byKey := func(i int, r *prReg) bool { return r.key == sark }
	switch {
	case next.resv && prAllRegistrants(next.typ) && sark == 0:
		// "If an all registrants persistent reservation is present and
		// the SERVICE ACTION RESERVATION KEY field is set to zero":
		// remove every other registration, release the reservation and
		// create one of the new type held by this I_T nexus.
		removed, _ := next.remove(func(i int, _ *prReg) bool { return i != ri })
		next.resv, next.typ, next.holder = true, typ, me
		out.uas = append(out.uas, prUAOp{scsi.SenseRegistrationsPreempted, removed})
		return nil
	case next.resv && !prAllRegistrants(next.typ) && prHolderKey(next) == sark:
		// Preempting the holder: remove the registrations with that
		// key "except the I_T nexus that is being used for the
		// PERSISTENT RESERVE OUT command", and make this nexus the
		// holder of a reservation of the new type.
		oldTyp := next.typ
		removed, _ := next.remove(func(i int, r *prReg) bool { return i != ri && r.key == sark })
		next.resv, next.typ, next.holder = true, typ, me
		out.uas = append(out.uas, prUAOp{scsi.SenseRegistrationsPreempted, removed})
		if oldTyp != typ {
			// "If the type or scope has changed, then for every I_T
			// nexus whose reservation key was not removed, except for
			// the I_T nexus on which the PERSISTENT RESERVE OUT command
			// was received, the device server shall establish a unit
			// attention condition ... RESERVATIONS RELEASED."
			out.uas = append(out.uas, prUAOp{scsi.SenseReservationsReleased, next.regIDs()})
		}
		return nil
	}
	if sark == 0 {
		// "If the SERVICE ACTION RESERVATION KEY field is set to zero"
		// without an all registrants reservation: INVALID FIELD IN
		// PARAMETER LIST.
		return scsi.InvalidFieldInParameterList(8, 7)
	}
	found := false
	for i := range next.regs {
		if byKey(i, &next.regs[i]) {
			found = true
		}
	}
	if !found {
		// "If the SERVICE ACTION RESERVATION KEY field does not
		// identify any registered I_T nexus, the device server shall
		// terminate the command with RESERVATION CONFLICT status."
		return errPRConflict
	}
	removed, _ := next.remove(byKey)
	out.uas = append(out.uas, prUAOp{scsi.SenseRegistrationsPreempted, removed})
	return nil
}

// prHolderKey returns the reservation key of the holder of a reservation
// that is not of an all registrants type.
func prHolderKey(s *prState) uint64 {
	for i := range s.regs {
		if s.regs[i].id == s.holder {
			return s.regs[i].key
		}
	}
	return 0
}

// prRegisterAndMove runs REGISTER AND MOVE (SPC-4 section 5.12.8) on
// next.
func prRegisterAndMove(p *luPR, next *prState, n *Nexus, data []byte) error {
	var prm scsi.PRRegisterAndMoveParameters
	if err := prm.UnmarshalBinary(data); err != nil {
		return err
	}
	if tl := binary.BigEndian.Uint32(data[20:24]); uint64(len(data)) != 24+uint64(tl) {
		// The parameter list is the header and one TransportID.
		return scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseParameterListLengthError)
	}
	ri := next.regFor(n)
	if ri < 0 || next.regs[ri].key != prm.Key {
		return errPRConflict
	}
	if prm.ServiceActionKey == 0 {
		// "If the SERVICE ACTION RESERVATION KEY field is set to zero,
		// the device server shall terminate the command with ...
		// INVALID FIELD IN PARAMETER LIST."
		return scsi.InvalidFieldInParameterList(8, 7)
	}
	if !next.resv || prAllRegistrants(next.typ) || !next.isHolder(n) {
		// "If ... the I_T nexus ... is not the reservation holder" or
		// the reservation is of an all registrants type: RESERVATION
		// CONFLICT.
		return errPRConflict
	}
	if !prm.TransportID.Port || prm.RelativeTargetPortID == 0 {
		return scsi.InvalidFieldInParameterList(24, 7)
	}
	dest := prID{name: prm.TransportID.Name, isid: prm.TransportID.ISID, rtp: prm.RelativeTargetPortID}
	if dest.overlaps(&next.regs[ri].id) {
		// "If the TransportID ... specifies the I_T nexus on which the
		// command was received, the device server shall terminate the
		// command with ... INVALID FIELD IN PARAMETER LIST."
		return scsi.InvalidFieldInParameterList(24, 7)
	}
	if err := prCheckAPTPL(p, prm.APTPL, 17); err != nil {
		return err
	}
	di := -1
	for i := range next.regs {
		if next.regs[i].id.overlaps(&dest) {
			di = i
			break
		}
	}
	if di < 0 {
		next.regs = append(next.regs, prReg{id: dest, key: prm.ServiceActionKey})
		di = len(next.regs) - 1
	} else {
		next.regs[di].key = prm.ServiceActionKey
	}
	next.holder = next.regs[di].id
	if prm.Unreg {
		src := next.regs[ri].id
		next.remove(func(_ int, r *prReg) bool { return r.id == src })
	}
	next.aptpl = prm.APTPL
	next.gen++
	return nil
}

// prAbortTasks aborts, without a response (TAS is zero in the control
// mode page), the tasks on lu of every session whose nexus match selects,
// but the task with context self, and waits for them until ctx ends.
func (s *Server) prAbortTasks(ctx context.Context, lu *LU, match func(*Nexus) bool, self context.Context) {
	var ts []*sessTask
	for _, o := range s.sessionSnapshot() {
		if o.typ != iscsi.SessionNormal || o.nexus == nil || !match(o.nexus) {
			continue
		}
		v := o.currentView()
		if v == nil {
			continue
		}
		ts = append(ts, o.abortWhere(func(t *sessTask) bool {
			if self != nil && context.Context(t.ctx) == self {
				return false
			}
			x, ok := v.Lookup(t.lun)
			return ok && x == lu
		}, true, true)...)
	}
	waitTasks(ctx, ts)
}
