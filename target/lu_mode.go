package target

import (
	"errors"

	"github.com/lunarsan/lunar/scsi"
)

// The mode pages of a logical unit (SPC-4 section 7.5, SBC-3 section 6.4):
// Caching (WCE changeable, the LU's write cache), Control (D_SENSE
// changeable) and Informational Exceptions Control. Mode parameters are
// shared by every I_T nexus; none can be saved.

func init() {
	ctl := byte(0x04)
	luRegister(
		luCommand{op: scsi.OpModeSense6, usage: []byte{byte(scsi.OpModeSense6), 0x08, 0xff, 0xff, 0xff, ctl}, run: spcModeSense, quick: true},
		luCommand{op: scsi.OpModeSense10, usage: []byte{byte(scsi.OpModeSense10), 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, ctl}, run: spcModeSense, quick: true},
		luCommand{op: scsi.OpModeSelect6, usage: []byte{byte(scsi.OpModeSelect6), 0x11, 0, 0, 0xff, ctl}, run: spcModeSelect},
		luCommand{op: scsi.OpModeSelect10, usage: []byte{byte(scsi.OpModeSelect10), 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, ctl}, run: spcModeSelect},
	)
}

// luControlPage returns the Control mode page with D_SENSE as given.
// QUEUE ALGORITHM MODIFIER 1: commands may be reordered (they run
// concurrently).
func luControlPage(dsense bool) *scsi.ControlPage {
	return &scsi.ControlPage{DSense: dsense, QueueAlgorithmModifier: 1}
}

// modeParameters returns the logical unit's current mode parameters.
func (lu *LU) modeParameters() *scsi.ModeParameters {
	return &scsi.ModeParameters{
		WriteProtect: lu.cfg.ReadOnly,
		DPOFUA:       true,
		Blocks:       lu.blocks.Load(),
		BlockLength:  lu.bs,
		Pages: []scsi.ModePageValues{
			{
				Current:    &scsi.CachingPage{WCE: lu.wce.Load()},
				Changeable: &scsi.CachingPage{WCE: true},
				Default:    &scsi.CachingPage{WCE: !lu.cfg.WriteCacheDisabled},
			},
			{
				Current:    luControlPage(lu.dsense.Load()),
				Changeable: &scsi.ControlPage{DSense: true},
				Default:    luControlPage(false),
			},
			{
				Current: &scsi.InformationalExceptionsPage{DEXCPT: true},
			},
		},
	}
}

// spcModeSense runs MODE SENSE(6/10).
func spcModeSense(c *luCmd) error {
	var m scsi.ModeSense
	if err := m.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	c.res.Transfer = int(m.AllocationLength)
	req := scsi.ModeSenseRequest{
		Header10:         m.OpCode() == scsi.OpModeSense10,
		DBD:              m.DBD,
		LLBAA:            m.LLBAA,
		PC:               scsi.ModeValues(m.PC),
		PageCode:         m.PageCode,
		SubpageCode:      m.SubpageCode,
		AllocationLength: uint32(m.AllocationLength),
	}
	b, err := c.lu.modeParameters().ModeSense(req)
	if errors.Is(err, scsi.ErrSavingNotSupported) {
		// SPC-4 section 6.11.1: "If the PC field is set to 11b and the
		// SCSI target device does not implement saved values ... the
		// command shall be terminated with ... SAVING PARAMETERS NOT
		// SUPPORTED."
		se := scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseSavingParametersNotSupported)
		se.Err = err
		return se
	}
	if err != nil {
		return err
	}
	c.dataIn(b, uint32(m.AllocationLength))
	return nil
}

// spcModeSelect runs MODE SELECT(6/10): WCE and D_SENSE may change; a
// change establishes MODE PARAMETERS CHANGED for the other nexuses.
func spcModeSelect(c *luCmd) error {
	var m scsi.ModeSelect
	if err := m.UnmarshalBinary(c.t.CDB); err != nil {
		return err
	}
	lu := c.lu
	c.res.Transfer = int(m.ParameterListLength)
	if m.SP {
		// SPC-4 section 6.9: "If ... the logical unit does not implement
		// saved pages and the SP bit is set to one, the command shall be
		// terminated with ... INVALID FIELD IN CDB."
		return scsi.InvalidFieldInCDB(1, 0)
	}
	if len(c.t.DataOut) < int(m.ParameterListLength) {
		return scsi.NewSenseError(scsi.SenseKeyIllegalRequest, scsi.SenseParameterListLengthError)
	}
	data := c.t.DataOut[:m.ParameterListLength]
	lu.modeMu.Lock()
	defer lu.modeMu.Unlock()
	d, err := lu.modeParameters().ModeSelect(m.OpCode() == scsi.OpModeSelect10, data)
	if err != nil {
		return err
	}
	changed := false
	for _, p := range d.Pages {
		switch p := p.(type) {
		case *scsi.CachingPage:
			if old := lu.wce.Swap(p.WCE); old != p.WCE {
				changed = true
				if !p.WCE {
					// Turning the write cache off: what it held must
					// reach the medium now.
					if err := lu.cfg.Backend.Sync(); err != nil {
						return luMediumError(err, scsi.SenseWriteError)
					}
				}
			}
		case *scsi.ControlPage:
			if old := lu.dsense.Swap(p.DSense); old != p.DSense {
				changed = true
			}
		}
	}
	if changed {
		lu.ModeParametersChanged(c.t.Nexus)
	}
	return nil
}
