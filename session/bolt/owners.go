package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// Session owners (session.OwnerIndex) live in four buckets beside the
// revocations:
//
//	owners:       ID (32) -> record (see encodeOwner)
//	owner_expiry: until (8) || ID -> empty          records by expiry, for the sweep
//	owner_index:  index hash (32) || score (8) || ID -> empty
//	owner_marks:  mark hash (32) -> at (8) || until (8) || except ID (32)
//
// An index hash names one owner index (a subject's, an identity provider
// session's: session.OwnerHash). The score orders an index's entries in
// the order the per-owner cap evicts them (claimed before confirmed, then
// by LastSeen), so trimming deletes the first entries under the prefix.
// Each call is one bbolt transaction: atomic, and one fsync for a batch.
var (
	ownersBucket     = []byte("owners")
	ownerExpiry      = []byte("owner_expiry")
	ownerIndexBucket = []byte("owner_index")
	ownerMarksBucket = []byte("owner_marks")

	ownerBuckets = [][]byte{ownersBucket, ownerExpiry, ownerIndexBucket, ownerMarksBucket}
)

const (
	hashLen       = 32
	scoreLen      = 8
	indexEntryLen = hashLen + scoreLen + len(session.ID{})
	markLen       = 8 + 8 + len(session.ID{})
	ownerVersion  = 1
	confirmedBit  = 1 << 63
)

