package scsi

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var inquiryGolden = []struct {
	name string
	hex  string
	want InquiryData
}{
	{
		name: "disk with version descriptors",
		hex: "00 00 06 12 5b 18 10 02" +
			"|4c554e4152202020" + // "LUNAR   "
			"|6c756e6172206469736b202020202020" + // "lunar disk      "
			"|30303031" + // "0001"
			"|0000000000000000000000000000000000000000" + // 36-55 vendor specific
			"|0000" + // 56-57
			"|00a0 0460 04c0 0960 0000 0000 0000 0000" + // 58-73
			"|00000000000000000000000000000000000000000000", // 74-95
		want: InquiryData{
			Version: InquiryVersionSPC4, HiSup: true, ResponseDataFormat: 2, TPGS: 1, ThirdPartyCopy: true,
			MultiP: true, CmdQue: true, VendorID: "LUNAR", ProductID: "lunar disk", ProductRev: "0001",
			VersionDescriptors: []uint16{InquiryVersionDescSAM5, InquiryVersionDescSPC4,
				InquiryVersionDescSBC3, InquiryVersionDescISCSI},
		},
	},
	{
		name: "no LUN, 36 bytes, all flags",
		hex: "7f 80 05 22 1f c9 40 02" +
			"|4142434445464748" +
			"|30313233343536373839616263646566" +
			"|7a7a7a7a",
		want: InquiryData{
			PeripheralQualifier: InquiryQualifierNotSupported, DeviceType: InquiryDeviceUnknown, RMB: true,
			Version: 5, NormACA: true, ResponseDataFormat: 2, SCCS: true, ACC: true, ThirdPartyCopy: true,
			Protect: true, EncServ: true, CmdQue: true, VendorID: "ABCDEFGH", ProductID: "0123456789abcdef",
			ProductRev: "zzzz",
		},
	},
}

func TestInquiryGolden(t *testing.T) {
	for _, tc := range inquiryGolden {
		t.Run(tc.name, func(t *testing.T) {
			b := sivHex(t, tc.hex)
			var got InquiryData
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decode:\n got %+v\nwant %+v", got, tc.want)
			}
			enc, err := tc.want.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			sivWantBytes(t, "MarshalBinary", enc, b)
			sivWantPrefixesTruncated(t, "UnmarshalBinary", b[:InquiryMinLength], func(p []byte) error {
				var d InquiryData
				return d.UnmarshalBinary(p)
			})
		})
	}
}

func TestInquiryAllocationLengthCut(t *testing.T) {
	b := sivHex(t, inquiryGolden[0].hex)
	// Cut inside the version descriptors: those present are decoded.
	var d InquiryData
	if err := d.UnmarshalBinary(b[:63]); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.VersionDescriptors, []uint16{InquiryVersionDescSAM5, InquiryVersionDescSPC4}) {
		t.Errorf("descriptors from 63 bytes: %x", d.VersionDescriptors)
	}
	// ADDITIONAL LENGTH smaller than the buffer bounds what is read.
	c := bytes.Clone(b)
	c[4] = 58 // 63 bytes: ends inside the third descriptor
	if err := d.UnmarshalBinary(c); err != nil || len(d.VersionDescriptors) != 2 {
		t.Errorf("additional length 58: %x, %v", d.VersionDescriptors, err)
	}
}

func TestInquiryMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		d    InquiryData
	}{
		{"vendor too long", InquiryData{VendorID: "123456789"}},
		{"product too long", InquiryData{ProductID: "12345678901234567"}},
		{"revision too long", InquiryData{ProductRev: "12345"}},
		{"non-ASCII vendor", InquiryData{VendorID: "l\u00fcnar"}},
		{"control character", InquiryData{ProductID: "a\x00b"}},
		{"device type", InquiryData{DeviceType: 0x20}},
		{"qualifier", InquiryData{PeripheralQualifier: 8}},
		{"TPGS", InquiryData{TPGS: 4}},
		{"too many descriptors", InquiryData{VersionDescriptors: make([]uint16, 9)}},
	}
	for _, tc := range tests {
		b, err := tc.d.AppendBinary([]byte{1, 2})
		sivWantErrIs(t, tc.name, err, ErrInvalidField)
		if !bytes.Equal(b, []byte{1, 2}) {
			t.Errorf("%s: AppendBinary changed b to % x", tc.name, b)
		}
	}
}

func FuzzInquiryData(f *testing.F) {
	for _, tc := range inquiryGolden {
		f.Add(sivHex(f, tc.hex))
	}
	for _, b := range loadGoldenSCSI(f).dataIn {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d InquiryData
		if err := d.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		enc, err := d.MarshalBinary()
		if err != nil {
			return // decoded strings may hold bytes the encoder refuses
		}
		var again InquiryData
		if err := again.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(again, d) {
			t.Fatalf("unstable:\n first %+v\nsecond %+v", d, again)
		}
	})
}
