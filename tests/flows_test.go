package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestE2E_BrowserLogout_ThenTheCopiedCookieIsRefused(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\tallowed_return_urls http://127.0.0.1/")
	})

	// Log in through the gateway, like a browser.
	browser := e2e.Client(t)
	resp, _ := e2e.Do(t, browser, "GET", p.URL("/login"), nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	u, _ := url.Parse(p.URL("/"))
	var sid string
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	if sid == "" {
		t.Fatal("no session cookie after login")
	}
	_, body := e2e.Do(t, browser, "GET", p.URL("/page"), nil, "")
	if got := e2e.Seen(t, body).Cookie; got != "sid="+sid {
		t.Fatalf("app saw cookie %q before logout, want sid=%s", got, sid)
	}

	// Create and perform the logout.
	flow := e2e.CreateLogout(t, p, "sid="+sid, "?return_to=/bye")
	lu, err := url.Parse(flow.LogoutURL)
	if err != nil || lu.Query().Get("token") != flow.LogoutToken || lu.Path != "/self-service/logout" {
		t.Fatalf("logout_url %q does not carry logout_token", flow.LogoutURL)
	}
	if rt := lu.Query().Get("return_to"); rt != p.URL("/bye") {
		t.Fatalf("return_to carried as %q, want absolute %q", rt, p.URL("/bye"))
	}
	resp, _ = e2e.Do(t, browser, "GET", flow.LogoutURL, nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != p.URL("/bye") {
		t.Fatalf("perform: %s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "private, no-cache, no-store, must-revalidate" {
		t.Errorf("Cache-Control %q", cc)
	}
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == "sid" {
			t.Fatalf("browser still holds sid=%s after logout", c.Value)
		}
	}

	// The copied cookie: the app sees an anonymous visitor, the browser is
	// told to forget it again.
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), http.Header{"Cookie": {"sid=" + sid + "; theme=dark"}}, "")
	if got := e2e.Seen(t, body).Cookie; got != "theme=dark" {
		t.Fatalf("app saw cookie %q after logout, want only theme=dark", got)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "sid=; Path=/; Max-Age=0") {
		t.Fatalf("revoked cookie not cleared: Set-Cookie %q", sc)
	}

	// The logout URL cannot be used twice, and no longer finds a session.
	resp, body = e2e.Do(t, http.DefaultClient, "GET", flow.LogoutURL, http.Header{"Cookie": {"sid=" + sid}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusUnauthorized || e2e.DecodeError(t, body).Error.ID != "session_inactive" {
		t.Fatalf("second perform: %s %s", resp.Status, body)
	}
}

func TestE2E_BrowserLogout_JSONClientGets204(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	flow := e2e.CreateLogout(t, p, "sid=spa-session", "")
	resp, body := e2e.Do(t, http.DefaultClient, "GET", flow.LogoutURL,
		http.Header{"Cookie": {"sid=spa-session"}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("perform as JSON client: %s %q", resp.Status, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "sid=;") {
		t.Fatalf("cookie not cleared on 204: %q", resp.Header.Values("Set-Cookie"))
	}
}

func TestE2E_PerformWithTokenOfAnotherSession_Forbidden(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	victim := e2e.CreateLogout(t, p, "sid=victim", "")
	// The attacker lures someone else into opening their own logout link,
	// or uses the victim's link with their own cookie: refused.
	resp, body := e2e.Do(t, http.DefaultClient, "GET", victim.LogoutURL,
		http.Header{"Cookie": {"sid=attacker"}, "Accept": {"application/json"}}, "")
	e := e2e.DecodeError(t, body)
	if resp.StatusCode != http.StatusForbidden || e.Error.Reason != "Unable to log out because the logout token in the URL query does not match the session cookie." {
		t.Fatalf("%s %s", resp.Status, body)
	}
	// The victim's session is untouched.
	_, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=victim"}}, "")
	if e2e.Seen(t, body).Cookie != "sid=victim" {
		t.Fatal("victim's session was revoked by a refused logout")
	}
}

func TestE2E_APILogout_RevokesTokenEverywhere(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "on_revoked deny") })
	token := "api-token-" + e2e.RandomValue()
	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/api/me"), http.Header{"X-Session-Token": {token}}, "")
	if e2e.Seen(t, body).Token != token {
		t.Fatal("valid token did not reach the app")
	}
	for i := range 2 { // idempotent
		resp, body := e2e.Do(t, http.DefaultClient, "DELETE", p.URL("/self-service/logout/api"),
			http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+token+`"}`)
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("API logout #%d: %s %q cookies %q", i+1, resp.Status, body, resp.Header.Values("Set-Cookie"))
		}
	}
	for name, h := range map[string]http.Header{
		"X-Session-Token": {"X-Session-Token": {token}, "Accept": {"application/json"}},
		"Bearer":          {"Authorization": {"Bearer " + token}, "Accept": {"application/json"}},
	} {
		resp, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/api/me"), h, "")
		if resp.StatusCode != http.StatusUnauthorized || e2e.DecodeError(t, body).Error.ID != "session_inactive" {
			t.Fatalf("%s after logout: %s %s", name, resp.Status, body)
		}
	}
}

