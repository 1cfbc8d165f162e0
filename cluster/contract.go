package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/lunarsan/lunar/initiator"
)

// This file is the contract between the package's three layers: the cluster
// state in etcd (Store), the node agent (Agent, AgentClient, Engine) and the
// operation runner (Runner). Each layer is written against these types only.

// Sentinel errors shared by every layer. Errors wrap them with %w and the
// details (group, node, operation id).
var (
	// ErrNotFound: the named node, group, resource or disk does not exist.
	ErrNotFound = errors.New("cluster: not found")
	// ErrConflict: another operation holds the group, another node owns
	// it, or a revision check failed after the retries.
	ErrConflict = errors.New("cluster: conflict")
	// ErrNotOwner: this node does not own the resource group.
	ErrNotOwner = errors.New("cluster: not the owner of the resource group")
	// ErrInvalid: a request is malformed (missing or bad field).
	ErrInvalid = errors.New("cluster: invalid request")
	// ErrTimeout: a node did not finish its part within its timeout.
	ErrTimeout = errors.New("cluster: timed out")
	// ErrUnavailable: a dependency (etcd, the storage API, an agent)
	// cannot be reached.
	ErrUnavailable = errors.New("cluster: unavailable")
)

// Step names one timed step of an operation on one node.
type Step string

// The steps, in the order an operation runs them.
const (
	StepCreateLUN  Step = "create-lun" // the storage system creates the LUN
	StepMap        Step = "map"        // the node's igroup is created or joined and the LUN mapped to it
	StepLogin      Step = "login"      // the node's initiator logs in or reuses its session
	StepArrival    Step = "arrival"    // the disk with the LUN's WWN appears on the node
	StepFormat     Step = "format"     // the active node writes the partition table and filesystem
	StepVerify     Step = "verify"     // a passive node reads the label back
	StepRegister   Step = "register"   // the resource is recorded in etcd
	StepFlush      Step = "flush"      // SYNCHRONIZE CACHE before the disk is released
	StepRelease    Step = "release"    // the node forgets the disk
	StepUnmap      Step = "unmap"      // the LUN map to the node's igroup is removed
	StepLogout     Step = "logout"     // the session is logged out (no LUN left on it)
	StepDeleteLUN  Step = "delete-lun" // the storage system deletes the LUN
	StepRollback   Step = "rollback"   // the operation's own changes are undone
	StepUnregister Step = "unregister" // the resource is removed from etcd
)

// StepTiming is one step's start, duration and outcome.
type StepTiming struct {
	// Step is the step's name.
	Step Step `json:"step"`
	// Start is when the step began.
	Start time.Time `json:"start"`
	// Duration is how long it ran.
	Duration time.Duration `json:"duration_ns"`
	// Error is the step's error text, empty when it succeeded.
	Error string `json:"error,omitempty"`
}

// NodeStatus is a node's outcome in an operation.
type NodeStatus string

// Node outcomes.
const (
	NodeOK       NodeStatus = "ok"
	NodeFailed   NodeStatus = "failed"
	NodeTimedOut NodeStatus = "timed-out"
	NodeSkipped  NodeStatus = "skipped"
	NodeRunning  NodeStatus = "running"
)

// Role is a node's role in a resource group.
type Role string

// Roles.
const (
	RoleActive  Role = "active"
	RolePassive Role = "passive"
)

// NodeInfo is a node as registered in etcd (under a lease: it disappears
// when the node's agent stops renewing it).
type NodeInfo struct {
	// Name is the node's unique name.
	Name string `json:"name"`
	// InitiatorName is the node initiator's iSCSI name.
	InitiatorName string `json:"initiator_name"`
	// AgentURL is the base URL of the node's agent API.
	AgentURL string `json:"agent_url"`
	// Engine names the node's initiator engine ("userspace", "open-iscsi").
	Engine string `json:"engine"`
	// Started is when the agent started.
	Started time.Time `json:"started"`
}

// DiskState is a disk resource's state.
type DiskState string

