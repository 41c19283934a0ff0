package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// The file holds four buckets:
//
//	records: ID (32 bytes) -> until (unix ns, 8 bytes big-endian)  every live record this node accepted
//	pending: ID -> until                                            the subset the backend does not have yet
//	expiry:  until || ID -> empty                                   records ordered by expiry, for the sweeper
//	meta:    "reached" -> unix ns                                   the backend answered this journal once
var (
	recordsBucket = []byte("records")
	pendingBucket = []byte("pending")
	expiryBucket  = []byte("expiry")
	metaBucket    = []byte("meta")
	reachedKey    = []byte("reached")
)

const idLen = len(session.ID{})

func openFile(path string, timeout time.Duration) (*bbolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("journal: creating the directory for %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("journal: %s is locked by another process or store (waited %s)", path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("journal: opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{recordsBucket, pendingBucket, expiryBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("journal: preparing %s: %w", path, err)
	}
	return db, nil
}

func (s *Store) loadState() (depth int, reached bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
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
	return s.committer.Submit(ctx, s.stop, putRequest{id: id, at: unixNano(until), pending: pending, epoch: epoch})
}

func (s *Store) writeBatch(batch []putRequest) error {
	var added int64
	err := s.update(func(tx *bbolt.Tx) error {
		added = 0
		records, pending, index := tx.Bucket(recordsBucket), tx.Bucket(pendingBucket), tx.Bucket(expiryBucket)
		requeues := s.requeues.Load() // stable: requeueAll bumps it inside its own write transaction
		for _, r := range batch {
			if err := putMax(records, index, r.id, r.at); err != nil {
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

// putMax keeps the later of id's old and new expiry, with its index entry.
func putMax(records, index *bbolt.Bucket, id session.ID, at int64) error {
	if old, ok := decodeTime(records.Get(id[:])); ok {
		if old >= at {
			return nil
		}
		if err := index.Delete(indexKey(old, id)); err != nil {
			return err
		}
	}
	if err := records.Put(copyID(id), encodeTime(at)); err != nil {
		return err
	}
	return index.Put(indexKey(at, id), []byte{})
}

// putPending marks id pending with the later expiry; isNew when it was
// not pending before.
func putPending(pending *bbolt.Bucket, id session.ID, at int64) (isNew bool, err error) {
	old, ok := decodeTime(pending.Get(id[:]))
	if ok && old >= at {
		return false, nil
	}
	return !ok, pending.Put(copyID(id), encodeTime(at))
}

// lookup is the journal's answer for id: its record's expiry, if live.
func (s *Store) lookup(id session.ID) (time.Time, error) {
	var at int64
	err := s.view(func(tx *bbolt.Tx) error {
		at, _ = decodeTime(tx.Bucket(recordsBucket).Get(id[:]))
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

// pendingChunk reads up to n pending records.
func (s *Store) pendingChunk(n int) ([]entry, error) {
	var out []entry
	err := s.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(pendingBucket).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			at, ok := decodeTime(v)
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
	err := s.update(func(tx *bbolt.Tx) error {
		removed = 0
		if s.requeues.Load() != epoch {
			return nil
		}
		pending := tx.Bucket(pendingBucket)
		for _, e := range done {
			if at, ok := decodeTime(pending.Get(e.id[:])); ok && at <= e.at {
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
		err := s.update(func(tx *bbolt.Tx) error {
			added, n = 0, 0
			if first {
				s.requeues.Add(1) // inside the transaction: see writeBatch
			}
			now := s.now().UnixNano()
			records, pending := tx.Bucket(recordsBucket), tx.Bucket(pendingBucket)
			c := records.Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && n < requeueChunk; k, v = c.Next() {
				at, ok := decodeTime(v)
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
	err := s.view(func(tx *bbolt.Tx) error {
		pending := tx.Bucket(pendingBucket)
		limit := s.now().Add(margin).UnixNano()
		c := tx.Bucket(expiryBucket).Cursor()
		for k, _ := c.Last(); k != nil && len(out) < n; k, _ = c.Prev() {
			if len(k) != 8+idLen {
				continue
			}
			at := int64(binary.BigEndian.Uint64(k[:8]))
			if at <= limit {
				break
			}
			var e entry
			copy(e.id[:], k[8:])
			e.at = at
			if pending.Get(e.id[:]) != nil {
				continue
			}
			out = append(out, e)
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
	err := s.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(metaBucket).Put(reachedKey, encodeTime(s.now().UnixNano()))
	})
	if err == nil {
		s.reached.Store(true)
	}
}

// sweep deletes expired records (and their pending marks), in chunks.
func (s *Store) sweep() (removed int, err error) {
	now := s.now().UnixNano()
	for {
		var n int
		var gone int64
		err := s.update(func(tx *bbolt.Tx) error {
			n, gone = 0, 0
			records, pending, index := tx.Bucket(recordsBucket), tx.Bucket(pendingBucket), tx.Bucket(expiryBucket)
			c := index.Cursor()
			var expired [][]byte
			for k, _ := c.First(); k != nil && len(expired) < sweepChunk; k, _ = c.Next() {
				if len(k) == 8+idLen && int64(binary.BigEndian.Uint64(k[:8])) > now {
					break
				}
				expired = append(expired, append([]byte(nil), k...))
			}
			for _, k := range expired {
				if err := index.Delete(k); err != nil {
					return err
				}
				if len(k) != 8+idLen {
					continue
				}
				id := k[8:]
				// The record may have moved to a later expiry; then only
				// the stale index entry goes.
				if at, ok := decodeTime(records.Get(id)); ok && at <= now {
					if err := records.Delete(id); err != nil {
						return err
					}
					if pending.Get(id) != nil {
						if err := pending.Delete(id); err != nil {
							return err
						}
						gone++
					}
				}
				n++
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		s.depth.Add(-gone)
		removed += n
		if n < sweepChunk {
			return removed, nil
		}
		select {
		case <-s.stop:
			return removed, nil
		default:
		}
	}
}

const sweepChunk = 10_000

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

// view and update turn a closed file into session.ErrClosed and a
// damaged one (bbolt panics on bad pages) into an error.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer recoverDamage(&err)
	return s.wrap(s.db.View(fn))
}

func (s *Store) update(fn func(*bbolt.Tx) error) (err error) {
	defer recoverDamage(&err)
	return s.wrap(s.db.Update(fn))
}

func (s *Store) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return session.ErrClosed
	default:
		return fmt.Errorf("journal: %s: %w", s.path, err)
	}
}

func recoverDamage(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("journal file is damaged: %v", r)
	}
}

func copyID(id session.ID) []byte { return append([]byte(nil), id[:]...) }

func encodeTime(at int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(at))
}

func decodeTime(v []byte) (int64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

// indexKey sorts by expiry first; expiries after 1970 are positive, so
// their big-endian bytes sort like the numbers.
func indexKey(at int64, id session.ID) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+idLen), uint64(at))
	return append(k, id[:]...)
}

// unixNano saturates instead of overflowing past the year 2262.
func unixNano(t time.Time) int64 {
	if t.After(time.Unix(0, math.MaxInt64)) {
		return math.MaxInt64
	}
	return t.UnixNano()
}
