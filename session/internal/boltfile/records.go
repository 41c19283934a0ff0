package boltfile

import (
	"encoding/binary"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
)

// Every file holds these two buckets:
//
//	records: ID (32 bytes) -> expiry (unix nanoseconds, 8 bytes big-endian)
//	expiry:  expiry || ID (40 bytes) -> empty
//
// The second orders records by expiry, so a sweep reads only the expired
// ones instead of the whole file. Both change in the same transaction.
var (
	RecordsBucket = []byte("records")
	ExpiryBucket  = []byte("expiry")
)

const (
	// ExpiryLen is the length of a record's value.
	ExpiryLen = 8
	// IndexKeyLen is the length of an expiry index key.
	IndexKeyLen = ExpiryLen + len(session.ID{})
)

// PutRecord writes id's expiry unless the record already holds a later
// one, and keeps the index in step. A malformed old record is overwritten,
// not reported: one damaged record must not fail the whole batch it shares.
func PutRecord(records, index *bbolt.Bucket, id session.ID, at int64) error {
	if old, err := DecodeExpiry(records.Get(id[:])); err == nil {
		if old >= at {
			return nil
		}
		if err := index.Delete(IndexKey(old, id)); err != nil {
			return err
		}
	}
	if err := records.Put(KeyOf(id), EncodeExpiry(at)); err != nil {
		return err
	}
	return index.Put(IndexKey(at, id), []byte{})
}

// KeyOf is id as a freshly allocated key: bbolt holds on to the slices it
// is given until the transaction ends.
func KeyOf(id session.ID) []byte { return append([]byte(nil), id[:]...) }

// EncodeExpiry is a record's value.
func EncodeExpiry(at int64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, ExpiryLen), uint64(at))
}

// DecodeExpiry reads a record's value; a missing or malformed one is an
// error.
func DecodeExpiry(v []byte) (int64, error) {
	if len(v) != ExpiryLen {
		return 0, fmt.Errorf("corrupt record: expiry is %d bytes, want %d", len(v), ExpiryLen)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// IndexKey sorts by expiry first. Expiries are positive (after 1970), so
// their big-endian bytes sort like the numbers.
func IndexKey(at int64, id session.ID) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, IndexKeyLen), uint64(at))
	return append(k, id[:]...)
}

// ParseIndexKey splits an index key; ok is false for a malformed one.
func ParseIndexKey(k []byte) (at int64, id session.ID, ok bool) {
	if len(k) != IndexKeyLen {
		return 0, id, false
	}
	copy(id[:], k[ExpiryLen:])
	return int64(binary.BigEndian.Uint64(k)), id, true
}
