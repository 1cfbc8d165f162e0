package scsi

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

var (
	goldenCachingPage = []byte{
		0x08, 0x12, // page code, length
		0x05,       // WCE | RCD
		0x21,       // demand read 2, write 1
		0x00, 0x10, // disable pre-fetch transfer length
		0x00, 0x01, // minimum pre-fetch
		0x00, 0x20, // maximum pre-fetch
		0x01, 0x00, // maximum pre-fetch ceiling
		0xa1,       // FSW | DRA | NV_DIS
		0x04,       // number of cache segments
		0x10, 0x00, // cache segment size
		0, 0, 0, 0, // reserved, obsolete
	}
	goldenCaching = CachingPage{WCE: true, RCD: true, DemandReadRetentionPriority: 2, WriteRetentionPriority: 1,
		DisablePrefetchTransferLength: 0x10, MinimumPrefetch: 1, MaximumPrefetch: 0x20, MaximumPrefetchCeiling: 0x100,
		FSW: true, DRA: true, NVDIS: true, NumberOfCacheSegments: 4, CacheSegmentSize: 0x1000}

	goldenControlPage = []byte{
		0x0a, 0x0a,
		0x54,       // TST 2, TMF_ONLY, D_SENSE
		0x12,       // QAM 1, QErr 1
		0x08,       // SWP
		0x45,       // TAS, autoload mode 5
		0x00, 0x00, // obsolete
		0xff, 0xff, // busy timeout period
		0x00, 0x3c, // extended self-test completion time
	}
	goldenControl = ControlPage{TST: 2, TMFOnly: true, DSense: true, QueueAlgorithmModifier: 1, QErr: 1, SWP: true,
		TAS: true, AutoloadMode: 5, BusyTimeoutPeriod: 0xffff, ExtendedSelfTestCompletionTime: 60}

	goldenControlExtPage = append([]byte{
		0x4a, 0x01, 0x00, 0x1c,
		0x05, // TCMOS | IALUAE
		0x03, // initial command priority
		0xfc, // maximum sense data length
	}, make([]byte, 25)...)
	goldenControlExt = ControlExtensionPage{TCMOS: true, IALUAE: true, InitialCommandPriority: 3, MaximumSenseDataLength: 252}

	goldenIECPage = []byte{
		0x1c, 0x0a,
		0x89,                   // PERF | DEXCPT | LOGERR
		0x06,                   // MRIE 6
		0x00, 0x00, 0x02, 0x58, // interval timer 600
		0x00, 0x00, 0x00, 0x01, // report count 1
	}
	goldenIEC = InformationalExceptionsPage{PERF: true, DEXCPT: true, LOGERR: true, MRIE: 6, IntervalTimer: 600, ReportCount: 1}
)

func TestModePagesGolden(t *testing.T) {
	tests := []struct {
		name   string
		page   ModePage
		golden []byte
		empty  ModePage
	}{
		{"caching", &goldenCaching, goldenCachingPage, &CachingPage{}},
		{"control", &goldenControl, goldenControlPage, &ControlPage{}},
		{"control extension", &goldenControlExt, goldenControlExtPage, &ControlExtensionPage{}},
		{"informational exceptions", &goldenIEC, goldenIECPage, &InformationalExceptionsPage{}},
		{"raw", &RawModePage{Code: 0x19, Data: []byte{1, 2}}, []byte{0x19, 0x02, 1, 2}, &RawModePage{}},
		{"raw subpage", &RawModePage{Code: 0x19, SubpageCode: 3, Data: []byte{1}}, []byte{0x59, 0x03, 0, 1, 1}, &RawModePage{}},
	}
	for _, tt := range tests {
		got, err := tt.page.AppendBinary(nil)
		if err != nil || !bytes.Equal(got, tt.golden) {
			t.Errorf("%s: AppendBinary = % x, %v\nwant % x", tt.name, got, err, tt.golden)
		}
		if err := tt.empty.UnmarshalBinary(tt.golden); err != nil {
			t.Errorf("%s: UnmarshalBinary: %v", tt.name, err)
		} else if !reflect.DeepEqual(tt.empty, tt.page) {
			t.Errorf("%s: decoded %+v, want %+v", tt.name, tt.empty, tt.page)
		}
		for i := range tt.golden {
			if err := tt.empty.UnmarshalBinary(tt.golden[:i]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrInvalidField) {
				t.Errorf("%s: prefix %d: err = %v", tt.name, i, err)
			}
		}
	}
}

