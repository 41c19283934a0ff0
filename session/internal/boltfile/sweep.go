package boltfile

import (
	"bytes"

	bbolt "go.etcd.io/bbolt"
)

// DefaultSweepChunk caps the index entries a sweep deletes per
// transaction, so a sweep after a long downtime does not hold the write
// lock (and every write waiting behind it) for long.
const DefaultSweepChunk = 10_000

// SweepHooks let a store drop what it keeps beside a record.
type SweepHooks struct {
	// Deleted, if set, runs inside the transaction for each record the
	// sweep deletes.
	Deleted func(tx *bbolt.Tx, id []byte) error
	// Committed, if set, runs after each chunk's transaction commits.
	Committed func()
}

// Sweep deletes every record that expired at or before now, with its index
// entry, and reports how many index entries it removed. It reads the index
// from its start and stops at the first live entry, working in
// transactions of at most chunk entries; it stops early, without error,
// once stop is closed (Close is waiting; the rest can wait too).
func (f *File) Sweep(now int64, chunk int, stop <-chan struct{}, hooks SweepHooks) (removed int, err error) {
	chunk = max(chunk, 1)
	for {
		var n int
		err := f.Update(func(tx *bbolt.Tx) error {
			var err error
			n, err = sweepChunk(tx, now, chunk, hooks.Deleted)
			return err
		})
		if err != nil {
			return removed, err
		}
		if hooks.Committed != nil {
			hooks.Committed()
		}
		removed += n
		if n < chunk {
			return removed, nil
		}
		select {
		case <-stop:
			return removed, nil
		default:
		}
	}
}

// sweepChunk deletes up to limit index entries that expired at or before
// now (a malformed entry goes too), and the records they name if they
// still hold that expiry, so an index out of step can never drop a live
// record.
func sweepChunk(tx *bbolt.Tx, now int64, limit int, deleted func(tx *bbolt.Tx, id []byte) error) (int, error) {
	records, index := tx.Bucket(RecordsBucket), tx.Bucket(ExpiryBucket)
	// Collect first, delete after: deleting under a bbolt cursor can make
	// it skip keys.
	var expired [][]byte
	c := index.Cursor()
	for k, _ := c.First(); k != nil && len(expired) < limit; k, _ = c.Next() {
		if at, _, ok := ParseIndexKey(k); ok && at > now {
			break
		}
		expired = append(expired, bytes.Clone(k))
	}
	for _, k := range expired {
		if err := index.Delete(k); err != nil {
			return 0, err
		}
		if len(k) != IndexKeyLen {
			continue
		}
		id := k[ExpiryLen:]
		if !bytes.Equal(records.Get(id), k[:ExpiryLen]) {
			continue // the record moved to a later expiry, or is malformed
		}
		if err := records.Delete(id); err != nil {
			return 0, err
		}
		if deleted != nil {
			if err := deleted(tx, id); err != nil {
				return 0, err
			}
		}
	}
	return len(expired), nil
}
