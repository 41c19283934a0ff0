package flow

// Benchmarks of the guard, the code every proxied request runs. They guard
// against regressions: a cache hit allocates nothing, and its cost does
// not grow from 1 thousand to 1 million revoked sessions (Guard_Scale).
// What the guard costs inside Caddy is bench/run.sh's to measure.
//
//	go test -run '^$' -bench 'Guard' -benchmem -count 5 ./flow/
//	go test -run '^$' -bench 'GuardMemoryBounded' -benchtime 1x ./flow/
//
// Numbers measured on the development VM are in bench/README.md.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// Session cookie values as apps issue them: a PHP session id and a
// Kratos-style signed cookie (a few hundred bytes; SHA-256 cost grows with
// length).
const (
	benchCookieShort   = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6"
	benchCookiePercent = "s%3AZx9qT2mB7vK4pL8wN3rY6cF1hJ5d.Qm%2Fk9%2BzR1tY3uW5vX7%2BaB2cD4eF6gH8"
	benchOtherCookie   = "_ga=GA1.2.1234567890.1700000000; theme=dark"
)

var benchCookieKratos = func() string {
	b := make([]byte, 0, 300)
	for i := 0; len(b) < 300; i++ {
		b = append(b, "MTcwMDAwMDAwMHxEdi1CQkFFQ180SUFBUkFCRUFBQV9"[i%43])
	}
	return string(b)
}()

// discardWriter is a ResponseWriter that costs nothing, so the benchmark
// measures the guard and not httptest's recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// nopNext is the app: it does nothing.
var nopNext = NextFunc(func(http.ResponseWriter, *http.Request) error { return nil })

// newBenchGateway builds a Gateway over store behind a Cache of maxEntries.
func newBenchGateway(tb testing.TB, store session.Store, maxEntries int64) (*Gateway, *session.Cache) {
	tb.Helper()
	cache, err := session.NewCache(store, session.CacheOptions{MaxEntries: maxEntries, NegativeTTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cache.Close() })
	keys, err := session.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(Config{Cookies: []string{"sid"}, Keys: keys, Store: cache})
	if err != nil {
		tb.Fatal(err)
	}
	return g, cache
}

// benchRequest is a GET of an app page carrying a session cookie (among
// others) when value is not empty.
func benchRequest(value string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/app/dashboard?tab=1", nil)
	r.Header.Set("Accept", "text/html")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench")
	if value != "" {
		r.Header.Set("Cookie", benchOtherCookie+"; sid="+value)
	}
	return r
}

// browserRequest is the same GET with the headers Chrome sends for a page
// load. Real requests carry a dozen or more headers, and net/http looks
// them up differently than in a map of three (hashing, not a scan), so
// both shapes are measured.
func browserRequest(value string) *http.Request {
	r := benchRequest(value)
	for k, v := range map[string]string{
		"Accept":                    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
		"Accept-Encoding":           "gzip, deflate, br, zstd",
		"Accept-Language":           "en-GB,en;q=0.9",
		"Cache-Control":             "max-age=0",
		"Priority":                  "u=0, i",
		"Referer":                   "https://app.example.com/app/",
		"Sec-Ch-Ua":                 `"Chromium";v="131", "Not_A Brand";v="24"`,
		"Sec-Ch-Ua-Mobile":          "?0",
		"Sec-Ch-Ua-Platform":        `"Linux"`,
		"Sec-Fetch-Dest":            "document",
		"Sec-Fetch-Mode":            "navigate",
		"Sec-Fetch-Site":            "same-origin",
		"Sec-Fetch-User":            "?1",
		"Upgrade-Insecure-Requests": "1",
	} {
		r.Header.Set(k, v)
	}
	return r
}

// warm makes the cache hold the answer for r's session: ristretto's Set
// is asynchronous and may be refused by its admission policy, so ask, let
// the cache apply its Sets, and ask again until the answer is a hit.
func warm(tb testing.TB, cache *session.Cache, id session.ID) {
	tb.Helper()
	for range 10 {
		before := cache.Stats().Hits
		if _, err := cache.Revoked(context.Background(), id); err != nil {
			tb.Fatal(err)
		}
		if cache.Stats().Hits > before {
			return
		}
		cache.Wait()
	}
	tb.Fatal("the answer never reached the cache")
}

