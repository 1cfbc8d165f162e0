package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// newLUNCommand builds "lunar lun": LUN management through the target's
// API.
func newLUNCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "lun",
		Short: "Create, resize, delete, list, show, map and unmap LUNs on a lunar target",
	}
	f.add(cmd)
	cmd.AddCommand(newLUNCreate(&f), newLUNResize(&f), newLUNDelete(&f), newLUNList(&f), newLUNShow(&f),
		newLUNMap(&f), newLUNUnmap(&f))
	return cmd
}

func printLUNs(f *clientFlags, cmd *cobra.Command, v any, luns []target.LUNInfo) error {
	return f.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAME\tSIZE\tBLOCK\tTYPE\tWWN\tSERIAL\tMAPS")
		for _, l := range luns {
			typ := "thick"
			if l.Thin {
				typ = "thin"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\n", l.Name, formatSize(l.Size), l.BlockSize, typ, l.WWN, l.Serial, len(l.Maps))
		}
	})
}

func newLUNCreate(f *clientFlags) *cobra.Command {
	var size string
	var blockSize uint32
	var thick bool
	var mapTo []string
	var mapTarget string
	cmd := &cobra.Command{
		Use:   "create NAME --size SIZE [--map IGROUP]...",
		Short: "Create a LUN (a file under the target's data directory) with a new WWN and serial",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			n, err := requiredSize(size, "10G")
			if err != nil {
				return err
			}
			req := target.LUNCreate{Name: args[0], Size: n, BlockSize: blockSize, Thick: thick}
			for _, g := range mapTo {
				req.Maps = append(req.Maps, target.MapCreate{IGroup: g, Target: mapTarget})
			}
			info, err := c.CreateLUN(ctx, req)
			if err != nil {
				return f.explain(err)
			}
			return printLUNs(f, cmd, info, []target.LUNInfo{info})
		}),
	}
	cmd.Flags().StringVar(&size, "size", "", "size with unit K, M, G, T (powers of 1024), a multiple of the block size")
	cmd.Flags().Uint32Var(&blockSize, "block-size", 512, "logical block size: 512 or 4096")
	cmd.Flags().BoolVar(&thick, "thick", false, "allocate the whole file now (default thin: sparse)")
	cmd.Flags().StringArrayVar(&mapTo, "map", nil, "map the new LUN to this initiator group in the same request (repeatable; a refused map creates nothing)")
	cmd.Flags().StringVar(&mapTarget, "map-target", "", "target IQN of the --map maps (default: the default target)")
	return cmd
}

func newLUNResize(f *clientFlags) *cobra.Command {
	var size string
	var force bool
	cmd := &cobra.Command{
		Use:   "resize NAME --size SIZE",
		Short: "Grow a LUN (shrinking needs --force and discards its tail)",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			n, err := requiredSize(size, "20G")
			if err != nil {
				return err
			}
			info, err := c.ResizeLUN(ctx, args[0], target.LUNResize{Size: n, Force: force})
			if err != nil {
				return f.explain(err)
			}
			return printLUNs(f, cmd, info, []target.LUNInfo{info})
		}),
	}
	cmd.Flags().StringVar(&size, "size", "", "new size with unit K, M, G, T")
	cmd.Flags().BoolVar(&force, "force", false, "allow shrinking, which discards data")
	return cmd
}

func newLUNDelete(f *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a LUN and its file (a mapped LUN needs --force, which unmaps it everywhere)",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if err := c.DeleteLUN(ctx, args[0], force); err != nil {
				return f.explain(err)
			}
			if f.output == "json" {
				return f.print(cmd.OutOrStdout(), map[string]string{"deleted": args[0]}, nil)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "LUN %s deleted\n", args[0])
			return err
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even if mapped (unmaps it first)")
	return cmd
}

func newLUNList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the LUNs",
		Args:  cobra.NoArgs,
		RunE: f.runE(func(cmd *cobra.Command, _ []string, ctx context.Context, c *target.Client) error {
			luns, err := c.LUNs(ctx)
			if err != nil {
				return f.explain(err)
			}
			return printLUNs(f, cmd, luns, luns)
		}),
	}
}

