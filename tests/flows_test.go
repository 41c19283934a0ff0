package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const sessionBlock = `cookie sid
		default_return_url http://127.0.0.1/home
		allowed_return_urls http://127.0.0.1/`

func TestE2E_BrowserLogout_ThenTheCopiedCookieIsRefused(t *testing.T) {
	app := startUpstream(t)
	var p *caddyProc
	p = startCaddy(t, "", func(admin, port int) string {
		return siteConfig(admin, port, app.port, "cookie sid\n\t\tallowed_return_urls http://127.0.0.1/")
	})

	// Log in through the gateway, like a browser.
	browser := client(t)
	resp, _ := do(t, browser, "GET", p.url("/login"), nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", resp.Status)
	}
	u, _ := url.Parse(p.url("/"))
	var sid string
	for _, c := range browser.Jar.Cookies(u) {
		if c.Name == "sid" {
			sid = c.Value
		}
	}
	if sid == "" {
		t.Fatal("no session cookie after login")
	}
	_, body := do(t, browser, "GET", p.url("/page"), nil, "")
	if got := seen(t, body).Cookie; got != "sid="+sid {
		t.Fatalf("app saw cookie %q before logout, want sid=%s", got, sid)
	}

	// Create and perform the logout.
	flow := createLogout(t, p, "sid="+sid, "?return_to=/bye")
	lu, err := url.Parse(flow.LogoutURL)
	if err != nil || lu.Query().Get("token") != flow.LogoutToken || lu.Path != "/self-service/logout" {
		t.Fatalf("logout_url %q does not carry logout_token", flow.LogoutURL)
	}
	if rt := lu.Query().Get("return_to"); rt != p.url("/bye") {
		t.Fatalf("return_to carried as %q, want absolute %q", rt, p.url("/bye"))
	}
	resp, _ = do(t, browser, "GET", flow.LogoutURL, nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != p.url("/bye") {
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
	resp, body = do(t, http.DefaultClient, "GET", p.url("/page"), http.Header{"Cookie": {"sid=" + sid + "; theme=dark"}}, "")
	if got := seen(t, body).Cookie; got != "theme=dark" {
		t.Fatalf("app saw cookie %q after logout, want only theme=dark", got)
	}
	if sc := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(sc, "sid=; Path=/; Max-Age=0") {
		t.Fatalf("revoked cookie not cleared: Set-Cookie %q", sc)
	}

	// The logout URL cannot be used twice, and no longer finds a session.
	resp, body = do(t, http.DefaultClient, "GET", flow.LogoutURL, http.Header{"Cookie": {"sid=" + sid}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusUnauthorized || decodeError(t, body).Error.ID != "session_inactive" {
		t.Fatalf("second perform: %s %s", resp.Status, body)
	}
}

func TestE2E_BrowserLogout_JSONClientGets204(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string { return siteConfig(admin, port, app.port, "cookie sid") })
	flow := createLogout(t, p, "sid=spa-session", "")
	resp, body := do(t, http.DefaultClient, "GET", flow.LogoutURL,
		http.Header{"Cookie": {"sid=spa-session"}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("perform as JSON client: %s %q", resp.Status, body)
	}
	if !strings.HasPrefix(resp.Header.Get("Set-Cookie"), "sid=;") {
		t.Fatalf("cookie not cleared on 204: %q", resp.Header.Values("Set-Cookie"))
	}
}

func TestE2E_PerformWithTokenOfAnotherSession_Forbidden(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string { return siteConfig(admin, port, app.port, "cookie sid") })
	victim := createLogout(t, p, "sid=victim", "")
	// The attacker lures someone else into opening their own logout link,
	// or uses the victim's link with their own cookie: refused.
	resp, body := do(t, http.DefaultClient, "GET", victim.LogoutURL,
		http.Header{"Cookie": {"sid=attacker"}, "Accept": {"application/json"}}, "")
	e := decodeError(t, body)
	if resp.StatusCode != http.StatusForbidden || e.Error.Reason != "Unable to log out because the logout token in the URL query does not match the session cookie." {
		t.Fatalf("%s %s", resp.Status, body)
	}
	// The victim's session is untouched.
	_, body = do(t, http.DefaultClient, "GET", p.url("/"), http.Header{"Cookie": {"sid=victim"}}, "")
	if seen(t, body).Cookie != "sid=victim" {
		t.Fatal("victim's session was revoked by a refused logout")
	}
}

func TestE2E_APILogout_RevokesTokenEverywhere(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string { return siteConfig(admin, port, app.port, "on_revoked deny") })
	token := "api-token-" + randomValue()
	_, body := do(t, http.DefaultClient, "GET", p.url("/api/me"), http.Header{"X-Session-Token": {token}}, "")
	if seen(t, body).Token != token {
		t.Fatal("valid token did not reach the app")
	}
	for i := range 2 { // idempotent
		resp, body := do(t, http.DefaultClient, "DELETE", p.url("/self-service/logout/api"),
			http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+token+`"}`)
		if resp.StatusCode != http.StatusNoContent || len(body) != 0 || len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Fatalf("API logout #%d: %s %q cookies %q", i+1, resp.Status, body, resp.Header.Values("Set-Cookie"))
		}
	}
	for name, h := range map[string]http.Header{
		"X-Session-Token": {"X-Session-Token": {token}, "Accept": {"application/json"}},
		"Bearer":          {"Authorization": {"Bearer " + token}, "Accept": {"application/json"}},
	} {
		resp, body := do(t, http.DefaultClient, "GET", p.url("/api/me"), h, "")
		if resp.StatusCode != http.StatusUnauthorized || decodeError(t, body).Error.ID != "session_inactive" {
			t.Fatalf("%s after logout: %s %s", name, resp.Status, body)
		}
	}
}

func TestE2E_APILogout_BadRequests(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string { return siteConfig(admin, port, app.port, "cookie sid") })
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
		{"wrong method", "POST", json, `{"session_token":"abc"}`, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, http.DefaultClient, c.method, p.url("/self-service/logout/api"), c.header, c.body)
			if resp.StatusCode != c.code {
				t.Fatalf("%s: %s %s", c.name, resp.Status, body)
			}
			if e := decodeError(t, body); e.Error.Code != c.code || e.Error.Reason == "" {
				t.Fatalf("envelope %s", body)
			}
			if c.code == 405 && resp.Header.Get("Allow") != "DELETE" {
				t.Fatalf("405 without Allow: DELETE")
			}
		})
	}
}

