package flow_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/flow"
)

// The answers of an app's own logout, as DokuWiki and WordPress give them.
var (
	// The app logged out: it deletes its session cookie and redirects.
	appLogsOut = func() *app {
		return &app{status: http.StatusFound, header: http.Header{
			"Location":   {"https://app.example.com/doku.php?do=login"},
			"Set-Cookie": {"sid=deleted; expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0; path=/"},
		}}
	}
	// WordPress without a valid nonce: 403 "Do you really want to log out?".
	appRefuses403 = func() *app {
		return &app{status: http.StatusForbidden, body: "Do you really want to log out?"}
	}
	// DokuWiki with a wrong sectok: the page again, with an error, 200.
	appRefuses200 = func() *app { return &app{status: http.StatusOK, body: "Security Token did not match"} }
)

func TestIntercept_CrossSite_RevokesOnlyWhenTheAppAccepts(t *testing.T) {
	tests := []struct {
		name       string
		app        *app
		revoked    bool
		wantStatus int
		wantBody   string // contained in the body
	}{
		{"app refuses with 403", appRefuses403(), false, http.StatusForbidden, "Do you really want to log out?"},
		{"app shows the page again", appRefuses200(), false, http.StatusOK, "Security Token did not match"},
		{"app logs out", appLogsOut(), true, http.StatusFound, ""},
		{"app fails with 500", &app{status: 500, body: "trace"}, true, http.StatusOK, "You have been signed out."},
		{"app does not answer", &app{silent: true}, true, http.StatusOK, "You have been signed out."},
	}
	crossSite := []struct {
		name string
		opts []reqOpt
	}{
		{"Sec-Fetch-Site cross-site", []reqOpt{header("Sec-Fetch-Site", "cross-site"), header("Referer", "https://app.example.com/")}},
		{"Origin of another site", []reqOpt{header("Origin", "https://evil.example")}},
		{"opaque Origin", []reqOpt{header("Origin", "null")}},
		{"Referer of another site", []reqOpt{header("Referer", "https://evil.example/page")}},
	}
	for _, cs := range crossSite {
		for _, tt := range tests {
			t.Run(cs.name+"/"+tt.name, func(t *testing.T) {
				h := newHarness(t, withIntercept("/logout"))
				res := h.serve(get("https://app.example.com/logout", append(cs.opts, cookie(cookieName, "s1"))...), tt.app)
				assertStatus(t, res, tt.wantStatus)
				if b := readBody(t, res); !strings.Contains(b, tt.wantBody) {
					t.Errorf("body %q lacks %q", b, tt.wantBody)
				}
				if got := h.revoked("s1"); got != tt.revoked {
					t.Fatalf("revoked %v, want %v", got, tt.revoked)
				}
				if tt.revoked {
					assertClearsWith(t, res, secureDeletion, cookieName)
					return
				}
				// Refused: the app's answer goes out as the app gave it.
				assertNoSetCookie(t, res)
				if res.Header.Get("Cache-Control") == noCache {
					t.Error("a refused cross-site logout got the logout's cache headers")
				}
			})
		}
	}
}

func TestIntercept_SameSite_AlwaysLogsOut(t *testing.T) {
	sameSite := []struct {
		name string
		opts []reqOpt
	}{
		{"Sec-Fetch-Site same-origin", []reqOpt{header("Sec-Fetch-Site", "same-origin")}},
		{"Sec-Fetch-Site same-site", []reqOpt{header("Sec-Fetch-Site", "same-site")}},
		{"Sec-Fetch-Site none (typed, bookmark)", []reqOpt{header("Sec-Fetch-Site", "none")}},
		{"fetch metadata wins over a Referer", []reqOpt{header("Sec-Fetch-Site", "same-origin"), header("Referer", "https://evil.example/")}},
		{"own Origin", []reqOpt{header("Origin", "https://app.example.com")}},
		{"own Referer", []reqOpt{header("Referer", "https://app.example.com/wiki/page")}},
		{"Referer on default_return_url's host", []reqOpt{header("Referer", "https://app.example.com/")}},
		{"nothing at all (not a browser)", nil},
	}
	for _, ss := range sameSite {
		// Even when the app refuses a stale nonce: the user meant it.
		for _, a := range []*app{appRefuses403(), appRefuses200(), appLogsOut()} {
			t.Run(ss.name+"/"+strconvStatus(a), func(t *testing.T) {
				h := newHarness(t, withIntercept("/logout"))
				res := h.serve(get("http://wiki.example.net/logout", append(ss.opts, cookie(cookieName, "s1"))...), a)
				h.assertRevoked("s1")
				assertClears(t, res, cookieName)
			})
		}
	}
}

func strconvStatus(a *app) string { return http.StatusText(a.status) }