// Disk resource states.
const (
	DiskOnline  DiskState = "online"
	DiskOffline DiskState = "offline"
	DiskFailed  DiskState = "failed"
)

// DiskResource is a disk recorded in a resource group.
type DiskResource struct {
	// Name is the resource's name, also the LUN's name on the storage
	// system and the GPT partition's name.
	Name string `json:"name"`
	// WWN is the LUN's NAA identifier ("naa." and hex digits).
	WWN string `json:"wwn"`
	// Serial is the LUN's unit serial number.
	Serial string `json:"serial"`
	// Target is the target's IQN.
	Target string `json:"target"`
	// Portal is the target portal, "host:port".
	Portal string `json:"portal"`
	// Path is the LUN's backing path on the storage system.
	Path string `json:"path"`
	// Size is the capacity in bytes.
	Size int64 `json:"size"`
	// PossibleOwners are the nodes that connected the disk and may take
	// the group over (the active node is listed too).
	PossibleOwners []string `json:"possible_owners"`
	// State is the resource's state.
	State DiskState `json:"state"`
	// Created is when the resource was recorded.
	Created time.Time `json:"created"`
}

// Group is a resource group: an owner (the active node), its member nodes
// and its disk resources.
type Group struct {
	// Name is the group's name.
	Name string `json:"name"`
	// Owner is the active node's name.
	Owner string `json:"owner"`
	// Nodes are the group's member nodes (the owner included).
	Nodes []string `json:"nodes"`
	// Resources are the group's disks, in creation order.
	Resources []DiskResource `json:"resources"`
	// Revision is etcd's ModRevision of the group's key when it was read;
	// an update commits only if it is still current.
	Revision int64 `json:"revision"`
}

// OperationKind names a cluster operation.
type OperationKind string

// Operations.
const (
	OpCreate     OperationKind = "create"
	OpConnect    OperationKind = "connect"
	OpDisconnect OperationKind = "disconnect"
	OpDelete     OperationKind = "delete"
)

// Mode is how the passive nodes are driven.
type Mode string

// Modes.
const (
	ModeParallel Mode = "parallel"
	ModeSerial   Mode = "serial"
)

// PartialFailure says what an operation does when some passive nodes fail.
type PartialFailure string

// Partial-failure policies.
const (
	// KeepPartial records the resource with the nodes that succeeded.
	KeepPartial PartialFailure = "keep"
	// RollbackPartial undoes every mapping and login the operation made
	// and deletes a LUN it created.
	RollbackPartial PartialFailure = "rollback"
)

// OperationRequest asks the owner of a group to run one operation.
type OperationRequest struct {
	// ID identifies the operation (and makes retries idempotent); empty
	// means one is generated.
	ID string `json:"id"`
	// Kind is the operation.
	Kind OperationKind `json:"kind"`
	// Group is the resource group.
	Group string `json:"group"`
	// Resource is the disk resource's (and LUN's) name.
	Resource string `json:"resource"`
	// Size is the LUN's size in bytes (create only).
	Size int64 `json:"size,omitempty"`
	// Target is the target IQN; empty means the storage system's default.
	Target string `json:"target,omitempty"`
	// Portal is the target portal the nodes log in to, "host:port".
	Portal string `json:"portal"`
	// Passive lists the passive nodes; empty means the group's members
	// other than the owner, or for a new group every live node.
	Passive []string `json:"passive,omitempty"`
	// Mode is parallel (the default) or serial.
	Mode Mode `json:"mode,omitempty"`
	// MaxParallel bounds the passive nodes driven at once; zero means no
	// bound.
	MaxParallel int `json:"max_parallel,omitempty"`
	// NodeTimeout bounds each node's part; zero means DefaultNodeTimeout.
	NodeTimeout time.Duration `json:"node_timeout_ns,omitempty"`
	// OnPartialFailure is keep (the default) or rollback.
	OnPartialFailure PartialFailure `json:"on_partial_failure,omitempty"`
	// NoFormat skips formatting (create only).
	NoFormat bool `json:"no_format,omitempty"`
}

