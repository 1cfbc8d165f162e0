package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/initiator"
	"github.com/lunarsan/lunar/iscsi"
)

// initiatorIQNPrefix is the default initiator name without its host part.
const initiatorIQNPrefix = "iqn.2026-11.org.lunar:initiator-"

// initiatorTimeout bounds the connect, login and management commands of
// discover, ls, read and write (not bench's I/O, which --duration bounds).
const initiatorTimeout = 60 * time.Second

// initiatorFlags are the flags of every initiator command that logs in.
type initiatorFlags struct {
	name             string
	chapUser         string
	chapSecretFile   string
	mutualUser       string
	mutualSecretFile string
	output           string
}

// add registers the flags on cmd (persistent, for its subcommands).
func (f *initiatorFlags) add(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.name, "initiator-name", defaultInitiatorName(), "this initiator's iSCSI name")
	p.StringVar(&f.chapUser, "chap-user", "", "CHAP user name the initiator logs in with (needs --chap-secret-file)")
	p.StringVar(&f.chapSecretFile, "chap-secret-file", "", "file holding the CHAP secret (12 to 255 bytes; a trailing newline is ignored)")
	p.StringVar(&f.mutualUser, "mutual-user", "", "name the target must prove for mutual CHAP (needs --mutual-secret-file)")
	p.StringVar(&f.mutualSecretFile, "mutual-secret-file", "", "file holding the target's mutual CHAP secret")
	p.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// defaultInitiatorName derives a stable initiator name from the host name,
// so that the same host logs in under the same name (and ISID) each run.
func defaultInitiatorName() string {
	h, err := os.Hostname()
	if err != nil {
		h = ""
	}
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		return initiatorIQNPrefix + "localhost"
	}
	return initiatorIQNPrefix + b.String()
}

// config builds the session configuration for portal and targetName.
func (f *initiatorFlags) config(portal, targetName string) (initiator.Config, error) {
	cfg := initiator.Config{InitiatorName: f.name, Portal: portal, TargetName: targetName}
	if f.name == "" {
		return cfg, fmt.Errorf("--initiator-name is empty: give an iSCSI name such as %s", defaultInitiatorName())
	}
	switch {
	case f.chapUser != "" && f.chapSecretFile == "":
		return cfg, fmt.Errorf("--chap-user needs --chap-secret-file (secrets are never taken on the command line)")
	case f.chapUser == "" && f.chapSecretFile != "":
		return cfg, fmt.Errorf("--chap-secret-file needs --chap-user")
	case f.mutualUser != "" && f.mutualSecretFile == "":
		return cfg, fmt.Errorf("--mutual-user needs --mutual-secret-file (secrets are never taken on the command line)")
	case f.mutualUser == "" && f.mutualSecretFile != "":
		return cfg, fmt.Errorf("--mutual-secret-file needs --mutual-user")
	case f.mutualUser != "" && f.chapUser == "":
		return cfg, fmt.Errorf("mutual CHAP needs one-way CHAP too: add --chap-user and --chap-secret-file")
	}
	if f.chapUser != "" {
		s, err := readSecretFile("--chap-secret-file", f.chapSecretFile)
		if err != nil {
			return cfg, err
		}
		cfg.CHAP = &initiator.CHAP{Name: f.chapUser, Secret: s}
	}
	if f.mutualUser != "" {
		s, err := readSecretFile("--mutual-secret-file", f.mutualSecretFile)
		if err != nil {
			return cfg, err
		}
		cfg.MutualCHAP = &initiator.CHAP{Name: f.mutualUser, Secret: s}
	}
	return cfg, nil
}