func TestModePageWrongHeader(t *testing.T) {
	var p CachingPage
	var pe *ParameterFieldError
	b := slices.Clone(goldenCachingPage)
	b[0] = 0x09
	if err := p.UnmarshalBinary(b); !errors.As(err, &pe) || pe.Byte != 0 {
		t.Errorf("wrong code: %v", err)
	}
	b = slices.Clone(goldenCachingPage)
	b[1] = 0x13
	if err := p.UnmarshalBinary(append(b, 0)); !errors.As(err, &pe) || pe.Byte != 1 {
		t.Errorf("wrong length: %v", err)
	}
	if err := p.UnmarshalBinary(append(slices.Clone(goldenCachingPage), 0)); !errors.Is(err, ErrInvalidField) {
		t.Errorf("trailing byte: %v", err)
	}
	var ce ControlExtensionPage
	b = slices.Clone(goldenControlExtPage)
	b[3] = 0x1d
	if err := ce.UnmarshalBinary(append(b, 0)); !errors.As(err, &pe) || pe.Byte != 3 {
		t.Errorf("subpage length: %v", err)
	}
}

func TestModePageHeader(t *testing.T) {
	h := ModePageHeader{PS: true, SPF: true, PageCode: 0x0a, SubpageCode: 1, PageLength: 0x1c}
	got, err := h.AppendBinary(nil)
	if err != nil || !bytes.Equal(got, []byte{0xca, 0x01, 0x00, 0x1c}) || h.Len() != 4 {
		t.Fatalf("% x, %v", got, err)
	}
	var back ModePageHeader
	if err := back.UnmarshalBinary(got); err != nil || back != h {
		t.Fatalf("%+v %v", back, err)
	}
	if _, err := (&ModePageHeader{PageCode: 0x40}).AppendBinary(nil); !errors.Is(err, ErrInvalidField) {
		t.Fatal(err)
	}
	if _, err := (&ModePageHeader{PageLength: 256}).AppendBinary(nil); !errors.Is(err, ErrInvalidField) {
		t.Fatal(err)
	}
	if err := back.UnmarshalBinary([]byte{0x4a, 1, 0}); !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
}

// testModeParameters is a logical unit with WCE and D_SENSE changeable
// and a saveable caching page.
func testModeParameters() *ModeParameters {
	return &ModeParameters{
		DPOFUA:      true,
		Blocks:      0x1_0000_0000, // above what a short descriptor holds
		BlockLength: 512,
		Pages: []ModePageValues{
			{Current: &InformationalExceptionsPage{DEXCPT: true}},
			{Current: &ControlExtensionPage{MaximumSenseDataLength: 252}},
			{Current: &ControlPage{QueueAlgorithmModifier: 1}, Changeable: &ControlPage{DSense: true}},
			{Current: &CachingPage{WCE: true}, Changeable: &CachingPage{WCE: true}, Default: &CachingPage{}, Saved: &CachingPage{}},
		},
	}
}

