package session_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

// FuzzCookieID checks CookieID against what apps do with a cookie value
// (decode %XX once, leave invalid escapes alone; '+' and space are one
// character, since decoders differ on '+'):
//   - any spelling of a value y, with its '%' and '+' escaped and any other
//     bytes escaped or not (either hex case, a space as '+' or "%20"), has
//     the ID of y itself (with '+' as a space): no re-spelling of a revoked
//     cookie is a new session;
//   - a value with nothing to decode has the plain IDOf;
//   - where net/url's QueryUnescape (an independent decoder) accepts the
//     value, CookieID is the ID of its result;
//   - a value containing '%' or '+' escaped once more is a different
//     session: decoding happens once, as in apps.
func FuzzCookieID(f *testing.F) {
	for _, s := range []string{
		"", "abc", "s:node.sig", "s%3Anode.sig", "a b", "a+b", "%zz", "100%", "%", "%4", "%%41",
		"%2561", "\x00\xff", "caf\u00e9", strings.Repeat("%41", 300), strings.Repeat("x", 600),
	} {
		f.Add(s, []byte{0x55, 0xaa}, false)
	}
	f.Fuzz(func(t *testing.T, y string, mask []byte, upper bool) {
		want := session.IDOf(strings.ReplaceAll(y, "+", " "))
		enc := spell(y, mask, upper)
		if got := session.CookieID(enc); got != want {
			t.Fatalf("CookieID(%q) = %s, want the ID of %q (%s)", enc, got.Short(), y, want.Short())
		}
		if !strings.ContainsAny(y, "%+") && session.CookieID(y) != want {
			t.Fatalf("CookieID(%q) differs from IDOf with nothing to decode", y)
		}
		if dec, err := url.QueryUnescape(y); err == nil && session.CookieID(y) != session.IDOf(strings.ReplaceAll(dec, "+", " ")) {
			t.Fatalf("CookieID(%q) is not the ID of %q", y, dec)
		}
		if strings.ContainsAny(y, "%+") {
			twice := spell(enc, nil, upper) // escapes every '%' and '+' of enc
			if session.CookieID(twice) == session.CookieID(enc) {
				t.Fatalf("CookieID(%q) == CookieID(%q): decoded more than once", twice, enc)
			}
		}
	})
}

// spell writes y the way a client may: '%' and '+' always escaped, a byte
// whose mask bit is set escaped too (a space then as '+' or "%20"
// alternately), every other byte as it is.
func spell(y string, mask []byte, upper bool) string {
	hex := "0123456789abcdef"
	if upper {
		hex = "0123456789ABCDEF"
	}
	var b strings.Builder
	spaces := 0
	for i := 0; i < len(y); i++ {
		c := y[i]
		bit := len(mask) > 0 && mask[i/8%len(mask)]&(1<<(i%8)) != 0
		switch {
		case c == ' ' && bit:
			if spaces++; spaces%2 == 1 {
				b.WriteByte('+')
			} else {
				b.WriteString("%20")
			}
		case c == '%' || c == '+' || bit:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
