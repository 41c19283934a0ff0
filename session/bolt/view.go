package bolt

import (
	"bytes"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/internal/view"
)

// The view is every live record in memory (session/internal/view), so the
// guard's usual question, about a session nobody revoked, costs no read
// transaction: the file is this node's alone, so a view loaded from it and
// kept with every commit is complete. It is loaded in the background at
// Open (lookups read the file until then) and swept with the file; past
// ViewLimit it stops being current and lookups read the file, as before.

// DefaultViewLimit is Options.ViewLimit's default.
const DefaultViewLimit = 10_000_000

// loadChunk is how many records one read transaction of the load takes:
// a long read transaction would hold back the file's growth.
const loadChunk = 10_000

// ViewLookup implements session.LocalView.
func (s *Store) ViewLookup(id session.ID) (until time.Time, current bool) { return s.view.Lookup(id) }

// ViewStatus reports the view's state.
func (s *Store) ViewStatus() session.ViewStatus {
	st := s.view.Status()
	return session.ViewStatus{Revocations: st.Revocations, Limit: st.Limit, Current: st.Current, Full: st.Full, Dropped: st.Dropped}
}

func (s *Store) newView(limit int) *view.View {
	return view.New(view.Options{
		Limit: limit, Name: "the bolt store's view", Source: "the file",
		Logger: s.log, LogField: zap.String("path", s.path), LimitOption: "view_limit",
	})
}

// loadView reads every live record into the view, a chunk at a time.
func (s *Store) loadView() {
	start := time.Now()
	var after []byte
	for !s.closed.Load() {
		now := s.now().UnixNano()
		n := 0
		err := s.file.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(boltfile.RecordsBucket).Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < loadChunk; k, v = c.Next() {
				n++
				after = append(after[:0], k...)
				at, err := boltfile.DecodeExpiry(v)
				if len(k) != len(session.ID{}) || err != nil || at <= now {
					continue
				}
				s.view.Add(session.ID(k), viewUntil(at))
			}
			return nil
		})
		if err != nil {
			s.log.Warn("loading the bolt store's view failed; lookups read the file", zap.String("path", s.path), zap.Error(err))
			return
		}
		if n < loadChunk {
			break
		}
	}
	s.view.SetLoaded(true, "")
	s.log.Debug("bolt store's view loaded", zap.String("path", s.path),
		zap.Int("revocations", s.view.Status().Revocations), zap.Duration("took", time.Since(start)))
}

// viewUntil is a record's expiry in the view's milliseconds, rounded up:
// the view never lets a session go before the file would.
func viewUntil(at int64) int64 { return (at + int64(time.Millisecond) - 1) / int64(time.Millisecond) }

var _ session.LocalView = (*Store)(nil)
