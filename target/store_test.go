package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// storeTestBackend is a minimal file backend for the store's tests, so
// that they do not depend on the engine's.
type storeTestBackend struct {
	f    *os.File
	size int64
}

func storeTestOpenBackend(path string, size int64, thin bool) (Backend, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	return &storeTestBackend{f: f, size: size}, nil
}

func (b *storeTestBackend) ReadAt(p []byte, off int64) (int, error)  { return b.f.ReadAt(p, off) }
func (b *storeTestBackend) WriteAt(p []byte, off int64) (int, error) { return b.f.WriteAt(p, off) }
func (b *storeTestBackend) Size() int64                              { return b.size }
func (b *storeTestBackend) Sync() error                              { return b.f.Sync() }
func (b *storeTestBackend) Unmap(off, n int64) error                 { return ErrUnmapUnsupported }
func (b *storeTestBackend) Close() error                             { return b.f.Close() }
func (b *storeTestBackend) Resize(size int64) error {
	if err := b.f.Truncate(size); err != nil {
		return err
	}
	b.size = size
	return nil
}

// storeViewRecorder collects view-change calls.
type storeViewRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *storeViewRecorder) record(target string, initiators []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, target+" "+strings.Join(initiators, ","))
}

func (r *storeViewRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

const (
	storeTestTarget = "iqn.2026-11.org.lunar:test"
	storeTestInit1  = "iqn.1993-08.org.debian:01:aaaa"
	storeTestInit2  = "iqn.1993-08.org.debian:01:bbbb"
	storeTestInit3  = "iqn.1993-08.org.debian:01:cccc"
)

func storeTestOpen(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := OpenStore(StoreConfig{DataDir: dir, DefaultTarget: storeTestTarget, OpenBackend: storeTestOpenBackend})
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantStoreCode(t *testing.T, err error, kind error, code string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want %v", err, kind)
	}
	var se *StoreError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("error %v: want code %s", err, code)
	}
}

func wantNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func storeTestLUN(t *testing.T, s *Store, name string, size int64) LUNInfo {
	t.Helper()
	info, err := s.CreateLUN(context.Background(), LUNCreate{Name: name, Size: size})
	wantNoErr(t, err)
	return info
}

func storeTestIGroup(t *testing.T, s *Store, name string, initiators ...string) {
	t.Helper()
	_, err := s.CreateIGroup(context.Background(), IGroupCreate{Name: name, Initiators: initiators})
	wantNoErr(t, err)
}

func storeTestMap(t *testing.T, s *Store, lun, group string, id *uint64) MapInfo {
	t.Helper()
	m, err := s.Map(context.Background(), MapCreate{LUN: lun, IGroup: group, LUNID: id})
	wantNoErr(t, err)
	return m
}

func storeID(n uint64) *uint64 { return &n }

func TestStoreCreateLUN(t *testing.T) {
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	info := storeTestLUN(t, s, "db-1", 1<<20)
	if info.Size != 1<<20 || info.BlockSize != 512 || !info.Thin {
		t.Fatalf("info %+v", info)
	}
	if !strings.HasPrefix(info.WWN, "naa.66c756e") || len(info.WWN) != 4+32 {
		t.Fatalf("WWN %q: want naa.6 + OUI 6c756e + 25 hex digits", info.WWN)
	}
	if len(info.Serial) == 0 {
		t.Fatal("no serial")
	}
	want := filepath.Join(dir, "luns", "db-1.img")
	if info.Path != want {
		t.Fatalf("path %q: want %q", info.Path, want)
	}
	st, err := os.Stat(want)
	wantNoErr(t, err)
	if st.Size() != 1<<20 {
		t.Fatalf("file size %d", st.Size())
	}
	lu, ok := s.LogicalUnit("db-1")
	if !ok || lu == nil {
		t.Fatal("no logical unit")
	}
	if lu.cfg.BlockSize != 512 || lu.cfg.Serial != info.Serial || lu.cfg.Name != "db-1" {
		t.Fatalf("LU config %+v", lu.cfg)
	}
	other := storeTestLUN(t, s, "db-2", 4096)
	if other.WWN == info.WWN || other.Serial == info.Serial {
		t.Fatal("two LUNs share an identity")
	}
	_, err = s.CreateLUN(context.Background(), LUNCreate{Name: "db-1", Size: 512})
	wantStoreCode(t, err, ErrStoreConflict, "lun_exists")
	th, err := s.CreateLUN(context.Background(), LUNCreate{Name: "big", Size: 8192, BlockSize: 4096, Thick: true})
	wantNoErr(t, err)
	if th.Thin || th.BlockSize != 4096 {
		t.Fatalf("thick LUN %+v", th)
	}
	if got := s.LUNs(); len(got) != 3 || got[0].Name != "big" || got[1].Name != "db-1" {
		t.Fatalf("LUNs %+v", got)
	}
}

