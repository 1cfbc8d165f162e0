package iscsi

import "testing"

func nopInCases() []taskCase[NOPIn] {
	return []taskCase[NOPIn]{
		{
			name: "ping reply",
			pdu:  NOPIn{ITT: 0x11223344, TTT: ReservedTag, StatSN: 0x40, ExpCmdSN: 0x21, MaxCmdSN: 0x60, Data: []byte("ping!")},
			wire: []byte{
				0x20, 0x80, 0x00, 0x00, // 0: opcode; 1
				0x00, 0x00, 0x00, 0x05, // 4: DataSegmentLength 5
				0x00, 0x00, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0xff, 0xff, 0xff, 0xff, // 20: TTT
				0x00, 0x00, 0x00, 0x40, // 24: StatSN
				0x00, 0x00, 0x00, 0x21, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x60, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
				'p', 'i', 'n', 'g', // 48: ping data
				'!', 0x00, 0x00, 0x00, // with padding
			},
		},
		{
			name: "target ping",
			pdu: NOPIn{
				LUN: 0x0001_0000_0000_0000, ITT: ReservedTag, TTT: 0x99, StatSN: 0x41, ExpCmdSN: 0x22, MaxCmdSN: 0x61,
			},
			wire: []byte{
				0x20, 0x80, 0x00, 0x00, // 0: opcode; 1
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x01, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0xff, 0xff, 0xff, 0xff, // 16: ITT
				0x00, 0x00, 0x00, 0x99, // 20: TTT
				0x00, 0x00, 0x00, 0x41, // 24: StatSN
				0x00, 0x00, 0x00, 0x22, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x61, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
			},
		},
	}
}

func TestNOPInRoundTrip(t *testing.T) {
	runTaskCases(t, nopInCases())
}

func TestNOPInErrors(t *testing.T) {
	base := nopInCases()[1].wire

	bothTags := taskCat(base)
	bothTags[19] = 0x01 // ITT 0xffffff01
	wantTaskDecodeError[NOPIn](t, "ITT and TTT both valid", bothTags, ErrInvalidField)

	unsolicitedData := taskCat(base, []byte{1, 2, 3, 4})
	unsolicitedData[7] = 4
	wantTaskDecodeError[NOPIn](t, "data without ITT", unsolicitedData, ErrDataSegmentLength)

	notFinal := taskCat(base)
	notFinal[1] = 0
	wantTaskDecodeError[NOPIn](t, "F clear", notFinal, ErrInvalidField)

	withAHS := taskCat(base, []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[NOPIn](t, "AHS", withAHS, ErrAHSLength)

	wantTaskEncodeError(t, "ITT and TTT both valid", &NOPIn{ITT: 1, TTT: 2}, ErrInvalidField)
	wantTaskEncodeError(t, "data without ITT", &NOPIn{ITT: ReservedTag, TTT: ReservedTag, Data: []byte{1}}, ErrDataSegmentLength)
}
