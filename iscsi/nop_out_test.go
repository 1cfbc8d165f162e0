package iscsi

import "testing"

func nopOutCases() []taskCase[NOPOut] {
	return []taskCase[NOPOut]{
		{
			name: "ping",
			pdu:  NOPOut{ITT: 0x11223344, TTT: ReservedTag, CmdSN: 0x20, ExpStatSN: 0x30, Data: []byte("ping!")},
			wire: []byte{
				0x00, 0x80, 0x00, 0x00, // 0: opcode; 1
				0x00, 0x00, 0x00, 0x05, // 4: DataSegmentLength 5
				0x00, 0x00, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0xff, 0xff, 0xff, 0xff, // 20: TTT
				0x00, 0x00, 0x00, 0x20, // 24: CmdSN
				0x00, 0x00, 0x00, 0x30, // 28: ExpStatSN
				0x00, 0x00, 0x00, 0x00, // 32: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
				'p', 'i', 'n', 'g', // 48: ping data
				'!', 0x00, 0x00, 0x00, // with padding
			},
		},
		{
			name: "answer to NOP-In",
			pdu: NOPOut{
				Immediate: true, LUN: 0x0001_0000_0000_0000, ITT: ReservedTag, TTT: 0x77,
				CmdSN: 0x21, ExpStatSN: 0x31,
			},
			wire: []byte{
				0x40, 0x80, 0x00, 0x00, // 0: I, opcode; 1
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x01, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0xff, 0xff, 0xff, 0xff, // 16: ITT
				0x00, 0x00, 0x00, 0x77, // 20: TTT
				0x00, 0x00, 0x00, 0x21, // 24: CmdSN
				0x00, 0x00, 0x00, 0x31, // 28: ExpStatSN
				0x00, 0x00, 0x00, 0x00, // 32: reserved
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x00,
			},
		},
	}
}

func TestNOPOutRoundTrip(t *testing.T) {
	runTaskCases(t, nopOutCases())
}

func TestNOPOutErrors(t *testing.T) {
	base := nopOutCases()[1].wire

	notImmediate := taskCat(base)
	notImmediate[0] = byte(OpNOPOut)
	wantTaskDecodeError[NOPOut](t, "reserved ITT without I", notImmediate, ErrInvalidField)

	notFinal := taskCat(base)
	notFinal[1] = 0
	wantTaskDecodeError[NOPOut](t, "F clear", notFinal, ErrInvalidField)

	withAHS := taskCat(base, []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[NOPOut](t, "AHS", withAHS, ErrAHSLength)

	wantTaskEncodeError(t, "reserved ITT without I", &NOPOut{ITT: ReservedTag, TTT: 1}, ErrInvalidField)
}

// FuzzNOP fuzzes the NOP-Out and NOP-In decoders with each other's seeds.
func FuzzNOP(f *testing.F) {
	seedTaskFuzz(f, nopOutCases())
	seedTaskFuzz(f, nopInCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzTaskStable[NOPOut](t, b)
		fuzzTaskStable[NOPIn](t, b)
	})
}
