package target

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/lunarsan/lunar/scsi"
)

// prTestEnv is a logical unit and the engine, with helpers to send
// PERSISTENT RESERVE commands.
type prTestEnv struct {
	t  *testing.T
	e  *Engine
	lu *LU
}

func prTestNew(t *testing.T) *prTestEnv {
	t.Helper()
	e := &Engine{}
	return &prTestEnv{t: t, e: e, lu: luTestLU(t, "mem", 64, LUConfig{})}
}

// nexus returns a nexus of initiator with the given last ISID byte, its
// power-on unit attention consumed.
func (v *prTestEnv) nexus(initiator string, isid byte) *Nexus {
	v.t.Helper()
	n := NewNexus(initiator, iscsi.ISID{0x80, 0, 0, 1, 0, isid}, "iqn.2026-01.test:tgt", 1)
	r, _ := luRun(v.e, v.lu, n, luCDB(v.t, &scsi.TestUnitReady{}), nil, 0)
	luWantSense(v.t, r, scsi.SenseKeyUnitAttention, scsi.SensePowerOnReset)
	return n
}

// out sends PERSISTENT RESERVE OUT with the basic parameter list.
func (v *prTestEnv) out(n *Nexus, sa scsi.PROutServiceAction, typ scsi.PRType, prm scsi.PROutParameters) Result {
	v.t.Helper()
	data, err := prm.MarshalBinary()
	if err != nil {
		v.t.Fatalf("encode parameters: %v", err)
	}
	return v.outRaw(n, sa, 0, typ, data)
}

// outRaw sends PERSISTENT RESERVE OUT with raw parameter data.
func (v *prTestEnv) outRaw(n *Nexus, sa scsi.PROutServiceAction, scope uint8, typ scsi.PRType, data []byte) Result {
	v.t.Helper()
	cdb := luCDB(v.t, &scsi.PersistentReserveOut{ServiceAction: sa, Scope: scope, Type: typ, ParameterListLength: uint32(len(data))})
	r, _ := luRun(v.e, v.lu, n, cdb, data, 0)
	return r
}

// in sends PERSISTENT RESERVE IN and returns the parameter data.
func (v *prTestEnv) in(n *Nexus, sa scsi.PRInServiceAction, alloc uint16) []byte {
	v.t.Helper()
	r, d := luRun(v.e, v.lu, n, luCDB(v.t, &scsi.PersistentReserveIn{ServiceAction: sa, AllocationLength: alloc}), nil, int(alloc))
	luWantGood(v.t, r)
	return d
}

func (v *prTestEnv) readKeys(n *Nexus) scsi.PRReadKeysData {
	v.t.Helper()
	var d scsi.PRReadKeysData
	if err := d.UnmarshalBinary(v.in(n, scsi.PRInReadKeys, 4096)); err != nil {
		v.t.Fatalf("READ KEYS data: %v", err)
	}
	return d
}

func (v *prTestEnv) readReservation(n *Nexus) scsi.PRReservationData {
	v.t.Helper()
	var d scsi.PRReservationData
	if err := d.UnmarshalBinary(v.in(n, scsi.PRInReadReservation, 4096)); err != nil {
		v.t.Fatalf("READ RESERVATION data: %v", err)
	}
	return d
}

// run runs a CDB with a Data-In buffer (reads) or Data-Out (writes).
func (v *prTestEnv) run(n *Nexus, cdb []byte) Result {
	v.t.Helper()
	var out []byte
	in := 4096
	if scsi.OpCode(cdb[0]) == scsi.OpWrite10 {
		out, in = make([]byte, 512), 0
	}
	r, _ := luRun(v.e, v.lu, n, cdb, out, in)
	return r
}

func prWantConflict(t *testing.T, r Result) {
	t.Helper()
	if r.Status != scsi.StatusReservationConflict {
		sd, _ := scsi.ParseSense(r.Sense)
		t.Fatalf("status %v (sense %v), want RESERVATION CONFLICT", r.Status, &sd)
	}
}

// prWantStatus checks GOOD or RESERVATION CONFLICT.
func prWantStatus(t *testing.T, r Result, conflict bool) {
	t.Helper()
	if conflict {
		prWantConflict(t, r)
	} else {
		luWantGood(t, r)
	}
}

const (
	prIniA = "iqn.2026-01.test:a"
	prIniB = "iqn.2026-01.test:b"
	prIniC = "iqn.2026-01.test:c"
)

