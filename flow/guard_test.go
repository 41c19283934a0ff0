package flow_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/flow"
)

// assertSeenUntouched checks that the app got the request exactly as the
// client sent it.
func assertSeenUntouched(t *testing.T, a *app, sent *http.Request) {
	t.Helper()
	seen := a.request(t)
	if !maps.EqualFunc(seen.Header, sent.Header, slices.Equal[[]string]) {
		t.Errorf("the app saw headers\n  %q\nthe client sent\n  %q", seen.Header, sent.Header)
	}
	if seen.Method != sent.Method || seen.URL.String() != sent.URL.String() {
		t.Errorf("the app saw %s %s, the client sent %s %s", seen.Method, seen.URL, sent.Method, sent.URL)
	}
}

func TestGuard_PassesUntouched(t *testing.T) {
	tests := []struct {
		name string
		opts []reqOpt
	}{
		{"no credential", nil},
		{"unrelated cookies", []reqOpt{cookies("theme=dark; lang=en")}},
		{"valid cookie", []reqOpt{cookies("theme=dark; sid=valid; lang=en")}},
		{"valid token header", []reqOpt{header("X-Session-Token", "valid-token")}},
		{"valid bearer", []reqOpt{header("Authorization", "Bearer valid-token")}},
		{"basic auth is no credential", []reqOpt{header("Authorization", "Basic dXNlcjpwYXNz")}},
		{"everything valid at once", []reqOpt{cookie(cookieName, "valid"), header("X-Session-Token", "valid-token"),
			header("Authorization", "bearer valid-bearer")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.revoke("some-other-session")
			r := get("/account?x=1", tt.opts...)
			sent := r.Clone(r.Context())
			a := &app{}
			res := h.serve(r, a)
			assertStatus(t, res, http.StatusOK)
			if b := readBody(t, res); b != "app" {
				t.Errorf("body %q, want the app's", b)
			}
			assertSeenUntouched(t, a, sent)
			assertNoSetCookie(t, res)
			assertNoHeader(t, res, "Cache-Control")
		})
	}
}

func TestGuard_NextErrorIsReturned(t *testing.T) {
	h := newHarness(t)
	a := &app{err: errStoreDown}
	_, err := h.serveErr(get("/x", cookie(cookieName, "valid")), a)
	if err != errStoreDown {
		t.Errorf("ServeHTTP returned %v, want the app's error", err)
	}
}

func TestGuard_Strip_RevokedCookieRemovedOthersKeptByteForByte(t *testing.T) {
	tests := []struct {
		name       string
		cookie     string
		wantCookie string // "" : no Cookie header at all
	}{
		{"only the session cookie", "sid=dead", ""},
		{"among others", `theme=dark;  lang="en-GB"; sid=dead; cart=a%20b=c`, `theme=dark; lang="en-GB"; cart=a%20b=c`},
		{"first", "sid=dead; a=1", "a=1"},
		{"last", "a=1; sid=dead", "a=1"},
		{"duplicates: valid then revoked", "sid=valid; x=1; sid=dead", "x=1"},
		{"duplicates: revoked then valid", "sid=dead; sid=valid; x=1", "x=1"},
		{"quoted value", `sid="dead"; x=1`, "x=1"},
		{"similar names kept", "sid=dead; sid2=x; xsid=y; sid.txt=z", "sid2=x; xsid=y; sid.txt=z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.revoke("dead")
			r := get("/account", cookies(tt.cookie))
			a := &app{}
			res := h.serve(r, a)
			assertStatus(t, res, http.StatusOK)
			seen := a.request(t)
			if got := seen.Header.Values("Cookie"); tt.wantCookie == "" && len(got) != 0 ||
				tt.wantCookie != "" && (len(got) != 1 || got[0] != tt.wantCookie) {
				t.Errorf("the app saw Cookie %q, want %q", got, tt.wantCookie)
			}
			if _, err := seen.Cookie(cookieName); err == nil {
				t.Error("the app still sees the session cookie")
			}
			assertHeader(t, res, "Set-Cookie", deletion(cookieName))
			h.assertNotRevoked("valid")
		})
	}
}

func TestGuard_Strip_SeveralCookieHeaderLines(t *testing.T) {
	h := newHarness(t)
	h.revoke("dead")
	r := get("/", cookies("a=1; sid=dead"), cookies("b=2"))
	a := &app{}
	assertStatus(t, h.serve(r, a), http.StatusOK)
	seen := a.request(t)
	if _, err := seen.Cookie(cookieName); err == nil {
		t.Error("the app still sees the session cookie")
	}
	for _, n := range []string{"a", "b"} {
		if _, err := seen.Cookie(n); err != nil {
			t.Errorf("cookie %s lost: %v", n, err)
		}
	}
}

