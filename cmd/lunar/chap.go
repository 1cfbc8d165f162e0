package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// newCHAPCommand builds "lunar chap": CHAP credentials per initiator, and
// the mutual credentials a target proves itself with, through the target's
// API. Secrets are read from a file, never from the command line, where
// other users could see them.
func newCHAPCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "chap",
		Short: "Set, clear and list CHAP credentials on a lunar target",
	}
	f.add(cmd)
	cmd.AddCommand(newCHAPSet(&f, false), newCHAPSet(&f, true), newCHAPClear(&f, false), newCHAPClear(&f, true), newCHAPList(&f))
	return cmd
}

func newCHAPSet(f *clientFlags, mutual bool) *cobra.Command {
	var user, secretFile string
	use, short := "set INITIATOR", "Require CHAP from an initiator, with this user name and secret"
	if mutual {
		use, short = "set-target TARGET", "Set the mutual CHAP credentials a target proves itself with"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if user == "" {
				return fmt.Errorf("--user is required: the CHAP user name (CHAP_N)")
			}
			secret, err := readSecretFile("--secret-file", secretFile)
			if err != nil {
				return err
			}
			cred := target.CHAPSecret{Name: user, Secret: string(secret)}
			if mutual {
				err = c.SetTargetCHAP(ctx, args[0], cred)
			} else {
				err = c.SetCHAP(ctx, args[0], cred)
			}
			return f.explain(err)
		}),
	}
	cmd.Flags().StringVar(&user, "user", "", "CHAP user name")
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the CHAP secret")
	return cmd
}

func newCHAPClear(f *clientFlags, mutual bool) *cobra.Command {
	use, short := "clear INITIATOR", "Stop requiring CHAP from an initiator"
	if mutual {
		use, short = "clear-target TARGET", "Remove a target's mutual CHAP credentials"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: f.runE(func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error {
			if mutual {
				return f.explain(c.ClearTargetCHAP(ctx, args[0]))
			}
			return f.explain(c.ClearCHAP(ctx, args[0]))
		}),
	}
}

func newCHAPList(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the initiators that must use CHAP, and their user names (never the secrets)",
		Args:  cobra.NoArgs,
		RunE: f.runE(func(cmd *cobra.Command, _ []string, ctx context.Context, c *target.Client) error {
			creds, err := c.CHAP(ctx)
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), creds, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "INITIATOR\tUSER")
				for _, cr := range creds {
					fmt.Fprintf(tw, "%s\t%s\n", cr.Initiator, cr.Name)
				}
			})
		}),
	}
}
