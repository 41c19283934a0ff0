package redis

import (
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/view"
)

func newView(limit int, staleAfter time.Duration, redis string, log *zap.Logger) *view.View {
	return view.New(view.Options{
		Limit: limit, StaleAfter: staleAfter, Name: "the view of Redis", Source: "Redis",
		Logger: log, LogField: zap.String("redis", redis), LimitOption: "view_limit",
	})
}

// ViewLookup implements session.LocalView: until when id is revoked as far
// as the view knows, without I/O, and whether the view is current (so that
// an ID it does not hold is not revoked). It does not allocate.
func (s *Store) ViewLookup(id session.ID) (until time.Time, current bool) { return s.view.Lookup(id) }

// Remember adds a revocation to the view without telling Redis: the
// journal's, which Redis does not have yet, or may have lost.
func (s *Store) Remember(id session.ID, until time.Time) { s.view.Add(id, until.UnixMilli()) }

// ViewStatus reports the view's state.
func (s *Store) ViewStatus() session.ViewStatus {
	st := s.view.Status()
	return session.ViewStatus{
		Revocations: st.Revocations, Limit: st.Limit, Current: st.Current, Full: st.Full, Dropped: st.Dropped,
		Reloads: s.reloads.Load(), CaughtUp: s.caughtUp.Load(),
	}
}

// sweepView forgets expired revocations every interval, reloads the view
// once it has room again after being full, and saves it now and then.
func (s *Store) sweepView(every time.Duration) {
	defer s.workers.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	saves := time.NewTicker(snapshotEvery)
	defer saves.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-saves.C:
			s.save()
			continue
		case <-t.C:
		}
		removed, reload := s.view.Sweep(s.now().UnixMilli())
		if removed > 0 {
			s.log.Debug("expired revocations left the view", zap.String("redis", s.addrs), zap.Int("removed", removed))
		}
		if reload {
			s.wantReload.Store(true)
		}
	}
}
