package iscsi

import (
	"encoding/binary"
	"fmt"

	"github.com/lunarsan/lunar/scsi"
)

// AsyncEvent is the AsyncEvent field of an Asynchronous Message (RFC 7143
// section 11.9.1).
type AsyncEvent uint8

// The asynchronous events of RFC 7143 section 11.9.1.
const (
	// AsyncSCSIEvent: a SCSI asynchronous event is reported in the sense
	// data of the data segment.
	AsyncSCSIEvent AsyncEvent = 0
	// AsyncLogoutRequest: the target asks the initiator to log out;
	// Parameter3 is the time in seconds it waits.
	AsyncLogoutRequest AsyncEvent = 1
	// AsyncConnectionDrop: the target will drop the connection named by
	// Parameter1; Parameter2 and Parameter3 are Time2Wait and
	// Time2Retain.
	AsyncConnectionDrop AsyncEvent = 2
	// AsyncSessionDrop: the target will drop all connections of the
	// session; Parameter2 and Parameter3 are Time2Wait and Time2Retain.
	AsyncSessionDrop AsyncEvent = 3
	// AsyncNegotiationRequest: the target asks for parameter
	// renegotiation; Parameter3 is the time in seconds it waits.
	AsyncNegotiationRequest AsyncEvent = 4
	// AsyncTaskTermination: all active tasks for a LU with a matching
	// LUN field will be terminated.
	AsyncTaskTermination AsyncEvent = 5
	// AsyncVendorSpecific: a vendor-specific event, AsyncVCode says
	// which.
	AsyncVendorSpecific AsyncEvent = 255
)

// String returns the RFC's name for the event.
func (e AsyncEvent) String() string {
	switch e {
	case AsyncSCSIEvent:
		return "SCSI asynchronous event"
	case AsyncLogoutRequest:
		return "logout request"
	case AsyncConnectionDrop:
		return "connection drop"
	case AsyncSessionDrop:
		return "session drop"
	case AsyncNegotiationRequest:
		return "negotiation request"
	case AsyncTaskTermination:
		return "task termination"
	case AsyncVendorSpecific:
		return "vendor-specific event"
	}
	return fmt.Sprintf("async event %d", uint8(e))
}

// asyncITT is the Initiator Task Tag of every Asynchronous Message.
const asyncITT = 0xffffffff

// AsyncMessage is the Asynchronous Message PDU, opcode 0x32 (RFC 7143
// section 11.9):
//
//	Byte/     0       |       1       |       2       |       3       |
//	   /              |               |               |               |
//	  |0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|0 1 2 3 4 5 6 7|
//	  +---------------+---------------+---------------+---------------+
//	 0|.|.| 0x32      |1| Reserved                                    |
//	  +---------------+---------------+---------------+---------------+
//	 4|TotalAHSLength | DataSegmentLength                             |
//	  +---------------+---------------+---------------+---------------+
//	 8| LUN or Reserved                                               |
//	  +                                                               +
//	12|                                                               |
//	  +---------------+---------------+---------------+---------------+
//	16| 0xffffffff                                                    |
//	  +---------------+---------------+---------------+---------------+
//	20| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	24| StatSN                                                        |
//	  +---------------+---------------+---------------+---------------+
//	28| ExpCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	32| MaxCmdSN                                                      |
//	  +---------------+---------------+---------------+---------------+
//	36| AsyncEvent    | AsyncVCode    | Parameter1 or Reserved        |
//	  +---------------+---------------+---------------+---------------+
//	40| Parameter2 or Reserved        | Parameter3 or Reserved        |
//	  +---------------+---------------+---------------+---------------+
//	44| Reserved                                                      |
//	  +---------------+---------------+---------------+---------------+
//	48/ DataSegment - Sense Data and iSCSI Event Data                 /
//	 +/                                                               /
//	  +---------------+---------------+---------------+---------------+
//
// The F bit is always 1 and the ITT always 0xffffffff: EncodeFrame sets
// them and DecodeFrame ignores them.
type AsyncMessage struct {
	// LUN is the logical unit the event concerns, or reserved.
	LUN scsi.LUN
	// StatSN is the status sequence number.
	StatSN uint32
	// ExpCmdSN is the next CmdSN the target expects.
	ExpCmdSN uint32
	// MaxCmdSN is the highest CmdSN the target will accept.
	MaxCmdSN uint32
	// AsyncEvent is the event reported.
	AsyncEvent AsyncEvent
	// AsyncVCode is the vendor code of an AsyncVendorSpecific event.
	AsyncVCode uint8
	// Parameter1 is the event's first parameter (see AsyncEvent).
	Parameter1 uint16
	// Parameter2 is the event's second parameter.
	Parameter2 uint16
	// Parameter3 is the event's third parameter.
	Parameter3 uint16
	// Data is the raw data segment: for AsyncSCSIEvent a two-byte
	// SenseLength, the sense data and optional iSCSI event data (see
	// SenseData and SetSenseData). After DecodeFrame or UnmarshalBinary
	// it aliases the frame's or the input's memory.
	Data []byte
}

