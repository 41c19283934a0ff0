package flow_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// logoutFlow is the create endpoint's answer (Kratos's LogoutFlow).
type logoutFlow struct {
	LogoutURL   string `json:"logout_url"`
	LogoutToken string `json:"logout_token"`
}

func decodeFlow(t *testing.T, res *http.Response) logoutFlow {
	t.Helper()
	assertStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
	var f logoutFlow
	decodeStrict(t, res, &f)
	if f.LogoutToken == "" {
		t.Fatal("empty logout_token")
	}
	return f
}

// --- 1.1 create ---

func TestCreateLogoutURL_ValidSession_ReturnsURLAndToken(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get("http://example.com"+browserPath, cookie(cookieName, "s1")), nil)
	f := decodeFlow(t, res)
	assertNoCacheHeaders(t, res, true)
	assertNoSetCookie(t, res)

	want := "http://example.com" + logoutPath + "?token=" + url.QueryEscape(f.LogoutToken)
	if f.LogoutURL != want {
		t.Errorf("logout_url %q, want %q", f.LogoutURL, want)
	}
	if err := h.keys.VerifyLogoutToken(f.LogoutToken, session.IDOf("s1"), h.clock.Now()); err != nil {
		t.Errorf("logout_token is not bound to the session: %v", err)
	}
	h.assertNotRevoked("s1")
}

func TestCreateLogoutURL_TokenInURLEqualsLogoutToken(t *testing.T) {
	h := newHarness(t)
	f := decodeFlow(t, h.serve(get(browserPath+"?return_to=https://app.example.com/bye", cookie(cookieName, "s1")), nil))
	u, err := url.Parse(f.LogoutURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query()["token"]; len(got) != 1 || got[0] != f.LogoutToken {
		t.Errorf("token in logout_url %q, logout_token %q", got, f.LogoutToken)
	}
}

func TestCreateLogoutURL_ReturnTo_QueryKeysSortedAndValueCarried(t *testing.T) {
	h := newHarness(t)
	f := decodeFlow(t, h.serve(get(browserPath+"?return_to="+url.QueryEscape("https://app.example.com/bye?x=1"), cookie(cookieName, "s1")), nil))
	want := "http://example.com" + logoutPath + "?return_to=" + url.QueryEscape("https://app.example.com/bye?x=1") +
		"&token=" + url.QueryEscape(f.LogoutToken)
	if f.LogoutURL != want {
		t.Errorf("logout_url\n got %q\nwant %q", f.LogoutURL, want)
	}
	rt := strings.Index(f.LogoutURL, "return_to=")
	tok := strings.Index(f.LogoutURL, "token=")
	if rt < 0 || tok < 0 || rt > tok {
		t.Errorf("query keys not sorted (return_to before token): %q", f.LogoutURL)
	}
}

func TestCreateLogoutURL_RelativeReturnTo_CarriedOutAbsolute(t *testing.T) {
	h := newHarness(t)
	f := decodeFlow(t, h.serve(get(browserPath+"?return_to=/dashboard", cookie(cookieName, "s1")), nil))
	u := mustURL(t, f.LogoutURL)
	if got := u.Query().Get("return_to"); got != "https://app.example.com/dashboard" {
		t.Errorf("return_to in logout_url %q, want https://app.example.com/dashboard", got)
	}
}

func TestCreateLogoutURL_PublicBase(t *testing.T) {
	trusted := func(*http.Request) bool { return true }
	tests := []struct {
		name      string
		publicURL string
		trust     func(*http.Request) bool
		target    string
		headers   map[string]string
		wantBase  string
	}{
		{name: "request origin over http", target: "http://example.com" + browserPath,
			wantBase: "http://example.com"},
		{name: "request origin over https", target: "https://login.example.net:8443" + browserPath,
			wantBase: "https://login.example.net:8443"},
		{name: "public_url wins over the request", publicURL: "https://auth.example.com", target: "http://10.0.0.5:8080" + browserPath,
			wantBase: "https://auth.example.com"},
		{name: "public_url with a path prefix", publicURL: "https://example.com/auth/", target: "http://10.0.0.5" + browserPath,
			wantBase: "https://example.com/auth"},
		{name: "forwarded headers ignored from an untrusted peer", target: "http://10.0.0.5:8080" + browserPath,
			headers:  map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com"},
			wantBase: "http://10.0.0.5:8080"},
		{name: "forwarded headers believed from a trusted proxy", trust: trusted, target: "http://10.0.0.5:8080" + browserPath,
			headers:  map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com"},
			wantBase: "https://public.example.com"},
		{name: "invalid forwarded host ignored even when trusted", trust: trusted, target: "http://10.0.0.5" + browserPath,
			headers:  map[string]string{"X-Forwarded-Host": "evil.com/x@y"},
			wantBase: "http://10.0.0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) {
				if tt.publicURL != "" {
					c.PublicURL = mustURL(t, tt.publicURL)
				}
				c.TrustForwarded = tt.trust
			})
			r := get(tt.target, cookie(cookieName, "s1"))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			f := decodeFlow(t, h.serve(r, nil))
			want := tt.wantBase + logoutPath + "?token=" + url.QueryEscape(f.LogoutToken)
			if f.LogoutURL != want {
				t.Errorf("logout_url %q, want %q", f.LogoutURL, want)
			}
		})
	}
}

