package openiscsi

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/lunarsan/lunar/internal/gptlayout"
)

// Format layout, the same as the cluster package's portable format: one
// GPT partition from 1 MiB to the last whole MiB before the final one.
const (
	// FormatAlign is the partition's alignment.
	FormatAlign = gptlayout.Align
	// MinFormatSize is the smallest disk Format formats.
	MinFormatSize = gptlayout.MinDiskSize
	// MaxPartitionName is the length of a GPT partition name.
	MaxPartitionName = gptlayout.MaxPartitionName
	// MaxExt4Label is the length of an ext4 volume label in bytes.
	MaxExt4Label = 16
)

// Ext4Label returns the ext4 label Format writes for label: its first 16
// bytes, cut at a character boundary.
func Ext4Label(label string) string {
	if len(label) <= MaxExt4Label {
		return label
	}
	n := 0
	for i := range label {
		if i > MaxExt4Label {
			break
		}
		n = i
	}
	return label[:n]
}

// Format writes a GPT on the disk wwn with one partition named label (as
// the cluster package's ReadLabel reads it back), makes the kernel
// re-read the table, waits for the partition's device node and runs
// mkfs.ext4 on it with the filesystem label Ext4Label(label), then
// flushes the disk. The disk's previous contents are lost.
func (e *Engine) Format(ctx context.Context, wwn, label string) error {
	if label == "" || len([]rune(label)) > MaxPartitionName || strings.ContainsAny(label, "\x00\n") {
		return engineError(ErrInvalid, "label %q: want 1 to %d characters", label, MaxPartitionName)
	}
	key := strings.ToLower(wwn)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return errClosed
	}
	fm, ok := e.formats[key]
	if !ok {
		fm = new(sync.Mutex)
		e.formats[key] = fm
	}
	e.mu.Unlock()
	fm.Lock()
	defer fm.Unlock()

	d, ok, err := e.findDisk(wwn, nil)
	if err != nil {
		return err
	}
	if !ok {
		return engineError(ErrNoDisk, "disk %s is not connected on this host", wwn)
	}
	bs := int64(d.BlockSize)
	if bs != 512 && bs != 4096 {
		return engineError(ErrInvalid, "disk %s: block size %d: format needs 512 or 4096", wwn, bs)
	}
	if d.Size < MinFormatSize {
		return engineError(ErrInvalid, "disk %s of %d bytes is too small to format: want at least %d", wwn, d.Size, MinFormatSize)
	}
	path := filepath.Join(e.cfg.Dev, d.Name)
	if err := writeGPT(path, d.Size, bs, label); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return ctxErr(ctx, "format "+wwn)
	}
	part, err := e.waitPartition(ctx, d.Name)
	if err != nil {
		return err
	}
	ppath := filepath.Join(e.cfg.Dev, part)
	out, code, err := e.cfg.Run(ctx, e.cfg.Mkfs, "-t", "ext4", "-F", "-q", "-L", Ext4Label(label), ppath)
	if err != nil {
		if ctx.Err() != nil {
			return ctxErr(ctx, "mkfs.ext4 on "+ppath)
		}
		return engineError(ErrSetup, "mkfs.ext4 on %s: %v", ppath, err)
	}
	if code != 0 {
		return engineError(ErrFailed, "%s on %s exited %d: %s", e.cfg.Mkfs, ppath, code, lastLine(string(out)))
	}
	if err := flushDevice(path); err != nil {
		return engineError(ErrFailed, "format %s: %v", wwn, err)
	}
	e.cfg.Logger.Info().Str("wwn", wwn).Str("partition", ppath).Str("label", label).Msg("formatted ext4")
	return nil
}

// writeGPT writes the partition table on the block device path and
// makes the kernel re-read it.
func writeGPT(path string, size, bs int64, label string) error {
	dk, err := diskfs.Open(path, diskfs.WithOpenMode(diskfs.ReadWrite), diskfs.WithSectorSize(diskfs.SectorSize(bs)))
	if err != nil {
		return engineError(ErrFailed, "open %s: %v", path, err)
	}
	defer dk.Close()
	table := gptlayout.Table(size, bs, label, gpt.LinuxFilesystem)
	err = dk.Partition(table)
	if err != nil && !errors.Is(err, disk.ErrReReadDeferred) {
		return engineError(ErrFailed, "write the partition table on %s: %v", path, err)
	}
	// The table went through the page cache: write it to the disk.
	if err := flushDevice(path); err != nil {
		return engineError(ErrFailed, "%v", err)
	}
	return nil
}

// waitPartition waits for partition 1 of the block device name to appear
// in sysfs and as a device node.
func (e *Engine) waitPartition(ctx context.Context, name string) (string, error) {
	backoff := 10 * time.Millisecond
	t := time.NewTimer(backoff)
	defer t.Stop()
	for {
		if part, ok := e.sys.partition(name, 1); ok {
			if _, err := os.Stat(filepath.Join(e.cfg.Dev, part)); err == nil {
				return part, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("openiscsi: partition 1 of %s did not appear: %w", name, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, e.cfg.MaxBackoff)
		t.Reset(backoff)
	}
}
