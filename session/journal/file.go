package journal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// The file holds boltfile's two buckets and two of its own:
//
//	records: ID (32 bytes) -> until (unix ns, 8 bytes big-endian)  every live record this node accepted
//	expiry:  until || ID -> empty                                   records ordered by expiry, for the sweeper
//	pending: ID -> until                                            the subset the backend does not have yet
//	meta:    "reached" -> unix ns                                   the backend answered this journal once
var (
	pendingBucket = []byte("pending")
	metaBucket    = []byte("meta")
	reachedKey    = []byte("reached")
)

const idLen = len(session.ID{})

// openFile opens the journal file; a damaged file is an error, never a
// crash (see boltfile.Open).
func openFile(path string, timeout time.Duration) (*boltfile.File, error) {
	f, err := boltfile.Open(boltfile.Options{
		Name: "journal", Path: path, Timeout: timeout,
		Buckets: [][]byte{pendingBucket, metaBucket},
	})
	if errors.Is(err, boltfile.ErrLockTimeout) {
		return nil, fmt.Errorf("journal: %s is locked by another process or store (waited %s): %w",
			path, timeout, session.ErrLocked)
	}
	return f, err
}

func (s *Store) loadState() (depth int, reached bool, err error) {
	err = s.file.View(func(tx *bbolt.Tx) error {
		depth = tx.Bucket(pendingBucket).Stats().KeyN
		reached = tx.Bucket(metaBucket).Get(reachedKey) != nil
		return nil
	})
	return depth, reached, err
}

// putRequest is one Revoke waiting for the committer.
type putRequest struct {
	id      session.ID
	at      int64
	pending bool
	epoch   uint64
}

// put writes id's record (and marks it pending if asked, or if a requeue
// began since epoch) and returns once it is fsynced; concurrent puts share
// one write transaction (group commit).
func (s *Store) put(ctx context.Context, id session.ID, until time.Time, pending bool, epoch uint64) error {
	return s.committer.Submit(ctx, s.stop, putRequest{id: id, at: unixnano.Of(until), pending: pending, epoch: epoch})
}