func TestPRRegister(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
	// Nothing registered: generation 0, no keys.
	if d := v.readKeys(a); d.Generation != 0 || len(d.Keys) != 0 {
		t.Fatalf("READ KEYS %+v, want empty", d)
	}
	// Unregistered, RESERVATION KEY not zero: conflict.
	prWantConflict(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 5, ServiceActionKey: 1}))
	// SARK zero from an unregistered nexus: GOOD, nothing changes.
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{}))
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 0xa}))
	luWantGood(t, v.out(b, scsi.PROutRegisterAndIgnoreExistingKey, 0, scsi.PROutParameters{ServiceActionKey: 0xb}))
	d := v.readKeys(a)
	if d.Generation != 2 || !slices.Equal(d.Keys, []uint64{0xa, 0xb}) {
		t.Fatalf("READ KEYS %+v, want generation 2 keys [a b]", d)
	}
	// Registered, wrong RESERVATION KEY: conflict; REGISTER AND IGNORE
	// EXISTING KEY changes it anyway.
	prWantConflict(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 0xb, ServiceActionKey: 0xc}))
	luWantGood(t, v.out(a, scsi.PROutRegisterAndIgnoreExistingKey, 0, scsi.PROutParameters{Key: 99, ServiceActionKey: 0xc}))
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 0xc, ServiceActionKey: 0xd}))
	// Unregister.
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 0xb}))
	d = v.readKeys(a)
	if d.Generation != 5 || !slices.Equal(d.Keys, []uint64{0xd}) {
		t.Fatalf("READ KEYS %+v, want generation 5 keys [d]", d)
	}
	// Truncated to the header: ADDITIONAL LENGTH is still the full one.
	var tr scsi.PRReadKeysData
	if err := tr.UnmarshalBinary(v.in(a, scsi.PRInReadKeys, 8)); err != nil || tr.AdditionalLength != 8 || len(tr.Keys) != 0 {
		t.Fatalf("truncated READ KEYS %+v %v", tr, err)
	}
	// A registered nexus may not use SPEC_I_PT.
	r := v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 0xd, ServiceActionKey: 0xe, SpecIPT: true,
		TransportIDs: []scsi.ISCSITransportID{{Name: prIniC}}})
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
}

// prTestTypes are the six reservation types.
var prTestTypes = []scsi.PRType{
	scsi.PRTypeWriteExclusive, scsi.PRTypeExclusiveAccess,
	scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PRTypeExclusiveAccessRegistrantsOnly,
	scsi.PRTypeWriteExclusiveAllRegistrants, scsi.PRTypeExclusiveAccessAllRegistrants,
}

// TestPRConflictTable checks rows of SPC-4 table 63 and SBC-3 table 13
// for each reservation type, from the holder, a registered nexus and an
// unregistered one.
func TestPRConflictTable(t *testing.T) {
	type access struct{ read, write, modeSense bool } // true: conflict
	want := map[scsi.PRType][2]access{                // [registered, unregistered]
		scsi.PRTypeWriteExclusive:                 {{false, true, true}, {false, true, true}},
		scsi.PRTypeExclusiveAccess:                {{true, true, true}, {true, true, true}},
		scsi.PRTypeWriteExclusiveRegistrantsOnly:  {{false, false, false}, {false, true, true}},
		scsi.PRTypeExclusiveAccessRegistrantsOnly: {{false, false, false}, {true, true, true}},
		scsi.PRTypeWriteExclusiveAllRegistrants:   {{false, false, false}, {false, true, true}},
		scsi.PRTypeExclusiveAccessAllRegistrants:  {{false, false, false}, {true, true, true}},
	}
	read := luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 1, Blocks: 1})
	write := luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 1, Blocks: 1})
	modeSense := luCDB(t, &scsi.ModeSense{Op: scsi.OpModeSense6, PageCode: 0x3f, AllocationLength: 255})
	allowed := [][]byte{
		luCDB(t, &scsi.TestUnitReady{}),
		luCDB(t, &scsi.Inquiry{AllocationLength: 96}),
		luCDB(t, &scsi.ReportLUNs{AllocationLength: 64}),
		luCDB(t, &scsi.ReadCapacity10{}),
		luCDB(t, &scsi.PersistentReserveIn{ServiceAction: scsi.PRInReadKeys, AllocationLength: 64}),
	}
	for _, typ := range prTestTypes {
		t.Run(typ.String(), func(t *testing.T) {
			v := prTestNew(t)
			h, reg, un := v.nexus(prIniA, 1), v.nexus(prIniB, 1), v.nexus(prIniC, 1)
			luWantGood(t, v.out(h, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
			luWantGood(t, v.out(reg, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 2}))
			luWantGood(t, v.out(h, scsi.PROutReserve, typ, scsi.PROutParameters{Key: 1}))
			rd := v.readReservation(un)
			wantKey := uint64(1)
			if prAllRegistrants(typ) {
				wantKey = 0
			}
			if !rd.Reserved || rd.Type != typ || rd.Key != wantKey {
				t.Fatalf("READ RESERVATION %+v, want type %v key %d", rd, typ, wantKey)
			}
			for _, cdb := range [][]byte{read, write, modeSense} {
				luWantGood(t, v.run(h, cdb))
			}
			for i, n := range []*Nexus{reg, un} {
				w := want[typ][i]
				prWantStatus(t, v.run(n, read), w.read)
				prWantStatus(t, v.run(n, write), w.write)
				prWantStatus(t, v.run(n, modeSense), w.modeSense)
				for _, cdb := range allowed {
					luWantGood(t, v.run(n, cdb))
				}
			}
			// RESERVE from another nexus: conflict, unless it holds an
			// all registrants reservation already (same type: GOOD).
			r := v.out(reg, scsi.PROutReserve, typ, scsi.PROutParameters{Key: 2})
			prWantStatus(t, r, !prAllRegistrants(typ))
			// The holder reserving another type: conflict.
			other := scsi.PRTypeWriteExclusive
			if typ == other {
				other = scsi.PRTypeExclusiveAccess
			}
			prWantConflict(t, v.out(h, scsi.PROutReserve, other, scsi.PROutParameters{Key: 1}))
			// RELEASE from a registered non-holder releases nothing.
			if !prAllRegistrants(typ) {
				luWantGood(t, v.out(reg, scsi.PROutRelease, typ, scsi.PROutParameters{Key: 2}))
				if !v.readReservation(h).Reserved {
					t.Fatal("RELEASE from a non-holder released the reservation")
				}
			}
			// The holder's RELEASE with the wrong type.
			r = v.out(h, scsi.PROutRelease, other, scsi.PROutParameters{Key: 1})
			luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidReleaseOfPersistentReservation)
			luWantGood(t, v.out(h, scsi.PROutRelease, typ, scsi.PROutParameters{Key: 1}))
			if v.readReservation(h).Reserved {
				t.Fatal("still reserved after RELEASE")
			}
			// Registrants only and all registrants: RESERVATIONS
			// RELEASED for the other registrant, not for the others.
			tur := luCDB(t, &scsi.TestUnitReady{})
			if prRegistrantsOnly(typ) || prAllRegistrants(typ) {
				luWantSense(t, v.run(reg, tur), scsi.SenseKeyUnitAttention, scsi.SenseReservationsReleased)
			}
			for _, n := range []*Nexus{h, reg, un} {
				luWantGood(t, v.run(n, tur))
			}
			luWantGood(t, v.run(un, write))
		})
	}
}

