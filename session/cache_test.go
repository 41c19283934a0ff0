package session_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// slowReads delays every lookup after it has read the store, widening the
// window in which a "not revoked" answer is on its way into the cache
// while a revocation happens: the race the cache must win.
type slowReads struct {
	session.Store
	reads atomic.Int64
	fail  atomic.Bool
}

func (s *slowReads) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return time.Time{}, errors.New("store down")
	}
	t, err := s.Store.RevokedUntil(ctx, id)
	spin(time.Duration(rand.IntN(100)) * time.Microsecond)
	return t, err
}

// spin waits d without sleeping: timer sleeps are ~1ms here, far coarser
// than the race window being widened.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
		runtime.Gosched()
	}
}

func newCache(t *testing.T, store session.Store, opts session.CacheOptions) *session.Cache {
	t.Helper()
	c, err := session.NewCache(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestCache_RevokeVisibleAtOnce_AgainstConcurrentNegativeFills is the race
// the cache must win: readers keep filling the cache with "not revoked" for
// an ID while it is revoked; from the moment Revoke returns, every lookup on
// this node must say revoked.
func TestCache_RevokeVisibleAtOnce_AgainstConcurrentNegativeFills(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Store: memory.New()}
	c := newCache(t, store, session.CacheOptions{MaxEntries: 10_000, NegativeTTL: time.Hour})

	const rounds = 100
	for round := range rounds {
		id := session.IDOf("session-" + string(rune('a'+round%26)) + time.Now().String())
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := c.Revoked(ctx, id); err != nil {
						t.Error(err)
						return
					}
					runtime.Gosched() // leave the checker some CPU
				}
			}()
		}
		spin(time.Duration(rand.IntN(300)) * time.Microsecond) // let negatives land
		if err := c.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// From here on, while the readers' late Sets still arrive.
		for check := range 50 {
			revoked, err := c.Revoked(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !revoked {
				close(stop)
				readers.Wait()
				t.Fatalf("round %d, check %d: revoked session read as not revoked after Revoke returned", round, check)
			}
			if check%10 == 0 {
				spin(50 * time.Microsecond)
			}
		}
		close(stop)
		readers.Wait()
	}
}

func TestCache_NegativeAnswer_ServedFromCache(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Store: memory.New()}
	c := newCache(t, store, session.CacheOptions{NegativeTTL: time.Hour})
	id := session.IDOf("cookie-value")

	waitCached(t, c, func() bool {
		before := store.reads.Load()
		if revoked, err := c.Revoked(ctx, id); err != nil || revoked {
			t.Fatalf("fresh session: revoked=%v err=%v", revoked, err)
		}
		return store.reads.Load() == before
	})
}

func TestCache_RevokedAnswer_ServedFromCache_EvenWhenStoreFails(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Store: memory.New()}
	c := newCache(t, store, session.CacheOptions{})
	id := session.IDOf("cookie-value")
	if err := c.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.Revoked(ctx, id) // make sure it is cached even if the Revoke's Set was dropped
	store.fail.Store(true)
	waitCached(t, c, func() bool {
		revoked, err := c.Revoked(ctx, id)
		return err == nil && revoked
	})
}

func TestCache_StoreError_IsReturned_NotCached(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Store: memory.New()}
	c := newCache(t, store, session.CacheOptions{})
	id := session.IDOf("cookie-value")
	store.fail.Store(true)
	if _, err := c.Revoked(ctx, id); err == nil {
		t.Fatal("store error was swallowed")
	}
	store.fail.Store(false)
	if revoked, err := c.Revoked(ctx, id); err != nil || revoked {
		t.Fatalf("after recovery: revoked=%v err=%v", revoked, err)
	}
}

