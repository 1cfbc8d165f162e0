package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// newSessionCommand builds "lunar session": the target's sessions.
func newSessionCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "session",
		Short: "List the iSCSI sessions of a lunar target",
	}
	f.add(cmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the sessions: initiator, ISID, TSIH, target, connections, LUNs seen",
		Args:  cobra.NoArgs,
		RunE: f.runE(func(cmd *cobra.Command, _ []string, ctx context.Context, c *target.Client) error {
			list, err := c.Sessions(ctx)
			if err != nil {
				return f.explain(err)
			}
			return f.print(cmd.OutOrStdout(), list, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "INITIATOR\tISID\tTSIH\tTYPE\tTARGET\tCONNECTIONS\tLUNS")
				for _, s := range list {
					conns := make([]string, 0, len(s.Connections))
					for _, c := range s.Connections {
						conns = append(conns, c.RemoteAddr)
					}
					luns := make([]string, 0, len(s.LUNs))
					for _, n := range s.LUNs {
						luns = append(luns, fmt.Sprint(n))
					}
					tgt := s.Target
					if tgt == "" {
						tgt = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Initiator, s.ISID, s.TSIH, s.Type, tgt,
						strings.Join(conns, ","), strings.Join(luns, ","))
				}
			})
		}),
	})
	return cmd
}
