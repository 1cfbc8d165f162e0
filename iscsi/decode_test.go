package iscsi

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// smEveryPDU returns one valid PDU of each of the eighteen opcodes.
func smEveryPDU() []PDU {
	read16 := []byte{0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0}
	hdr := make([]byte, BHSLen)
	hdr[0] = byte(OpSCSICommand)
	return []PDU{
		&NOPOut{Immediate: true, ITT: 1, TTT: 0xffffffff, CmdSN: 2, ExpStatSN: 3, Data: []byte("ping")},
		&SCSICommand{Final: true, Read: true, Attr: TaskAttrSimple, LUN: 0x0001000000000000, ITT: 2,
			ExpectedDataTransferLength: 512, CmdSN: 3, ExpStatSN: 4, CDB: read16},
		&TaskMgmtRequest{Immediate: true, Function: 1, ITT: 3, ReferencedTaskTag: 2, CmdSN: 5, RefCmdSN: 3},
		&LoginRequest{Transit: true, NSG: LoginOperationalNegotiation, ISID: NewRandomISID(0x123456, 1), ITT: 4,
			Data: []byte("InitiatorName=iqn.2024-01.x:i\x00AuthMethod=None\x00")},
		&TextRequest{Immediate: true, Final: true, ITT: 5, TTT: 0xffffffff, Data: []byte("SendTargets=All\x00")},
		&DataOut{Final: true, ITT: 2, TTT: 7, DataSN: 0, BufferOffset: 0, Data: []byte{1, 2, 3, 4, 5}},
		&LogoutRequest{Immediate: true, Reason: CloseConnection, ITT: 6, CID: 1, CmdSN: 7, ExpStatSN: 8},
		&SNACKRequest{Type: SNACKStatus, ITT: 0xffffffff, TTT: 0xffffffff, ExpStatSN: 9, BegRun: 4, RunLength: 1},
		&NOPIn{ITT: 0xffffffff, TTT: 8, StatSN: 9, ExpCmdSN: 10, MaxCmdSN: 20},
		&SCSIResponse{Status: 0x02, ITT: 2, StatSN: 10, ExpCmdSN: 11, MaxCmdSN: 30,
			Data: []byte{0, 4, 0x70, 0, 5, 0}},
		&TaskMgmtResponse{Response: 0, ITT: 3, StatSN: 11, ExpCmdSN: 12, MaxCmdSN: 31},
		&LoginResponse{Transit: true, CSG: LoginOperationalNegotiation, NSG: FullFeaturePhase, TSIH: 1, ITT: 4,
			StatSN: 1, ExpCmdSN: 1, MaxCmdSN: 32, Data: []byte("HeaderDigest=None\x00")},
		&TextResponse{Final: true, ITT: 5, TTT: 0xffffffff, StatSN: 12, ExpCmdSN: 13, MaxCmdSN: 33,
			Data: []byte("TargetName=iqn.2024-01.x:t\x00")},
		&DataIn{Final: true, ITT: 2, TTT: 0xffffffff, DataSN: 0, BufferOffset: 0, Data: bytes.Repeat([]byte{0xab}, 7)},
		&LogoutResponse{Response: LogoutSuccess, ITT: 6, StatSN: 13, ExpCmdSN: 14, MaxCmdSN: 34, Time2Retain: 20},
		&R2T{ITT: 2, TTT: 9, StatSN: 14, ExpCmdSN: 15, MaxCmdSN: 35, R2TSN: 1, BufferOffset: 8192,
			DesiredDataTransferLength: 4096},
		&AsyncMessage{AsyncEvent: AsyncLogoutRequest, StatSN: 15, ExpCmdSN: 16, MaxCmdSN: 36, Parameter3: 5},
		&Reject{Reason: RejectCommandNotSupported, StatSN: 16, ExpCmdSN: 17, MaxCmdSN: 37, Data: hdr},
	}
}

func TestDecodeEveryOpcode(t *testing.T) {
	seen := map[Opcode]bool{}
	for _, p := range smEveryPDU() {
		t.Run(p.Opcode().String(), func(t *testing.T) {
			seen[p.Opcode()] = true
			b, err := Marshal(p)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if got := Opcode(b[0] & opcodeMask); got != p.Opcode() {
				t.Fatalf("wire opcode %v, want %v", got, p.Opcode())
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if reflect.TypeOf(got) != reflect.TypeOf(p) {
				t.Fatalf("Unmarshal gave %T, want %T", got, p)
			}
			smWantEqual(t, got, p)

			var f Frame
			if err := f.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			got2, err := Decode(&f)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			smWantEqual(t, got2, p)
			if got2 == got {
				t.Fatalf("Decode returned the same PDU twice")
			}
			for i := range len(b) {
				if _, err := Unmarshal(b[:i]); err == nil {
					t.Fatalf("Unmarshal of %d-byte prefix succeeded", i)
				} else {
					smWantErrIs(t, err, ErrTruncated)
				}
			}
		})
	}
	for op := range Opcode(opcodeMask + 1) {
		if op.Known() && !seen[op] {
			t.Errorf("no test PDU for %v", op)
		}
	}
}

func TestDecodeUnknownOpcode(t *testing.T) {
	for op := range Opcode(opcodeMask + 1) {
		if op.Known() {
			continue
		}
		var f Frame
		f.BHS.SetOpcode(op, false)
		p, err := Decode(&f)
		smWantErrIs(t, err, ErrOpcode)
		if p != nil {
			t.Fatalf("Decode(%v) = %T, want nil", op, p)
		}
		if want := fmt.Sprintf("0x%02x", uint8(op)); !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not name the opcode %s", err, want)
		}
	}
}

func TestDecodePropagatesErrors(t *testing.T) {
	var f Frame
	f.BHS.SetOpcode(OpLoginReq, true)
	f.BHS[1] = 0xc1 // T and C
	_, err := Decode(&f)
	smWantErrIs(t, err, ErrInvalidField)

	f = Frame{}
	f.BHS.SetOpcode(OpReject, false)
	_, err = Decode(&f)
	smWantErrIs(t, err, ErrDataSegmentLength)
}

func FuzzDecode(f *testing.F) {
	for _, p := range smEveryPDU() {
		b, err := Marshal(p)
		if err != nil {
			f.Fatalf("seed %T: %v", p, err)
		}
		f.Add(b)
	}
	golden, digest := goldenPDUs(f)
	for i, b := range golden {
		if !digest[i] {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p1, err := Unmarshal(b)
		if err != nil {
			if p1 != nil {
				t.Fatalf("Unmarshal returned %T with error %v", p1, err)
			}
			return
		}
		if got := Opcode(b[0] & opcodeMask); p1.Opcode() != got {
			t.Fatalf("decoded %T (%v) from opcode %v", p1, p1.Opcode(), got)
		}
		enc, err := Marshal(p1)
		if err != nil {
			t.Fatalf("re-encoding %T %+v: %v", p1, p1, err)
		}
		p2, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("decoding re-encoded %T %x: %v", p1, enc, err)
		}
		if reflect.TypeOf(p2) != reflect.TypeOf(p1) {
			t.Fatalf("re-decoded %T, first %T", p2, p1)
		}
		smWantEqual(t, p2, p1)
	})
}
