package flow

// What sealed cookies cost the guard: a request carrying a sealed
// remember-me cookie (one AEAD open, the Cookie header rewritten for the
// app), against the same request with the cookie listed by name only, and
// an ordinary request on a gateway that seals (the sealed names looked at,
// nothing opened):
//
//	go test -run '^$' -bench 'Guard_Sealed' -benchmem -count 10 ./flow/
//
// That ordinary cookies cost what they did before seal existed is
// BenchmarkGuard_ServeHTTP's to show (before/after in bench/README.md).

import (
	"net/http"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

const benchRemember = "alice.3f8a1c0d9e2b7f6a5c4d3e2f1a0b9c8d3f8a1c0d9e2b7f6a5c4d3e2f1a0b9c8d"

func BenchmarkGuard_Sealed(b *testing.B) {
	g0, _ := newBenchGateway(b, memory.New(), 100_000)
	sealer, err := g0.cfg.Keys.Sealer()
	if err != nil {
		b.Fatal(err)
	}
	sealed, err := sealer.Seal("remember", benchRemember)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		seal   []string
		cookie string
	}{
		{"listed_not_sealed", nil, benchOtherCookie + "; sid=" + benchCookieShort + "; remember=" + benchRemember},
		{"sealed", []string{"remember"}, benchOtherCookie + "; sid=" + benchCookieShort + "; remember=" + sealed},
		{"sealing_gateway_ordinary_request", []string{"remember"}, benchOtherCookie + "; sid=" + benchCookieShort},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, cache := newBenchGateway(b, memory.New(), 100_000)
			cfg := g.cfg
			cfg.Cookies = []string{"sid", "remember"}
			cfg.Seal = bc.seal
			if g, err = New(cfg); err != nil {
				b.Fatal(err)
			}
			r := benchRequest("")
			r.Header.Set("Cookie", bc.cookie)
			for _, v := range []string{benchCookieShort, benchRemember, sealed} {
				warm(b, cache, session.CookieID(v))
			}
			w := &discardWriter{h: http.Header{}}
			line := r.Header["Cookie"] // the guard replaces, never changes, the app's header
			b.ReportAllocs()
			defer cpuTimer(b)()
			for b.Loop() {
				r.Header["Cookie"] = line
				if err := g.ServeHTTP(w, r, nopNext); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGuard_Sealed_Allocations: an ordinary request on a gateway that
// seals allocates nothing; one carrying a sealed cookie allocates the
// Cookie header the app gets (the line and its slice), and the open
// itself nothing (under -race, sync.Pool's drops add some).
func TestGuard_Sealed_Allocations(t *testing.T) {
	g, cache := newBenchGateway(t, memory.New(), 1000)
	cfg := g.cfg
	cfg.Cookies = []string{"sid"}
	cfg.Seal = []string{"remember"}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := g.seal.sealer.Seal("remember", benchRemember)
	if err != nil {
		t.Fatal(err)
	}
	w := &discardWriter{h: http.Header{}}
	for _, c := range []struct {
		cookie string
		allocs float64
	}{
		{benchOtherCookie + "; sid=" + benchCookieShort, 0},
		{benchOtherCookie + "; sid=" + benchCookieShort + "; remember=" + sealed, 2},
	} {
		r := benchRequest("")
		line := []string{c.cookie}
		for _, v := range []string{benchCookieShort, sealed} {
			warm(t, cache, session.CookieID(v))
		}
		if n := testing.AllocsPerRun(1000, func() {
			r.Header["Cookie"] = line
			_ = g.ServeHTTP(w, r, nopNext)
		}); n != c.allocs && !(raceEnabled && n > c.allocs) {
			t.Errorf("%q: %v allocations per request, want %v", c.cookie, n, c.allocs)
		}
	}
}