func TestCreateLogoutURL_DisallowedReturnTo_Forbidden400(t *testing.T) {
	for _, rt := range []string{"https://evil.com/", "https://app.example.com.evil.com/", "//evil.com", "javascript:alert(1)"} {
		t.Run(rt, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get(browserPath+"?"+url.Values{"return_to": {rt}}.Encode(), cookie(cookieName, "s1")), nil)
			assertError(t, res, http.StatusBadRequest, "self_service_flow_return_to_forbidden",
				`Requested return_to URL "`+rt+`" is not allowed.`)
			assertNoCacheHeaders(t, res, true)
		})
	}
}

func TestCreateLogoutURL_ReturnToTwice_BadRequest(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(browserPath+"?return_to=/a&return_to=/b", cookie(cookieName, "s1")), nil)
	jsonError(t, res, http.StatusBadRequest)
}

func TestCreateLogoutURL_NoSession_Unauthorized(t *testing.T) {
	tests := []struct {
		name string
		opts []reqOpt
	}{
		{"no cookie at all", nil},
		{"another cookie only", []reqOpt{cookie("theme", "dark")}},
		{"empty session cookie", []reqOpt{cookies("sid=")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get(browserPath, tt.opts...), nil)
			assertNoSessionError(t, res)
			assertNoCacheHeaders(t, res, true)
		})
	}
}

func TestCreateLogoutURL_RevokedCookie_UnauthorizedAndCleared(t *testing.T) {
	h := newHarness(t)
	h.revoke("s1")
	res := h.serve(get(browserPath, cookie(cookieName, "s1")), nil)
	assertNoSessionError(t, res)
	assertNoCacheHeaders(t, res, true)
	assertClears(t, res, cookieName)
}

func TestCreateLogoutURL_BrowserNavigation_ErrorIsHTMLPage(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(browserPath, accept("text/html,application/xhtml+xml")), nil)
	assertErrorPage(t, res, http.StatusUnauthorized, reasonNoSession)
}

// Only GET, as in Kratos: any other method is its router's 405 (HEAD
// too: a HEAD would sign a token nobody reads), OPTIONS its router's 200.
func TestCreateLogoutURL_OtherMethods_RoutersMethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, "TRACE"} {
		t.Run(m, func(t *testing.T) {
			h := newHarness(t)
			assertMethodNotAllowed(t, h.serve(newReq(m, browserPath, nil, cookie(cookieName, "s1")), nil), "GET, OPTIONS")
			h.assertNotRevoked("s1")
		})
	}
	h := newHarness(t)
	assertOptions(t, h.serve(newReq(http.MethodOptions, browserPath, nil, cookie(cookieName, "s1")), nil), "GET, OPTIONS")
}