func TestStoreCreateLUNValidation(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	for _, tc := range []struct {
		req  LUNCreate
		code string
	}{
		{LUNCreate{Name: "", Size: 512}, "invalid_name"},
		{LUNCreate{Name: "../etc/passwd", Size: 512}, "invalid_name"},
		{LUNCreate{Name: "a/b", Size: 512}, "invalid_name"},
		{LUNCreate{Name: "..", Size: 512}, "invalid_name"},
		{LUNCreate{Name: ".", Size: 512}, "invalid_name"},
		{LUNCreate{Name: "a b", Size: 512}, "invalid_name"},
		{LUNCreate{Name: strings.Repeat("x", 65), Size: 512}, "invalid_name"},
		{LUNCreate{Name: "ok", Size: 0}, "invalid_size"},
		{LUNCreate{Name: "ok", Size: -512}, "invalid_size"},
		{LUNCreate{Name: "ok", Size: 1000}, "invalid_size"},
		{LUNCreate{Name: "ok", Size: 512, BlockSize: 4096}, "invalid_size"},
		{LUNCreate{Name: "ok", Size: MaxLUNSize + 4096, BlockSize: 4096}, "invalid_size"},
		{LUNCreate{Name: "ok", Size: 4096, BlockSize: 1024}, "invalid_block_size"},
	} {
		_, err := s.CreateLUN(context.Background(), tc.req)
		wantStoreCode(t, err, ErrStoreInvalid, tc.code)
	}
	ents, err := os.ReadDir(filepath.Join(s.DataDir(), "luns"))
	wantNoErr(t, err)
	if len(ents) != 0 {
		t.Fatalf("refused creates left files: %v", ents)
	}
	if _, err := s.CreateLUN(context.Background(), LUNCreate{Name: strings.Repeat("x", 64), Size: 512}); err != nil {
		t.Fatal(err)
	}
}

func TestStoreResizeLUN(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	ctx := context.Background()
	storeTestLUN(t, s, "a", 1<<20)
	info, err := s.ResizeLUN(ctx, "a", LUNResize{Size: 2 << 20})
	wantNoErr(t, err)
	if info.Size != 2<<20 {
		t.Fatalf("size %d", info.Size)
	}
	st, _ := os.Stat(info.Path)
	if st.Size() != 2<<20 {
		t.Fatalf("file size %d", st.Size())
	}
	_, err = s.ResizeLUN(ctx, "a", LUNResize{Size: 1 << 20})
	wantStoreCode(t, err, ErrStoreConflict, "shrink_refused")
	_, err = s.ResizeLUN(ctx, "a", LUNResize{Size: 1000})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_size")
	_, err = s.ResizeLUN(ctx, "nope", LUNResize{Size: 1 << 20})
	wantStoreCode(t, err, ErrStoreNotFound, "lun_not_found")
	info, err = s.ResizeLUN(ctx, "a", LUNResize{Size: 1 << 20, Force: true})
	wantNoErr(t, err)
	if info.Size != 1<<20 {
		t.Fatalf("size %d", info.Size)
	}
	got, err := s.LUN("a")
	wantNoErr(t, err)
	if got.Size != 1<<20 {
		t.Fatalf("show size %d", got.Size)
	}
}

func TestStoreDeleteLUN(t *testing.T) {
	rec := &storeViewRecorder{}
	s := storeTestOpen(t, t.TempDir())
	s.SetOnViewChange(rec.record)
	ctx := context.Background()
	a := storeTestLUN(t, s, "a", 4096)
	storeTestIGroup(t, s, "g", storeTestInit1)
	storeTestMap(t, s, "a", "g", nil)
	rec.take()
	wantStoreCode(t, s.DeleteLUN(ctx, "a", false), ErrStoreConflict, "lun_mapped")
	wantStoreCode(t, s.DeleteLUN(ctx, "b", false), ErrStoreNotFound, "lun_not_found")
	wantNoErr(t, s.DeleteLUN(ctx, "a", true))
	if _, err := os.Stat(a.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("file of deleted LUN: %v", err)
	}
	if len(s.Maps()) != 0 {
		t.Fatalf("maps left: %+v", s.Maps())
	}
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit1}) {
		t.Fatalf("view changes %q", got)
	}
	if s.Access(storeTestTarget, storeTestInit1).Allowed {
		t.Fatal("initiator still allowed after its only LUN went")
	}
	b := storeTestLUN(t, s, "a", 4096)
	if b.WWN == a.WWN || b.Serial == a.Serial {
		t.Fatal("identity reused")
	}
	if !slices.Contains(s.conf.RetiredWWNs, a.WWN) || !slices.Contains(s.conf.RetiredSerials, a.Serial) {
		t.Fatal("identity not retired")
	}
}

// storeFixedRand repeats one byte pattern, so every draw collides.
type storeFixedRand struct{}

func (storeFixedRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x42
	}
	return len(p), nil
}

