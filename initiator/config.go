package initiator

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net"
	"sync/atomic"
	"time"

	"github.com/lunarsan/lunar/iscsi"
	"github.com/rs/zerolog"
)

// Defaults of the zero-valued Config fields.
const (
	// DefaultMaxRecvDataSegmentLength is the MaxRecvDataSegmentLength the
	// initiator declares: 256 KiB.
	DefaultMaxRecvDataSegmentLength = 262144
	// DefaultFirstBurstLength is the FirstBurstLength the initiator offers.
	DefaultFirstBurstLength = 65536
	// DefaultMaxBurstLength is the MaxBurstLength the initiator offers.
	DefaultMaxBurstLength = 262144
	// DefaultMaxOutstandingR2T is the MaxOutstandingR2T the initiator
	// offers.
	DefaultMaxOutstandingR2T = 4
	// DefaultQueueDepth caps the commands a session keeps in flight.
	DefaultQueueDepth = 128
	// MaxQueueDepth is the largest QueueDepth accepted.
	MaxQueueDepth = 4096
	// DefaultNOPInterval is how long a connection may stay silent before
	// the session pings the target with a NOP-Out.
	DefaultNOPInterval = 10 * time.Second
	// DefaultNOPTimeout is how long the session waits for anything from
	// the target after a ping before it drops the connection.
	DefaultNOPTimeout = 15 * time.Second
	// DefaultLoginTimeout bounds one connect-and-login.
	DefaultLoginTimeout = 15 * time.Second
	// DefaultReconnectAttempts is the number of logins tried after a
	// connection loss before the session fails.
	DefaultReconnectAttempts = 10
	// DefaultMinBackoff is the wait before the second reconnect attempt.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the wait between reconnect attempts.
	DefaultMaxBackoff = 5 * time.Second
)

// Bool is a yes/no setting whose zero value means "the default".
type Bool uint8

// The Bool values.
const (
	// BoolDefault keeps the documented default.
	BoolDefault Bool = iota
	// BoolYes turns the setting on.
	BoolYes
	// BoolNo turns the setting off.
	BoolNo
)

// or returns the setting, or def for BoolDefault.
func (b Bool) or(def bool) bool {
	switch b {
	case BoolYes:
		return true
	case BoolNo:
		return false
	}
	return def
}

// CHAP is a CHAP user name and secret.
type CHAP struct {
	// Name is the CHAP_N value.
	Name string
	// Secret is the shared secret, 12 to 255 bytes.
	Secret []byte
}