// RecordOwners implements session.OwnerIndex, in one transaction.
func (s *Store) RecordOwners(ctx context.Context, batch []session.Sighting, maxPerOwner int) ([]session.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	now := s.now()
	out := make([]session.Recorded, len(batch))
	err := s.file.Update(func(tx *bbolt.Tx) error {
		b := ownerBucketsOf(tx)
		for i, sg := range batch {
			if !sg.Until.After(now) || sg.Owner.Check() != nil {
				continue
			}
			old, exists := b.record(sg.ID)
			if exists {
				if err := b.drop(old); err != nil {
					return err
				}
			}
			rec := old.Merge(exists, sg)
			if err := b.put(rec); err != nil {
				return err
			}
			for _, k := range sg.Owner.MarkKeys() {
				if m, ok := b.mark(k); ok && m.Until.After(now) && m.Covers(sg.ID, sg.Since) {
					out[i].Revoke = true
				}
			}
			for _, k := range sg.Owner.IndexKeys() {
				evicted, err := b.trim(k, max(maxPerOwner, 1), now)
				if err != nil {
					return err
				}
				out[i].Evicted = append(out[i].Evicted, evicted...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OwnerOf implements session.OwnerIndex.
func (s *Store) OwnerOf(_ context.Context, id session.ID) (session.OwnerRecord, bool, error) {
	if s.closed.Load() {
		return session.OwnerRecord{}, false, session.ErrClosed
	}
	var rec session.OwnerRecord
	var ok bool
	err := s.file.View(func(tx *bbolt.Tx) error {
		rec, ok = ownerBucketsOf(tx).record(id)
		return nil
	})
	if err != nil || !ok || !rec.Until.After(s.now()) {
		return session.OwnerRecord{}, false, err
	}
	return rec, true, nil
}

// SessionsOf implements session.OwnerIndex.
func (s *Store) SessionsOf(_ context.Context, key session.OwnerKey) ([]session.OwnerRecord, error) {
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	var out []session.OwnerRecord
	err := s.file.View(func(tx *bbolt.Tx) error {
		out = ownerBucketsOf(tx).sessionsOf(key, s.now())
		return nil
	})
	return out, err
}

// MarkOwnerRevoked implements session.OwnerIndex, in one transaction.
func (s *Store) MarkOwnerRevoked(ctx context.Context, key session.OwnerKey, mark session.OwnerMark) ([]session.OwnerRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	now := s.now()
	var out []session.OwnerRecord
	err := s.file.Update(func(tx *bbolt.Tx) error {
		b := ownerBucketsOf(tx)
		if old, ok := b.mark(key); !ok || !old.Until.After(now) || mark.At.After(old.At) {
			if err := b.marks.Put(markKey(key), encodeMark(mark)); err != nil {
				return err
			}
		}
		out = b.sessionsOf(key, now)
		return nil
	})
	return out, err
}

// OwnerCount is the number of owner records in the file, including any
// that expired since the last sweep.
func (s *Store) OwnerCount() (int, error) {
	if s.closed.Load() {
		return 0, session.ErrClosed
	}
	var n int
	err := s.file.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(ownersBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// SweepOwners deletes expired owner records (with their index entries) and
// expired marks, in transactions of at most chunk records.
func (s *Store) SweepOwners(chunk int) (removed int, err error) {
	now := unixnano.Of(s.now())
	for {
		var n int
		err := s.file.Update(func(tx *bbolt.Tx) error {
			b := ownerBucketsOf(tx)
			var expired [][]byte
			c := b.expiry.Cursor()
			for k, _ := c.First(); k != nil && len(expired) < chunk; k, _ = c.Next() {
				if len(k) == 8+len(session.ID{}) && int64(binary.BigEndian.Uint64(k)) > now {
					break
				}
				expired = append(expired, bytes.Clone(k))
			}
			for _, k := range expired {
				if err := b.expiry.Delete(k); err != nil {
					return err
				}
				if len(k) != 8+len(session.ID{}) {
					continue
				}
				var id session.ID
				copy(id[:], k[8:])
				if rec, ok := b.record(id); ok && unixnano.Of(rec.Until) <= now {
					if err := b.drop(rec); err != nil {
						return err
					}
					if err := b.records.Delete(id[:]); err != nil {
						return err
					}
				}
			}
			n = len(expired)
			if n < chunk {
				return b.sweepMarks(now)
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		removed += n
		if n < chunk {
			return removed, nil
		}
		select {
		case <-s.stop:
			return removed, nil
		default:
		}
	}
}

// ownerTx is the owner buckets of one transaction.
type ownerTx struct {
	records, expiry, index, marks *bbolt.Bucket
}

func ownerBucketsOf(tx *bbolt.Tx) ownerTx {
	return ownerTx{
		records: tx.Bucket(ownersBucket),
		expiry:  tx.Bucket(ownerExpiry),
		index:   tx.Bucket(ownerIndexBucket),
		marks:   tx.Bucket(ownerMarksBucket),
	}
}

// record reads id's record; a malformed one reads as none (and is
// overwritten by the next sighting).
func (b ownerTx) record(id session.ID) (session.OwnerRecord, bool) {
	rec, err := decodeOwner(id, b.records.Get(id[:]))
	return rec, err == nil
}

// put writes a record with its expiry and index entries.
func (b ownerTx) put(r session.OwnerRecord) error {
	if err := b.records.Put(append([]byte(nil), r.ID[:]...), encodeOwner(r)); err != nil {
		return err
	}
	if err := b.expiry.Put(expiryKey(r), []byte{}); err != nil {
		return err
	}
	for _, k := range r.Owner.IndexKeys() {
		if err := b.index.Put(indexEntry(k, r), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// drop deletes a record's expiry and index entries (not the record).
func (b ownerTx) drop(r session.OwnerRecord) error {
	if err := b.expiry.Delete(expiryKey(r)); err != nil {
		return err
	}
	for _, k := range r.Owner.IndexKeys() {
		if err := b.index.Delete(indexEntry(k, r)); err != nil {
			return err
		}
	}
	return nil
}

// trim deletes the entries of one index past maxPerOwner, first first.
func (b ownerTx) trim(k session.OwnerKey, maxPerOwner int, now time.Time) ([]session.ID, error) {
	prefix := indexHash(k)
	var entries [][]byte
	c := b.index.Cursor()
	for e, _ := c.Seek(prefix[:]); e != nil && bytes.HasPrefix(e, prefix[:]); e, _ = c.Next() {
		entries = append(entries, bytes.Clone(e))
	}
	if len(entries) <= maxPerOwner {
		return nil, nil
	}
	var evicted []session.ID
	over := len(entries) - maxPerOwner
	for _, e := range entries {
		if over == 0 {
			break
		}
		if err := b.index.Delete(e); err != nil {
			return nil, err
		}
		over--
		var id session.ID
		copy(id[:], e[hashLen+scoreLen:])
		if rec, ok := b.record(id); ok && rec.Until.After(now) {
			evicted = append(evicted, id) // (an expired one goes silently: the sweep was not there yet)
		}
	}
	return evicted, nil
}

func (b ownerTx) sessionsOf(key session.OwnerKey, now time.Time) []session.OwnerRecord {
	prefix := indexHash(key.IndexKey())
	var out []session.OwnerRecord
	c := b.index.Cursor()
	for e, _ := c.Seek(prefix[:]); e != nil && bytes.HasPrefix(e, prefix[:]); e, _ = c.Next() {
		if len(e) != indexEntryLen {
			continue
		}
		var id session.ID
		copy(id[:], e[hashLen+scoreLen:])
		if rec, ok := b.record(id); ok && rec.Until.After(now) && key.Matches(rec.Owner) {
			out = append(out, rec)
		}
	}
	session.SortOldestFirst(out)
	return out
}

func (b ownerTx) mark(k session.OwnerKey) (session.OwnerMark, bool) {
	v := b.marks.Get(markKey(k))
	if len(v) != markLen {
		return session.OwnerMark{}, false
	}
	m := session.OwnerMark{
		At:    time.Unix(0, int64(binary.BigEndian.Uint64(v[0:8]))),
		Until: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:16]))),
	}
	copy(m.Except[:], v[16:])
	return m, true
}

func (b ownerTx) sweepMarks(now int64) error {
	var expired [][]byte
	c := b.marks.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) != markLen || int64(binary.BigEndian.Uint64(v[8:16])) <= now {
			expired = append(expired, bytes.Clone(k))
		}
	}
	for _, k := range expired {
		if err := b.marks.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func indexHash(k session.OwnerKey) [hashLen]byte {
	if k.Kind == session.KeyIssuerSession {
		return session.OwnerHash("sid", k.Issuer, k.SessionID)
	}
	return session.OwnerHash("sub", k.Subject)
}

func markKey(k session.OwnerKey) []byte {
	var h [hashLen]byte
	switch k.Kind {
	case session.KeySubject:
		h = session.OwnerHash("mark-sub", k.Subject)
	case session.KeyIssuerSubject:
		h = session.OwnerHash("mark-iss-sub", k.Issuer, k.Subject)
	default:
		h = session.OwnerHash("mark-sid", k.Issuer, k.SessionID)
	}
	return h[:]
}

func indexEntry(k session.OwnerKey, r session.OwnerRecord) []byte {
	h := indexHash(k)
	score := uint64(unixnano.Of(r.LastSeen)) &^ confirmedBit
	if r.Confirmed {
		score |= confirmedBit
	}
	e := append(make([]byte, 0, indexEntryLen), h[:]...)
	e = binary.BigEndian.AppendUint64(e, score)
	return append(e, r.ID[:]...)
}

func expiryKey(r session.OwnerRecord) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(r.ID)), uint64(unixnano.Of(r.Until)))
	return append(k, r.ID[:]...)
}

func encodeMark(m session.OwnerMark) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, markLen), uint64(unixnano.Of(m.At)))
	v = binary.BigEndian.AppendUint64(v, uint64(unixnano.Of(m.Until)))
	return append(v, m.Except[:]...)
}

// encodeOwner is a record's value: version, flags, four times (unix
// nanoseconds), then iss, sub and sid, each with a varint length.
func encodeOwner(r session.OwnerRecord) []byte {
	v := make([]byte, 0, 2+4*8+len(r.Owner.Issuer)+len(r.Owner.Subject)+len(r.Owner.SessionID)+6)
	flags := byte(0)
	if r.Confirmed {
		flags = 1
	}
	v = append(v, ownerVersion, flags)
	for _, t := range []time.Time{r.FirstSeen, r.LastSeen, r.Since, r.Until} {
		v = binary.BigEndian.AppendUint64(v, uint64(unixnano.Of(t)))
	}
	for _, s := range []string{r.Owner.Issuer, r.Owner.Subject, r.Owner.SessionID} {
		v = binary.AppendUvarint(v, uint64(len(s)))
		v = append(v, s...)
	}
	return v
}

var errBadOwner = errors.New("malformed owner record")

func decodeOwner(id session.ID, v []byte) (session.OwnerRecord, error) {
	if len(v) < 2+4*8 || v[0] != ownerVersion {
		return session.OwnerRecord{}, errBadOwner
	}
	r := session.OwnerRecord{ID: id, Confirmed: v[1]&1 != 0}
	times := []*time.Time{&r.FirstSeen, &r.LastSeen, &r.Since, &r.Until}
	for i, t := range times {
		*t = time.Unix(0, int64(binary.BigEndian.Uint64(v[2+8*i:])))
	}
	rest := v[2+4*8:]
	fields := []*string{&r.Owner.Issuer, &r.Owner.Subject, &r.Owner.SessionID}
	for _, f := range fields {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return session.OwnerRecord{}, errBadOwner
		}
		*f = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	return r, nil
}

var _ session.OwnerIndex = (*Store)(nil)

// IndexEntries counts the owner index's entries, for tests.
func (s *Store) IndexEntries() int { return s.bucketLen(ownerIndexBucket) }

// MarkCount counts the marks of owners revoked, for tests.
func (s *Store) MarkCount() int { return s.bucketLen(ownerMarksBucket) }

func (s *Store) bucketLen(name []byte) int {
	var n int
	_ = s.file.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	})
	return n
}
