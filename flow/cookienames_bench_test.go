package flow

// What cookie name patterns cost the guard, against the same cookies
// listed by exact name:
//
//	go test -run '^$' -bench 'Guard_CookiePatterns' -benchmem -count 10 ./flow/
//
// Exact names are measured by BenchmarkGuard_ServeHTTP/valid_cookie_hit, with
// and without patterns in the code base (numbers in bench/README.md).

import (
	"net/http"
	"testing"

	"github.com/caddy-logout/caddy-logout/session/memory"
)

func BenchmarkGuard_CookiePatterns(b *testing.B) {
	const dwName = "DW3e7a1f0c4c0f6b1e2d9a8b7c6d5e4f3a"
	const dwValue = "YWxpY2U=|1|T2Y2b3VyIHNlY3JldCBwYXNzd29yZA=="
	dokuCookies := benchOtherCookie + "; DokuWiki=" + benchCookieShort + "; " + dwName + "=" + dwValue
	for _, bc := range []struct {
		name    string
		cookies []string
		header  string
	}{
		{"exact_names", []string{"DokuWiki", dwName}, dokuCookies},
		{"glob", []string{"DokuWiki", "DW*"}, dokuCookies},
		{"glob_not_in_request", []string{"sid", "DW*"}, benchOtherCookie + "; sid=" + benchCookieShort},
	} {
		b.Run(bc.name, func(b *testing.B) {
			g, cache := newBenchGateway(b, memory.New(), 100_000)
			cfg := g.cfg
			cfg.Cookies = bc.cookies
			g, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			r := benchRequest("")
			r.Header.Set("Cookie", bc.header)
			n := 0
			g.eachCredential(r, func(c credential) bool {
				warm(b, cache, c.id())
				n++
				return true
			})
			if n == 0 {
				b.Fatal("no credential found")
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
}