var (
	modeCachingWCE  = []byte{0x88, 0x12, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	modeCachingZero = []byte{0x88, 0x12, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	modeControlQAM1 = []byte{0x0a, 0x0a, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}
	modeControlMask = []byte{0x0a, 0x0a, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}
	modeIECCurrent  = []byte{0x1c, 0x0a, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	modeIECZero     = []byte{0x1c, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	modeControlExt  = append([]byte{0x4a, 0x01, 0x00, 0x1c, 0, 0, 0xfc}, make([]byte, 25)...)
	modeControlExt0 = append([]byte{0x4a, 0x01, 0x00, 0x1c}, make([]byte, 28)...)
	modeShortBD512  = []byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00}
	modeLongBD512   = []byte{0, 0, 0, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x00}
)

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

func TestModeSense(t *testing.T) {
	m := testModeParameters()
	allPages := cat(modeCachingWCE, modeControlQAM1, modeIECCurrent)
	tests := []struct {
		name string
		req  ModeSenseRequest
		want []byte
	}{
		{"6 all pages", ModeSenseRequest{PageCode: 0x3f, AllocationLength: 255},
			cat([]byte{byte(3 + 8 + len(allPages)), 0, 0x10, 8}, modeShortBD512, allPages)},
		{"6 caching DBD", ModeSenseRequest{DBD: true, PageCode: 0x08, AllocationLength: 255},
			cat([]byte{23, 0, 0x10, 0}, modeCachingWCE)},
		{"6 caching changeable", ModeSenseRequest{DBD: true, PC: ModeValuesChangeable, PageCode: 0x08, AllocationLength: 255},
			cat([]byte{23, 0, 0, 0}, modeCachingWCE)},
		{"6 caching default", ModeSenseRequest{DBD: true, PC: ModeValuesDefault, PageCode: 0x08, AllocationLength: 255},
			cat([]byte{23, 0, 0x10, 0}, modeCachingZero)},
		{"6 caching saved", ModeSenseRequest{DBD: true, PC: ModeValuesSaved, PageCode: 0x08, AllocationLength: 255},
			cat([]byte{23, 0, 0x10, 0}, modeCachingZero)},
		{"6 control changeable", ModeSenseRequest{DBD: true, PC: ModeValuesChangeable, PageCode: 0x0a, AllocationLength: 255},
			cat([]byte{15, 0, 0, 0}, modeControlMask)},
		{"6 iec changeable (none)", ModeSenseRequest{DBD: true, PC: ModeValuesChangeable, PageCode: 0x1c, AllocationLength: 255},
			cat([]byte{15, 0, 0, 0}, modeIECZero)},
		{"10 control and subpages, long LBA", ModeSenseRequest{Header10: true, LLBAA: true, PageCode: 0x0a, SubpageCode: 0xff, AllocationLength: 1000},
			cat([]byte{0, byte(6 + 16 + 12 + 32), 0, 0x10, 1, 0, 0, 16}, modeLongBD512, modeControlQAM1, modeControlExt)},
		{"10 control extension", ModeSenseRequest{Header10: true, DBD: true, PageCode: 0x0a, SubpageCode: 1, AllocationLength: 1000},
			cat([]byte{0, 38, 0, 0x10, 0, 0, 0, 0}, modeControlExt)},
		{"10 all pages and subpages changeable", ModeSenseRequest{Header10: true, DBD: true, PC: ModeValuesChangeable, PageCode: 0x3f, SubpageCode: 0xff, AllocationLength: 1000},
			cat([]byte{0, byte(6 + 20 + 12 + 32 + 12), 0, 0, 0, 0, 0, 0}, modeCachingWCE, modeControlMask, modeControlExt0, modeIECZero)},
		{"6 all pages truncated", ModeSenseRequest{PageCode: 0x3f, AllocationLength: 10},
			cat([]byte{byte(3 + 8 + len(allPages)), 0, 0x10, 8}, modeShortBD512[:6])},
	}
	for _, tt := range tests {
		got, err := m.ModeSense(tt.req)
		if err != nil || !bytes.Equal(got, tt.want) {
			t.Errorf("%s:\n got % x, %v\nwant % x", tt.name, got, err, tt.want)
		}
	}
}

func TestModeSenseErrors(t *testing.T) {
	m := testModeParameters()
	var ce *CDBFieldError
	if _, err := m.ModeSense(ModeSenseRequest{PageCode: 0x19}); !errors.As(err, &ce) || ce.Byte != 2 || ce.Bit != 5 || ce.Op != OpModeSense6 {
		t.Errorf("unknown page: %v", err)
	}
	if _, err := m.ModeSense(ModeSenseRequest{Header10: true, PageCode: 0x08, SubpageCode: 2}); !errors.As(err, &ce) || ce.Byte != 3 || ce.Op != OpModeSense10 {
		t.Errorf("unknown subpage: %v", err)
	}
	if _, err := m.ModeSense(ModeSenseRequest{PageCode: 0x3f, SubpageCode: 5}); !errors.As(err, &ce) || ce.Byte != 3 {
		t.Errorf("all pages, subpage 5: %v", err)
	}
	if _, err := m.ModeSense(ModeSenseRequest{PageCode: 0x40}); !errors.As(err, &ce) {
		t.Errorf("page code 0x40: %v", err)
	}
	if _, err := m.ModeSense(ModeSenseRequest{PC: ModeValuesSaved, PageCode: 0x0a}); !errors.Is(err, ErrSavingNotSupported) {
		t.Errorf("saved control page: %v", err)
	}
	for v := range ModeValues(5) {
		if v.String() == "" {
			t.Errorf("no name for %d", v)
		}
	}
}

func TestModeDataRoundTrip(t *testing.T) {
	m := testModeParameters()
	for _, ten := range []bool{false, true} {
		b, err := m.ModeSense(ModeSenseRequest{Header10: ten, LLBAA: ten, PageCode: 0x3f, SubpageCode: 0xff, AllocationLength: 4096})
		if err != nil {
			t.Fatal(err)
		}
		d := ModeData{Header10: ten}
		if err := d.UnmarshalBinary(b); err != nil {
			t.Fatalf("ten=%v: %v", ten, err)
		}
		if len(d.Pages) != 4 || d.DeviceSpecific != ModeDeviceSpecificDPOFUA || d.LongLBA != ten {
			t.Fatalf("ten=%v: %+v", ten, d)
		}
		if c, ok := d.Pages[0].(*CachingPage); !ok || !c.WCE {
			t.Fatalf("page 0 = %#v", d.Pages[0])
		}
		if _, ok := d.Pages[2].(*ControlExtensionPage); !ok {
			t.Fatalf("page 2 = %#v", d.Pages[2])
		}
		again, err := d.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// Re-encoding drops only the PS bit of the saveable caching page.
		if len(again) != len(b) {
			t.Fatalf("ten=%v: re-encoded %d bytes, want %d", ten, len(again), len(b))
		}
		for i := range b {
			if again[i] != b[i] && !(b[i] == 0x88 && again[i] == 0x08) {
				t.Fatalf("ten=%v: byte %d: % x vs % x", ten, i, again, b)
			}
		}
		for i := range b {
			d := ModeData{Header10: ten}
			if err := d.UnmarshalBinary(b[:i]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("ten=%v prefix %d: err = %v", ten, i, err)
			}
		}
	}
}

func TestModeDataUnknownPageIsRaw(t *testing.T) {
	b := cat([]byte{14, 0, 0, 0}, []byte{0x19, 0x02, 0xaa, 0xbb}, []byte{0x08, 0x02, 0x04, 0x00}, []byte{0x1c, 0x01, 0x00})
	d := ModeData{}
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if len(d.Pages) != 3 {
		t.Fatalf("pages %+v", d.Pages)
	}
	for i, p := range d.Pages {
		if _, ok := p.(*RawModePage); !ok {
			t.Errorf("page %d: %T", i, p)
		}
	}
	// A header whose block descriptor length runs past the mode data.
	var pe *ParameterFieldError
	if err := d.UnmarshalBinary([]byte{3, 0, 0, 8}); !errors.As(err, &pe) || pe.Byte != 3 {
		t.Errorf("bdl: %v", err)
	}
	if err := d.UnmarshalBinary([]byte{1, 0, 0, 0}); !errors.As(err, &pe) || pe.Byte != 0 {
		t.Errorf("short data length: %v", err)
	}
}

func TestModeDataMarshalErrors(t *testing.T) {
	if _, err := (&ModeData{LongLBA: true}).MarshalBinary(); !errors.Is(err, ErrInvalidField) {
		t.Error(err)
	}
	if _, err := (&ModeData{BlockDescriptors: []ModeBlockDescriptor{{BlockLength: 1 << 24}}}).MarshalBinary(); !errors.Is(err, ErrInvalidField) {
		t.Error(err)
	}
	big := &RawModePage{Code: 0x19, SubpageCode: 1, Data: make([]byte, 300)}
	if _, err := (&ModeData{Pages: []ModePage{big}}).MarshalBinary(); !errors.Is(err, ErrInvalidField) {
		t.Error(err)
	}
	if _, err := (&ModeData{Header10: true, Pages: []ModePage{big}}).MarshalBinary(); err != nil {
		t.Error(err)
	}
}

func TestModeSelect(t *testing.T) {
	m := testModeParameters()
	cachingOff := cat(modeCachingZero)
	cachingOff[0] = 0x08
	dsense := slices.Clone(modeControlQAM1)
	dsense[2] = 0x04

	sel6 := cat([]byte{0, 0, 0, 8}, []byte{0, 0, 0, 0, 0, 0, 2, 0}, cachingOff, dsense)
	d, err := m.ModeSelect(false, sel6)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Pages) != 2 || len(d.BlockDescriptors) != 1 {
		t.Fatalf("decoded %+v", d)
	}
	if c := d.Pages[0].(*CachingPage); c.WCE {
		t.Fatalf("WCE still set: %+v", c)
	}
	if c := d.Pages[1].(*ControlPage); !c.DSense || c.QueueAlgorithmModifier != 1 {
		t.Fatalf("control %+v", c)
	}

	sel10 := cat([]byte{0, 0, 0, 0, 1, 0, 0, 16}, modeLongBD512, dsense)
	if _, err := m.ModeSelect(true, sel10); err != nil {
		t.Fatalf("select(10): %v", err)
	}
	if d, err := m.ModeSelect(true, nil); err != nil || len(d.Pages) != 0 {
		t.Fatalf("empty list: %v", err)
	}
	// Every prefix is truncated, except those that end at a page
	// boundary: they are shorter lists that are valid on their own.
	for _, tc := range []struct {
		ten        bool
		b          []byte
		boundaries []int
	}{
		{false, sel6, []int{12, 32}},
		{true, sel10, []int{24}},
	} {
		for i := 1; i < len(tc.b); i++ {
			_, err := m.ModeSelect(tc.ten, tc.b[:i])
			if slices.Contains(tc.boundaries, i) {
				if err != nil {
					t.Errorf("ten=%v boundary %d: %v", tc.ten, i, err)
				}
			} else if !errors.Is(err, ErrTruncated) {
				t.Errorf("ten=%v prefix %d: err = %v", tc.ten, i, err)
			}
		}
	}
}

func TestModeSelectFieldErrors(t *testing.T) {
	m := testModeParameters()
	hdr := []byte{0, 0, 0, 0}
	qam2 := slices.Clone(modeControlQAM1)
	qam2[3] = 0x20
	psSet := slices.Clone(modeControlQAM1)
	psSet[0] |= 0x80
	badLen := []byte{0x0a, 0x0b, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	reserved := slices.Clone(modeControlExt)
	reserved[20] = 1
	tests := []struct {
		name      string
		ten       bool
		b         []byte
		byt, bitN int
	}{
		{"not changeable", false, cat(hdr, qam2), 4 + 3, 5},
		{"PS bit", false, cat(hdr, psSet), 4, 7},
		{"unknown page", false, cat(hdr, []byte{0x19, 0x02, 0, 0}), 4, 5},
		{"page length", false, cat(hdr, badLen), 5, 7},
		{"medium type", false, []byte{0, 1, 0, 0}, 1, 7},
		{"medium type 10", true, []byte{0, 0, 5, 0, 0, 0, 0, 0}, 2, 7},
		{"descriptor length", false, cat([]byte{0, 0, 0, 4}, []byte{0, 0, 0, 0}), 3, 7},
		{"long descriptor length", true, cat([]byte{0, 0, 0, 0, 1, 0, 0, 8}, make([]byte, 8)), 6, 7},
		{"block length", false, cat([]byte{0, 0, 0, 8}, []byte{0, 0, 0, 0, 0, 0, 0x10, 0}), 9, 7},
		{"block count", false, cat([]byte{0, 0, 0, 8}, []byte{0, 0, 0, 1, 0, 0, 0x02, 0}), 4, 7},
		{"long block length", true, cat([]byte{0, 0, 0, 0, 1, 0, 0, 16}, make([]byte, 14), []byte{0x10, 0}), 20, 7},
		{"long block count", true, cat([]byte{0, 0, 0, 0, 1, 0, 0, 16}, []byte{0, 0, 0, 0, 0, 0, 0, 1}, make([]byte, 6), []byte{2, 0}), 8, 7},
		{"reserved byte", true, cat([]byte{0, 0, 0, 0, 0, 0, 0, 0}, reserved), 8 + 20, 0},
		{"second page bad", false, cat(hdr, modeControlQAM1, qam2), 4 + 12 + 3, 5},
	}
	for _, tt := range tests {
		_, err := m.ModeSelect(tt.ten, tt.b)
		var pe *ParameterFieldError
		if !errors.As(err, &pe) || pe.Byte != tt.byt || pe.Bit != tt.bitN {
			t.Errorf("%s: err = %v, want byte %d bit %d", tt.name, err, tt.byt, tt.bitN)
		}
	}
}

func FuzzModeSelect(f *testing.F) {
	m := testModeParameters()
	dsense := slices.Clone(modeControlQAM1)
	dsense[2] = 0x04
	f.Add(false, cat([]byte{0, 0, 0, 8}, []byte{0, 0, 0, 0, 0, 0, 2, 0}, modeCachingZero[:1], []byte{0x12}, modeCachingZero[2:], dsense))
	f.Add(true, cat([]byte{0, 0, 0, 0, 1, 0, 0, 16}, modeLongBD512, dsense))
	f.Add(true, cat([]byte{0, 0, 0, 0, 0, 0, 0, 0}, modeControlExt, goldenIECPage))
	f.Add(false, cat([]byte{0, 0, 0, 0}, []byte{0x19, 0x02, 0xaa, 0xbb}))
	f.Fuzz(func(t *testing.T, ten bool, b []byte) {
		d, err := m.ModeSelect(ten, b)
		var d2 ModeData
		d2.Header10 = ten
		_ = d2.UnmarshalBinary(b) // the MODE SENSE decoder must not panic either
		if err != nil {
			return
		}
		enc, err := d.MarshalBinary()
		if err != nil {
			return // e.g. more than MODE SENSE(6) can describe
		}
		d3, err := m.ModeSelect(ten, enc)
		if len(b) == 0 {
			return
		}
		if err != nil {
			t.Fatalf("re-encoded list rejected: %v\n% x\n% x", err, b, enc)
		}
		if !reflect.DeepEqual(d.Pages, d3.Pages) || !slices.Equal(d.BlockDescriptors, d3.BlockDescriptors) || !slices.Equal(d.LongBlockDescriptors, d3.LongBlockDescriptors) {
			t.Fatalf("unstable: %+v vs %+v", d, d3)
		}
	})
}