// ReconnectPolicy bounds how a session logs in again after losing its
// connection: Attempts logins, waiting MinBackoff before the second and
// doubling the wait up to MaxBackoff.
type ReconnectPolicy struct {
	// Attempts is the number of logins tried; zero means
	// DefaultReconnectAttempts and a negative value turns reconnection off
	// (the session fails at the first connection loss).
	Attempts int
	// MinBackoff is the first wait; zero means DefaultMinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the wait; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// Config configures a session or a discovery. The zero value of every
// field but InitiatorName and Portal (and TargetName for Dial) is a
// documented default.
type Config struct {
	// InitiatorName is this initiator's iSCSI name. Required.
	InitiatorName string
	// InitiatorAlias is an optional alias declared at login.
	InitiatorAlias string
	// Portal is the target's address, "host:port" (port 3260 if omitted).
	Portal string
	// TargetName is the target to log in to; required by Dial, ignored by
	// Discover.
	TargetName string
	// CHAP, when set, is what the initiator proves to the target.
	CHAP *CHAP
	// MutualCHAP, when set, is the name and secret the target must prove
	// back (mutual CHAP); it needs CHAP as well.
	MutualCHAP *CHAP
	// CHAPAlgorithms lists the CHAP algorithms offered, in order of
	// preference; nil means iscsi.DefaultCHAPAlgorithms (SHA3-256,
	// SHA-256 and MD5).
	CHAPAlgorithms []iscsi.CHAPAlgorithm
	// ISID is the initiator part of the session identifier. The zero
	// value derives one stably from (InitiatorName, TargetName), so a
	// reconnect reinstates the same I_T nexus and persistent-reservation
	// registrations survive it.
	ISID iscsi.ISID

	// MaxRecvDataSegmentLength is the largest data segment the initiator
	// accepts; zero means DefaultMaxRecvDataSegmentLength.
	MaxRecvDataSegmentLength uint32
	// ImmediateData offers ImmediateData; the default is Yes.
	ImmediateData Bool
	// InitialR2T offers InitialR2T; the default is No (unsolicited
	// Data-Out up to FirstBurstLength).
	InitialR2T Bool
	// FirstBurstLength is offered; zero means DefaultFirstBurstLength.
	FirstBurstLength uint32
	// MaxBurstLength is offered; zero means DefaultMaxBurstLength.
	MaxBurstLength uint32
	// MaxOutstandingR2T is offered; zero means DefaultMaxOutstandingR2T.
	MaxOutstandingR2T uint32
	// HeaderDigest lists the header digests accepted in order of
	// preference ("CRC32C", "None"); nil means {"None"}.
	HeaderDigest []string
	// DataDigest is HeaderDigest for data digests.
	DataDigest []string

	// QueueDepth caps the commands in flight on the session (the target's
	// command window caps them too); zero means DefaultQueueDepth.
	QueueDepth int
	// NOPInterval is how long the connection may stay silent before a
	// NOP-Out ping; zero means DefaultNOPInterval, negative turns pings
	// off.
	NOPInterval time.Duration
	// NOPTimeout is how long a ping may go unanswered before the
	// connection is dropped; zero means DefaultNOPTimeout.
	NOPTimeout time.Duration
	// BusyPoll lets the session's reader poll its socket briefly for the
	// answers of the commands in flight before it sleeps (Linux, with
	// commands started by Session.Start and no Execute call waiting): the
	// default is Yes. It trades CPU time for latency and throughput: a
	// thread that sleeps lets its CPU go idle, and waking an idle CPU
	// (a virtual machine's above all) takes longer than the answer. The
	// reader gives the CPU to any other thread that wants it between two
	// tries, and stops polling by itself while polls keep missing (a slow
	// or distant target). BoolNo sleeps at once.
	BusyPoll Bool
	// LoginTimeout bounds one connect and login; zero means
	// DefaultLoginTimeout.
	LoginTimeout time.Duration
	// Reconnect is the reconnect policy.
	Reconnect ReconnectPolicy
	// Logger receives the session's log; the zero value is silent.
	Logger zerolog.Logger
}

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	if cfg.MaxRecvDataSegmentLength == 0 {
		cfg.MaxRecvDataSegmentLength = DefaultMaxRecvDataSegmentLength
	}
	if cfg.FirstBurstLength == 0 {
		cfg.FirstBurstLength = DefaultFirstBurstLength
	}
	if cfg.MaxBurstLength == 0 {
		cfg.MaxBurstLength = DefaultMaxBurstLength
	}
	if cfg.MaxOutstandingR2T == 0 {
		cfg.MaxOutstandingR2T = DefaultMaxOutstandingR2T
	}
	if cfg.QueueDepth == 0 {
		cfg.QueueDepth = DefaultQueueDepth
	}
	if cfg.NOPInterval == 0 {
		cfg.NOPInterval = DefaultNOPInterval
	}
	if cfg.NOPTimeout == 0 {
		cfg.NOPTimeout = DefaultNOPTimeout
	}
	if cfg.LoginTimeout == 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	if cfg.Reconnect.Attempts == 0 {
		cfg.Reconnect.Attempts = DefaultReconnectAttempts
	}
	if cfg.Reconnect.MinBackoff == 0 {
		cfg.Reconnect.MinBackoff = DefaultMinBackoff
	}
	if cfg.Reconnect.MaxBackoff == 0 {
		cfg.Reconnect.MaxBackoff = DefaultMaxBackoff
	}
	if _, _, err := net.SplitHostPort(cfg.Portal); err != nil && cfg.Portal != "" {
		cfg.Portal = net.JoinHostPort(cfg.Portal, "3260")
	}
	if cfg.ISID == (iscsi.ISID{}) {
		cfg.ISID = deriveISID(cfg.InitiatorName, cfg.TargetName)
	}
	return cfg
}

