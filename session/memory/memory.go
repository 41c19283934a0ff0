// Package memory is a session.Store that keeps revocations in this
// process's memory only. It keeps nothing across restarts and other nodes
// never see its revocations: it is for tests and single-process demos. Use
// the bolt store (the default) or redis for anything real.
package memory

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// Store is an in-memory session.Store. Records are forgotten once they
// expire: each Revoke first drops whatever has expired, in expiry order, so
// the store never holds more than the revocations still live (plus those
// that expired since the last Revoke) and needs no goroutine.
type Store struct {
	now func() time.Time // time.Now; tests move it

	mu       sync.RWMutex
	until    map[session.ID]int64 // unix nanoseconds
	expiries expiryHeap
	peak     int // most records held since the map was last rebuilt
	closed   bool

	// Session owners (OwnerIndex), under their own lock so that recording
	// them never slows a revocation lookup; nil once closed.
	omu    sync.Mutex
	owners *owners

	groups groupTable // groups.go
}

// New returns an empty Store.
func New() *Store {
	return &Store{now: time.Now, until: make(map[session.ID]int64), owners: newOwners()}
}

// Revoke records id as revoked until the given time. An until that is not
// in the future records nothing: that session has expired anyway.
func (s *Store) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return session.ErrClosed
	}
	now := s.now()
	s.forgetExpired(now.UnixNano())
	if !until.After(now) {
		return nil
	}
	at := unixnano.Of(until)
	if old, ok := s.until[id]; ok && old >= at {
		return nil
	}
	s.until[id] = at
	heap.Push(&s.expiries, expiry{at: at, id: id})
	s.peak = max(s.peak, len(s.until))
	return nil
}

// RevokedUntil reports until when id is revoked, or the zero Time.
func (s *Store) RevokedUntil(_ context.Context, id session.ID) (time.Time, error) {
	s.mu.RLock()
	at, ok := s.until[id]
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return time.Time{}, session.ErrClosed
	}
	if !ok || at <= s.now().UnixNano() {
		return time.Time{}, nil
	}
	return time.Unix(0, at), nil
}

// Len is the number of live records.
func (s *Store) Len() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, session.ErrClosed
	}
	s.forgetExpired(s.now().UnixNano())
	return len(s.until), nil
}

// Close drops every record. It is safe to call more than once; afterwards
// the other methods return session.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.until = nil
	s.expiries = nil
	s.mu.Unlock()
	s.omu.Lock()
	s.owners = nil
	s.omu.Unlock()
	return nil
}

// forgetExpired drops the records whose expiry is at or before now. The
// heap may hold a stale entry for an ID that was revoked again with a later
// time; that entry no longer matches the map and is simply discarded.
func (s *Store) forgetExpired(now int64) {
	for len(s.expiries) > 0 && s.expiries[0].at <= now {
		e := heap.Pop(&s.expiries).(expiry)
		if s.until[e.id] == e.at {
			delete(s.until, e.id)
		}
	}
	s.shrinkAfterBurst()
}

// compactBelow is the size under which shrinking is not worth a copy.
const compactBelow = 1024

// shrinkAfterBurst gives memory back after a burst of revocations has
// expired: Go maps and slices never shrink by themselves, so without this
// the store would stay as large as its busiest moment.
func (s *Store) shrinkAfterBurst() {
	if s.peak < compactBelow || len(s.until) > s.peak/4 {
		return
	}
	until := make(map[session.ID]int64, len(s.until))
	for id, at := range s.until {
		until[id] = at
	}
	s.until = until
	// A copy of a heap in the same order is still a heap.
	s.expiries = append(expiryHeap(nil), s.expiries...)
	s.peak = len(s.until)
}