// Kratos finds the session in X-Session-Token before the cookie, and in
// Authorization: Bearer after it; so does create, and the logout URL it
// hands out for a token works with that token.
func TestCreateLogoutURL_SessionToken_LikeKratos(t *testing.T) {
	tests := []struct {
		name  string
		opts  []reqOpt
		bound string // the credential the logout token is bound to
	}{
		{"X-Session-Token alone", []reqOpt{header("X-Session-Token", "tok-1")}, "tok-1"},
		{"X-Session-Token before the cookie", []reqOpt{header("X-Session-Token", "tok-1"), cookie(cookieName, "s1")}, "tok-1"},
		{"the first X-Session-Token", []reqOpt{header("X-Session-Token", "tok-1"), header("X-Session-Token", "tok-2")}, "tok-1"},
		{"Bearer alone", []reqOpt{header("Authorization", "Bearer tok-1")}, "tok-1"},
		{"the cookie before Bearer", []reqOpt{header("Authorization", "Bearer tok-1"), cookie(cookieName, "s1")}, "s1"},
		{"X-Session-Token before Bearer", []reqOpt{header("Authorization", "Bearer tok-2"), header("X-Session-Token", "tok-1")}, "tok-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			f := decodeFlow(t, h.serve(get(browserPath, append(tt.opts, asJSON)...), nil))
			// The token is bound to that credential and no other.
			res := h.serve(get(performTarget(f.LogoutToken, ""), append(tt.opts, asJSON)...), nil)
			assertStatus(t, res, http.StatusNoContent)
			h.assertRevoked(tt.bound)
		})
	}
}

func TestCreateLogoutURL_RevokedSessionToken_Unauthorized(t *testing.T) {
	h := newHarness(t)
	h.revoke("tok-1")
	res := h.serve(get(browserPath, header("X-Session-Token", "tok-1"), asJSON), nil)
	assertNoSessionError(t, res)
	assertNoSetCookie(t, res) // a token is no cookie to clear
}

func TestCreateLogoutURL_ConfiguredTokenHeader(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.TokenHeader = "X-Auth-Token" })
	decodeFlow(t, h.serve(get(browserPath, header("X-Auth-Token", "tok-1"), asJSON), nil))
	assertNoSessionError(t, h.serve(get(browserPath, header("X-Session-Token", "tok-1"), asJSON), nil))
}

// A client that logs out with its session token alone is no browser: its
// token is revoked, and no cookie is cleared (Kratos clears none either).
func TestPerformLogout_BySessionToken_RevokesItClearsNoCookie(t *testing.T) {
	for _, opt := range []reqOpt{header("X-Session-Token", "tok-1"), header("Authorization", "Bearer tok-1")} {
		h := newHarness(t, func(c *flow.Config) { c.ClearSiteData = []string{"cookies"} })
		f := decodeFlow(t, h.serve(get(browserPath, opt, asJSON), nil))
		r := get(performTarget(f.LogoutToken, ""), opt, asJSON)
		r.TLS = &tls.ConnectionState{}
		res := h.serve(r, nil)
		assertStatus(t, res, http.StatusNoContent)
		assertNoSetCookie(t, res)
		assertNoHeader(t, res, "Clear-Site-Data")
		h.assertRevoked("tok-1")
	}
}

// A token header with a logout token bound to the cookie is another
// session: the perform step refuses it, as Kratos does.
func TestPerformLogout_TokenHeaderWinsOverTheCookie(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), header("X-Session-Token", "tok-1"), asJSON), nil)
	assertError(t, res, http.StatusForbidden, "", reasonTokenMismatch)
	h.assertNotRevoked("s1")
	h.assertNotRevoked("tok-1")
}