// explainLogin turns a discovery or login error into one that says what
// to do.
func explainLogin(err error, portal, targetName string) error {
	if err == nil {
		return nil
	}
	var le *iscsi.LoginError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &le):
		return fmt.Errorf("%s: %w (is the target at %s reachable?)", portal, err, portal)
	case errors.Is(err, iscsi.ErrCHAPAuthFailed), errors.Is(err, iscsi.ErrCHAPMissingKey), errors.Is(err, iscsi.ErrCHAPProtocol):
		return fmt.Errorf("CHAP authentication with %s failed: %w\ncheck --chap-user and --chap-secret-file (and --mutual-user, --mutual-secret-file for mutual CHAP)", portal, err)
	case errors.As(err, &le):
		switch {
		case le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailAuthenticationFailure:
			return fmt.Errorf("CHAP authentication with %s failed: %w\ncheck --chap-user and --chap-secret-file; the target may require CHAP", portal, err)
		case le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailAuthorizationFailure:
			return fmt.Errorf("%s refused initiator access to %s: %w\nadd this initiator's name (--initiator-name) to the target's ACL", portal, targetName, err)
		case le.Class == iscsi.LoginClassInitiatorError && le.Detail == iscsi.LoginDetailNotFound:
			return fmt.Errorf("%s has no target %q: %w\nlist its targets with lunar initiator discover %s", portal, targetName, err, portal)
		}
		return fmt.Errorf("login to %s at %s: %w", targetName, portal, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ne) {
		return fmt.Errorf("%w\ncheck that an iSCSI target listens at %s", err, portal)
	}
	return err
}

// initiatorCtx returns the command's context bounded by initiatorTimeout.
func initiatorCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, initiatorTimeout)
}

// print writes v as JSON, or calls table to write it as a table.
func (f *initiatorFlags) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	c := clientFlags{output: f.output}
	return c.print(w, v, table)
}

// newInitiatorCommand builds "lunar initiator": lunar's own iSCSI
// initiator from the command line.
func newInitiatorCommand() *cobra.Command {
	var f initiatorFlags
	cmd := &cobra.Command{
		Use:   "initiator",
		Short: "Discover targets, list LUNs, read and write blocks and benchmark with lunar's iSCSI initiator",
	}
	f.add(cmd)
	cmd.AddCommand(newInitiatorDiscover(&f), newInitiatorLs(&f), newInitiatorRead(&f), newInitiatorWrite(&f),
		newInitiatorBench(&f))
	return cmd
}

// discoveredJSON is one target of "initiator discover --output json".
type discoveredJSON struct {
	Target  string   `json:"target"`
	Portals []string `json:"portals"`
}

func newInitiatorDiscover(f *initiatorFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "discover PORTAL",
		Short: "List the targets a portal offers (SendTargets discovery)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			cfg, err := f.config(args[0], "")
			if err != nil {
				return err
			}
			ctx, cancel := initiatorCtx(cmd)
			defer cancel()
			list, err := initiator.Discover(ctx, cfg)
			if err != nil {
				return explainLogin(err, args[0], "")
			}
			out := make([]discoveredJSON, 0, len(list))
			for _, t := range list {
				p := t.Portals
				if p == nil {
					p = []string{}
				}
				out = append(out, discoveredJSON{Target: t.Name, Portals: p})
			}
			return f.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TARGET\tPORTALS")
				for _, t := range out {
					fmt.Fprintf(tw, "%s\t%s\n", t.Target, strings.Join(t.Portals, ","))
				}
			})
		},
	}
}

// lunJSON is one logical unit of "initiator ls --output json".
type lunJSON struct {
	Target string `json:"target"`
	initiator.DiskInfo
}

