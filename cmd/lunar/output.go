package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// Defaults of the management commands.
const (
	defaultDataDir = "/var/lib/lunar"
	defaultAPIURL  = "http://" + target.DefaultAPIAddr
	tokenFileName  = "api-token"
	clientTimeout  = 30 * time.Second
)

// clientFlags are the flags of every command that talks to the
// management API.
type clientFlags struct {
	api       string
	dataDir   string
	tokenFile string
	output    string
}

// add registers the flags on cmd (persistent, for its subcommands).
func (f *clientFlags) add(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.api, "api", defaultAPIURL, "management API URL of the target")
	p.StringVar(&f.dataDir, "data", defaultDataDir, "the target's data directory (where the token file is)")
	p.StringVar(&f.tokenFile, "token-file", "", "API token file (default <data>/api-token)")
	p.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

// check validates the flags that do not need the network.
func (f *clientFlags) check() error { return checkOutputFormat(f.output) }

// checkOutputFormat validates an --output value.
func checkOutputFormat(output string) error {
	if output != "table" && output != "json" {
		return fmt.Errorf("--output %q: want table or json", output)
	}
	return nil
}

// readSecretFile reads a CHAP secret from the file a flag names, without
// its trailing line break. Secrets come from files, never from the command
// line, where other users could see them.
func readSecretFile(flag, path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("%s is required: put the secret (12 to 255 bytes) in a file readable only by you", flag)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	data = bytes.TrimRight(data, "\r\n")
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: %s is empty: write the secret (12 to 255 bytes) into it", flag, path)
	}
	return data, nil
}

// client reads the token and returns an API client.
func (f *clientFlags) client() (*target.Client, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	path := f.tokenFile
	if path == "" {
		path = filepath.Join(f.dataDir, tokenFileName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the API token: %w (pass --token-file, or --data with the directory lunar target serve uses)", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return nil, fmt.Errorf("token file %s is empty: delete it and restart lunar target serve to get a new one", path)
	}
	return target.NewClient(f.api, tok, &http.Client{Timeout: clientTimeout}), nil
}

// explain turns an API or network error into one that says what to do.
func (f *clientFlags) explain(err error) error {
	if err == nil {
		return nil
	}
	var ae *target.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("the API at %s refused the token: use the api-token file of the running target (--token-file or --data)", f.api)
		}
		return fmt.Errorf("%s (%s)", ae.Message, ae.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return fmt.Errorf("%w\ncheck that lunar target serve is running and that --api points at its --api address", err)
}

// print writes v as JSON, or calls table to write it as a table.
func (f *clientFlags) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

// parseSize parses a size with an optional binary unit: 512, 4K, 10M,
// 1G, 2T, 1P (also KiB/KB/k forms, all powers of 1024).
func parseSize(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	t := strings.ToUpper(s)
	t = strings.TrimSuffix(t, "B")
	t = strings.TrimSuffix(t, "I")
	shift := 0
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		case 'P':
			shift = 50
		}
		if shift != 0 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("size %q: want a positive whole number with an optional unit K, M, G, T or P (powers of 1024), e.g. 10G", orig)
	}
	return n << shift, nil
}

// formatSize shows a size in the largest binary unit that divides it.
func formatSize(n int64) string {
	units := []string{"", "K", "M", "G", "T", "P"}
	i := 0
	for i < len(units)-1 && n != 0 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return strconv.FormatInt(n, 10) + units[i]
}

// newCtx returns the command's context with the client timeout.
func newCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, clientTimeout)
}

// runE wraps a command body that talks to the target's API: it checks the
// flags, builds the client and a context that SIGINT cancels, and hands
// both to do.
func (f *clientFlags) runE(do func(cmd *cobra.Command, args []string, ctx context.Context, c *target.Client) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		ctx, cancel := newCtx(cmd)
		defer cancel()
		return do(cmd, args, ctx, c)
	}
}