func (s *Store) writeBatch(batch []putRequest) error {
	var added int64
	err := s.file.Update(func(tx *bbolt.Tx) error {
		added = 0
		records, pending, index := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(pendingBucket), tx.Bucket(boltfile.ExpiryBucket)
		requeues := s.requeues.Load() // stable: requeueAll bumps it inside its own write transaction
		for _, r := range batch {
			if err := boltfile.PutRecord(records, index, r.id, r.at); err != nil {
				return err
			}
			if r.pending || r.epoch != requeues {
				isNew, err := putPending(pending, r.id, r.at)
				if err != nil {
					return err
				}
				if isNew {
					added++
				}
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("writing to the journal failed", zap.String("journal", s.path), zap.Int("batch", len(batch)), zap.Error(err))
		return err
	}
	s.depth.Add(added)
	return nil
}

// putPending marks id pending with the later expiry; isNew when it was
// not pending before.
func putPending(pending *bbolt.Bucket, id session.ID, at int64) (isNew bool, err error) {
	old, ok := expiryOf(pending.Get(id[:]))
	if ok && old >= at {
		return false, nil
	}
	return !ok, pending.Put(boltfile.KeyOf(id), boltfile.EncodeExpiry(at))
}

// expiryOf reads a record's or pending mark's value; ok is false for a
// missing or malformed one.
func expiryOf(v []byte) (at int64, ok bool) {
	at, err := boltfile.DecodeExpiry(v)
	return at, err == nil
}

// lookup is the journal's answer for id: its record's expiry, if live.
func (s *Store) lookup(id session.ID) (time.Time, error) {
	var at int64
	err := s.file.View(func(tx *bbolt.Tx) error {
		at, _ = expiryOf(tx.Bucket(boltfile.RecordsBucket).Get(id[:]))
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if at <= s.now().UnixNano() {
		return time.Time{}, nil
	}
	return time.Unix(0, at), nil
}

// entry is one record, for the replayer.
type entry struct {
	id session.ID
	at int64
}

// pendingChunk reads up to n pending records, in key order, from the
// first one after the key after (from the first one if nil): the replayer
// walks the whole set past the records the backend refuses.
func (s *Store) pendingChunk(after []byte, n int) ([]entry, error) {
	var out []entry
	err := s.file.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(pendingBucket).Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < n; k, v = c.Next() {
			at, ok := expiryOf(v)
			if len(k) != idLen || !ok {
				continue
			}
			var e entry
			copy(e.id[:], k)
			e.at = at
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// replayed drops entries the backend now has from the pending set, unless
// they were journaled again with a later expiry meanwhile, or a requeue
// began since epoch (then nobody knows which backend got them).
func (s *Store) replayed(done []entry, epoch uint64) error {
	var removed int64
	err := s.file.Update(func(tx *bbolt.Tx) error {
		removed = 0
		if s.requeues.Load() != epoch {
			return nil
		}
		pending := tx.Bucket(pendingBucket)
		for _, e := range done {
			if at, ok := expiryOf(pending.Get(e.id[:])); ok && at <= e.at {
				if err := pending.Delete(e.id[:]); err != nil {
					return err
				}
				removed++
			}
		}
		return nil
	})
	if err == nil {
		s.depth.Add(-removed)
	}
	return err
}

// requeueAll marks every live record pending: the backend lost data.
func (s *Store) requeueAll() (int, error) {
	var total int
	var after []byte
	first := true
	for {
		var added int64
		var n int
		err := s.file.Update(func(tx *bbolt.Tx) error {
			added, n = 0, 0
			if first {
				s.requeues.Add(1) // inside the transaction: see writeBatch
			}
			now := s.now().UnixNano()
			records, pending := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(pendingBucket)
			c := records.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < requeueChunk; k, v = c.Next() {
				at, ok := expiryOf(v)
				if len(k) != idLen || !ok || at <= now {
					continue
				}
				var id session.ID
				copy(id[:], k)
				isNew, err := putPending(pending, id, at)
				if err != nil {
					return err
				}
				if isNew {
					added++
				}
				n++
				after = append(after[:0], k...)
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		first = false
		s.depth.Add(added)
		total += n
		if n < requeueChunk {
			return total, nil
		}
	}
}

const requeueChunk = 10_000

// recent returns up to n of the latest-expiring records that are not
// pending and live for at least another margin: the ones the backend must
// hold if it kept what it acknowledged.
func (s *Store) recent(n int, margin time.Duration) ([]entry, error) {
	var out []entry
	err := s.file.View(func(tx *bbolt.Tx) error {
		pending := tx.Bucket(pendingBucket)
		limit := s.now().Add(margin).UnixNano()
		c := tx.Bucket(boltfile.ExpiryBucket).Cursor()
		for k, _ := c.Last(); k != nil && len(out) < n; k, _ = c.Prev() {
			at, id, ok := boltfile.ParseIndexKey(k)
			if !ok {
				continue
			}
			if at <= limit {
				break
			}
			if pending.Get(id[:]) != nil {
				continue
			}
			out = append(out, entry{id: id, at: at})
		}
		return nil
	})
	return out, err
}

// markReached remembers, durably, that the backend has answered.
func (s *Store) markReached() {
	if s.reached.Load() {
		return
	}
	err := s.file.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(reachedKey, boltfile.EncodeExpiry(s.now().UnixNano()))
	})
	if err == nil {
		s.reached.Store(true)
	}
}

// sweep deletes expired records (and their pending marks), in chunks.
func (s *Store) sweep() (removed int, err error) {
	var gone int64 // pending marks deleted by the transaction under way
	return s.file.Sweep(s.now().UnixNano(), boltfile.DefaultSweepChunk, s.stop, boltfile.SweepHooks{
		Deleted: func(tx *bbolt.Tx, id []byte) error {
			pending := tx.Bucket(pendingBucket)
			if pending.Get(id) == nil {
				return nil
			}
			gone++
			return pending.Delete(id)
		},
		Committed: func() {
			s.depth.Add(-gone)
			gone = 0
		},
	})
}

func (s *Store) sweepLoop() {
	defer s.workers.Done()
	ticker := time.NewTicker(s.sweepEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			if n, err := s.sweep(); err != nil {
				s.log.Warn("sweeping the journal failed", zap.String("journal", s.path), zap.Error(err))
			} else if n > 0 {
				s.log.Debug("swept expired journal records", zap.String("journal", s.path), zap.Int("removed", n))
			}
		case <-s.stop:
			return
		}
	}
}

// rememberAll puts every live record into the backend's view.
func (s *Store) rememberAll() error {
	now := s.now().UnixNano()
	return s.file.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(boltfile.RecordsBucket).ForEach(func(k, v []byte) error {
			at, ok := expiryOf(v)
			if len(k) != idLen || !ok || at <= now {
				return nil
			}
			var id session.ID
			copy(id[:], k)
			s.view.Remember(id, time.Unix(0, at))
			return nil
		})
	})
}
