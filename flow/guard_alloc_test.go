package flow

import (
	"net/http"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// TestGuard_CacheHit_DoesNotAllocate pins the zero-allocation promise of
// the hot path: a request with a valid session cookie answered from the
// cache, and a request without credentials. (ristretto hands its access
// buffer to its policy every 64 Gets and starts a new one; AllocsPerRun,
// like -benchmem, rounds that fraction down to 0.)
func TestGuard_CacheHit_DoesNotAllocate(t *testing.T) {
	g, cache := newBenchGateway(t, memory.New(), 1000)
	w := &discardWriter{h: http.Header{}}
	for _, value := range []string{benchCookieShort, benchCookieKratos, ""} {
		r := benchRequest(value)
		if value != "" {
			warm(t, cache, session.CookieID(value))
		}
		if n := testing.AllocsPerRun(1000, func() { _ = g.ServeHTTP(w, r, nopNext) }); n != 0 {
			t.Errorf("cookie of %d bytes: %v allocations per request, want 0", len(value), n)
		}
	}
}
