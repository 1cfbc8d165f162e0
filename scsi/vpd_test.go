package scsi

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
)

const (
	vpdTestIQN     = "iqn.2024-01.org.lunar:t1"
	vpdTestNAA6Hex = "6001405123456789 0123456789abcdef"
)

// vpdTestNAA is the NAA 6 designator of the golden pages.
func vpdTestNAA() VPDDesignator {
	return VPDNAA6Designator(0x001405, 0x123456789, 0x0123456789abcdef)
}

func vpdGolden(t testing.TB) []struct {
	name string
	hex  string
	want VPDPage
} {
	t10, err := VPDT10VendorIDDesignator("LUNAR", "LUN00001")
	if err != nil {
		t.Fatal(err)
	}
	naa := vpdTestNAA()
	return []struct {
		name string
		hex  string
		want VPDPage
	}{
		{
			name: "supported pages",
			hex:  "00 00 0006 | 00 80 83 b0 b1 b2",
			want: &VPDSupportedPages{Pages: []VPDPageCode{VPDPageSupported, VPDPageUnitSerial, VPDPageDeviceID,
				VPDPageBlockLimits, VPDPageBlockCharacteristics, VPDPageProvisioning}},
		},
		{
			name: "unit serial number",
			hex:  "00 80 0008 | 4c554e3030303031",
			want: &VPDUnitSerialNumber{Serial: "LUN00001"},
		},
		{
			name: "device identification",
			hex: "00 83 0058" +
				"|01 03 00 10 " + vpdTestNAA6Hex +
				"|02 01 00 10 4c554e4152202020 4c554e3030303031" +
				"|01 14 00 04 00000001" +
				"|01 15 00 04 00000000" +
				"|53 a8 00 1c " + hex.EncodeToString([]byte(vpdTestIQN)) + "00000000",
			want: &VPDDeviceIdentification{Designators: []VPDDesignator{
				naa, t10, VPDRelativeTargetPortDesignator(1), VPDTargetPortGroupDesignator(0),
				VPDSCSINameDesignator(VPDAssocTargetDevice, vpdTestIQN),
			}},
		},
		{
			name: "block limits",
			hex: "00 b0 003c | 01 | 01 | 0008 | 00004000 | 00000400 | 00000000 | 00400000 | 00000100" +
				"| 00000008 | 80000000 | 0000000000100000 | 0000000000000000000000000000000000000000",
			want: &VPDBlockLimits{WSNZ: true, MaxCompareAndWriteLength: 1, OptimalTransferLengthGranularity: 8,
				MaxTransferLength: 0x4000, OptimalTransferLength: 0x400, MaxUnmapLBACount: 0x400000,
				MaxUnmapBlockDescriptorCount: 0x100, OptimalUnmapGranularity: 8, UGAValid: true,
				MaxWriteSameLength: 0x100000},
		},
		{
			name: "block device characteristics",
			hex: "00 b1 003c | 0001 | 00 | 03 | 03" +
				"| 00000000000000000000000000000000000000000000000000000000" +
				"000000000000000000000000000000000000000000000000000000",
			want: &VPDBlockDeviceCharacteristics{MediumRotationRate: VPDRotationNonRotating,
				NominalFormFactor: VPDFormFactor2_5, FUAB: true, VBULS: true},
		},
		{
			name: "logical block provisioning",
			hex:  "00 b2 0004 | 00 | e6 | 02 | 00",
			want: &VPDLogicalBlockProvisioning{LBPU: true, LBPWS: true, LBPWS10: true, LBPRZ: 1, ANCSup: true,
				ProvisioningType: VPDProvisioningThin},
		},
		{
			name: "logical block provisioning with group",
			hex:  "00 b2 0018 | 0c | 01 | 01 | 00 | 01 03 00 10 " + vpdTestNAA6Hex,
			want: &VPDLogicalBlockProvisioning{ThresholdExponent: 12, DP: true,
				ProvisioningType: VPDProvisioningResource, ProvisioningGroup: &naa},
		},
		{
			name: "unknown page, qualifier and type",
			hex:  "7f 86 0002 | 01 02",
			want: &VPDRaw{VPDPeripheral: VPDPeripheral{PeripheralQualifier: 3, DeviceType: 0x1f},
				Code: 0x86, Data: []byte{1, 2}},
		},
	}
}

func TestVPDGolden(t *testing.T) {
	for _, tc := range vpdGolden(t) {
		t.Run(tc.name, func(t *testing.T) {
			b := sivHex(t, tc.hex)
			got, err := ParseVPD(b)
			if err != nil {
				t.Fatalf("ParseVPD: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseVPD:\n got %+v\nwant %+v", got, tc.want)
			}
			if got.PageCode() != VPDPageCode(b[1]) {
				t.Errorf("PageCode = %v, want %#x", got.PageCode(), b[1])
			}
			enc, err := tc.want.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			sivWantBytes(t, "MarshalBinary", enc, b)
			app, err := tc.want.AppendBinary([]byte{0xaa})
			if err != nil || app[0] != 0xaa {
				t.Fatalf("AppendBinary: % x, %v", app, err)
			}
			sivWantBytes(t, "AppendBinary", app[1:], b)
			sivWantPrefixesTruncated(t, "ParseVPD", b, func(p []byte) error { _, err := ParseVPD(p); return err })
		})
	}
}

