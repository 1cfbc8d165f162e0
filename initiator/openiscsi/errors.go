package openiscsi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lunarsan/lunar/initiator"
)

// ExitCode is an exit status of iscsiadm, open-iscsi's ISCSI_ERR_* codes
// as its manual page (iscsiadm(8), EXIT STATUS) lists them.
type ExitCode int

// iscsiadm's exit codes.
const (
	ExitSuccess              ExitCode = 0  // ISCSI_SUCCESS
	ExitGeneric              ExitCode = 1  // ISCSI_ERR: generic error
	ExitSessionNotFound      ExitCode = 2  // ISCSI_ERR_SESS_NOT_FOUND
	ExitNoMemory             ExitCode = 3  // ISCSI_ERR_NOMEM
	ExitTransport            ExitCode = 4  // ISCSI_ERR_TRANS: connect problem
	ExitLogin                ExitCode = 5  // ISCSI_ERR_LOGIN: generic login failure
	ExitNodeDatabase         ExitCode = 6  // ISCSI_ERR_IDBM: node database error
	ExitInvalid              ExitCode = 7  // ISCSI_ERR_INVAL: invalid argument
	ExitTransportTimeout     ExitCode = 8  // ISCSI_ERR_TRANS_TIMEOUT: connect timer expired
	ExitInternal             ExitCode = 9  // ISCSI_ERR_INTERNAL: iscsid/kernel failure
	ExitLogout               ExitCode = 10 // ISCSI_ERR_LOGOUT: logout failed
	ExitPDUTimeout           ExitCode = 11 // ISCSI_ERR_PDU_TIMEOUT
	ExitTransportNotFound    ExitCode = 12 // ISCSI_ERR_TRANS_NOT_FOUND: iscsi_tcp not loaded
	ExitAccess               ExitCode = 13 // ISCSI_ERR_ACCESS: no permission
	ExitTransportCaps        ExitCode = 14 // ISCSI_ERR_TRANS_CAPS
	ExitSessionExists        ExitCode = 15 // ISCSI_ERR_SESS_EXISTS: already logged in
	ExitInvalidMgmtRequest   ExitCode = 16 // ISCSI_ERR_INVALID_MGMT_REQ
	ExitISNSUnavailable      ExitCode = 17 // ISCSI_ERR_ISNS_UNAVAILABLE
	ExitDaemonComm           ExitCode = 18 // ISCSI_ERR_ISCSID_COMM_ERR: read/write to iscsid failed
	ExitFatalLogin           ExitCode = 19 // ISCSI_ERR_FATAL_LOGIN
	ExitDaemonNotConnected   ExitCode = 20 // ISCSI_ERR_ISCSID_NOTCONN: iscsid not running
	ExitNoObjectsFound       ExitCode = 21 // ISCSI_ERR_NO_OBJS_FOUND: no records, targets, sessions or portals
	ExitSysfsLookup          ExitCode = 22 // ISCSI_ERR_SYSFS_LOOKUP
	ExitHostNotFound         ExitCode = 23 // ISCSI_ERR_HOST_NOT_FOUND
	ExitLoginAuthFailed      ExitCode = 24 // ISCSI_ERR_LOGIN_AUTH_FAILED: authentication or authorization refused
	ExitISNSQuery            ExitCode = 25 // ISCSI_ERR_ISNS_QUERY
	ExitISNSRegistration     ExitCode = 26 // ISCSI_ERR_ISNS_REG_FAILED
	ExitNotSupported         ExitCode = 27 // ISCSI_ERR_OP_NOT_SUPP
	ExitBusy                 ExitCode = 28 // ISCSI_ERR_BUSY: device or resource in use
	ExitAgain                ExitCode = 29 // ISCSI_ERR_AGAIN: retrying later may succeed
	ExitUnknownDiscoveryType ExitCode = 30 // ISCSI_ERR_UNKNOWN_DISCOVERY_TYPE
	ExitChildTerminated      ExitCode = 31 // ISCSI_ERR_CHILD_TERMINATED
	ExitSessionNotConnected  ExitCode = 32 // ISCSI_ERR_SESSION_NOT_CONNECTED
)

var exitNames = [...]string{
	"success", "generic error", "session not found", "out of memory",
	"connect failed", "login failed", "node database error", "invalid argument",
	"connect timed out", "internal iscsid or kernel error", "logout failed", "PDU timed out",
	"iSCSI transport not loaded", "permission denied", "transport cannot do it", "session exists",
	"invalid management request", "iSNS unavailable", "iscsid communication failed", "fatal login error",
	"iscsid not running", "no records, targets, sessions or portals found", "sysfs lookup failed", "host not found",
	"login refused: authentication or authorization failure", "iSNS query failed", "iSNS registration failed", "operation not supported",
	"busy", "try again", "unknown discovery type", "child process terminated",
	"session not connected",
}

// String names the code ("session exists").
func (c ExitCode) String() string {
	if c >= 0 && int(c) < len(exitNames) {
		return exitNames[c]
	}
	return fmt.Sprintf("exit status %d", int(c))
}

