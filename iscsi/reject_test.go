package iscsi

import (
	"bytes"
	"errors"
	"testing"
)

// smRejectedHeader is the header of a Text Request used as the payload of
// the Reject tests.
const smRejectedHeader = `04 c0 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00
	00 00 00 07 | ff ff ff ff | 00 00 00 10 | 00 00 00 20
	00 00 00 00 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00`

func TestRejectCodec(t *testing.T) {
	fresh := func() *Reject { return new(Reject) }
	hdr := smHex(t, smRejectedHeader)
	tests := []struct {
		name string
		p    *Reject
		want string
	}{{
		name: "protocol error",
		p:    &Reject{Reason: RejectProtocolError, StatSN: 0x01020304, ExpCmdSN: 0x10, MaxCmdSN: 0x20, Data: hdr},
		want: `3f 80 04 00 | 00 00 00 30 | 00 00 00 00 | 00 00 00 00
		       ff ff ff ff | 00 00 00 00 | 01 02 03 04 | 00 00 00 10
		       00 00 00 20 | 00 00 00 00 | 00 00 00 00 | 00 00 00 00` + smRejectedHeader,
	}, {
		name: "SNACK reject with DataSN",
		p:    &Reject{Reason: RejectSNACKReject, StatSN: 1, ExpCmdSN: 2, MaxCmdSN: 3, DataSN: 0x0a0b0c0d, Data: hdr},
		want: `3f 80 03 00 | 00 00 00 30 | 00 00 00 00 | 00 00 00 00
		       ff ff ff ff | 00 00 00 00 | 00 00 00 01 | 00 00 00 02
		       00 00 00 03 | 0a 0b 0c 0d | 00 00 00 00 | 00 00 00 00` + smRejectedHeader,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			smCheckCodec(t, tt.p, smHex(t, tt.want), fresh)
		})
	}
}

func TestRejectDataLength(t *testing.T) {
	for _, n := range []int{0, 4, 44, 52} {
		_, err := (&Reject{Reason: RejectProtocolError, Data: make([]byte, n)}).MarshalBinary()
		smWantErrIs(t, err, ErrDataSegmentLength)
		_, err = (&Reject{Data: make([]byte, n)}).RejectedHeader()
		smWantErrIs(t, err, ErrDataSegmentLength)

		var f Frame
		f.BHS.SetOpcode(OpReject, false)
		f.Data = make([]byte, n)
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		smWantErrIs(t, new(Reject).UnmarshalBinary(b), ErrDataSegmentLength)
	}
}

func TestRejectedHeader(t *testing.T) {
	var h BHS
	copy(h[:], smHex(t, smRejectedHeader))
	var r Reject
	r.Reason = RejectInvalidPDUField
	r.SetRejectedHeader(&h)
	h[0] = 0xff // SetRejectedHeader copied
	got, err := r.RejectedHeader()
	if err != nil {
		t.Fatal(err)
	}
	if got.Opcode() != OpTextReq || got.ITT() != 7 {
		t.Fatalf("RejectedHeader() = %v ITT %d, want Text Request ITT 7", got.Opcode(), got.ITT())
	}
	var re *RejectError
	if err := r.Err(); !errors.As(err, &re) || re.Reason != RejectInvalidPDUField || re.Header != got {
		t.Fatalf("Err() = %#v", err)
	}
	want := "iscsi: peer rejected Text Request (ITT 0x00000007): invalid PDU field (0x09)"
	if s := re.Error(); s != want {
		t.Fatalf("Error() = %q, want %q", s, want)
	}
	r.Data = r.Data[:10]
	smWantErrIs(t, r.Err(), ErrDataSegmentLength)
}

func TestRejectReasonString(t *testing.T) {
	for r, want := range map[RejectReason]string{
		RejectDataDigestError: "data digest error", RejectSNACKReject: "SNACK reject",
		RejectProtocolError: "protocol error", RejectCommandNotSupported: "command not supported",
		RejectImmediateCommand: "immediate command rejected", RejectTaskInProgress: "task in progress",
		RejectInvalidDataACK: "invalid data ACK", RejectInvalidPDUField: "invalid PDU field",
		RejectLongOperation: "long operation reject", RejectNegotiationReset: "negotiation reset",
		RejectWaitingForLogout: "waiting for logout", 0x01: "reject reason 0x01", 0x0d: "reject reason 0x0d",
	} {
		if got := r.String(); got != want {
			t.Errorf("RejectReason(%#x).String() = %q, want %q", uint8(r), got, want)
		}
	}
}

func FuzzReject(f *testing.F) {
	hdr := bytes.Repeat([]byte{0x5a}, BHSLen)
	smFuzzCodec(f,
		&Reject{Reason: RejectProtocolError, StatSN: 1, Data: hdr},
		&Reject{Reason: RejectSNACKReject, DataSN: 4, Data: hdr},
	)
}
