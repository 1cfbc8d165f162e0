package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lunarsan/lunar/cluster"
)

// clusterCommands returns the cluster commands for the root command:
// "lunar node", "lunar cluster" and "lunar demo".
func clusterCommands(logger *zerolog.Logger) []*cobra.Command {
	return []*cobra.Command{newNodeCommand(logger, nil), newClusterCommand(logger), newDemoCommand(logger)}
}

// clusterFlags are the flags every "lunar cluster" command shares.
type clusterFlags struct {
	etcd      string
	dataDir   string
	tokenFile string
	output    string
	logger    *zerolog.Logger
}

func (f *clusterFlags) add(cmd *cobra.Command) {
	p := cmd.PersistentFlags()
	p.StringVar(&f.etcd, "etcd", "", "etcd endpoints, comma-separated (required), e.g. "+defaultEtcdEndpoint)
	p.StringVar(&f.dataDir, "data", defaultDataDir, "data directory holding the agent token file")
	p.StringVar(&f.tokenFile, "token-file", "", "agent API token file, the one the nodes serve with (default <data>/"+agentTokenFileName+")")
	p.StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

func (f *clusterFlags) log() zerolog.Logger {
	if f.logger == nil {
		return zerolog.Nop()
	}
	return *f.logger
}

// token reads the agent token.
func (f *clusterFlags) token() (string, error) {
	path := f.tokenFile
	if path == "" {
		path = filepath.Join(f.dataDir, agentTokenFileName)
	}
	return readTokenFile("--token-file", path, "pass the agent token file the nodes' lunar node serve uses, with --token-file or --data")
}

// store opens the cluster store on --etcd.
func (f *clusterFlags) store(ctx context.Context) (*cluster.Store, func(), error) {
	eps, err := etcdEndpoints(f.etcd)
	if err != nil {
		return nil, nil, err
	}
	return openStore(ctx, f.log(), eps)
}

// print writes v as JSON, or calls table to write it.
func (f *clusterFlags) print(w io.Writer, v any, table func(w io.Writer) error) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return table(w)
}

// signalCtx returns the command's context, cancelled by SIGINT and SIGTERM.
func signalCtx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}

// explainCluster turns a cluster error into one that says what to do.
func explainCluster(err error, what string) error {
	if err == nil {
		return nil
	}
	var ae *cluster.APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return fmt.Errorf("%s: the agent refused the token: pass the agent token file the nodes serve with (--token-file or --data)", what)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: cancelled (the owner rolls back what the operation made)", what)
	case errors.Is(err, cluster.ErrConflict):
		return fmt.Errorf("%s: %w\nanother operation or another owner holds the group: see lunar cluster status", what, err)
	case errors.Is(err, cluster.ErrNotOwner):
		return fmt.Errorf("%s: %w\nleave --active out to send the operation to the owner recorded in etcd", what, err)
	case errors.Is(err, cluster.ErrInvalid):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, cluster.ErrNotFound):
		return fmt.Errorf("%s: %w\nlunar cluster status lists the groups and their resources", what, err)
	case errors.Is(err, cluster.ErrUnavailable):
		return fmt.Errorf("%s: %w\ncheck that etcd (--etcd), the storage API and the nodes' agents are running", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// newClusterCommand builds "lunar cluster": operations on resource groups
// and the cluster's state.
func newClusterCommand(logger *zerolog.Logger) *cobra.Command {
	f := &clusterFlags{logger: logger}
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, connect, disconnect and delete disks on every node of a resource group; show the cluster's state",
	}
	f.add(cmd)
	cmd.AddCommand(
		newClusterOp(f, cluster.OpCreate, "Create a LUN, connect and format it on the active node, then connect every passive node at once"),
		newClusterOp(f, cluster.OpConnect, "Connect an existing LUN on the active node, then on every passive node at once"),
		newClusterOp(f, cluster.OpDisconnect, "Disconnect a disk on every passive node at once, then on the active node"),
		newClusterOp(f, cluster.OpDelete, "Disconnect a disk everywhere, then delete its LUN"),
		newClusterStatus(f), newClusterNodes(f), newClusterEtcd(f), newClusterMoveCommand(f),
	)
	return cmd
}

// opFlags are the flags of one cluster operation.
type opFlags struct {
	group, active, nodes string
	size, target, portal string
	serial, noFormat     bool
	maxParallel          int
	nodeTimeout          time.Duration
	onPartial            string
}

