package scsi

import (
	"encoding/binary"
	"fmt"
)

// InformationalExceptionsPage is the Informational Exceptions Control
// mode page (SPC-4 section 7.5.12, table 478), page code 1Ch, page length
// 0Ah:
//
//	byte 0      PS | SPF(0) | PAGE CODE (1Ch)
//	byte 1      PAGE LENGTH (0Ah)
//	byte 2      PERF | reserved | EBF | EWASC | DEXCPT | TEST | EBACKERR | LOGERR
//	byte 3      reserved (7-4) | MRIE (3-0)
//	bytes 4-7   INTERVAL TIMER
//	bytes 8-11  REPORT COUNT
type InformationalExceptionsPage struct {
	PERF     bool // performance: no delays for informational exceptions
	EBF      bool // enable background function
	EWASC    bool // enable warning
	DEXCPT   bool // disable exception control
	TEST     bool // create a test device failure
	EBACKERR bool // enable background error reporting
	LOGERR   bool // log errors
	// MRIE is the method of reporting informational exceptions (4 bits).
	MRIE uint8
	// IntervalTimer is in units of 100 milliseconds.
	IntervalTimer uint32
	ReportCount   uint32 // REPORT COUNT: times to report an informational exception; 0 means no limit
}

const iecPageLen = 0x0a

// Page returns 1Ch, 00h.
func (p *InformationalExceptionsPage) Page() (code, subpage uint8) {
	return ModePageCodeInformationalExceptions, 0
}

// AppendBinary appends the page, with its header and the PS bit zero.
func (p *InformationalExceptionsPage) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, ModePageCodeInformationalExceptions, iecPageLen,
		pbit(p.PERF, 7)|pbit(p.EBF, 5)|pbit(p.EWASC, 4)|pbit(p.DEXCPT, 3)|pbit(p.TEST, 2)|pbit(p.EBACKERR, 1)|pbit(p.LOGERR, 0),
		p.MRIE&0x0f)
	b = binary.BigEndian.AppendUint32(b, p.IntervalTimer)
	return binary.BigEndian.AppendUint32(b, p.ReportCount), nil
}

// UnmarshalBinary decodes the whole page, header included.
func (p *InformationalExceptionsPage) UnmarshalBinary(b []byte) error {
	d, err := modePageBody(b, ModePageCodeInformationalExceptions, 0, iecPageLen)
	if err != nil {
		return err
	}
	if len(d) < iecPageLen {
		return fmt.Errorf("%w: informational exceptions page body has %d bytes, want %d", ErrTruncated, len(d), iecPageLen)
	}
	*p = InformationalExceptionsPage{
		PERF: d[0]&0x80 != 0, EBF: d[0]&0x20 != 0, EWASC: d[0]&0x10 != 0, DEXCPT: d[0]&0x08 != 0,
		TEST: d[0]&0x04 != 0, EBACKERR: d[0]&0x02 != 0, LOGERR: d[0]&0x01 != 0,
		MRIE:          d[1] & 0x0f,
		IntervalTimer: binary.BigEndian.Uint32(d[2:6]),
		ReportCount:   binary.BigEndian.Uint32(d[6:10]),
	}
	return nil
}