// DefaultNodeTimeout bounds a node's part of an operation when the request
// gives none.
const DefaultNodeTimeout = 60 * time.Second

// NodeResult is one node's outcome in an operation.
type NodeResult struct {
	// Node is the node's name.
	Node string `json:"node"`
	// Role is the node's role.
	Role Role `json:"role"`
	// Status is the outcome.
	Status NodeStatus `json:"status"`
	// Error is the error text for a node that did not succeed.
	Error string `json:"error,omitempty"`
	// Steps are the node's steps in order.
	Steps []StepTiming `json:"steps"`
	// Total is the node's wall time from its first step to its last.
	Total time.Duration `json:"total_ns"`
}

// OperationResult is the whole outcome of an operation, as returned to the
// operator and recorded in etcd's operation log.
type OperationResult struct {
	// ID identifies the operation.
	ID string `json:"id"`
	// Kind is the operation.
	Kind OperationKind `json:"kind"`
	// Group is the resource group.
	Group string `json:"group"`
	// Resource is the disk resource's name.
	Resource string `json:"resource"`
	// Mode is how the passive nodes were driven.
	Mode Mode `json:"mode"`
	// Started is when the operation began.
	Started time.Time `json:"started"`
	// Active is T: the active node's part (everything before the fan-out).
	Active time.Duration `json:"active_ns"`
	// FanOut is the fan-out's wall time (max(T1_i) in parallel mode,
	// sum(T1_i) in serial mode).
	FanOut time.Duration `json:"fan_out_ns"`
	// Total is the operation's wall time.
	Total time.Duration `json:"total_ns"`
	// Nodes lists every node's result, the active node first.
	Nodes []NodeResult `json:"nodes"`
	// Disk is the resource as recorded (create and connect).
	Disk *DiskResource `json:"disk,omitempty"`
	// RolledBack reports that the operation's changes were undone.
	RolledBack bool `json:"rolled_back,omitempty"`
	// Error is the operation's error text, empty on success.
	Error string `json:"error,omitempty"`
}

// ProgressEvent reports a node starting or finishing a step while an
// operation runs (for live progress lines).
type ProgressEvent struct {
	// Time is when the event happened.
	Time time.Time `json:"time"`
	// Node is the node's name.
	Node string `json:"node"`
	// Role is the node's role.
	Role Role `json:"role"`
	// Step is the step started or finished.
	Step Step `json:"step"`
	// Done is false when the step starts, true when it ends.
	Done bool `json:"done"`
	// Status is the node's status after a final event (NodeRunning
	// before).
	Status NodeStatus `json:"status"`
	// Error is a finished step's error text.
	Error string `json:"error,omitempty"`
}

