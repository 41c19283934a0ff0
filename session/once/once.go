// Package once remembers keys for a while and tells whether a key is new:
// the replay cache that keeps an OpenID Connect logout token (by issuer
// and jti) from being acted on twice. Memory serves one node; Redis
// shares the keys among every node on one Redis.
package once

import (
	"context"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Set remembers keys until a time.
type Set interface {
	// Claim records key until the given time and reports whether it was
	// new. Claiming a key still remembered reports false.
	Claim(ctx context.Context, key string, until time.Time) (bool, error)
	// Release forgets key, so that it can be claimed again (the work it
	// was claimed for failed and will be retried).
	Release(ctx context.Context, key string) error
}

// DefaultMaxEntries bounds a Memory set.
const DefaultMaxEntries = 100_000

// Memory is a Set in this process, bounded: when full, the oldest key goes
// first. Only logout tokens whose signature verified are claimed, so only
// the issuer can fill it, and a forgotten key at worst lets a logout be
// acted on again, which revokes nothing new.
type Memory struct {
	max int
	now func() time.Time

	mu    sync.Mutex
	until map[string]time.Time
	order []entry // claims in the order they were made, from head on
	head  int
}

type entry struct {
	key   string
	until time.Time
}

// NewMemory returns a Memory set of at most max keys (DefaultMaxEntries
// when max <= 0). now is the clock; nil means time.Now.
func NewMemory(max int, now func() time.Time) *Memory {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{max: max, now: now, until: map[string]time.Time{}}
}

// Claim implements Set.
func (m *Memory) Claim(_ context.Context, key string, until time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if t, ok := m.until[key]; ok && now.Before(t) {
		return false, nil
	}
	m.evict(now)
	m.until[key] = until
	m.order = append(m.order, entry{key, until})
	return true, nil
}

// evict drops expired keys from the front of the order, and the oldest
// ones while the set is full. Keys are claimed for about the same time, so
// the front is where they expire.
func (m *Memory) evict(now time.Time) {
	n := m.head
	for ; n < len(m.order); n++ {
		e := m.order[n]
		t, ok := m.until[e.key]
		if ok && t.Equal(e.until) && now.Before(t) && len(m.until) < m.max {
			break // live, and there is room
		}
		if ok && t.Equal(e.until) {
			delete(m.until, e.key) // expired, or the oldest of a full set
		}
		// else: released, or claimed again later (a newer entry follows)
	}
	m.head = n
	if m.head > len(m.order)/2 {
		// Compact once half of the slice is behind us: amortised O(1).
		m.order = append(m.order[:0], m.order[m.head:]...)
		m.head = 0
	}
}

// Release implements Set.
func (m *Memory) Release(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.until, key)
	m.mu.Unlock()
	return nil
}

// Len is the number of keys held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

// Redis is a Set on Redis: one key per claim, <prefix><key>, set with NX
// and an expiry at its time, so that exactly one node wins a claim and
// Redis forgets it by itself.
type Redis struct {
	client goredis.UniversalClient
	prefix string
}

// NewRedis returns a Set on client whose keys start with prefix.
func NewRedis(client goredis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Claim implements Set.
func (r *Redis) Claim(ctx context.Context, key string, until time.Time) (bool, error) {
	ttl := time.Until(until)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	return r.client.SetNX(ctx, r.prefix+key, 1, ttl).Result()
}

// Release implements Set.
func (r *Redis) Release(ctx context.Context, key string) error {
	return r.client.Del(ctx, r.prefix+key).Err()
}

// Interface guards
var (
	_ Set = (*Memory)(nil)
	_ Set = (*Redis)(nil)
)
