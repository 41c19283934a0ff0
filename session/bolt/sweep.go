package bolt

import (
	"bytes"
	"encoding/binary"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// defaultSweepChunk caps the deletions per transaction, so a sweep after a
// long downtime does not hold the write lock (and every Revoke) for long.
const defaultSweepChunk = 10_000

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
	now := s.now().UnixNano()
	for {
		n, chunkErr := s.sweepChunk(now)
		removed += n
		if chunkErr != nil || n < s.sweepChunkSize {
			return removed, s.wrap(chunkErr)
		}
		select {
		case <-s.stop:
			return removed, nil // Close is waiting; the rest can wait too
		default:
		}
	}
}

// sweepChunk deletes up to sweepChunkSize records that expired at or before now.
func (s *Store) sweepChunk(now int64) (int, error) {
	var expired [][]byte
	err := s.update(func(tx *bbolt.Tx) error {
		records, index := tx.Bucket(recordsBucket), tx.Bucket(expiryBucket)
		// Collect first, delete after: deleting under a bbolt cursor can
		// make it skip keys.
		c := index.Cursor()
		for k, _ := c.First(); k != nil && len(expired) < s.sweepChunkSize; k, _ = c.Next() {
			if len(k) == indexKeyLen && int64(binary.BigEndian.Uint64(k)) > now {
				break
			}
			expired = append(expired, bytes.Clone(k)) // a malformed key goes too
		}
		for _, k := range expired {
			if err := index.Delete(k); err != nil {
				return err
			}
			if len(k) == indexKeyLen {
				if err := deleteRecordIfAt(records, k[expiryLen:], k[:expiryLen]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(expired), nil
}

// deleteRecordIfAt deletes the record only if it still holds the expiry
// the index named, so an index out of step can never drop a live record.
func deleteRecordIfAt(records *bbolt.Bucket, id, at []byte) error {
	if !bytes.Equal(records.Get(id), at) {
		return nil
	}
	return records.Delete(id)
}