// validate checks a Config after withDefaults. needTarget is true for a
// Normal session.
func (cfg *Config) validate(needTarget bool) error {
	if err := checkName(cfg.InitiatorName); err != nil {
		return fmt.Errorf("%w: InitiatorName: %w", ErrConfig, err)
	}
	if needTarget {
		if err := checkName(cfg.TargetName); err != nil {
			return fmt.Errorf("%w: TargetName: %w", ErrConfig, err)
		}
	}
	if cfg.Portal == "" {
		return fmt.Errorf("%w: no Portal", ErrConfig)
	}
	if !cfg.ISID.Valid() {
		return fmt.Errorf("%w: ISID %v uses the reserved format", ErrConfig, cfg.ISID)
	}
	if cfg.CHAP != nil {
		if cfg.CHAP.Name == "" {
			return fmt.Errorf("%w: CHAP without a name", ErrConfig)
		}
		if err := iscsi.ValidateCHAPSecret(cfg.CHAP.Secret); err != nil {
			return fmt.Errorf("%w: CHAP: %w", ErrConfig, err)
		}
	}
	if cfg.MutualCHAP != nil {
		if cfg.CHAP == nil {
			return fmt.Errorf("%w: MutualCHAP needs CHAP", ErrConfig)
		}
		if err := iscsi.ValidateCHAPSecret(cfg.MutualCHAP.Secret); err != nil {
			return fmt.Errorf("%w: MutualCHAP: %w", ErrConfig, err)
		}
	}
	m := cfg.MaxRecvDataSegmentLength
	if m < iscsi.MinMaxDataSegmentLength || m > iscsi.MaxMaxDataSegmentLength {
		return fmt.Errorf("%w: MaxRecvDataSegmentLength %d, want %d to %d", ErrConfig, m,
			iscsi.MinMaxDataSegmentLength, iscsi.MaxMaxDataSegmentLength)
	}
	if cfg.FirstBurstLength < 512 || cfg.MaxBurstLength < 512 || cfg.MaxBurstLength > iscsi.MaxMaxDataSegmentLength {
		return fmt.Errorf("%w: burst lengths %d/%d, want 512 to %d", ErrConfig, cfg.FirstBurstLength,
			cfg.MaxBurstLength, iscsi.MaxMaxDataSegmentLength)
	}
	if cfg.FirstBurstLength > cfg.MaxBurstLength {
		return fmt.Errorf("%w: FirstBurstLength %d above MaxBurstLength %d", ErrConfig, cfg.FirstBurstLength, cfg.MaxBurstLength)
	}
	if cfg.MaxOutstandingR2T > 65535 {
		return fmt.Errorf("%w: MaxOutstandingR2T %d, want 1 to 65535", ErrConfig, cfg.MaxOutstandingR2T)
	}
	if cfg.QueueDepth < 1 || cfg.QueueDepth > MaxQueueDepth {
		return fmt.Errorf("%w: QueueDepth %d, want 1 to %d", ErrConfig, cfg.QueueDepth, MaxQueueDepth)
	}
	for _, l := range [][]string{cfg.HeaderDigest, cfg.DataDigest} {
		for _, v := range l {
			if v != iscsi.DigestValueCRC32C && v != iscsi.DigestValueNone {
				return fmt.Errorf("%w: digest %q, want CRC32C or None", ErrConfig, v)
			}
		}
	}
	if cfg.NOPTimeout < 0 || cfg.LoginTimeout < 0 || cfg.Reconnect.MinBackoff < 0 || cfg.Reconnect.MaxBackoff < cfg.Reconnect.MinBackoff {
		return fmt.Errorf("%w: negative timeout or backoff", ErrConfig)
	}
	return nil
}

// validNames holds names that iscsi.ParseName accepted lately, in slots
// chosen by hash: a Config brings the same names to every Dial, and
// checking a name (with its Unicode normalisation) costs more than the
// rest of the validation. ParseName depends on the name alone.
var (
	validNames    [16]atomic.Pointer[string]
	validNameSeed = maphash.MakeSeed()
)

// checkName returns the error of iscsi.ParseName(s), if any.
func checkName(s string) error {
	slot := &validNames[maphash.String(validNameSeed, s)%uint64(len(validNames))]
	if p := slot.Load(); p != nil && *p == s {
		return nil
	}
	if _, err := iscsi.ParseName(s); err != nil {
		return err
	}
	// A copy, so that s itself does not escape: only this slow path
	// allocates.
	v := s
	slot.Store(&v)
	return nil
}

// deriveISID returns a Random-format ISID derived from the initiator and
// target names, the same for the same pair every time.
func deriveISID(initiator, target string) iscsi.ISID {
	// SHA-256 of initiator, a NUL and target; names of up to 223 bytes
	// fit the buffer.
	var buf [2*223 + 1]byte
	b := append(buf[:0], initiator...)
	b = append(b, 0)
	b = append(b, target...)
	sum := sha256.Sum256(b)
	return iscsi.NewRandomISID(binary.BigEndian.Uint32(sum[:4])&0xffffff, binary.BigEndian.Uint16(sum[4:6]))
}
