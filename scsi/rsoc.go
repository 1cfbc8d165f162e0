package scsi

import (
	"encoding/binary"
	"fmt"
)

const (
	rsocAllHeaderLen    = 4
	rsocDescriptorLen   = 8
	rsocTimeoutsLen     = 12
	rsocTimeoutsDescLen = 0x0a
	rsocOneHeaderLen    = 4
	rsocCTDP            = 0x02
	rsocSERVACTV        = 0x01
	rsocOneCTDP         = 0x80
	rsocSupportMask     = 0x07
	tmfDataLen          = 4
)

// CommandTimeouts is the command timeouts descriptor (SPC-4 section
// 6.35.4, table 299):
//
//	bytes 0-1   DESCRIPTOR LENGTH (000Ah)
//	byte 2      reserved
//	byte 3      COMMAND SPECIFIC
//	bytes 4-7   NOMINAL COMMAND PROCESSING TIMEOUT (seconds)
//	bytes 8-11  RECOMMENDED COMMAND TIMEOUT (seconds)
type CommandTimeouts struct {
	CommandSpecific uint8  // COMMAND SPECIFIC: timeout information some commands define; reserved otherwise
	Nominal         uint32 // NOMINAL COMMAND PROCESSING TIMEOUT, in seconds; 0 means none indicated
	Recommended     uint32 // RECOMMENDED COMMAND TIMEOUT, in seconds; 0 means none indicated
}

// AppendBinary appends the twelve-byte descriptor to b.
func (c *CommandTimeouts) AppendBinary(b []byte) ([]byte, error) {
	b = binary.BigEndian.AppendUint16(b, rsocTimeoutsDescLen)
	b = append(b, 0, c.CommandSpecific)
	b = binary.BigEndian.AppendUint32(b, c.Nominal)
	return binary.BigEndian.AppendUint32(b, c.Recommended), nil
}

// UnmarshalBinary reads the descriptor from the first twelve bytes of b.
func (c *CommandTimeouts) UnmarshalBinary(b []byte) error {
	if len(b) < rsocTimeoutsLen {
		return fmt.Errorf("%w: command timeouts descriptor has %d bytes, want %d", ErrTruncated, len(b), rsocTimeoutsLen)
	}
	if l := binary.BigEndian.Uint16(b[0:2]); l != rsocTimeoutsDescLen {
		return &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("timeouts descriptor length %d, want 10", l)}
	}
	*c = CommandTimeouts{CommandSpecific: b[3], Nominal: binary.BigEndian.Uint32(b[4:8]), Recommended: binary.BigEndian.Uint32(b[8:12])}
	return nil
}

// CommandDescriptor is one command descriptor of the all_commands
// parameter data format (SPC-4 section 6.35.2, table 295):
//
//	byte 0      OPERATION CODE
//	byte 1      reserved
//	bytes 2-3   SERVICE ACTION
//	byte 4      reserved
//	byte 5      reserved (7-2) | CTDP | SERVACTV
//	bytes 6-7   CDB LENGTH
//	bytes 8-19  command timeouts descriptor (when CTDP is one)
type CommandDescriptor struct {
	Op OpCode // OPERATION CODE
	// ServiceAction is valid when ServiceActionValid (SERVACTV) is set.
	ServiceAction      uint16
	ServiceActionValid bool   // SERVACTV: ServiceAction is meaningful
	CDBLength          uint16 // CDB LENGTH, in bytes
	// Timeouts, when not nil, is sent with CTDP set.
	Timeouts *CommandTimeouts
}

// SupportedOpCodes is the all_commands parameter data of REPORT
// SUPPORTED OPERATION CODES (SPC-4 section 6.35.2, table 294):
//
//	bytes 0-3  COMMAND DATA LENGTH (n-3)
//	bytes 4-n  command descriptors
type SupportedOpCodes struct {
	// Commands are the descriptors; after UnmarshalBinary, only those the
	// data carried in full.
	Commands []CommandDescriptor
	// DataLength is the decoded COMMAND DATA LENGTH (MarshalBinary
	// computes its own).
	DataLength uint32
}

