package openiscsi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
)

// Runner runs one command to completion. It returns what the command
// printed (standard output and standard error together) and its exit
// code; err is set only when the command could not run or was stopped
// (then wrapping ctx.Err() when ctx ended). Tests inject their own to
// record the calls.
type Runner func(ctx context.Context, name string, args ...string) (output []byte, code int, err error)

// ExecRunner runs the command with os/exec; ctx ending kills it.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return out, 0, nil
	}
	if ctx.Err() != nil {
		return out, -1, fmt.Errorf("openiscsi: %s: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return out, ee.ExitCode(), nil
	}
	return out, -1, fmt.Errorf("openiscsi: run %s: %w", name, err)
}

// iscsiadm runs iscsiadm. Calls that change open-iscsi's node database
// (discovery, node records, login, logout) run one at a time: iscsiadm
// takes a lock on the database and fails or waits when another holds it.
// Session queries and rescans run concurrently.
type iscsiadm struct {
	path string
	run  Runner
	db   chan struct{} // a token: held by the node database call running
}

func newIscsiadm(path string, run Runner) *iscsiadm {
	a := &iscsiadm{path: path, run: run, db: make(chan struct{}, 1)}
	return a
}

// lock takes the node database token, or fails when ctx ends first.
func (a *iscsiadm) lock(ctx context.Context) error {
	select {
	case a.db <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("openiscsi: wait for the node database: %w", ctx.Err())
	}
}

func (a *iscsiadm) unlock() { <-a.db }

// exec runs iscsiadm with args. A non-zero exit is an *ExitError naming
// op; a run that could not start or was stopped is returned as the
// runner's error. secret, when not empty, is replaced by "***" in the
// error's arguments.
func (a *iscsiadm) exec(ctx context.Context, op, secret string, args ...string) (string, error) {
	out, code, err := a.run(ctx, a.path, args...)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
		return string(out), fmt.Errorf("openiscsi: %s: %w", op, err)
	}
	if code != 0 {
		shown := make([]string, len(args))
		for i, s := range args {
			if secret != "" && s == secret {
				s = "***"
			}
			shown[i] = s
		}
		return string(out), &ExitError{Op: op, Args: shown, Code: ExitCode(code), Output: strings.TrimSpace(string(out))}
	}
	return string(out), nil
}

// Session is one iSCSI session as `iscsiadm -m session` lists it.
type Session struct {
	// Transport is the transport's name ("tcp").
	Transport string
	// SID is the session's id (sysfs's sessionN).
	SID int
	// Portal is the current portal, "host:port".
	Portal string
	// TPGT is the target portal group tag.
	TPGT int
	// Target is the target IQN.
	Target string
}

// ParseSessions parses the output of `iscsiadm -m session`, one session a
// line: "tcp: [1] 10.99.1.1:3260,1 iqn.2026-11.org.lunar:target (non-flash)".
// Lines it cannot read are skipped.
func ParseSessions(out string) []Session {
	var ss []Session
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasSuffix(f[0], ":") || !strings.HasPrefix(f[1], "[") || !strings.HasSuffix(f[1], "]") {
			continue
		}
		sid, err := strconv.Atoi(f[1][1 : len(f[1])-1])
		if err != nil {
			continue
		}
		portal, tpgt, ok := splitPortalTPGT(f[2])
		if !ok {
			continue
		}
		ss = append(ss, Session{Transport: strings.TrimSuffix(f[0], ":"), SID: sid, Portal: portal, TPGT: tpgt, Target: f[3]})
	}
	return ss
}

// splitPortalTPGT splits "10.0.0.1:3260,1" (or "[fe80::1]:3260,1").
func splitPortalTPGT(s string) (portal string, tpgt int, ok bool) {
	i := strings.LastIndexByte(s, ',')
	if i < 0 {
		return "", 0, false
	}
	t, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return "", 0, false
	}
	host, port, err := net.SplitHostPort(s[:i])
	if err != nil {
		return "", 0, false
	}
	return net.JoinHostPort(host, port), t, true
}