func TestPRUnregisterHolder(t *testing.T) {
	for _, typ := range prTestTypes {
		t.Run(typ.String(), func(t *testing.T) {
			v := prTestNew(t)
			a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
			luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
			luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 2}))
			luWantGood(t, v.out(a, scsi.PROutReserve, typ, scsi.PROutParameters{Key: 1}))
			luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 1}))
			tur := luCDB(t, &scsi.TestUnitReady{})
			if prRegistrantsOnly(typ) {
				luWantSense(t, v.run(b, tur), scsi.SenseKeyUnitAttention, scsi.SenseReservationsReleased)
			}
			rd := v.readReservation(b)
			// SPC-4 5.12.11.2.3: the holder's unregistration releases the
			// reservation; an all registrants one stays while a
			// registrant is left.
			if rd.Reserved != prAllRegistrants(typ) {
				t.Fatalf("reserved %v after the holder unregistered", rd.Reserved)
			}
			luWantGood(t, v.run(b, tur))
			luWantGood(t, v.run(a, tur))
			if prAllRegistrants(typ) {
				luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 2}))
				if v.readReservation(b).Reserved {
					t.Fatal("all registrants reservation kept without registrants")
				}
			}
		})
	}
}

// prTestAborter records PREEMPT AND ABORT's abort requests.
type prTestAborter struct {
	mu    sync.Mutex
	calls []func(*Nexus) bool
	self  []context.Context
}

func (a *prTestAborter) prAbortTasks(_ context.Context, _ *LU, match func(*Nexus) bool, self context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, match)
	a.self = append(a.self, self)
}

func TestPRPreemptAndAbort(t *testing.T) {
	v := prTestNew(t)
	a, b, c := v.nexus(prIniA, 1), v.nexus(prIniB, 1), v.nexus(prIniC, 1)
	ab := &prTestAborter{}
	b.aborter = ab
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 0xa}))
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 0xb}))
	luWantGood(t, v.out(c, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 0xc}))
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PROutParameters{Key: 0xa}))
	gen := v.readKeys(a).Generation
	write := luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 2, Blocks: 1})
	luWantGood(t, v.run(a, write))

	// Errors first: unregistered, wrong key, unknown SARK, SARK zero.
	prWantConflict(t, v.out(b, scsi.PROutPreemptAndAbort, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xbb, ServiceActionKey: 0xa}))
	prWantConflict(t, v.out(b, scsi.PROutPreemptAndAbort, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xb, ServiceActionKey: 0x77}))
	luWantSense(t, v.out(b, scsi.PROutPreempt, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xb}),
		scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInParameterList)
	luWantSense(t, v.out(b, scsi.PROutPreempt, 0x2, scsi.PROutParameters{Key: 0xb, ServiceActionKey: 0xa}),
		scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
	if len(ab.calls) != 0 {
		t.Fatal("a failed PREEMPT AND ABORT aborted tasks")
	}

	// B preempts A's reservation with another type.
	luWantGood(t, v.out(b, scsi.PROutPreemptAndAbort, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xb, ServiceActionKey: 0xa}))
	if len(ab.calls) != 1 {
		t.Fatalf("%d abort requests, want 1", len(ab.calls))
	}
	if m := ab.calls[0]; !m(a) || m(b) || m(c) {
		t.Fatal("abort request does not select exactly A's nexus")
	}
	if ab.self[0] == nil {
		t.Fatal("abort request without the command's own context")
	}
	if kd := v.readKeys(b); kd.Generation != gen+1 || !slices.Equal(kd.Keys, []uint64{0xb, 0xc}) {
		t.Fatalf("READ KEYS %+v, want generation %d keys [b c]", kd, gen+1)
	}
	if rd := v.readReservation(b); !rd.Reserved || rd.Key != 0xb || rd.Type != scsi.PRTypeExclusiveAccess {
		t.Fatalf("READ RESERVATION %+v, want B's Exclusive Access", rd)
	}
	// A: REGISTRATIONS PREEMPTED, then RESERVATION CONFLICT on writes
	// (the fence). C: RESERVATIONS RELEASED (the type changed). B:
	// nothing.
	luWantSense(t, v.run(a, write), scsi.SenseKeyUnitAttention, scsi.SenseRegistrationsPreempted)
	prWantConflict(t, v.run(a, write))
	tur := luCDB(t, &scsi.TestUnitReady{})
	luWantSense(t, v.run(c, tur), scsi.SenseKeyUnitAttention, scsi.SenseReservationsReleased)
	luWantGood(t, v.run(c, tur))
	prWantConflict(t, v.run(c, write))
	luWantGood(t, v.run(b, tur))
	luWantGood(t, v.run(b, write))
	// A is no longer registered: PR OUT other than REGISTER conflicts.
	prWantConflict(t, v.out(a, scsi.PROutRelease, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xa}))

	// PREEMPT of a non-holder registration keeps the reservation.
	luWantGood(t, v.out(b, scsi.PROutPreempt, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 0xb, ServiceActionKey: 0xc}))
	luWantSense(t, v.run(c, tur), scsi.SenseKeyUnitAttention, scsi.SenseRegistrationsPreempted)
	if rd := v.readReservation(b); !rd.Reserved || rd.Key != 0xb {
		t.Fatalf("READ RESERVATION %+v after preempting a registrant", rd)
	}
}

