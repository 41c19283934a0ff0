package flow

// The Cookie header scanner is written for speed (eight bytes at a time,
// no allocation); these tests hold it to straightforward versions of the
// same rules, on random headers full of the bytes that matter.

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// referencePieces is eachCookiePiece written plainly: split on ';', trim
// spaces and tabs, and read RFC 6265's grammar byte by byte.
func referencePieces(lines []string) []cookiePiece {
	var out []cookiePiece
	for _, line := range lines {
		for _, text := range strings.Split(line, ";") {
			text = strings.Trim(text, " \t")
			if text == "" {
				continue
			}
			p := cookiePiece{text: text}
			name, value, ok := strings.Cut(text, "=")
			quoted := len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"'
			if quoted {
				value = value[1 : len(value)-1]
			}
			if ok && name != "" && !strings.ContainsFunc(name, func(r rune) bool {
				return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
			}) && !strings.ContainsFunc(value, func(r rune) bool {
				return r <= ' ' || r >= 0x7f || strings.ContainsRune(`",;\`, r)
			}) {
				p.clean = true
			}
			if ok && name != "" && !strings.ContainsFunc(name, func(r rune) bool {
				return r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
			}) {
				p.eq, p.quoted = int32(len(name)), quoted // the split is kept for a token name
			}
			out = append(out, p)
		}
	}
	return out
}

// cookieAlphabet is what makes cookie parsing interesting: separators,
// ASCII and Unicode spaces, quotes and backslashes, name folding and chunk
// suffixes, escapes, bytes outside ASCII.
var cookieAlphabet = []string{
	";", ",", "=", " ", "\t", "\n", "\v", "\f", "\r", "\"", "\\", "sid", "SID", "s.id", "s id", "s_id", "s[id",
	".0", "_1", ".12", "x", "%41", "%5F", "+", "j:", `j:"x"`, "j:%22y%22", "\u00a0", "\u0085", "\u2003", "\u017f", "é", "\xff", "\xa0",
	"abcdefgh", "0123456789", "\x00", "\x7f", "~",
}

func randomCookieLine(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(16) {
		b.WriteString(cookieAlphabet[r.IntN(len(cookieAlphabet))])
	}
	return b.String()
}

func TestEachCookiePiece_SameAsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		var lines []string
		for range 1 + r.IntN(2) {
			lines = append(lines, randomCookieLine(r))
		}
		var got []cookiePiece
		eachCookiePiece(lines, func(p cookiePiece) bool { got = append(got, p); return true })
		if want := referencePieces(lines); !slices.Equal(got, want) {
			t.Fatalf("case %d, Cookie %q:\n got %+v\nwant %+v", i, lines, got, want)
		}
	}
}

// TestCookieOctets_SameAsByteByByte holds the eight-bytes-at-a-time check
// to the table, with every byte value at every offset of a word.
func TestCookieOctets_SameAsByteByByte(t *testing.T) {
	base := []byte("abcdefghijklmnopqrstuvwx")
	for c := range 256 {
		for at := range len(base) {
			s := slices.Clone(base)
			s[at] = byte(c)
			want := true
			for _, b := range s {
				want = want && cookieOctet[b]
			}
			if got := cookieOctets(string(s)); got != want {
				t.Fatalf("cookieOctets(%q) = %v, want %v", s, got, want)
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0x60))
			if r.IntN(20) == 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		want := !slices.ContainsFunc(b, func(c byte) bool { return !cookieOctet[c] })
		if got := cookieOctets(string(b)); got != want {
			t.Fatalf("cookieOctets(%q) = %v, want %v", b, got, want)
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
		lines := req.Header["Cookie"]
		add := func(c credential) {
			want = append(want, c)
			session.EachJSONReading(c.value, func(r string) bool {
				want = append(want, credential{kind: c.kind, name: c.name, value: r})
				return true
			})
		}
		for _, name := range g.cfg.Cookies {
			for _, p := range referencePieces(lines) {
				if p.clean && p.value() != "" && sameCookieName(p.name(), name) {
					add(credential{kind: fromCookie, name: name, value: p.value()})
				}
			}
			if first, last, ok := joinedChunks(lines, name); ok {
				add(credential{kind: fromChunkedCookie, name: name, value: first})
				if last != first {
					add(credential{kind: fromChunkedCookie, name: name, value: last})
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("case %d, Cookie %q:\n got %+v\nwant %+v", i, lines, got, want)
		}
	}
}

func TestMentions(t *testing.T) {
	for _, c := range []struct {
		text, name string
		want       bool
	}{
		{"a=1 sid=x", "sid", true},
		{"a=1,sid=x", "sid", true},
		{"a=1\xa0sid=x", "sid", true},
		{"\xa0sid=x", "sid", true},
		{`sid="\x"`, "sid", true},
		{"sid =x", "sid", true},
		{"SID\t=x", "sid", true},
		{"s[id=x", "s_id", true},
		{"s id=x", "s_id", true},
		{"s_id[]=x", "s_id", true},
		{"s%5Fid=x y", "s_id", true},
		{"%2573id=x y", "sid", true},
		{"\u017fid=x", "sid", true}, // ſ folds to s
		{"PHPSESSID=a b", "PHPSESSID", true},
		{"x=1 sid.0=y", "sid", true}, // a chunk
		{"x=1 my.sess=y", "my.sess", true},
		{"wordpress_test_cookie=WP Cookie check", "sid", false},
		{"flash=Your session expired", "session", false}, // no '=' after it
		{"x=1 sidx=y", "sid", false},                     // glued to a letter
		{"x=1 xsid=y", "sid", false},
		{"sid", "sid", false},
		{"prefs={\"a\":1}", "sid", false},
	} {
		if got := mentions(c.text, c.name); got != c.want {
			t.Errorf("mentions(%q, %q) = %v, want %v", c.text, c.name, got, c.want)
		}
	}
}

func TestUnreadableReadings(t *testing.T) {
	for _, c := range []struct {
		text, name, want string
	}{
		{"a=1 sid=dead", "sid", "dead"},
		{"a=1\tsid =  dead", "sid", "dead"},
		{"a=1, sid=dead", "sid", "dead"},
		{`sid="\dead"`, "sid", "dead"},
		{`sid="\144ead"`, "sid", "dead"},
		{`sid="de\141d"; x=1`, "sid", "dead"},
		{"sid=dead\xa0", "sid", "dead"},
		{"\x85sid=dead", "sid", "dead"},
		{"sid=dead\u3000", "sid", "dead"},
		{"s[id=dead ", "s_id", "dead"},
		{"s_id[]=dead\t", "s_id", "dead"},
		{`"sid"=dead `, "sid", "dead"},
		{`a=1 sid="\dead" b=2`, "sid", "dead"},
	} {
		var got []string
		unreadableReadings(c.text, c.name, func(v string) bool { got = append(got, v); return true })
		if !slices.Contains(got, c.want) {
			t.Errorf("readings of %q as %s: %q, want %q among them", c.text, c.name, got, c.want)
		}
	}
}
