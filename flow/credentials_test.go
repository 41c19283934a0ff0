package flow_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// assertCreateBindsTo asks the create endpoint for a token and checks that
// it is bound to the session whose credential is want.
func assertCreateBindsTo(t *testing.T, h *harness, r *http.Request, want string) {
	t.Helper()
	f := decodeFlow(t, h.serve(r, nil))
	if err := h.keys.VerifyLogoutToken(f.LogoutToken, session.CookieID(want), h.clock.Now()); err != nil {
		t.Errorf("logout token is not bound to the session %q", want)
	}
}

func TestCredentials_SessionCookieLookup(t *testing.T) {
	tests := []struct {
		name    string
		cookies []string // configured names
		raw     string   // Cookie header
		want    string   // the credential the token binds to
	}{
		{name: "single cookie", raw: "sid=abc", want: "abc"},
		{name: "among others", raw: "a=1; sid=abc; b=2", want: "abc"},
		{name: "quoted value", raw: `sid="abc"`, want: "abc"},
		{name: "first of duplicates", raw: "sid=first; sid=second", want: "first"},
		{name: "empty occurrence skipped", raw: "sid=; sid=abc", want: "abc"},
		{name: "configured order, not request order", cookies: []string{"sid", "PHPSESSID"},
			raw: "PHPSESSID=php; sid=abc", want: "abc"},
		{name: "second configured name when the first is absent", cookies: []string{"sid", "PHPSESSID"},
			raw: "PHPSESSID=php", want: "php"},
		{name: "chunks joined in index order", raw: "sid.2=c; sid.10=z; sid.0=a; sid.1=b", want: "abcz"},
		{name: "underscore chunks", raw: "sid_1=b; sid_0=a", want: "ab"},
		{name: "whole cookie before chunks", raw: "sid.0=a; sid=whole", want: "whole"},
		{name: "not chunks: index over 99, negative or not a number", raw: "sid.100=x; sid.a=y; sid-0=z; sid.-1=w; sid.0=abc", want: "abc"},
		{name: "dotted configured name", cookies: []string{"connect.sid"}, raw: "connect.sid=s%3Anode", want: "s:node"},
		{name: "name in another case (ASP.NET reads it)", raw: "SID=abc", want: "abc"},
		{name: "name as PHP mangles it", cookies: []string{"my.sess"}, raw: "my_sess=abc", want: "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) {
				if tt.cookies != nil {
					c.Cookies = tt.cookies
				}
			})
			assertCreateBindsTo(t, h, get(browserPath, cookies(tt.raw)), tt.want)
		})
	}
}

func TestCredentials_NotASessionCookie_Unauthorized(t *testing.T) {
	for _, raw := range []string{"sid2=abc", "xsid=abc", "sid.x=abc", "sid.100=abc", "sid.-1=abc", "sid-0=abc", "sid", "=abc", "sid=",
		// Outside RFC 6265 frameworks disagree on what these are, so the
		// guard never lets them reach the app and no logout binds to them.
		"a=1,sid=abc", "a=1 sid=abc", `sid="a\bc"`, "sid=abc\xa0"} {
		t.Run(raw, func(t *testing.T) {
			h := newHarness(t)
			assertNoSessionError(t, h.serve(get(browserPath, cookies(raw)), nil))
		})
	}
}

func TestCredentials_TokenHeaderAndBearerRecognised(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*flow.Config)
		header     string
		value      string
		recognised bool
	}{
		{name: "X-Session-Token", header: "X-Session-Token", value: "dead", recognised: true},
		{name: "lowercase header name", header: "x-session-token", value: "dead", recognised: true},
		{name: "Bearer", header: "Authorization", value: "Bearer dead", recognised: true},
		{name: "BEARER", header: "Authorization", value: "BEARER dead", recognised: true},
		{name: "Bearer with padding", header: "Authorization", value: "Bearer   dead  ", recognised: true},
		{name: "Bearer without token", header: "Authorization", value: "Bearer ", recognised: false},
		{name: "Bearer glued", header: "Authorization", value: "Bearerdead", recognised: false},
		{name: "other scheme", header: "Authorization", value: "Token dead", recognised: false},
		{name: "configured header", header: "X-Api-Session", value: "dead", recognised: true,
			mutate: func(c *flow.Config) { c.TokenHeader = "X-Api-Session" }},
		{name: "default header not read when another is configured", header: "X-Session-Token", value: "dead", recognised: false,
			mutate: func(c *flow.Config) { c.TokenHeader = "X-Api-Session" }},
		{name: "bearer read whatever header is configured", header: "Authorization", value: "Bearer dead", recognised: true,
			mutate: func(c *flow.Config) { c.TokenHeader = "X-Api-Session" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*flow.Config)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			h := newHarness(t, mutate...)
			h.revoke("dead")
			a := &app{}
			r := get("/", header(tt.header, tt.value))
			assertStatus(t, h.serve(r, a), http.StatusOK)
			stripped := a.request(t).Header.Get(tt.header) == ""
			if stripped != tt.recognised {
				t.Errorf("%s: %q: stripped %v, want %v", tt.header, tt.value, stripped, tt.recognised)
			}
		})
	}
}

func TestCredentials_APIRevocationMatchesGuardLookup(t *testing.T) {
	// One identity for a token wherever it is presented.
	h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
	assertStatus(t, h.serve(apiLogout(`{"session_token":"shared"}`), nil), http.StatusNoContent)
	for _, opt := range []reqOpt{
		header("X-Session-Token", "shared"),
		header("Authorization", "Bearer shared"),
		cookie(cookieName, "shared"),
		cookie(cookieName, url.PathEscape("shared")),
		cookies("sid.0=sha; sid.1=red"),
	} {
		assertNoSessionError(t, h.serve(get("/", opt, asJSON), &app{}))
	}
}

func TestCredentials_CookieHeaderSyntaxOddities_NoPanic(t *testing.T) {
	for _, raw := range []string{";;;", "sid", "=", "sid==abc", " sid = abc ", strings.Repeat("a=b;", 2000),
		"sid=\"", `sid=""`, "sid=a\x00b", "sid=\xff\xfe"} {
		t.Run(raw[:min(len(raw), 20)], func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get("/", cookies(raw)), &app{})
			if res.StatusCode >= 500 {
				t.Errorf("status %d", res.StatusCode)
			}
		})
	}
}
