package session

import (
	"context"
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// CacheOptions size the Cache. Zero values take the defaults.
type CacheOptions struct {
	// MaxEntries bounds memory: at most this many IDs are cached.
	MaxEntries int64
	// NegativeTTL is how long a "not revoked" answer may be believed.
	// Revocations made through this Cache (or announced by a Broadcaster)
	// correct it at once; it only bounds staleness for revocations this
	// node cannot hear about.
	NegativeTTL time.Duration
}

// Defaults for CacheOptions.
const (
	DefaultMaxEntries  = 1_000_000
	DefaultNegativeTTL = 10 * time.Second
)

// epochShards splits the invalidation epochs so that one revocation only
// invalidates the "not revoked" answers of 1/epochShards of the IDs.
const epochShards = 4096

// Cache wraps a Store with a ristretto cache. It is itself a Store, so
// flows never know whether they talk to a cache.
//
// A "revoked" answer is cached until the record expires: revocation is
// permanent. A "not revoked" answer is cached briefly and stamped with the
// epoch of its ID's shard, read before the store was asked. Revoke bumps
// that epoch after the store has the record, so a "not revoked" answer
// from a lookup that raced the revocation can never be believed afterwards,
// even if ristretto applies its asynchronous Set late, or drops the Set of
// the "revoked" answer.
//
// Entries carry their own expiry, checked against a coarse clock, rather
// than a ristretto TTL: ristretto reads the system clock on every Get of
// an entry with a TTL, which was a third of a cache hit. Expired entries
// still count against MaxEntries until evicted, so memory stays bounded.
type Cache struct {
	store       Store
	negativeTTL time.Duration
	entries     *ristretto.Cache[uint64, cacheEntry]
	epochs      [epochShards]atomic.Uint64
	clock       *coarseClock
	unsubscribe func()
	// view is the store's in-memory copy of its revocations, if it keeps
	// one (found through any wrapper): asked before ristretto, so while it
	// is current a session never seen before costs no Set. A store that
	// opens late (its file locked at start) is looked at again until it is
	// open (viewKnown).
	view      atomic.Pointer[viewRef]
	viewKnown atomic.Bool
	// sightings are the sessions the store said "not revoked" for lately.
	sightings *sightings

	// ristretto panics when Close races Get or Set; old requests may still
	// be in flight when the last config lets go of this Cache.
	closeMu sync.RWMutex
	closed  bool
}

// cacheEntry is what the cache holds for one ID. ristretto keys it by the
// ID's first 8 bytes; check holds the next 8 so that two IDs sharing a key
// are never confused (128 bits of the SHA-256 in all).
type cacheEntry struct {
	check   uint64
	epoch   uint64 // for "not revoked" answers
	until   int64  // unix nanoseconds; 0 means "not revoked"
	expires int64  // on the cache's clock: the answer is not believed after
}

// NewCache wraps store. The Cache does not own the store: Close leaves it
// open, because the store may outlive one cache configuration.
func NewCache(store Store, opts CacheOptions) (*Cache, error) {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = DefaultNegativeTTL
	}
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, cacheEntry]{
		NumCounters: opts.MaxEntries * 10, // ristretto's advice: 10x the items
		MaxCost:     opts.MaxEntries,      // every entry costs 1
		BufferItems: 64,
		Metrics:     true, // striped counters: cheap enough for the hot path
		// Without this, ristretto adds its own per-item overhead to our cost
		// of 1 and MaxCost would no longer count entries.
		IgnoreInternalCost: true,
		// The key already is a uniformly distributed hash.
		KeyToHash: func(key uint64) (uint64, uint64) { return key, 0 },
	})
	if err != nil {
		return nil, err
	}
	c := &Cache{store: store, negativeTTL: opts.NegativeTTL, entries: rc, clock: newCoarseClock(),
		sightings: newSightings(opts.MaxEntries)}
	c.findView()
	if b, ok := store.(Broadcaster); ok {
		c.unsubscribe = b.Subscribe(c.invalidate)
	}
	return c, nil
}

// Unwrap returns the store the Cache wraps (see As).
func (c *Cache) Unwrap() Store { return c.store }