// Opcode returns OpAsyncMessage.
func (p *AsyncMessage) Opcode() Opcode { return OpAsyncMessage }

// SenseData returns the sense data of the data segment, laid out as in
// RFC 7143 section 11.4.7.2: a two-byte SenseLength, then SenseLength
// bytes of sense data. It returns nil and no error if Data is empty. The
// result aliases p.Data.
func (p *AsyncMessage) SenseData() ([]byte, error) {
	if len(p.Data) == 0 {
		return nil, nil
	}
	if len(p.Data) < 2 {
		return nil, fmt.Errorf("%w: %d-byte async message data segment, want at least a 2-byte SenseLength", ErrTruncated, len(p.Data))
	}
	n := int(binary.BigEndian.Uint16(p.Data))
	if n > len(p.Data)-2 {
		return nil, fmt.Errorf("%w: SenseLength %d, %d bytes follow it", ErrTruncated, n, len(p.Data)-2)
	}
	return p.Data[2 : 2+n : 2+n], nil
}

// SetSenseData sets Data to a fresh copy of sense behind its two-byte
// SenseLength. It fails with ErrDataSegmentLength if sense is longer than
// SenseLength can say.
func (p *AsyncMessage) SetSenseData(sense []byte) error {
	if len(sense) > 0xffff {
		return fmt.Errorf("%w: %d bytes of sense data, at most %d", ErrDataSegmentLength, len(sense), 0xffff)
	}
	d := make([]byte, 0, 2+len(sense))
	d = binary.BigEndian.AppendUint16(d, uint16(len(sense)))
	p.Data = append(d, sense...)
	return nil
}

// EncodeFrame fills f from p. f.Data aliases p.Data.
func (p *AsyncMessage) EncodeFrame(f *Frame) error {
	beginFrame(f, OpAsyncMessage, false)
	h := &f.BHS
	h[1] = finalBit
	h.SetLUN(uint64(p.LUN))
	h.SetITT(asyncITT)
	h.PutUint32(24, p.StatSN)
	h.PutUint32(28, p.ExpCmdSN)
	h.PutUint32(32, p.MaxCmdSN)
	h[36], h[37] = byte(p.AsyncEvent), p.AsyncVCode
	binary.BigEndian.PutUint16(h[38:40], p.Parameter1)
	binary.BigEndian.PutUint16(h[40:42], p.Parameter2)
	binary.BigEndian.PutUint16(h[42:44], p.Parameter3)
	f.Data = p.Data
	return f.SetLengths()
}

// DecodeFrame sets p from f. p.Data aliases f.Data.
func (p *AsyncMessage) DecodeFrame(f *Frame) error {
	if err := checkOpcode(f, OpAsyncMessage); err != nil {
		return err
	}
	if err := sessNoAHS(f); err != nil {
		return err
	}
	h := &f.BHS
	*p = AsyncMessage{
		LUN:        scsi.LUN(h.LUN()),
		StatSN:     h.Uint32(24),
		ExpCmdSN:   h.Uint32(28),
		MaxCmdSN:   h.Uint32(32),
		AsyncEvent: AsyncEvent(h[36]),
		AsyncVCode: h[37],
		Parameter1: binary.BigEndian.Uint16(h[38:40]),
		Parameter2: binary.BigEndian.Uint16(h[40:42]),
		Parameter3: binary.BigEndian.Uint16(h[42:44]),
		Data:       f.Data,
	}
	return nil
}

// AppendBinary appends p's wire form without digests to b.
func (p *AsyncMessage) AppendBinary(b []byte) ([]byte, error) { return Append(b, p) }

// MarshalBinary returns p's wire form without digests.
func (p *AsyncMessage) MarshalBinary() ([]byte, error) { return Marshal(p) }

// UnmarshalBinary decodes one whole Asynchronous Message without digests.
// p.Data aliases b.
func (p *AsyncMessage) UnmarshalBinary(b []byte) error { return unmarshalInto(p, b) }