// --- 1.2 perform ---

func TestPerformLogout_MissingToken_BadRequest(t *testing.T) {
	for _, target := range []string{logoutPath, logoutPath + "?token=", logoutPath + "?return_to=/x"} {
		t.Run(target, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get(target, cookie(cookieName, "s1"), asJSON), nil)
			assertError(t, res, http.StatusBadRequest, "", reasonMissingToken)
			assertNoCacheHeaders(t, res, true)
			h.assertNotRevoked("s1")
		})
	}
}

func TestPerformLogout_NoCookie_Unauthorized(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(performTarget(h.token("s1"), ""), asJSON), nil)
	assertNoSessionError(t, res)
	assertNoCacheHeaders(t, res, true)
	h.assertNotRevoked("s1")
}

func TestPerformLogout_RevokedCookie_UnauthorizedAndCookieCleared(t *testing.T) {
	h := newHarness(t)
	tok := h.token("s1")
	h.revoke("s1")
	res := h.serve(get(performTarget(tok, ""), cookie(cookieName, "s1"), asJSON), nil)
	assertNoSessionError(t, res)
	assertClears(t, res, cookieName)
}

func TestPerformLogout_SecondUseOfSameLink_Unauthorized(t *testing.T) {
	h := newHarness(t)
	target := performTarget(h.token("s1"), "")
	assertStatus(t, h.serve(get(target, cookie(cookieName, "s1"), asJSON), nil), http.StatusNoContent)
	assertNoSessionError(t, h.serve(get(target, cookie(cookieName, "s1"), asJSON), nil))
}

func TestPerformLogout_BadToken_ForbiddenAndNotRevoked(t *testing.T) {
	other, err := session.NewKeys([]byte("another key, also thirty-two bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		token func(h *harness) string
	}{
		{"token for another session", func(h *harness) string { return h.token("someone-else") }},
		{"token signed with another key", func(h *harness) string {
			return other.SignLogoutToken(session.IDOf("s1"), h.clock.Now(), time.Hour)
		}},
		{"expired token", func(h *harness) string {
			return h.keys.SignLogoutToken(session.IDOf("s1"), h.clock.Now().Add(-2*time.Hour), time.Hour)
		}},
		{"token exactly at its expiry", func(h *harness) string {
			return h.keys.SignLogoutToken(session.IDOf("s1"), h.clock.Now().Add(-time.Hour), time.Hour)
		}},
		{"error id passed as a token", func(h *harness) string {
			id := session.IDOf("s1")
			return h.keys.Seal(session.PurposeErrorID, []byte("x"), id[:])
		}},
		{"not base64", func(*harness) string { return "!!!not-base64!!!" }},
		{"truncated token", func(h *harness) string { t := h.token("s1"); return t[:len(t)-5] }},
		{"tampered token", func(h *harness) string {
			b := []byte(h.token("s1"))
			b[3] ^= 1
			return string(b)
		}},
		{"garbage", func(*harness) string { return "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get(performTarget(tt.token(h), ""), cookie(cookieName, "s1"), asJSON), nil)
			assertError(t, res, http.StatusForbidden, "", reasonTokenMismatch)
			assertNoSetCookie(t, res)
			h.assertNotRevoked("s1")
			h.assertNotRevoked("someone-else")
		})
	}
}

func TestPerformLogout_TokenForAnotherSession_Forbidden(t *testing.T) {
	h := newHarness(t)
	_, victimToken := h.logoutURL("victim", "")
	res := h.serve(get(performTarget(victimToken, ""), cookie(cookieName, "attacker"), asJSON), nil)
	assertError(t, res, http.StatusForbidden, "", reasonTokenMismatch)
	h.assertNotRevoked("victim")
	h.assertNotRevoked("attacker")
}

func TestPerformLogout_TokenExpiresAfterTTL(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.TokenTTL = time.Hour })
	_, tok := h.logoutURL("s1", "")
	h.clock.Advance(time.Hour)
	res := h.serve(get(performTarget(tok, ""), cookie(cookieName, "s1"), asJSON), nil)
	assertError(t, res, http.StatusForbidden, "", reasonTokenMismatch)
	h.assertNotRevoked("s1")
}

