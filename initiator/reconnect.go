package initiator

import (
	"fmt"
	"time"

	"github.com/lunarsan/lunar/iscsi"
)

// reconnect logs in again after a connection loss, with the session's
// ISID and TSIH 0, so the target reinstates the session (RFC 7143 section
// 6.3.5) and the I_T nexus, with its persistent-reservation
// registrations, stays the same. It tries cfg.Reconnect.Attempts logins
// with exponential backoff; when they all fail the session fails.
func (s *Session) reconnect(cause error) {
	defer s.wg.Done()
	// Asynchronous commands the new login re-issued or the failure ended
	// may have callbacks to run.
	defer s.runDone()
	pol := s.cfg.Reconnect
	wait := pol.MinBackoff
	last := cause
	for attempt := 0; attempt < pol.Attempts; attempt++ {
		if attempt > 0 {
			tm := time.NewTimer(wait)
			select {
			case <-tm.C:
			case <-s.ctx.Done():
				tm.Stop()
				return
			}
			wait = min(wait*2, pol.MaxBackoff)
		}
		lr, err := loginDial(s.ctx, &s.cfg, iscsi.SessionNormal)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.log.Debug().Err(err).Int("attempt", attempt+1).Msg("reconnect failed")
			last = err
			if !errorsIsTemporary(err) {
				break
			}
			continue
		}
		s.mu.Lock()
		if s.state != StateReconnecting {
			s.mu.Unlock()
			lr.nc.Close()
			return
		}
		// Commands wait to be re-issued: read at once.
		s.installLocked(newSessConn(s), lr, true)
		s.setStateLocked(StateLoggedIn)
		s.wakeWaitersLocked()
		s.mu.Unlock()
		s.log.Debug().Uint16("tsih", lr.tsih).Int("attempt", attempt+1).Msg("reconnected")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateReconnecting {
		s.failLocked(fmt.Errorf("%w: %d reconnect attempts failed: %w", ErrSessionFailed, pol.Attempts, last))
	}
}