func TestPRPreemptWithoutReservation(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 2}))
	gen := v.readKeys(a).Generation
	luWantGood(t, v.out(b, scsi.PROutPreempt, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 2, ServiceActionKey: 1}))
	if kd := v.readKeys(b); kd.Generation != gen+1 || !slices.Equal(kd.Keys, []uint64{2}) {
		t.Fatalf("READ KEYS %+v", kd)
	}
	if v.readReservation(b).Reserved {
		t.Fatal("PREEMPT without a reservation created one")
	}
	luWantSense(t, v.run(a, luCDB(t, &scsi.TestUnitReady{})), scsi.SenseKeyUnitAttention, scsi.SenseRegistrationsPreempted)
}

func TestPRPreemptAllRegistrants(t *testing.T) {
	v := prTestNew(t)
	a, b, c := v.nexus(prIniA, 1), v.nexus(prIniB, 1), v.nexus(prIniC, 1)
	for i, n := range []*Nexus{a, b, c} {
		luWantGood(t, v.out(n, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: uint64(i + 1)}))
	}
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeWriteExclusiveAllRegistrants, scsi.PROutParameters{Key: 1}))
	// SARK zero: every other registration goes, B holds a new one.
	luWantGood(t, v.out(b, scsi.PROutPreempt, scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PROutParameters{Key: 2}))
	if kd := v.readKeys(b); !slices.Equal(kd.Keys, []uint64{2}) {
		t.Fatalf("keys %v, want [2]", kd.Keys)
	}
	if rd := v.readReservation(b); rd.Key != 2 || rd.Type != scsi.PRTypeWriteExclusiveRegistrantsOnly {
		t.Fatalf("READ RESERVATION %+v", rd)
	}
	tur := luCDB(t, &scsi.TestUnitReady{})
	for _, n := range []*Nexus{a, c} {
		luWantSense(t, v.run(n, tur), scsi.SenseKeyUnitAttention, scsi.SenseRegistrationsPreempted)
	}
}

func TestPRClear(t *testing.T) {
	v := prTestNew(t)
	a, b, c := v.nexus(prIniA, 1), v.nexus(prIniB, 1), v.nexus(prIniC, 1)
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 2}))
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 1}))
	gen := v.readKeys(a).Generation
	prWantConflict(t, v.out(c, scsi.PROutClear, 0, scsi.PROutParameters{}))
	prWantConflict(t, v.out(b, scsi.PROutClear, 0, scsi.PROutParameters{Key: 1}))
	luWantGood(t, v.out(b, scsi.PROutClear, 0, scsi.PROutParameters{Key: 2}))
	if kd := v.readKeys(b); kd.Generation != gen+1 || len(kd.Keys) != 0 {
		t.Fatalf("READ KEYS %+v after CLEAR", kd)
	}
	if v.readReservation(b).Reserved {
		t.Fatal("reserved after CLEAR")
	}
	tur := luCDB(t, &scsi.TestUnitReady{})
	luWantSense(t, v.run(a, tur), scsi.SenseKeyUnitAttention, scsi.SenseReservationsPreempted)
	luWantGood(t, v.run(b, tur))
	luWantGood(t, v.run(c, tur))
}

