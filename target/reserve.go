package target

import (
	"github.com/lunarsan/lunar/scsi"
)

// RESERVE(6)/(10) and RELEASE(6)/(10) (SPC-2 sections 7.21 to 7.24): a
// logical unit reservation held by one I_T nexus, released by RELEASE, a
// logical unit reset or the loss of the nexus. Third-party reservations
// are not supported. With persistent reservations present the commands
// follow the exceptions of SPC-4 section 5.12.3 (CRH is one in REPORT
// CAPABILITIES).

func init() {
	ctl := byte(0x04)
	luRegister(
		luCommand{op: scsi.OpReserve6, usage: []byte{byte(scsi.OpReserve6), 0, 0, 0, 0, ctl}, run: spc2Reserve},
		luCommand{op: scsi.OpReserve10, usage: []byte{byte(scsi.OpReserve10), 0, 0, 0, 0, 0, 0, 0, 0, ctl}, run: spc2Reserve},
		luCommand{op: scsi.OpRelease6, usage: []byte{byte(scsi.OpRelease6), 0, 0, 0, 0, ctl}, run: spc2Release},
		luCommand{op: scsi.OpRelease10, usage: []byte{byte(scsi.OpRelease10), 0, 0, 0, 0, 0, 0, 0, 0, ctl}, run: spc2Release},
	)
}

// spc2PRException applies SPC-4 section 5.12.3 when persistent
// reservation registrations exist (p.mu held): "A RESERVE(6) or
// RESERVE(10) command shall complete with GOOD status, but no reservation
// shall be established and the persistent reservation shall not be
// changed, if the command is received from a) an I_T nexus that is a
// persistent reservation holder; or b) an I_T nexus that is registered if
// a registrants only or all registrants type persistent reservation is
// present" (RELEASE likewise); otherwise SPC-2 section 5.5.1: "If a
// logical unit has executed a PERSISTENT RESERVE OUT command with the
// REGISTER ... service action and is still registered by any initiator,
// all RESERVE commands and all RELEASE commands regardless of initiator
// shall conflict and shall terminate with a RESERVATION CONFLICT status."
// handled is false when no registration exists.
func spc2PRException(s *prState, n *Nexus) (handled bool, err error) {
	if len(s.regs) == 0 {
		return false, nil
	}
	if s.resv && (s.isHolder(n) || (s.regFor(n) >= 0 && (prRegistrantsOnly(s.typ) || prAllRegistrants(s.typ)))) {
		return true, nil
	}
	return true, errPRConflict
}

// spc2Reserve runs RESERVE(6) and RESERVE(10).
func spc2Reserve(c *luCmd) error {
	var r scsi.Reserve
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if err := spc2CheckThirdParty(r.ThirdParty, r.LongID); err != nil {
		return err
	}
	n := c.t.Nexus
	if n == nil {
		return errPRConflict
	}
	p := &c.lu.pr
	p.mu.Lock()
	defer p.mu.Unlock()
	if handled, err := spc2PRException(&p.st, n); handled {
		return err
	}
	if p.spc2 != nil && p.spc2 != n {
		// SPC-2 section 7.21.1: a logical unit reserved by another
		// initiator answers RESERVATION CONFLICT. The holder may
		// reserve again ("superseding").
		return errPRConflict
	}
	p.spc2 = n
	p.updateActive()
	return nil
}

// spc2Release runs RELEASE(6) and RELEASE(10). From an I_T nexus that
// does not hold the reservation it completes with GOOD status and
// releases nothing (SPC-2 section 7.23: "... the device server shall
// return GOOD status without altering the reservation").
func spc2Release(c *luCmd) error {
	var r scsi.Release
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	if err := spc2CheckThirdParty(r.ThirdParty, r.LongID); err != nil {
		return err
	}
	n := c.t.Nexus
	if n == nil {
		return nil
	}
	p := &c.lu.pr
	p.mu.Lock()
	defer p.mu.Unlock()
	if handled, err := spc2PRException(&p.st, n); handled {
		return err
	}
	if p.spc2 == n {
		p.spc2 = nil
		p.updateActive()
	}
	return nil
}

// spc2CheckThirdParty refuses third-party reservations, which lunar does
// not support: INVALID FIELD IN CDB on the 3RDPTY or LONGID bit.
func spc2CheckThirdParty(thirdParty, longID bool) error {
	switch {
	case thirdParty:
		return scsi.InvalidFieldInCDB(1, 4)
	case longID:
		return scsi.InvalidFieldInCDB(1, 1)
	}
	return nil
}