func newInitiatorLs(f *initiatorFlags) *cobra.Command {
	var targetName string
	cmd := &cobra.Command{
		Use:   "ls PORTAL [--target IQN]",
		Short: "Log in to each target (or the one given) and list its LUNs: WWN, size, block size, vendor, product",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			portal := args[0]
			ctx, cancel := initiatorCtx(cmd)
			defer cancel()
			targets := []string{targetName}
			if targetName == "" {
				cfg, err := f.config(portal, "")
				if err != nil {
					return err
				}
				list, err := initiator.Discover(ctx, cfg)
				if err != nil {
					return explainLogin(err, portal, "")
				}
				targets = targets[:0]
				for _, t := range list {
					targets = append(targets, t.Name)
				}
			}
			out := []lunJSON{}
			for _, tn := range targets {
				cfg, err := f.config(portal, tn)
				if err != nil {
					return err
				}
				s, err := initiator.Dial(ctx, cfg)
				if err != nil {
					return explainLogin(err, portal, tn)
				}
				infos, err := initiator.Rescan(ctx, s)
				s.Logout(ctx)
				if err != nil {
					return fmt.Errorf("scan the LUNs of %s: %w", tn, err)
				}
				for _, d := range infos {
					out = append(out, lunJSON{Target: tn, DiskInfo: d})
				}
			}
			return f.print(cmd.OutOrStdout(), out, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "TARGET\tLUN\tWWN\tSIZE\tBLOCK\tVENDOR\tPRODUCT")
				for _, l := range out {
					size, block, wwn := "-", "-", l.WWN
					if l.IsDisk() && l.BlockSize > 0 {
						size, block = formatSize(l.Size), fmt.Sprint(l.BlockSize)
					}
					if wwn == "" {
						wwn = "-"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", l.Target, l.LUN, wwn, size, block, l.Vendor, l.Product)
				}
			})
		},
	}
	cmd.Flags().StringVar(&targetName, "target", "", "list only this target (default: every target discovery finds)")
	return cmd
}

// ioFlags are the flags of read and write.
type ioFlags struct {
	target string
	lun    uint64
	lba    uint64
	blocks uint64
	file   string
}

func (o *ioFlags) add(cmd *cobra.Command, fileFlag, fileHelp string) {
	cmd.Flags().StringVar(&o.target, "target", "", "target IQN to log in to (required; see lunar initiator discover)")
	cmd.Flags().Uint64Var(&o.lun, "lun", 0, "LUN number")
	cmd.Flags().Uint64Var(&o.lba, "lba", 0, "first logical block")
	cmd.Flags().Uint64Var(&o.blocks, "blocks", 0, "number of logical blocks")
	cmd.Flags().StringVar(&o.file, fileFlag, "-", fileHelp)
}

// open logs in and opens the disk at o.lun.
func (o *ioFlags) open(ctx context.Context, f *initiatorFlags, portal string) (*initiator.Session, *initiator.Disk, error) {
	if o.target == "" {
		return nil, nil, fmt.Errorf("--target is required: list the targets with lunar initiator discover %s", portal)
	}
	cfg, err := f.config(portal, o.target)
	if err != nil {
		return nil, nil, err
	}
	s, err := initiator.Dial(ctx, cfg)
	if err != nil {
		return nil, nil, explainLogin(err, portal, o.target)
	}
	d, err := initiator.OpenDiskConfig(ctx, s, o.lun, initiator.DiskConfig{Concurrency: 4})
	if err != nil {
		s.Logout(ctx)
		return nil, nil, fmt.Errorf("open LUN %d of %s: %w (list the LUNs with lunar initiator ls %s --target %s)", o.lun, o.target, err, portal, o.target)
	}
	return s, d, nil
}

// ioChunk is how many bytes read and write move per ReadAt or WriteAt.
const ioChunk = 4 << 20

func newInitiatorRead(f *initiatorFlags) *cobra.Command {
	var o ioFlags
	cmd := &cobra.Command{
		Use:   "read PORTAL --target IQN --lun N --lba L --blocks B [--out FILE|-]",
		Short: "Read logical blocks from a LUN to a file or standard output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.blocks == 0 {
				return fmt.Errorf("--blocks is required and must be at least 1")
			}
			ctx, cancel := initiatorCtx(cmd)
			defer cancel()
			s, d, err := o.open(ctx, f, args[0])
			if err != nil {
				return err
			}
			defer s.Logout(context.Background())
			if o.lba > d.Blocks() || o.blocks > d.Blocks()-o.lba {
				return fmt.Errorf("blocks %d to %d are beyond the end of LUN %d (%d blocks of %d bytes)",
					o.lba, o.lba+o.blocks-1, o.lun, d.Blocks(), d.BlockSize())
			}
			w := cmd.OutOrStdout()
			if o.file != "-" {
				fh, err := os.Create(o.file)
				if err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				defer fh.Close()
				w = fh
			}
			bs := int64(d.BlockSize())
			off, end := int64(o.lba)*bs, int64(o.lba+o.blocks)*bs
			buf := make([]byte, min(end-off, ioChunk/bs*bs))
			for off < end {
				p := buf[:min(int64(len(buf)), end-off)]
				if _, err := d.ReadAtContext(ctx, p, off); err != nil {
					return fmt.Errorf("read LBA %d: %w", off/bs, err)
				}
				if _, err := w.Write(p); err != nil {
					return fmt.Errorf("write the output: %w", err)
				}
				off += int64(len(p))
			}
			if fh, ok := w.(*os.File); ok && o.file != "-" {
				return fh.Close()
			}
			return nil
		},
	}
	o.add(cmd, "out", "output file, - for standard output")
	return cmd
}