func TestPROutErrors(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
	basic, _ := (&scsi.PROutParameters{Key: 1}).MarshalBinary()
	ill := scsi.SenseKeyIllegalRequest
	for _, tc := range []struct {
		name  string
		n     *Nexus
		sa    scsi.PROutServiceAction
		scope uint8
		typ   scsi.PRType
		data  []byte
		code  scsi.SenseCode // 0: RESERVATION CONFLICT
	}{
		{"short list", a, scsi.PROutReserve, 0, scsi.PRTypeWriteExclusive, basic[:23], scsi.SenseParameterListLengthError},
		{"long list", a, scsi.PROutReserve, 0, scsi.PRTypeWriteExclusive, append(slices.Clone(basic), 0), scsi.SenseParameterListLengthError},
		{"empty list", a, scsi.PROutRegister, 0, 0, nil, scsi.SenseParameterListLengthError},
		{"scope", a, scsi.PROutReserve, 1, scsi.PRTypeWriteExclusive, basic, scsi.SenseInvalidFieldInCDB},
		{"type", a, scsi.PROutReserve, 0, 4, basic, scsi.SenseInvalidFieldInCDB},
		{"unregistered reserve", b, scsi.PROutReserve, 0, scsi.PRTypeWriteExclusive, basic, 0},
		{"unregistered release", b, scsi.PROutRelease, 0, scsi.PRTypeWriteExclusive, basic, 0},
		{"unregistered clear", b, scsi.PROutClear, 0, 0, basic, 0},
		{"SPEC_I_PT reserve", a, scsi.PROutReserve, 0, scsi.PRTypeWriteExclusive, prSpecIPT(t, 1, 0, prIniB), scsi.SenseInvalidFieldInParameterList},
		{"APTPL without persistence", b, scsi.PROutRegister, 0, 0, prBasic(0, 7, 0x01), scsi.SenseInvalidFieldInParameterList},
		{"SPEC_I_PT ignore key", b, scsi.PROutRegisterAndIgnoreExistingKey, 0, 0, prSpecIPT(t, 0, 7, prIniC), scsi.SenseInvalidFieldInCDB},
		{"move unregistered", b, scsi.PROutRegisterAndMove, 0, 0, prMove(t, 5, 6, prIniC, 2), 0},
		{"move no reservation", a, scsi.PROutRegisterAndMove, 0, 0, prMove(t, 1, 6, prIniC, 2), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := v.outRaw(tc.n, tc.sa, tc.scope, tc.typ, tc.data)
			if tc.code == 0 {
				prWantConflict(t, r)
				return
			}
			luWantSense(t, r, ill, tc.code)
		})
	}
	// Data-Out shorter than the PARAMETER LIST LENGTH.
	cdb := luCDB(t, &scsi.PersistentReserveOut{ServiceAction: scsi.PROutRegister, ParameterListLength: 24})
	r, _ := luRun(v.e, v.lu, a, cdb, basic[:10], 0)
	luWantSense(t, r, ill, scsi.SenseParameterListLengthError)
	// Service actions beyond REGISTER AND MOVE, and PR IN beyond READ
	// FULL STATUS: INVALID FIELD IN CDB.
	for sa := byte(8); sa < 0x20; sa++ {
		r, _ := luRun(v.e, v.lu, a, []byte{byte(scsi.OpPersistentReserveOut), sa, 0, 0, 0, 0, 0, 0, 24, 0}, basic, 0)
		luWantSense(t, r, ill, scsi.SenseInvalidFieldInCDB)
	}
	for sa := byte(4); sa < 0x20; sa++ {
		r, _ := luRun(v.e, v.lu, a, []byte{byte(scsi.OpPersistentReserveIn), sa, 0, 0, 0, 0, 0, 0, 64, 0}, nil, 64)
		luWantSense(t, r, ill, scsi.SenseInvalidFieldInCDB)
	}
	if kd := v.readKeys(a); kd.Generation != 1 {
		t.Fatalf("generation %d after failed commands, want 1", kd.Generation)
	}
}

// prBasic returns a basic parameter list with the byte 20 flags.
func prBasic(key, sark uint64, flags byte) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b[0:], key)
	binary.BigEndian.PutUint64(b[8:], sark)
	b[20] = flags
	return b
}