func TestStoreIdentityNeverReused(t *testing.T) {
	s, err := OpenStore(StoreConfig{DataDir: t.TempDir(), OpenBackend: storeTestOpenBackend, Rand: storeFixedRand{}, OUI: 0x123456})
	wantNoErr(t, err)
	defer s.Close()
	ctx := context.Background()
	a, err := s.CreateLUN(ctx, LUNCreate{Name: "a", Size: 512})
	wantNoErr(t, err)
	if !strings.HasPrefix(a.WWN, "naa.6123456") {
		t.Fatalf("WWN %s: OUI not used", a.WWN)
	}
	if _, err := s.CreateLUN(ctx, LUNCreate{Name: "b", Size: 512}); err == nil {
		t.Fatal("a colliding identity was handed out")
	}
	wantNoErr(t, s.DeleteLUN(ctx, "a", false))
	if _, err := s.CreateLUN(ctx, LUNCreate{Name: "a", Size: 512}); err == nil {
		t.Fatal("a retired identity was handed out again")
	}
}

func TestStoreIGroups(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	ctx := context.Background()
	_, err := s.CreateIGroup(ctx, IGroupCreate{Name: "g", Initiators: []string{"not-an-iqn"}})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_initiator")
	_, err = s.CreateIGroup(ctx, IGroupCreate{Name: "g/x"})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_name")
	_, err = s.CreateIGroup(ctx, IGroupCreate{Name: "g", Initiators: []string{storeTestInit1, strings.ToUpper(storeTestInit1)}})
	wantStoreCode(t, err, ErrStoreInvalid, "duplicate_initiator")
	g, err := s.CreateIGroup(ctx, IGroupCreate{Name: "g", Initiators: []string{storeTestInit2, "IQN.1993-08.org.Debian:01:AAAA"}})
	wantNoErr(t, err)
	if !slices.Equal(g.Initiators, []string{storeTestInit1, storeTestInit2}) {
		t.Fatalf("members %q: want normalised and sorted", g.Initiators)
	}
	_, err = s.CreateIGroup(ctx, IGroupCreate{Name: "g"})
	wantStoreCode(t, err, ErrStoreConflict, "igroup_exists")
	g, err = s.AddInitiator(ctx, "g", storeTestInit3)
	wantNoErr(t, err)
	if len(g.Initiators) != 3 {
		t.Fatalf("members %q", g.Initiators)
	}
	_, err = s.AddInitiator(ctx, "g", storeTestInit3)
	wantStoreCode(t, err, ErrStoreConflict, "initiator_exists")
	_, err = s.AddInitiator(ctx, "nope", storeTestInit3)
	wantStoreCode(t, err, ErrStoreNotFound, "igroup_not_found")
	_, err = s.AddInitiator(ctx, "g", "bad name")
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_initiator")
	g, err = s.RemoveInitiator(ctx, "g", storeTestInit2)
	wantNoErr(t, err)
	if !slices.Equal(g.Initiators, []string{storeTestInit1, storeTestInit3}) {
		t.Fatalf("members %q", g.Initiators)
	}
	_, err = s.RemoveInitiator(ctx, "g", storeTestInit2)
	wantStoreCode(t, err, ErrStoreNotFound, "initiator_not_found")
	storeTestLUN(t, s, "a", 512)
	storeTestMap(t, s, "a", "g", nil)
	wantStoreCode(t, s.DeleteIGroup(ctx, "g", false), ErrStoreConflict, "igroup_mapped")
	wantStoreCode(t, s.DeleteIGroup(ctx, "x", false), ErrStoreNotFound, "igroup_not_found")
	wantNoErr(t, s.DeleteIGroup(ctx, "g", true))
	if len(s.IGroups()) != 0 || len(s.Maps()) != 0 {
		t.Fatalf("left: %+v %+v", s.IGroups(), s.Maps())
	}
}

