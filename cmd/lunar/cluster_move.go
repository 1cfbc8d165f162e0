package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// newClusterMoveCommand builds "lunar cluster move GROUP --to NODE": a
// planned move of a resource group. The target node's agent queues in the
// group's election, asks the owner to resign, and once elected fences the
// old owner's key on every disk (PREEMPT AND ABORT) before it records
// itself as the owner, as a failover does.
func newClusterMoveCommand(f *clusterFlags) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "move GROUP --to NODE",
		Short: "Move a resource group to another node: the owner resigns, the node takes the disks' reservations over",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			group := args[0]
			if err := checkClusterName("GROUP", group); err != nil {
				return err
			}
			if to == "" {
				return errors.New("--to is required: the node that takes the group over (one of its possible owners)")
			}
			if err := checkNodeName("--to", to); err != nil {
				return err
			}
			token, err := f.token()
			if err != nil {
				return err
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			lctx, cancel := context.WithTimeout(ctx, clientTimeout)
			defer cancel()
			store, closeEtcd, err := f.store(lctx)
			if err != nil {
				return err
			}
			defer closeEtcd()
			agent, err := agentOf(lctx, store, to, token)
			if err != nil {
				return err
			}
			res, err := agent.Takeover(ctx, group)
			return finishOp(cmd.OutOrStdout(), f.output, res, err, fmt.Sprintf("move of group %s to %s", group, to))
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the node that takes the group over (required)")
	return cmd
}
