package scsi

import (
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// cdbCase is a golden CDB: hand-built bytes from the SPC-4/SBC-3 layout
// and the command they decode to. MarshalBinary of want must give the
// bytes back.
type cdbCase struct {
	name string
	cdb  string // hex, spaces ignored
	want Command
}

// cdbInvalidCase is a CDB that must decode to a *CDBFieldError pointing
// at byte and bit.
type cdbInvalidCase struct {
	name string
	cdb  string
	byte int
	bit  int
}

// cdbHex decodes a hex string with optional spaces.
func cdbHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// cdbWantBytes fails the test if got differs from want.
func cdbWantBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got % x\nwant % x", what, got, want)
	}
}

// cdbWantFieldError fails the test unless err is a *CDBFieldError at
// byteN/bit that also matches ErrInvalidField.
func cdbWantFieldError(t *testing.T, what string, err error, byteN, bit int) {
	t.Helper()
	var fe *CDBFieldError
	if !errors.As(err, &fe) {
		t.Errorf("%s: err = %v, want *CDBFieldError", what, err)
		return
	}
	if !errors.Is(err, ErrInvalidField) {
		t.Errorf("%s: %v does not match ErrInvalidField", what, err)
	}
	if fe.Byte != byteN || fe.Bit != bit {
		t.Errorf("%s: field pointer byte %d bit %d, want byte %d bit %d (%v)", what, fe.Byte, fe.Bit, byteN, bit, err)
	}
}

// cdbNew returns a new zero command of the same type as c.
func cdbNew(c Command) Command {
	return reflect.New(reflect.TypeOf(c).Elem()).Interface().(Command)
}

// testCDBGolden runs every check on golden cases: DecodeCDB and the
// type's UnmarshalBinary give want, want and the decoded command encode
// back to the bytes, the 16-byte padded form decodes the same, and every
// truncated prefix fails with ErrTruncated.
func testCDBGolden(t *testing.T, cases []cdbCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cdb := cdbHex(t, tc.cdb)
			if n := OpCode(cdb[0]).CDBLength(); n != len(cdb) {
				t.Fatalf("golden CDB is %d bytes, its group says %d", len(cdb), n)
			}
			got, err := DecodeCDB(cdb)
			if err != nil {
				t.Fatalf("DecodeCDB: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("DecodeCDB:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.OpCode() != OpCode(cdb[0]) {
				t.Errorf("OpCode() = %v, want %v", got.OpCode(), OpCode(cdb[0]))
			}
			direct := cdbNew(tc.want)
			if err := direct.UnmarshalBinary(cdb); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(direct, tc.want) {
				t.Errorf("UnmarshalBinary:\n got %+v\nwant %+v", direct, tc.want)
			}
			enc, err := tc.want.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			cdbWantBytes(t, "MarshalBinary(want)", enc, cdb)
			enc, err = got.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary(decoded): %v", err)
			}
			cdbWantBytes(t, "MarshalBinary(decoded)", enc, cdb)
			app, err := got.AppendBinary([]byte{0xee})
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			cdbWantBytes(t, "AppendBinary", app, append([]byte{0xee}, cdb...))

			padded := make([]byte, 16)
			copy(padded, cdb)
			got, err = DecodeCDB(padded)
			if err != nil {
				t.Fatalf("DecodeCDB(padded): %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeCDB(padded):\n got %+v\nwant %+v", got, tc.want)
			}

			for i := range len(cdb) {
				if _, err := DecodeCDB(cdb[:i]); !errors.Is(err, ErrTruncated) {
					t.Errorf("DecodeCDB(%d of %d bytes) = %v, want ErrTruncated", i, len(cdb), err)
				}
				if err := cdbNew(tc.want).UnmarshalBinary(cdb[:i]); !errors.Is(err, ErrTruncated) {
					t.Errorf("UnmarshalBinary(%d of %d bytes) = %v, want ErrTruncated", i, len(cdb), err)
				}
			}
		})
	}
}

// testCDBInvalid checks that each case fails to decode with a
// *CDBFieldError at the right byte and bit.
func testCDBInvalid(t *testing.T, cases []cdbInvalidCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeCDB(cdbHex(t, tc.cdb))
			if c != nil {
				t.Errorf("DecodeCDB returned %+v with error %v", c, err)
			}
			cdbWantFieldError(t, "DecodeCDB", err, tc.byte, tc.bit)
		})
	}
}