// request checks the flags and builds the operation's request.
func (o *opFlags) request(kind cluster.OperationKind, resource string) (cluster.OperationRequest, error) {
	req := cluster.OperationRequest{Kind: kind, Resource: resource, Group: o.group, Target: o.target, Portal: o.portal,
		MaxParallel: o.maxParallel, NodeTimeout: o.nodeTimeout, NoFormat: o.noFormat, Mode: cluster.ModeParallel}
	if o.group == "" {
		return req, errors.New("--group is required: the resource group the disk belongs to")
	}
	if err := checkClusterName("--group", o.group); err != nil {
		return req, err
	}
	if resource == "" {
		return req, errors.New("the resource name is empty: give the disk's name (also its LUN's name)")
	}
	if err := checkClusterName("resource", resource); err != nil {
		return req, err
	}
	if (kind == cluster.OpCreate || kind == cluster.OpConnect) && o.portal == "" {
		return req, fmt.Errorf("--portal is required for %s: the target portal the nodes log in to, host:port", kind)
	}
	if o.portal != "" {
		if _, _, err := net.SplitHostPort(o.portal); err != nil {
			return req, fmt.Errorf("--portal %q: want host:port, e.g. 192.0.2.10:3260", o.portal)
		}
	}
	if o.active != "" {
		if err := checkNodeName("--active", o.active); err != nil {
			return req, err
		}
	}
	for _, n := range splitList(o.nodes) {
		if err := checkNodeName("--nodes", n); err != nil {
			return req, err
		}
		if n == o.active {
			return req, fmt.Errorf("--nodes lists %s, the active node: list only the passive nodes", n)
		}
		req.Passive = append(req.Passive, n)
	}
	if o.serial {
		req.Mode = cluster.ModeSerial
	}
	switch o.onPartial {
	case "keep", "":
		req.OnPartialFailure = cluster.KeepPartial
	case "rollback":
		req.OnPartialFailure = cluster.RollbackPartial
	default:
		return req, fmt.Errorf("--on-partial-failure %q: want keep or rollback", o.onPartial)
	}
	if o.maxParallel < 0 {
		return req, fmt.Errorf("--max-parallel %d: want 0 (no bound) or more", o.maxParallel)
	}
	if o.nodeTimeout < 0 {
		return req, fmt.Errorf("--node-timeout %s: want a positive duration such as 60s", o.nodeTimeout)
	}
	if kind == cluster.OpCreate {
		if o.size == "" {
			return req, errors.New("--size is required for create: the LUN's size, e.g. --size 10G")
		}
		n, err := parseSize(o.size)
		if err != nil {
			return req, fmt.Errorf("--size: %w", err)
		}
		req.Size = n
	}
	return req, nil
}