func TestVPDShortPagesDecodePresentFields(t *testing.T) {
	// An SBC-2 era Block Limits page with PAGE LENGTH 0Ch.
	var bl VPDBlockLimits
	if err := bl.UnmarshalBinary(sivHex(t, "00 b0 000c | 00 00 0001 | 00000080 | 00000010")); err != nil {
		t.Fatal(err)
	}
	want := VPDBlockLimits{OptimalTransferLengthGranularity: 1, MaxTransferLength: 0x80, OptimalTransferLength: 0x10}
	if bl != want {
		t.Errorf("got %+v, want %+v", bl, want)
	}
	var bdc VPDBlockDeviceCharacteristics
	if err := bdc.UnmarshalBinary(sivHex(t, "00 b1 0002 | 1c20")); err != nil || bdc.MediumRotationRate != 7200 {
		t.Errorf("got %+v, %v", bdc, err)
	}
	var lbp VPDLogicalBlockProvisioning
	if err := lbp.UnmarshalBinary(sivHex(t, "00 b2 0000")); err != nil || lbp != (VPDLogicalBlockProvisioning{}) {
		t.Errorf("got %+v, %v", lbp, err)
	}
}

func TestVPDErrors(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		hex    string
		want   error
	}{
		{"page length overruns", func(b []byte) error { _, err := ParseVPD(b); return err }, "00 83 ffff 01 03 00 10", ErrTruncated},
		{"designator overruns page", func(b []byte) error { _, err := ParseVPD(b); return err },
			"00 83 0008 | 01 03 00 10 60014051", ErrTruncated},
		{"designator header cut by page", func(b []byte) error { _, err := ParseVPD(b); return err },
			"00 83 0002 | 01 03 00 10", ErrTruncated},
		{"provisioning group overruns", func(b []byte) error { _, err := ParseVPD(b); return err },
			"00 b2 0008 | 00 01 00 00 | 01 03 00 10", ErrTruncated},
		{"wrong page code", func(b []byte) error { return new(VPDUnitSerialNumber).UnmarshalBinary(b) },
			"00 83 0000", ErrInvalidField},
		{"wrong page code", func(b []byte) error { return new(VPDBlockLimits).UnmarshalBinary(b) },
			"00 b1 0000", ErrInvalidField},
		{"designator trailing bytes", func(b []byte) error { return new(VPDDesignator).UnmarshalBinary(b) },
			"01 03 00 00 00", ErrInvalidField},
	}
	for _, tc := range tests {
		sivWantErrIs(t, tc.name, tc.decode(sivHex(t, tc.hex)), tc.want)
	}
}

func TestVPDMarshalErrors(t *testing.T) {
	long := make([]byte, 256)
	tests := []struct {
		name string
		p    VPDPage
	}{
		{"pages not ascending", &VPDSupportedPages{Pages: []VPDPageCode{0x00, 0x83, 0x80}}},
		{"serial not ASCII", &VPDUnitSerialNumber{Serial: "a\tb"}},
		{"device type", &VPDUnitSerialNumber{VPDPeripheral: VPDPeripheral{DeviceType: 0x20}}},
		{"designator too long", &VPDDeviceIdentification{Designators: []VPDDesignator{{Designator: long}}}},
		{"association", &VPDDeviceIdentification{Designators: []VPDDesignator{{Association: 4}}}},
		{"page too long", &VPDRaw{Code: 0x86, Data: make([]byte, 0x10000)}},
		{"alignment", &VPDBlockLimits{UnmapGranularityAlignment: 1 << 31}},
		{"form factor", &VPDBlockDeviceCharacteristics{NominalFormFactor: 0x10}},
		{"LBPRZ", &VPDLogicalBlockProvisioning{LBPRZ: 8}},
		{"bad group", &VPDLogicalBlockProvisioning{ProvisioningGroup: &VPDDesignator{Type: 0x10}}},
	}
	for _, tc := range tests {
		b, err := tc.p.AppendBinary([]byte{7})
		sivWantErrIs(t, tc.name, err, ErrInvalidField)
		if len(b) != 1 || b[0] != 7 {
			t.Errorf("%s: AppendBinary left % x", tc.name, b)
		}
	}
}

func TestVPDSupportedPagesSupports(t *testing.T) {
	p := VPDSupportedPages{Pages: []VPDPageCode{0x00, 0x83}}
	if !p.Supports(VPDPageDeviceID) || p.Supports(VPDPageBlockLimits) {
		t.Error("Supports wrong")
	}
	if VPDPageDeviceID.String() != "Device Identification" || VPDPageCode(0x99).String() != "VPD page 0x99" {
		t.Error("VPDPageCode.String wrong")
	}
}

func TestVPDSerialTrimsPadding(t *testing.T) {
	var p VPDUnitSerialNumber
	if err := p.UnmarshalBinary(sivHex(t, "00 80 0006 2020 4142 0000")); err != nil || p.Serial != "AB" {
		t.Errorf("got %q, %v", p.Serial, err)
	}
}

func FuzzParseVPD(f *testing.F) {
	for _, tc := range vpdGolden(f) {
		f.Add(sivHex(f, tc.hex))
	}
	for _, b := range loadGoldenSCSI(f).dataIn {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseVPD(b)
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalidField) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			return // decoders accept values some encoders refuse (order, ASCII)
		}
		again, err := ParseVPD(enc)
		if err != nil {
			t.Fatalf("re-decode of % x: %v", enc, err)
		}
		if !reflect.DeepEqual(again, p) {
			t.Fatalf("unstable:\n first %+v\nsecond %+v", p, again)
		}
	})
}