func TestStoreMaps(t *testing.T) {
	rec := &storeViewRecorder{}
	s := storeTestOpen(t, t.TempDir())
	s.SetOnViewChange(rec.record)
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c", "d"} {
		storeTestLUN(t, s, n, 4096)
	}
	storeTestIGroup(t, s, "g1", storeTestInit1, storeTestInit2)
	storeTestIGroup(t, s, "g2", storeTestInit2)
	storeTestIGroup(t, s, "g3", storeTestInit3)
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("view changes without maps: %q", got)
	}

	m := storeTestMap(t, s, "a", "g1", nil)
	if m.LUNID != 0 || m.Target != storeTestTarget {
		t.Fatalf("map %+v: want LUN id 0 on the default target", m)
	}
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit1 + "," + storeTestInit2}) {
		t.Fatalf("view changes %q", got)
	}
	// init2 sees a at 0 through g1: g2's default id must skip 0.
	m = storeTestMap(t, s, "b", "g2", nil)
	if m.LUNID != 1 {
		t.Fatalf("map %+v: want LUN id 1", m)
	}
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit2}) {
		t.Fatalf("view changes %q", got)
	}
	// An explicit id where init2 already sees another LUN: refused.
	_, err := s.Map(ctx, MapCreate{LUN: "c", IGroup: "g2", LUNID: storeID(0)})
	wantStoreCode(t, err, ErrStoreConflict, "lun_id_in_use")
	// The same id in the same group: refused.
	_, err = s.Map(ctx, MapCreate{LUN: "c", IGroup: "g1", LUNID: storeID(0)})
	wantStoreCode(t, err, ErrStoreConflict, "lun_id_in_use")
	// g1 at 1 would put c where init2 sees b: refused.
	_, err = s.Map(ctx, MapCreate{LUN: "c", IGroup: "g1", LUNID: storeID(1)})
	wantStoreCode(t, err, ErrStoreConflict, "lun_id_in_use")
	// The same LUN twice in one group: refused.
	_, err = s.Map(ctx, MapCreate{LUN: "a", IGroup: "g1", LUNID: storeID(7)})
	wantStoreCode(t, err, ErrStoreConflict, "lun_already_mapped")
	_, err = s.Map(ctx, MapCreate{LUN: "c", IGroup: "g1", LUNID: storeID(MaxLUNID + 1)})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_lun_id")
	_, err = s.Map(ctx, MapCreate{LUN: "zz", IGroup: "g1"})
	wantStoreCode(t, err, ErrStoreNotFound, "lun_not_found")
	_, err = s.Map(ctx, MapCreate{LUN: "c", IGroup: "zz"})
	wantStoreCode(t, err, ErrStoreNotFound, "igroup_not_found")
	_, err = s.Map(ctx, MapCreate{LUN: "c", IGroup: "g1", Target: "iqn.2026-11.org.lunar:nope"})
	wantStoreCode(t, err, ErrStoreNotFound, "target_not_found")
	m = storeTestMap(t, s, "c", "g3", storeID(0))
	if m.LUNID != 0 {
		t.Fatalf("map %+v", m)
	}
	rec.take()
	// Adding init3 to g2 would make it see c at 0 and b at... b is at 1
	// in g2, c at 0 in g3: no clash.
	_, err = s.AddInitiator(ctx, "g2", storeTestInit3)
	wantNoErr(t, err)
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit3}) {
		t.Fatalf("view changes %q", got)
	}
	// Adding init3 to g1 would make it see a at 0 where it sees c.
	_, err = s.AddInitiator(ctx, "g1", storeTestInit3)
	wantStoreCode(t, err, ErrStoreConflict, "lun_id_in_use")

	// The same LUN at the same id through two groups is consistent.
	_, err = s.Map(ctx, MapCreate{LUN: "a", IGroup: "g2", LUNID: storeID(0)})
	wantStoreCode(t, err, ErrStoreConflict, "lun_id_in_use") // init3 sees c at 0
	v := s.View(storeTestTarget, storeTestInit2)
	if got := v.LUNs(); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("init2 LUNs %v", got)
	}
	luA, _ := s.LogicalUnit("a")
	if lu, ok := v.Lookup(0); !ok || lu != luA {
		t.Fatal("LUN 0 of init2 is not a")
	}
	if _, ok := v.Lookup(5); ok {
		t.Fatal("unmapped LUN found")
	}

	wantStoreCode(t, s.Unmap(ctx, "", "g1", 5), ErrStoreNotFound, "map_not_found")
	wantNoErr(t, s.Unmap(ctx, "", "g1", 0))
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit1 + "," + storeTestInit2}) {
		t.Fatalf("view changes %q", got)
	}
	if s.Access(storeTestTarget, storeTestInit1).Allowed {
		t.Fatal("init1 allowed with nothing mapped")
	}
	if got := s.View(storeTestTarget, storeTestInit1).LUNs(); len(got) != 0 {
		t.Fatalf("init1 LUNs %v", got)
	}
}