func newClusterOp(f *clusterFlags, kind cluster.OperationKind, short string) *cobra.Command {
	var o opFlags
	cmd := &cobra.Command{
		Use:   string(kind) + " RESOURCE --group GROUP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			req, err := o.request(kind, args[0])
			if err != nil {
				return err
			}
			token, err := f.token()
			if err != nil {
				return err
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			return runClusterOp(ctx, cmd, f, req, o.active, token)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.group, "group", "", "resource group (required)")
	fl.StringVar(&o.active, "active", "", "the active node, which runs the operation (required when the group does not exist yet; default its owner in etcd)")
	fl.StringVar(&o.nodes, "nodes", "", "passive nodes, comma-separated (default the group's members, or every live node for a new group)")
	fl.StringVar(&o.target, "target", "", "target IQN (default the storage system's default target)")
	fl.StringVar(&o.portal, "portal", "", "target portal the nodes log in to, host:port")
	fl.BoolVar(&o.serial, "serial", false, "drive the passive nodes one at a time (for comparison) instead of all at once")
	fl.IntVar(&o.maxParallel, "max-parallel", 0, "at most this many passive nodes at once (0: no bound)")
	fl.DurationVar(&o.nodeTimeout, "node-timeout", 0, "bound on each node's part (default "+cluster.DefaultNodeTimeout.String()+")")
	fl.StringVar(&o.onPartial, "on-partial-failure", "keep", "when some passive nodes fail: keep (record the nodes that succeeded) or rollback (undo everything)")
	if kind == cluster.OpCreate {
		fl.StringVar(&o.size, "size", "", "LUN size with unit K, M, G, T (powers of 1024) (required)")
		fl.BoolVar(&o.noFormat, "no-format", false, "do not write a partition table and filesystem")
	}
	return cmd
}

// ownerOf returns the node that runs operations on group: active when
// given, else the group's elected owner, else its recorded owner.
func ownerOf(ctx context.Context, store *cluster.Store, group, active string) (string, error) {
	if active != "" {
		return active, nil
	}
	owner, err := store.Owner(ctx, group)
	if err == nil && owner != "" {
		return owner, nil
	}
	if err != nil && !errors.Is(err, cluster.ErrNotFound) {
		return "", explainCluster(err, "find the owner of group "+group)
	}
	g, err := store.Group(ctx, group)
	if errors.Is(err, cluster.ErrNotFound) {
		return "", fmt.Errorf("group %q does not exist yet: name its active node with --active NODE (lunar cluster nodes lists the live nodes)", group)
	}
	if err != nil {
		return "", explainCluster(err, "read group "+group)
	}
	if g.Owner == "" {
		return "", fmt.Errorf("group %q has no owner: name its active node with --active NODE", group)
	}
	return g.Owner, nil
}

// agentOf returns the agent client of a registered node.
func agentOf(ctx context.Context, store *cluster.Store, node, token string) (*cluster.AgentClient, error) {
	info, err := store.Node(ctx, node)
	if errors.Is(err, cluster.ErrNotFound) {
		return nil, fmt.Errorf("node %q is not registered in etcd: is its lunar node serve running? (lunar cluster nodes lists the live nodes)", node)
	}
	if err != nil {
		return nil, explainCluster(err, "look up node "+node)
	}
	return cluster.NewAgentClient(info.AgentURL, token, &http.Client{}), nil
}

// runClusterOp sends req to the group's owner, shows its progress on
// stderr and prints its result.
func runClusterOp(ctx context.Context, cmd *cobra.Command, f *clusterFlags, req cluster.OperationRequest, active, token string) error {
	lctx, cancel := context.WithTimeout(ctx, clientTimeout)
	defer cancel()
	store, closeEtcd, err := f.store(lctx)
	if err != nil {
		return err
	}
	defer closeEtcd()
	owner, err := ownerOf(lctx, store, req.Group, active)
	if err != nil {
		return err
	}
	agent, err := agentOf(lctx, store, owner, token)
	if err != nil {
		return err
	}
	res, err := runWithProgress(ctx, cmd.ErrOrStderr(), agent, req)
	return finishOp(cmd.OutOrStdout(), f.output, res, err, fmt.Sprintf("%s %s on %s", req.Kind, req.Resource, owner))
}

// runWithProgress runs req on agent, showing its progress on w.
func runWithProgress(ctx context.Context, w io.Writer, agent *cluster.AgentClient, req cluster.OperationRequest) (cluster.OperationResult, error) {
	prog := newProgress(w)
	res, err := agent.RunOperation(ctx, req, prog.event)
	prog.finish()
	return res, err
}

// finishOp prints an operation's result (when there is one) and returns
// the error the command exits with.
func finishOp(w io.Writer, output string, res cluster.OperationResult, err error, what string) error {
	if res.ID != "" || len(res.Nodes) > 0 {
		var perr error
		if output == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			perr = enc.Encode(res)
		} else {
			perr = printOperationTable(w, res)
		}
		if perr != nil {
			return perr
		}
	}
	if err != nil {
		return explainCluster(err, what)
	}
	return resultError(res)
}

// groupStatus is one group in "lunar cluster status".
type groupStatus struct {
	cluster.Group
	// Elected is the election's current leader, empty when none.
	Elected string `json:"elected"`
	// Operations are the latest operations, newest first.
	Operations []cluster.OperationResult `json:"operations"`
}

// statusJSON is "lunar cluster status --output json".
type statusJSON struct {
	// Groups are the resource groups.
	Groups []groupStatus `json:"groups"`
	// Nodes are the live nodes.
	Nodes []cluster.NodeInfo `json:"nodes"`
}

func newClusterStatus(f *clusterFlags) *cobra.Command {
	var last int
	cmd := &cobra.Command{
		Use:   "status [GROUP]",
		Short: "Show the resource groups (owner, disks, possible owners, state), the live nodes and the last operations",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			if last < 0 {
				return fmt.Errorf("--last %d: want 0 or more", last)
			}
			ctx, cancel := newCtx(cmd)
			defer cancel()
			store, closeEtcd, err := f.store(ctx)
			if err != nil {
				return err
			}
			defer closeEtcd()
			st, err := clusterStatus(ctx, store, args, last)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), st, func(w io.Writer) error { return printStatus(w, st) })
		},
	}
	cmd.Flags().IntVar(&last, "last", 5, "show this many of each group's latest operations")
	return cmd
}