func TestPerformLogout_TokenStillValidJustBeforeTTL(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.TokenTTL = time.Hour })
	_, tok := h.logoutURL("s1", "")
	h.clock.Advance(time.Hour - time.Second)
	assertStatus(t, h.serve(get(performTarget(tok, ""), cookie(cookieName, "s1"), asJSON), nil), http.StatusNoContent)
	h.assertRevoked("s1")
}

func TestPerformLogout_JSONClient_NoContentRevokedCleared(t *testing.T) {
	h := newHarness(t)
	logoutURL, _ := h.logoutURL("s1", "")
	res := h.serve(get(logoutURL, cookie(cookieName, "s1"), asJSON), nil)
	assertStatus(t, res, http.StatusNoContent)
	if b := readBody(t, res); b != "" {
		t.Errorf("204 with body %q", b)
	}
	assertNoCacheHeaders(t, res, true)
	assertClears(t, res, cookieName)
	h.assertRevoked("s1")
}

func TestPerformLogout_Browser_SeeOther(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*flow.Config)
		target     string // "" : the plain perform URL
		returnTo   string
		wantLocate string
	}{
		{name: "no return_to goes to default_return_url", wantLocate: defaultReturn},
		{name: "allowed absolute return_to", returnTo: "https://app.example.com/bye?x=1", wantLocate: "https://app.example.com/bye?x=1"},
		{name: "allowed wildcard return_to", returnTo: "https://eu.example.org/app/home", wantLocate: "https://eu.example.org/app/home"},
		{name: "relative return_to resolves against default", returnTo: "/dashboard", wantLocate: "https://app.example.com/dashboard"},
		{name: "no default configured: the request's origin", mutate: func(c *flow.Config) { c.DefaultReturnURL = nil },
			target: "http://shop.example.net", wantLocate: "http://shop.example.net/"},
		{name: "no default configured over https", mutate: func(c *flow.Config) { c.DefaultReturnURL = nil },
			target: "https://shop.example.net", wantLocate: "https://shop.example.net/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*flow.Config)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			h := newHarness(t, mutate...)
			res := h.serve(get(tt.target+performTarget(h.token("s1"), tt.returnTo), cookie(cookieName, "s1"),
				accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")), nil)
			assertStatus(t, res, http.StatusSeeOther)
			assertHeader(t, res, "Location", tt.wantLocate)
			assertNoCacheHeaders(t, res, true)
			if len(setCookies(res)) == 0 {
				t.Error("no cookie cleared")
			}
			h.assertRevoked("s1")
		})
	}
}

func TestPerformLogout_NoAccept_IsBrowser303(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1")), nil)
	assertStatus(t, res, http.StatusSeeOther)
	assertHeader(t, res, "Location", defaultReturn)
}

func TestPerformLogout_DisallowedReturnTo_BadRequestAfterRevoke(t *testing.T) {
	for _, client := range []struct {
		name string
		opts []reqOpt
	}{{"json", []reqOpt{asJSON}}, {"browser", []reqOpt{accept("text/html")}}} {
		t.Run(client.name, func(t *testing.T) {
			h := newHarness(t)
			rt := "https://evil.com/phish"
			res := h.serve(get(performTarget(h.token("s1"), rt), append(client.opts, cookie(cookieName, "s1"))...), nil)
			reason := `Requested return_to URL "` + rt + `" is not allowed.`
			if client.name == "json" {
				assertError(t, res, http.StatusBadRequest, "self_service_flow_return_to_forbidden", reason)
			} else {
				assertErrorPage(t, res, http.StatusBadRequest, reason)
			}
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q: a disallowed return_to must never be redirected to", loc)
			}
			// SPEC 3: revoke and clear come before the return_to check.
			h.assertRevoked("s1")
			assertClears(t, res, cookieName)
		})
	}
}