func TestStoreTargetsAndCHAP(t *testing.T) {
	rec := &storeViewRecorder{}
	s := storeTestOpen(t, t.TempDir())
	s.SetOnViewChange(rec.record)
	ctx := context.Background()
	const t2 = "iqn.2026-11.org.lunar:second"
	_, err := s.CreateTarget(ctx, TargetCreate{Name: "bogus"})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_target_name")
	ti, err := s.CreateTarget(ctx, TargetCreate{Name: "IQN.2026-11.org.lunar:Second", Alias: "two"})
	wantNoErr(t, err)
	if ti.Name != t2 || ti.Alias != "two" || ti.Default {
		t.Fatalf("target %+v", ti)
	}
	_, err = s.CreateTarget(ctx, TargetCreate{Name: t2})
	wantStoreCode(t, err, ErrStoreConflict, "target_exists")
	if got := s.Targets(); !slices.Equal(got, []string{t2, storeTestTarget}) {
		t.Fatalf("targets %q", got)
	}
	if a, ok := s.TargetAlias(t2); !ok || a != "two" {
		t.Fatalf("alias %q %v", a, ok)
	}
	if _, ok := s.TargetAlias("iqn.2026-11.org.lunar:none"); ok {
		t.Fatal("alias of unknown target")
	}
	storeTestLUN(t, s, "a", 512)
	storeTestIGroup(t, s, "g", storeTestInit1)
	_, err = s.Map(ctx, MapCreate{LUN: "a", IGroup: "g", Target: t2})
	wantNoErr(t, err)
	if got := rec.take(); !slices.Equal(got, []string{t2 + " " + storeTestInit1}) {
		t.Fatalf("view changes %q", got)
	}
	if s.Access(storeTestTarget, storeTestInit1).Allowed {
		t.Fatal("allowed on a target without maps")
	}
	acc := s.Access(t2, storeTestInit1)
	if !acc.Allowed || acc.CHAP != nil || acc.MutualCHAP != nil {
		t.Fatalf("access %+v", acc)
	}
	if !s.Access(t2, strings.ToUpper(storeTestInit1)).Allowed {
		t.Fatal("initiator name not normalised in lookups")
	}
	err = s.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "u1", Secret: "short"})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_chap_secret")
	err = s.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "", Secret: "0123456789abcdef"})
	wantStoreCode(t, err, ErrStoreInvalid, "invalid_chap_name")
	wantNoErr(t, s.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "u1", Secret: "0123456789ab"}))
	wantNoErr(t, s.SetTargetCHAP(ctx, t2, CHAPSecret{Name: "tgt", Secret: "target-secret-1"}))
	acc = s.Access(t2, storeTestInit1)
	if acc.CHAP == nil || acc.CHAP.Name != "u1" || string(acc.CHAP.Secret) != "0123456789ab" {
		t.Fatalf("CHAP %+v", acc.CHAP)
	}
	if acc.MutualCHAP == nil || acc.MutualCHAP.Name != "tgt" || string(acc.MutualCHAP.Secret) != "target-secret-1" {
		t.Fatalf("mutual CHAP %+v", acc.MutualCHAP)
	}
	if d := s.Access("", storeTestInit1); !d.Allowed || d.CHAP == nil {
		t.Fatalf("discovery access %+v", d)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("CHAP changes reported as view changes: %q", got)
	}
	if got := s.CHAPList(); len(got) != 1 || got[0].Name != "u1" {
		t.Fatalf("CHAP list %+v", got)
	}
	wantNoErr(t, s.ClearCHAP(ctx, storeTestInit1))
	wantStoreCode(t, s.ClearCHAP(ctx, storeTestInit1), ErrStoreNotFound, "chap_not_found")
	wantNoErr(t, s.ClearTargetCHAP(ctx, t2))
	wantStoreCode(t, s.ClearTargetCHAP(ctx, t2), ErrStoreNotFound, "chap_not_found")
	if acc := s.Access(t2, storeTestInit1); acc.CHAP != nil || acc.MutualCHAP != nil {
		t.Fatalf("access after clear %+v", acc)
	}

	wantStoreCode(t, s.DeleteTarget(ctx, storeTestTarget, true), ErrStoreConflict, "target_is_default")
	wantStoreCode(t, s.DeleteTarget(ctx, t2, false), ErrStoreConflict, "target_mapped")
	wantStoreCode(t, s.DeleteTarget(ctx, "iqn.2026-11.org.lunar:none", false), ErrStoreNotFound, "target_not_found")
	wantNoErr(t, s.DeleteTarget(ctx, t2, true))
	if got := rec.take(); !slices.Equal(got, []string{t2 + " " + storeTestInit1}) {
		t.Fatalf("view changes %q", got)
	}
	if got := s.Targets(); !slices.Equal(got, []string{storeTestTarget}) {
		t.Fatalf("targets %q", got)
	}
}

func TestStoreDefaultTargetName(t *testing.T) {
	for host, want := range map[string]string{
		"node1":            DefaultTargetPrefix + "node1",
		"Node-A.example":   DefaultTargetPrefix + "node-a.example",
		"":                 DefaultTargetPrefix + "default",
		"***":              DefaultTargetPrefix + "default",
		"under_score host": DefaultTargetPrefix + "underscorehost",
	} {
		if got := storeDefaultTargetName(host); got != want {
			t.Errorf("%q: got %q, want %q", host, got, want)
		}
	}
	s, err := OpenStore(StoreConfig{DataDir: t.TempDir(), OpenBackend: storeTestOpenBackend})
	wantNoErr(t, err)
	defer s.Close()
	if !strings.HasPrefix(s.DefaultTarget(), DefaultTargetPrefix) {
		t.Fatalf("default target %q", s.DefaultTarget())
	}
}

func TestStoreReload(t *testing.T) {
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	ctx := context.Background()
	a := storeTestLUN(t, s, "a", 1<<20)
	storeTestLUN(t, s, "gone", 512)
	wantNoErr(t, s.DeleteLUN(ctx, "gone", false))
	storeTestIGroup(t, s, "g", storeTestInit1)
	storeTestMap(t, s, "a", "g", storeID(3))
	wantNoErr(t, s.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "u1", Secret: "0123456789ab"}))
	_, err := s.CreateTarget(ctx, TargetCreate{Name: "iqn.2026-11.org.lunar:t2", Alias: "x"})
	wantNoErr(t, err)
	wantNoErr(t, s.Close())
	fi, err := os.Stat(filepath.Join(dir, StoreConfigFile))
	wantNoErr(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v", fi.Mode().Perm())
	}

	r := storeTestOpen(t, dir)
	got, err := r.LUN("a")
	wantNoErr(t, err)
	if got.WWN != a.WWN || got.Serial != a.Serial || got.Size != a.Size || len(got.Maps) != 1 || got.Maps[0].LUNID != 3 {
		t.Fatalf("reloaded %+v, was %+v", got, a)
	}
	if len(got.Initiators) != 1 || got.Initiators[0].Initiator != storeTestInit1 {
		t.Fatalf("initiators %+v", got.Initiators)
	}
	acc := r.Access(storeTestTarget, storeTestInit1)
	if !acc.Allowed || acc.CHAP == nil || acc.CHAP.Name != "u1" {
		t.Fatalf("access %+v", acc)
	}
	lu, _ := r.LogicalUnit("a")
	if l, ok := r.View(storeTestTarget, storeTestInit1).Lookup(3); !ok || l != lu {
		t.Fatal("view not rebuilt at reload")
	}
	if len(r.conf.RetiredWWNs) != 1 {
		t.Fatalf("retired %v", r.conf.RetiredWWNs)
	}
	if len(r.Targets()) != 2 {
		t.Fatalf("targets %v", r.Targets())
	}
}