func TestE2E_Guard_OnRevokedRedirect(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string {
		return siteConfig(admin, port, app.port, "cookie sid\n\t\ton_revoked redirect /login?expired=1")
	})
	revokeCookie(t, p, "sid=gone")
	resp, _ := do(t, client(t), "GET", p.url("/account"), http.Header{"Cookie": {"sid=gone"}, "Accept": {"text/html"}}, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?expired=1" {
		t.Fatalf("browser: %s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	resp, body := do(t, client(t), "GET", p.url("/account"), http.Header{"Cookie": {"sid=gone"}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusUnauthorized || decodeError(t, body).Error.ID != "session_inactive" {
		t.Fatalf("JSON client: %s %s", resp.Status, body)
	}
	for _, r := range app.requests() {
		if r.Path == "/account" {
			t.Fatalf("the app saw a request with a revoked cookie: %+v", r)
		}
	}
}

func TestE2E_ErrorUI_RedirectAndFetchByID(t *testing.T) {
	app := startUpstream(t)
	p := startCaddy(t, "", func(admin, port int) string {
		return siteConfig(admin, port, app.port, "cookie sid\n\t\terror_url https://ui.example.com/error")
	})
	// A browser opening a logout URL without a session lands on the error UI.
	resp, _ := do(t, client(t), "GET", p.url("/self-service/logout?token=abc"), http.Header{"Accept": {"text/html"}}, "")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Host != "ui.example.com" || loc.Query().Get("id") == "" {
		t.Fatalf("%s Location %q", resp.Status, resp.Header.Get("Location"))
	}
	// The error UI fetches the error by id, from any node.
	resp, body := do(t, http.DefaultClient, "GET", withQuery(p.url("/self-service/errors"), "id", loc.Query().Get("id")), nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"id":"session_inactive"`) ||
		!strings.Contains(string(body), "No active session was found in this request.") {
		t.Fatalf("errors endpoint: %s %s", resp.Status, body)
	}
	resp, _ = do(t, http.DefaultClient, "GET", withQuery(p.url("/self-service/errors"), "id", loc.Query().Get("id")+"x"), nil, "")
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tampered id: %s", resp.Status)
	}
}

// revokeCookie logs out the session with the given cookie through the
// browser flow.
func revokeCookie(t testing.TB, p *caddyProc, cookie string) {
	t.Helper()
	flow := createLogout(t, p, cookie, "")
	resp, body := do(t, http.DefaultClient, "GET", flow.LogoutURL, http.Header{"Cookie": {cookie}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout of %s: %s %s", cookie, resp.Status, body)
	}
}
