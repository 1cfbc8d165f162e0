package iscsi

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

// fixedSense is fixed-format sense data: ILLEGAL REQUEST, INVALID FIELD
// IN CDB.
var fixedSense = []byte{0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24, 0x00, 0, 0, 0, 0}

func scsiResponseCases() []taskCase[SCSIResponse] {
	withSense := SCSIResponse{
		Underflow: true, Status: scsi.StatusCheckCondition, ITT: 0x10, StatSN: 0x20,
		ExpCmdSN: 0x30, MaxCmdSN: 0x40, ExpDataSN: 2, ResidualCount: 512,
	}
	withSense.SetSense(fixedSense)
	return []taskCase[SCSIResponse]{
		{
			name: "good",
			pdu: SCSIResponse{
				Response: ResponseCommandCompleted, Status: scsi.StatusGood, ITT: 0x11223344,
				StatSN: 0x100, ExpCmdSN: 0x200, MaxCmdSN: 0x220, ExpDataSN: 1,
			},
			wire: []byte{
				0x21, 0x80, 0x00, 0x00, // 0: opcode; F; Response; Status
				0x00, 0x00, 0x00, 0x00, // 4: TotalAHSLength, DataSegmentLength
				0x00, 0x00, 0x00, 0x00, // 8: reserved
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20: SNACK Tag
				0x00, 0x00, 0x01, 0x00, // 24: StatSN
				0x00, 0x00, 0x02, 0x00, // 28: ExpCmdSN
				0x00, 0x00, 0x02, 0x20, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x01, // 36: ExpDataSN
				0x00, 0x00, 0x00, 0x00, // 40: Bidirectional Read Residual Count
				0x00, 0x00, 0x00, 0x00, // 44: Residual Count
			},
		},
		{
			name: "check condition with sense and underflow",
			pdu:  withSense,
			wire: taskCat([]byte{
				0x21, 0x82, 0x00, 0x02, // 0: opcode; F U; completed; CHECK CONDITION
				0x00, 0x00, 0x00, 0x14, // 4: DataSegmentLength 20
				0x00, 0x00, 0x00, 0x00, // 8: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x10, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20: SNACK Tag
				0x00, 0x00, 0x00, 0x20, // 24: StatSN
				0x00, 0x00, 0x00, 0x30, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x40, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x02, // 36: ExpDataSN
				0x00, 0x00, 0x00, 0x00, // 40: Bidirectional Read Residual Count
				0x00, 0x00, 0x02, 0x00, // 44: Residual Count
				0x00, 0x12, // 48: SenseLength 18
			}, fixedSense),
		},
		{
			name: "bidi overflow and overflow",
			pdu: SCSIResponse{
				BidiOverflow: true, Overflow: true, ITT: 1, SNACKTag: 0xabcd, StatSN: 2, ExpCmdSN: 3, MaxCmdSN: 4,
				BidiReadResidualCount: 7, ResidualCount: 9, Data: []byte{0x00, 0x00, 0xfe},
			},
			wire: []byte{
				0x21, 0x94, 0x00, 0x00, // 0: opcode; F o O
				0x00, 0x00, 0x00, 0x03, // 4: DataSegmentLength 3
				0x00, 0x00, 0x00, 0x00, // 8: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x01, // 16: ITT
				0x00, 0x00, 0xab, 0xcd, // 20: SNACK Tag
				0x00, 0x00, 0x00, 0x02, // 24: StatSN
				0x00, 0x00, 0x00, 0x03, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x04, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: ExpDataSN
				0x00, 0x00, 0x00, 0x07, // 40: Bidirectional Read Residual Count
				0x00, 0x00, 0x00, 0x09, // 44: Residual Count
				0x00, 0x00, 0xfe, 0x00, // 48: SenseLength 0, response data, padding
			},
		},
		{
			name: "bidi underflow",
			pdu:  SCSIResponse{BidiUnderflow: true, ITT: 5, BidiReadResidualCount: 0x100},
			wire: []byte{
				0x21, 0x88, 0x00, 0x00, // 0: opcode; F u
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x05, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20
				0x00, 0x00, 0x00, 0x00, // 24
				0x00, 0x00, 0x00, 0x00, // 28
				0x00, 0x00, 0x00, 0x00, // 32
				0x00, 0x00, 0x00, 0x00, // 36
				0x00, 0x00, 0x01, 0x00, // 40: Bidirectional Read Residual Count
				0x00, 0x00, 0x00, 0x00, // 44
			},
		},
		{
			name: "target failure",
			pdu:  SCSIResponse{Response: ResponseTargetFailure, ITT: 6, StatSN: 7, ExpCmdSN: 8, MaxCmdSN: 9},
			wire: []byte{
				0x21, 0x80, 0x01, 0x00, // 0: opcode; F; Target Failure
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x06, // 16: ITT
				0x00, 0x00, 0x00, 0x00, // 20
				0x00, 0x00, 0x00, 0x07, // 24: StatSN
				0x00, 0x00, 0x00, 0x08, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x09, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36
				0x00, 0x00, 0x00, 0x00, // 40
				0x00, 0x00, 0x00, 0x00, // 44
			},
		},
	}
}

func TestSCSIResponseRoundTrip(t *testing.T) {
	runTaskCases(t, scsiResponseCases())
}