func TestStoreCorruptConfig(t *testing.T) {
	for name, body := range map[string]string{
		"garbage":       "{not json",
		"unknown field": `{"version":1,"oui":1,"default_target":"iqn.2026-11.org.lunar:x","targets":[{"name":"iqn.2026-11.org.lunar:x"}],"extra":1}`,
		"bad version":   `{"version":9}`,
		"bad map":       `{"version":1,"oui":1,"default_target":"iqn.2026-11.org.lunar:x","targets":[{"name":"iqn.2026-11.org.lunar:x"}],"maps":[{"target":"iqn.2026-11.org.lunar:x","igroup":"g","lun":"a"}]}`,
		"bad lun name":  `{"version":1,"oui":1,"default_target":"iqn.2026-11.org.lunar:x","targets":[{"name":"iqn.2026-11.org.lunar:x"}],"luns":[{"name":"../x","size":512,"block_size":512}]}`,
	} {
		dir := t.TempDir()
		wantNoErr(t, os.WriteFile(filepath.Join(dir, StoreConfigFile), []byte(body), 0o600))
		if s, err := OpenStore(StoreConfig{DataDir: dir, OpenBackend: storeTestOpenBackend}); err == nil {
			s.Close()
			t.Errorf("%s: opened", name)
		}
	}
}

// storeState is a comparable summary of a store's configuration.
func storeState(s *Store) string {
	return fmt.Sprintf("%+v|%+v|%+v|%+v|%+v", s.LUNs(), s.IGroups(), s.Maps(), s.TargetList(), s.CHAPList())
}

// TestStoreCrashSafety fails each persistence step of each kind of change
// as a crash would, and checks that the change is refused, that the live
// state is unchanged, and that reopening the directory finds the old state
// (or, once the rename is done, the new one): never a broken one.
func TestStoreCrashSafety(t *testing.T) {
	ctx := context.Background()
	changes := map[string]func(s *Store) error{
		"create lun": func(s *Store) error {
			_, err := s.CreateLUN(ctx, LUNCreate{Name: "new", Size: 4096})
			return err
		},
		"resize lun": func(s *Store) error {
			_, err := s.ResizeLUN(ctx, "a", LUNResize{Size: 8192})
			return err
		},
		"delete lun": func(s *Store) error { return s.DeleteLUN(ctx, "a", true) },
		"create igroup": func(s *Store) error {
			_, err := s.CreateIGroup(ctx, IGroupCreate{Name: "h", Initiators: []string{storeTestInit2}})
			return err
		},
		"map": func(s *Store) error {
			_, err := s.Map(ctx, MapCreate{LUN: "b", IGroup: "g"})
			return err
		},
		"unmap": func(s *Store) error { return s.Unmap(ctx, "", "g", 0) },
		"set chap": func(s *Store) error {
			return s.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "n", Secret: "0123456789abcdef"})
		},
	}
	for name, change := range changes {
		for _, step := range []string{"create", "write", "sync", "close", "rename", "syncdir"} {
			t.Run(name+"/"+step, func(t *testing.T) {
				dir := t.TempDir()
				s := storeTestOpen(t, dir)
				storeTestLUN(t, s, "a", 4096)
				storeTestLUN(t, s, "b", 4096)
				storeTestIGroup(t, s, "g", storeTestInit1)
				storeTestMap(t, s, "a", "g", nil)
				before := storeState(s)

				crash := errors.New("simulated crash")
				s.persistHook = func(st string) error {
					if st == step {
						return crash
					}
					return nil
				}
				err := change(s)
				if !errors.Is(err, crash) {
					t.Fatalf("change: %v, want the crash", err)
				}
				live := storeState(s)
				s.persistHook = nil
				wantNoErr(t, s.Close())
				r := storeTestOpen(t, dir)
				after := storeState(r)
				if step == "syncdir" {
					// The rename happened: the new configuration is
					// in place, and the live state followed it.
					if live == before || after != live {
						t.Fatalf("rename done: live\n%s\nreopened\n%s\nbefore\n%s", live, after, before)
					}
					return
				}
				if live != before {
					t.Fatalf("live state changed by a failed change:\n%s\nwas\n%s", live, before)
				}
				if after != before {
					t.Fatalf("reopened state differs:\n%s\nwant\n%s", after, before)
				}
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), storeTempPrefix) {
						t.Fatalf("temporary file %s left after reopen", e.Name())
					}
				}
				// The store still works and can redo the change.
				wantNoErr(t, change(r))
			})
		}
	}
}

