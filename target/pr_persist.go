package target

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/lunarsan/lunar/scsi"
)

// ErrPRSnapshot means a persisted reservation state is not valid.
var ErrPRSnapshot = errors.New("target: invalid persistent reservation state")

// PRSnapshot is the persisted state of a logical unit's persistent
// reservations, kept when APTPL ("activate persist through power loss",
// SPC-4 section 5.12.5) is set: the store writes it with the LUN's
// configuration and restores it at start.
type PRSnapshot struct {
	// Generation is the PRgeneration.
	Generation uint32 `json:"generation"`
	// Registrations are the registrations in the order they were made.
	Registrations []PRRegistration `json:"registrations"`
	// Reservation is the persistent reservation, if any.
	Reservation *PRReservation `json:"reservation,omitempty"`
}

// PRRegistration is one persisted registration.
type PRRegistration struct {
	// Key is the reservation key.
	Key uint64 `json:"key"`
	// Initiator is the initiator's iSCSI name.
	Initiator string `json:"initiator"`
	// ISID is the initiator port's ISID, 12 hex digits; empty registers
	// every initiator port of Initiator.
	ISID string `json:"isid,omitempty"`
	// RelativeTargetPort is the relative target port identifier.
	RelativeTargetPort uint16 `json:"relative_target_port"`
	// AllTargetPorts registers the initiator port through every target
	// port (ALL_TG_PT).
	AllTargetPorts bool `json:"all_target_ports,omitempty"`
}

// PRReservation is a persisted persistent reservation.
type PRReservation struct {
	// Type is the reservation type (SPC-4 table 186).
	Type uint8 `json:"type"`
	// Holder is the index in Registrations of the holder; ignored (-1)
	// for the all registrants types.
	Holder int `json:"holder"`
}

// snapshot returns s as a PRSnapshot.
func (s *prState) snapshot() *PRSnapshot {
	snap := &PRSnapshot{Generation: s.gen, Registrations: make([]PRRegistration, len(s.regs))}
	for i := range s.regs {
		r := &s.regs[i]
		pr := PRRegistration{Key: r.key, Initiator: r.id.name, RelativeTargetPort: r.id.rtp, AllTargetPorts: r.id.allTgPt}
		if !r.id.anyISID {
			pr.ISID = fmt.Sprintf("%012x", r.id.isid)
		}
		snap.Registrations[i] = pr
	}
	if s.resv {
		res := &PRReservation{Type: uint8(s.typ), Holder: -1}
		if !prAllRegistrants(s.typ) {
			for i := range s.regs {
				if s.regs[i].id == s.holder {
					res.Holder = i
				}
			}
		}
		snap.Reservation = res
	}
	return snap
}

// prStateFromSnapshot rebuilds the state a snapshot holds.
func prStateFromSnapshot(snap *PRSnapshot) (prState, error) {
	s := prState{gen: snap.Generation, aptpl: true}
	for i, r := range snap.Registrations {
		if r.Initiator == "" || r.Key == 0 {
			return prState{}, fmt.Errorf("%w: registration %d has no initiator or a zero key", ErrPRSnapshot, i)
		}
		id := prID{name: r.Initiator, anyISID: r.ISID == "", rtp: r.RelativeTargetPort, allTgPt: r.AllTargetPorts}
		if r.ISID != "" {
			v, err := strconv.ParseUint(r.ISID, 16, 48)
			if err != nil || len(r.ISID) != 12 {
				return prState{}, fmt.Errorf("%w: registration %d: ISID %q", ErrPRSnapshot, i, r.ISID)
			}
			id.isid = v
		}
		s.regs = append(s.regs, prReg{id: id, key: r.Key})
	}
	if res := snap.Reservation; res != nil {
		t := scsi.PRType(res.Type)
		if !prValidType(t) || len(s.regs) == 0 {
			return prState{}, fmt.Errorf("%w: reservation of type %d with %d registrations", ErrPRSnapshot, res.Type, len(s.regs))
		}
		s.resv, s.typ = true, t
		if !prAllRegistrants(t) {
			if res.Holder < 0 || res.Holder >= len(s.regs) {
				return prState{}, fmt.Errorf("%w: reservation holder %d of %d registrations", ErrPRSnapshot, res.Holder, len(s.regs))
			}
			s.holder = s.regs[res.Holder].id
		}
	}
	return s, nil
}

// RestorePersistentReservations installs a persisted reservation state
// (nil: none) and the function that persists later changes of an APTPL
// state (nil: the logical unit cannot persist through power loss, and
// refuses APTPL). The store calls it when it opens a LUN, before the
// logical unit is in any view.
func (lu *LU) RestorePersistentReservations(snap *PRSnapshot, persist func(*PRSnapshot) error) error {
	var s prState
	if snap != nil {
		var err error
		if s, err = prStateFromSnapshot(snap); err != nil {
			return err
		}
	}
	p := &lu.pr
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st = s
	p.persist = persist
	p.updateActive()
	return nil
}

// PersistentReservations returns the logical unit's persistent
// reservation state (whether or not APTPL is set).
func (lu *LU) PersistentReservations() *PRSnapshot {
	p := &lu.pr
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.st.snapshot()
}

// prPersister returns the function that stores the persistent
// reservation state of LUN name in config.json (nil clears it), through
// the store's serialised, atomic configuration change.
func (s *Store) prPersister(name string) func(*PRSnapshot) error {
	return func(snap *PRSnapshot) error {
		return s.change(context.Background(), func(c *storeConfig) error {
			i, ok := c.lun(name)
			if !ok {
				return storeNotFound("lun_not_found", "LUN %s not found", name)
			}
			c.LUNs[i].PR = snap
			return nil
		})
	}
}