// prSpecIPT returns a SPEC_I_PT parameter list with device-name
// TransportIDs.
func prSpecIPT(t *testing.T, key, sark uint64, names ...string) []byte {
	t.Helper()
	p := scsi.PROutParameters{Key: key, ServiceActionKey: sark, SpecIPT: true}
	for _, n := range names {
		p.TransportIDs = append(p.TransportIDs, scsi.ISCSITransportID{Name: n})
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prMove returns a REGISTER AND MOVE parameter list to initiator port
// name with ISID 0x800000010001 | last byte, through relative port 1.
func prMove(t *testing.T, key, sark uint64, name string, isid byte) []byte {
	t.Helper()
	p := scsi.PRRegisterAndMoveParameters{Key: key, ServiceActionKey: sark, Unreg: true, RelativeTargetPortID: 1,
		TransportID: scsi.ISCSITransportID{Name: name, Port: true, ISID: 0x800000010000 | uint64(isid)}}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPRSpecIPTAndFullStatus(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 2)
	// A registers itself and every port of B (a device-name TransportID).
	luWantGood(t, v.outRaw(a, scsi.PROutRegister, 0, 0, prSpecIPT(t, 0, 0x77, prIniB)))
	// B is registered with the same key: it can reserve.
	luWantGood(t, v.out(b, scsi.PROutReserve, scsi.PRTypeWriteExclusive, scsi.PROutParameters{Key: 0x77}))
	var fs scsi.PRFullStatusData
	if err := fs.UnmarshalBinary(v.in(a, scsi.PRInReadFullStatus, 4096)); err != nil {
		t.Fatal(err)
	}
	want := []scsi.PRFullStatusDescriptor{
		{Key: 0x77, RelativeTargetPortID: 1, TransportID: scsi.ISCSITransportID{Name: prIniA, Port: true, ISID: 0x800000010001}},
		{Key: 0x77, RHolder: true, Type: scsi.PRTypeWriteExclusive, RelativeTargetPortID: 1, TransportID: scsi.ISCSITransportID{Name: prIniB}},
	}
	if fs.Generation != 1 || !slices.Equal(fs.Descriptors, want) {
		t.Fatalf("READ FULL STATUS %+v, want %+v", fs, want)
	}
	// A registered I_T nexus in a TransportID: nothing is registered.
	c := v.nexus(prIniC, 1)
	luWantSense(t, v.outRaw(c, scsi.PROutRegister, 0, 0, prSpecIPT(t, 0, 9, prIniA)),
		scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInParameterList)
	if kd := v.readKeys(c); len(kd.Keys) != 2 {
		t.Fatalf("keys %v after a refused SPEC_I_PT", kd.Keys)
	}
	// ALL_TG_PT: the registration covers the port through every target port.
	luWantGood(t, v.outRaw(c, scsi.PROutRegister, 0, 0, prBasic(0, 9, 0x04)))
	c2 := NewNexus(prIniC, iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 2)
	luRun(v.e, v.lu, c2, luCDB(t, &scsi.TestUnitReady{}), nil, 0)
	luWantGood(t, v.out(c2, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 9, ServiceActionKey: 10}))
	// Capabilities.
	var caps scsi.PRCapabilities
	if err := caps.UnmarshalBinary(v.in(a, scsi.PRInReportCapabilities, 8)); err != nil {
		t.Fatal(err)
	}
	if !caps.CRH || !caps.SIPC || !caps.ATPC || caps.PTPLC || !caps.TMV || caps.PTPLA || caps.AllowCommands != 1 {
		t.Fatalf("REPORT CAPABILITIES %+v", caps)
	}
	for _, typ := range prTestTypes {
		if !caps.TypeMask.Has(typ) {
			t.Errorf("type mask lacks %v", typ)
		}
	}
}

func TestPRRegisterAndMove(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 2)
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeExclusiveAccess, scsi.PROutParameters{Key: 1}))
	// To itself: INVALID FIELD IN PARAMETER LIST.
	luWantSense(t, v.outRaw(a, scsi.PROutRegisterAndMove, 0, 0, prMove(t, 1, 5, prIniA, 1)),
		scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInParameterList)
	luWantGood(t, v.outRaw(a, scsi.PROutRegisterAndMove, 0, 0, prMove(t, 1, 5, prIniB, 2)))
	if rd := v.readReservation(b); !rd.Reserved || rd.Key != 5 || rd.Type != scsi.PRTypeExclusiveAccess {
		t.Fatalf("READ RESERVATION %+v after REGISTER AND MOVE", rd)
	}
	if kd := v.readKeys(b); !slices.Equal(kd.Keys, []uint64{5}) || kd.Generation != 2 {
		t.Fatalf("READ KEYS %+v after REGISTER AND MOVE with UNREG", kd)
	}
	read := luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 0, Blocks: 1})
	luWantGood(t, v.run(b, read))
	prWantConflict(t, v.run(a, read))
}

func TestPRReportSupportedOpCodes(t *testing.T) {
	v := prTestNew(t)
	a := v.nexus(prIniA, 1)
	r, d := luRun(v.e, v.lu, a, luCDB(t, &scsi.ReportSupportedOperationCodes{ReportingOptions: scsi.ReportingOptionsAll, AllocationLength: 8192}), nil, 8192)
	luWantGood(t, r)
	var sup scsi.SupportedOpCodes
	if err := sup.UnmarshalBinary(d); err != nil {
		t.Fatal(err)
	}
	type opsa struct {
		op scsi.OpCode
		sa uint16
	}
	have := map[opsa]bool{}
	for _, c := range sup.Commands {
		have[opsa{c.Op, c.ServiceAction}] = true
	}
	want := []opsa{{scsi.OpReserve6, 0}, {scsi.OpReserve10, 0}, {scsi.OpRelease6, 0}, {scsi.OpRelease10, 0}}
	for sa := range 4 {
		want = append(want, opsa{scsi.OpPersistentReserveIn, uint16(sa)})
	}
	for sa := range 8 {
		want = append(want, opsa{scsi.OpPersistentReserveOut, uint16(sa)})
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("REPORT SUPPORTED OPERATION CODES lacks %v/%d", w.op, w.sa)
		}
	}
}

func TestPRAPTPLRestore(t *testing.T) {
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	storeTestLUN(t, s, "disk", 1<<20)
	lu, ok := s.LogicalUnit("disk")
	if !ok {
		t.Fatal("no logical unit")
	}
	v := &prTestEnv{t: t, e: &Engine{}, lu: lu}
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
	luWantGood(t, v.outRaw(a, scsi.PROutRegister, 0, 0, prBasic(0, 0xa, 0x01)))
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 0xb, APTPL: true}))
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PROutParameters{Key: 0xa}))
	var caps scsi.PRCapabilities
	if err := caps.UnmarshalBinary(v.in(a, scsi.PRInReportCapabilities, 8)); err != nil || !caps.PTPLC || !caps.PTPLA {
		t.Fatalf("REPORT CAPABILITIES %+v %v, want PTPLC and PTPLA", caps, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Power cycle: a new store over the same directory.
	s2 := storeTestOpen(t, dir)
	lu2, _ := s2.LogicalUnit("disk")
	v2 := &prTestEnv{t: t, e: &Engine{}, lu: lu2}
	a2, c := v2.nexus(prIniA, 1), v2.nexus(prIniC, 1)
	if kd := v2.readKeys(a2); !slices.Equal(kd.Keys, []uint64{0xa, 0xb}) || kd.Generation != 2 {
		t.Fatalf("READ KEYS %+v after restart", kd)
	}
	if rd := v2.readReservation(a2); !rd.Reserved || rd.Key != 0xa || rd.Type != scsi.PRTypeWriteExclusiveRegistrantsOnly {
		t.Fatalf("READ RESERVATION %+v after restart", rd)
	}
	write := luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 0, Blocks: 1})
	prWantConflict(t, v2.run(c, write))
	luWantGood(t, v2.run(a2, write))

	// APTPL cleared by a registration without it: nothing persists.
	luWantGood(t, v2.out(a2, scsi.PROutRegister, 0, scsi.PROutParameters{Key: 0xa, ServiceActionKey: 0xaa}))
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := storeTestOpen(t, dir)
	lu3, _ := s3.LogicalUnit("disk")
	if snap := lu3.PersistentReservations(); len(snap.Registrations) != 0 || snap.Reservation != nil {
		t.Fatalf("state %+v restored without APTPL", snap)
	}
}

