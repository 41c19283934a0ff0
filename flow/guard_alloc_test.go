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

// TestGuard_OddOtherCookie_DoesNotAllocate: a cookie of another name that
// is outside RFC 6265 (WordPress sends one on every request) is looked at
// for hidden session cookies, and forwarded as it is, without allocating.
func TestGuard_OddOtherCookie_DoesNotAllocate(t *testing.T) {
	g, cache := newBenchGateway(t, memory.New(), 1000)
	w := &discardWriter{h: http.Header{}}
	r := benchRequest(benchCookieShort)
	r.Header.Set("Cookie", "wordpress_test_cookie=WP Cookie check; sid="+benchCookieShort)
	warm(t, cache, session.CookieID(benchCookieShort))
	if n := testing.AllocsPerRun(1000, func() { _ = g.ServeHTTP(w, r, nopNext) }); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}

// TestGuard_OddOtherCookie_UnderAPattern_DoesNotAllocate: WordPress's test
// cookie, outside RFC 6265 and under the recipe's pattern, is looked at
// for a session a pattern may be read out of, without allocating.
func TestGuard_OddOtherCookie_UnderAPattern_DoesNotAllocate(t *testing.T) {
	g, cache := newBenchGateway(t, memory.New(), 1000)
	cfg := g.cfg
	cfg.Cookies = []string{"wordpress_*"}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const logged = "wordpress_logged_in_5d41402abc4b2a76b9719d911017c592"
	r := benchRequest("")
	r.Header.Set("Cookie", "wordpress_test_cookie=WP Cookie check; "+logged+"="+benchCookieShort)
	warm(t, cache, session.CookieID(benchCookieShort))
	w := &discardWriter{h: http.Header{}}
	if n := testing.AllocsPerRun(1000, func() { _ = g.ServeHTTP(w, r, nopNext) }); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
}
