package iscsi

import (
	"reflect"
	"testing"

	"github.com/lunarsan/lunar/scsi"
)

func dataInCases() []taskCase[DataIn] {
	return []taskCase[DataIn]{
		{
			name: "data only",
			pdu: DataIn{
				ITT: 0x11223344, TTT: ReservedTag, ExpCmdSN: 0x10, MaxCmdSN: 0x20,
				DataSN: 4, BufferOffset: 0x8000, Data: []byte{9, 8, 7},
			},
			wire: []byte{
				0x25, 0x00, 0x00, 0x00, // 0: opcode
				0x00, 0x00, 0x00, 0x03, // 4: DataSegmentLength 3
				0x00, 0x00, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0xff, 0xff, 0xff, 0xff, // 20: TTT
				0x00, 0x00, 0x00, 0x00, // 24: StatSN (reserved)
				0x00, 0x00, 0x00, 0x10, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x20, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x04, // 36: DataSN
				0x00, 0x00, 0x80, 0x00, // 40: Buffer Offset
				0x00, 0x00, 0x00, 0x00, // 44: Residual Count
				0x09, 0x08, 0x07, 0x00, // 48: data, padding
			},
		},
		{
			name: "final with status and underflow",
			pdu: DataIn{
				Final: true, HasStatus: true, Underflow: true, Status: scsi.StatusGood,
				ITT: 1, TTT: ReservedTag, StatSN: 0x30, ExpCmdSN: 0x31, MaxCmdSN: 0x40,
				DataSN: 0, BufferOffset: 0, ResidualCount: 0x200, Data: []byte{1, 2, 3, 4},
			},
			wire: []byte{
				0x25, 0x83, 0x00, 0x00, // 0: opcode; F U S; Status GOOD
				0x00, 0x00, 0x00, 0x04, // 4: DataSegmentLength 4
				0x00, 0x00, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x01, // 16: ITT
				0xff, 0xff, 0xff, 0xff, // 20: TTT
				0x00, 0x00, 0x00, 0x30, // 24: StatSN
				0x00, 0x00, 0x00, 0x31, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x40, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: DataSN
				0x00, 0x00, 0x00, 0x00, // 40: Buffer Offset
				0x00, 0x00, 0x02, 0x00, // 44: Residual Count
				0x01, 0x02, 0x03, 0x04, // 48: data
			},
		},
		{
			name: "acknowledge with overflow status",
			pdu: DataIn{
				Final: true, Acknowledge: true, HasStatus: true, Overflow: true, Status: scsi.StatusConditionMet,
				LUN: 0x0003_0000_0000_0000, ITT: 2, TTT: 0xaabbccdd, StatSN: 5, ExpCmdSN: 6, MaxCmdSN: 7,
				DataSN: 8, BufferOffset: 9, ResidualCount: 10,
			},
			wire: []byte{
				0x25, 0xc5, 0x00, 0x04, // 0: opcode; F A O S; Status CONDITION MET
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x03, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x02, // 16: ITT
				0xaa, 0xbb, 0xcc, 0xdd, // 20: TTT
				0x00, 0x00, 0x00, 0x05, // 24: StatSN
				0x00, 0x00, 0x00, 0x06, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x07, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x08, // 36: DataSN
				0x00, 0x00, 0x00, 0x09, // 40: Buffer Offset
				0x00, 0x00, 0x00, 0x0a, // 44: Residual Count
			},
		},
	}
}

func TestDataInRoundTrip(t *testing.T) {
	runTaskCases(t, dataInCases())
}

// dataInWire returns a Data-In BHS with byte 1 set to flags, byte 3 to
// status, TTT to ttt and StatSN and Residual Count to 0x55.
func dataInWire(flags, status byte, ttt uint32) []byte {
	b := make([]byte, BHSLen)
	b[0], b[1], b[3] = byte(OpDataIn), flags, status
	b[20], b[21], b[22], b[23] = byte(ttt>>24), byte(ttt>>16), byte(ttt>>8), byte(ttt)
	b[27], b[47] = 0x55, 0x55
	return b
}

func TestDataInDecode(t *testing.T) {
	for _, c := range []struct {
		name string
		wire []byte
		want error
	}{
		{"S without F", dataInWire(0x01, 0, ReservedTag), ErrInvalidField},
		{"O and U with S", dataInWire(0x87, 0, ReservedTag), ErrInvalidField},
		{"A without TTT", dataInWire(0xc0, 0, ReservedTag), ErrInvalidField},
	} {
		wantTaskDecodeError[DataIn](t, c.name, c.wire, c.want)
	}
	withAHS := taskCat(dataInWire(0, 0, ReservedTag), []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[DataIn](t, "AHS", withAHS, ErrAHSLength)

	// Without S, the status fields and O and U are not meaningful and
	// decode as zero.
	var p DataIn
	if err := p.UnmarshalBinary(dataInWire(0x86, 0x02, ReservedTag)); err != nil {
		t.Fatal(err)
	}
	if want := (DataIn{Final: true, TTT: ReservedTag}); !reflect.DeepEqual(p, want) {
		t.Fatalf("Data-In without S = %+v, want %+v", p, want)
	}
}

func TestDataInEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		pdu  DataIn
	}{
		{"S without F", DataIn{HasStatus: true}},
		{"O and U with S", DataIn{Final: true, HasStatus: true, Overflow: true, Underflow: true}},
		{"A without TTT", DataIn{Final: true, Acknowledge: true, TTT: ReservedTag}},
	} {
		wantTaskEncodeError(t, c.name, &c.pdu, ErrInvalidField)
	}
	// Status fields without S are not sent.
	p := DataIn{Overflow: true, Underflow: true, Status: 2, StatSN: 3, ResidualCount: 4, TTT: ReservedTag}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 0 || b[3] != 0 || b[27] != 0 || b[47] != 0 {
		t.Fatalf("Data-In without S encoded status fields: % x", b[:48])
	}
}

func FuzzDataIn(f *testing.F) {
	seedTaskFuzz(f, dataInCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzTaskStable[DataIn](t, b)
	})
}
