package bolt

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
)

// The file holds two buckets:
//
//	records: ID (32 bytes) -> expiry (unix nanoseconds, 8 bytes big-endian)
//	expiry:  expiry || ID (40 bytes) -> empty
//
// The second orders records by expiry, so a sweep reads only the expired
// ones instead of the whole file. Both change in the same transaction.
var (
	recordsBucket = []byte("records")
	expiryBucket  = []byte("expiry")
)

const (
	expiryLen   = 8
	indexKeyLen = expiryLen + len(session.ID{})
)

func createBuckets(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{recordsBucket, expiryBucket} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
		}
		return nil
	})
}

// putRecord writes id's expiry unless the record already holds a later
// one, and keeps the index in step. A malformed old record is overwritten,
// not reported: one damaged record must not fail the whole batch it shares.
// Keys and values are freshly allocated because bbolt keeps them until the
// transaction ends.
func putRecord(records, index *bbolt.Bucket, id session.ID, at int64) error {
	if oldAt, err := decodeExpiry(records.Get(id[:])); err == nil {
		if oldAt >= at {
			return nil
		}
		if err := index.Delete(indexKey(oldAt, id)); err != nil {
			return err
		}
	}
	key := id // bbolt holds on to the slice; give it one of its own
	if err := records.Put(key[:], encodeExpiry(at)); err != nil {
		return err
	}
	return index.Put(indexKey(at, id), []byte{})
}

func encodeExpiry(at int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, expiryLen), uint64(at))
}

func decodeExpiry(v []byte) (int64, error) {
	if len(v) != expiryLen {
		return 0, fmt.Errorf("corrupt record: expiry is %d bytes, want %d", len(v), expiryLen)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// indexKey sorts by expiry first. Expiries are positive (after 1970), so
// their big-endian bytes sort like the numbers.
func indexKey(at int64, id session.ID) []byte {
	k := make([]byte, 0, indexKeyLen)
	k = binary.BigEndian.AppendUint64(k, uint64(at))
	return append(k, id[:]...)
}

// maxTime is the latest time that unix nanoseconds can hold (year 2262).
var maxTime = time.Unix(0, math.MaxInt64)

// unixNano is t.UnixNano, saturated at maxTime instead of overflowing.
func unixNano(t time.Time) int64 {
	if t.After(maxTime) {
		return math.MaxInt64
	}
	return t.UnixNano()
}
