package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lunarsan/lunar/target"
)

func TestTargetServe(t *testing.T) {
	dir := t.TempDir()
	type addrs struct{ iscsi, api string }
	ready := make(chan addrs, 1)
	logger := zerolog.Nop()
	cmd := newTargetCommand(&logger, func(i, a string) { ready <- addrs{i, a} })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"serve", "--data", dir, "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	}
	tok, err := os.ReadFile(filepath.Join(dir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "api-token")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token mode %v", fi.Mode().Perm())
	}
	c := target.NewClient("http://"+a.api, string(bytes.TrimSpace(tok)), nil)
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := c.CreateLUN(cctx, target.LUNCreate{Name: "served", Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateIGroup(cctx, target.IGroupCreate{Name: "g", Initiators: []string{cliTestInit1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Map(cctx, target.MapCreate{LUN: "served", IGroup: "g"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sessions(cctx); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", a.iscsi)
	if err != nil {
		t.Fatalf("iSCSI portal: %v", err)
	}
	conn.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "luns", "served.img")); err != nil {
		t.Fatal(err)
	}
	// The configuration is still there at the next start.
	s, err := target.NewStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if l, err := s.LUN("served"); err != nil || len(l.Maps) != 1 {
		t.Fatalf("reloaded %+v %v", l, err)
	}
}

func TestTargetServeBadAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, err = run(t, "target", "serve", "--data", t.TempDir(), "--listen", l.Addr().String(), "--api", "127.0.0.1:0")
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("--listen")) {
		t.Fatalf("busy portal: %v", err)
	}
}

func TestTargetServeAdvertiseCount(t *testing.T) {
	_, _, err := run(t, "target", "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0",
		"--advertise", "10.0.2.2:3260", "--advertise", "10.0.2.2:3261", "--api", "127.0.0.1:0")
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("--advertise")) {
		t.Fatalf("two --advertise for one --listen: %v", err)
	}
}
