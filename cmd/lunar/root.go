package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// globalFlags are the flags every command shares.
type globalFlags struct {
	logLevel  string
	logFormat string
}

// newRootCommand builds the command tree. out and errOut replace stdout
// and stderr so tests can read what commands print.
func newRootCommand(out, errOut io.Writer) *cobra.Command {
	var g globalFlags
	logger := zerolog.Nop()
	root := &cobra.Command{
		Use:           "lunar",
		Short:         "iSCSI target, initiator and parallel cluster connect orchestrator",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLogger(errOut, g)
			logger = l
			return err
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "console", "log format: json or console")
	root.AddCommand(newVersionCommand())
	root.AddCommand(newTargetCommand(&logger, nil), newLUNCommand(), newIGroupCommand(), newSessionCommand(), newCHAPCommand(),
		newInitiatorCommand())
	root.AddCommand(clusterCommands(&logger)...)
	root.AddCommand(newBenchCommand(&logger))
	return root
}

// newLogger returns the zerolog logger the flags ask for, or a clear error
// for a bad level or format.
func newLogger(w io.Writer, g globalFlags) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(strings.ToLower(g.logLevel))
	if err != nil || g.logLevel == "" {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: want one of trace, debug, info, warn, error", g.logLevel)
	}
	switch g.logFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, NoColor: !isTerminal(w)}
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want json or console", g.logFormat)
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// version is set by the linker (-X main.version=...) for release builds;
// otherwise the module's build info is used.
var version = ""

func versionString() string {
	v := version
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := "lunar " + v
	if rev != "" {
		s += " " + rev
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print lunar's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return err
		},
	}
}