func TestGuard_Strip_OnlyTheRevokedOfSeveralConfiguredCookies(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Cookies = []string{"sid", "PHPSESSID"} })
	h.revoke("dead")
	a := &app{}
	res := h.serve(get("/", cookies("PHPSESSID=alive; sid=dead; theme=dark")), a)
	assertStatus(t, res, http.StatusOK)
	if got := a.request(t).Header.Get("Cookie"); got != "PHPSESSID=alive; theme=dark" {
		t.Errorf("the app saw Cookie %q", got)
	}
	assertHeader(t, res, "Set-Cookie", deletion("sid"))
}

func TestGuard_Strip_EveryRevokedCredentialRemoved(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Cookies = []string{"sid", "PHPSESSID"} })
	h.revoke("dead1")
	h.revoke("dead2")
	h.revoke("dead3")
	a := &app{}
	r := get("/", cookies("sid=dead1; PHPSESSID=dead2; keep=1"), header("X-Session-Token", "dead3"),
		header("Authorization", "Bearer alive"))
	res := h.serve(r, a)
	assertStatus(t, res, http.StatusOK)
	seen := a.request(t)
	if got := seen.Header.Get("Cookie"); got != "keep=1" {
		t.Errorf("the app saw Cookie %q, want keep=1", got)
	}
	if got := seen.Header.Get("X-Session-Token"); got != "" {
		t.Errorf("the app saw X-Session-Token %q", got)
	}
	if got := seen.Header.Get("Authorization"); got != "Bearer alive" {
		t.Errorf("the app saw Authorization %q, want the valid bearer kept", got)
	}
	assertSameSet(t, setCookies(res), []string{deletion("sid"), deletion("PHPSESSID")})
}

func TestGuard_Strip_RevokedTokenHeaderRemoved(t *testing.T) {
	tests := []struct {
		name, header, value string
		mutate              func(*flow.Config)
	}{
		{name: "X-Session-Token", header: "X-Session-Token", value: "dead"},
		{name: "Bearer", header: "Authorization", value: "Bearer dead"},
		{name: "bearer lowercase", header: "Authorization", value: "bearer dead"},
		{name: "configured header", header: "X-Auth", value: "dead",
			mutate: func(c *flow.Config) { c.TokenHeader = "x-auth" }},
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
			res := h.serve(get("/", header(tt.header, tt.value), cookies("theme=dark"), header("X-Other", "1")), a)
			assertStatus(t, res, http.StatusOK)
			seen := a.request(t)
			if v := seen.Header.Values(tt.header); len(v) != 0 {
				t.Errorf("the app saw %s %q", tt.header, v)
			}
			if seen.Header.Get("Cookie") != "theme=dark" || seen.Header.Get("X-Other") != "1" {
				t.Errorf("other headers changed: %q", seen.Header)
			}
			assertNoSetCookie(t, res) // nothing to clear: no cookie was revoked
		})
	}
}

func TestGuard_Strip_RevokedChunkedCookie(t *testing.T) {
	h := newHarness(t)
	h.revoke("part1part2")
	a := &app{}
	res := h.serve(get("/", cookies("sid.0=part1; theme=dark; sid.1=part2")), a)
	assertStatus(t, res, http.StatusOK)
	if got := a.request(t).Header.Get("Cookie"); got != "theme=dark" {
		t.Errorf("the app saw Cookie %q, want theme=dark", got)
	}
	assertClears(t, res, "sid", "sid.0", "sid.1")
}

func TestGuard_Deny(t *testing.T) {
	tests := []struct {
		name     string
		opts     []reqOpt
		errorURL string
		check    func(t *testing.T, res *http.Response)
	}{
		{name: "json client gets the envelope", opts: []reqOpt{asJSON}, check: func(t *testing.T, res *http.Response) {
			assertNoSessionError(t, res)
		}},
		{name: "browser gets a page", opts: []reqOpt{accept("text/html")}, check: func(t *testing.T, res *http.Response) {
			assertErrorPage(t, res, http.StatusUnauthorized, reasonNoSession)
		}},
		// SPEC 1.7: deny is a 401 for the page asked for, even with an error UI.
		{name: "browser gets the page even with an error UI", errorURL: "https://ui.example.com/error", check: func(t *testing.T, res *http.Response) {
			assertErrorPage(t, res, http.StatusUnauthorized, reasonNoSession)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) {
				c.OnRevoked = flow.Deny
				if tt.errorURL != "" {
					c.ErrorURL = mustURL(t, tt.errorURL)
				}
			})
			h.revoke("dead")
			a := &app{}
			res := h.serve(get("/account", append(tt.opts, cookie(cookieName, "dead"))...), a)
			tt.check(t, res)
			if a.called() {
				t.Error("the app was called for a revoked session")
			}
			assertClears(t, res, cookieName)
		})
	}
}

