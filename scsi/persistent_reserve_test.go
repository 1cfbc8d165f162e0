package scsi

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

var goldenReadKeys = []byte{
	0x00, 0x00, 0x00, 0x07, // PRgeneration 7
	0x00, 0x00, 0x00, 0x10, // additional length 16
	0, 0, 0, 0, 0, 0, 0xab, 0xcd,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
}

func TestPRReadKeys(t *testing.T) {
	d := PRReadKeysData{Generation: 7, Keys: []uint64{0xabcd, 0x1122334455667788}}
	got, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenReadKeys) {
		t.Fatalf("% x %v", got, err)
	}
	var back PRReadKeysData
	if err := back.UnmarshalBinary(goldenReadKeys); err != nil || !slices.Equal(back.Keys, d.Keys) || back.Generation != 7 || !back.Complete() {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenReadKeys {
		err := back.UnmarshalBinary(goldenReadKeys[:i])
		if i < 8 {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("prefix %d: %v", i, err)
			}
		} else if err != nil || len(back.Keys) != (i-8)/8 || back.Complete() || back.AdditionalLength != 16 {
			t.Errorf("prefix %d: %+v %v", i, back, err)
		}
	}
	for alloc := range uint32(30) {
		got, _ := d.MarshalAlloc(alloc)
		if !bytes.Equal(got, goldenReadKeys[:min(int(alloc), len(goldenReadKeys))]) {
			t.Errorf("alloc %d: % x", alloc, got)
		}
	}
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(slices.Concat(goldenReadKeys[:7], []byte{0x0f})); !errors.As(err, &pe) || pe.Byte != 4 {
		t.Errorf("bad length: %v", err)
	}
}

var goldenReadReservation = []byte{
	0x00, 0x00, 0x00, 0x03,
	0x00, 0x00, 0x00, 0x10,
	0, 0, 0, 0, 0, 0, 0xab, 0xcd, // key
	0, 0, 0, 0, // obsolete
	0,    // reserved
	0x05, // scope LU, type WR_EX_RO
	0, 0,
}