// DiscoveredTarget is one line of a SendTargets discovery.
type DiscoveredTarget struct {
	// Portal is the address the target advertises, "host:port".
	Portal string
	// TPGT is the target portal group tag.
	TPGT int
	// Target is the target IQN.
	Target string
}

// ParseDiscovery parses the output of `iscsiadm -m discovery -t st -p
// PORTAL`: "10.99.1.1:3260,1 iqn.2026-11.org.lunar:target" a line. Other
// lines (iscsiadm's messages) are skipped.
func ParseDiscovery(out string) []DiscoveredTarget {
	var ts []DiscoveredTarget
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		portal, tpgt, ok := splitPortalTPGT(f[0])
		if !ok {
			continue
		}
		ts = append(ts, DiscoveredTarget{Portal: portal, TPGT: tpgt, Target: f[1]})
	}
	return ts
}

// SessionDetail is one session of `iscsiadm -m session -P 3`.
type SessionDetail struct {
	// Target is the target IQN.
	Target string
	// Portal is the current portal, "host:port".
	Portal string
	// SID is the session's id.
	SID int
	// State is the iSCSI session state ("LOGGED_IN").
	State string
	// Host is the SCSI host number.
	Host int
	// LUNs are the session's logical units, in the order printed.
	LUNs []AttachedLUN
}

// AttachedLUN is a logical unit under "Attached SCSI devices".
type AttachedLUN struct {
	// LUN is the LUN number.
	LUN uint64
	// Disk is the block device's name ("sda"); empty for a unit that is
	// not a disk.
	Disk string
	// State is the SCSI device's state ("running").
	State string
}

// ParseSessionDetail parses the output of `iscsiadm -m session -P 3`
// (print level 3: sessions with their attached SCSI devices). Lines it
// does not know are skipped, so later open-iscsi versions' additions do
// not break it.
func ParseSessionDetail(out string) []SessionDetail {
	var ds []SessionDetail
	var cur *SessionDetail
	var lun *AttachedLUN
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		key, val, hasColon := strings.Cut(line, ":")
		val = strings.TrimSpace(val)
		switch {
		case hasColon && key == "Target":
			name := ""
			if f := strings.Fields(val); len(f) > 0 {
				name = f[0]
			}
			ds = append(ds, SessionDetail{Target: name, SID: -1, Host: -1})
			cur, lun = &ds[len(ds)-1], nil
		case cur == nil:
		case hasColon && key == "Current Portal":
			if cur.SID >= 0 || cur.Portal != "" {
				// Another session to the same target: iscsiadm prints
				// its portal block under the same Target line.
				ds = append(ds, SessionDetail{Target: cur.Target, SID: -1, Host: -1})
				cur, lun = &ds[len(ds)-1], nil
			}
			if p, _, ok := splitPortalTPGT(val); ok {
				cur.Portal = p
			}
		case hasColon && key == "SID":
			if n, err := strconv.Atoi(val); err == nil {
				cur.SID = n
			}
		case hasColon && key == "iSCSI Session State":
			cur.State = val
		case strings.HasPrefix(line, "Host Number:"):
			f := strings.Fields(line)
			if len(f) >= 3 {
				if n, err := strconv.Atoi(f[2]); err == nil {
					cur.Host = n
				}
			}
		case strings.HasPrefix(line, "scsi") && strings.Contains(line, " Lun:"):
			_, l, _ := strings.Cut(line, " Lun:")
			if n, err := strconv.ParseUint(strings.TrimSpace(l), 10, 64); err == nil {
				cur.LUNs = append(cur.LUNs, AttachedLUN{LUN: n})
				lun = &cur.LUNs[len(cur.LUNs)-1]
			}
		case strings.HasPrefix(line, "Attached scsi disk") && lun != nil:
			f := strings.Fields(line)
			if len(f) >= 4 {
				lun.Disk = f[3]
			}
			if _, st, ok := strings.Cut(line, "State:"); ok {
				lun.State = strings.TrimSpace(st)
			}
		}
	}
	return ds
}
