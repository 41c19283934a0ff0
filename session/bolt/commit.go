package bolt

import (
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// revokeRequest is one Revoke waiting for the committer.
type revokeRequest struct {
	id   session.ID
	at   int64      // unix nanoseconds
	done chan error // buffered, so the committer never blocks on a caller
}

// Revoke records id as revoked until the given time and returns once the
// record is fsynced. An until that is not in the future records nothing:
// that session has expired anyway.
//
// ctx is honoured until the committer takes the request: after that the
// record is written and Revoke waits for it, which takes one fsync.
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
	req := &revokeRequest{id: id, at: unixNano(until), done: make(chan error, 1)}
	select {
	case s.requests <- req:
		return <-req.done
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return session.ErrClosed
	}
}

// commitLoop is the only writer of records. It blocks for one request,
// then takes every other request already waiting (up to maxBatch) and
// writes them all in one transaction: callers that arrive during an fsync
// share the next one, and a lone caller is written at once, with no timer.
func (s *Store) commitLoop() {
	defer s.workers.Done()
	batch := make([]*revokeRequest, 0, s.maxBatch)
	for {
		select {
		case req := <-s.requests:
			batch = s.drain(append(batch[:0], req))
			err := s.writeBatch(batch)
			for _, r := range batch {
				r.done <- err
			}
			clear(batch) // let the answered requests be collected
		case <-s.stop:
			return
		}
	}
}

// drain adds the requests already waiting, without blocking.
func (s *Store) drain(batch []*revokeRequest) []*revokeRequest {
	for len(batch) < s.maxBatch {
		select {
		case req := <-s.requests:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

func (s *Store) writeBatch(batch []*revokeRequest) error {
	err := s.update(func(tx *bbolt.Tx) error {
		records, index := tx.Bucket(recordsBucket), tx.Bucket(expiryBucket)
		for _, r := range batch {
			if err := putRecord(records, index, r.id, r.at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("writing revocations failed",
			zap.String("path", s.path), zap.Int("batch", len(batch)), zap.Error(err))
		return s.wrap(err)
	}
	s.commits.Add(1)
	return nil
}