// AppendBinary appends the full parameter data to b.
func (d *SupportedOpCodes) AppendBinary(b []byte) ([]byte, error) {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, c := range d.Commands {
		flags := pbit(c.ServiceActionValid, 0) | pbit(c.Timeouts != nil, 1)
		b = append(b, byte(c.Op), 0)
		b = binary.BigEndian.AppendUint16(b, c.ServiceAction)
		b = append(b, 0, flags)
		b = binary.BigEndian.AppendUint16(b, c.CDBLength)
		if c.Timeouts != nil {
			b, _ = c.Timeouts.AppendBinary(b)
		}
	}
	n := uint64(len(b) - start - rsocAllHeaderLen)
	if n > 0xffffffff {
		return b, fmt.Errorf("%w: command data length %d", ErrInvalidField, n)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *SupportedOpCodes) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// MarshalAlloc returns the parameter data cut to allocLen bytes, with the
// COMMAND DATA LENGTH still giving the full length.
func (d *SupportedOpCodes) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// Complete reports whether the decoded data held every descriptor.
func (d *SupportedOpCodes) Complete() bool {
	var n uint64
	for _, c := range d.Commands {
		n += rsocDescriptorLen
		if c.Timeouts != nil {
			n += rsocTimeoutsLen
		}
	}
	return n == uint64(d.DataLength)
}

// UnmarshalBinary decodes all_commands parameter data; it needs the
// four-byte header and decodes the whole descriptors present (see
// Complete).
func (d *SupportedOpCodes) UnmarshalBinary(b []byte) error {
	if len(b) < rsocAllHeaderLen {
		return fmt.Errorf("%w: REPORT SUPPORTED OPERATION CODES data has %d bytes, want at least %d", ErrTruncated, len(b), rsocAllHeaderLen)
	}
	nd := SupportedOpCodes{DataLength: binary.BigEndian.Uint32(b[0:4])}
	end := min(uint64(len(b)), rsocAllHeaderLen+uint64(nd.DataLength))
	for o := uint64(rsocAllHeaderLen); o+rsocDescriptorLen <= end; {
		s := b[o:end]
		c := CommandDescriptor{
			Op:                 OpCode(s[0]),
			ServiceAction:      binary.BigEndian.Uint16(s[2:4]),
			ServiceActionValid: s[5]&rsocSERVACTV != 0,
			CDBLength:          binary.BigEndian.Uint16(s[6:8]),
		}
		n := uint64(rsocDescriptorLen)
		if s[5]&rsocCTDP != 0 {
			if len(s) < rsocDescriptorLen+rsocTimeoutsLen {
				break // cut by the allocation length
			}
			c.Timeouts = &CommandTimeouts{}
			if err := c.Timeouts.UnmarshalBinary(s[rsocDescriptorLen:]); err != nil {
				return shiftFieldError(err, int(o)+rsocDescriptorLen)
			}
			n += rsocTimeoutsLen
		}
		nd.Commands = append(nd.Commands, c)
		o += n
	}
	*d = nd
	return nil
}

// CommandSupport is the SUPPORT field of the one_command parameter data
// (SPC-4 section 6.35.3, table 297).
type CommandSupport uint8

// The SUPPORT values of SPC-4 table 297.
const (
	CommandSupportNotAvailable CommandSupport = 0x0 // data not currently available
	CommandSupportNone         CommandSupport = 0x1 // not supported
	CommandSupportStandard     CommandSupport = 0x3 // supported as the standard says
	CommandSupportVendor       CommandSupport = 0x5 // supported in a vendor-specific manner
)

// SupportedOpCode is the one_command parameter data of REPORT SUPPORTED
// OPERATION CODES (SPC-4 section 6.35.3, table 296):
//
//	byte 0      reserved
//	byte 1      CTDP | reserved (6-3) | SUPPORT (2-0)
//	bytes 2-3   CDB SIZE (n-3)
//	bytes 4-n   CDB USAGE DATA
//	            command timeouts descriptor (when CTDP is one)
type SupportedOpCode struct {
	Support CommandSupport // SUPPORT, 3 bits
	// CDBUsage is the CDB usage bitmap: the operation code, then a mask
	// of the bits the device server examines in each CDB byte.
	CDBUsage []byte
	Timeouts *CommandTimeouts // command timeouts descriptor; when not nil, sent with CTDP set
}

// AppendBinary appends the full parameter data to b.
func (d *SupportedOpCode) AppendBinary(b []byte) ([]byte, error) {
	if len(d.CDBUsage) > 0xffff {
		return b, fmt.Errorf("%w: CDB usage data of %d bytes", ErrInvalidField, len(d.CDBUsage))
	}
	b = append(b, 0, pbit(d.Timeouts != nil, 7)|byte(d.Support)&rsocSupportMask)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.CDBUsage)))
	b = append(b, d.CDBUsage...)
	if d.Timeouts != nil {
		b, _ = d.Timeouts.AppendBinary(b)
	}
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *SupportedOpCode) MarshalBinary() ([]byte, error) { return d.AppendBinary(nil) }

