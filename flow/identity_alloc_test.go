package flow

import (
	"net/http"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// TestGuard_Identity_KnownSession_DoesNotAllocate: with identity on, a
// session whose owner this node has recorded costs the guard one lookup
// in the known-session table and nothing else (BenchmarkGuard_Identity
// measures the time).
func TestGuard_Identity_KnownSession_DoesNotAllocate(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { _ = store.Close() })
	cache, err := session.NewCache(store, session.CacheOptions{MaxEntries: 1000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	owners := session.NewOwners(store, cache, session.OwnersOptions{})
	t.Cleanup(owners.Close)
	keys, _ := session.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	reads := 0
	g, err := New(Config{Cookies: []string{"sid"}, Keys: keys, Store: cache, Owners: owners,
		Identity: IdentityFunc(func(*http.Request) IdentityValues { reads++; return IdentityValues{Subject: "alice"} })})
	if err != nil {
		t.Fatal(err)
	}
	r := benchRequest(benchCookieShort)
	w := &discardWriter{h: http.Header{}}
	_ = g.ServeHTTP(w, r, nopNext) // learns it
	warm(t, cache, session.CookieID(benchCookieShort))
	before := reads
	if n := testing.AllocsPerRun(1000, func() { _ = g.ServeHTTP(w, r, nopNext) }); n != 0 {
		t.Errorf("known session with identity on: %v allocations per request, want 0", n)
	}
	if reads != before {
		t.Errorf("the identity of a known session was read %d times", reads-before)
	}
}