func TestGuard_Deny_RevokedTokenHeader(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
	h.revoke("dead")
	a := &app{}
	res := h.serve(get("/api", header("Authorization", "Bearer dead"), asJSON), a)
	assertNoSessionError(t, res)
	assertNoSetCookie(t, res)
	if a.called() {
		t.Error("the app was called")
	}
}

func TestGuard_Redirect(t *testing.T) {
	const login = "https://app.example.com/login?expired=1"
	newH := func(t *testing.T) *harness {
		h := newHarness(t, func(c *flow.Config) { c.OnRevoked, c.OnRevokedRedirect = flow.Redirect, login })
		h.revoke("dead")
		return h
	}
	t.Run("browser", func(t *testing.T) {
		h := newH(t)
		a := &app{}
		res := h.serve(get("/account", cookie(cookieName, "dead"), accept("text/html")), a)
		assertStatus(t, res, http.StatusSeeOther)
		assertHeader(t, res, "Location", login)
		assertClears(t, res, cookieName)
		assertNoCacheHeaders(t, res, false)
		if a.called() {
			t.Error("the app was called")
		}
	})
	t.Run("json client gets 401", func(t *testing.T) {
		h := newH(t)
		a := &app{}
		res := h.serve(get("/account", cookie(cookieName, "dead"), asJSON), a)
		assertNoSessionError(t, res)
		assertClears(t, res, cookieName)
		if a.called() {
			t.Error("the app was called")
		}
	})
	t.Run("valid session passes", func(t *testing.T) {
		h := newH(t)
		a := &app{}
		assertStatus(t, h.serve(get("/account", cookie(cookieName, "alive"), accept("text/html")), a), http.StatusOK)
		if !a.called() {
			t.Error("the app was not called")
		}
	})
}

func TestGuard_StoreError(t *testing.T) {
	t.Run("allow by default: the app is called untouched", func(t *testing.T) {
		h := newHarness(t, withFailingStore(t))
		a := &app{}
		r := get("/account", cookie(cookieName, "unknown"), header("X-Session-Token", "t"))
		sent := r.Clone(r.Context())
		res := h.serve(r, a)
		assertStatus(t, res, http.StatusOK)
		assertSeenUntouched(t, a, sent)
	})
	t.Run("deny answers 503 with Retry-After", func(t *testing.T) {
		h := newHarness(t, withFailingStore(t), func(c *flow.Config) { c.DenyOnStoreError = true })
		a := &app{}
		res := h.serve(get("/account", cookie(cookieName, "unknown"), asJSON), a)
		assertError(t, res, http.StatusServiceUnavailable, "", "")
		if ra := res.Header.Get("Retry-After"); ra == "" {
			t.Error("no Retry-After")
		}
		if a.called() {
			t.Error("the app was called")
		}
	})
	t.Run("deny does not touch requests without credentials", func(t *testing.T) {
		h := newHarness(t, withFailingStore(t), func(c *flow.Config) { c.DenyOnStoreError = true })
		a := &app{}
		assertStatus(t, h.serve(get("/public", cookies("theme=dark")), a), http.StatusOK)
	})
}

func TestGuard_OverlongCredential_BadRequest(t *testing.T) {
	long := strings.Repeat("A", flow.MaxCredentialLength+1)
	half := strings.Repeat("B", flow.MaxCredentialLength/2+1)
	tests := []struct {
		name string
		opts []reqOpt
	}{
		{"cookie", []reqOpt{cookie(cookieName, long)}},
		{"chunked cookie joined", []reqOpt{cookies("sid.0=" + half + "; sid.1=" + half)}},
		{"token header", []reqOpt{header("X-Session-Token", long)}},
		{"bearer", []reqOpt{header("Authorization", "Bearer "+long)}},
		{"huge cookie after a valid one", []reqOpt{cookies("sid=ok; sid=" + strings.Repeat("C", 100<<10))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			a := &app{}
			res := h.serve(get("/", append(tt.opts, asJSON)...), a)
			jsonError(t, res, http.StatusBadRequest)
			if a.called() {
				t.Error("the app was called")
			}
		})
	}
}