// cdbAllGolden returns every golden CDB of every command family.
func cdbAllGolden() []cdbCase {
	return slices.Concat(
		testUnitReadyCases(), requestSenseCases(), inquiryCDBCases(), readCapacityCases(),
		readCases(), writeCases(), writeAndVerifyCases(), verifyCases(), synchronizeCacheCases(),
		writeSameCases(), unmapCDBCases(), compareAndWriteCases(), orWriteCases(), preFetchCases(),
		getLBAStatusCases(), reportLUNsCDBCases(), modeSenseCases(), modeSelectCases(), rsocCases(),
		startStopUnitCases(), preventAllowCases(), reserveReleaseCases(), persistentReserveCases(),
	)
}

// TestCDBEveryOpCode checks that every operation code named in opcode.go
// has a golden CDB (or, for the variable-length and extended CDB groups,
// is reported as unsupported), and that DecodeCDB answers all 256
// operation codes with a command or a sentinel, never a panic.
func TestCDBEveryOpCode(t *testing.T) {
	golden := map[OpCode]bool{}
	for _, tc := range cdbAllGolden() {
		golden[OpCode(cdbHex(t, tc.cdb)[0])] = true
	}
	for op := range opNames {
		switch op {
		case OpExtendedCDB, OpVariableLengthCDB:
			cdb := make([]byte, 32)
			cdb[0] = byte(op)
			if _, err := DecodeCDB(cdb); !errors.Is(err, ErrUnsupportedOpCode) {
				t.Errorf("%v: err = %v, want ErrUnsupportedOpCode", op, err)
			}
			continue
		}
		if !golden[op] {
			t.Errorf("%v (0x%02x) has no golden CDB", op, uint8(op))
		}
	}
	for i := range 256 {
		op := OpCode(i)
		cdb := make([]byte, 16)
		cdb[0] = byte(op)
		c, err := DecodeCDB(cdb)
		switch {
		case err == nil:
			if c.OpCode() != op {
				t.Errorf("%v decoded to %T with OpCode %v", op, c, c.OpCode())
			}
			if _, ok := opNames[op]; !ok {
				t.Errorf("0x%02x decoded to %T but opcode.go does not name it", i, c)
			}
		case errors.Is(err, ErrUnsupportedOpCode):
			if golden[op] {
				t.Errorf("%v: %v, but it has a golden CDB", op, err)
			}
		case errors.Is(err, ErrInvalidField):
			// zero fields some commands reject (REPORT LUNS allocation
			// length, service action 0 of 9Eh/A3h)
		default:
			t.Errorf("%v: unexpected error %v", op, err)
		}
	}
}

// TestCDBEmpty checks the empty input.
func TestCDBEmpty(t *testing.T) {
	for _, b := range [][]byte{nil, {}} {
		if _, err := DecodeCDB(b); !errors.Is(err, ErrTruncated) {
			t.Errorf("DecodeCDB(%v) = %v, want ErrTruncated", b, err)
		}
	}
}

// TestCDBServiceActionUnknown checks unknown service actions of the
// service-action opcodes.
func TestCDBServiceActionUnknown(t *testing.T) {
	testCDBInvalid(t, []cdbInvalidCase{
		{"SERVICE ACTION IN(16) 11h", "9e 11 00 00 00 00 00 00 00 00 00 00 00 20 00 00", 1, 4},
		{"SERVICE ACTION IN(16) 1Fh", "9e ff 00 00 00 00 00 00 00 00 00 00 00 20 00 00", 1, 4},
		{"MAINTENANCE IN 05h", "a3 05 00 00 00 00 00 00 02 00 00 00", 1, 4},
	})
	// The types check their own service action too.
	err := new(ReadCapacity16).UnmarshalBinary(cdbHex(t, "9e 12 00 00 00 00 00 00 00 00 00 00 00 20 00 00"))
	cdbWantFieldError(t, "ReadCapacity16 given GET LBA STATUS", err, 1, 4)
	err = new(GetLBAStatus).UnmarshalBinary(cdbHex(t, "9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00"))
	cdbWantFieldError(t, "GetLBAStatus given READ CAPACITY(16)", err, 1, 4)
	err = new(ReportSupportedTaskManagementFunctions).UnmarshalBinary(cdbHex(t, "a3 0c 00 00 00 00 00 00 02 00 00 00"))
	cdbWantFieldError(t, "RSTMF given RSOC", err, 1, 4)
}

