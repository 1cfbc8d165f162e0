package target

import (
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/lunarsan/lunar/internal/leakcheck"
)

// apiTestListen serves a real API server on loopback and returns a client
// of it; the server is closed, and goroutines checked, at cleanup.
func apiTestListen(t *testing.T, s *Store, cfg APIConfig) *Client {
	t.Helper()
	before := runtime.NumGoroutine()
	cfg.Store = s
	if cfg.Token == "" {
		cfg.Token = apiTestToken
	}
	a, err := NewAPIServer(cfg)
	wantNoErr(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	wantNoErr(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Serve(l) }()
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if leaked := leakcheck.Wait(before, 5*time.Second); leaked != "" {
			t.Errorf("goroutines leaked:\n%s", leaked)
		}
	})
	return NewClient("http://"+l.Addr().String(), cfg.Token, hc)
}

func wantAPIError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v: want *APIError", err)
	}
	if ae.Status != status || ae.Code != code || ae.Message == "" {
		t.Fatalf("error %+v: want %d %s", ae, status, code)
	}
}

func TestClient(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	c := apiTestListen(t, s, APIConfig{})
	ctx := context.Background()

	wantNoErr(t, c.Health(ctx))
	lun, err := c.CreateLUN(ctx, LUNCreate{Name: "a", Size: 1 << 20, BlockSize: 4096})
	wantNoErr(t, err)
	if lun.BlockSize != 4096 || lun.WWN == "" {
		t.Fatalf("created %+v", lun)
	}
	_, err = c.CreateLUN(ctx, LUNCreate{Name: "a", Size: 4096})
	wantAPIError(t, err, http.StatusConflict, "lun_exists")
	list, err := c.LUNs(ctx)
	wantNoErr(t, err)
	if len(list) != 1 {
		t.Fatalf("LUNs %+v", list)
	}
	lun, err = c.ResizeLUN(ctx, "a", LUNResize{Size: 2 << 20})
	wantNoErr(t, err)
	if lun.Size != 2<<20 {
		t.Fatalf("resized %+v", lun)
	}
	_, err = c.LUN(ctx, "nope")
	wantAPIError(t, err, http.StatusNotFound, "lun_not_found")
	if !IsNotFound(err) {
		t.Fatal("IsNotFound")
	}

	g, err := c.CreateIGroup(ctx, IGroupCreate{Name: "g", Initiators: []string{storeTestInit1}})
	wantNoErr(t, err)
	if len(g.Initiators) != 1 {
		t.Fatalf("group %+v", g)
	}
	g, err = c.AddInitiator(ctx, "g", storeTestInit2)
	wantNoErr(t, err)
	if len(g.Initiators) != 2 {
		t.Fatalf("group %+v", g)
	}
	g, err = c.RemoveInitiator(ctx, "g", storeTestInit2)
	wantNoErr(t, err)
	if len(g.Initiators) != 1 {
		t.Fatalf("group %+v", g)
	}
	gs, err := c.IGroups(ctx)
	wantNoErr(t, err)
	if len(gs) != 1 {
		t.Fatalf("groups %+v", gs)
	}
	m, err := c.Map(ctx, MapCreate{LUN: "a", IGroup: "g"})
	wantNoErr(t, err)
	if m.LUNID != 0 {
		t.Fatalf("map %+v", m)
	}
	id := uint64(0)
	_, err = c.Map(ctx, MapCreate{LUN: "a", IGroup: "g", LUNID: &id})
	wantAPIError(t, err, http.StatusConflict, "lun_already_mapped")
	ms, err := c.Maps(ctx)
	wantNoErr(t, err)
	if len(ms) != 1 {
		t.Fatalf("maps %+v", ms)
	}
	g, err = c.IGroup(ctx, "g")
	wantNoErr(t, err)
	if len(g.Maps) != 1 {
		t.Fatalf("group maps %+v", g.Maps)
	}
	lun, err = c.LUN(ctx, "a")
	wantNoErr(t, err)
	if len(lun.Maps) != 1 || len(lun.Initiators) != 1 {
		t.Fatalf("LUN %+v", lun)
	}
	wantAPIError(t, c.DeleteLUN(ctx, "a", false), http.StatusConflict, "lun_mapped")
	wantAPIError(t, c.DeleteIGroup(ctx, "g", false), http.StatusConflict, "igroup_mapped")

	const t2 = "iqn.2026-11.org.lunar:client"
	ti, err := c.CreateTarget(ctx, TargetCreate{Name: t2, Alias: "c"})
	wantNoErr(t, err)
	if ti.Name != t2 {
		t.Fatalf("target %+v", ti)
	}
	ts, err := c.Targets(ctx)
	wantNoErr(t, err)
	if len(ts) != 2 {
		t.Fatalf("targets %+v", ts)
	}
	wantNoErr(t, c.SetTargetCHAP(ctx, t2, CHAPSecret{Name: "tgt", Secret: "target-secret"}))
	wantNoErr(t, c.ClearTargetCHAP(ctx, t2))
	wantNoErr(t, c.DeleteTarget(ctx, t2, false))
	wantNoErr(t, c.SetCHAP(ctx, storeTestInit1, CHAPSecret{Name: "u", Secret: "initiator-secret"}))
	cl, err := c.CHAP(ctx)
	wantNoErr(t, err)
	if len(cl) != 1 || cl[0].Name != "u" {
		t.Fatalf("chap %+v", cl)
	}
	wantNoErr(t, c.ClearCHAP(ctx, storeTestInit1))
	sess, err := c.Sessions(ctx)
	wantNoErr(t, err)
	if len(sess) != 0 {
		t.Fatalf("sessions %+v", sess)
	}

	wantNoErr(t, c.Unmap(ctx, storeTestTarget, "g", 0))
	wantAPIError(t, c.Unmap(ctx, storeTestTarget, "g", 0), http.StatusNotFound, "map_not_found")
	wantNoErr(t, c.DeleteIGroup(ctx, "g", false))
	wantNoErr(t, c.DeleteLUN(ctx, "a", false))

	bad := NewClient(c.base.String(), "wrong-token-wrong-token", c.hc)
	wantNoErr(t, bad.Health(ctx))
	_, err = bad.LUNs(ctx)
	wantAPIError(t, err, http.StatusUnauthorized, APICodeUnauthorized)
	_, err = NewClient("not a url", "x", nil).LUNs(ctx)
	if err == nil {
		t.Fatal("bad base URL accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.LUNs(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestClientForceDeletes(t *testing.T) {
	s := storeTestOpen(t, t.TempDir())
	c := apiTestListen(t, s, APIConfig{})
	ctx := context.Background()
	_, err := c.CreateLUN(ctx, LUNCreate{Name: "a", Size: 4096})
	wantNoErr(t, err)
	_, err = c.CreateIGroup(ctx, IGroupCreate{Name: "g", Initiators: []string{storeTestInit1}})
	wantNoErr(t, err)
	_, err = c.Map(ctx, MapCreate{LUN: "a", IGroup: "g"})
	wantNoErr(t, err)
	_, err = c.ResizeLUN(ctx, "a", LUNResize{Size: 512})
	wantAPIError(t, err, http.StatusConflict, "shrink_refused")
	_, err = c.ResizeLUN(ctx, "a", LUNResize{Size: 512, Force: true})
	wantNoErr(t, err)
	wantNoErr(t, c.DeleteLUN(ctx, "a", true))
	if s.Access(storeTestTarget, storeTestInit1).Allowed {
		t.Fatal("still allowed after a forced delete")
	}
	wantNoErr(t, c.DeleteIGroup(ctx, "g", true))
}
