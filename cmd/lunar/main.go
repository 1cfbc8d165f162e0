// Command lunar is the one binary of the lunar project: an iSCSI target, an
// iSCSI initiator and a cluster connect orchestrator.
//
// Run "lunar help" for its commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCommand(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lunar:", err)
		os.Exit(1)
	}
}