func TestStoreOrphanFileReplaced(t *testing.T) {
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	// A crash after the file was created but before the configuration
	// named it leaves a file behind.
	path := filepath.Join(dir, "luns", "x.img")
	wantNoErr(t, os.WriteFile(path, []byte("stale data"), 0o600))
	info := storeTestLUN(t, s, "x", 512)
	b := make([]byte, 10)
	lu, _ := s.LogicalUnit("x")
	if _, err := lu.cfg.Backend.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if string(b) == "stale data" {
		t.Fatal("stale file content served")
	}
	if info.Size != 512 {
		t.Fatalf("size %d", info.Size)
	}
}

func TestStoreClosed(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	wantNoErr(t, s.Close())
	if _, err := s.CreateLUN(context.Background(), LUNCreate{Name: "a", Size: 512}); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("create after close: %v", err)
	}
	if _, err := s.CreateIGroup(context.Background(), IGroupCreate{Name: "g"}); !errors.Is(err, ErrStoreClosed) {
		t.Fatalf("igroup after close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s2 := storeTestOpen(t, t.TempDir())
	if _, err := s2.CreateLUN(ctx, LUNCreate{Name: "a", Size: 512}); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with cancelled ctx: %v", err)
	}
}

// TestStoreConcurrentLookups reads the Directory while changes run; the
// race detector checks the snapshots are shared safely.
func TestStoreConcurrentLookups(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	ctx := context.Background()
	storeTestLUN(t, s, "a", 512)
	storeTestIGroup(t, s, "g", storeTestInit1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				v := s.View(storeTestTarget, storeTestInit1)
				for _, n := range v.LUNs() {
					if _, ok := v.Lookup(n); !ok {
						t.Error("listed LUN not found in the same view")
						return
					}
				}
				s.Access(storeTestTarget, storeTestInit1)
				s.Targets()
			}
		}()
	}
	for range 50 {
		storeTestMap(t, s, "a", "g", nil)
		wantNoErr(t, s.Unmap(ctx, "", "g", 0))
	}
	close(done)
	wg.Wait()
}

func TestLoadOrCreateToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "api-token")
	tok, err := LoadOrCreateToken(path)
	wantNoErr(t, err)
	if len(tok) != 64 {
		t.Fatalf("token %q", tok)
	}
	fi, err := os.Stat(path)
	wantNoErr(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token mode %v", fi.Mode().Perm())
	}
	again, err := LoadOrCreateToken(path)
	wantNoErr(t, err)
	if again != tok {
		t.Fatal("token changed on reload")
	}
	wantNoErr(t, os.WriteFile(path, []byte("short\n"), 0o600))
	if _, err := LoadOrCreateToken(path); err == nil {
		t.Fatal("short token accepted")
	}
}

// TestStoreFileBackend runs the store over the engine's file backend: a
// thick LUN, a resize, a reload, and a file whose size no longer matches
// the configuration (a crash between resizing it and saving).
func TestStoreFileBackend(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir)
	wantNoErr(t, err)
	ctx := context.Background()
	_, err = s.CreateLUN(ctx, LUNCreate{Name: "thick", Size: 1 << 20, Thick: true})
	wantNoErr(t, err)
	info, err := s.CreateLUN(ctx, LUNCreate{Name: "thin", Size: 1 << 20, BlockSize: 4096})
	wantNoErr(t, err)
	lu, _ := s.LogicalUnit("thin")
	_, err = s.ResizeLUN(ctx, "thin", LUNResize{Size: 2 << 20})
	wantNoErr(t, err)
	if lu.Blocks() != (2<<20)/4096 {
		t.Fatalf("LU blocks %d after resize", lu.Blocks())
	}
	wantNoErr(t, s.Close())
	wantNoErr(t, os.Truncate(info.Path, 3<<20))
	r, err := NewStore(dir)
	wantNoErr(t, err)
	defer r.Close()
	st, err := os.Stat(info.Path)
	wantNoErr(t, err)
	if st.Size() != 2<<20 {
		t.Fatalf("file size %d after reopen: want the configured %d", st.Size(), 2<<20)
	}
	lu, _ = r.LogicalUnit("thin")
	if lu.Blocks() != (2<<20)/4096 || lu.BlockSize() != 4096 {
		t.Fatalf("reopened LU %d blocks of %d", lu.Blocks(), lu.BlockSize())
	}
}