// Revoked reports whether id is revoked, from the cache when it can.
// It does not allocate on a cache hit.
func (c *Cache) Revoked(ctx context.Context, id ID) (bool, error) {
	until, err := c.RevokedUntil(ctx, id)
	return !until.IsZero(), err
}

// RevokedUntil implements Store.
func (c *Cache) RevokedUntil(ctx context.Context, id ID) (time.Time, error) {
	v := c.view.Load()
	if v == nil && !c.viewKnown.Load() {
		c.findView()
		v = c.view.Load()
	}
	if v != nil {
		until, current := v.ViewLookup(id)
		if !until.IsZero() && until.After(time.Now()) {
			return until, nil
		}
		if current {
			return time.Time{}, nil
		}
	}
	key, check := cacheKey(id)
	shard := &c.epochs[key%epochShards]
	epoch := shard.Load() // before the store lookup: see the type's comment

	if e, ok := c.get(key); ok && e.check == check && c.clock.Now() < e.expires {
		if e.until != 0 {
			return time.Unix(0, e.until), nil
		}
		if e.epoch == epoch {
			return time.Time{}, nil
		}
	}

	until, err := c.store.RevokedUntil(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	if until.IsZero() {
		// A session asked about once is not worth ristretto's Set (most of
		// the cost of a never-seen cookie, and a flood of them would evict
		// the sessions in use): its second "not revoked" is cached.
		if c.sightings.seenBefore(check) {
			c.set(key, cacheEntry{check: check, epoch: epoch}, c.negativeTTL)
		}
	} else {
		c.set(key, cacheEntry{check: check, until: until.UnixNano()}, time.Until(until))
	}
	return until, nil
}

// Revoke implements Store: the store first (durable), then the cache. When
// Revoke returns, this node refuses id whatever ristretto does with the Set.
func (c *Cache) Revoke(ctx context.Context, id ID, until time.Time) error {
	if err := c.store.Revoke(ctx, id, until); err != nil {
		return err
	}
	key, check := cacheKey(id)
	c.epochs[key%epochShards].Add(1)
	c.set(key, cacheEntry{check: check, until: until.UnixNano()}, time.Until(until))
	return nil
}

// invalidate is the Broadcaster callback: another node revoked id, or the
// store may have missed revocations (all).
func (c *Cache) invalidate(id ID, all bool) {
	if all {
		for i := range c.epochs {
			c.epochs[i].Add(1)
		}
		return
	}
	key, _ := cacheKey(id)
	c.epochs[key%epochShards].Add(1)
}

// CacheStats are counters for metrics and the admin API.
type CacheStats struct {
	Hits, Misses uint64
}

// Stats returns the hit and miss counts so far.
func (c *Cache) Stats() CacheStats {
	m := c.entries.Metrics
	return CacheStats{Hits: m.Hits(), Misses: m.Misses()}
}

// Len is the number of cached answers (each costs 1 against MaxEntries).
func (c *Cache) Len() int64 {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return 0
	}
	return c.entries.MaxCost() - c.entries.RemainingCost()
}

// Wait blocks until the answers cached so far are applied: ristretto
// applies its Sets asynchronously. For tests that need an answer cached.
func (c *Cache) Wait() {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if !c.closed {
		c.entries.Wait()
	}
}

// Close releases the cache (not the store). Lookups after Close go
// straight to the store, which reports its own closed state.
func (c *Cache) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.unsubscribe != nil {
		c.unsubscribe()
	}
	c.entries.Close()
	c.clock.Close()
	return nil
}

func (c *Cache) get(key uint64) (cacheEntry, bool) {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return cacheEntry{}, false
	}
	return c.entries.Get(key)
}

func (c *Cache) set(key uint64, e cacheEntry, ttl time.Duration) {
	if ttl <= 0 {
		return // already expired: nothing worth remembering
	}
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return
	}
	e.expires = c.clock.Now() + int64(ttl)
	if e.expires < 0 {
		e.expires = math.MaxInt64 // overflowed: a revocation for centuries
	}
	c.entries.Set(key, e, 1)
}

type viewRef struct{ LocalView }

// findView looks for a LocalView down the store's wrappers. It knows the
// answer for good once it reaches a store that wraps nothing, or a view.
func (c *Cache) findView() {
	for s := c.store; s != nil; s = Unwrap(s) {
		if v, ok := s.(LocalView); ok {
			c.view.Store(&viewRef{v})
			c.viewKnown.Store(true)
			return
		}
		if _, wraps := s.(interface{ Unwrap() Store }); !wraps {
			c.viewKnown.Store(true) // a backend without a view
			return
		}
	}
	// a wrapper around a store not open yet: looked at again next time
}

