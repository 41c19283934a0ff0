package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// revokeRequest is one Revoke waiting for the committer.
type revokeRequest struct {
	id session.ID
	at int64 // unix nanoseconds
}

// Revoke records id as revoked until the given time and returns once the
// record is fsynced. An until that is not in the future records nothing:
// that session has expired anyway.
//
// Concurrent Revokes share one write transaction (group commit). ctx is
// honoured until the committer takes the request: after that the record
// is written and Revoke waits for it, which takes one fsync.
func (s *Store) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return session.ErrClosed
	}
	if !until.After(s.now()) || !until.After(time.Unix(0, 0)) {
		return nil // (the expiry index sorts only times after 1970)
	}
	return s.committer.Submit(ctx, s.stop, revokeRequest{id: id, at: unixnano.Of(until)})
}

func (s *Store) writeBatch(batch []revokeRequest) error {
	err := s.file.Update(func(tx *bbolt.Tx) error {
		records, index := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(boltfile.ExpiryBucket)
		for _, r := range batch {
			if err := boltfile.PutRecord(records, index, r.id, r.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("writing revocations failed",
			zap.String("path", s.path), zap.Int("batch", len(batch)), zap.Error(err))
		return err
	}
	s.commits.Add(1)
	for _, r := range batch {
		s.view.Add(r.id, viewUntil(r.at)) // before the Revokes return
	}
	return nil
}