// TestStoreGroupCommit checks that changes queued behind a write are
// committed together with one more write, each with its own outcome: the
// refused one (a duplicate name) leaves no trace, the others all land.
func TestStoreGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	var writes atomic.Int32
	release := make(chan struct{})
	first := make(chan struct{})
	s.persistHook = func(step string) error {
		if step != "create" {
			return nil
		}
		if writes.Add(1) == 1 {
			close(first)
			<-release
		}
		return nil
	}
	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := s.CreateIGroup(ctx, IGroupCreate{Name: "g0", Initiators: []string{"iqn.2026-11.org.lunar:n0"}})
		errc <- err
	}()
	<-first // g0's write is in progress and holds the store

	const n = 8
	results := make(chan error, n+1)
	for i := range n {
		go func() {
			_, err := s.CreateIGroup(ctx, IGroupCreate{Name: fmt.Sprintf("g%d", i+1), Initiators: []string{fmt.Sprintf("iqn.2026-11.org.lunar:n%d", i+1)}})
			results <- err
		}()
	}
	go func() {
		_, err := s.CreateIGroup(ctx, IGroupCreate{Name: "g0"})
		results <- err
	}()
	for { // wait until every change has queued behind the first write
		s.queueMu.Lock()
		queued := len(s.queued)
		s.queueMu.Unlock()
		if queued == n+1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wantNoErr(t, <-errc)
	refused := 0
	for range n + 1 {
		if err := <-results; err != nil {
			wantStoreCode(t, err, ErrStoreConflict, "igroup_exists")
			refused++
		}
	}
	if refused != 1 {
		t.Fatalf("%d changes refused, want 1 (the duplicate)", refused)
	}
	if got := writes.Load(); got != 2 {
		t.Fatalf("%d config writes for %d changes, want 2 (one group commit behind the first)", got, n+2)
	}
	s.persistHook = nil
	if groups := s.IGroups(); len(groups) != n+1 {
		t.Fatalf("%d igroups, want %d", len(s.IGroups()), n+1)
	}
	// The batch is durable: a reopened store sees every group.
	wantNoErr(t, s.Close())
	r := storeTestOpen(t, dir)
	if groups := r.IGroups(); len(groups) != n+1 {
		t.Fatalf("after reopen: %d igroups, want %d", len(r.IGroups()), n+1)
	}
}

func TestStoreCreateLUNWithMaps(t *testing.T) {
	rec := &storeViewRecorder{}
	dir := t.TempDir()
	s := storeTestOpen(t, dir)
	s.SetOnViewChange(rec.record)
	ctx := context.Background()
	storeTestIGroup(t, s, "g1", storeTestInit1)
	storeTestIGroup(t, s, "g2", storeTestInit2)
	storeTestLUN(t, s, "old", 4096)
	storeTestMap(t, s, "old", "g1", nil)
	rec.take()

	info, err := s.CreateLUN(ctx, LUNCreate{Name: "new", Size: 4096, Maps: []MapCreate{{IGroup: "g1"}, {IGroup: "g2", LUNID: storeID(7)}}})
	wantNoErr(t, err)
	if len(info.Maps) != 2 || info.Maps[0].LUNID != 1 || info.Maps[1].LUNID != 7 {
		t.Fatalf("maps %+v: want g1 at LUN id 1 (0 is taken) and g2 at 7", info.Maps)
	}
	if got := rec.take(); !slices.Equal(got, []string{storeTestTarget + " " + storeTestInit1 + "," + storeTestInit2}) {
		t.Fatalf("view changes %q: want one change naming both initiators", got)
	}
	if luns := s.View(storeTestTarget, storeTestInit2).LUNs(); !slices.Equal(luns, []uint64{7}) {
		t.Fatalf("init2 sees %v", luns)
	}

	// A refused map refuses the whole create: no LUN, no file, no map.
	for _, tc := range []struct {
		maps []MapCreate
		err  error
		code string
	}{
		{[]MapCreate{{IGroup: "g1"}, {IGroup: "nope"}}, ErrStoreNotFound, "igroup_not_found"},
		{[]MapCreate{{IGroup: "g1", LUNID: storeID(0)}}, ErrStoreConflict, "lun_id_in_use"},
		{[]MapCreate{{IGroup: "g1", LUNID: storeID(MaxLUNID + 1)}}, ErrStoreInvalid, "invalid_lun_id"},
		{[]MapCreate{{IGroup: "g1", LUN: "old"}}, ErrStoreInvalid, "invalid_map"},
		{[]MapCreate{{IGroup: "g1", Target: "iqn.2026-11.org.example:none"}}, ErrStoreNotFound, "target_not_found"},
	} {
		_, err := s.CreateLUN(ctx, LUNCreate{Name: "refused", Size: 4096, Maps: tc.maps})
		wantStoreCode(t, err, tc.err, tc.code)
		if _, ok := s.LogicalUnit("refused"); ok {
			t.Fatalf("%+v: the LUN exists", tc.maps)
		}
		if _, err := os.Stat(filepath.Join(dir, "luns", "refused.img")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%+v: backing file: %v", tc.maps, err)
		}
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("refused creates changed views: %q", got)
	}
	if n := len(s.Maps()); n != 3 {
		t.Fatalf("%d maps: want 3", n)
	}
	// The maps survive a restart.
	wantNoErr(t, s.Close())
	s = storeTestOpen(t, dir)
	if luns := s.View(storeTestTarget, storeTestInit1).LUNs(); !slices.Equal(luns, []uint64{0, 1}) {
		t.Fatalf("after reopening init1 sees %v", luns)
	}
}