func newInitiatorWrite(f *initiatorFlags) *cobra.Command {
	var o ioFlags
	cmd := &cobra.Command{
		Use:   "write PORTAL --target IQN --lun N --lba L [--blocks B] [--in FILE|-]",
		Short: "Write whole logical blocks from a file or standard input to a LUN",
		Long: "Write whole logical blocks from a file or standard input to a LUN, from --lba on.\n" +
			"The input must be a whole number of blocks (and exactly --blocks blocks when given).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if o.file != "-" {
				fh, err := os.Open(o.file)
				if err != nil {
					return fmt.Errorf("--in: %w", err)
				}
				defer fh.Close()
				r = fh
			}
			ctx, cancel := initiatorCtx(cmd)
			defer cancel()
			s, d, err := o.open(ctx, f, args[0])
			if err != nil {
				return err
			}
			defer s.Logout(context.Background())
			bs := int64(d.BlockSize())
			if o.lba >= d.Blocks() {
				return fmt.Errorf("--lba %d is beyond the end of LUN %d (%d blocks)", o.lba, o.lun, d.Blocks())
			}
			room := int64(d.Blocks()-o.lba) * bs
			if o.blocks > 0 {
				if o.blocks > d.Blocks()-o.lba {
					return fmt.Errorf("blocks %d to %d are beyond the end of LUN %d (%d blocks of %d bytes)",
						o.lba, o.lba+o.blocks-1, o.lun, d.Blocks(), bs)
				}
				room = int64(o.blocks) * bs
			}
			data, err := io.ReadAll(io.LimitReader(r, room+1))
			if err != nil {
				return fmt.Errorf("read the input: %w", err)
			}
			n := int64(len(data))
			switch {
			case n == 0:
				return fmt.Errorf("the input is empty: nothing to write")
			case n > room && o.blocks > 0:
				return fmt.Errorf("the input is longer than --blocks %d (%d bytes)", o.blocks, room)
			case n > room:
				return fmt.Errorf("the input is longer than the %d bytes from LBA %d to the end of LUN %d", room, o.lba, o.lun)
			case n%bs != 0:
				return fmt.Errorf("the input is %d bytes, not a whole number of %d-byte blocks: a write never sends a partial block; pad it to %d bytes",
					n, bs, (n/bs+1)*bs)
			case o.blocks > 0 && n != room:
				return fmt.Errorf("the input is %d blocks, --blocks says %d", n/bs, o.blocks)
			}
			off := int64(o.lba) * bs
			for done := int64(0); done < n; {
				p := data[done:min(n, done+ioChunk/bs*bs)]
				if _, err := d.WriteAtContext(ctx, p, off+done); err != nil {
					return fmt.Errorf("write LBA %d: %w", (off+done)/bs, err)
				}
				done += int64(len(p))
			}
			if err := d.Sync(ctx); err != nil {
				return fmt.Errorf("SYNCHRONIZE CACHE: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d blocks of %d bytes at LBA %d of LUN %d\n", n/bs, bs, o.lba, o.lun)
			return nil
		},
	}
	o.add(cmd, "in", "input file, - for standard input")
	return cmd
}
