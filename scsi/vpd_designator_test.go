package scsi

import (
	"bytes"
	"testing"
)

func TestVPDNAA6(t *testing.T) {
	d := vpdTestNAA()
	want := sivHex(t, vpdTestNAA6Hex)
	sivWantBytes(t, "NAA 6 designator", d.Designator, want)
	if d.CodeSet != VPDCodeSetBinary || d.Association != VPDAssocLU || d.Type != VPDDesigNAA || d.PIV {
		t.Errorf("header fields %+v", d)
	}
	// Bits above the field widths are dropped.
	d2 := VPDNAA6Designator(0xff001405, 0xf0123456789, 0x0123456789abcdef)
	sivWantBytes(t, "masked", d2.Designator, want)

	page := VPDDeviceIdentification{Designators: []VPDDesignator{VPDRelativeTargetPortDesignator(1), d}}
	wwn, ok := page.WWN()
	if !ok || wwn != "naa.60014051234567890123456789abcdef" {
		t.Fatalf("WWN = %q, %v", wwn, ok)
	}
	id, err := ParseNAA(wwn)
	if err != nil || !bytes.Equal(id, want) {
		t.Fatalf("ParseNAA = % x, %v", id, err)
	}
	if id, err := ParseNAA("NAA.60014051234567890123456789ABCDEF"); err != nil || !bytes.Equal(id, want) {
		t.Errorf("upper case: % x, %v", id, err)
	}
	if id, err := ParseNAA("naa.5001405123456789"); err != nil || len(id) != 8 {
		t.Errorf("NAA 5: % x, %v", id, err)
	}
	if _, ok := (&VPDDeviceIdentification{}).WWN(); ok {
		t.Error("WWN of an empty page")
	}
}

func TestParseNAAErrors(t *testing.T) {
	for _, s := range []string{
		"", "naa", "eui.60014051234567890123456789abcdef", "naa.6001405", "naa.6001405123456789",
		"naa.50014051234567890123456789abcdef", "naa.1001405123456789", "naa.600140512345678901234567zzabcdef",
	} {
		_, err := ParseNAA(s)
		sivWantErrIs(t, s, err, ErrInvalidField)
	}
}

func TestVPDDesignatorAccessors(t *testing.T) {
	name := VPDSCSINameDesignator(VPDAssocTargetPort, vpdTestIQN+",t,0x0001")
	if len(name.Designator)%4 != 0 || name.Designator[len(name.Designator)-1] != 0 {
		t.Errorf("SCSI name not NUL padded to 4: % x", name.Designator)
	}
	if s, ok := name.SCSIName(); !ok || s != vpdTestIQN+",t,0x0001" {
		t.Errorf("SCSIName = %q, %v", s, ok)
	}
	if !name.PIV || name.ProtocolID != VPDProtocolISCSI || name.CodeSet != VPDCodeSetUTF8 {
		t.Errorf("SCSI name header %+v", name)
	}
	// A name whose length is a multiple of four still gets a NUL.
	if d := VPDSCSINameDesignator(VPDAssocLU, "abcd"); len(d.Designator) != 8 || d.PIV {
		t.Errorf("4-byte name: % x PIV %v", d.Designator, d.PIV)
	}
	rtp := VPDRelativeTargetPortDesignator(0x0102)
	if p, ok := rtp.RelativeTargetPort(); !ok || p != 0x0102 {
		t.Errorf("RelativeTargetPort = %d, %v", p, ok)
	}
	tpg := VPDTargetPortGroupDesignator(7)
	if g, ok := tpg.TargetPortGroup(); !ok || g != 7 {
		t.Errorf("TargetPortGroup = %d, %v", g, ok)
	}
	if _, ok := rtp.SCSIName(); ok {
		t.Error("SCSIName of a port designator")
	}
	if _, ok := rtp.NAA(); ok {
		t.Error("NAA of a port designator")
	}
	if _, ok := tpg.RelativeTargetPort(); ok {
		t.Error("RelativeTargetPort of a group designator")
	}
	if _, err := VPDT10VendorIDDesignator("TOOLONGVENDOR", "x"); err == nil {
		t.Error("long vendor accepted")
	}
	if _, err := VPDT10VendorIDDesignator("LUNAR", "\x01"); err == nil {
		t.Error("non-ASCII specific accepted")
	}
	page := VPDDeviceIdentification{Designators: []VPDDesignator{rtp, tpg, name}}
	if d, ok := page.Find(VPDAssocTargetPort, VPDDesigSCSIName); !ok || d.Type != VPDDesigSCSIName {
		t.Error("Find failed")
	}
	if _, ok := page.Find(VPDAssocLU, VPDDesigNAA); ok {
		t.Error("Find found a missing designator")
	}
	for _, s := range []string{VPDCodeSetASCII.String(), VPDAssocTargetDevice.String(), VPDDesigSCSIName.String(),
		VPDDesignatorType(12).String(), VPDCodeSet(9).String(), VPDAssociation(3).String()} {
		if s == "" {
			t.Error("empty name")
		}
	}
}

func TestVPDDesignatorRoundTrip(t *testing.T) {
	d := VPDSCSINameDesignator(VPDAssocTargetDevice, vpdTestIQN)
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got VPDDesignator
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got.Type != d.Type || !bytes.Equal(got.Designator, d.Designator) || got.PIV != d.PIV ||
		got.ProtocolID != d.ProtocolID || got.Association != d.Association || got.CodeSet != d.CodeSet {
		t.Errorf("got %+v, want %+v", got, d)
	}
	sivWantPrefixesTruncated(t, "designator", b, func(p []byte) error { return new(VPDDesignator).UnmarshalBinary(p) })
}