func TestE2E_APILogout_BadRequests(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	json := http.Header{"Content-Type": {"application/json"}}
	cases := []struct {
		name, method string
		header       http.Header
		body         string
		code         int
	}{
		{"empty token", "DELETE", json, `{"session_token":""}`, 403},
		{"no token", "DELETE", json, `{}`, 403},
		{"null token", "DELETE", json, `{"session_token":null}`, 403},
		{"not JSON", "DELETE", json, `session_token=abc`, 400},
		{"not an object", "DELETE", json, `["abc"]`, 400},
		{"empty body", "DELETE", json, ``, 400},
		{"form content type", "DELETE", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, `session_token=abc`, 400},
		{"oversize body", "DELETE", json, `{"session_token":"` + strings.Repeat("a", 1<<20) + `"}`, 400},
		// A wrong method is the router's plain 405: tests/kratos compares it with Kratos's.
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e2e.Do(t, http.DefaultClient, c.method, p.URL("/self-service/logout/api"), c.header, c.body)
			if resp.StatusCode != c.code {
				t.Fatalf("%s: %s %s", c.name, resp.Status, body)
			}
			if e := e2e.DecodeError(t, body); e.Error.Code != c.code || e.Error.Reason == "" {
				t.Fatalf("envelope %s", body)
			}
		})
	}
}

func TestE2E_Guard_OnRevokedRedirect(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\ton_revoked redirect /login?expired=1")
	})
	revokeCookie(t, p, "sid=gone")
	resp, _ := e2e.Do(t, e2e.Client(t), "GET", p.URL("/account"), http.Header{"Cookie": {"sid=gone"}, "Accept": {"text/html"}}, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?expired=1" {
		t.Fatalf("browser: %s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := e2e.Do(t, e2e.Client(t), "GET", p.URL("/account"), http.Header{"Cookie": {"sid=gone"}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusUnauthorized || e2e.DecodeError(t, body).Error.ID != "session_inactive" {
		t.Fatalf("JSON client: %s %s", resp.Status, body)
	}
	for _, r := range app.Requests() {
		if r.Path == "/account" {
			t.Fatalf("the app saw a request with a revoked cookie: %+v", r)
		}
	}
}

func TestE2E_ErrorUI_RedirectAndFetchByID(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\terror_url https://ui.example.com/error")
	})
	// A browser opening a logout URL without a session lands on the error UI.
	resp, _ := e2e.Do(t, e2e.Client(t), "GET", p.URL("/self-service/logout?token=abc"), http.Header{"Accept": {"text/html"}}, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Host != "ui.example.com" || loc.Query().Get("id") == "" {
		t.Fatalf("%s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	// The error UI fetches the error by id, from any node.
	resp, body := e2e.Do(t, http.DefaultClient, "GET", e2e.WithQuery(p.URL("/self-service/errors"), "id", loc.Query().Get("id")), nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"session_inactive"`) ||
		!strings.Contains(string(body), "No active session was found in this request.") {
		t.Fatalf("errors endpoint: %s %s", resp.Status, body)
	}
	resp, _ = e2e.Do(t, http.DefaultClient, "GET", e2e.WithQuery(p.URL("/self-service/errors"), "id", loc.Query().Get("id")+"x"), nil, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tampered id: %s", resp.Status)
	}
}

// revokeCookie logs out the session with the given cookie through the
// browser flow.
func revokeCookie(t testing.TB, p *e2e.Caddy, cookie string) {
	t.Helper()
	flow := e2e.CreateLogout(t, p, cookie, "")
	resp, body := e2e.Do(t, e2e.OneShot, "GET", flow.LogoutURL, http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout of %s: %s %s", cookie, resp.Status, body)
	}
}