func TestGuard_CredentialAtTheLengthLimit_Passes(t *testing.T) {
	h := newHarness(t)
	a := &app{}
	assertStatus(t, h.serve(get("/", cookie(cookieName, strings.Repeat("A", flow.MaxCredentialLength))), a), http.StatusOK)
	if !a.called() {
		t.Error("the app was not called")
	}
}

func TestGuard_ErrorsPathIsNotGuarded(t *testing.T) {
	// With an error UI, GET <errors path> belongs to the gateway, not to the app.
	h := newHarness(t, withErrorURL(t, errorUI))
	res := h.serve(get(errorsPath+"?"+url.Values{"id": {"nope"}}.Encode()), nil)
	jsonError(t, res, http.StatusNotFound)
}

func TestGuard_ErrorsPathWithoutErrorUI_IsTheApps(t *testing.T) {
	// Without error_url no error ids are issued, so the path stays the app's.
	h := newHarness(t)
	a := &app{}
	assertStatus(t, h.serve(get(errorsPath+"?id=x"), a), http.StatusOK)
	a.request(t)
}

func TestGuard_DuplicateTokenHeaders_RevokedOneStillCaught(t *testing.T) {
	// Apps differ in which of several header values they read (first,
	// last, or all joined): a revoked token in any of them is caught.
	tests := []struct {
		name   string
		header string
		values []string
	}{
		{"X-Session-Token valid then revoked", "X-Session-Token", []string{"alive", "dead"}},
		{"X-Session-Token revoked then valid", "X-Session-Token", []string{"dead", "alive"}},
		{"Authorization valid then revoked", "Authorization", []string{"Bearer alive", "Bearer dead"}},
		{"Authorization basic then revoked bearer", "Authorization", []string{"Basic dXNlcjpwYXNz", "Bearer dead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/deny", func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
			h.revoke("dead")
			r := get("/api", asJSON)
			for _, v := range tt.values {
				r.Header.Add(tt.header, v)
			}
			a := &app{}
			assertNoSessionError(t, h.serve(r, a))
			if a.called() {
				t.Error("the revoked token reached the app")
			}
		})
		t.Run(tt.name+"/strip", func(t *testing.T) {
			h := newHarness(t)
			h.revoke("dead")
			r := get("/api")
			for _, v := range tt.values {
				r.Header.Add(tt.header, v)
			}
			a := &app{}
			assertStatus(t, h.serve(r, a), http.StatusOK)
			for _, v := range a.request(t).Header.Values(tt.header) {
				if strings.Contains(v, "dead") {
					t.Errorf("the app still sees %s: %q", tt.header, v)
				}
			}
		})
	}
}

// TestGuard_RevokedCookieRespelled_StillCaught: apps decode cookie values
// and some fold names, so a revoked cookie re-spelled must not pass.
func TestGuard_RevokedCookieRespelled_StillCaught(t *testing.T) {
	for _, raw := range []string{
		"sid=%64ead",       // PHP's urldecode and Express's decodeURIComponent both read "dead"
		"sid=de%61d",       // anywhere in the value
		"sid=%64%65%61%64", // all of it
		"SID=dead",         // ASP.NET compares names case-insensitively
		"a=1,sid=dead",     // RFC 2109 parsers split on commas
		"sid =dead",        // blank before '='
	} {
		t.Run(raw, func(t *testing.T) {
			h := newHarness(t)
			h.revoke("dead")
			a := &app{}
			assertStatus(t, h.serve(get("/account", cookies(raw)), a), http.StatusOK)
			for _, c := range a.request(t).Cookies() {
				if strings.EqualFold(strings.TrimSpace(c.Name), cookieName) {
					t.Fatalf("the app still sees %s=%s", c.Name, c.Value)
				}
			}
			if v := a.request(t).Header.Get("Cookie"); strings.Contains(v, "ead") || strings.Contains(v, "%6") {
				t.Fatalf("the app saw Cookie %q", v)
			}
		})
	}
}

func TestGuard_PHPMangledCookieName_StillCaught(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.Cookies = []string{"my.sess"} })
	h.revoke("dead")
	a := &app{}
	assertStatus(t, h.serve(get("/account", cookies("my_sess=dead; x=1")), a), http.StatusOK)
	if got := a.request(t).Header.Get("Cookie"); got != "x=1" {
		t.Fatalf("the app saw Cookie %q, want x=1", got)
	}
}