// sightings is a bitmap of the sessions the store answered "not revoked"
// for since it was last cleared: 16 bits per cache entry, at most 2^21
// (256 KB, so that it stays in the CPU's cache), cleared once an eighth of
// it is set. An ID that shares a bit with another (at most one in eight)
// is taken for seen: its answer is cached at once, as it was before this
// existed. One seen before a clearing needs a second lookup again.
type sightings struct {
	words []atomic.Uint64
	mask  uint64 // of a bit index
	marks atomic.Int64
}

func newSightings(maxEntries int64) *sightings {
	n := uint64(1) << min(bits.Len64(uint64(max(maxEntries, 1<<12))*16-1), 21) // a power of two
	return &sightings{words: make([]atomic.Uint64, n/64), mask: n - 1}
}

// seenBefore marks the ID (by its check bits) and reports whether it was
// marked already.
func (s *sightings) seenBefore(check uint64) bool {
	i := check & s.mask
	w, bit := &s.words[i/64], uint64(1)<<(i%64)
	if w.Load()&bit != 0 || w.Or(bit)&bit != 0 {
		return true
	}
	if s.marks.Add(1) > int64(len(s.words)*64/8) {
		s.marks.Store(0)
		for i := range s.words {
			s.words[i].Store(0)
		}
	}
	return false
}

func cacheKey(id ID) (key, check uint64) {
	return binary.LittleEndian.Uint64(id[0:8]), binary.LittleEndian.Uint64(id[8:16])
}

var _ Store = (*Cache)(nil)

// The cache's clock: how stale it may be while in use, and how long
// without a read before its ticker goes to sleep.
const (
	clockTick = time.Millisecond
	clockIdle = time.Second
)

// clockAsleep in coarseClock.now means "ask the system clock".
const clockAsleep = -1

// coarseClock is the cache's clock for expiry checks: monotonic
// nanoseconds since it started, at most about clockTick old. Reading the
// system clock costs tens of nanoseconds (more in VMs); reading this one
// is an atomic load. A goroutine refreshes it while the cache is in use
// and sleeps once nobody has read it for clockIdle, so an idle server is
// not woken a thousand times a second. An answer's lifetime may so be off
// by about clockTick, against a negative TTL of seconds.
type coarseClock struct {
	base time.Time    // carries a monotonic reading: wall-clock steps do not matter
	now  atomic.Int64 // nanoseconds since base, or clockAsleep
	read atomic.Bool  // set by readers, cleared by the ticker on each tick
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newCoarseClock() *coarseClock {
	c := &coarseClock{
		base: time.Now(),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c
}

// Now returns nanoseconds since the clock started.
//
// A reader sets read and then loads now; the ticker, before it sleeps,
// stores clockAsleep and then loads read. Whichever goes second sees the
// other's write, so the ticker never sleeps while a reader trusts a value
// that is no longer refreshed.
func (c *coarseClock) Now() int64 {
	if !c.read.Load() {
		c.read.Store(true)
	}
	if n := c.now.Load(); n != clockAsleep {
		return n
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return c.exact()
}

func (c *coarseClock) exact() int64 { return int64(time.Since(c.base)) }

func (c *coarseClock) run() {
	defer close(c.done)
	t := time.NewTicker(clockTick)
	defer t.Stop()
	idle := 0
	for {
		select {
		case <-t.C:
		case <-c.stop:
			return
		}
		c.now.Store(c.exact())
		if c.read.Swap(false) {
			idle = 0
			continue
		}
		if idle++; idle < int(clockIdle/clockTick) {
			continue
		}
		c.now.Store(clockAsleep)
		if c.read.Load() { // a reader came in between: stay awake
			c.now.Store(c.exact())
			idle = 0
			continue
		}
		t.Stop()
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		c.now.Store(c.exact())
		idle = 0
		t.Reset(clockTick)
	}
}

// Close stops the ticker; Now keeps working from the system clock.
func (c *coarseClock) Close() {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.now.Store(clockAsleep)
	})
}
