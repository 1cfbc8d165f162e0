package scsi

import (
	"encoding/binary"
	"fmt"
)

// ProvisioningStatus is the PROVISIONING STATUS field of an LBA status
// descriptor (SBC-3 section 5.6.2, table 48).
type ProvisioningStatus uint8

// The provisioning statuses of SBC-3 table 48.
const (
	ProvisioningMapped      ProvisioningStatus = 0x0 // mapped (or unknown)
	ProvisioningDeallocated ProvisioningStatus = 0x1
	ProvisioningAnchored    ProvisioningStatus = 0x2
)

// String returns the status as SBC-3 names it.
func (s ProvisioningStatus) String() string {
	switch s {
	case ProvisioningMapped:
		return "mapped"
	case ProvisioningDeallocated:
		return "deallocated"
	case ProvisioningAnchored:
		return "anchored"
	}
	return fmt.Sprintf("provisioning status 0x%x", uint8(s))
}

// LBAStatusDescriptor is one LBA status descriptor (SBC-3 section 5.6.2,
// table 47):
//
//	bytes 0-7   LOGICAL BLOCK ADDRESS
//	bytes 8-11  NUMBER OF LOGICAL BLOCKS
//	byte 12     reserved (7-4) | PROVISIONING STATUS (3-0)
//	bytes 13-15 reserved
type LBAStatusDescriptor struct {
	LBA    uint64             // LOGICAL BLOCK ADDRESS: first block of the extent
	Blocks uint32             // NUMBER OF LOGICAL BLOCKS in the extent
	Status ProvisioningStatus // PROVISIONING STATUS, 4 bits
}

// LBAStatusData is the GET LBA STATUS parameter data (SBC-3 section
// 5.6.2, table 46):
//
//	bytes 0-3   PARAMETER DATA LENGTH (n-3)
//	bytes 4-7   reserved
//	bytes 8-n   LBA status descriptors, 16 bytes each
type LBAStatusData struct {
	// Descriptors are the LBA status descriptors; after UnmarshalBinary,
	// only those the data carried in full.
	Descriptors []LBAStatusDescriptor
	// ParameterDataLength is the header's PARAMETER DATA LENGTH.
	// MarshalBinary ignores it (it writes 4 + 16 × len(Descriptors));
	// UnmarshalBinary sets it, and it exceeds that when the data was cut
	// short by the allocation length.
	ParameterDataLength uint32
}

const (
	lbaStatusHeaderLen     = 8
	lbaStatusDescriptorLen = 16
	lbaStatusLenCovers     = 4 // PARAMETER DATA LENGTH counts bytes 4-7 too
	lbaStatusMask          = 0x0f
)

// Complete reports whether the decoded data held every descriptor its
// header announced.
func (d *LBAStatusData) Complete() bool {
	return uint64(d.ParameterDataLength) == uint64(len(d.Descriptors))*lbaStatusDescriptorLen+lbaStatusLenCovers
}

// AppendBinary appends the full parameter data to b.
func (d *LBAStatusData) AppendBinary(b []byte) ([]byte, error) {
	n := uint64(len(d.Descriptors))*lbaStatusDescriptorLen + lbaStatusLenCovers
	if n > 0xffffffff-lbaStatusLenCovers {
		return b, fmt.Errorf("%w: %d LBA status descriptors do not fit", ErrInvalidField, len(d.Descriptors))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, s := range d.Descriptors {
		b = binary.BigEndian.AppendUint64(b, s.LBA)
		b = binary.BigEndian.AppendUint32(b, s.Blocks)
		b = append(b, byte(s.Status)&lbaStatusMask, 0, 0, 0)
	}
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *LBAStatusData) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, lbaStatusHeaderLen+len(d.Descriptors)*lbaStatusDescriptorLen))
}

// MarshalAlloc returns the parameter data cut to allocLen bytes, with the
// header still giving the full length (SPC-4 section 4.2.5.6).
func (d *LBAStatusData) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes GET LBA STATUS parameter data. It needs the
// eight-byte header, decodes every whole descriptor present up to the
// PARAMETER DATA LENGTH and ignores a partial last one, so data cut by an
// allocation length decodes without error and Complete reports false.
func (d *LBAStatusData) UnmarshalBinary(b []byte) error {
	if len(b) < lbaStatusHeaderLen {
		return fmt.Errorf("%w: GET LBA STATUS data has %d bytes, want at least %d", ErrTruncated, len(b), lbaStatusHeaderLen)
	}
	pdl := binary.BigEndian.Uint32(b[0:4])
	if pdl < lbaStatusLenCovers || (pdl-lbaStatusLenCovers)%lbaStatusDescriptorLen != 0 {
		return &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("PARAMETER DATA LENGTH %d is not 4 + a multiple of 16", pdl)}
	}
	avail := uint64(len(b) - lbaStatusHeaderLen)
	if want := uint64(pdl - lbaStatusLenCovers); want < avail {
		avail = want
	}
	descs := make([]LBAStatusDescriptor, avail/lbaStatusDescriptorLen)
	for i := range descs {
		s := b[lbaStatusHeaderLen+i*lbaStatusDescriptorLen:]
		descs[i] = LBAStatusDescriptor{
			LBA:    binary.BigEndian.Uint64(s[0:8]),
			Blocks: binary.BigEndian.Uint32(s[8:12]),
			Status: ProvisioningStatus(s[12] & lbaStatusMask),
		}
	}
	d.Descriptors, d.ParameterDataLength = descs, pdl
	return nil
}