func TestIntercept_GuardHolds_RevokedCookieStripped(t *testing.T) {
	for _, action := range []flow.RevokedAction{flow.Strip, flow.Deny} {
		h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) {
			c.Cookies = []string{"sid", "remember"}
			c.OnRevoked = action
		})
		h.revoke("old")
		a := &app{}
		res := h.serve(get("/logout", cookies("sid=old; remember=r1; theme=dark")), a)
		assertStatus(t, res, http.StatusOK)
		seen := a.request(t).Header.Get("Cookie")
		if strings.Contains(seen, "old") {
			t.Errorf("on_revoked %d: the app saw the revoked cookie: %q", action, seen)
		}
		if !strings.Contains(seen, "remember=r1") || !strings.Contains(seen, "theme=dark") {
			t.Errorf("on_revoked %d: the app lost the other cookies: %q", action, seen)
		}
		h.assertRevoked("r1")
		assertClears(t, res, "sid", "remember")
	}
}

func TestIntercept_AppSetsARevokedValueAgain_Dropped(t *testing.T) {
	// DokuWiki sends its session id again in its logout answer.
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) {
		c.Cookie.Domains = []string{"example.com"}
	})
	a := &app{status: http.StatusFound, header: http.Header{
		"Location":   {"/"},
		"Set-Cookie": {"sid=s1; path=/; HttpOnly", "other=x; path=/"},
	}}
	res := h.serve(get("/logout", cookie(cookieName, "s1")), a)
	got := setCookies(res)
	if slices.ContainsFunc(got, func(v string) bool { return strings.HasPrefix(v, "sid=s1") }) {
		t.Errorf("the revoked value is set again: %q", got)
	}
	if !slices.Contains(got, "other=x; path=/") {
		t.Errorf("the app's other cookie was lost: %q", got)
	}
	assertClears(t, res, cookieName)
	h.assertRevoked("s1")
}

func TestIntercept_AppSetsAFreshValue_KeptAndNotDeleted(t *testing.T) {
	// A new anonymous session from the app's logout survives it.
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) {
		c.Cookie.Domains = []string{"example.com"}
	})
	fresh := "sid=fresh-anonymous; path=/; HttpOnly"
	a := &app{status: http.StatusFound, header: http.Header{"Location": {"/"}, "Set-Cookie": {fresh}}}
	res := h.serve(get("/logout", cookie(cookieName, "s1")), a)
	got := setCookies(res)
	if !slices.Contains(got, fresh) {
		t.Errorf("the app's fresh session was dropped: %q", got)
	}
	if slices.Contains(got, deletion(cookieName)) {
		t.Errorf("the fresh host-only session is deleted again right after: %q", got)
	}
	// The copy under the configured Domain is another cookie: still deleted.
	want := "sid=; Path=/; Domain=example.com" + deletionTail + "; SameSite=Lax"
	if !slices.Contains(got, want) {
		t.Errorf("the Domain=example.com copy is not deleted: %q", got)
	}
	h.assertRevoked("s1")
	h.assertNotRevoked("fresh-anonymous")
	// And the browser that keeps it passes.
	b := &app{}
	h.serve(get("/page", cookie(cookieName, "fresh-anonymous")), b)
	if c := b.request(t).Header.Get("Cookie"); c != "sid=fresh-anonymous" {
		t.Errorf("the fresh session did not reach the app: %q", c)
	}
}

func TestIntercept_AnswerLogsSomeoneIn_Warns(t *testing.T) {
	core, logs := zapobserver.New(zap.WarnLevel)
	h := newHarness(t, withIntercept("/doku.php"), func(c *flow.Config) {
		c.Cookies = []string{"DokuWiki", "DWauth"}
		c.Logger = zap.New(core)
	})
	// The login POST, caught by an intercept that is too broad.
	a := &app{status: http.StatusFound, header: http.Header{"Location": {"/doku.php"}, "Set-Cookie": {"DWauth=new-login; path=/"}}}
	h.serve(newReq(http.MethodPost, "/doku.php", strings.NewReader("do=login"), cookies("DokuWiki=s1")), a)
	warned := logs.FilterMessageSnippet("as a login does").All()
	if len(warned) != 1 || warned[0].ContextMap()["cookie"] != "DWauth" {
		t.Fatalf("warnings %v, want one naming DWauth", logs.All())
	}
	// A fresh anonymous session for a cookie the request had is not a login.
	logs.TakeAll()
	a = &app{status: http.StatusFound, header: http.Header{"Location": {"/doku.php"}, "Set-Cookie": {"DokuWiki=anon; path=/"}}}
	h.serve(get("/doku.php", cookies("DokuWiki=s2")), a)
	if n := logs.FilterMessageSnippet("as a login does").Len(); n != 0 {
		t.Errorf("a fresh anonymous session warned: %v", logs.All())
	}
}

func TestIntercept_PerUserParameter_Warns(t *testing.T) {
	core, logs := zapobserver.New(zap.WarnLevel)
	newHarness(t, withIntercept("/doku.php?do=logout&sectok=0123abcd"), func(c *flow.Config) { c.Logger = zap.New(core) })
	if n := logs.FilterMessageSnippet("per-user token").Len(); n != 1 {
		t.Fatalf("warnings %v, want one about sectok", logs.All())
	}
}