func TestPRReadReservation(t *testing.T) {
	d := PRReservationData{Generation: 3, Reserved: true, Key: 0xabcd, Scope: PRScopeLU, Type: PRTypeWriteExclusiveRegistrantsOnly}
	got, err := d.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenReadReservation) {
		t.Fatalf("% x %v", got, err)
	}
	var back PRReservationData
	if err := back.UnmarshalBinary(goldenReadReservation); err != nil || back != d {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenReadReservation {
		if err := back.UnmarshalBinary(goldenReadReservation[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	none := PRReservationData{Generation: 9}
	got, _ = none.MarshalBinary()
	if !bytes.Equal(got, []byte{0, 0, 0, 9, 0, 0, 0, 0}) {
		t.Fatalf("no reservation: % x", got)
	}
	if err := back.UnmarshalBinary(got); err != nil || back != none {
		t.Fatalf("%+v %v", back, err)
	}
	if got, _ := d.MarshalAlloc(8); !bytes.Equal(got, goldenReadReservation[:8]) {
		t.Fatalf("alloc 8: % x", got)
	}
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary([]byte{0, 0, 0, 0, 0, 0, 0, 8}); !errors.As(err, &pe) || pe.Byte != 4 {
		t.Fatalf("length 8: %v", err)
	}
}

var goldenCapabilities = []byte{0x00, 0x08, 0x9d, 0x91, 0xea, 0x01, 0x00, 0x00}

func TestPRCapabilities(t *testing.T) {
	c := PRCapabilities{RLRC: true, CRH: true, SIPC: true, ATPC: true, PTPLC: true, TMV: true, AllowCommands: 1, PTPLA: true,
		TypeMask: PRTypeMaskWrExAR | PRTypeMaskExAcRO | PRTypeMaskWrExRO | PRTypeMaskExAc | PRTypeMaskWrEx | PRTypeMaskExAcAR}
	got, err := c.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenCapabilities) {
		t.Fatalf("% x %v", got, err)
	}
	var back PRCapabilities
	if err := back.UnmarshalBinary(goldenCapabilities); err != nil || back != c {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenCapabilities {
		if err := back.UnmarshalBinary(goldenCapabilities[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	for _, ty := range []PRType{1, 3, 5, 6, 7, 8} {
		if !c.TypeMask.Has(ty) || PRTypeMask(0).Has(ty) {
			t.Errorf("Has(%v)", ty)
		}
	}
	if c.TypeMask.Has(2) {
		t.Error("Has(2)")
	}
	if got, _ := c.MarshalAlloc(4); !bytes.Equal(got, goldenCapabilities[:4]) {
		t.Fatalf("alloc: % x", got)
	}
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(slices.Concat([]byte{0, 4}, goldenCapabilities[2:])); !errors.As(err, &pe) {
		t.Fatalf("length 4: %v", err)
	}
}

var goldenFullStatus = slices.Concat(
	[]byte{0, 0, 0, 0x02, 0, 0, 0, byte(24 + 24 + 24 + 40)},
	// descriptor 1: holder, all target ports, device TransportID
	[]byte{0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0x03, 0x05, 0, 0, 0, 0, 0x00, 0x01, 0, 0, 0, 24},
	goldenTIDDevice,
	// descriptor 2: registrant through port 2, port TransportID
	[]byte{0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0x00, 0x00, 0, 0, 0, 0, 0x00, 0x02, 0, 0, 0, 40},
	goldenTIDPort,
)

var goldenFullStatusData = PRFullStatusData{Generation: 2, Descriptors: []PRFullStatusDescriptor{
	{Key: 0xabcd, AllTgPt: true, RHolder: true, Type: PRTypeWriteExclusiveRegistrantsOnly, RelativeTargetPortID: 1,
		TransportID: ISCSITransportID{Name: "iqn.2024-01.x:a"}},
	{Key: 0x1234, RelativeTargetPortID: 2, TransportID: ISCSITransportID{Name: "iqn.2024-01.x:a", Port: true, ISID: 0x400001370000}},
}}

func TestPRFullStatus(t *testing.T) {
	got, err := goldenFullStatusData.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenFullStatus) {
		t.Fatalf("% x %v\nwant % x", got, err, goldenFullStatus)
	}
	var back PRFullStatusData
	if err := back.UnmarshalBinary(goldenFullStatus); err != nil || !reflect.DeepEqual(back.Descriptors, goldenFullStatusData.Descriptors) || !back.Complete() {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenFullStatus {
		err := back.UnmarshalBinary(goldenFullStatus[:i])
		want := 0
		switch {
		case i >= 8+48+64:
			want = 2
		case i >= 8+48:
			want = 1
		}
		if i < 8 {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("prefix %d: %v", i, err)
			}
		} else if err != nil || len(back.Descriptors) != want || back.Complete() {
			t.Errorf("prefix %d: %d descriptors, %v", i, len(back.Descriptors), err)
		}
	}
	if got, _ := goldenFullStatusData.MarshalAlloc(20); !bytes.Equal(got, goldenFullStatus[:20]) {
		t.Fatalf("alloc: % x", got)
	}
	bad := slices.Clone(goldenFullStatus)
	bad[8+24] = 0x01 // TransportID protocol
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 8+24 {
		t.Fatalf("bad TransportID: %v", err)
	}
	bad = slices.Clone(goldenFullStatus)
	bad[8+23] = 28 // descriptor length past the TransportID
	bad[7] += 4
	bad = slices.Insert(bad, 8+48, 0, 0, 0, 0)
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 8+20 {
		t.Fatalf("bad descriptor length: %v", err)
	}
}

var goldenPROutBasic = []byte{
	0, 0, 0, 0, 0, 0, 0xab, 0xcd, // reservation key
	0, 0, 0, 0, 0, 0, 0x12, 0x34, // service action reservation key
	0, 0, 0, 0,
	0x05, // ALL_TG_PT | APTPL
	0, 0, 0,
}

var goldenPROutSpecIPT = slices.Concat(
	[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0x08, 0, 0, 0},
	[]byte{0, 0, 0, 24 + 40},
	goldenTIDDevice, goldenTIDPort,
)

func TestPROutParameters(t *testing.T) {
	basic := PROutParameters{Key: 0xabcd, ServiceActionKey: 0x1234, AllTgPt: true, APTPL: true}
	spec := PROutParameters{ServiceActionKey: 0x1234, SpecIPT: true, TransportIDs: []ISCSITransportID{
		{Name: "iqn.2024-01.x:a"}, {Name: "iqn.2024-01.x:a", Port: true, ISID: 0x400001370000}}}
	for _, tt := range []struct {
		p      PROutParameters
		golden []byte
	}{{basic, goldenPROutBasic}, {spec, goldenPROutSpecIPT}} {
		got, err := tt.p.MarshalBinary()
		if err != nil || !bytes.Equal(got, tt.golden) {
			t.Fatalf("% x %v\nwant % x", got, err, tt.golden)
		}
		var back PROutParameters
		if err := back.UnmarshalBinary(tt.golden); err != nil || !reflect.DeepEqual(back, tt.p) {
			t.Fatalf("%+v %v", back, err)
		}
		for i := range tt.golden {
			if err := back.UnmarshalBinary(tt.golden[:i]); !errors.Is(err, ErrTruncated) {
				t.Errorf("prefix %d: %v", i, err)
			}
		}
	}
	var back PROutParameters
	if err := back.UnmarshalBinary(append(slices.Clone(goldenPROutBasic), 0)); !errors.Is(err, ErrTruncated) {
		t.Errorf("25 bytes: %v", err)
	}
	if err := back.UnmarshalBinary(append(slices.Clone(goldenPROutSpecIPT), 0, 0, 0, 0)); !errors.Is(err, ErrTruncated) {
		t.Errorf("extra bytes after TransportIDs: %v", err)
	}
	bad := slices.Clone(goldenPROutSpecIPT)
	bad[28+24+3] = 0x21 // second TransportID's additional length
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 28+24+2 {
		t.Errorf("bad TransportID: %v", err)
	}
	if err := spec.CheckServiceAction(PROutReserve); !errors.As(err, &pe) || pe.Byte != 20 || pe.Bit != 3 {
		t.Errorf("SPEC_I_PT with RESERVE: %v", err)
	}
	if err := spec.CheckServiceAction(PROutRegister); err != nil {
		t.Error(err)
	}
	if err := basic.CheckServiceAction(PROutPreemptAndAbort); err != nil {
		t.Error(err)
	}
	if err := basic.CheckServiceAction(PROutRegisterAndMove); !errors.Is(err, ErrInvalidField) {
		t.Error(err)
	}
	if _, err := (&PROutParameters{TransportIDs: spec.TransportIDs}).MarshalBinary(); !errors.Is(err, ErrInvalidField) {
		t.Error(err)
	}
}

var goldenRegisterAndMove = slices.Concat(
	[]byte{0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 0, 0, 0, 0, 0, 0x12, 0x34},
	[]byte{0, 0x03, 0x00, 0x02, 0, 0, 0, 40},
	goldenTIDPort,
)

func TestPRRegisterAndMove(t *testing.T) {
	p := PRRegisterAndMoveParameters{Key: 0xabcd, ServiceActionKey: 0x1234, Unreg: true, APTPL: true, RelativeTargetPortID: 2,
		TransportID: ISCSITransportID{Name: "iqn.2024-01.x:a", Port: true, ISID: 0x400001370000}}
	got, err := p.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenRegisterAndMove) {
		t.Fatalf("% x %v", got, err)
	}
	var back PRRegisterAndMoveParameters
	if err := back.UnmarshalBinary(goldenRegisterAndMove); err != nil || back != p {
		t.Fatalf("%+v %v", back, err)
	}
	for i := range goldenRegisterAndMove {
		if err := back.UnmarshalBinary(goldenRegisterAndMove[:i]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: %v", i, err)
		}
	}
	bad := slices.Concat(goldenRegisterAndMove[:23], []byte{44}, goldenTIDPort, []byte{0, 0, 0, 0})
	var pe *ParameterFieldError
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 20 {
		t.Errorf("length past TransportID: %v", err)
	}
	bad = slices.Clone(goldenRegisterAndMove)
	bad[24] = 0x01
	if err := back.UnmarshalBinary(bad); !errors.As(err, &pe) || pe.Byte != 24 {
		t.Errorf("not iSCSI: %v", err)
	}
}

func FuzzPROutParameters(f *testing.F) {
	f.Add(false, goldenPROutBasic)
	f.Add(false, goldenPROutSpecIPT)
	f.Add(true, goldenRegisterAndMove)
	f.Fuzz(func(t *testing.T, move bool, b []byte) {
		// The PERSISTENT RESERVE IN decoders must not panic on any input.
		var k PRReadKeysData
		_ = k.UnmarshalBinary(b)
		var r PRReservationData
		_ = r.UnmarshalBinary(b)
		var c PRCapabilities
		_ = c.UnmarshalBinary(b)
		var s PRFullStatusData
		_ = s.UnmarshalBinary(b)
		if move {
			var p PRRegisterAndMoveParameters
			if p.UnmarshalBinary(b) != nil {
				return
			}
			enc, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var p2 PRRegisterAndMoveParameters
			if err := p2.UnmarshalBinary(enc); err != nil || p2 != p {
				t.Fatalf("unstable: %+v vs %+v (%v)", p, p2, err)
			}
			return
		}
		var p PROutParameters
		if p.UnmarshalBinary(b) != nil {
			return
		}
		_ = p.CheckServiceAction(PROutReserve)
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var p2 PROutParameters
		if err := p2.UnmarshalBinary(enc); err != nil || !reflect.DeepEqual(p, p2) {
			t.Fatalf("unstable: %+v vs %+v (%v)", p, p2, err)
		}
	})
}