// clusterStatus reads the state "lunar cluster status" shows.
func clusterStatus(ctx context.Context, store *cluster.Store, args []string, last int) (statusJSON, error) {
	st := statusJSON{Groups: []groupStatus{}, Nodes: []cluster.NodeInfo{}}
	var groups []cluster.Group
	if len(args) == 1 {
		g, err := store.Group(ctx, args[0])
		if errors.Is(err, cluster.ErrNotFound) {
			return st, fmt.Errorf("group %q does not exist (lunar cluster status without a group lists them all)", args[0])
		}
		if err != nil {
			return st, explainCluster(err, "read group "+args[0])
		}
		groups = []cluster.Group{g}
	} else {
		gs, err := store.Groups(ctx)
		if err != nil {
			return st, explainCluster(err, "list the groups")
		}
		groups = gs
	}
	for _, g := range groups {
		gst := groupStatus{Group: g, Operations: []cluster.OperationResult{}}
		if gst.Resources == nil {
			gst.Resources = []cluster.DiskResource{}
		}
		if gst.Nodes == nil {
			gst.Nodes = []string{}
		}
		owner, err := store.Owner(ctx, g.Name)
		switch {
		case err == nil:
			gst.Elected = owner
		case !errors.Is(err, cluster.ErrNotFound):
			return st, explainCluster(err, "find the owner of group "+g.Name)
		}
		if last > 0 {
			ops, err := store.Operations(ctx, g.Name, last)
			if err != nil {
				return st, explainCluster(err, "read the operations of group "+g.Name)
			}
			if ops != nil {
				gst.Operations = ops
			}
		}
		st.Groups = append(st.Groups, gst)
	}
	nodes, err := store.Nodes(ctx)
	if err != nil {
		return st, explainCluster(err, "list the nodes")
	}
	if nodes != nil {
		st.Nodes = nodes
	}
	return st, nil
}

// printStatus writes the cluster's state as tables.
func printStatus(w io.Writer, st statusJSON) error {
	if len(st.Groups) == 0 {
		fmt.Fprintln(w, "no resource groups")
	}
	for _, g := range st.Groups {
		elected := g.Elected
		if elected == "" {
			elected = "none"
		}
		fmt.Fprintf(w, "GROUP %s  owner %s (elected %s)  members %s\n", g.Name, g.Owner, elected, strings.Join(g.Nodes, ","))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  RESOURCE\tSTATE\tSIZE\tWWN\tPORTAL\tPOSSIBLE OWNERS")
		for _, r := range g.Resources {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.State, formatSize(r.Size), r.WWN, r.Portal, strings.Join(r.PossibleOwners, ","))
		}
		if len(g.Operations) > 0 {
			fmt.Fprintln(tw, "  OPERATION\tKIND\tRESOURCE\tMODE\tSTARTED\tTOTAL\tNODES OK\tERROR")
			for _, op := range g.Operations {
				ok := 0
				for _, n := range op.Nodes {
					if n.Status == cluster.NodeOK {
						ok++
					}
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", op.ID, op.Kind, op.Resource, modeOrDefault(op.Mode),
					op.Started.Local().Format(time.DateTime), fmtDuration(op.Total), ok, len(op.Nodes), op.Error)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return printNodes(w, st.Nodes)
}

// printNodes writes the live nodes as a table.
func printNodes(w io.Writer, nodes []cluster.NodeInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tENGINE\tAGENT\tINITIATOR\tSTARTED")
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name, n.Engine, n.AgentURL, n.InitiatorName, n.Started.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func newClusterNodes(f *clusterFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the live nodes registered in etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutputFormat(f.output); err != nil {
				return err
			}
			ctx, cancel := newCtx(cmd)
			defer cancel()
			store, closeEtcd, err := f.store(ctx)
			if err != nil {
				return err
			}
			defer closeEtcd()
			nodes, err := store.Nodes(ctx)
			if err != nil {
				return explainCluster(err, "list the nodes")
			}
			if nodes == nil {
				nodes = []cluster.NodeInfo{}
			}
			return f.print(cmd.OutOrStdout(), nodes, func(w io.Writer) error { return printNodes(w, nodes) })
		},
	}
}

// newClusterEtcd builds "lunar cluster etcd".
func newClusterEtcd(f *clusterFlags) *cobra.Command {
	var dir, name, clientURL, peerURL string
	cmd := &cobra.Command{
		Use:   "etcd --data DIR",
		Short: "Run an embedded single-member etcd for a one-machine set-up, until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--data is required: the directory etcd keeps its data in (created if absent)")
			}
			ctx, stop := signalCtx(cmd)
			defer stop()
			e, err := cluster.StartEtcd(ctx, cluster.EtcdConfig{Dir: dir, Name: name, ClientURL: clientURL, PeerURL: peerURL, Logger: f.log()})
			if err != nil {
				return fmt.Errorf("start etcd: %w (is --listen-client or --listen-peer in use?)", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "etcd serving at %s (data %s); pass --etcd %s to the nodes\n",
				strings.Join(e.Endpoints(), ","), dir, strings.Join(e.Endpoints(), ","))
			<-ctx.Done()
			return e.Close()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "data", "", "etcd's data directory (required)")
	fl.StringVar(&name, "name", "lunar", "the member's name")
	fl.StringVar(&clientURL, "listen-client", defaultEtcdEndpoint, "client URL to listen on and advertise")
	fl.StringVar(&peerURL, "listen-peer", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	return cmd
}
