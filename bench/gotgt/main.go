// Command gotgt serves one file-backed LUN with gotgt v0.2.2, so that
// scripts/bench-target.sh can measure gotgt side by side with lunar's
// target and tgtd. It is a measured peer, never a source: lunar's own
// target does not use gotgt.
//
// Usage:
//
//	gotgt -file /path/lun.img -portal 127.0.0.1:3260 -iqn iqn.2026-01.org.example:t [-lun 0] [-log warn]
//
// gotgt keeps its LUN map and its iSCSI driver in process-wide singletons,
// so run one process per target and per measurement. It exits on SIGINT or
// SIGTERM.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/gostor/gotgt/pkg/config"
	_ "github.com/gostor/gotgt/pkg/port/iscsit" // registers the "iscsi" target driver
	"github.com/gostor/gotgt/pkg/scsi"
	_ "github.com/gostor/gotgt/pkg/scsi/backingstore" // registers the "file" backing store
	log "github.com/sirupsen/logrus"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gotgt:", err)
		os.Exit(1)
	}
}

func run() error {
	file := flag.String("file", "", "backing `file` of the LUN (required; its size is the LUN's size)")
	portal := flag.String("portal", "127.0.0.1:3260", "iSCSI portal `host:port`")
	iqn := flag.String("iqn", "iqn.2026-01.org.lunar:bench-gotgt", "target `name`")
	lun := flag.Uint64("lun", 0, "LUN `number` of the file")
	level := flag.String("log", "warn", "gotgt's log `level`: debug, info, warn or error")
	flag.Parse()
	if flag.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if *file == "" {
		return errors.New("-file is required")
	}
	abs, err := filepath.Abs(*file)
	if err != nil {
		return err
	}
	if _, err := os.Stat(abs); err != nil {
		return err
	}
	lvl, err := log.ParseLevel(*level)
	if err != nil {
		return err
	}
	log.SetLevel(lvl)
	log.SetOutput(os.Stderr)

	_, portStr, err := net.SplitHostPort(*portal)
	if err != nil {
		return fmt.Errorf("-portal %q: %w", *portal, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("-portal %q: bad port", *portal)
	}

	const deviceID = 1000
	cfg := &config.Config{
		Storages: []config.BackendStorage{{
			DeviceID:   deviceID,
			Path:       "file:" + abs,
			Online:     true,
			BlockShift: 9,
		}},
		ISCSIPortals: []config.ISCSIPortalInfo{{ID: 0, Portal: *portal}},
		ISCSITargets: map[string]config.ISCSITarget{
			*iqn: {
				TPGTs: map[string][]uint64{"1": {0}},
				LUNs:  map[string]uint64{strconv.FormatUint(*lun, 10): deviceID},
			},
		},
	}
	if err := scsi.InitSCSILUMap(cfg); err != nil {
		return err
	}
	driver, err := scsi.NewTargetDriver("iscsi", scsi.NewSCSITargetService())
	if err != nil {
		return err
	}
	if err := driver.NewTarget(*iqn, cfg); err != nil {
		return err
	}

	// Run listens on every address at port and only returns when its
	// listener fails (it exits the process itself when it cannot listen).
	done := make(chan error, 1)
	go func() { done <- driver.Run(port) }()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-stop:
		return nil
	case err := <-done:
		if err == nil {
			err = errors.New("the iSCSI listener stopped")
		}
		return err
	}
}
