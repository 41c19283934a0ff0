package bolt

import (
	"bytes"
	"context"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
)

// groupsBucket maps each member's ID to its group's record
// (session.EncodeGroup): every member holds a copy, so a logout finds the
// group from whichever credential it carries with one read.
var groupsBucket = []byte("groups")

// JoinGroup implements session.Groups: one write transaction, merging the
// groups the members are in already. Logins are rare next to lookups, so
// it does not wait for the group committer.
func (s *Store) JoinGroup(ctx context.Context, members []session.GroupMember, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return session.ErrClosed
	}
	now := s.now()
	if !until.After(now) || len(members) == 0 {
		return nil
	}
	return s.file.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(groupsBucket)
		var existing [][]session.GroupMember
		old := map[session.ID]bool{}
		for _, m := range members {
			ms, u, ok := readGroup(b, m.ID, now)
			if !ok {
				continue
			}
			existing = append(existing, ms)
			if u.After(until) {
				until = u
			}
			for _, om := range ms {
				old[om.ID] = true
			}
		}
		merged := session.MergeGroup(members, existing...)
		rec := session.EncodeGroup(merged, until)
		for _, m := range merged {
			delete(old, m.ID)
			if err := b.Put(append([]byte(nil), m.ID[:]...), rec); err != nil {
				return err
			}
		}
		for id := range old { // cut off by MaxGroupMembers
			if err := b.Delete(id[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// Group implements session.Groups.
func (s *Store) Group(ctx context.Context, id session.ID) ([]session.GroupMember, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	var members []session.GroupMember
	err := s.file.View(func(tx *bbolt.Tx) error {
		members, _, _ = readGroup(tx.Bucket(groupsBucket), id, s.now())
		return nil
	})
	return members, err
}

// readGroup reads id's live group record; a malformed one reads as none.
func readGroup(b *bbolt.Bucket, id session.ID, now time.Time) ([]session.GroupMember, time.Time, bool) {
	v := b.Get(id[:])
	if v == nil {
		return nil, time.Time{}, false
	}
	ms, until, err := session.DecodeGroup(v)
	if err != nil || !until.After(now) {
		return nil, time.Time{}, false
	}
	return ms, until, true
}

// sweepGroups deletes expired group records, a chunk per transaction. The
// bucket is keyed by ID, not expiry, so it is read whole: groups are few
// (one per login with several cookies) next to revocations.
func (s *Store) sweepGroups() (removed int, err error) {
	now := s.now()
	var from []byte
	for {
		var expired [][]byte
		var next []byte
		err := s.file.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(groupsBucket).Cursor()
			k, v := c.First()
			if from != nil {
				k, v = c.Seek(from)
			}
			for n := 0; k != nil; k, v = c.Next() {
				if n == s.sweepChunkSize {
					next = append([]byte(nil), k...)
					return nil
				}
				n++
				if _, until, err := session.DecodeGroup(v); err != nil || !until.After(now) {
					expired = append(expired, append([]byte(nil), k...))
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		if len(expired) > 0 {
			err = s.file.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(groupsBucket)
				for _, k := range expired {
					// Joined again since it was read: keep it.
					if v := b.Get(k); v != nil {
						if _, until, err := session.DecodeGroup(v); err == nil && until.After(now) {
							continue
						}
					}
					if err := b.Delete(k); err != nil {
						return err
					}
					removed++
				}
				return nil
			})
			if err != nil {
				return removed, err
			}
		}
		if next == nil || bytes.Equal(next, from) {
			return removed, nil
		}
		from = next
		select {
		case <-s.stop:
			return removed, nil
		default:
		}
	}
}

var _ session.Groups = (*Store)(nil)
