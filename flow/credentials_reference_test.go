package flow

// The cookie scanner was rewritten for speed (see guard_bench_test.go);
// these tests hold it to the straightforward version it replaced, on
// random Cookie headers full of the characters that matter.

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session/memory"
)

// referenceCookiePairs is eachCookiePair as first written: strings.IndexAny,
// strings.TrimSpace and strings.Cut.
func referenceCookiePairs(h http.Header) [][3]string {
	var out [][3]string
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var pair string
			if i := strings.IndexAny(line, ";,"); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				pair, line = line, ""
			}
			pair = strings.TrimSpace(pair)
			name, value, ok := strings.Cut(pair, "=")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			if !ok || name == "" {
				continue
			}
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			out = append(out, [3]string{name, value, pair})
		}
	}
	return out
}

// cookieAlphabet is what makes cookie parsing interesting: separators,
// ASCII and Unicode spaces, quotes, name folding and chunk suffixes.
var cookieAlphabet = []string{
	";", ",", "=", " ", "\t", "\n", "\v", "\f", "\r", "\"", "sid", "SID", "s.id", "s id", "s_id",
	".0", "_1", ".12", "x", "%41", "+", "\u00a0", "\u0085", "\u2003", "é", "\xff",
}

func randomCookieLine(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteString(cookieAlphabet[r.IntN(len(cookieAlphabet))])
	}
	return b.String()
}

func TestEachCookiePair_SameAsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		h := http.Header{}
		for range 1 + r.IntN(2) {
			h.Add("Cookie", randomCookieLine(r))
		}
		var got [][3]string
		eachCookiePair(h, func(n, v, raw string) bool {
			got = append(got, [3]string{n, v, raw})
			return true
		})
		if want := referenceCookiePairs(h); !slices.Equal(got, want) {
			t.Fatalf("case %d, Cookie %q:\n got %q\nwant %q", i, h["Cookie"], got, want)
		}
	}
}

func TestTrimSpace_SameAsStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200_000 {
		s := randomCookieLine(r)
		if got, want := trimSpace(s), strings.TrimSpace(s); got != want {
			t.Fatalf("trimSpace(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestEachCredential_SameAsTwoPasses holds the one-pass credential lookup
// (which joins chunks only when it saw one) to the two passes it replaced.
func TestEachCredential_SameAsTwoPasses(t *testing.T) {
	g, _ := newBenchGateway(t, memory.New(), 1000)
	g.cfg.Cookies = []string{"sid", "s.id"}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 100_000 {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		for range 1 + r.IntN(2) {
			req.Header.Add("Cookie", randomCookieLine(r))
		}
		var got, want []credential
		g.eachCredential(req, func(c credential) bool { got = append(got, c); return true })
		for _, name := range g.cfg.Cookies {
			eachCookie(req.Header, func(n, v string) bool {
				if v != "" && sameCookieName(n, name) {
					want = append(want, credential{kind: fromCookie, name: name, value: v})
				}
				return true
			})
			if first, last, ok := joinedChunks(req.Header, name); ok {
				want = append(want, credential{kind: fromChunkedCookie, name: name, value: first})
				if last != first {
					want = append(want, credential{kind: fromChunkedCookie, name: name, value: last})
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d, Cookie %q:\n got %+v\nwant %+v", i, req.Header["Cookie"], got, want)
		}
	}
}
