package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// secretsConfig: debug logging everywhere (Caddy's own and the access log),
// keys from {env.*} and written in the Caddyfile.
func secretsConfig(admin, port, upstream int, literalKey string) string {
	return fmt.Sprintf(`{
	debug
	admin 127.0.0.1:%d
	auto_https off
	grace_period 5s
}

http://127.0.0.1:%d {
	log
	logout {
		cookie sid
		signing_key {env.LOGOUT_SECRETS_TEST_KEY} %s
		default_return_url http://127.0.0.1/home
		allowed_return_urls http://127.0.0.1/
		on_revoked deny
	}
	reverse_proxy 127.0.0.1:%d
}
`, admin, port, literalKey, upstream)
}

// logLine is one JSON line of Caddy's log.
type logLine struct {
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
	Flow   string `json:"flow"`
	Result string `json:"result"`
	Sess   string `json:"session"`
	raw    string
}

// isModuleLogger: the loggers this module writes to.
func isModuleLogger(name string) bool {
	for _, p := range []string{"http.handlers.logout", "admin.api.logout", "logout.stores."} {
		if name == p || strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// leaked reports whether text holds secret, or a 16-byte piece of it from
// its start, middle or end (a truncated secret is still a leak).
func leaked(text, secret string) bool {
	if strings.Contains(text, secret) {
		return true
	}
	if len(secret) < 32 {
		return false
	}
	for _, at := range []int{0, len(secret)/2 - 8, len(secret) - 16} {
		if strings.Contains(text, secret[at:at+16]) {
			return true
		}
	}
	return false
}

func secretValue(kind string) string { return kind + "-" + e2e.RandomValue() + e2e.RandomValue() }

// TestSecrets_NothingSecretInLogs runs every flow, good and bad, through a
// real Caddy at debug level and then reads everything it logged.
//
// The module's own lines (http.handlers.logout*, admin.api.logout*,
// logout.stores.*) must hold no cookie value, session token, logout token
// or signing key; the sessions they name appear as short ID prefixes.
// Caddy's whole output must hold no cookie value, no token sent in a body or
// as Authorization: Bearer, and no key: Caddy redacts Cookie and
// Authorization in the headers it logs (unless log_credentials is set). It
// does log the request URI, where a logout URL's token travels, and other
// headers such as X-Session-Token: those two are checked in the module's
// lines only (see README, Security).
func TestSecrets_NothingSecretInLogs(t *testing.T) {
	app := e2e.StartUpstream(t)
	envKey, literalKey := secretValue("envkey"), secretValue("literalkey")
	t.Setenv("LOGOUT_SECRETS_TEST_KEY", envKey)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return secretsConfig(admin, port, app.Port, literalKey) })

	everywhere := []string{envKey, literalKey} // never in any log line
	moduleOnly := []string{}                   // never in the module's lines
	sessions := map[string]string{}            // ID prefix -> what it names
	expect := func(what string, resp *http.Response, body []byte, code int) {
		t.Helper()
		if resp.StatusCode != code {
			t.Fatalf("%s: %s %s, want %d", what, resp.Status, body, code)
		}
	}
	jsonClient := func(h http.Header) http.Header {
		h.Set("Accept", "application/json")
		return h
	}

	// A browser logs in through the gateway, gets a logout URL, follows it.
	browser := e2e.Client(t)
	resp, body := e2e.Do(t, browser, "GET", p.URL("/login"), nil, "")
	expect("login", resp, body, http.StatusSeeOther)
	base, _ := url.Parse(p.URL("/"))
	var loginCookie string
	for _, c := range browser.Jar.Cookies(base) {
		if c.Name == "sid" {
			loginCookie = c.Value
		}
	}
	if loginCookie == "" {
		t.Fatal("no session cookie after login")
	}
	everywhere = append(everywhere, loginCookie)
	sessions[session.CookieID(loginCookie).Short()] = "login cookie"
	resp, body = e2e.Do(t, browser, "GET", p.URL("/self-service/logout/browser"), http.Header{"Accept": {"application/json"}}, "")
	expect("create (browser)", resp, body, http.StatusOK)
	var flow e2e.LogoutFlow
	if err := json.Unmarshal(body, &flow); err != nil {
		t.Fatal(err)
	}
	moduleOnly = append(moduleOnly, flow.LogoutToken)
	resp, body = e2e.Do(t, browser, "GET", flow.LogoutURL, nil, "")
	expect("perform (browser)", resp, body, http.StatusSeeOther)
	resp, body = e2e.Do(t, browser, "GET", p.URL("/self-service/logout/browser"), jsonClient(http.Header{"Cookie": {"sid=" + loginCookie}}), "")
	expect("create with the revoked cookie", resp, body, http.StatusUnauthorized)
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), jsonClient(http.Header{"Cookie": {"sid=" + loginCookie}}), "")
	expect("guard, revoked login cookie", resp, body, http.StatusUnauthorized)

	// A JSON client: wrong, tampered and right tokens; the cookie is then dead.
	cookie := secretValue("cookie")
	everywhere = append(everywhere, cookie)
	sessions[session.CookieID(cookie).Short()] = "cookie"
	other := e2e.CreateLogout(t, p, "sid="+secretValue("othercookie"), "")
	moduleOnly = append(moduleOnly, other.LogoutToken)
	own := e2e.CreateLogout(t, p, "sid="+cookie, "?return_to=http://127.0.0.1/app")
	moduleOnly = append(moduleOnly, own.LogoutToken)
	perform := func(what, token string, code int) {
		t.Helper()
		resp, body := e2e.Do(t, http.DefaultClient, "GET", e2e.WithQuery(p.URL("/self-service/logout"), "token", token), jsonClient(http.Header{"Cookie": {"sid=" + cookie}}), "")
		expect(what, resp, body, code)
	}
	perform("perform with another session's token", other.LogoutToken, http.StatusForbidden)
	tampered := own.LogoutToken[:30] + strings.Map(func(r rune) rune { return r ^ 1 }, own.LogoutToken[30:31]) + own.LogoutToken[31:]
	perform("perform with a tampered token", tampered, http.StatusForbidden)
	perform("perform", own.LogoutToken, http.StatusNoContent)
	perform("perform again", own.LogoutToken, http.StatusUnauthorized)
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), jsonClient(http.Header{"Cookie": {"sid=" + cookie}}), "")
	expect("guard, revoked cookie", resp, body, http.StatusUnauthorized)

	// API logout of a token used as Bearer, and of one sent in X-Session-Token.
	bearer, header := secretValue("bearer"), secretValue("headertoken")
	everywhere = append(everywhere, bearer)
	moduleOnly = append(moduleOnly, header)
	sessions[session.IDOf(bearer).Short()] = "bearer token"
	sessions[session.IDOf(header).Short()] = "header token"
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), http.Header{"Authorization": {"Bearer " + bearer}}, "")
	expect("guard, live bearer token", resp, body, http.StatusOK)
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), http.Header{"X-Session-Token": {header}}, "")
	expect("guard, live header token", resp, body, http.StatusOK)
	for _, tok := range []string{bearer, header} {
		resp, body = e2e.Do(t, http.DefaultClient, "DELETE", p.URL("/self-service/logout/api"), http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+tok+`"}`)
		expect("API logout", resp, body, http.StatusNoContent)
	}
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), jsonClient(http.Header{"Authorization": {"Bearer " + bearer}}), "")
	expect("guard, revoked bearer token", resp, body, http.StatusUnauthorized)
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), jsonClient(http.Header{"X-Session-Token": {header}}), "")
	expect("guard, revoked header token", resp, body, http.StatusUnauthorized)

	// Incident response through the admin API.
	incident := secretValue("incident")
	everywhere = append(everywhere, incident)
	sessions[session.CookieID(incident).Short()] = "admin-revoked cookie"
	resp, body = e2e.Do(t, http.DefaultClient, "POST", adminURL(p, "/logout/revoke"), http.Header{"Content-Type": {"application/json"}}, `{"cookie":"`+incident+`"}`)
	expect("admin revoke", resp, body, http.StatusOK)
	resp, body = e2e.Do(t, http.DefaultClient, "POST", adminURL(p, "/logout/lookup"), http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+bearer+`"}`)
	expect("admin lookup", resp, body, http.StatusOK)
	resp, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), jsonClient(http.Header{"Cookie": {"sid=" + incident}}), "")
	expect("guard, admin-revoked cookie", resp, body, http.StatusUnauthorized)

	// Bad requests carrying secrets.
	nulToken, cutToken, longCookie := secretValue("nultoken"), secretValue("cuttoken"), secretValue("long")+strings.Repeat("L", 20<<10)
	everywhere = append(everywhere, nulToken, cutToken, longCookie)
	for _, c := range []struct {
		what, method, path string
		header             http.Header
		body               string
		code               int
	}{
		{"API, control character in the token", "DELETE", "/self-service/logout/api", http.Header{"Content-Type": {"application/json"}}, `{"session_token":"` + nulToken + `\u0000"}`, 403},
		{"API, cut-off JSON", "DELETE", "/self-service/logout/api", http.Header{"Content-Type": {"application/json"}}, `{"session_token":"` + cutToken, 400},
		{"API, no Content-Type", "DELETE", "/self-service/logout/api", nil, `{"session_token":"` + cutToken + `"}`, 400},
		{"create, cookie too long", "GET", "/self-service/logout/browser", http.Header{"Cookie": {"sid=" + longCookie}}, "", 400},
		{"guard, cookie too long", "GET", "/page", http.Header{"Cookie": {"sid=" + longCookie}}, "", 400},
		{"create, return_to refused", "GET", "/self-service/logout/browser?return_to=https://evil.example/", http.Header{"Cookie": {"sid=a-live-session"}}, "", 400},
		{"perform, no token", "GET", "/self-service/logout", http.Header{"Cookie": {"sid=" + incident}}, "", 400},
		{"admin, two names", "POST", "admin:/logout/revoke", nil, `{"cookie":"` + incident + `","session_token":"` + bearer + `"}`, 400},
	} {
		target := p.URL(c.path)
		if path, ok := strings.CutPrefix(c.path, "admin:"); ok {
			target = adminURL(p, path)
		}
		h := jsonClient(http.Header{})
		for k, v := range c.header {
			h[k] = v
		}
		resp, body := e2e.Do(t, http.DefaultClient, c.method, target, h, c.body)
		expect(c.what, resp, body, c.code)
	}

	// Let the last lines reach the buffer.
	p.Stop()
	logs := p.Logs.String()
	if os.Getenv("LOGOUT_TEST_DUMP_LOGS") != "" {
		t.Log(logs)
	}

	var module []logLine
	for _, raw := range strings.Split(logs, "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) != nil || !isModuleLogger(l.Logger) {
			continue
		}
		l.raw = raw
		module = append(module, l)
	}
	for _, s := range everywhere {
		if leaked(logs, s) {
			t.Errorf("a secret (%.12s...) is in Caddy's log:\n%s", s, linesWith(logs, s))
		}
	}
	for _, l := range module {
		for _, s := range append(everywhere, moduleOnly...) {
			if leaked(l.raw, s) {
				t.Errorf("a secret (%.12s...) is in the module's log line %s", s, l.raw)
			}
		}
	}

	// The module did log these flows, naming sessions by ID prefix.
	named := map[string]bool{}
	seenFlows := map[string]bool{}
	for _, l := range module {
		if what, ok := sessions[l.Sess]; ok {
			named[what] = true
		}
		if l.Flow != "" {
			seenFlows[l.Flow+"/"+l.Result] = true
		}
	}
	for _, what := range sessions {
		if !named[what] {
			t.Errorf("no module log line names the %s by its ID prefix", what)
		}
	}
	for _, f := range []string{"browser/ok", "browser/token_mismatch", "browser/no_session", "api/ok", "api/forbidden", "api/bad_request", "admin/ok"} {
		if !seenFlows[f] {
			t.Errorf("no audit line for %s", f)
		}
	}
	if t.Failed() {
		t.Logf("module lines:\n%s", joinRaw(module))
	}
}

