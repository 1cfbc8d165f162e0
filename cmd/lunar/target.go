package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/target"
)

// Defaults of "lunar target serve".
const (
	defaultISCSIAddr = "127.0.0.1:3260"
	shutdownTimeout  = 30 * time.Second
)

// serveReady, when set (tests), is told the addresses serve listens on
// once it accepts connections.
type serveReady func(iscsiAddr, apiAddr string)

// newTargetCommand builds "lunar target". logger points at the logger the
// root command sets up before running a command.
func newTargetCommand(logger *zerolog.Logger, ready serveReady) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "target",
		Short: "Run the lunar iSCSI target (the storage system)",
	}
	cmd.AddCommand(newTargetServe(logger, ready))
	return cmd
}

func newTargetServe(logger *zerolog.Logger, ready serveReady) *cobra.Command {
	var dataDir, apiAddr, tokenFile string
	var listen, advertise []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve iSCSI and the management API from a data directory until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := zerolog.Nop()
			if logger != nil {
				log = *logger
			}
			if tokenFile == "" {
				tokenFile = filepath.Join(dataDir, tokenFileName)
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serveTarget(ctx, log, serveConfig{
				dataDir: dataDir, listen: listen, advertise: advertise, api: apiAddr, tokenFile: tokenFile,
			}, ready)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", defaultDataDir, "data directory: config.json, api-token and the LUN files (created if absent)")
	f.StringArrayVar(&listen, "listen", []string{defaultISCSIAddr}, "iSCSI portal address (host:port; port 0 picks one); repeat for more portals")
	f.StringArrayVar(&advertise, "advertise", nil, "portal address told to initiators in SendTargets, one per --listen in the same order (default: the --listen address)")
	f.StringVar(&apiAddr, "api", target.DefaultAPIAddr, "management API address (keep it on loopback unless you must)")
	f.StringVar(&tokenFile, "token-file", "", "API token file, created with a new token if absent (default <data>/api-token)")
	return cmd
}

type serveConfig struct {
	dataDir, api, tokenFile string
	// listen and advertise pair up by position: portal i advertises
	// advertise[i], or its own address when there is none.
	listen, advertise []string
}

// serveTarget runs the target until ctx is done or a server fails, then
// shuts everything down gracefully.
func serveTarget(ctx context.Context, log zerolog.Logger, cfg serveConfig, ready serveReady) error {
	store, err := target.OpenStore(target.StoreConfig{DataDir: cfg.dataDir, Logger: log})
	if err != nil {
		return fmt.Errorf("open the data directory: %w", err)
	}
	defer func() {
		if err := store.Close(); err != nil {
			log.Error().Err(err).Msg("closing the LUNs")
		}
	}()
	token, err := target.LoadOrCreateToken(cfg.tokenFile)
	if err != nil {
		return err
	}
	srv, err := target.NewServer(target.ServerConfig{Directory: store, Executor: &target.Engine{}, Logger: log})
	if err != nil {
		return err
	}
	store.SetOnViewChange(srv.ViewChanged)
	api, err := target.NewAPIServer(target.APIConfig{
		Store: store, Token: token, Sessions: srv.Sessions, Logger: log,
		Metrics: target.NewMetrics(target.MetricsConfig{Store: store, Source: srv.Stats}).Handler(),
	})
	if err != nil {
		return err
	}
	if len(cfg.listen) == 0 {
		return errors.New("no iSCSI portal: give at least one --listen address")
	}
	if len(cfg.advertise) > len(cfg.listen) {
		return fmt.Errorf("%d --advertise addresses for %d --listen portals: give at most one per portal, in the same order", len(cfg.advertise), len(cfg.listen))
	}
	var portals []net.Listener
	closePortals := func() {
		for _, l := range portals {
			l.Close()
		}
	}
	for _, addr := range cfg.listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closePortals()
			return fmt.Errorf("iSCSI portal %s: %w (is another target using it? pick another --listen)", addr, err)
		}
		portals = append(portals, l)
	}
	al, err := net.Listen("tcp", cfg.api)
	if err != nil {
		closePortals()
		return fmt.Errorf("management API: %w (pick another --api)", err)
	}
	errc := make(chan error, len(portals)+1)
	for i, l := range portals {
		advertise := ""
		if i < len(cfg.advertise) {
			advertise = cfg.advertise[i]
		}
		go func() {
			err := srv.Serve(l, advertise)
			if errors.Is(err, target.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
		log.Info().Str("iscsi", l.Addr().String()).Str("advertise", advertise).Msg("iSCSI portal")
	}
	go func() { errc <- api.Serve(al) }()
	log.Info().Str("api", al.Addr().String()).
		Str("data", store.DataDir()).Str("target", store.DefaultTarget()).Msg("lunar target serving")
	if ready != nil {
		ready(portals[0].Addr().String(), al.Addr().String())
	}

	var runErr error
	pending := len(portals) + 1
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case runErr = <-errc:
		pending--
		log.Error().Err(runErr).Msg("a server stopped; shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := api.Close(sctx); err != nil {
		log.Warn().Err(err).Msg("closing the API")
	}
	if err := srv.Close(sctx); err != nil && !errors.Is(err, target.ErrServerClosed) {
		log.Warn().Err(err).Msg("closing the iSCSI server")
	}
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && runErr == nil {
			runErr = err
		}
	}
	return runErr
}
