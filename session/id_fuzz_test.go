package session_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

// FuzzCookieID checks CookieID against what apps do with a cookie value,
// with decoders written independently of it (net/url, encoding/json):
//   - the value as sent and each app's reading of it are one session: PHP's
//     and Rack's decoding (every valid %XX, '+' as a space; net/url's
//     QueryUnescape where it accepts the value) and Express's (all escapes
//     or none, after stripping quotes; net/url's PathUnescape);
//   - cookie-parser's reading of a JSON cookie ("j:" and JSON) is the
//     session of one of the value's readings (CookieID, EachJSONReading);
//   - any spelling of a value y, with its '%' and '+' escaped and any other
//     bytes escaped or not (either hex case, a space as '+' or "%20"), has
//     the ID of y itself: no re-spelling of a revoked cookie is a new
//     session;
//   - a value with nothing to decode has the plain IDOf.
//
// Values wrapped in nearly as many layers as CookieID decodes at most are
// left out: no app's cookie comes that deep, and
// TestCookieID_DeepLayersEndAfterEightRounds holds them to their bound.
func FuzzCookieID(f *testing.F) {
	for _, s := range []string{
		"", "abc", "s:node.sig", "s%3Anode.sig", "a b", "a+b", "%zz", "100%", "%", "%4", "%%41",
		"%2561", "\x00\xff", "caf\u00e9", strings.Repeat("%41", 300), strings.Repeat("x", 600),
		`"abc"`, `"%22a%22"`, `j:"abc"`, "j:%22a%2541%22", `j:+"a"`, "j:1e2", `j:{"a":[1,"b"]}`, `%22j:\"x\"%22`, `j:"%25%30%30"`, `j:"%00"`,
	} {
		f.Add(s, []byte{0x55, 0xaa}, false)
	}
	f.Fuzz(func(t *testing.T, y string, mask []byte, upper bool) {
		if session.CookieRounds(y) >= session.MaxCookieRounds-1 {
			return
		}
		id := session.CookieID(y)
		readings := map[string]string{}
		if dec, err := url.QueryUnescape(y); err == nil {
			readings["PHP/Rack"] = dec
		}
		express := y
		if len(express) >= 2 && express[0] == '"' && express[len(express)-1] == '"' {
			express = express[1 : len(express)-1]
		}
		if dec, err := url.PathUnescape(express); err == nil {
			express = dec
		}
		readings["Express"] = express
		for app, r := range readings {
			if session.CookieID(r) != id {
				t.Fatalf("CookieID(%q) != CookieID(%q), %s's reading of it", y, r, app)
			}
		}
		if rest, ok := strings.CutPrefix(express, "j:"); ok {
			var v any
			if s, isString := v.(string); json.Unmarshal([]byte(rest), &v) == nil && isString {
				ids := []session.ID{id}
				session.EachJSONReading(y, func(r string) bool { ids = append(ids, session.CookieID(r)); return true })
				if !slices.Contains(ids, session.CookieID(s)) {
					t.Fatalf("cookie-parser reads %q as %q, which is none of its sessions", y, s)
				}
			}
		}
		if enc := spell(y, mask, upper); session.CookieID(enc) != id {
			t.Fatalf("CookieID(%q) != CookieID(%q), a spelling of it", enc, y)
		}
		if !strings.ContainsAny(y, `%+"`) && id != session.IDOf(y) {
			t.Fatalf("CookieID(%q) differs from IDOf with nothing to decode", y)
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
