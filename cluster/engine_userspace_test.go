package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/target"
)

// agentTestToken is the bearer token of the test target and agents.
const agentTestToken = "test-token-0123456789abcdef"

// agentTarget is a lunar target served in process on loopback.
type agentTarget struct {
	store      *target.Store
	srv        *target.Server
	api        *target.APIServer
	storage    *target.Client
	portal     string
	apiURL     string
	targetName string
}

// startAgentTarget starts a target (iSCSI portal and management API on
// 127.0.0.1 ports of their own) and stops it at the end of the test.
func startAgentTarget(t *testing.T) *agentTarget {
	t.Helper()
	store, err := target.OpenStore(target.StoreConfig{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := target.NewServer(target.ServerConfig{Directory: store, Executor: &target.Engine{}})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	store.SetOnViewChange(srv.ViewChanged)
	api, err := target.NewAPIServer(target.APIConfig{Store: store, Token: agentTestToken, Sessions: srv.Sessions})
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pl.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(pl, "") })
	wg.Go(func() { _ = api.Serve(al) })
	tt := &agentTarget{
		store: store, srv: srv, api: api,
		portal:     pl.Addr().String(),
		apiURL:     "http://" + al.Addr().String(),
		targetName: store.DefaultTarget(),
	}
	tt.storage = target.NewClient(tt.apiURL, agentTestToken, &http.Client{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = api.Close(ctx)
		_ = srv.Close(ctx)
		wg.Wait()
		_ = store.Close()
	})
	return tt
}

// createLUN creates a LUN of size bytes and returns it.
func (tt *agentTarget) createLUN(t *testing.T, name string, size int64) target.LUNInfo {
	t.Helper()
	l, err := tt.storage.CreateLUN(context.Background(), target.LUNCreate{Name: name, Size: size})
	if err != nil {
		t.Fatalf("create LUN %s: %v", name, err)
	}
	return l
}

// ref is the target's TargetRef.
func (tt *agentTarget) ref() TargetRef { return TargetRef{Name: tt.targetName, Portal: tt.portal} }