// ConnectRequest asks a node's agent to connect one LUN.
type ConnectRequest struct {
	// RequestID identifies the request; a repeat with the same ID and
	// fields returns the first answer.
	RequestID string `json:"request_id"`
	// LUN is the LUN's name on the storage system.
	LUN string `json:"lun"`
	// WWN is the LUN's NAA identifier, which the node waits to see.
	WWN string `json:"wwn"`
	// Target is the target IQN; empty means the storage system's default.
	Target string `json:"target,omitempty"`
	// Portal is the target portal, "host:port".
	Portal string `json:"portal"`
	// ExpectLabel, when set, is the GPT partition name the node must read
	// back from the disk (StepVerify).
	ExpectLabel string `json:"expect_label,omitempty"`
	// Mapped says the storage system maps the LUN to the node's igroup
	// already (the create mapped it to the active node in the same
	// request): the node skips StepMap.
	Mapped bool `json:"mapped,omitempty"`
	// LUNID, when set, is the LUN number at which the storage system
	// maps the LUN to the node's igroup (with Mapped: the create's
	// answer said so); the node looks for the disk there first (see
	// initiator.LUNWaiter). A node that maps the LUN itself learns it
	// from its map.
	LUNID *uint64 `json:"lun_id,omitempty"`
	// Owner says the node takes the disk's reservation right after the
	// connect (the create's active node): it registers its key with that
	// reservation, in the same round trip, instead of at arrival.
	Owner bool `json:"owner,omitempty"`
	// Timeout bounds the whole connect; zero means DefaultNodeTimeout.
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

// ConnectResponse is a node's answer to a connect.
type ConnectResponse struct {
	// RequestID echoes the request's.
	RequestID string `json:"request_id"`
	// Node is the answering node.
	Node string `json:"node"`
	// Disk is the connected disk.
	Disk DiskStatus `json:"disk"`
	// Steps are the node's steps (map, login, arrival, verify).
	Steps []StepTiming `json:"steps"`
}

// DisconnectRequest asks a node's agent to disconnect one LUN.
type DisconnectRequest struct {
	// RequestID identifies the request.
	RequestID string `json:"request_id"`
	// LUN is the LUN's name on the storage system.
	LUN string `json:"lun"`
	// WWN is the LUN's NAA identifier.
	WWN string `json:"wwn"`
	// Target is the target IQN; empty means the storage system's default.
	Target string `json:"target,omitempty"`
	// Timeout bounds the whole disconnect; zero means DefaultNodeTimeout.
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

// DisconnectResponse is a node's answer to a disconnect.
type DisconnectResponse struct {
	// RequestID echoes the request's.
	RequestID string `json:"request_id"`
	// Node is the answering node.
	Node string `json:"node"`
	// Steps are the node's steps (flush, release, unmap, logout).
	Steps []StepTiming `json:"steps"`
}

// FormatRequest asks a node's agent to format a connected disk: a GPT with
// one partition named Label holding a filesystem labelled Label.
type FormatRequest struct {
	// RequestID identifies the request.
	RequestID string `json:"request_id"`
	// WWN selects the connected disk.
	WWN string `json:"wwn"`
	// Label is the partition's name and the filesystem's label.
	Label string `json:"label"`
	// Fresh says the disk was created by this operation and never
	// written (FormatOptions.Fresh): the format reads nothing first.
	Fresh bool `json:"fresh,omitempty"`
}

// FormatResponse is a node's answer to a format.
type FormatResponse struct {
	// RequestID echoes the request's.
	RequestID string `json:"request_id"`
	// Node is the answering node.
	Node string `json:"node"`
	// Steps holds the format step.
	Steps []StepTiming `json:"steps"`
}

// DiskStatus is a disk connected on a node (initiator.DiskStatus).
type DiskStatus = initiator.DiskStatus

// NodeAPI is what the operation runner asks of a node: the agent in
// process (*Agent) and over HTTP (*AgentClient) both implement it.
type NodeAPI interface {
	// Connect maps the node's initiator to the LUN, logs in and waits for
	// the disk to arrive.
	Connect(ctx context.Context, req ConnectRequest) (ConnectResponse, error)
	// Disconnect flushes and releases the disk, unmaps it and logs out
	// when no LUN is left on the session.
	Disconnect(ctx context.Context, req DisconnectRequest) (DisconnectResponse, error)
	// Format writes the partition table and filesystem on a connected
	// disk.
	Format(ctx context.Context, req FormatRequest) (FormatResponse, error)
	// Disks lists the node's connected disks.
	Disks(ctx context.Context) ([]DiskStatus, error)
}

// BlockDevice is a connected disk as the format step sees it
// (initiator.BlockDevice).
type BlockDevice = initiator.BlockDevice

// TargetRef names a target and the portal to reach it
// (initiator.TargetRef).
type TargetRef = initiator.TargetRef

// Engine is a node's initiator engine (initiator.Engine): the userspace
// initiator (UserspaceEngine) or the Linux kernel's through open-iscsi
// (initiator/openiscsi). Its methods are safe for concurrent use; waits for
// different disks overlap.
type Engine = initiator.Engine