// scsiResponseWire returns a SCSI Response BHS with byte 1 set to flags
// and byte 2 to response, both residual counts set to 0x55, and data.
func scsiResponseWire(flags, response byte, data []byte) []byte {
	b := make([]byte, BHSLen)
	b[0], b[1], b[2], b[7] = byte(OpSCSIResponse), flags, response, byte(len(data))
	b[43], b[47] = 0x55, 0x55
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func TestSCSIResponseDecode(t *testing.T) {
	for _, c := range []struct {
		name string
		wire []byte
		want error
	}{
		{"F clear", scsiResponseWire(0x00, 0, nil), ErrInvalidField},
		{"O and U", scsiResponseWire(0x86, 0, nil), ErrInvalidField},
		{"o and u", scsiResponseWire(0x98, 0, nil), ErrInvalidField},
		{"target failure with U", scsiResponseWire(0x82, 1, nil), ErrInvalidField},
		{"target failure with o", scsiResponseWire(0x90, 1, nil), ErrInvalidField},
	} {
		wantTaskDecodeError[SCSIResponse](t, c.name, c.wire, c.want)
	}
	withAHS := taskCat(scsiResponseWire(0x80, 0, nil), []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[SCSIResponse](t, "AHS", withAHS, ErrAHSLength)

	// The residual counts are ignored unless their bits are set.
	var p SCSIResponse
	if err := p.UnmarshalBinary(scsiResponseWire(0x80, 0, nil)); err != nil {
		t.Fatal(err)
	}
	if p.ResidualCount != 0 || p.BidiReadResidualCount != 0 {
		t.Errorf("residual counts without flags = %d, %d, want 0, 0", p.ResidualCount, p.BidiReadResidualCount)
	}
	if err := p.UnmarshalBinary(scsiResponseWire(0x92, 0, nil)); err != nil {
		t.Fatal(err)
	}
	if !p.BidiOverflow || !p.Underflow || p.ResidualCount != 0x55 || p.BidiReadResidualCount != 0x55 {
		t.Errorf("o U response = %+v", p)
	}
}

func TestSCSIResponseEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		pdu  SCSIResponse
	}{
		{"O and U", SCSIResponse{Overflow: true, Underflow: true}},
		{"o and u", SCSIResponse{BidiOverflow: true, BidiUnderflow: true}},
		{"target failure with O", SCSIResponse{Response: ResponseTargetFailure, Overflow: true}},
		{"target failure with u", SCSIResponse{Response: ResponseTargetFailure, BidiUnderflow: true}},
	} {
		wantTaskEncodeError(t, c.name, &c.pdu, ErrInvalidField)
	}
}

func TestSCSIResponseSense(t *testing.T) {
	for _, c := range []struct {
		name      string
		data      []byte
		sense     []byte
		response  []byte
		wantError error
	}{
		{"no data", nil, nil, nil, nil},
		{"sense only", taskCat([]byte{0x00, 0x03}, []byte{1, 2, 3}), []byte{1, 2, 3}, nil, nil},
		{"sense and response data", []byte{0x00, 0x01, 0xaa, 0xbb, 0xcc}, []byte{0xaa}, []byte{0xbb, 0xcc}, nil},
		{"response data only", []byte{0x00, 0x00, 0xbb}, nil, []byte{0xbb}, nil},
		{"SenseLength 0", []byte{0x00, 0x00}, nil, nil, nil},
		{"one byte", []byte{0x00}, nil, nil, ErrTruncated},
		{"SenseLength past the data", []byte{0x00, 0x05, 1, 2, 3, 4}, nil, nil, ErrTruncated},
		{"SenseLength 0xffff", []byte{0xff, 0xff, 1}, nil, nil, ErrTruncated},
	} {
		p := SCSIResponse{Data: c.data}
		sense, err := p.Sense()
		if !errors.Is(err, c.wantError) || !bytes.Equal(sense, c.sense) {
			t.Errorf("%s: Sense = % x, %v; want % x, %v", c.name, sense, err, c.sense, c.wantError)
		}
		resp, err := p.ResponseData()
		if !errors.Is(err, c.wantError) || !bytes.Equal(resp, c.response) {
			t.Errorf("%s: ResponseData = % x, %v; want % x, %v", c.name, resp, err, c.response, c.wantError)
		}
	}
}

func TestSCSIResponseSetSense(t *testing.T) {
	var p SCSIResponse
	p.SetSense(fixedSense)
	if want := taskCat([]byte{0x00, 0x12}, fixedSense); !bytes.Equal(p.Data, want) {
		t.Fatalf("SetSense: Data = % x, want % x", p.Data, want)
	}
	if sense, err := p.Sense(); err != nil || !bytes.Equal(sense, fixedSense) {
		t.Fatalf("Sense after SetSense = % x, %v", sense, err)
	}
	p.SetSense(nil)
	if p.Data != nil {
		t.Fatalf("SetSense(nil): Data = % x, want nil", p.Data)
	}
	p.SetSense(make([]byte, 1<<16+3))
	if len(p.Data) != 2+1<<16-1 || p.Data[0] != 0xff || p.Data[1] != 0xff {
		t.Fatalf("SetSense of 65539 bytes: %d bytes of data, SenseLength % x", len(p.Data), p.Data[:2])
	}
}

func FuzzSCSIResponse(f *testing.F) {
	seedTaskFuzz(f, scsiResponseCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzTaskStable[SCSIResponse](t, b)
		var p SCSIResponse
		if p.UnmarshalBinary(b) == nil {
			sense, err := p.Sense()
			if err == nil && len(sense) > len(p.Data) {
				t.Fatalf("Sense of %d bytes from %d bytes of data", len(sense), len(p.Data))
			}
		}
	})
}