// BenchmarkGuard_ServeHTTP is the whole Gateway.ServeHTTP for a request
// that is not for the endpoints, with an app that does nothing.
func BenchmarkGuard_ServeHTTP(b *testing.B) {
	g, cache := newBenchGateway(b, memory.New(), 100_000)
	revokedValue := "revoked-" + benchCookieShort
	if err := cache.Revoke(context.Background(), session.CookieID(revokedValue), time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, value string
		browser     bool
		cookie      string // the whole Cookie header instead, when set
	}{
		{"valid_cookie_hit", benchCookieShort, false, ""},
		{"valid_cookie_hit_browser", benchCookieShort, true, ""},
		{"valid_cookie_hit_300B", benchCookieKratos, false, ""},
		// Express's connect.sid style: a percent-encoded value, decoded
		// before it is hashed.
		{"valid_cookie_hit_percent", benchCookiePercent, false, ""},
		// A cookie of another name outside RFC 6265, as WordPress sends on
		// every request: looked at for hidden session cookies.
		{"valid_cookie_hit_odd_other", benchCookieShort, false, "wordpress_test_cookie=WP Cookie check; sid=" + benchCookieShort},
		{"no_credentials", "", false, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := benchRequest(bc.value)
			if bc.browser {
				r = browserRequest(bc.value)
			}
			if bc.cookie != "" {
				r.Header.Set("Cookie", bc.cookie)
			}
			if bc.value != "" {
				warm(b, cache, session.CookieID(bc.value))
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				if err := g.ServeHTTP(w, r, nopNext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// on_revoked strip: the cookie is cut out of the request and cleared
	// in the response, so each round restores the request first. This path
	// allocates (a new Cookie header, a Set-Cookie, an audit entry); it is
	// taken once per revoked session by a browser that then drops it.
	b.Run("revoked_cookie_strip", func(b *testing.B) {
		r := benchRequest(revokedValue)
		warm(b, cache, session.CookieID(revokedValue))
		cookie := r.Header["Cookie"]
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		defer cpuTimer(b)()
		for b.Loop() {
			r.Header["Cookie"] = cookie
			clear(w.h)
			if err := g.ServeHTTP(w, r, nopNext); err != nil {
				b.Fatal(err)
			}
			if len(w.h["Set-Cookie"]) == 0 {
				b.Fatal("the revoked cookie was not cleared")
			}
		}
	})
}

// BenchmarkGuard_Check is the guard's decision alone: find the credential
// in the headers, hash it, ask the cache. Its parts are measured too.
func BenchmarkGuard_Check(b *testing.B) {
	g, cache := newBenchGateway(b, memory.New(), 100_000)
	r := benchRequest(benchCookieShort)
	id := session.CookieID(benchCookieShort)
	warm(b, cache, id)
	ctx := context.Background()

	lookupHashHit := func(r *http.Request) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				g.eachCredential(r, func(c credential) bool {
					if v, _ := g.check(r, c); v != verdictPass {
						b.Fatal("refused")
					}
					return true
				})
			}
		}
	}
	b.Run("lookup_hash_cache_hit", lookupHashHit(r))
	b.Run("lookup_hash_cache_hit_browser", lookupHashHit(browserRequest(benchCookieShort)))
	// The check for a credential already found: hash + cache hit.
	b.Run("hash_cache_hit", func(b *testing.B) {
		c := credential{kind: fromCookie, name: "sid", value: benchCookieShort}
		b.ReportAllocs()
		defer cpuTimer(b)()
		for b.Loop() {
			if v, _ := g.check(r, c); v != verdictPass {
				b.Fatal("refused")
			}
		}
	})
	b.Run("lookup_only", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuTimer(b)()
		n := 0
		for b.Loop() {
			g.eachCredential(r, func(credential) bool { n++; return true })
		}
		if n == 0 {
			b.Fatal("no credential found")
		}
	})
	b.Run("hash_only", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuTimer(b)()
		for b.Loop() {
			id = session.CookieID(benchCookieShort)
		}
	})
	b.Run("cache_hit_only", func(b *testing.B) {
		b.ReportAllocs()
		defer cpuTimer(b)()
		for b.Loop() {
			if revoked, err := cache.Revoked(ctx, id); revoked || err != nil {
				b.Fatal(revoked, err)
			}
		}
	})
	// The cache hit from both cores at once: the RWMutex that guards
	// Close and ristretto's striped counters are shared.
	b.Run("cache_hit_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if revoked, err := cache.Revoked(ctx, id); revoked || err != nil {
					b.Error(revoked, err)
					return
				}
			}
		})
	})
	b.Run("serve_parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := benchRequest(benchCookieShort)
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				if err := g.ServeHTTP(w, r, nopNext); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// scaleSizes are the numbers of revoked sessions the check must not care
// about.
var scaleSizes = []int{1_000, 1_000_000}

// filledCache returns a cache (max_entries 1M, the default) over a memory
// store, through which n sessions were revoked, so both the store and the
// cache are as large as n makes them. Built once per n and kept for the
// rest of the run.
func filledCache(b *testing.B, n int) *session.Cache {
	filledMu.Lock()
	defer filledMu.Unlock()
	if c, ok := filled[n]; ok {
		return c
	}
	cache, err := session.NewCache(memory.New(), session.CacheOptions{MaxEntries: session.DefaultMaxEntries, NegativeTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	until := time.Now().Add(24 * time.Hour)
	for i := range n {
		if err := cache.Revoke(context.Background(), session.CookieID(revokedCookie(i)), until); err != nil {
			b.Fatal(err)
		}
	}
	filled[n] = cache
	return cache
}

var (
	filledMu sync.Mutex
	filled   = map[int]*session.Cache{}
)

// revokedCookie is the value of the i-th revoked session cookie.
func revokedCookie(i int) string { return "revoked-session-" + strconv.Itoa(i) }

// BenchmarkGuard_Scale runs the guard over a memory store and a cache that
// hold 1 thousand or 1 million revocations:
//   - hit: a valid session whose "not revoked" answer is cached (the
//     steady state of every logged-in user), through Gateway.ServeHTTP;
//   - revoked_hit: a revoked session answered from the cache (the decision
//     only: stripping is measured in BenchmarkGuard_ServeHTTP);
//   - miss: a session never seen before, so the cache asks the store and
//     remembers the answer (each iteration a new cookie).
//
// The bolt store's side of this is session/bolt's BenchmarkScale.
func BenchmarkGuard_Scale(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			cache := filledCache(b, n)
			keys, _ := session.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
			g, err := New(Config{Cookies: []string{"sid"}, Keys: keys, Store: cache})
			if err != nil {
				b.Fatal(err)
			}
			b.Run("hit", func(b *testing.B) {
				r := benchRequest(benchCookieShort)
				warm(b, cache, session.CookieID(benchCookieShort))
				w := &discardWriter{h: http.Header{}}
				b.ReportAllocs()
				defer cpuTimer(b)()
				for b.Loop() {
					_ = g.ServeHTTP(w, r, nopNext)
				}
			})
			b.Run("revoked_hit", func(b *testing.B) {
				value := revokedCookie(n / 2)
				r := benchRequest(value)
				warm(b, cache, session.CookieID(value))
				b.ReportAllocs()
				defer cpuTimer(b)()
				for b.Loop() {
					g.eachCredential(r, func(c credential) bool {
						if v, _ := g.check(r, c); v != verdictRevoked {
							b.Fatal("not revoked")
						}
						return true
					})
				}
			})
			b.Run("miss", func(b *testing.B) {
				benchMiss(b, g, fmt.Sprintf("miss-%d-", n))
			})
		})
	}
}

