package scsi

import (
	"encoding/binary"
	"fmt"
)

// CachingPage is the Caching mode page (SBC-3 section 6.4.5, table 143),
// page code 08h, page length 12h:
//
//	byte 0      PS | SPF(0) | PAGE CODE (08h)
//	byte 1      PAGE LENGTH (12h)
//	byte 2      IC | ABPF | CAP | DISC | SIZE | WCE | MF | RCD
//	byte 3      DEMAND READ RETENTION PRIORITY (7-4) | WRITE RETENTION PRIORITY (3-0)
//	bytes 4-5   DISABLE PRE-FETCH TRANSFER LENGTH
//	bytes 6-7   MINIMUM PRE-FETCH
//	bytes 8-9   MAXIMUM PRE-FETCH
//	bytes 10-11 MAXIMUM PRE-FETCH CEILING
//	byte 12     FSW | LBCSS | DRA | vendor specific (4-1) | NV_DIS
//	byte 13     NUMBER OF CACHE SEGMENTS
//	bytes 14-15 CACHE SEGMENT SIZE
//	byte 16     reserved
//	bytes 17-19 obsolete
//
// As a changeable-values mask, a true flag or a non-zero field marks the
// bits that MODE SELECT may change.
type CachingPage struct {
	IC   bool // initiator control
	ABPF bool // abort pre-fetch
	CAP  bool // caching analysis permitted
	DISC bool // discontinuity
	SIZE bool // size enable
	WCE  bool // write cache enable
	MF   bool // multiplication factor
	RCD  bool // read cache disable

	DemandReadRetentionPriority uint8 // 4 bits
	WriteRetentionPriority      uint8 // 4 bits

	// DisablePrefetchTransferLength is DISABLE PRE-FETCH TRANSFER LENGTH, in
	// logical blocks: a read of more blocks causes no anticipatory
	// pre-fetch; zero disables it for every read.
	DisablePrefetchTransferLength uint16
	MinimumPrefetch               uint16 // MINIMUM PRE-FETCH, in logical blocks, or with MF a multiplier of the read's transfer length
	MaximumPrefetch               uint16 // MAXIMUM PRE-FETCH, in logical blocks, or with MF a multiplier of the read's transfer length
	MaximumPrefetchCeiling        uint16 // MAXIMUM PRE-FETCH CEILING, in logical blocks: caps the maximum pre-fetch

	FSW   bool // force sequential write
	LBCSS bool // logical block cache segment size
	DRA   bool // disable read-ahead
	NVDIS bool // non-volatile cache disabled

	NumberOfCacheSegments uint8  // NUMBER OF CACHE SEGMENTS the cache is divided into
	CacheSegmentSize      uint16 // CACHE SEGMENT SIZE, in bytes, or logical blocks with LBCSS; used when SIZE is set
}

// Mode page codes and subpage codes (SPC-4 section 7.5.2, SBC-3 section
// 6.4.1).
const (
	ModePageCodeCaching                 = 0x08
	ModePageCodeControl                 = 0x0a
	ModePageCodeInformationalExceptions = 0x1c
	// ModePageCodeAll asks MODE SENSE for every page.
	ModePageCodeAll = 0x3f
	// ModeSubpageCodeControlExtension is the Control Extension subpage
	// of the Control mode page.
	ModeSubpageCodeControlExtension = 0x01
	// ModeSubpageCodeAll asks MODE SENSE for every subpage.
	ModeSubpageCodeAll = 0xff
)

const cachingPageLen = 0x12

// Page returns 08h, 00h.
func (p *CachingPage) Page() (code, subpage uint8) { return ModePageCodeCaching, 0 }

// AppendBinary appends the page, with its header and the PS bit zero.
func (p *CachingPage) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, ModePageCodeCaching, cachingPageLen)
	b = append(b,
		pbit(p.IC, 7)|pbit(p.ABPF, 6)|pbit(p.CAP, 5)|pbit(p.DISC, 4)|pbit(p.SIZE, 3)|pbit(p.WCE, 2)|pbit(p.MF, 1)|pbit(p.RCD, 0),
		p.DemandReadRetentionPriority<<4|p.WriteRetentionPriority&0x0f)
	b = binary.BigEndian.AppendUint16(b, p.DisablePrefetchTransferLength)
	b = binary.BigEndian.AppendUint16(b, p.MinimumPrefetch)
	b = binary.BigEndian.AppendUint16(b, p.MaximumPrefetch)
	b = binary.BigEndian.AppendUint16(b, p.MaximumPrefetchCeiling)
	b = append(b, pbit(p.FSW, 7)|pbit(p.LBCSS, 6)|pbit(p.DRA, 5)|pbit(p.NVDIS, 0), p.NumberOfCacheSegments)
	b = binary.BigEndian.AppendUint16(b, p.CacheSegmentSize)
	return append(b, 0, 0, 0, 0), nil
}

// UnmarshalBinary decodes the whole page, header included.
func (p *CachingPage) UnmarshalBinary(b []byte) error {
	d, err := modePageBody(b, ModePageCodeCaching, 0, cachingPageLen)
	if err != nil {
		return err
	}
	if len(d) < cachingPageLen {
		return fmt.Errorf("%w: caching page body has %d bytes, want %d", ErrTruncated, len(d), cachingPageLen)
	}
	*p = CachingPage{
		IC: d[0]&0x80 != 0, ABPF: d[0]&0x40 != 0, CAP: d[0]&0x20 != 0, DISC: d[0]&0x10 != 0,
		SIZE: d[0]&0x08 != 0, WCE: d[0]&0x04 != 0, MF: d[0]&0x02 != 0, RCD: d[0]&0x01 != 0,
		DemandReadRetentionPriority:   d[1] >> 4,
		WriteRetentionPriority:        d[1] & 0x0f,
		DisablePrefetchTransferLength: binary.BigEndian.Uint16(d[2:4]),
		MinimumPrefetch:               binary.BigEndian.Uint16(d[4:6]),
		MaximumPrefetch:               binary.BigEndian.Uint16(d[6:8]),
		MaximumPrefetchCeiling:        binary.BigEndian.Uint16(d[8:10]),
		FSW:                           d[10]&0x80 != 0,
		LBCSS:                         d[10]&0x40 != 0,
		DRA:                           d[10]&0x20 != 0,
		NVDIS:                         d[10]&0x01 != 0,
		NumberOfCacheSegments:         d[11],
		CacheSegmentSize:              binary.BigEndian.Uint16(d[12:14]),
	}
	return nil
}