// newAgentEngine returns a UserspaceEngine closed at the end of the test.
func newAgentEngine(t *testing.T, iqn string) *UserspaceEngine {
	t.Helper()
	e := NewUserspaceEngine(UserspaceConfig{InitiatorName: iqn, RescanInterval: -1})
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// mapTo maps lun to a new igroup holding iqn.
func (tt *agentTarget) mapTo(t *testing.T, iqn, group, lun string) {
	t.Helper()
	ctx := context.Background()
	if _, err := tt.storage.IGroup(ctx, group); target.IsNotFound(err) {
		if _, err := tt.storage.CreateIGroup(ctx, target.IGroupCreate{Name: group, Initiators: []string{iqn}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tt.storage.Map(ctx, target.MapCreate{LUN: lun, IGroup: group}); err != nil {
		t.Fatal(err)
	}
}

func TestUserspaceEngineArrivalOnUnitAttention(t *testing.T) {
	tt := startAgentTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const iqn = "iqn.2026-11.org.lunar:engine-test"
	e := newAgentEngine(t, iqn)
	a := tt.createLUN(t, "a", 8<<20)
	b := tt.createLUN(t, "b", 16<<20)
	tt.mapTo(t, iqn, "g", "a")

	// Concurrent logins dial once.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = e.Login(ctx, tt.ref()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
	}
	sessions, err := tt.storage.Sessions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countAgentSessions(sessions, iqn); n != 1 {
		t.Fatalf("%d sessions of %s on the target, want 1", n, iqn)
	}
	if got := e.Sessions(); len(got) != 1 {
		t.Fatalf("engine sessions = %v, want one", got)
	}

	d, err := e.WaitForDisk(ctx, tt.ref(), a.WWN)
	if err != nil {
		t.Fatalf("WaitForDisk(a): %v", err)
	}
	if !strings.EqualFold(d.WWN, a.WWN) || d.Size != a.Size || d.Target != tt.targetName || d.Portal != tt.portal {
		t.Fatalf("disk a = %+v, want WWN %s size %d", d, a.WWN, a.Size)
	}

	// b is mapped while a waiter waits: the target's REPORTED LUNS DATA
	// HAS CHANGED makes the watcher rescan (polling is off).
	type result struct {
		d   DiskStatus
		err error
	}
	got := make(chan result, 1)
	go func() {
		d, err := e.WaitForDisk(ctx, tt.ref(), b.WWN)
		got <- result{d, err}
	}()
	tt.mapTo(t, iqn, "g", "b")
	r := <-got
	if r.err != nil {
		t.Fatalf("WaitForDisk(b): %v", r.err)
	}
	if r.d.Size != b.Size || r.d.LUN != 1 {
		t.Fatalf("disk b = %+v, want size %d at LUN 1", r.d, b.Size)
	}

	dev, err := e.Open(ctx, b.WWN)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if dev.Size() != b.Size || dev.BlockSize() != 512 {
		t.Fatalf("device size %d block %d", dev.Size(), dev.BlockSize())
	}
	buf := make([]byte, 4096)
	copy(buf, "lunar")
	if _, err := dev.WriteAt(buf, 8192); err != nil {
		t.Fatal(err)
	}
	disks, _ := e.Disks(ctx)
	if len(disks) != 2 {
		t.Fatalf("Disks = %+v, want 2", disks)
	}
	if err := e.Release(ctx, b.WWN); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := e.Open(ctx, b.WWN); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Release = %v, want ErrNotFound", err)
	}
	if err := e.Release(ctx, b.WWN); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if err := e.Logout(ctx, tt.ref()); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if disks, _ := e.Disks(ctx); len(disks) != 0 {
		t.Fatalf("Disks after Logout = %+v", disks)
	}
	if err := e.Logout(ctx, tt.ref()); err != nil {
		t.Fatalf("second Logout: %v", err)
	}
	// Login again after a logout dials a new session.
	if _, err := e.WaitForDisk(ctx, tt.ref(), a.WWN); err != nil {
		t.Fatalf("WaitForDisk after a new login: %v", err)
	}
}

func TestUserspaceEngineTimeoutAndClose(t *testing.T) {
	tt := startAgentTarget(t)
	const iqn = "iqn.2026-11.org.lunar:engine-timeout"
	e := NewUserspaceEngine(UserspaceConfig{InitiatorName: iqn})
	tt.createLUN(t, "a", 8<<20)
	tt.mapTo(t, iqn, "g", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := e.WaitForDisk(ctx, tt.ref(), "naa.6000000000000000000000000000dead")
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("WaitForDisk of a disk that never arrives = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("timed out after %v, want about 300ms", el)
	}
	// A waiter blocked when the engine closes is released.
	done := make(chan error, 1)
	go func() {
		_, err := e.WaitForDisk(context.Background(), tt.ref(), "naa.6000000000000000000000000000beef")
		done <- err
	}()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("WaitForDisk returned no error after Close")
	}
	if err := e.Login(context.Background(), tt.ref()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Login after Close = %v, want ErrUnavailable", err)
	}
	// A portal nobody listens on.
	e2 := newAgentEngine(t, iqn)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if err := e2.Login(context.Background(), TargetRef{Name: tt.targetName, Portal: dead}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Login to a dead portal = %v, want ErrUnavailable", err)
	}
}

func countAgentSessions(ss []target.APISession, iqn string) int {
	n := 0
	for _, s := range ss {
		if strings.EqualFold(s.Initiator, iqn) {
			n++
		}
	}
	return n
}

// WaitForDiskAt finds the disk whether or not it is at the LUN given.
func TestUserspaceEngineWaitForDiskAt(t *testing.T) {
	tt := startAgentTarget(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const iqn = "iqn.2026-11.org.lunar:engine-at"
	a := tt.createLUN(t, "a", 8<<20)
	b := tt.createLUN(t, "b", 16<<20)
	tt.mapTo(t, iqn, "g", "a")
	tt.mapTo(t, iqn, "g", "b")
	for _, tc := range []struct {
		lun  uint64
		want target.LUNInfo
		at   uint64
	}{
		{0, a, 0}, {1, b, 1}, // where the storage system put them
		{1, a, 0}, {7, b, 1}, // a wrong LUN: found where it is
	} {
		e := newAgentEngine(t, iqn)
		if err := e.Login(ctx, tt.ref()); err != nil {
			t.Fatal(err)
		}
		d, err := e.WaitForDiskAt(ctx, tt.ref(), tc.want.WWN, tc.lun)
		if err != nil {
			t.Fatalf("WaitForDiskAt(%s, LUN %d): %v", tc.want.Name, tc.lun, err)
		}
		if !strings.EqualFold(d.WWN, tc.want.WWN) || d.Size != tc.want.Size || d.LUN != tc.at {
			t.Fatalf("WaitForDiskAt(%s, LUN %d) = %+v, want size %d at LUN %d", tc.want.Name, tc.lun, d, tc.want.Size, tc.at)
		}
		// The next engine logs in with the same name: this one must be
		// gone, or the two would reinstate each other's session.
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
