package session_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// countingStore is the memory store, counting the lookups that reach it.
type countingStore struct {
	session.Store
	lookups atomic.Int64
}

func (s *countingStore) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	s.lookups.Add(1)
	return s.Store.RevokedUntil(ctx, id)
}

// A "not revoked" answer is cached from a session's second lookup on: a
// flood of cookies never seen before (each asked about once) costs no
// cache writes and evicts nothing, while a session in use is cached as
// before, one lookup later. A "revoked" answer is cached at once.
func TestCache_NotRevoked_CachedFromTheSecondLookup(t *testing.T) {
	ctx := context.Background()
	store := &countingStore{Store: memory.New()}
	c, err := session.NewCache(store, session.CacheOptions{MaxEntries: 50_000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for i := range 100_000 {
		if r, err := c.Revoked(ctx, session.IDOf(fmt.Sprint("never seen before ", i))); err != nil || r {
			t.Fatalf("lookup %d: %v, %v", i, r, err)
		}
	}
	c.Wait()
	// Some share a bit with an earlier one and are cached at once: at most
	// one in eight.
	if n := c.Len(); n > 100_000/8 {
		t.Errorf("%d answers cached after 100,000 first lookups; want at most an eighth", n)
	} else {
		t.Logf("%d of 100,000 first lookups cached (a bit shared with another)", n)
	}

	inUse := session.IDOf("a session in use")
	for range 2 {
		if r, _ := c.Revoked(ctx, inUse); r {
			t.Fatal("revoked")
		}
	}
	c.Wait()
	before := store.lookups.Load()
	for range 10 {
		if r, _ := c.Revoked(ctx, inUse); r {
			t.Fatal("revoked")
		}
	}
	if n := store.lookups.Load() - before; n != 0 {
		t.Errorf("%d lookups reached the store after the second one; want the cached answer", n)
	}

	revoked := session.IDOf("revoked elsewhere")
	if err := store.Store.Revoke(ctx, revoked, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Revoked(ctx, revoked); !r {
		t.Fatal("not revoked")
	}
	c.Wait()
	before = store.lookups.Load()
	if r, _ := c.Revoked(ctx, revoked); !r || store.lookups.Load() != before {
		t.Errorf("a revoked answer is not cached from the first lookup (revoked %v, %d lookups)", r, store.lookups.Load()-before)
	}
}

// fakeView is a LocalView: the smallest store that keeps one, for the
// Cache's side of it (the real ones are the redis and bolt stores, tested
// in their packages).
type fakeView struct {
	countingStore
	current atomic.Bool
	held    map[session.ID]time.Time
}

func (v *fakeView) ViewLookup(id session.ID) (time.Time, bool) { return v.held[id], v.current.Load() }

// lateStore is a wrapper whose store opens later (as Caddy's shared store
// does when the file is locked at start): Unwrap is nil until then.
type lateStore struct {
	session.Store // the wrapped store, once open; answers before that come from it too, for the test
	open          atomic.Bool
}

func (l *lateStore) Unwrap() session.Store {
	if l.open.Load() {
		return l.Store
	}
	return nil
}

// The Cache asks a store's view first: while it is current, a session it
// does not hold is not revoked (no lookup reaches the store, nothing is
// cached), and one it holds is revoked; while it is not, lookups go on as
// before. A view behind a wrapper that opens late is found once it opens.
func TestCache_AsksTheViewFirst_AlsoOfAStoreThatOpensLate(t *testing.T) {
	ctx := context.Background()
	revoked := session.IDOf("revoked, in the view")
	v := &fakeView{countingStore: countingStore{Store: memory.New()}, held: map[session.ID]time.Time{revoked: time.Now().Add(time.Hour)}}
	late := &lateStore{Store: v}
	c, err := session.NewCache(late, session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v.current.Store(true)
	if r, _ := c.Revoked(ctx, session.IDOf("before it opened")); r {
		t.Fatal("revoked")
	}
	if n := v.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups reached the store before it opened; want 1 (no view yet)", n)
	}
	late.open.Store(true)
	for i := range 100 {
		if r, _ := c.Revoked(ctx, session.IDOf(fmt.Sprint("never seen ", i))); r {
			t.Fatal("revoked")
		}
	}
	if r, _ := c.Revoked(ctx, revoked); !r {
		t.Fatal("the view's revocation is not refused")
	}
	if n := v.lookups.Load(); n != 1 {
		t.Errorf("%d more lookups reached the store with the view current; want none", n-1)
	}
	v.current.Store(false)
	if r, _ := c.Revoked(ctx, session.IDOf("view not current")); r || v.lookups.Load() != 2 {
		t.Errorf("with the view not current, a lookup did not reach the store (%d lookups)", v.lookups.Load())
	}
	if r, _ := c.Revoked(ctx, revoked); !r {
		t.Error("a revocation the view holds is not refused while it is not current")
	}
}
