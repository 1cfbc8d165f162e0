package openiscsi

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lunarsan/lunar/initiator"
)

const (
	tName   = "iqn.2026-11.org.lunar:vm"
	tPortal = "10.99.1.1:3260"
)

func newTestEngine(t *testing.T, h *fakeHost, r *recorder, mod func(*Config)) *Engine {
	t.Helper()
	cfg := Config{
		Iscsiadm: "/sbin/iscsiadm", Sysfs: h.sys, Dev: h.dev, Run: r.run,
		InitiatorNameFile: filepath.Join(h.dev, "no-initiatorname"),
		MinBackoff:        time.Millisecond, MaxBackoff: 5 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func has(args []string, s string) bool { return strings.Contains(strings.Join(args, " "), s) }

func TestLoginDiscoveryCHAPLogin(t *testing.T) {
	h := newFakeHost(t)
	r := &recorder{}
	r.handle = func(_ context.Context, args []string) (string, int) {
		switch {
		case has(args, "-m discovery"):
			return tPortal + ",1 " + tName + "\n", 0
		case has(args, "--login"):
			h.addSession(1, tName, "10.99.1.1", "3260")
			return "Logging in to [iface: default, target: " + tName + ", portal: 10.99.1.1,3260]\nLogin to [iface: default, target: " + tName + ", portal: 10.99.1.1,3260] successful.\n", 0
		}
		return "", 0
	}
	e := newTestEngine(t, h, r, func(c *Config) {
		c.CHAP = &initiator.CHAP{Name: "user1", Secret: []byte("secret-secret-1")}
		c.MutualCHAP = &initiator.CHAP{Name: "tgt", Secret: []byte("secret-secret-2")}
	})
	ref := initiator.TargetRef{Name: tName, Portal: tPortal}
	if err := e.Login(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	node := "-m node -T " + tName + " -p " + tPortal
	wantEqual(t, "calls", r.callList(), []string{
		"-m discovery -t st -p " + tPortal,
		node + " -o update -n node.session.auth.authmethod -v CHAP",
		node + " -o update -n node.session.auth.username -v user1",
		node + " -o update -n node.session.auth.password -v secret-secret-1",
		node + " -o update -n node.session.auth.username_in -v tgt",
		node + " -o update -n node.session.auth.password_in -v secret-secret-2",
		node + " --login",
	})
	// A session is there now: the next Login runs nothing.
	if err := e.Login(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if n := len(r.callList()); n != 7 {
		t.Fatalf("second Login ran iscsiadm: %v", r.callList()[7:])
	}
}

func TestLoginCreatesRecordWhenDiscoveryMisses(t *testing.T) {
	for _, disc := range []struct {
		name string
		out  string
		code int
	}{
		{"other address", "192.0.2.9:3260,1 " + tName + "\n", 0},
		{"discovery fails", readFixture(t, "discovery-unresolvable.txt"), 4},
	} {
		t.Run(disc.name, func(t *testing.T) {
			h := newFakeHost(t)
			r := &recorder{}
			r.handle = func(_ context.Context, args []string) (string, int) {
				switch {
				case has(args, "-m discovery"):
					return disc.out, disc.code
				case has(args, "--login"):
					h.addSession(1, tName, "10.99.1.1", "3260")
				}
				return "", 0
			}
			e := newTestEngine(t, h, r, nil)
			if err := e.Login(t.Context(), initiator.TargetRef{Name: tName, Portal: tPortal}); err != nil {
				t.Fatal(err)
			}
			node := "-m node -T " + tName + " -p " + tPortal
			wantEqual(t, "calls", r.callList(), []string{"-m discovery -t st -p " + tPortal, node + " -o new", node + " --login"})
		})
	}
}

func TestLoginExitCodes(t *testing.T) {
	tests := []struct {
		fixture string
		out     string
		code    int
		want    []error // nil: success
	}{
		{fixture: "login-exists.txt", code: 15},
		{fixture: "login-no-record.txt", code: 21, want: []error{ErrNoObjects, initiator.ErrEngineNotFound}},
		{out: "iscsiadm: Could not login to [iface: default, target: " + tName + ", portal: 10.99.1.1,3260].\niscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)\niscsiadm: Could not log into all portals\n",
			code: 24, want: []error{ErrAuthFailed, initiator.ErrEngineUnavailable}},
		{out: "iscsiadm: initiator reported error (19 - encountered non-retryable iSCSI login failure)\n", code: 19, want: []error{ErrLoginFailed, initiator.ErrEngineUnavailable}},
		{out: "iscsiadm: initiator reported error (8 - connection timed out)\n", code: 8, want: []error{ErrConnect, initiator.ErrEngineUnavailable}},
		{out: "iscsiadm: can not connect to iSCSI daemon (111)!\n", code: 20, want: []error{ErrDaemon, initiator.ErrEngineUnavailable}},
		{out: "iscsiadm: Could not open /run/lock/iscsi: No such file or directory\n", code: 6, want: []error{ErrSetup, initiator.ErrEngineUnavailable}},
		{out: "iscsiadm: invalid parameter\n", code: 7, want: []error{ErrInvalid, initiator.ErrEngineInvalid}},
		{out: "", code: 99, want: []error{ErrFailed, initiator.ErrEngineUnavailable}},
	}
	for _, tt := range tests {
		out := tt.out
		if tt.fixture != "" {
			out = readFixture(t, tt.fixture)
		}
		t.Run(ExitCode(tt.code).String(), func(t *testing.T) {
			h := newFakeHost(t)
			r := &recorder{handle: func(_ context.Context, args []string) (string, int) {
				if has(args, "--login") {
					return out, tt.code
				}
				return "", 0
			}}
			e := newTestEngine(t, h, r, nil)
			err := e.Login(t.Context(), initiator.TargetRef{Name: tName, Portal: tPortal})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("exit %d: %v, want success", tt.code, err)
				}
				return
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Fatalf("exit %d: %v, want errors.Is %v", tt.code, err, w)
				}
			}
			var ee *ExitError
			if !errors.As(err, &ee) || ee.Code != ExitCode(tt.code) {
				t.Fatalf("exit %d: %v: want an *ExitError with the code", tt.code, err)
			}
			if l := lastLine(out); l != "" && !strings.Contains(err.Error(), l) {
				t.Fatalf("error %q does not quote iscsiadm's %q", err, l)
			}
		})
	}
}

func TestCHAPSecretNotInErrors(t *testing.T) {
	h := newFakeHost(t)
	r := &recorder{handle: func(_ context.Context, args []string) (string, int) {
		if has(args, "node.session.auth.password") {
			return "iscsiadm: Could not write to node record\n", 6
		}
		return "", 0
	}}
	e := newTestEngine(t, h, r, func(c *Config) { c.CHAP = &initiator.CHAP{Name: "u", Secret: []byte("very-secret-value")} })
	err := e.Login(t.Context(), initiator.TargetRef{Name: tName, Portal: tPortal})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != ExitNodeDatabase {
		t.Fatalf("%v: want exit 6", err)
	}
	if strings.Contains(err.Error(), "very-secret") || strings.Contains(strings.Join(ee.Args, " "), "very-secret") {
		t.Fatalf("the CHAP secret leaks: %v %v", err, ee.Args)
	}
}

// Concurrent Logins to different targets run iscsiadm's node database
// calls one at a time.
func TestLoginsSerialised(t *testing.T) {
	h := newFakeHost(t)
	var sid sync.Mutex
	next := 1
	r := &recorder{entered: make(chan string), released: make(chan struct{})}
	r.handle = func(_ context.Context, args []string) (string, int) {
		switch {
		case has(args, "-m discovery"):
			return "iscsiadm: No portals found\n", 21
		case has(args, "--login"):
			sid.Lock()
			n := next
			next++
			sid.Unlock()
			h.addSession(n, args[3], "10.99.1.1", "3260")
		}
		return "", 0
	}
	e := newTestEngine(t, h, r, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for _, name := range []string{"iqn.t:a", "iqn.t:b", "iqn.t:c"} {
		wg.Go(func() { errs <- e.Login(t.Context(), initiator.TargetRef{Name: name, Portal: tPortal}) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	calls := 0
loop:
	for {
		select {
		case <-r.entered:
			calls++
			r.released <- struct{}{}
		case <-done:
			break loop
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if calls != 9 { // discovery, -o new, --login for each target
		t.Fatalf("%d node database calls, want 9: %v", calls, r.callList())
	}
	if m := r.maxDB(); m != 1 {
		t.Fatalf("%d node database calls ran at once, want 1", m)
	}
}

// Waits for two disks overlap: each wait's rescan blocks until the other's
// has started, which deadlocks (and times out) if the waits ran one at a
// time.
func TestWaitForDiskOverlap(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(1, tName, "10.99.1.1", "3260")
	var mu sync.Mutex
	rescans := 0
	both := make(chan struct{})
	var arrive sync.Once
	r := &recorder{handle: func(ctx context.Context, args []string) (string, int) {
		if !has(args, "--rescan") {
			return "", 0
		}
		mu.Lock()
		rescans++
		if rescans == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
		case <-ctx.Done():
			return "", -1
		}
		arrive.Do(func() {
			h.addDisk(1, 1, "sdb", "naa.6001405000000000000000000000000b", 2048, false)
			h.addDisk(1, 2, "sdc", "naa.6001405000000000000000000000000c", 4096, false)
		})
		return "", 0
	}}
	e := newTestEngine(t, h, r, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ref := initiator.TargetRef{Name: tName, Portal: tPortal}
	type result struct {
		st  initiator.DiskStatus
		err error
	}
	res := make(chan result, 2)
	for _, w := range []string{"naa.6001405000000000000000000000000b", "NAA.6001405000000000000000000000000C"} {
		go func() {
			st, err := e.WaitForDisk(ctx, ref, w)
			res <- result{st, err}
		}()
	}
	got := map[string]initiator.DiskStatus{}
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Fatalf("WaitForDisk: %v (did the waits overlap?)", r.err)
		}
		got[r.st.Path] = r.st
	}
	wantEqual(t, "sdc", got[filepath.Join(h.dev, "sdc")], initiator.DiskStatus{
		WWN: "naa.6001405000000000000000000000000c", Serial: "SERsdc", Target: tName, Portal: tPortal,
		LUN: 2, Size: 4096 * 512, BlockSize: 512, Path: filepath.Join(h.dev, "sdc"),
	})
	if _, ok := got[filepath.Join(h.dev, "sdb")]; !ok {
		t.Fatalf("no sdb: %v", got)
	}
	for _, c := range r.callList() {
		if c != "-m session -r 1 --rescan" {
			t.Fatalf("unexpected call %q", c)
		}
	}
}

func TestWaitForDiskDeadline(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(3, tName, "10.99.1.1", "3260")
	r := &recorder{}
	e := newTestEngine(t, h, r, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	_, err := e.WaitForDisk(ctx, initiator.TargetRef{Name: tName, Portal: tPortal}, "naa.6001405000000000000000000000000b")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v: want context.DeadlineExceeded", err)
	}
	calls := r.callList()
	if len(calls) < 2 || calls[0] != "-m session -r 3 --rescan" {
		t.Fatalf("calls %v: want repeated rescans of session 3", calls)
	}
}

func TestWaitForDiskNoSessionAndBadArgs(t *testing.T) {
	h := newFakeHost(t)
	e := newTestEngine(t, h, &recorder{}, nil)
	_, err := e.WaitForDisk(t.Context(), initiator.TargetRef{Name: tName, Portal: tPortal}, "naa.6001405000000000000000000000000b")
	if !errors.Is(err, ErrNoObjects) || !errors.Is(err, initiator.ErrEngineNotFound) {
		t.Fatalf("%v: want ErrNoObjects", err)
	}
	if _, err := e.WaitForDisk(t.Context(), initiator.TargetRef{Name: tName, Portal: "nope"}, "naa.1"); !errors.Is(err, initiator.ErrEngineInvalid) {
		t.Fatalf("%v: want ErrEngineInvalid", err)
	}
	if err := e.Login(t.Context(), initiator.TargetRef{Portal: tPortal}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v: want ErrInvalid", err)
	}
}

// Logout logs out only of sessions with no disk left, and drops the node
// record when none is left.
func TestLogoutOnlyIdleSessions(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(1, tName, "10.99.1.1", "3260")
	h.addDisk(1, 0, "sda", "naa.6001405000000000000000000000000a", 2048, false)
	r := &recorder{}
	e := newTestEngine(t, h, r, nil)
	ref := initiator.TargetRef{Name: tName, Portal: tPortal}
	if err := e.Logout(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if c := r.callList(); len(c) != 0 {
		t.Fatalf("logged out of a session with a disk: %v", c)
	}
	h.removeDisk("sda")
	r.handle = func(_ context.Context, args []string) (string, int) {
		if has(args, "-o delete") {
			return "", 21
		}
		return "", 0
	}
	if err := e.Logout(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, "calls", r.callList(), []string{
		"-m session -r 1 --logout",
		"-m node -T " + tName + " -p " + tPortal + " -o delete",
	})
}

func TestDisksAndOpenUnknown(t *testing.T) {
	h := newFakeHost(t)
	h.addSession(2, "iqn.t:b", "192.0.2.2", "3260")
	h.addSession(1, "iqn.t:a", "192.0.2.1", "3260")
	h.addDisk(2, 4, "sdb", "naa.6001405000000000000000000000000b", 2048, false)
	h.addDisk(1, 3, "sda", "naa.6001405000000000000000000000000a", 4096, false)
	e := newTestEngine(t, h, &recorder{}, nil)
	disks, err := e.Disks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 2 || disks[0].Target != "iqn.t:a" || disks[0].LUN != 3 || disks[0].Portal != "192.0.2.1:3260" ||
		disks[1].Path != filepath.Join(h.dev, "sdb") || disks[1].Size != 2048*512 {
		t.Fatalf("disks %+v", disks)
	}
	_, err = e.Open(t.Context(), "naa.60014050000000000000000000000fff")
	if !errors.Is(err, ErrNoDisk) || !errors.Is(err, initiator.ErrEngineNotFound) {
		t.Fatalf("%v: want ErrNoDisk", err)
	}
}

func TestNewChecksInitiatorName(t *testing.T) {
	h := newFakeHost(t)
	f := filepath.Join(h.dev, "initiatorname.iscsi")
	h.write(f, "## DO NOT EDIT\nInitiatorName=iqn.2026-11.org.lunar:node-node1\n")
	if got, err := ReadInitiatorName(f); err != nil || got != "iqn.2026-11.org.lunar:node-node1" {
		t.Fatalf("ReadInitiatorName = %q, %v", got, err)
	}
	if _, err := New(Config{InitiatorName: "iqn.2026-11.org.lunar:node-node1", InitiatorNameFile: f}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{InitiatorName: "iqn.other:x", InitiatorNameFile: f}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("%v: want ErrInvalid for a name iscsid does not use", err)
	}
	h.write(f, "# nothing\n")
	if _, err := ReadInitiatorName(f); !errors.Is(err, ErrSetup) {
		t.Fatalf("%v: want ErrSetup", err)
	}
}
