package iscsi

import (
	"bytes"
	"testing"
)

func TestAsyncMessageCodec(t *testing.T) {
	fresh := func() *AsyncMessage { return new(AsyncMessage) }
	tests := []struct {
		name string
		p    *AsyncMessage
		want string
	}{{
		name: "SCSI event with sense data",
		p: &AsyncMessage{
			LUN: 0x0002000000000000, StatSN: 0x01020304, ExpCmdSN: 0x10, MaxCmdSN: 0x20,
			AsyncEvent: AsyncSCSIEvent,
			// SenseLength 18, fixed-format sense: UNIT ATTENTION, REPORTED
			// LUNS DATA HAS CHANGED (3f/0e).
			Data: smHex(t, "0012 70000600000000 0a 00000000 3f0e 00000000"),
		},
		want: `32 80 00 00 | 00 00 00 14 | 00 02 00 00 | 00 00 00 00
		       ff ff ff ff | 00 00 00 00 | 01 02 03 04 | 00 00 00 10
		       00 00 00 20 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       0012 70000600000000 0a 00000000 3f0e 00000000`,
	}, {
		name: "connection drop",
		p: &AsyncMessage{
			StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 3, AsyncEvent: AsyncConnectionDrop,
			Parameter1: 0x0001, Parameter2: 0x0002, Parameter3: 0x0014,
		},
		want: `32 80 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       ff ff ff ff | 00 00 00 00 | 00 00 00 01 | 00 00 00 02
		       00 00 00 03 | 02 00 00 01 | 00 02 00 14 | 00 00 00 00`,
	}, {
		name: "vendor specific with odd data",
		p:    &AsyncMessage{AsyncEvent: AsyncVendorSpecific, AsyncVCode: 0x42, Data: []byte{1, 2, 3}},
		want: `32 80 00 00 | 00 00 00 03 | 00 00 00 00 | 00 00 00 00
		       ff ff ff ff | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
		       00 00 00 00 | ff 42 00 00 | 00 00 00 00 | 00 00 00 00
		       010203 00`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestAsyncMessageSenseData(t *testing.T) {
	sense := smHex(t, "70000600000000 0a 00000000 3f0e 00000000")
	var p AsyncMessage
	if err := p.SetSenseData(sense); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0, 18}, sense...); !bytes.Equal(p.Data, want) {
		t.Fatalf("Data = %x, want %x", p.Data, want)
	}
	got, err := p.SenseData()
	if err != nil || !bytes.Equal(got, sense) {
		t.Fatalf("SenseData() = %x, %v; want %x", got, err, sense)
	}
	// iSCSI event data after the sense data is not part of it.
	p.Data = append(p.Data, 0xee, 0xee)
	if got, err := p.SenseData(); err != nil || !bytes.Equal(got, sense) {
		t.Fatalf("with event data: SenseData() = %x, %v; want %x", got, err, sense)
	}
	p.Data = nil
	if got, err := p.SenseData(); err != nil || got != nil {
		t.Fatalf("no data: SenseData() = %x, %v; want nil, nil", got, err)
	}
	for _, d := range [][]byte{{0}, {0, 3, 1, 2}} {
		p.Data = d
		_, err := p.SenseData()
		smWantErrIs(t, err, ErrTruncated)
	}
	smWantErrIs(t, p.SetSenseData(make([]byte, 0x10000)), ErrDataSegmentLength)
}

func TestAsyncEventString(t *testing.T) {
	for e, want := range map[AsyncEvent]string{
		AsyncSCSIEvent: "SCSI asynchronous event", AsyncLogoutRequest: "logout request",
		AsyncConnectionDrop: "connection drop", AsyncSessionDrop: "session drop",
		AsyncNegotiationRequest: "negotiation request", AsyncTaskTermination: "task termination",
		AsyncVendorSpecific: "vendor-specific event", 6: "async event 6",
	} {
		if got := e.String(); got != want {
			t.Errorf("AsyncEvent(%d).String() = %q, want %q", uint8(e), got, want)
		}
	}
}

func FuzzAsyncMessage(f *testing.F) {
	smFuzzCodec(f,
		&AsyncMessage{AsyncEvent: AsyncSCSIEvent, LUN: 1, Data: []byte{0, 2, 0x70, 0}},
		&AsyncMessage{AsyncEvent: AsyncLogoutRequest, Parameter3: 10},
	)
}
