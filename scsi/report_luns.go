package scsi

import (
	"encoding/binary"
	"fmt"
)

// ReportLUNsData is the REPORT LUNS parameter data (SPC-4 section 6.33,
// table 282):
//
//	bytes 0-3   LUN LIST LENGTH (n-7)
//	bytes 4-7   reserved
//	bytes 8-15  first LUN
//	...
//	bytes n-7-n last LUN
type ReportLUNsData struct {
	// LUNs are the LUN structures held in the data. After
	// UnmarshalBinary, only the entries the data carried in full.
	LUNs []LUN
	// ListLength is the LUN LIST LENGTH field, in bytes. MarshalBinary
	// ignores it (it writes 8 × len(LUNs)); UnmarshalBinary sets it from
	// the header, and it exceeds 8 × len(LUNs) when the data was cut
	// short by the allocation length.
	ListLength uint32
}

const (
	reportLUNsHeaderLen = 8
	reportLUNsEntryLen  = 8
)

// Complete reports whether the decoded data held every LUN its header
// announced.
func (d *ReportLUNsData) Complete() bool {
	return uint64(d.ListLength) == uint64(len(d.LUNs))*reportLUNsEntryLen
}

// AppendBinary appends the full parameter data to b.
func (d *ReportLUNsData) AppendBinary(b []byte) ([]byte, error) {
	n := uint64(len(d.LUNs)) * reportLUNsEntryLen
	if n > 0xffffffff-reportLUNsHeaderLen {
		return b, fmt.Errorf("%w: %d LUNs do not fit REPORT LUNS data", ErrInvalidField, len(d.LUNs))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, l := range d.LUNs {
		b = binary.BigEndian.AppendUint64(b, uint64(l))
	}
	return b, nil
}

// MarshalBinary returns the full parameter data.
func (d *ReportLUNsData) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, reportLUNsHeaderLen+len(d.LUNs)*reportLUNsEntryLen))
}

// MarshalAlloc returns the parameter data cut to allocLen bytes. The LUN
// LIST LENGTH still gives the full list: "The relationship between the
// ALLOCATION LENGTH field and the CDB format is defined in 4.2.5.6"
// (SPC-4 section 6.33), and a device server shall "terminate transfers
// to the Data-In Buffer when the number of bytes ... specified by the
// ALLOCATION LENGTH field have been transferred" (SPC-4 4.2.5.6).
func (d *ReportLUNsData) MarshalAlloc(allocLen uint32) ([]byte, error) {
	b, err := d.MarshalBinary()
	return truncateToAlloc(b, allocLen), err
}

// UnmarshalBinary decodes REPORT LUNS parameter data. It needs the
// eight-byte header; it decodes every whole LUN entry present up to the
// LUN LIST LENGTH and ignores a partial last entry, so data cut by an
// allocation length decodes with ListLength larger than 8 × len(LUNs).
// A LUN LIST LENGTH that is not a multiple of eight is an error.
func (d *ReportLUNsData) UnmarshalBinary(b []byte) error {
	if len(b) < reportLUNsHeaderLen {
		return fmt.Errorf("%w: REPORT LUNS data has %d bytes, want at least %d", ErrTruncated, len(b), reportLUNsHeaderLen)
	}
	listLen := binary.BigEndian.Uint32(b[0:4])
	if listLen%reportLUNsEntryLen != 0 {
		return &ParameterFieldError{Byte: 0, Bit: 7, Reason: fmt.Sprintf("LUN LIST LENGTH %d is not a multiple of 8", listLen)}
	}
	avail := uint64(len(b) - reportLUNsHeaderLen)
	if uint64(listLen) < avail {
		avail = uint64(listLen)
	}
	n := int(avail / reportLUNsEntryLen)
	luns := make([]LUN, n)
	for i := range luns {
		off := reportLUNsHeaderLen + i*reportLUNsEntryLen
		luns[i] = LUN(binary.BigEndian.Uint64(b[off : off+reportLUNsEntryLen]))
	}
	d.LUNs, d.ListLength = luns, listLen
	return nil
}

// truncateToAlloc cuts parameter data to an allocation length from a CDB.
func truncateToAlloc(b []byte, allocLen uint32) []byte {
	if uint64(len(b)) > uint64(allocLen) {
		return b[:allocLen]
	}
	return b
}
