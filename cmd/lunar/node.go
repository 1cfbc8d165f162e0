package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
	"github.com/lunarsan/lunar/initiator/openiscsi"
	"github.com/lunarsan/lunar/target"
)

// Defaults of "lunar node serve".
const (
	defaultAgentAddr      = "127.0.0.1:3270"
	defaultEtcdEndpoint   = "http://127.0.0.1:2379"
	agentTokenFileName    = "agent-token"
	defaultLeaseTTL       = 10 * time.Second
	nodeIQNPrefix         = "iqn.2026-11.org.lunar:node-"
	reRegisterMaxInterval = 5 * time.Second
)

// nodeReady, when set (tests), is told the agent's URL once serve
// accepts requests and the node is registered.
type nodeReady func(agentURL string)

// newNodeCommand builds "lunar node". logger points at the logger the
// root command sets up before running a command.
func newNodeCommand(logger *zerolog.Logger, ready nodeReady) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a cluster node's agent (its initiator, sessions and disks)",
	}
	cmd.AddCommand(newNodeServe(logger, ready))
	return cmd
}

// nodeConfig is what "lunar node serve" is told by its flags.
type nodeConfig struct {
	name, listen, advertiseURL   string
	storageURL, storageTokenFile string
	etcd, tokenFile, dataDir     string
	leaseTTL                     time.Duration
	init                         initiatorFlags
	engine                       string
}

