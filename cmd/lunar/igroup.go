package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// newIGroupCommand builds "lunar igroup": initiator groups through the
// target's API.
func newIGroupCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "igroup",
		Short: "Create, change, delete and list initiator groups on a lunar target",
	}
	f.add(cmd)
	cmd.AddCommand(newIGroupCreate(&f), newIGroupAdd(&f), newIGroupRemove(&f), newIGroupDelete(&f),
		newIGroupList(&f), newIGroupShow(&f))
	return cmd
}

func printIGroups(f *clientFlags, cmd *cobra.Command, v any, groups []target.IGroupInfo) error {
	return f.print(cmd.OutOrStdout(), v, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "NAME\tINITIATORS\tMAPS")
		for _, g := range groups {
			ins := strings.Join(g.Initiators, ",")
			if ins == "" {
				ins = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\n", g.Name, ins, len(g.Maps))
		}
	})
}

func newIGroupCreate(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "create NAME [IQN...]",
		Short: "Create an initiator group with the given initiator names",
		Args:  cobra.MinimumNArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			g, err := c.CreateIGroup(ctx, target.IGroupCreate{Name: args[0], Initiators: append([]string{}, args[1:]...)})
			if err != nil {
				return f.explain(err)
			}
			return printIGroups(f, cmd, g, []target.IGroupInfo{g})
		}),
	}
}

func newIGroupAdd(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "add NAME IQN",
		Short: "Add an initiator to a group",
		Args:  cobra.ExactArgs(2),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			g, err := c.AddInitiator(ctx, args[0], args[1])
			if err != nil {
				return f.explain(err)
			}
			return printIGroups(f, cmd, g, []target.IGroupInfo{g})
		}),
	}
}

func newIGroupRemove(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME IQN",
		Short: "Remove an initiator from a group",
		Args:  cobra.ExactArgs(2),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			g, err := c.RemoveInitiator(ctx, args[0], args[1])
			if err != nil {
				return f.explain(err)
			}
			return printIGroups(f, cmd, g, []target.IGroupInfo{g})
		}),
	}
}

func newIGroupDelete(f *clientFlags) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an initiator group (one with LUN maps needs --force, which removes them)",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if err := c.DeleteIGroup(ctx, args[0], force); err != nil {
				return f.explain(err)
			}
			if f.output == "json" {
				return f.print(cmd.OutOrStdout(), map[string]string{"deleted": args[0]}, nil)
			}
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "initiator group %s deleted\n", args[0])
			return err
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "delete even with LUN maps (removes them)")
	return cmd
}

func newIGroupList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the initiator groups",
		Args:  cobra.NoArgs,
		RunE: f.runE(func(cmd *cobra.Command, _ []string, ctx context.Context, c *target.Client) error {
			gs, err := c.IGroups(ctx)
			if err != nil {
				return f.explain(err)
			}
			return printIGroups(f, cmd, gs, gs)
		}),
	}
}

func newIGroupShow(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show an initiator group and its LUN maps",
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			g, err := c.IGroup(ctx, args[0])
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), g, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "Name:\t%s\n", g.Name)
				fmt.Fprintln(tw, "Initiators:")
				for _, in := range g.Initiators {
					fmt.Fprintf(tw, "  %s\n", in)
				}
				fmt.Fprintln(tw, "Maps:")
				for _, m := range g.Maps {
					fmt.Fprintf(tw, "  %s\t%s\tLUN id %d\n", m.Target, m.LUN, m.LUNID)
				}
			})
		}),
	}
}
