package session

// Tests of the cache's expiry, and of the coarse clock it checks expiry
// against (it replaced ristretto's TTL, whose Get reads the system clock).
// Their deadlines only stop a broken clock from hanging the test; how late
// an answer expires on a loaded machine is logged, not judged.

import (
	"context"
	"testing"
	"time"
)

// mapStore is the smallest Store: a map, for tests of the cache alone.
type mapStore struct{ m map[ID]time.Time }

func (s *mapStore) Revoke(_ context.Context, id ID, until time.Time) error {
	s.m[id] = until
	return nil
}

func (s *mapStore) RevokedUntil(_ context.Context, id ID) (time.Time, error) {
	if until, ok := s.m[id]; ok && time.Now().Before(until) {
		return until, nil
	}
	return time.Time{}, nil
}

func (s *mapStore) Close() error { return nil }

func newTestCache(tb testing.TB, store Store, opts CacheOptions) *Cache {
	tb.Helper()
	c, err := NewCache(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// waitHit asks until the answer for id comes from the cache, letting the
// cache apply its Sets in between (ristretto's Set is asynchronous, and
// may be dropped).
func waitHit(tb testing.TB, c *Cache, id ID) {
	tb.Helper()
	for range 10 {
		before := c.Stats().Hits
		if _, err := c.Revoked(context.Background(), id); err != nil {
			tb.Fatal(err)
		}
		if c.Stats().Hits > before {
			return
		}
		c.Wait()
	}
	tb.Fatal("the answer never reached the cache")
}

// liveness bounds how long a test waits for something that must happen:
// only a broken cache or clock takes that long.
const liveness = 30 * time.Second

// eventually polls cond until it holds and returns how long that took.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > liveness {
			t.Fatalf("%s: not after %v", what, liveness)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestCache_NegativeAnswer_ExpiresAfterNegativeTTL(t *testing.T) {
	ctx := context.Background()
	backend := &mapStore{m: map[ID]time.Time{}}
	const ttl = 100 * time.Millisecond
	c := newTestCache(t, backend, CacheOptions{NegativeTTL: ttl})
	id := IDOf("revoked on another node")
	cachedFrom := time.Now() // the answer is cached no earlier than this
	waitHit(t, c, id)
	// Revoked behind the cache's back: this node cannot know until its
	// "not revoked" answer expires.
	backend.m[id] = time.Now().Add(time.Hour)
	eventually(t, "a cached \"not revoked\" answer expires", func() bool { revoked, _ := c.Revoked(ctx, id); return revoked })
	t.Logf("negative_ttl %v; the answer was believed for at most %v", ttl, time.Since(cachedFrom))
}

func TestCache_RevokedAnswer_ExpiresWithTheRecord(t *testing.T) {
	ctx := context.Background()
	c := newTestCache(t, &mapStore{m: map[ID]time.Time{}}, CacheOptions{NegativeTTL: time.Hour})
	id := IDOf("short session")
	until := time.Now().Add(200 * time.Millisecond)
	if err := c.Revoke(ctx, id, until); err != nil {
		t.Fatal(err)
	}
	waitHit(t, c, id)
	eventually(t, "a revocation leaves the cache once its record expires", func() bool { revoked, _ := c.Revoked(ctx, id); return !revoked })
	// The store says "revoked" until then, whatever the cache's clock does.
	if late := time.Since(until); late < 0 {
		t.Fatalf("a revocation stopped being served %v before it expired", -late)
	} else {
		t.Logf("served until %v after the record expired", late)
	}
}

// TestCoarseClock_FollowsTheSystemClock_AwakeAndAsleep: the clock is never
// ahead of the system clock, and always catches up with it: ticking, after
// its ticker fell asleep (a read wakes it), and once closed.
func TestCoarseClock_FollowsTheSystemClock_AwakeAndAsleep(t *testing.T) {
	c := newCoarseClock()
	defer c.Close()
	catchesUp := func(when string) {
		t.Helper()
		system := c.exact()
		lag := eventually(t, when+": the clock reaches the system clock", func() bool {
			got := c.Now()
			if got > c.exact() {
				t.Fatalf("%s: the clock is ahead of the system clock", when)
			}
			return got >= system
		})
		t.Logf("%s: caught up in %v", when, lag)
	}
	for range 5 {
		catchesUp("awake")
	}
	// Unread for longer than clockIdle, the ticker sleeps...
	eventually(t, "the ticker goes to sleep", func() bool { return c.now.Load() == clockAsleep })
	// ...a read is the system clock itself, and wakes the ticker.
	before := c.exact()
	if got := c.Now(); got < before {
		t.Fatalf("asleep: Now() = %d, older than the system clock read before it (%d)", got, before)
	}
	eventually(t, "a read wakes the ticker", func() bool { return c.now.Load() != clockAsleep })
	catchesUp("woken")
	c.Close()
	before = c.exact()
	if got := c.Now(); got < before {
		t.Fatalf("closed: Now() = %d, older than the system clock read before it (%d)", got, before)
	}
}

// The ticker's sleep and the readers race by design; -race checks the
// handshake, and the readers that the clock is never ahead of the system
// clock (it may lag, by about a tick when the ticker is on time) and does
// not stop.
func TestCoarseClock_ReadersRacingSleep(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the ticker to fall asleep")
	}
	c := newCoarseClock()
	defer c.Close()
	eventually(t, "the ticker goes to sleep", func() bool { return c.now.Load() == clockAsleep })
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 2000 {
				if got, system := c.Now(), c.exact(); got > system {
					t.Errorf("the clock is %v ahead of the system clock", time.Duration(got-system))
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	system := c.exact()
	eventually(t, "the clock keeps going after readers raced its sleep", func() bool { return c.Now() >= system })
}
