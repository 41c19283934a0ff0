package session_test

import (
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
		// Express's JSON cookies: j: and a JSON value.
		{`j:"abc"`, "abc"},
		{`j:"\u0061bc"`, "abc"},
		{`j: "abc" `, "abc"},
		{"j:%22abc%22", "abc"},
		{`j:"a%41"`, "aA"},
		{"j:1e2", "100"}, // a number, as JavaScript prints it
		{`j:{"b":1, "a":2}`, `{"a":2,"b":1}`},
		{`j:"j:\"abc\""`, "abc"},
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
		{"abc", `j:"abc`},
		{`j:abc`, "abc"}, // not JSON: cookie-parser leaves it
		{"abc", "ab c"},
	} {
		if session.CookieID(c.a) == session.CookieID(c.b) {
			t.Errorf("CookieID(%q) == CookieID(%q)", c.a, c.b)
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
		if n := testing.AllocsPerRun(100, func() { session.CookieID(v) }); n != 0 {
			t.Errorf("CookieID(%q) allocates %v times", v, n)
		}
	}
}