// TestCDBWrongOpCode checks that a type refuses another command's CDB.
func TestCDBWrongOpCode(t *testing.T) {
	cdb := cdbHex(t, "28 00 12 34 56 78 00 00 08 00")
	for _, c := range []Command{new(Write), new(Inquiry), new(Verify), new(ModeSense), new(PersistentReserveOut)} {
		if err := c.UnmarshalBinary(cdb); !errors.Is(err, ErrUnsupportedOpCode) {
			t.Errorf("%T.UnmarshalBinary(READ(10)) = %v, want ErrUnsupportedOpCode", c, err)
		}
	}
}

// TestControlByte checks the CONTROL byte accessors.
func TestControlByte(t *testing.T) {
	if c := ControlByte(0x04); !c.NACA() || c.Link() {
		t.Errorf("0x04: NACA %v Link %v", c.NACA(), c.Link())
	}
	if c := ControlByte(0xc1); c.NACA() || !c.Link() {
		t.Errorf("0xc1: NACA %v Link %v", c.NACA(), c.Link())
	}
}

// TestCDBFieldErrorMessage checks the error text names the command.
func TestCDBFieldErrorMessage(t *testing.T) {
	_, err := DecodeCDB(cdbHex(t, "12 00 83 00 ff 00"))
	if err == nil || !strings.Contains(err.Error(), "INQUIRY") || !strings.Contains(err.Error(), "byte 2") {
		t.Errorf("error %v does not name INQUIRY and byte 2", err)
	}
}

// FuzzDecodeCDB checks that DecodeCDB never panics, fails only with the
// package's sentinels, and that decode, encode, decode is stable.
func FuzzDecodeCDB(f *testing.F) {
	for _, tc := range cdbAllGolden() {
		b, err := hex.DecodeString(strings.ReplaceAll(tc.cdb, " ", ""))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, cdb := range loadGoldenSCSI(f).cdbs {
		f.Add(cdb)
	}
	f.Fuzz(func(t *testing.T, cdb []byte) {
		c, err := DecodeCDB(cdb)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnsupportedOpCode) && !errors.Is(err, ErrInvalidField) {
				t.Fatalf("DecodeCDB(% x): error %v matches no sentinel", cdb, err)
			}
			if c != nil {
				t.Fatalf("DecodeCDB(% x) returned %+v with error %v", cdb, c, err)
			}
			return
		}
		enc, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v) from % x: %v", c, cdb, err)
		}
		if len(enc) != c.OpCode().CDBLength() || len(enc) > len(cdb) {
			t.Fatalf("encoded %d bytes from a %d-byte CDB", len(enc), len(cdb))
		}
		c2, err := DecodeCDB(enc)
		if err != nil {
			t.Fatalf("DecodeCDB(re-encoded % x): %v", enc, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("unstable:\n first %+v\nsecond %+v", c, c2)
		}
		enc2, err := c2.MarshalBinary()
		if err != nil || !slices.Equal(enc, enc2) {
			t.Fatalf("re-encode: % x, %v; want % x", enc2, err, enc)
		}
		if bio, ok := c.(BlockIO); ok {
			bio.Range()
			bio.TransferBlocks()
		}
	})
}

// TestCDBEncodeForeignOp checks that the multi-opcode types refuse to
// encode an operation code of another command.
func TestCDBEncodeForeignOp(t *testing.T) {
	for _, c := range []Command{
		&Read{Op: OpInquiry}, &Write{Op: OpInquiry}, &WriteAndVerify{Op: OpInquiry}, &Verify{Op: OpInquiry},
		&SynchronizeCache{Op: OpInquiry}, &PreFetch{Op: OpInquiry}, &WriteSame{Op: OpInquiry},
		&ModeSense{Op: OpInquiry}, &ModeSelect{Op: OpInquiry}, &Reserve{Op: OpInquiry}, &Release{Op: OpInquiry},
	} {
		b, err := c.AppendBinary(nil)
		if !errors.Is(err, ErrUnsupportedOpCode) || len(b) != 0 {
			t.Errorf("%T with INQUIRY op: % x, %v; want ErrUnsupportedOpCode", c, b, err)
		}
	}
}