func TestCache_RevokedUntil_IsTheRecordsTime(t *testing.T) {
	ctx := context.Background()
	c := newCache(t, memory.New(), session.CacheOptions{})
	id := session.IDOf("cookie-value")
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := c.Revoke(ctx, id, until); err != nil {
		t.Fatal(err)
	}
	for range 3 { // from the store, then from the cache
		got, err := c.RevokedUntil(ctx, id)
		if err != nil || !got.Equal(until) {
			t.Fatalf("RevokedUntil = %v, %v; want %v", got, err, until)
		}
	}
}

// A broadcaster stand-in: the real one is the Redis store (tested against
// a real redis-server in its own package); this checks the cache's side.
type announcing struct {
	session.Store
	mu sync.Mutex
	fn func(session.ID, bool)
}

func (a *announcing) Subscribe(fn func(session.ID, bool)) func() {
	a.mu.Lock()
	a.fn = fn
	a.mu.Unlock()
	return func() { a.mu.Lock(); a.fn = nil; a.mu.Unlock() }
}

func TestCache_RevocationElsewhere_DropsNegativeAnswer(t *testing.T) {
	ctx := context.Background()
	backend := memory.New()
	store := &announcing{Store: backend}
	c := newCache(t, store, session.CacheOptions{NegativeTTL: time.Hour})
	id := session.IDOf("cookie-value")
	other := session.IDOf("other")
	for _, all := range []bool{false, true} {
		c.Revoked(ctx, id)
		c.Revoked(ctx, other)
		// Another node revokes straight in the shared backend, then announces it.
		if err := backend.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		store.fn(id, all)
		if revoked, _ := c.Revoked(ctx, id); !revoked {
			t.Fatalf("all=%v: announced revocation not seen", all)
		}
		if revoked, _ := c.Revoked(ctx, other); revoked {
			t.Fatalf("all=%v: unrelated session read as revoked", all)
		}
	}
}

func TestCache_AfterClose_FallsThroughToStore_NoPanic(t *testing.T) {
	ctx := context.Background()
	c, err := session.NewCache(memory.New(), session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := session.IDOf("cookie-value")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				c.Revoked(ctx, id)
				c.Revoke(ctx, id, time.Now().Add(time.Minute))
			}
		}()
	}
	time.Sleep(time.Millisecond)
	c.Close()
	wg.Wait()
	c.Close() // twice is fine
	if revoked, err := c.Revoked(ctx, id); err != nil || !revoked {
		t.Fatalf("after close: revoked=%v err=%v", revoked, err)
	}
}

// TestCache_MaxEntries_BoundsEntries: the cache holds no more than
// max_entries, and does hold that many: a cache that stored nothing would
// pass the bound alone.
func TestCache_MaxEntries_BoundsEntries(t *testing.T) {
	ctx := context.Background()
	store := &slowReads{Store: memory.New()}
	c := newCache(t, store, session.CacheOptions{MaxEntries: 100, NegativeTTL: time.Hour})
	ids := make([]session.ID, 5000)
	for i := range ids {
		ids[i] = session.IDOf(time.Duration(i).String())
		c.Revoked(ctx, ids[i])
	}
	c.Wait()
	if n := c.Len(); n > 100 || n < 90 {
		t.Fatalf("cache holds %d entries, want about max_entries 100 (at least 90)", n)
	}
	// And they are answers it serves: with the store failing (so no new
	// answer displaces them), the cached IDs still get one.
	store.fail.Store(true)
	served := 0
	for _, id := range ids {
		if _, err := c.Revoked(ctx, id); err == nil {
			served++
		}
	}
	if served < 90 || served > 100 {
		t.Fatalf("%d of %d lookups were answered from the cache, want about 100", served, len(ids))
	}
}

// waitCached lets the cache apply what it was handed (ristretto's Set is
// asynchronous) until cond holds; a few rounds, as a Set can be dropped.
func waitCached(t *testing.T, c *session.Cache, cond func() bool) {
	t.Helper()
	for range 10 {
		if cond() {
			return
		}
		c.Wait()
	}
	t.Fatal("answer never served from the cache")
}