func newLUNShow(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a LUN: identity, size, maps, initiators and sessions that see it",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			l, err := c.LUN(ctx, args[0])
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), l, func(tw *tabwriter.Writer) {
				typ := "thick"
				if l.Thin {
					typ = "thin"
				}
				fmt.Fprintf(tw, "Name:\t%s\n", l.Name)
				fmt.Fprintf(tw, "Size:\t%s (%d bytes)\n", formatSize(l.Size), l.Size)
				fmt.Fprintf(tw, "Block size:\t%d\n", l.BlockSize)
				fmt.Fprintf(tw, "Type:\t%s\n", typ)
				fmt.Fprintf(tw, "WWN:\t%s\n", l.WWN)
				fmt.Fprintf(tw, "Serial:\t%s\n", l.Serial)
				fmt.Fprintf(tw, "Path:\t%s\n", l.Path)
				fmt.Fprintln(tw, "Maps:")
				for _, m := range l.Maps {
					fmt.Fprintf(tw, "  %s\tigroup %s\tLUN id %d\n", m.Target, m.IGroup, m.LUNID)
				}
				fmt.Fprintln(tw, "Initiators:")
				for _, i := range l.Initiators {
					fmt.Fprintf(tw, "  %s\t%s\tLUN id %d\n", i.Initiator, i.Target, i.LUNID)
				}
				fmt.Fprintln(tw, "Sessions:")
				for _, s := range l.Sessions {
					fmt.Fprintf(tw, "  %s\tISID %s TSIH %d\tLUN id %d\n", s.Initiator, s.ISID, s.TSIH, s.LUNID)
				}
			})
		}),
	}
}

func newLUNMap(f *clientFlags) *cobra.Command {
	var igroup, tgt string
	var lunID int64
	cmd := &cobra.Command{
		Use:   "map LUN --igroup GROUP",
		Short: "Map a LUN to an initiator group (at the lowest free LUN id unless --lun-id)",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if igroup == "" {
				return fmt.Errorf("--igroup is required: the initiator group that will see the LUN (see lunar igroup list)")
			}
			if lunID < -1 {
				return fmt.Errorf("--lun-id %d: want 0 to %d, or leave it out for the lowest free id", lunID, target.MaxLUNID)
			}
			req := target.MapCreate{LUN: args[0], IGroup: igroup, Target: tgt}
			if lunID >= 0 {
				id := uint64(lunID)
				req.LUNID = &id
			}
			m, err := c.Map(ctx, req)
			if err != nil {
				return f.explain(err)
			}
			return printMaps(f, cmd, m, []target.MapInfo{m})
		}),
	}
	cmd.Flags().StringVar(&igroup, "igroup", "", "initiator group")
	cmd.Flags().StringVar(&tgt, "target", "", "target IQN (default: the default target)")
	cmd.Flags().Int64Var(&lunID, "lun-id", -1, "LUN id the initiators see (default: lowest free)")
	return cmd
}

func newLUNUnmap(f *clientFlags) *cobra.Command {
	var igroup, tgt string
	var lunID int64
	cmd := &cobra.Command{
		Use:   "unmap LUN --igroup GROUP",
		Short: "Remove a LUN's map to an initiator group",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if igroup == "" {
				return fmt.Errorf("--igroup is required: the initiator group to unmap the LUN from")
			}
			l, err := c.LUN(ctx, args[0])
			if err != nil {
				return f.explain(err)
			}
			var found []target.MapInfo
			for _, m := range l.Maps {
				if m.IGroup == igroup && (tgt == "" || m.Target == tgt) && (lunID < 0 || m.LUNID == uint64(lunID)) {
					found = append(found, m)
				}
			}
			switch len(found) {
			case 0:
				return fmt.Errorf("LUN %s is not mapped to group %s%s: see lunar lun show %s", args[0], igroup, where(tgt, lunID), args[0])
			case 1:
			default:
				return fmt.Errorf("LUN %s is mapped %d times to group %s: give --target and --lun-id", args[0], len(found), igroup)
			}
			m := found[0]
			if err := c.Unmap(ctx, m.Target, m.IGroup, m.LUNID); err != nil {
				return f.explain(err)
			}
			if f.output == "json" {
				return f.print(cmd.OutOrStdout(), m, nil)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "LUN %s unmapped from group %s on %s (LUN id %d)\n", m.LUN, m.IGroup, m.Target, m.LUNID)
			return err
		}),
	}
	cmd.Flags().StringVar(&igroup, "igroup", "", "initiator group")
	cmd.Flags().StringVar(&tgt, "target", "", "target IQN (needed when the LUN is mapped to the group on several targets)")
	cmd.Flags().Int64Var(&lunID, "lun-id", -1, "LUN id of the map (needed when ambiguous)")
	return cmd
}

func where(tgt string, lunID int64) string {
	s := ""
	if tgt != "" {
		s += " on " + tgt
	}
	if lunID >= 0 {
		s += " at LUN id " + strconv.FormatInt(lunID, 10)
	}
	return s
}

func printMaps(f *clientFlags, cmd *cobra.Command, v any, maps []target.MapInfo) error {
	return f.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "TARGET\tIGROUP\tLUN\tLUN ID")
		for _, m := range maps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m.Target, m.IGroup, m.LUN, m.LUNID)
		}
	})
}

// requiredSize parses the --size flag, which the command needs; example
// shows a value in the error when it is missing.
func requiredSize(size, example string) (int64, error) {
	if size == "" {
		return 0, fmt.Errorf("--size is required, e.g. --size %s", example)
	}
	n, err := parseSize(size)
	if err != nil {
		return 0, fmt.Errorf("--size: %w", err)
	}
	return n, nil
}