// Sentinel errors the exit codes map to (an *ExitError matches them with
// errors.Is); each also matches one of the initiator package's engine
// sentinels.
var (
	// ErrSessionExists: the session is logged in already (15).
	ErrSessionExists = errors.New("openiscsi: session exists")
	// ErrNoObjects: no node record, target, session or portal matched
	// (21, and 2 for a session).
	ErrNoObjects = errors.New("openiscsi: no such record, target, session or portal")
	// ErrAuthFailed: the target refused the login's authentication or
	// authorization (24).
	ErrAuthFailed = errors.New("openiscsi: login refused by the target")
	// ErrLoginFailed: the login failed otherwise (5, 19).
	ErrLoginFailed = errors.New("openiscsi: login failed")
	// ErrConnect: the portal could not be reached or timed out (4, 8, 11,
	// 32).
	ErrConnect = errors.New("openiscsi: cannot reach the portal")
	// ErrDaemon: iscsid is not running or does not answer (18, 20, 9).
	ErrDaemon = errors.New("openiscsi: iscsid unavailable")
	// ErrBusy: a device is in use or the operation should be retried
	// (28, 29).
	ErrBusy = errors.New("openiscsi: busy")
	// ErrInvalid: iscsiadm refused its arguments (7, 16, 27, 30) or the
	// engine's configuration is wrong.
	ErrInvalid = errors.New("openiscsi: invalid request")
	// ErrSetup: the host lacks something iscsiadm needs: the iscsi_tcp
	// module, permissions, its node database (6, 12, 13, 14, 22, 23).
	ErrSetup = errors.New("openiscsi: host set-up")
	// ErrFailed: any other failure of iscsiadm (1, 3, 10, 17, 25, 26,
	// 31, unknown codes).
	ErrFailed = errors.New("openiscsi: iscsiadm failed")
	// ErrNoDisk: no disk with the WWN is connected on this host.
	ErrNoDisk = errors.New("openiscsi: disk not connected")
)

// kind returns the sentinel a code maps to.
func (c ExitCode) kind() error {
	switch c {
	case ExitSessionExists:
		return ErrSessionExists
	case ExitNoObjectsFound, ExitSessionNotFound:
		return ErrNoObjects
	case ExitLoginAuthFailed:
		return ErrAuthFailed
	case ExitLogin, ExitFatalLogin:
		return ErrLoginFailed
	case ExitTransport, ExitTransportTimeout, ExitPDUTimeout, ExitSessionNotConnected:
		return ErrConnect
	case ExitDaemonComm, ExitDaemonNotConnected, ExitInternal:
		return ErrDaemon
	case ExitBusy, ExitAgain:
		return ErrBusy
	case ExitInvalid, ExitInvalidMgmtRequest, ExitNotSupported, ExitUnknownDiscoveryType:
		return ErrInvalid
	case ExitNodeDatabase, ExitTransportNotFound, ExitAccess, ExitTransportCaps, ExitSysfsLookup, ExitHostNotFound:
		return ErrSetup
	}
	return ErrFailed
}

// engineKind returns the initiator engine sentinel a package sentinel
// falls under.
func engineKind(kind error) error {
	switch kind {
	case ErrNoObjects, ErrNoDisk:
		return initiator.ErrEngineNotFound
	case ErrInvalid:
		return initiator.ErrEngineInvalid
	case ErrSessionExists:
		return nil
	}
	return initiator.ErrEngineUnavailable
}

// ExitError is a failed iscsiadm run: the operation, the arguments, the
// exit code and the last lines iscsiadm printed. errors.Is matches it
// with the sentinel its code maps to (ErrAuthFailed for 24 ...) and with
// that sentinel's initiator engine sentinel.
type ExitError struct {
	// Op says what the engine was doing ("login to iqn...").
	Op string
	// Args are iscsiadm's arguments (CHAP secrets replaced by "***").
	Args []string
	// Code is the exit code.
	Code ExitCode
	// Output is iscsiadm's output, trimmed.
	Output string
}

// Error describes the failure with iscsiadm's own message.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("openiscsi: %s: iscsiadm exited %d (%s)", e.Op, int(e.Code), e.Code)
	if out := lastLine(e.Output); out != "" {
		msg += ": " + out
	}
	return msg
}

// Is matches the sentinel e's code maps to and its engine sentinel.
func (e *ExitError) Is(target error) bool {
	k := e.Code.kind()
	if target == k {
		return true
	}
	ek := engineKind(k)
	return ek != nil && target == ek
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// engineError wraps err (a package sentinel) with its engine sentinel.
func engineError(kind error, format string, args ...any) error {
	ek := engineKind(kind)
	msg := fmt.Sprintf(format, args...)
	if ek == nil {
		return fmt.Errorf("%w: %s", kind, msg)
	}
	return fmt.Errorf("%w: %w: %s", kind, ek, msg)
}
