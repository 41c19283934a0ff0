package session_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

func TestCookieID_SpellingsAppsReadAlikeAreOneSession(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"abc", "%61bc"},
		{"abc", "%61%62%63"},
		{"s:node.sig", "s%3Anode.sig"}, // Express's connect.sid
		{"s:node.sig", "s%3anode.sig"}, // either hex case
		{"a b", "a+b"},                 // form decoding reads + as a space
		{"a b", "a%20b"},
		{"s:a+b", "s%3Aa%2Bb"}, // Express keeps +: its %2B spelling is the same session
		{"a%2Bb", "a+b"},
		{"%zz", "%zz"}, // invalid escapes stay as they are
		{"100%", "100%"},
		{strings.Repeat("%41", 400), strings.Repeat("A", 400)}, // longer than the stack buffer
		// An app that decodes reads the once-encoded value; one that does
		// not reads it as sent; a client may add layers: all one session.
		{"a%41", "aA"},
		{"a%2541", "aA"},
		{"a%252541", "aA"},
		{"ab%41%zz", "ab%2541%25zz"}, // Express decodes all or nothing, PHP each valid escape
		// Quotes: Express strips them, PHP keeps them, and %22 is a quote.
		{`"abc"`, "abc"},
		{"%22abc%22", "abc"},
		{`"%61bc"`, "abc"},
		{`j:%22a%41%22`, `j:"aA"`}, // JSON cookies are one more reading: EachJSONReading
	} {
		if session.CookieID(c.a) != session.CookieID(c.b) {
			t.Errorf("CookieID(%q) != CookieID(%q)", c.a, c.b)
		}
	}
	if session.CookieID("abc") != session.IDOf("abc") {
		t.Error("a plain cookie's ID differs from the ID of the same token")
	}
	for _, c := range []struct{ a, b string }{
		{"abc", "ABC"},
		{"abc", "%61bd"},
		{"abc", `"abc`}, // a quote that wraps nothing is kept
		{"abc", "ab c"},
	} {
		if session.CookieID(c.a) == session.CookieID(c.b) {
			t.Errorf("CookieID(%q) == CookieID(%q)", c.a, c.b)
		}
	}
}

// TestEachJSONReading: Express's cookie-parser reads a value that starts
// with "j:" (once its parser has unquoted and decoded it) as JSON.
func TestEachJSONReading(t *testing.T) {
	for _, c := range []struct {
		value string
		want  []string
	}{
		{`j:"abc"`, []string{"abc"}},
		{`j:"\u0061bc"`, []string{"abc"}},
		{`j: "abc" `, []string{"abc"}},
		{"j:%22abc%22", []string{"abc"}},
		{"%6A%3A%22abc%22", []string{"abc"}},
		{`"j:%22abc%22"`, []string{"abc"}},
		{`"j:\"abc\""`, nil},                 // to cookie-parser, j:\"abc\" is no JSON
		{`j:"a%41"`, []string{"a%41", "aA"}}, // before and after decoding: one of them is Express's
		{"j:1e2", []string{"100"}},           // a number, as JavaScript prints it
		{`j:{"b":1, "a":2}`, []string{`{"a":2,"b":1}`}},
		{"j:abc", nil}, // not JSON: cookie-parser leaves it
		{`j:"abc`, nil},
		{"abc", nil},
		{"s%3Aabc.sig", nil},
	} {
		var got []string
		session.EachJSONReading(c.value, func(r string) bool { got = append(got, r); return true })
		if !slices.Equal(got, c.want) {
			t.Errorf("EachJSONReading(%q) = %q, want %q", c.value, got, c.want)
		}
	}
}

func TestCookieID_DeepLayersEndAfterEightRounds(t *testing.T) {
	// Each round peels one layer of encoding; a value wrapped deeper than
	// any app reads is hashed as it stands after eight, in bounded time.
	v := "a"
	for range 12 {
		v = strings.ReplaceAll(strings.ReplaceAll(v, "%", "%25"), "a", "%61")
	}
	long := strings.Repeat(v, 16<<10/len(v))
	_ = session.CookieID(long)
	if session.CookieID(v) == session.CookieID("a") {
		t.Error("twelve layers decoded in full: the round limit does not hold")
	}
}

func TestCookieID_DoesNotAllocate(t *testing.T) {
	for _, v := range []string{"plain-session-id", "s%3Aabcdef.signature+more", `"quoted"`} {
		if n := testing.AllocsPerRun(100, func() {
			session.CookieID(v)
			session.EachJSONReading(v, func(string) bool { return true })
		}); n != 0 {
			t.Errorf("CookieID(%q) allocates %v times", v, n)
		}
	}
}
