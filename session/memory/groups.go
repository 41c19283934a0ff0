package memory

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// groupTable holds the groups of credentials (session.Groups): every member
// of a group points at one shared record.
type groupTable struct {
	mu    sync.Mutex
	of    map[session.ID]*groupRecord
	joins int
}

type groupRecord struct {
	members []session.GroupMember
	until   int64 // unix nanoseconds
}

// pruneEvery is how many joins pass between sweeps of expired groups.
const pruneEvery = 1024

// JoinGroup implements session.Groups.
func (s *Store) JoinGroup(ctx context.Context, members []session.GroupMember, until time.Time) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	now := s.now().UnixNano()
	if until.UnixNano() <= now || len(members) == 0 {
		return nil
	}
	t := &s.groups
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.of == nil {
		t.of = map[session.ID]*groupRecord{}
	}
	rec := &groupRecord{until: until.UnixNano()}
	var existing [][]session.GroupMember
	for _, m := range members {
		if old := t.of[m.ID]; old != nil && old.until > now {
			existing = append(existing, old.members)
			rec.until = max(rec.until, old.until)
			for _, om := range old.members {
				delete(t.of, om.ID) // re-pointed below, unless cut off
			}
		}
	}
	rec.members = session.MergeGroup(members, existing...)
	for _, m := range rec.members {
		t.of[m.ID] = rec
	}
	if t.joins++; t.joins%pruneEvery == 0 {
		for id, r := range t.of {
			if r.until <= now {
				delete(t.of, id)
			}
		}
	}
	return nil
}

// Group implements session.Groups.
func (s *Store) Group(ctx context.Context, id session.ID) ([]session.GroupMember, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	t := &s.groups
	t.mu.Lock()
	defer t.mu.Unlock()
	rec := t.of[id]
	if rec == nil || rec.until <= s.now().UnixNano() {
		return nil, nil
	}
	return append([]session.GroupMember(nil), rec.members...), nil
}

// usable fails for a cancelled context or a closed store.
func (s *Store) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return session.ErrClosed
	}
	return nil
}

var _ session.Groups = (*Store)(nil)
