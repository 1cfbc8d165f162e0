package target

import (
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

func TestReserveRelease(t *testing.T) {
	for _, six := range []bool{true, false} {
		name := "10"
		reserve, release := []byte{byte(scsi.OpReserve10), 0, 0, 0, 0, 0, 0, 0, 0, 0}, []byte{byte(scsi.OpRelease10), 0, 0, 0, 0, 0, 0, 0, 0, 0}
		if six {
			name = "6"
			reserve, release = []byte{byte(scsi.OpReserve6), 0, 0, 0, 0, 0}, []byte{byte(scsi.OpRelease6), 0, 0, 0, 0, 0}
		}
		t.Run(name, func(t *testing.T) {
			v := prTestNew(t)
			a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
			read := luCDB(t, &scsi.Read{Op: scsi.OpRead10, LBA: 0, Blocks: 1})
			write := luCDB(t, &scsi.Write{Op: scsi.OpWrite10, LBA: 0, Blocks: 1})
			modeSense := luCDB(t, &scsi.ModeSense{Op: scsi.OpModeSense6, PageCode: 0x3f, AllocationLength: 255})
			luWantGood(t, v.run(a, reserve))
			luWantGood(t, v.run(a, reserve)) // the holder may reserve again
			for _, cdb := range [][]byte{read, write, modeSense, reserve,
				luCDB(t, &scsi.PersistentReserveIn{ServiceAction: scsi.PRInReadKeys, AllocationLength: 8})} {
				prWantConflict(t, v.run(b, cdb))
			}
			for _, cdb := range [][]byte{
				luCDB(t, &scsi.Inquiry{AllocationLength: 96}),
				luCDB(t, &scsi.ReportLUNs{AllocationLength: 64}),
				luCDB(t, &scsi.RequestSense{AllocationLength: 18}),
				luCDB(t, &scsi.TestUnitReady{}),
				luCDB(t, &scsi.ReadCapacity10{}),
				release, // GOOD without releasing
			} {
				luWantGood(t, v.run(b, cdb))
			}
			prWantConflict(t, v.run(b, write))
			for _, cdb := range [][]byte{read, write, modeSense} {
				luWantGood(t, v.run(a, cdb))
			}
			luWantGood(t, v.run(a, release))
			luWantGood(t, v.run(b, reserve))
			prWantConflict(t, v.run(a, write))
			luWantGood(t, v.run(b, release))
			luWantGood(t, v.run(a, write))
		})
	}
}

func TestReserveReleasedByResetAndNexusLoss(t *testing.T) {
	v := prTestNew(t)
	a, b := v.nexus(prIniA, 1), v.nexus(prIniB, 1)
	reserve := []byte{byte(scsi.OpReserve6), 0, 0, 0, 0, 0}
	tur := luCDB(t, &scsi.TestUnitReady{})
	luWantGood(t, v.run(a, reserve))
	prWantConflict(t, v.run(b, reserve))
	// A logical unit reset releases it (SPC-2 section 5.5.1).
	v.lu.Reset(a)
	luWantSense(t, v.run(b, reserve), scsi.SenseKeyUnitAttention, scsi.SenseBusDeviceResetFunctionOccurred)
	luWantGood(t, v.run(b, reserve))
	luWantSense(t, v.run(a, tur), scsi.SenseKeyUnitAttention, scsi.SenseBusDeviceResetFunctionOccurred)
	prWantConflict(t, v.run(a, reserve))
	// So does the loss of the holder's I_T nexus; another nexus's loss
	// does not.
	a.ITNexusLost()
	prWantConflict(t, v.run(a, reserve))
	b.ITNexusLost()
	luWantGood(t, v.run(a, reserve))
	if v.lu.pr.active.Load() != true {
		t.Fatal("fast-path flag clear while reserved")
	}
	a.ITNexusLost()
	if v.lu.pr.active.Load() {
		t.Fatal("fast-path flag set without a reservation")
	}
}

func TestReserveWithPersistentReservations(t *testing.T) {
	v := prTestNew(t)
	a, b, c := v.nexus(prIniA, 1), v.nexus(prIniB, 1), v.nexus(prIniC, 1)
	reserve := []byte{byte(scsi.OpReserve10), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	release := []byte{byte(scsi.OpRelease10), 0, 0, 0, 0, 0, 0, 0, 0, 0}
	// Registered, no reservation: RESERVE and RELEASE conflict for all.
	luWantGood(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
	luWantGood(t, v.out(b, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 2}))
	for _, n := range []*Nexus{a, b, c} {
		prWantConflict(t, v.run(n, reserve))
		prWantConflict(t, v.run(n, release))
	}
	// A registrants only reservation: GOOD without effect for the holder
	// and the registrants (SPC-4 section 5.12.3), conflict for others.
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PROutParameters{Key: 1}))
	for _, n := range []*Nexus{a, b} {
		luWantGood(t, v.run(n, reserve))
		luWantGood(t, v.run(n, release))
	}
	prWantConflict(t, v.run(c, reserve))
	prWantConflict(t, v.run(c, release))
	if v.lu.pr.spc2 != nil {
		t.Fatal("RESERVE established an SPC-2 reservation next to a persistent one")
	}
	// A plain Write Exclusive: only the holder gets GOOD.
	luWantGood(t, v.out(a, scsi.PROutRelease, scsi.PRTypeWriteExclusiveRegistrantsOnly, scsi.PROutParameters{Key: 1}))
	luWantSense(t, v.run(b, reserve), scsi.SenseKeyUnitAttention, scsi.SenseReservationsReleased)
	luWantGood(t, v.out(a, scsi.PROutReserve, scsi.PRTypeWriteExclusive, scsi.PROutParameters{Key: 1}))
	luWantGood(t, v.run(a, reserve))
	prWantConflict(t, v.run(b, reserve))
	// An SPC-2 reservation held by another nexus makes PERSISTENT
	// RESERVE OUT conflict.
	luWantGood(t, v.out(a, scsi.PROutClear, 0, scsi.PROutParameters{Key: 1}))
	luWantSense(t, v.run(b, reserve), scsi.SenseKeyUnitAttention, scsi.SenseReservationsPreempted)
	luWantGood(t, v.run(b, reserve))
	prWantConflict(t, v.out(a, scsi.PROutRegister, 0, scsi.PROutParameters{ServiceActionKey: 1}))
}

func TestReserveThirdParty(t *testing.T) {
	v := prTestNew(t)
	a := v.nexus(prIniA, 1)
	r := v.run(a, []byte{byte(scsi.OpReserve10), 0x10, 0, 5, 0, 0, 0, 0, 0, 0})
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
	r = v.run(a, []byte{byte(scsi.OpRelease10), 0x02, 0, 0, 0, 0, 0, 0, 0, 0})
	luWantSense(t, r, scsi.SenseKeyIllegalRequest, scsi.SenseInvalidFieldInCDB)
}