// benchMiss sends a new session cookie each iteration. The cookie value is
// written into a reused buffer, so the loop itself does not allocate.
func benchMiss(b *testing.B, g *Gateway, prefix string) {
	r := benchRequest("x")
	head := benchOtherCookie + "; sid=" + prefix
	buf := make([]byte, 0, len(head)+20)
	buf = append(buf, head...)
	cookie := []string{""}
	r.Header["Cookie"] = cookie
	w := &discardWriter{h: http.Header{}}
	var n uint64
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		n++
		buf = strconv.AppendUint(buf[:len(head)], n, 10)
		cookie[0] = unsafe.String(unsafe.SliceData(buf), len(buf))
		_ = g.ServeHTTP(w, r, nopNext)
	}
}

// BenchmarkGuardMemoryBounded drives 1 million distinct session cookies
// (then a second million, to show the level it settles at) through the
// guard with cache max_entries 100k, and reports the heap in use after a
// GC: before, with the empty cache, and at each mark. Once the cache is
// full the heap stops following the number of sessions. One call does the
// whole run whatever b.N is; run it with -benchtime 1x.
func BenchmarkGuardMemoryBounded(b *testing.B) {
	const maxEntries = 100_000
	marks := []int{100_000, 500_000, 1_000_000, 2_000_000}
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse) / (1 << 20)
	}
	store := memory.New()
	b.Cleanup(func() { _ = store.Close() })
	b.ReportMetric(heap(), "MB-heap-start")
	g, cache := newBenchGateway(b, store, maxEntries)
	b.ReportMetric(heap(), "MB-heap-empty-cache")

	r := benchRequest("x")
	w := &discardWriter{h: http.Header{}}
	buf := make([]byte, 0, 64)
	cookie := []string{""}
	r.Header["Cookie"] = cookie
	for range b.N {
		next := 0
		for i := range marks[len(marks)-1] {
			buf = append(buf[:0], "sid=session-"...)
			buf = strconv.AppendUint(buf, uint64(i), 10)
			// A new string each time, as each real request's header is.
			cookie[0] = string(buf)
			_ = g.ServeHTTP(w, r, nopNext)
			if i+1 == marks[next] {
				b.ReportMetric(heap(), fmt.Sprintf("MB-heap-after-%dk", marks[next]/1000))
				next++
			}
		}
	}
	b.ReportMetric(float64(cache.Len()), "cached-entries")
	if cache.Len() > maxEntries {
		b.Errorf("the cache holds %d entries, more than max_entries %d", cache.Len(), maxEntries)
	}
}

