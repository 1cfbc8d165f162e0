//go:build !unix

package initiator

import (
	"net"
	"syscall"
	"time"

	"github.com/lunarsan/lunar/internal/vecwrite"
)

// connRaw returns nil: the reader never writes without blocking here.
func connRaw(nc net.Conn) syscall.RawConn { return nil }

// connPollIn is unused here.
const connPollIn = 1

// connPoller is a stub: newConnPoller returns nil here, and the reader
// waits in Go's network poller.
type connPoller struct{}

// newConnPoller returns nil.
func newConnPoller(nc net.Conn) *connPoller { return nil }

func (p *connPoller) tryRead(b []byte) (int, error)                             { return 0, nil }
func (p *connPoller) tryReadv(b, la []byte) (int, int, error)                   { return 0, 0, nil }
func (p *connPoller) readvNetpoll(b, la []byte) (int, int, error)               { return 0, 0, nil }
func (p *connPoller) wait(events int16, now, deadline time.Time) error          { return nil }
func (p *connPoller) writeAll(cw *vecwrite.Collector, deadline time.Time) error { return nil }
func (p *connPoller) shutdown()                                                 {}
func (p *connPoller) closeWake()                                                {}
