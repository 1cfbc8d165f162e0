package scsi

import (
	"encoding/binary"
	"fmt"
)

// ControlPage is the Control mode page (SPC-4 section 7.5.8, table 457),
// page code 0Ah, page length 0Ah:
//
//	byte 0      PS | SPF(0) | PAGE CODE (0Ah)
//	byte 1      PAGE LENGTH (0Ah)
//	byte 2      TST (7-5) | TMF_ONLY | DPICZ | D_SENSE | GLTSD | RLEC
//	byte 3      QUEUE ALGORITHM MODIFIER (7-4) | NUAR | QERR (2-1) | obsolete
//	byte 4      VS | RAC | UA_INTLCK_CTRL (5-4) | SWP | obsolete (2-0)
//	byte 5      ATO | TAS | ATMPE | RWWP | reserved | AUTOLOAD MODE (2-0)
//	bytes 6-7   obsolete
//	bytes 8-9   BUSY TIMEOUT PERIOD
//	bytes 10-11 EXTENDED SELF-TEST COMPLETION TIME
//
// As a changeable-values mask, a true flag or a non-zero field marks the
// bits that MODE SELECT may change.
type ControlPage struct {
	TST     uint8 // task set type, 3 bits
	TMFOnly bool  // TMF_ONLY: while ACA is established, accept only task management functions from the faulted I_T nexus
	DPICZ   bool  // DPICZ: disable protection information check if the protect field is zero
	DSense  bool  // D_SENSE: descriptor-format sense data
	GLTSD   bool  // global logging target save disable
	RLEC    bool  // report log exception condition

	QueueAlgorithmModifier uint8 // 4 bits
	NUAR                   bool  // no unit attention on release
	QErr                   uint8 // 2 bits

	VS           bool  // VS: vendor specific
	RAC          bool  // report a check
	UAIntlckCtrl uint8 // UA_INTLCK_CTRL, 2 bits
	SWP          bool  // software write protect

	ATO          bool  // application tag owner
	TAS          bool  // task aborted status
	ATMPE        bool  // application tag mode page enabled
	RWWP         bool  // reject write without protection
	AutoloadMode uint8 // 3 bits

	BusyTimeoutPeriod              uint16 // BUSY TIMEOUT PERIOD, in 100 ms units; 0 undefined, FFFFh unlimited
	ExtendedSelfTestCompletionTime uint16 // EXTENDED SELF-TEST COMPLETION TIME, in seconds
}

const controlPageLen = 0x0a

// Page returns 0Ah, 00h.
func (p *ControlPage) Page() (code, subpage uint8) { return ModePageCodeControl, 0 }

// AppendBinary appends the page, with its header and the PS bit zero.
func (p *ControlPage) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, ModePageCodeControl, controlPageLen)
	b = append(b,
		p.TST<<5|pbit(p.TMFOnly, 4)|pbit(p.DPICZ, 3)|pbit(p.DSense, 2)|pbit(p.GLTSD, 1)|pbit(p.RLEC, 0),
		p.QueueAlgorithmModifier<<4|pbit(p.NUAR, 3)|(p.QErr&0x3)<<1,
		pbit(p.VS, 7)|pbit(p.RAC, 6)|(p.UAIntlckCtrl&0x3)<<4|pbit(p.SWP, 3),
		pbit(p.ATO, 7)|pbit(p.TAS, 6)|pbit(p.ATMPE, 5)|pbit(p.RWWP, 4)|p.AutoloadMode&0x7,
		0, 0)
	b = binary.BigEndian.AppendUint16(b, p.BusyTimeoutPeriod)
	return binary.BigEndian.AppendUint16(b, p.ExtendedSelfTestCompletionTime), nil
}