// BenchmarkGuard_Identity is the guard with sessions' owners on against the
// guard without, for a session whose owner this node has recorded: the
// known-session lookup is all the extra work, and the identity is not
// read. anonymous is a session that has no identity (yet), whose identity
// is read before and after the app on every request.
//
//	go test -run '^$' -bench 'Guard_Identity' -count 10 ./flow/ > id.txt
//	benchstat -col /identity id.txt
func BenchmarkGuard_Identity(b *testing.B) {
	for _, bc := range []struct {
		name      string
		identity  bool
		anonymous bool
	}{
		{"identity=off/valid_cookie_hit", false, false},
		{"identity=on/valid_cookie_hit", true, false},
		{"identity=off/anonymous", false, true},
		{"identity=on/anonymous", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store := memory.New()
			b.Cleanup(func() { _ = store.Close() })
			cache, err := session.NewCache(store, session.CacheOptions{MaxEntries: 100_000, NegativeTTL: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = cache.Close() })
			keys, _ := session.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
			cfg := Config{Cookies: []string{"sid"}, Keys: keys, Store: cache}
			id := session.CookieID(benchCookieShort)
			if bc.identity {
				owners := session.NewOwners(store, cache, session.OwnersOptions{})
				b.Cleanup(owners.Close)
				cfg.Owners = owners
				user := ""
				if !bc.anonymous {
					user = "alice"
				}
				cfg.Identity = IdentityFunc(func(r *http.Request) IdentityValues {
					return IdentityValues{Subject: user, IDToken: r.Header.Get("Authorization")}
				})
				if !bc.anonymous {
					owners.Learn(session.Sighting{ID: id, Owner: session.Owner{Subject: "alice"}}, session.OwnerPolicy{Lifetime: DefaultSessionLifetime})
				}
			}
			g, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := browserRequest(benchCookieShort)
			warm(b, cache, id)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				if err := g.ServeHTTP(w, r, nopNext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
