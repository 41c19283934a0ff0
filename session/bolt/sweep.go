package bolt

import (
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
)

func (s *Store) sweepLoop(every time.Duration) {
	defer s.workers.Done()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			removed, err := s.Sweep()
			if err != nil {
				s.log.Warn("sweeping expired revocations failed", zap.String("path", s.path), zap.Error(err))
				continue
			}
			s.log.Debug("swept expired revocations", zap.String("path", s.path), zap.Int("removed", removed))
			if _, reload := s.view.Sweep(s.now().UnixMilli()); reload {
				s.loadView() // room again after the view was full
			}
			owners, err := s.SweepOwners(s.sweepChunkSize)
			if err != nil {
				s.log.Warn("sweeping expired session owners failed", zap.String("path", s.path), zap.Error(err))
				continue
			}
			s.log.Debug("swept expired session owners", zap.String("path", s.path), zap.Int("removed", owners))
		case <-s.stop:
			return
		}
	}
}

// Sweep deletes every record that has expired and reports how many. It
// reads the expiry index from its start and stops at the first live record.
// It works in chunks and stops early, without error, if Close is called.
func (s *Store) Sweep() (removed int, err error) {
	if s.closed.Load() {
		return 0, session.ErrClosed
	}
	removed, err = s.file.Sweep(s.now().UnixNano(), s.sweepChunkSize, s.stop, boltfile.SweepHooks{})
	if err != nil {
		return removed, err
	}
	_, err = s.sweepGroups()
	return removed, err
}