func TestPerformLogout_ReturnToTwice_BadRequest(t *testing.T) {
	h := newHarness(t)
	target := logoutPath + "?return_to=/a&return_to=/b&token=" + url.QueryEscape(h.token("s1"))
	res := h.serve(get(target, cookie(cookieName, "s1"), asJSON), nil)
	jsonError(t, res, http.StatusBadRequest)
	if res.Header.Get("Location") != "" {
		t.Error("redirected despite a doubled return_to")
	}
}

func TestPerformLogout_TokenTwice_BadRequestNotRevoked(t *testing.T) {
	h := newHarness(t)
	tok := url.QueryEscape(h.token("s1"))
	res := h.serve(get(logoutPath+"?token="+tok+"&token="+tok, cookie(cookieName, "s1"), asJSON), nil)
	jsonError(t, res, http.StatusBadRequest)
	h.assertNotRevoked("s1")
}

func TestPerformLogout_HeadAndOtherMethods_NeverRevoke(t *testing.T) {
	for _, m := range []string{http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		t.Run(m, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(newReq(m, performTarget(h.token("s1"), ""), nil, cookie(cookieName, "s1"), asJSON), nil)
			if m == http.MethodOptions {
				assertOptions(t, res, "GET, OPTIONS")
			} else {
				assertMethodNotAllowed(t, res, "GET, OPTIONS")
			}
			h.assertNotRevoked("s1")
		})
	}
}

func TestPerformLogout_RevokesEveryConfiguredCookieOfTheBrowser(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Cookies = []string{"sid", "PHPSESSID", "connect.sid"} })
	r := get(performTarget(h.token("s1"), ""), cookies("theme=dark; sid=s1; PHPSESSID=php1; connect.sid=node1"), asJSON)
	assertStatus(t, h.serve(r, nil), http.StatusNoContent)
	for _, c := range []string{"s1", "php1", "node1"} {
		h.assertRevoked(c)
	}
	h.assertNotRevoked("dark")
}

func TestPerformLogout_ClearsEveryConfiguredCookieAndDomain(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) {
		c.Cookies = []string{"sid", "PHPSESSID"}
		c.Cookie.Domains = []string{"example.com", "app.example.com"}
	})
	res := h.serve(get(performTarget(h.token("s1"), ""), cookie("sid", "s1"), asJSON), nil)
	assertStatus(t, res, http.StatusNoContent)
	var want []string
	for _, n := range []string{"sid", "PHPSESSID"} {
		want = append(want,
			n+"=; Path=/"+deletionTail+"; SameSite=Lax",
			n+"=; Path=/; Domain=example.com"+deletionTail+"; SameSite=Lax",
			n+"=; Path=/; Domain=app.example.com"+deletionTail+"; SameSite=Lax")
	}
	assertSameSet(t, setCookies(res), want)
}

func TestPerformLogout_ChunkedCookie_BoundToJoinedValueAndChunksCleared(t *testing.T) {
	for _, sep := range []string{".", "_"} {
		t.Run("sid"+sep+"N", func(t *testing.T) {
			h := newHarness(t)
			// The client sends the chunks out of order; they join in index order.
			raw := "sid" + sep + "1=part2; theme=dark; sid" + sep + "0=part1"
			res := h.serve(get(performTarget(h.token("part1part2"), ""), cookies(raw), asJSON), nil)
			assertStatus(t, res, http.StatusNoContent)
			h.assertRevoked("part1part2")
			assertClears(t, res, "sid", "sid"+sep+"0", "sid"+sep+"1")
			for _, c := range setCookies(res) {
				if strings.HasPrefix(c, "theme=") {
					t.Errorf("cleared a cookie that is not a session cookie: %q", c)
				}
			}
		})
	}
}