func TestPRSnapshotInvalid(t *testing.T) {
	lu := luTestLU(t, "mem", 16, LUConfig{})
	for _, snap := range []*PRSnapshot{
		{Registrations: []PRRegistration{{Key: 0, Initiator: prIniA}}},
		{Registrations: []PRRegistration{{Key: 1, Initiator: prIniA, ISID: "xyz"}}},
		{Registrations: []PRRegistration{{Key: 1, Initiator: prIniA}}, Reservation: &PRReservation{Type: 2}},
		{Registrations: []PRRegistration{{Key: 1, Initiator: prIniA}}, Reservation: &PRReservation{Type: 1, Holder: 3}},
		{Reservation: &PRReservation{Type: 7}},
	} {
		if err := lu.RestorePersistentReservations(snap, nil); err == nil {
			t.Errorf("snapshot %+v accepted", snap)
		}
	}
}

// FuzzPROut runs PERSISTENT RESERVE OUT with any CDB bytes 1 to 9 and any
// parameter data on a logical unit with registrations and a reservation:
// it never panics and answers GOOD, CHECK CONDITION or RESERVATION
// CONFLICT.
func FuzzPROut(f *testing.F) {
	seed := func(sa scsi.PROutServiceAction, typ scsi.PRType, data []byte) {
		cdb, _ := (&scsi.PersistentReserveOut{ServiceAction: sa, Type: typ, ParameterListLength: uint32(len(data))}).MarshalBinary()
		f.Add(cdb, data)
	}
	basic, _ := (&scsi.PROutParameters{Key: 1, ServiceActionKey: 2}).MarshalBinary()
	spec, _ := (&scsi.PROutParameters{ServiceActionKey: 3, SpecIPT: true, AllTgPt: true,
		TransportIDs: []scsi.ISCSITransportID{{Name: prIniC}, {Name: prIniB, Port: true, ISID: 0x800000010002}}}).MarshalBinary()
	move, _ := (&scsi.PRRegisterAndMoveParameters{Key: 1, ServiceActionKey: 9, RelativeTargetPortID: 1,
		TransportID: scsi.ISCSITransportID{Name: prIniB, Port: true, ISID: 0x800000010001}}).MarshalBinary()
	for sa := scsi.PROutRegister; sa <= scsi.PROutRegisterAndMove; sa++ {
		seed(sa, scsi.PRTypeWriteExclusive, basic)
	}
	seed(scsi.PROutRegister, 0, spec)
	seed(scsi.PROutRegisterAndMove, 0, move)
	seed(scsi.PROutPreemptAndAbort, scsi.PRTypeExclusiveAccessAllRegistrants, basic)
	f.Fuzz(func(t *testing.T, cdb, data []byte) {
		lu := luTestLU(t, "mem", 8, LUConfig{})
		e := &Engine{}
		a := NewNexus(prIniA, iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 1)
		b := NewNexus(prIniB, iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 1)
		a.aborter, b.aborter = &prTestAborter{}, &prTestAborter{}
		setup := []struct {
			n    *Nexus
			sa   scsi.PROutServiceAction
			typ  scsi.PRType
			data []byte
		}{
			{a, scsi.PROutRegister, 0, prBasic(0, 1, 0)},
			{b, scsi.PROutRegister, 0, prBasic(0, 2, 0)},
			{a, scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly, prBasic(1, 0, 0)},
		}
		tur := []byte{0, 0, 0, 0, 0, 0}
		luRun(e, lu, a, tur, nil, 0) // POWER ON
		luRun(e, lu, b, tur, nil, 0)
		for _, s := range setup {
			c, _ := (&scsi.PersistentReserveOut{ServiceAction: s.sa, Type: s.typ, ParameterListLength: 24}).MarshalBinary()
			if r, _ := luRun(e, lu, s.n, c, s.data, 0); r.Status != scsi.StatusGood {
				t.Fatalf("setup %v: status %v", s.sa, r.Status)
			}
		}
		full := make([]byte, 10)
		full[0] = byte(scsi.OpPersistentReserveOut)
		if len(cdb) > 1 {
			copy(full[1:9], cdb[1:])
		}
		for _, n := range []*Nexus{a, b} {
			r, _ := luRun(e, lu, n, full, data, 0)
			switch r.Status {
			case scsi.StatusGood, scsi.StatusCheckCondition, scsi.StatusReservationConflict:
			default:
				t.Fatalf("status %v", r.Status)
			}
			// The state stays consistent: READ FULL STATUS decodes.
			r, d := luRun(e, lu, n, luCDB(t, &scsi.PersistentReserveIn{ServiceAction: scsi.PRInReadFullStatus, AllocationLength: 65535}), nil, 65535)
			if r.Status == scsi.StatusGood {
				var fs scsi.PRFullStatusData
				if err := fs.UnmarshalBinary(d); err != nil {
					t.Fatalf("READ FULL STATUS: %v", err)
				}
			}
		}
	})
}