// TestGuard_PlusIsASpaceToPHP: a value PHP reads as "a b" is the session
// "a b", whichever way it was spelled.
func TestGuard_PlusIsASpaceToPHP(t *testing.T) {
	h := newHarness(t)
	h.revoke("a b")
	for _, raw := range []string{"sid=a+b", "sid=a%20b"} {
		a := &app{}
		assertStatus(t, h.serve(get("/account", cookies(raw)), a), http.StatusOK)
		if got := a.request(t).Header.Get("Cookie"); got != "" {
			t.Fatalf("%s: the app saw Cookie %q", raw, got)
		}
	}
}

// TestGuard_RefusalAuditLog_SampledAgainstFloods: a client replaying a
// revoked cookie in a loop gets every request refused, but the audit log
// keeps a bounded number of lines per second while the metric counts all.
func TestGuard_RefusalAuditLog_SampledAgainstFloods(t *testing.T) {
	core, logs := zapobserver.New(zap.InfoLevel)
	o := &observer{}
	h := newHarness(t, func(c *flow.Config) { c.Logger = zap.New(core); c.Observer = o })
	h.revoke("dead")
	const requests = 500
	for range requests {
		a := &app{}
		h.serve(get("/", cookies("sid=dead")), a)
		if a.request(t).Header.Get("Cookie") != "" {
			t.Fatal("a revoked cookie reached the app")
		}
	}
	lines := logs.FilterMessage("revoked credential refused").Len()
	if lines == 0 || lines > 40 {
		t.Fatalf("%d audit lines for %d refusals: want a few, sampled", lines, requests)
	}
	revoked := 0
	for _, e := range o.take() {
		if e == "guard revoked" {
			revoked++
		}
	}
	if revoked != requests {
		t.Fatalf("metric counted %d of %d refusals", revoked, requests)
	}
}

// TestGuard_RepeatedChunkIndex_BothReadingsChecked: apps keep either the
// first or the last of a repeated chunk; a junk copy must not hide the
// revoked one in either order.
func TestGuard_RepeatedChunkIndex_BothReadingsChecked(t *testing.T) {
	for _, raw := range []string{
		"sid.0=AAA; sid.1=BBB; sid.1=JUNK",
		"sid.0=AAA; sid.1=JUNK; sid.1=BBB",
		"sid.0=JUNK; sid.0=AAA; sid.1=BBB",
	} {
		t.Run(raw, func(t *testing.T) {
			h := newHarness(t)
			h.revoke("AAABBB")
			a := &app{}
			assertStatus(t, h.serve(get("/", cookies(raw)), a), http.StatusOK)
			if got := a.request(t).Header.Get("Cookie"); got != "" {
				t.Fatalf("the app saw Cookie %q", got)
			}
		})
	}
}

// TestGuard_TokenHeaderWithUnderscores_StillCaught: CGI-style backends
// (php_fastcgi, Rack, WSGI) read X_Session_Token as X-Session-Token.
func TestGuard_TokenHeaderWithUnderscores_StillCaught(t *testing.T) {
	for _, name := range []string{"X_session_token", "X-Session_token", "X_session-Token"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.revoke("dead-token")
			r := get("/")
			r.Header[name] = []string{"dead-token"}
			a := &app{}
			assertStatus(t, h.serve(r, a), http.StatusOK)
			if v := a.request(t).Header[name]; len(v) != 0 {
				t.Fatalf("the app saw %s: %q", name, v)
			}
		})
	}
}

func TestGuard_BearerWithTab_StillCaught(t *testing.T) {
	h := newHarness(t)
	h.revoke("dead-token")
	a := &app{}
	assertStatus(t, h.serve(get("/", header("Authorization", "Bearer\tdead-token")), a), http.StatusOK)
	if v := a.request(t).Header.Get("Authorization"); v != "" {
		t.Fatalf("the app saw Authorization %q", v)
	}
}

// TestIntercept_CookieSpellingFlood_BoundedAnswer: thousands of spellings
// of the session cookie's chunks get a bounded number of deletions.
func TestIntercept_CookieSpellingFlood_BoundedAnswer(t *testing.T) {
	h := newHarness(t, withIntercept("/logout"))
	var b strings.Builder
	for i := range 5000 {
		name := []byte("sid.")
		for k := range 3 {
			if i&(1<<k) != 0 {
				name[k] -= 'a' - 'A'
			}
		}
		fmt.Fprintf(&b, "%s%d=x; ", name, i%100)
	}
	res := h.serve(get("/logout", cookies(b.String())), &app{})
	if n := len(res.Header.Values("Set-Cookie")); n > 64 {
		t.Fatalf("%d Set-Cookie headers for a stuffed Cookie header", n)
	}
}