// UnmarshalBinary decodes the whole page, header included.
func (p *ControlPage) UnmarshalBinary(b []byte) error {
	d, err := modePageBody(b, ModePageCodeControl, 0, controlPageLen)
	if err != nil {
		return err
	}
	if len(d) < controlPageLen {
		return fmt.Errorf("%w: control page body has %d bytes, want %d", ErrTruncated, len(d), controlPageLen)
	}
	*p = ControlPage{
		TST: d[0] >> 5, TMFOnly: d[0]&0x10 != 0, DPICZ: d[0]&0x08 != 0, DSense: d[0]&0x04 != 0,
		GLTSD: d[0]&0x02 != 0, RLEC: d[0]&0x01 != 0,
		QueueAlgorithmModifier: d[1] >> 4, NUAR: d[1]&0x08 != 0, QErr: d[1] >> 1 & 0x3,
		VS: d[2]&0x80 != 0, RAC: d[2]&0x40 != 0, UAIntlckCtrl: d[2] >> 4 & 0x3, SWP: d[2]&0x08 != 0,
		ATO: d[3]&0x80 != 0, TAS: d[3]&0x40 != 0, ATMPE: d[3]&0x20 != 0, RWWP: d[3]&0x10 != 0,
		AutoloadMode:                   d[3] & 0x7,
		BusyTimeoutPeriod:              binary.BigEndian.Uint16(d[6:8]),
		ExtendedSelfTestCompletionTime: binary.BigEndian.Uint16(d[8:10]),
	}
	return nil
}

// ControlExtensionPage is the Control Extension mode page (SPC-4 section
// 7.5.9, table 461), page code 0Ah, subpage code 01h, page length 001Ch:
//
//	byte 0      PS | SPF(1) | PAGE CODE (0Ah)
//	byte 1      SUBPAGE CODE (01h)
//	bytes 2-3   PAGE LENGTH (001Ch)
//	byte 4      reserved (7-4) | DLC | TCMOS | SCSIP | IALUAE
//	byte 5      reserved (7-4) | INITIAL COMMAND PRIORITY (3-0)
//	byte 6      MAXIMUM SENSE DATA LENGTH
//	bytes 7-31  reserved
type ControlExtensionPage struct {
	DLC    bool // device life control
	TCMOS  bool // timestamp changeable by methods outside this standard
	SCSIP  bool // SCSI precedence
	IALUAE bool // implicit asymmetric logical unit access enabled
	// InitialCommandPriority is INITIAL COMMAND PRIORITY (4 bits): the
	// priority of commands on an I_T nexus whose priority SET PRIORITY has
	// not set.
	InitialCommandPriority uint8
	MaximumSenseDataLength uint8 // MAXIMUM SENSE DATA LENGTH, in bytes; 0 means no limit
}

const controlExtensionPageLen = 0x1c

// Page returns 0Ah, 01h.
func (p *ControlExtensionPage) Page() (code, subpage uint8) {
	return ModePageCodeControl, ModeSubpageCodeControlExtension
}

// AppendBinary appends the page, with its header and the PS bit zero.
func (p *ControlExtensionPage) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, modePageSPF|ModePageCodeControl, ModeSubpageCodeControlExtension)
	b = binary.BigEndian.AppendUint16(b, controlExtensionPageLen)
	b = append(b, pbit(p.DLC, 3)|pbit(p.TCMOS, 2)|pbit(p.SCSIP, 1)|pbit(p.IALUAE, 0),
		p.InitialCommandPriority&0x0f, p.MaximumSenseDataLength)
	return append(b, make([]byte, controlExtensionPageLen-3)...), nil
}

// UnmarshalBinary decodes the whole page, header included.
func (p *ControlExtensionPage) UnmarshalBinary(b []byte) error {
	d, err := modePageBody(b, ModePageCodeControl, ModeSubpageCodeControlExtension, controlExtensionPageLen)
	if err != nil {
		return err
	}
	if len(d) < controlExtensionPageLen {
		return fmt.Errorf("%w: control extension page body has %d bytes, want %d", ErrTruncated, len(d), controlExtensionPageLen)
	}
	*p = ControlExtensionPage{
		DLC: d[0]&0x08 != 0, TCMOS: d[0]&0x04 != 0, SCSIP: d[0]&0x02 != 0, IALUAE: d[0]&0x01 != 0,
		InitialCommandPriority: d[1] & 0x0f,
		MaximumSenseDataLength: d[2],
	}
	return nil
}