// MarshalAlloc returns the parameter data cut to allocLen bytes.
func (d *SupportedOpCode) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes one_command parameter data; data shorter than
// its CDB SIZE and timeouts descriptor returns ErrTruncated.
func (d *SupportedOpCode) UnmarshalBinary(b []byte) error {
	if len(b) < rsocOneHeaderLen {
		return fmt.Errorf("%w: one_command data has %d bytes, want at least %d", ErrTruncated, len(b), rsocOneHeaderLen)
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if len(b) < rsocOneHeaderLen+n {
		return fmt.Errorf("%w: one_command data has %d bytes, CDB size needs %d", ErrTruncated, len(b), rsocOneHeaderLen+n)
	}
	nd := SupportedOpCode{Support: CommandSupport(b[1] & rsocSupportMask)}
	if n > 0 {
		nd.CDBUsage = append([]byte(nil), b[rsocOneHeaderLen:rsocOneHeaderLen+n]...)
	}
	if b[1]&rsocOneCTDP != 0 {
		nd.Timeouts = &CommandTimeouts{}
		if err := nd.Timeouts.UnmarshalBinary(b[rsocOneHeaderLen+n:]); err != nil {
			return shiftFieldError(err, rsocOneHeaderLen+n)
		}
	}
	*d = nd
	return nil
}

// SupportedTMFs is the REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS
// parameter data with REPD zero (SPC-4 section 6.37, table 308):
//
//	byte 0  ATS | ATSS | CACAS | CTSS | LURS | QTS | TRS | WAKES
//	byte 1  reserved (7-3) | QUAS | QTSS | ITNRS
//	byte 2  reserved (7-1) | TMFTMOV
//	byte 3  reserved
type SupportedTMFs struct {
	ATS     bool // ABORT TASK
	ATSS    bool // ABORT TASK SET
	CACAS   bool // CLEAR ACA
	CTSS    bool // CLEAR TASK SET
	LURS    bool // LOGICAL UNIT RESET
	QTS     bool // QUERY TASK
	TRS     bool // TARGET RESET (obsolete)
	WAKES   bool // WAKEUP (obsolete)
	QUAS    bool // QUERY UNIT ATTENTION
	QTSS    bool // QUERY TASK SET
	ITNRS   bool // I_T NEXUS RESET
	TMFTMOV bool // TMF timeouts valid
}

// AppendBinary appends the four bytes to b.
func (s *SupportedTMFs) AppendBinary(b []byte) ([]byte, error) {
	return append(b,
		pbit(s.ATS, 7)|pbit(s.ATSS, 6)|pbit(s.CACAS, 5)|pbit(s.CTSS, 4)|pbit(s.LURS, 3)|pbit(s.QTS, 2)|pbit(s.TRS, 1)|pbit(s.WAKES, 0),
		pbit(s.QUAS, 2)|pbit(s.QTSS, 1)|pbit(s.ITNRS, 0),
		pbit(s.TMFTMOV, 0), 0), nil
}

// MarshalBinary returns the four bytes.
func (s *SupportedTMFs) MarshalBinary() ([]byte, error) { return s.AppendBinary(nil) }

// MarshalAlloc returns the data cut to allocLen bytes.
func (s *SupportedTMFs) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := s.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes the four bytes.
func (s *SupportedTMFs) UnmarshalBinary(b []byte) error {
	if len(b) < tmfDataLen {
		return fmt.Errorf("%w: supported task management functions data has %d bytes, want %d", ErrTruncated, len(b), tmfDataLen)
	}
	*s = SupportedTMFs{
		ATS: b[0]&0x80 != 0, ATSS: b[0]&0x40 != 0, CACAS: b[0]&0x20 != 0, CTSS: b[0]&0x10 != 0,
		LURS: b[0]&0x08 != 0, QTS: b[0]&0x04 != 0, TRS: b[0]&0x02 != 0, WAKES: b[0]&0x01 != 0,
		QUAS: b[1]&0x04 != 0, QTSS: b[1]&0x02 != 0, ITNRS: b[1]&0x01 != 0,
		TMFTMOV: b[2]&0x01 != 0,
	}
	return nil
}
