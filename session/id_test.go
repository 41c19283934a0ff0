package session_test

import (
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

func TestCookieID_SpellingsAppsDecodeAlikeAreOneSession(t *testing.T) {
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
		{"%2561", "a"}, // decoded once, as apps do
		{"abc", "%61bd"},
	} {
		if session.CookieID(c.a) == session.CookieID(c.b) {
			t.Errorf("CookieID(%q) == CookieID(%q)", c.a, c.b)
		}
	}
}

func TestCookieID_DoesNotAllocate(t *testing.T) {
	for _, v := range []string{"plain-session-id", "s%3Aabcdef.signature+more"} {
		if n := testing.AllocsPerRun(100, func() { session.CookieID(v) }); n != 0 {
			t.Errorf("CookieID(%q) allocates %v times", v, n)
		}
	}
}