// TestPRThroughISCSI fences an initiator through real sessions: B
// preempts and aborts A's reservation, A's next write is refused; a
// registration survives a reconnect with the same ISID, and an SPC-2
// reservation does not survive its session.
func TestPRThroughISCSI(t *testing.T) {
	env := scaleStart(t, ServerConfig{})
	ia, ib := scaleInitiator(1), scaleInitiator(2)
	scaleProvision(t, env.store, "disk", 64, 0, "g", 2, []string{ia, ib})
	a := robustMustDial(t, env.addr, ia, 7)
	b := robustMustDial(t, env.addr, ib, 7)
	prOutCDB := func(sa scsi.PROutServiceAction, typ scsi.PRType) []byte {
		return luCDB(t, &scsi.PersistentReserveOut{ServiceAction: sa, Type: typ, ParameterListLength: 24})
	}
	want := func(p *scalePeer, cdb, out []byte, status scsi.Status) {
		t.Helper()
		r, err := p.doRetry(0, cdb, out, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != status {
			t.Fatalf("status %v (sense %v), want %v", r.status, &r.sense, status)
		}
	}
	good, conflict := scsi.StatusGood, scsi.StatusReservationConflict
	block := make([]byte, scaleBlockSize)
	write := scaleCDB10(0x2a, 1, 1)
	want(a, prOutCDB(scsi.PROutRegister, 0), prBasic(0, 0xa, 0), good)
	want(b, prOutCDB(scsi.PROutRegister, 0), prBasic(0, 0xb, 0), good)
	want(a, prOutCDB(scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly), prBasic(0xa, 0, 0), good)
	want(a, write, block, good)
	want(b, prOutCDB(scsi.PROutPreemptAndAbort, scsi.PRTypeWriteExclusiveRegistrantsOnly), prBasic(0xb, 0xa, 0), good)
	r, err := a.do(0, write, block, 0)
	if err != nil || r.status != scsi.StatusCheckCondition || r.sense.Code() != scsi.SenseRegistrationsPreempted {
		t.Fatalf("A's write after the preempt: %v %v %v, want REGISTRATIONS PREEMPTED", r.status, &r.sense, err)
	}
	want(a, write, block, conflict)
	want(b, write, block, good)

	// B reconnects with the same ISID: still registered, still holder.
	if err := b.logout(); err != nil {
		t.Fatal(err)
	}
	b = robustMustDial(t, env.addr, ib, 7)
	want(b, write, block, good)
	want(a, write, block, conflict)

	// SPC-2: A's RESERVE dies with A's session.
	want(b, prOutCDB(scsi.PROutClear, 0), prBasic(0xb, 0, 0), good)
	want(a, []byte{byte(scsi.OpReserve6), 0, 0, 0, 0, 0}, nil, good)
	want(b, write, block, conflict)
	if err := a.logout(); err != nil {
		t.Fatal(err)
	}
	// The logout released it before its response.
	want(b, write, block, good)
	if err := b.logout(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPRWrite4KReserved is BenchmarkEngineWrite4K from the holder of
// a Write Exclusive - Registrants Only reservation, with another
// registrant: the conflict check runs on every command.
func BenchmarkPRWrite4KReserved(b *testing.B) {
	e, t := luBenchTask(b, true)
	lu, _ := t.View.Lookup(0)
	other := NewNexus(prIniB, iscsi.ISID{0x80, 0, 0, 1, 0, 1}, "iqn.2026-01.test:tgt", 1)
	e.Execute(&Task{Ctx: context.Background(), Nexus: other, View: t.View, CDB: []byte{0, 0, 0, 0, 0, 0}})
	for _, s := range []struct {
		n    *Nexus
		sa   scsi.PROutServiceAction
		typ  scsi.PRType
		data []byte
	}{
		{other, scsi.PROutRegister, 0, prBasic(0, 2, 0)},
		{t.Nexus, scsi.PROutRegister, 0, prBasic(0, 1, 0)},
		{t.Nexus, scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly, prBasic(1, 0, 0)},
	} {
		cdb, _ := (&scsi.PersistentReserveOut{ServiceAction: s.sa, Type: s.typ, ParameterListLength: 24}).MarshalBinary()
		if r, _ := luRun(e, lu, s.n, cdb, s.data, 0); r.Status != scsi.StatusGood {
			b.Fatalf("setup: status %v", r.Status)
		}
	}
	b.ReportAllocs()
	b.SetBytes(4096)
	for b.Loop() {
		if r := e.Execute(t); r.Status != scsi.StatusGood {
			b.Fatalf("status %v", r.Status)
		}
	}
}