func linesWith(logs, secret string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if leaked(l, secret) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func joinRaw(lines []logLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestSecrets_AccessLogFilterRecipe: the README's log filter keeps the
// logout token (in the URI) and the token header out of Caddy's access log.
func TestSecrets_AccessLogFilterRecipe(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
}

http://127.0.0.1:%d {
	log {
		format filter {
			request>uri query {
				delete token
			}
			request>headers>X-Session-Token delete
		}
	}
	logout {
		cookie sid
	}
	reverse_proxy 127.0.0.1:%d
}
`, admin, port, app.Port)
	})
	cookie, token := secretValue("cookie"), secretValue("headertoken")
	f := e2e.CreateLogout(t, p, "sid="+cookie, "")
	if resp, body := performAs(t, f.LogoutURL, "sid="+cookie); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("perform: %s %s", resp.Status, body)
	}
	if _, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/page"), http.Header{"X-Session-Token": {token}}, ""); e2e.Seen(t, body).Token != token {
		t.Fatal("the live token did not reach the app")
	}
	p.Stop()

	performed := false
	for _, raw := range strings.Split(p.Logs.String(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) != nil || !strings.HasPrefix(l.Logger, "http.log.access") {
			continue
		}
		performed = performed || strings.Contains(raw, `"uri":"/self-service/logout"`)
		for _, s := range []string{cookie, token, f.LogoutToken} {
			if leaked(raw, s) {
				t.Errorf("a secret (%.12s...) is in the filtered access log: %s", s, raw)
			}
		}
	}
	if !performed {
		t.Fatalf("no access log line for the perform request:\n%s", p.Logs.String())
	}
}
