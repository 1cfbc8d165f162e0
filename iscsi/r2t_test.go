package iscsi

import "testing"

func r2tCases() []taskCase[R2T] {
	return []taskCase[R2T]{
		{
			name: "first",
			pdu: R2T{
				LUN: 0x0001_0000_0000_0000, ITT: 0x11223344, TTT: 0x0000abcd, StatSN: 0x10,
				ExpCmdSN: 0x11, MaxCmdSN: 0x12, R2TSN: 0, BufferOffset: 0x10000, DesiredDataTransferLength: 0x40000,
			},
			wire: []byte{
				0x31, 0x80, 0x00, 0x00, // 0: opcode; 1
				0x00, 0x00, 0x00, 0x00, // 4: TotalAHSLength, DataSegmentLength
				0x00, 0x01, 0x00, 0x00, // 8: LUN
				0x00, 0x00, 0x00, 0x00,
				0x11, 0x22, 0x33, 0x44, // 16: ITT
				0x00, 0x00, 0xab, 0xcd, // 20: TTT
				0x00, 0x00, 0x00, 0x10, // 24: StatSN
				0x00, 0x00, 0x00, 0x11, // 28: ExpCmdSN
				0x00, 0x00, 0x00, 0x12, // 32: MaxCmdSN
				0x00, 0x00, 0x00, 0x00, // 36: R2TSN
				0x00, 0x01, 0x00, 0x00, // 40: Buffer Offset
				0x00, 0x04, 0x00, 0x00, // 44: Desired Data Transfer Length
			},
		},
		{
			name: "later",
			pdu:  R2T{ITT: 1, TTT: 2, R2TSN: 0xfffffffe, BufferOffset: 0xffffff00, DesiredDataTransferLength: 1},
			wire: []byte{
				0x31, 0x80, 0x00, 0x00, // 0
				0x00, 0x00, 0x00, 0x00, // 4
				0x00, 0x00, 0x00, 0x00, // 8
				0x00, 0x00, 0x00, 0x00,
				0x00, 0x00, 0x00, 0x01, // 16: ITT
				0x00, 0x00, 0x00, 0x02, // 20: TTT
				0x00, 0x00, 0x00, 0x00, // 24
				0x00, 0x00, 0x00, 0x00, // 28
				0x00, 0x00, 0x00, 0x00, // 32
				0xff, 0xff, 0xff, 0xfe, // 36: R2TSN
				0xff, 0xff, 0xff, 0x00, // 40: Buffer Offset
				0x00, 0x00, 0x00, 0x01, // 44: Desired Data Transfer Length
			},
		},
	}
}

func TestR2TRoundTrip(t *testing.T) {
	runTaskCases(t, r2tCases())
}

func TestR2TDecodeErrors(t *testing.T) {
	base := r2tCases()[1].wire

	withData := taskCat(base, []byte{1, 2, 3, 4})
	withData[7] = 4
	wantTaskDecodeError[R2T](t, "data segment", withData, ErrDataSegmentLength)

	withAHS := taskCat(base, []byte{0x00, 0x01, 0x3c, 0x00})
	withAHS[4] = 1
	wantTaskDecodeError[R2T](t, "AHS", withAHS, ErrAHSLength)

	zero := taskCat(base)
	zero[47] = 0
	wantTaskDecodeError[R2T](t, "Desired Data Transfer Length 0", zero, ErrInvalidField)

	notFinal := taskCat(base)
	notFinal[1] = 0
	wantTaskDecodeError[R2T](t, "F clear", notFinal, ErrInvalidField)

	wantTaskEncodeError(t, "Desired Data Transfer Length 0", &R2T{ITT: 1}, ErrInvalidField)
}

func FuzzR2T(f *testing.F) {
	seedTaskFuzz(f, r2tCases())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzTaskStable[R2T](t, b)
	})
}