func newNodeServe(logger *zerolog.Logger, ready nodeReady) *cobra.Command {
	var c nodeConfig
	cmd := &cobra.Command{
		Use:   "serve --name NODE --etcd URLS --storage-url URL",
		Short: "Serve the node agent's API, registered in etcd, until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := zerolog.Nop()
			if logger != nil {
				log = *logger
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return serveNode(ctx, log, c, ready)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.name, "name", "", "this node's unique name in the cluster (required)")
	f.StringVar(&c.init.name, "initiator-name", "", "this node's iSCSI initiator name (default "+nodeIQNPrefix+"<name>)")
	f.StringVar(&c.init.chapUser, "chap-user", "", "CHAP user name the initiator logs in with (needs --chap-secret-file)")
	f.StringVar(&c.init.chapSecretFile, "chap-secret-file", "", "file holding the CHAP secret (12 to 255 bytes; a trailing newline is ignored)")
	f.StringVar(&c.init.mutualUser, "mutual-user", "", "name the target must prove for mutual CHAP (needs --mutual-secret-file)")
	f.StringVar(&c.init.mutualSecretFile, "mutual-secret-file", "", "file holding the target's mutual CHAP secret")
	f.StringVar(&c.listen, "listen", defaultAgentAddr, "agent API address (host:port; port 0 picks one)")
	f.StringVar(&c.advertiseURL, "advertise-url", "", "agent URL registered in etcd, which the other nodes call (default http://<listen address>)")
	f.StringVar(&c.storageURL, "storage-url", defaultAPIURL, "management API URL of the lunar target (the storage system)")
	f.StringVar(&c.storageTokenFile, "storage-token-file", "", "the storage API's token file (default <data>/"+tokenFileName+")")
	f.StringVar(&c.etcd, "etcd", "", "etcd endpoints, comma-separated (required), e.g. "+defaultEtcdEndpoint)
	f.StringVar(&c.tokenFile, "token-file", "", "agent API token file, created with a new token if absent (default <data>/"+agentTokenFileName+"); every node of a cluster uses the same token")
	f.StringVar(&c.dataDir, "data", defaultDataDir, "data directory (where the token files are)")
	f.StringVar(&c.engine, "engine", cluster.UserspaceEngineName, "initiator engine: "+cluster.UserspaceEngineName+" (lunar's own) or "+openiscsi.EngineName+" (the Linux kernel's, through iscsid and iscsiadm: disks are /dev/sdX; the initiator name defaults to "+openiscsi.DefaultInitiatorNameFile+"'s)")
	f.DurationVar(&c.leaseTTL, "lease-ttl", defaultLeaseTTL, "lease of the node's registration in etcd: the node drops out this long after it stops")
	return cmd
}

// iqnPart turns s into characters an iSCSI name allows.
func iqnPart(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// checkNodeName checks a node name: 1 to 64 letters, digits, '-', '_'
// and '.'.
func checkNodeName(flag, name string) error {
	if name == "" {
		return fmt.Errorf("%s is required: give the node a unique name such as node1", flag)
	}
	return checkClusterName(flag, name)
}

// checkClusterName checks a node, group or resource name: at most 64
// letters, digits, '-', '_' and '.' (the storage system's LUN names).
func checkClusterName(flag, name string) error {
	if len(name) > 64 {
		return fmt.Errorf("%s %q: at most 64 characters", flag, name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("%s %q: use letters, digits, '-', '_' and '.' only", flag, name)
		}
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readTokenFile reads a bearer token from path.
func readTokenFile(flag, path, hint string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w (%s)", flag, err, hint)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("%s: %s is empty (%s)", flag, path, hint)
	}
	return tok, nil
}

// etcdEndpoints checks an --etcd value and splits it.
func etcdEndpoints(v string) ([]string, error) {
	eps := splitList(v)
	if len(eps) == 0 {
		return nil, fmt.Errorf("--etcd is required: the etcd endpoints, comma-separated, e.g. %s (lunar cluster etcd starts one for a one-machine set-up)", defaultEtcdEndpoint)
	}
	return eps, nil
}

// openStore connects to etcd and returns the cluster store on it; the
// caller closes the client.
func openStore(ctx context.Context, log zerolog.Logger, endpoints []string) (*cluster.Store, func(), error) {
	cli, err := cluster.NewEtcdClient(ctx, endpoints)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd at %s: %w (is it running? check --etcd)", strings.Join(endpoints, ","), err)
	}
	store, err := cluster.NewStore(cluster.StoreConfig{Client: cli, Logger: log})
	if err != nil {
		cli.Close()
		return nil, nil, err
	}
	return store, func() { cli.Close() }, nil
}

// serveNode runs the node agent until ctx is done or its server fails.
func serveNode(ctx context.Context, log zerolog.Logger, c nodeConfig, ready nodeReady) error {
	if err := checkNodeName("--name", c.name); err != nil {
		return err
	}
	switch c.engine {
	case cluster.UserspaceEngineName:
	case openiscsi.EngineName:
		if c.init.name == "" {
			// iscsid logs in with the host's name.
			name, err := openiscsi.ReadInitiatorName(openiscsi.DefaultInitiatorNameFile)
			if err != nil {
				return fmt.Errorf("--engine %s: %w (is open-iscsi installed? or give --initiator-name)", c.engine, err)
			}
			c.init.name = name
		}
	default:
		return fmt.Errorf("--engine %q: want %s or %s", c.engine, cluster.UserspaceEngineName, openiscsi.EngineName)
	}
	if c.init.name == "" {
		c.init.name = nodeIQNPrefix + iqnPart(c.name)
	}
	icfg, err := c.init.config("", "")
	if err != nil {
		return err
	}
	endpoints, err := etcdEndpoints(c.etcd)
	if err != nil {
		return err
	}
	if c.leaseTTL < 2*time.Second {
		return fmt.Errorf("--lease-ttl %s: want at least 2s", c.leaseTTL)
	}
	if _, err := url.Parse(c.storageURL); err != nil || c.storageURL == "" {
		return fmt.Errorf("--storage-url %q: want the target's management API URL, e.g. %s", c.storageURL, defaultAPIURL)
	}
	if c.storageTokenFile == "" {
		c.storageTokenFile = filepath.Join(c.dataDir, tokenFileName)
	}
	storageToken, err := readTokenFile("--storage-token-file", c.storageTokenFile,
		"copy the api-token file of lunar target serve to this node and pass its path")
	if err != nil {
		return err
	}
	if c.tokenFile == "" {
		c.tokenFile = filepath.Join(c.dataDir, agentTokenFileName)
	}
	if err := os.MkdirAll(filepath.Dir(c.tokenFile), 0o700); err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	token, err := target.LoadOrCreateToken(c.tokenFile)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	log = log.With().Str("node", c.name).Logger()

	store, closeEtcd, err := openStore(ctx, log, endpoints)
	if err != nil {
		return err
	}
	defer closeEtcd()

	storage := target.NewClient(c.storageURL, storageToken, &http.Client{Timeout: clientTimeout})
	var engine cluster.Engine
	if c.engine == openiscsi.EngineName {
		engine, err = openiscsi.New(openiscsi.Config{
			InitiatorName: c.init.name, CHAP: icfg.CHAP, MutualCHAP: icfg.MutualCHAP, Logger: log,
		})
		if err != nil {
			return fmt.Errorf("--engine %s: %w", c.engine, err)
		}
	} else {
		engine = cluster.NewUserspaceEngine(cluster.UserspaceConfig{
			InitiatorName: c.init.name, CHAP: icfg.CHAP, MutualCHAP: icfg.MutualCHAP, Logger: log,
		})
	}
	defer func() {
		// Log out of every session the node still has.
		if err := engine.Close(); err != nil {
			log.Warn().Err(err).Msg("closing the initiator's sessions")
		}
	}()
	agent, err := cluster.NewAgent(cluster.AgentConfig{
		Node: c.name, InitiatorName: c.init.name, Engine: engine, Storage: storage, Token: token, Logger: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := agent.Close(); err != nil {
			log.Warn().Err(err).Msg("closing the agent")
		}
	}()
	runner, err := cluster.NewRunner(cluster.RunnerConfig{
		Node: c.name, Self: agent, Store: store, Storage: storage,
		Agents: cluster.AgentResolver(store, token, &http.Client{}), Logger: log,
		OwnershipTTL: c.leaseTTL, // the groups' failover detection time
	})
	if err != nil {
		return err
	}
	defer func() {
		// Resign the groups this node owns, so another may take them.
		if err := runner.Close(); err != nil {
			log.Warn().Err(err).Msg("resigning the groups' ownership")
		}
	}()
	agent.SetOperations(runner)
	// The failover loop: take over the groups whose owner dies, fencing it
	// with persistent reservations; serve planned moves.
	failover, err := cluster.NewFailover(cluster.FailoverConfig{Runner: runner, Agent: agent, Logger: log})
	if err != nil {
		return err
	}
	agent.SetFailover(failover)
	failover.Start()
	defer failover.Close()

	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("agent API %s: %w (is another agent using it? pick another --listen)", c.listen, err)
	}
	advertise := c.advertiseURL
	if advertise == "" {
		host, _, _ := net.SplitHostPort(l.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			l.Close()
			return fmt.Errorf("--listen %s binds every address: give --advertise-url with the URL the other nodes reach this agent at", c.listen)
		}
		advertise = "http://" + l.Addr().String()
	} else if u, err := url.Parse(advertise); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		l.Close()
		return fmt.Errorf("--advertise-url %q: want an http:// URL such as http://192.0.2.11:3270", advertise)
	}
	srv := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("closing the agent API")
		}
	}

	info := cluster.NodeInfo{
		Name: c.name, InitiatorName: c.init.name, AgentURL: advertise, Engine: engine.Name(), Started: time.Now().UTC(),
	}
	reg, err := store.RegisterNode(ctx, info, c.leaseTTL)
	if err != nil {
		shutdown()
		<-errc
		return fmt.Errorf("register the node in etcd: %w", err)
	}
	log.Info().Str("agent", advertise).Str("listen", l.Addr().String()).Str("initiator", c.init.name).
		Str("storage", c.storageURL).Strs("etcd", endpoints).Msg("lunar node serving")
	if ready != nil {
		ready(advertise)
	}

	var runErr error
	backoff := 250 * time.Millisecond
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info().Msg("shutting down")
			break loop
		case runErr = <-errc:
			errc <- runErr
			log.Error().Err(runErr).Msg("the agent API stopped; shutting down")
			break loop
		case <-reg.Done():
			// The lease was lost (etcd unreachable for longer than the
			// TTL): register again as soon as etcd answers.
			log.Warn().Msg("the node's registration in etcd was lost; registering again")
			for {
				r, err := store.RegisterNode(ctx, info, c.leaseTTL)
				if err == nil {
					reg = r
					backoff = 250 * time.Millisecond
					log.Info().Msg("registered again")
					break
				}
				log.Warn().Err(err).Dur("retry_in", backoff).Msg("registering the node")
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					break loop
				case <-t.C:
				}
				backoff = min(2*backoff, reRegisterMaxInterval)
			}
		}
	}
	if err := reg.Close(); err != nil {
		log.Warn().Err(err).Msg("removing the node's registration")
	}
	shutdown()
	if err := <-errc; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}
