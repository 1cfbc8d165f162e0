package iscsi

import "testing"

func TestISIDFormats(t *testing.T) {
	tests := []struct {
		name      string
		id        ISID
		want      ISID
		typ       ISIDType
		a         uint8
		b         uint16
		c         uint8
		d         uint16
		number    uint32
		qualifier uint32
		str       string
	}{{
		name: "OUI", id: NewOUIISID(0x2a0b0c, 0xd0e0f0),
		want: ISID{0x2a, 0x0b, 0x0c, 0xd0, 0xe0, 0xf0}, typ: ISIDTypeOUI,
		a: 0x2a, b: 0x0b0c, c: 0xd0, d: 0xe0f0, number: 0x0b0cd0, qualifier: 0xd0e0f0,
		str: "2a0b0cd0e0f0",
	}, {
		name: "OUI masks to 22 and 24 bits", id: NewOUIISID(0xffc00001, 0xff000002),
		want: ISID{0x00, 0x00, 0x01, 0x00, 0x00, 0x02}, typ: ISIDTypeOUI,
		a: 0, b: 1, c: 0, d: 2, number: 0x000100, qualifier: 2,
		str: "000001000002",
	}, {
		name: "EN", id: NewENISID(0x000137, 0x1234),
		want: ISID{0x40, 0x00, 0x01, 0x37, 0x12, 0x34}, typ: ISIDTypeEN,
		a: 0, b: 0x0001, c: 0x37, d: 0x1234, number: 0x000137, qualifier: 0x1234,
		str: "400001371234",
	}, {
		name: "Random", id: NewRandomISID(0xabcdef, 0x0001),
		want: ISID{0x80, 0xab, 0xcd, 0xef, 0x00, 0x01}, typ: ISIDTypeRandom,
		a: 0, b: 0xabcd, c: 0xef, d: 0x0001, number: 0xabcdef, qualifier: 1,
		str: "80abcdef0001",
	}, {
		name: "Random masks to 24 bits", id: NewRandomISID(0xff123456, 0xffff),
		want: ISID{0x80, 0x12, 0x34, 0x56, 0xff, 0xff}, typ: ISIDTypeRandom,
		a: 0, b: 0x1234, c: 0x56, d: 0xffff, number: 0x123456, qualifier: 0xffff,
		str: "80123456ffff",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := tt.id
			if id != tt.want {
				t.Fatalf("ISID = % x, want % x", id[:], tt.want[:])
			}
			if id.T() != tt.typ || id.A() != tt.a || id.B() != tt.b || id.C() != tt.c || id.D() != tt.d {
				t.Errorf("T,A,B,C,D = %v,%#x,%#x,%#x,%#x; want %v,%#x,%#x,%#x,%#x",
					id.T(), id.A(), id.B(), id.C(), id.D(), tt.typ, tt.a, tt.b, tt.c, tt.d)
			}
			if id.Number() != tt.number || id.Qualifier() != tt.qualifier {
				t.Errorf("Number, Qualifier = %#x, %#x; want %#x, %#x", id.Number(), id.Qualifier(), tt.number, tt.qualifier)
			}
			if id.String() != tt.str {
				t.Errorf("String() = %q, want %q", id.String(), tt.str)
			}
			if !id.Valid() {
				t.Errorf("Valid() = false, want true")
			}
		})
	}
	if got := NewOUIISID(0x2a0b0c, 0).OUI(); got != 0x2a0b0c {
		t.Errorf("OUI() = %#x, want 0x2a0b0c", got)
	}
}

func TestISIDReserved(t *testing.T) {
	id := ISID{0xc0, 1, 2, 3, 4, 5}
	if id.T() != ISIDTypeReserved || id.Valid() {
		t.Fatalf("T() = %v, Valid() = %v; want reserved, false", id.T(), id.Valid())
	}
	for typ, want := range map[ISIDType]string{
		ISIDTypeOUI: "OUI", ISIDTypeEN: "EN", ISIDTypeRandom: "Random", ISIDTypeReserved: "reserved", 4: "ISID type 4",
	} {
		if got := typ.String(); got != want {
			t.Errorf("ISIDType(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}
