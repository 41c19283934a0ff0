// Package view is a store's copy of its revocations in memory: a
// concurrent set of session IDs, each with the time it is revoked until
// (Set), and whether that copy is complete (View). The guard asks it on
// every request, so that a session nobody revoked costs no I/O.
//
// An ID is held as 64 of its bits (a fingerprint) and an until, in one of
// 256 shards, each a Go map behind its own lock. A lookup locks one shard
// for reading and does one map lookup: its cost does not depend on how
// many IDs the set holds (beyond the memory's own speed). Two IDs share a
// fingerprint with a chance of about n/2^64 for a set of n (5 in 10^13 at
// ten million), so an answer from the set is taken as exact.
//
// The maps hold no pointers, so the garbage collector does not scan them.
// Go maps do not shrink, so Sweep makes a shard's map again once most of
// its entries have expired.
package view

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/caddy-logout/caddy-logout/session"
)

const shardCount = 256

// Set holds IDs and their untils (unix milliseconds). The zero Set is not
// usable; make one with NewSet.
type Set struct {
	shards  [shardCount]shard
	limit   int64
	count   atomic.Int64
	version atomic.Uint64 // bumped by every change
}

type shard struct {
	mu   sync.RWMutex
	m    map[uint64]int64
	peak int // the most entries m has held since it was made
	_    [24]byte
}

// NewSet makes a Set that holds at most limit IDs (no limit if limit <= 0).
func NewSet(limit int) *Set {
	s := &Set{limit: int64(limit)}
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]int64)
	}
	return s
}

// place is where id lives: its shard and its key there.
func (s *Set) place(id session.ID) (*shard, uint64) {
	return &s.shards[id[31]], binary.LittleEndian.Uint64(id[0:8])
}

// Until returns the time id is revoked until (unix milliseconds), or 0 if
// the set does not hold it. It does not allocate.
func (s *Set) Until(id session.ID) int64 {
	sh, key := s.place(id)
	sh.mu.RLock()
	until := sh.m[key]
	sh.mu.RUnlock()
	return until
}

// Add records id as revoked until the given time, keeping the later of
// that and what the set held. It reports false, and changes nothing, when
// id is new and the set is at its limit.
func (s *Set) Add(id session.ID, until int64) bool {
	sh, key := s.place(id)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, ok := sh.m[key]
	if !ok {
		if s.limit > 0 && s.count.Load() >= s.limit {
			return false
		}
		s.count.Add(1)
		sh.m[key] = until
		sh.peak = max(sh.peak, len(sh.m))
		s.version.Add(1)
		return true
	}
	if until > cur {
		sh.m[key] = until
		s.version.Add(1)
	}
	return true
}

// Version changes whenever the set does (an ID added, a later until, an
// expired ID forgotten), so a saved copy knows whether it is behind.
func (s *Set) Version() uint64 { return s.version.Load() }

// Len is the number of IDs held, expired ones included until Sweep.
func (s *Set) Len() int { return int(s.count.Load()) }

// Limit is the most IDs the set holds (0: no limit).
func (s *Set) Limit() int { return int(s.limit) }

// Sweep forgets the IDs whose until is not after now (unix milliseconds)
// and returns how many it forgot. It locks one shard at a time.
func (s *Set) Sweep(now int64) int {
	removed := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for k, until := range sh.m {
			if until <= now {
				delete(sh.m, k)
				removed++
			}
		}
		if len(sh.m) < sh.peak/4 {
			// Most of the map is empty slots: give the memory back.
			m := make(map[uint64]int64, len(sh.m))
			for k, v := range sh.m {
				m[k] = v
			}
			sh.m, sh.peak = m, len(m)
		}
		sh.mu.Unlock()
	}
	s.count.Add(-int64(removed))
	if removed > 0 {
		s.version.Add(1)
	}
	return removed
}

// Entry is one ID of the set: its key (64 bits of it) and its until. For
// saving the set and loading it back (Each, AddEntry).
type Entry struct {
	Key   uint64
	Shard uint8
	Until int64
}

// Each calls fn with every entry, one shard at a time, under that shard's
// read lock (fn must not call back into the set).
func (s *Set) Each(fn func(Entry)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for k, until := range sh.m {
			fn(Entry{Key: k, Shard: uint8(i), Until: until})
		}
		sh.mu.RUnlock()
	}
}

// AddEntry is Add for an entry from Each.
func (s *Set) AddEntry(e Entry) bool {
	var id session.ID
	binary.LittleEndian.PutUint64(id[0:8], e.Key)
	id[31] = e.Shard
	return s.Add(id, e.Until)
}
