package scsi

import (
	"encoding/binary"
	"fmt"
)

// UnmapBlockDescriptor is one UNMAP block descriptor (SBC-3 section
// 5.28.2, table 99):
//
//	bytes 0-7   UNMAP LOGICAL BLOCK ADDRESS
//	bytes 8-11  NUMBER OF LOGICAL BLOCKS
//	bytes 12-15 reserved
type UnmapBlockDescriptor struct {
	LBA    uint64 // UNMAP LOGICAL BLOCK ADDRESS: first block to unmap
	Blocks uint32 // NUMBER OF LOGICAL BLOCKS to unmap; zero unmaps none and is not an error
}

// UnmapParameterList is the UNMAP parameter list (SBC-3 section 5.28.2,
// table 98):
//
//	bytes 0-1   UNMAP DATA LENGTH (n-1)
//	bytes 2-3   UNMAP BLOCK DESCRIPTOR DATA LENGTH (n-7)
//	bytes 4-7   reserved
//	bytes 8-n   UNMAP block descriptors, 16 bytes each
type UnmapParameterList struct {
	Descriptors []UnmapBlockDescriptor // UNMAP block descriptors; UnmarshalBinary drops an incomplete last one
}

const (
	unmapHeaderLen     = 8
	unmapDescriptorLen = 16
	// unmapDataLenCovers is how many header bytes the UNMAP DATA LENGTH
	// counts besides the descriptors (bytes 2 to 7).
	unmapDataLenCovers = 6
	unmapMaxDescs      = (0xffff - unmapHeaderLen) / unmapDescriptorLen
)

// AppendBinary appends the parameter list to b.
func (l *UnmapParameterList) AppendBinary(b []byte) ([]byte, error) {
	if len(l.Descriptors) > unmapMaxDescs {
		return b, fmt.Errorf("%w: %d UNMAP block descriptors, at most %d fit", ErrInvalidField, len(l.Descriptors), unmapMaxDescs)
	}
	bd := len(l.Descriptors) * unmapDescriptorLen
	b = binary.BigEndian.AppendUint16(b, uint16(bd+unmapDataLenCovers))
	b = binary.BigEndian.AppendUint16(b, uint16(bd))
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, d := range l.Descriptors {
		b = binary.BigEndian.AppendUint64(b, d.LBA)
		b = binary.BigEndian.AppendUint32(b, d.Blocks)
		b = binary.BigEndian.AppendUint32(b, 0)
	}
	return b, nil
}

// MarshalBinary returns the parameter list.
func (l *UnmapParameterList) MarshalBinary() ([]byte, error) {
	return l.AppendBinary(make([]byte, 0, unmapHeaderLen+len(l.Descriptors)*unmapDescriptorLen))
}

// UnmarshalBinary decodes an UNMAP parameter list of PARAMETER LIST
// LENGTH bytes. An empty list holds no descriptors and is not an error; a
// list shorter than its header, or whose lengths run past the data,
// returns ErrTruncated (PARAMETER LIST LENGTH ERROR); lengths that
// disagree with each other return a *ParameterFieldError.
func (l *UnmapParameterList) UnmarshalBinary(b []byte) error {
	if len(b) == 0 {
		// "A PARAMETER LIST LENGTH set to zero specifies that no data
		// shall be sent. This shall not be considered an error."
		l.Descriptors = nil
		return nil
	}
	// "If the PARAMETER LIST LENGTH field is greater than zero and less
	// than eight, then the device server shall terminate the command with
	// CHECK CONDITION status with the sense key set to ILLEGAL REQUEST
	// and the additional sense code set to PARAMETER LIST LENGTH ERROR."
	if len(b) < unmapHeaderLen {
		return fmt.Errorf("%w: UNMAP parameter list has %d bytes, want at least %d", ErrTruncated, len(b), unmapHeaderLen)
	}
	dataLen := int(binary.BigEndian.Uint16(b[0:2]))
	bdLen := int(binary.BigEndian.Uint16(b[2:4]))
	if dataLen < bdLen+unmapDataLenCovers {
		return &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("UNMAP DATA LENGTH %d is less than block descriptor data length %d + 6", dataLen, bdLen)}
	}
	if dataLen+2 > len(b) {
		return fmt.Errorf("%w: UNMAP DATA LENGTH %d needs %d bytes, list has %d", ErrTruncated, dataLen, dataLen+2, len(b))
	}
	// "If the UNMAP BLOCK DESCRIPTOR DATA LENGTH is not a multiple of 16,
	// then the last UNMAP block descriptor is incomplete and shall be
	// ignored" (SBC-3 section 5.28.2): integer division drops it.
	n := bdLen / unmapDescriptorLen
	descs := make([]UnmapBlockDescriptor, n)
	for i := range descs {
		d := b[unmapHeaderLen+i*unmapDescriptorLen:]
		descs[i] = UnmapBlockDescriptor{
			LBA:    binary.BigEndian.Uint64(d[0:8]),
			Blocks: binary.BigEndian.Uint32(d[8:12]),
		}
	}
	if n == 0 {
		descs = nil
	}
	l.Descriptors = descs
	return nil
}