func TestPerformLogout_ClearSiteData(t *testing.T) {
	tests := []struct {
		name   string
		types  []string
		https  bool
		header string // "" : absent
	}{
		{name: "not configured, https", https: true},
		{name: "configured, plain http", types: []string{"cookies", "storage"}},
		{name: "configured, https", types: []string{"cookies", "storage"}, https: true, header: `"cookies", "storage"`},
		{name: "cache only when configured", types: []string{"cache", "cookies"}, https: true, header: `"cache", "cookies"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) { c.ClearSiteData = tt.types })
			r := get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON)
			if tt.https {
				r.TLS = &tls.ConnectionState{}
			}
			res := h.serve(r, nil)
			assertStatus(t, res, http.StatusNoContent)
			if tt.header == "" {
				assertNoHeader(t, res, "Clear-Site-Data")
			} else {
				assertHeader(t, res, "Clear-Site-Data", tt.header)
			}
			if v := res.Header.Get("Clear-Site-Data"); strings.Contains(v, "cache") && !slices.Contains(tt.types, "cache") {
				t.Errorf("Clear-Site-Data %q has cache, which was not configured", v)
			}
		})
	}
}

func TestPerformLogout_ClearSiteData_NotOnFailure(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.ClearSiteData = []string{"cookies"} })
	r := get(performTarget(h.token("other"), ""), cookie(cookieName, "s1"), asJSON)
	r.TLS = &tls.ConnectionState{}
	res := h.serve(r, nil)
	jsonError(t, res, http.StatusForbidden)
	assertNoHeader(t, res, "Clear-Site-Data")
}

func TestPerformLogout_StoreDown_CookiesStillClearedAnd503(t *testing.T) {
	h := newHarness(t, withFailingStore(t))
	res := h.serve(get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON), nil)
	assertError(t, res, http.StatusServiceUnavailable, "", "")
	assertClears(t, res, cookieName)
}

func TestPerformLogout_CustomPrefix_MovesAllEndpoints(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Prefix = "/auth/logout" })
	f := decodeFlow(t, h.serve(get("http://example.com/auth/logout/browser", cookie(cookieName, "s1")), nil))
	if !strings.HasPrefix(f.LogoutURL, "http://example.com/auth/logout?token=") {
		t.Errorf("logout_url %q does not use the prefix", f.LogoutURL)
	}
	assertStatus(t, h.serve(get(f.LogoutURL, cookie(cookieName, "s1"), asJSON), nil), http.StatusNoContent)
	h.assertRevoked("s1")
	assertStatus(t, h.serve(newReq(http.MethodDelete, "/auth/logout/api", strings.NewReader(`{"session_token":"t1"}`),
		header("Content-Type", "application/json")), nil), http.StatusNoContent)
	h.assertRevoked("t1")

	// The default paths are now ordinary app paths.
	a := &app{}
	res := h.serve(get(browserPath, cookie(cookieName, "s2")), a)
	assertStatus(t, res, http.StatusOK)
	if !a.called() {
		t.Error("the default path did not reach the app")
	}
}

// assertSameSet compares two lists ignoring order.
func assertSameSet(t *testing.T, got, want []string) {
	t.Helper()
	g := map[string]int{}
	for _, v := range got {
		g[v]++
	}
	for _, v := range want {
		g[v]--
	}
	for v, n := range g {
		if n != 0 {
			t.Errorf("got\n  %q\nwant\n  %q\n(%q off by %d)", got, want, v, n)
			return
		}
	}
}

func TestPerformLogout_NoDefaultReturnURL_PublicURLIsTheDefault(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) {
		c.DefaultReturnURL = nil
		c.PublicURL = mustURL(t, "https://auth.example.com/")
	})
	res := h.serve(get("http://10.0.0.5"+performTarget(h.token("s1"), ""), cookie(cookieName, "s1")), nil)
	assertStatus(t, res, http.StatusSeeOther)
	assertHeader(t, res, "Location", "https://auth.example.com/")
}

func TestBrowserFlow_ConcurrentUse(t *testing.T) {
	// Many browsers at once on one Gateway (run with -race).
	h := newHarness(t)
	const n = 32
	errs := make(chan string, 4*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := "concurrent-" + strconv.Itoa(i)
			rec := httptest.NewRecorder()
			_ = h.gw.ServeHTTP(rec, get(browserPath, cookie(cookieName, sid)), &app{})
			var f logoutFlow
			if err := json.NewDecoder(rec.Body).Decode(&f); err != nil || rec.Code != http.StatusOK {
				errs <- sid + ": create failed"
				return
			}
			rec = httptest.NewRecorder()
			_ = h.gw.ServeHTTP(rec, get(f.LogoutURL, cookie(cookieName, sid), asJSON), &app{})
			if rec.Code != http.StatusNoContent {
				errs <- sid + ": perform " + strconv.Itoa(rec.Code)
			}
			rec = httptest.NewRecorder()
			a := &app{}
			_ = h.gw.ServeHTTP(rec, get("/page", cookie(cookieName, sid)), a)
			if a.seen == nil || a.seen.Header.Get("Cookie") != "" {
				errs <- sid + ": revoked cookie reached the app"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i := range n {
		h.assertRevoked("concurrent-" + strconv.Itoa(i))
	}
}

func TestLogoutURLForPage_SignedForTheSessionCookie(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.PublicURL = mustURL(t, "https://auth.example.com") })
	u, ok := h.gw.LogoutURL(get("/page", cookies("theme=dark; sid=s1")))
	if !ok {
		t.Fatal("no logout URL for a request with a session cookie")
	}
	parsed := mustURL(t, u)
	tok := parsed.Query().Get("token")
	if want := "https://auth.example.com" + logoutPath + "?token=" + url.QueryEscape(tok); u != want {
		t.Errorf("LogoutURL %q, want %q", u, want)
	}
	if err := h.keys.VerifyLogoutToken(tok, session.IDOf("s1"), h.clock.Now()); err != nil {
		t.Errorf("token not bound to the session: %v", err)
	}
	// And it works.
	assertStatus(t, h.serve(get(u, cookie(cookieName, "s1"), asJSON), nil), http.StatusNoContent)
	h.assertRevoked("s1")
}

func TestLogoutURLForPage_NoOrOverlongCookie_False(t *testing.T) {
	h := newHarness(t)
	for _, r := range []*http.Request{
		get("/page"),
		get("/page", cookies("theme=dark")),
		get("/page", header("X-Session-Token", "t")),
		get("/page", cookie(cookieName, strings.Repeat("A", flow.MaxCredentialLength+1))),
	} {
		if u, ok := h.gw.LogoutURL(r); ok || u != "" {
			t.Errorf("LogoutURL(%q) = %q, %v; want none", r.Header, u, ok)
		}
	}
}

// TestCreateLogout_SessionCheckedBeforeReturnTo: Kratos answers 401 for a
// missing session before it looks at return_to.
func TestCreateLogout_SessionCheckedBeforeReturnTo(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(browserPath+"?return_to=https://evil.com/", asJSON), nil)
	assertNoSessionError(t, res)
}

// TestReturnTo_EmptyThenValue_IsGivenTwice: an empty first value does not
// hide a second one.
func TestReturnTo_EmptyThenValue_IsGivenTwice(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(browserPath+"?return_to=&return_to=https://evil.com/", asJSON, cookie(cookieName, "s1")), nil)
	jsonError(t, res, http.StatusBadRequest)
}
