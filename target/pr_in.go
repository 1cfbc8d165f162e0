package target

import (
	"github.com/lunarsan/lunar/scsi"
)

// PERSISTENT RESERVE IN (SPC-4 section 6.15): READ KEYS, READ
// RESERVATION, REPORT CAPABILITIES and READ FULL STATUS.

func init() {
	ctl := byte(0x04)
	for _, sa := range []scsi.PRInServiceAction{scsi.PRInReadKeys, scsi.PRInReadReservation, scsi.PRInReportCapabilities, scsi.PRInReadFullStatus} {
		luRegister(luCommand{
			op: scsi.OpPersistentReserveIn, sa: uint8(sa), hasSA: true,
			usage: []byte{byte(scsi.OpPersistentReserveIn), uint8(sa), 0, 0, 0, 0, 0, 0xff, 0xff, ctl},
			run:   prIn,
		})
	}
}

// prIn runs PERSISTENT RESERVE IN.
func prIn(c *luCmd) error {
	var r scsi.PersistentReserveIn
	if err := r.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(r.AllocationLength)
	p := &c.lu.pr
	p.mu.RLock()
	s := &p.st
	var d interface{ MarshalBinary() ([]byte, error) }
	switch r.ServiceAction {
	case scsi.PRInReadKeys:
		k := &scsi.PRReadKeysData{Generation: s.gen, Keys: make([]uint64, len(s.regs))}
		for i := range s.regs {
			k.Keys[i] = s.regs[i].key
		}
		d = k
	case scsi.PRInReadReservation:
		rd := &scsi.PRReservationData{Generation: s.gen}
		if s.resv {
			rd.Reserved, rd.Scope, rd.Type = true, scsi.PRScopeLU, s.typ
			// SPC-4 section 6.15.3: for an all registrants type "the
			// RESERVATION KEY field shall be set to zero"; otherwise it
			// is the holder's key.
			if !prAllRegistrants(s.typ) {
				for i := range s.regs {
					if s.regs[i].id == s.holder {
						rd.Key = s.regs[i].key
					}
				}
			}
		}
		d = rd
	case scsi.PRInReportCapabilities:
		d = &scsi.PRCapabilities{
			// Compatible reservation handling: RESERVE and RELEASE
			// follow SPC-4 section 5.12.3.
			CRH:   true,
			SIPC:  true,
			ATPC:  true,
			PTPLC: p.persist != nil,
			TMV:   true,
			// 001b: TEST UNIT READY is allowed through Write Exclusive
			// and Exclusive Access reservations.
			AllowCommands: 1,
			PTPLA:         s.aptpl,
			TypeMask: scsi.PRTypeMaskWrEx | scsi.PRTypeMaskExAc | scsi.PRTypeMaskWrExRO |
				scsi.PRTypeMaskExAcRO | scsi.PRTypeMaskWrExAR | scsi.PRTypeMaskExAcAR,
		}
	case scsi.PRInReadFullStatus:
		fs := &scsi.PRFullStatusData{Generation: s.gen, Descriptors: make([]scsi.PRFullStatusDescriptor, len(s.regs))}
		for i := range s.regs {
			r := &s.regs[i]
			desc := scsi.PRFullStatusDescriptor{
				Key:                  r.key,
				AllTgPt:              r.id.allTgPt,
				RelativeTargetPortID: r.id.rtp,
				TransportID:          scsi.ISCSITransportID{Name: r.id.name, Port: !r.id.anyISID, ISID: r.id.isid},
			}
			if s.resv && (prAllRegistrants(s.typ) || r.id == s.holder) {
				desc.RHolder, desc.Scope, desc.Type = true, scsi.PRScopeLU, s.typ
			}
			if desc.AllTgPt {
				desc.RelativeTargetPortID = 0
			}
			fs.Descriptors[i] = desc
		}
		d = fs
	}
	p.mu.RUnlock()
	return c.marshalDataIn(d, uint32(r.AllocationLength))
}
