package scsi

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

var goldenLBAStatus = []byte{
	0x00, 0x00, 0x00, 0x24, // PARAMETER DATA LENGTH 36
	0, 0, 0, 0, // reserved
	0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x01, 0x00, 0x00, 0, 0, 0, // LBA 16, 256 blocks, mapped
	0, 0, 0, 0, 0, 0, 0x01, 0x10, 0, 0, 0x00, 0x40, 0x01, 0, 0, 0, // LBA 272, 64 blocks, deallocated
}

var goldenLBAStatusData = LBAStatusData{Descriptors: []LBAStatusDescriptor{
	{LBA: 16, Blocks: 256, Status: ProvisioningMapped},
	{LBA: 272, Blocks: 64, Status: ProvisioningDeallocated},
}}

func TestLBAStatusGolden(t *testing.T) {
	got, err := goldenLBAStatusData.MarshalBinary()
	if err != nil || !bytes.Equal(got, goldenLBAStatus) {
		t.Fatalf("MarshalBinary = % x, %v", got, err)
	}
	var d LBAStatusData
	if err := d.UnmarshalBinary(goldenLBAStatus); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Descriptors, goldenLBAStatusData.Descriptors) || d.ParameterDataLength != 36 || !d.Complete() {
		t.Fatalf("decoded %+v", d)
	}
	for alloc := range uint32(len(goldenLBAStatus) + 2) {
		got, _ := goldenLBAStatusData.MarshalAlloc(alloc)
		if !bytes.Equal(got, goldenLBAStatus[:min(int(alloc), len(goldenLBAStatus))]) {
			t.Fatalf("alloc %d: % x", alloc, got)
		}
	}
	if ProvisioningAnchored.String() != "anchored" || ProvisioningStatus(9).String() == "" {
		t.Fatal("String")
	}
}

func TestLBAStatusTruncated(t *testing.T) {
	for i := range len(goldenLBAStatus) {
		var d LBAStatusData
		err := d.UnmarshalBinary(goldenLBAStatus[:i])
		if i < 8 {
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("prefix %d: err = %v", i, err)
			}
			continue
		}
		if err != nil || d.Complete() || len(d.Descriptors) != (i-8)/16 {
			t.Errorf("prefix %d: %v %+v", i, err, d)
		}
	}
}

func TestLBAStatusBadLength(t *testing.T) {
	for _, l := range []byte{0, 3, 5, 0x23} {
		b := slices.Clone(goldenLBAStatus)
		b[3] = l
		var d LBAStatusData
		var pe *ParameterFieldError
		if err := d.UnmarshalBinary(b); !errors.As(err, &pe) || pe.Byte != 0 {
			t.Errorf("length %d: err = %v", l, err)
		}
	}
}
