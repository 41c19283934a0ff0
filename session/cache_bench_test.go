package session

// The cache is what the guard asks on every request:
//
//	go test -run '^$' -bench 'Cache' -benchmem -count 5 ./session/
//
// Also here: the tests of the coarse clock the cache checks expiry
// against (it replaced ristretto's TTL, whose Get reads the system clock).

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

func newBenchCache(tb testing.TB, store Store, opts CacheOptions) *Cache {
	tb.Helper()
	c, err := NewCache(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// waitHit asks until the answer for id comes from the cache (ristretto's
// Set is asynchronous).
func waitHit(tb testing.TB, c *Cache, id ID) {
	tb.Helper()
	for range 1000 {
		before := c.Stats().Hits
		if _, err := c.Revoked(context.Background(), id); err != nil {
			tb.Fatal(err)
		}
		if c.Stats().Hits > before {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatal("the answer never reached the cache")
}

func BenchmarkCache_Revoked(b *testing.B) {
	ctx := context.Background()
	c := newBenchCache(b, &mapStore{m: map[ID]time.Time{}}, CacheOptions{NegativeTTL: time.Hour})
	valid, revoked := IDOf("valid"), IDOf("revoked")
	if err := c.Revoke(ctx, revoked, time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	waitHit(b, c, valid)
	waitHit(b, c, revoked)
	for _, bc := range []struct {
		name string
		id   ID
		want bool
	}{{"hit_not_revoked", valid, false}, {"hit_revoked", revoked, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := c.Revoked(ctx, bc.id); got != bc.want || err != nil {
					b.Fatal(got, err)
				}
			}
		})
		b.Run(bc.name+"_parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if got, err := c.Revoked(ctx, bc.id); got != bc.want || err != nil {
						b.Error(got, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCache_Clock compares what a cache hit used to pay for its TTL
// check with what it pays now.
func BenchmarkCache_Clock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		var t time.Time
		for b.Loop() {
			t = time.Now()
		}
		_ = t
	})
	b.Run("coarse", func(b *testing.B) {
		c := newCoarseClock()
		defer c.Close()
		var n int64
		for b.Loop() {
			n = c.Now()
		}
		_ = n
	})
}

// The expiry tests allow a second of slack: the coarse clock follows the
// system clock only as closely as its ticker gets scheduled, and these
// tests run on shared machines. A clock that stopped would still fail them.

func TestCache_NegativeAnswer_ExpiresAfterNegativeTTL(t *testing.T) {
	ctx := context.Background()
	backend := &mapStore{m: map[ID]time.Time{}}
	c := newBenchCache(t, backend, CacheOptions{NegativeTTL: 100 * time.Millisecond})
	id := IDOf("revoked on another node")
	waitHit(t, c, id)
	// Revoked behind the cache's back: this node cannot know until its
	// "not revoked" answer expires.
	backend.m[id] = time.Now().Add(time.Hour)
	deadline := time.Now().Add(100*time.Millisecond + time.Second)
	for !func() bool { revoked, _ := c.Revoked(ctx, id); return revoked }() {
		if time.Now().After(deadline) {
			t.Fatal("a cached \"not revoked\" answer outlived negative_ttl by more than a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCache_RevokedAnswer_ExpiresWithTheRecord(t *testing.T) {
	ctx := context.Background()
	c := newBenchCache(t, &mapStore{m: map[ID]time.Time{}}, CacheOptions{NegativeTTL: time.Hour})
	id := IDOf("short session")
	until := time.Now().Add(200 * time.Millisecond)
	if err := c.Revoke(ctx, id, until); err != nil {
		t.Fatal(err)
	}
	waitHit(t, c, id)
	deadline := until.Add(time.Second)
	for func() bool { revoked, _ := c.Revoked(ctx, id); return revoked }() {
		if time.Now().After(deadline) {
			t.Fatal("a revocation was still served from the cache a second after it expired")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if time.Now().Before(until) {
		t.Fatal("a revocation stopped being served before it expired")
	}
}

func TestCoarseClock_FollowsTheSystemClock_AwakeAndAsleep(t *testing.T) {
	c := newCoarseClock()
	defer c.Close()
	for range 50 {
		got, want := c.Now(), c.exact()
		if d := time.Duration(want - got); d < 0 || d > time.Second {
			t.Fatalf("awake: the clock is %v behind the system clock", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Unread for longer than clockIdle, the ticker sleeps...
	deadline := time.Now().Add(clockIdle + 5*time.Second)
	for c.now.Load() != clockAsleep {
		if time.Now().After(deadline) {
			t.Fatal("the ticker never went to sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	// ...and a read is the system clock itself (nothing but this test reads
	// the clock, so it is still asleep), and wakes the ticker.
	before := c.exact()
	if got := c.Now(); got < before {
		t.Fatalf("asleep: Now() = %d, older than the system clock read before it (%d)", got, before)
	}
	deadline = time.Now().Add(5 * time.Second)
	for c.now.Load() == clockAsleep {
		if time.Now().After(deadline) {
			t.Fatal("a read did not wake the ticker")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	before = c.exact()
	if got := c.Now(); got < before {
		t.Fatalf("closed: Now() = %d, older than the system clock read before it (%d)", got, before)
	}
}

// The ticker's sleep and the readers race by design; -race checks the
// handshake, and the readers check they are never handed a stopped clock.
func TestCoarseClock_ReadersRacingSleep(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the ticker to fall asleep")
	}
	c := newCoarseClock()
	defer c.Close()
	deadline := time.Now().Add(clockIdle + 5*time.Second)
	for c.now.Load() != clockAsleep && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 2000 {
				got, want := c.Now(), c.exact()
				if d := time.Duration(want - got); d > time.Second {
					t.Errorf("handed a time %v stale", d)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
