package oidc

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// One sign-out at Ory Hydra ends the user's sessions at two apps behind
// two gateways, through both channels, in a real Chromium: app 1 is ended
// by the front-channel iframe that Hydra's logout page loads (the browser
// carries app 1's cookie into it), app 2 by Hydra's back-channel logout
// token, whose shape (sid only: no sub, no exp; typ JWT, not logout+jwt)
// the gateway accepts. The copied cookies are refused at both gateways while
// oauth2-proxy alone still takes them; a bystander stays logged in.
func TestHydra_FrontAndBackChannel_InChromium(t *testing.T) {
	var h *hydra
	ui := startHydraUI(t, func() *hydra { return h })
	h = startHydra(t, ui, ui+"/bye")

	port1, port2 := e2e.FreePort(t), e2e.FreePort(t)
	gw1, gw2 := fmt.Sprintf("http://127.0.0.1:%d", port1), fmt.Sprintf("http://127.0.0.1:%d", port2)
	var recorded tee
	backchannel := recorded.start(t, gw2+"/oidc/backchannel-logout")
	h.admin(t, "POST", "/admin/clients", hydraClient("app1", gw1, map[string]any{
		"frontchannel_logout_uri": gw1 + "/oidc/frontchannel-logout", "frontchannel_logout_session_required": true,
	}), nil)
	h.admin(t, "POST", "/admin/clients", hydraClient("app2", gw2, map[string]any{
		"backchannel_logout_uri": backchannel, "backchannel_logout_session_required": true,
	}), nil)

	// The two apps share a host (a browser keeps cookies per host, not per
	// port), so their oauth2-proxy cookies have names of their own.
	proxy1 := startOAuth2Proxy(t, h.Issuer, "app1", clientSecret, gw1, "--cookie-name=_app1")
	proxy2 := startOAuth2Proxy(t, h.Issuer, "app2", clientSecret, gw2, "--cookie-name=_app2")
	upstream := e2e.StartUpstream(t)
	startGateway(t, proxy1, upstream, stackOptions{port: port1, cookie: "_app1",
		oidcBlocks: hydraBlock(h.Issuer, "app1", "frontchannel /oidc/frontchannel-logout")})
	caddy2 := startGateway(t, proxy2, upstream, stackOptions{port: port2, cookie: "_app2",
		oidcBlocks: hydraBlock(h.Issuer, "app2", "backchannel /oidc/backchannel-logout")})

	browser := e2e.NewBrowser(t)
	alice, bob := e2e.NewTab(t, browser), e2e.NewTab(t, browser)
	signIn(t, alice, gw1, "alice")
	signIn(t, alice, gw2, "") // single sign-on: Hydra remembers alice
	signIn(t, bob, gw1, "bob")
	alice1, alice2, bob1 := tabCookies(alice, "_app1"), tabCookies(alice, "_app2"), tabCookies(bob, "_app1")
	for _, c := range []struct{ gw, cookie string }{{gw1, alice1}, {gw2, alice2}, {gw1, bob1}} {
		if _, in := appAccess(t, c.gw, c.cookie); !in {
			t.Fatalf("not logged in at %s with %q", c.gw, c.cookie)
		}
	}

	requests := alice.WatchRequests()
	alice.Navigate(h.Issuer + "oauth2/sessions/logout")
	alice.WaitPage("Hydra's logout done", func(s e2e.PageState) bool { return strings.HasPrefix(s.Href, ui+"/bye") })
	var frontchannel string
	for _, u := range requests() {
		if strings.HasPrefix(u, gw1+"/oidc/frontchannel-logout?") {
			frontchannel = u
		}
	}
	if frontchannel == "" {
		t.Fatalf("Hydra's logout page loaded no front-channel iframe; requests: %q", requests())
	}
	q, _ := url.Parse(frontchannel)
	if q.Query().Get("iss") != h.Issuer || q.Query().Get("sid") == "" {
		t.Fatalf("front-channel URL without iss and sid: %s", frontchannel)
	}

	eventually(t, 5e9, "app 1 refuses alice's copied cookie", func() bool { _, in := appAccess(t, gw1, alice1); return !in })
	eventually(t, 5e9, "app 2 refuses alice's copied cookie", func() bool { _, in := appAccess(t, gw2, alice2); return !in })
	if !proxyAccepts(t, proxy1, alice1) || !proxyAccepts(t, proxy2, alice2) {
		t.Fatal("oauth2-proxy alone refused a cookie: the test would not show what the gateways add")
	}
	if _, in := appAccess(t, gw1, bob1); !in {
		t.Fatal("the bystander was logged out")
	}
	if jar := alice.JarHolds("_app1"); len(jar) != 0 {
		t.Fatalf("the front-channel answer did not clear app 1's cookie in the browser: %q", jar)
	}

	tokens := recorded.Tokens()
	if len(tokens) != 1 {
		t.Fatalf("Hydra sent %d logout tokens, want 1", len(tokens))
	}
	header, claims := jwtParts(t, tokens[0])
	t.Logf("Hydra's logout token: header %v, claims %v", header, claims)
	if typ, _ := header["typ"].(string); strings.EqualFold(typ, "logout+jwt") {
		t.Errorf("Hydra's logout token is explicitly typed now: %v", header)
	}
	for _, absent := range []string{"sub", "exp"} {
		if _, has := claims[absent]; has {
			t.Errorf("Hydra's logout token has %s now: %v", absent, claims)
		}
	}
	if claims["sid"] == "" || claims["sid"] == nil {
		t.Fatalf("Hydra's logout token has no sid: %v", claims)
	}
	if !strings.Contains(caddy2.Logs.String(), `"logout token accepted"`) {
		t.Fatal("gateway 2 did not accept Hydra's logout token")
	}
}

func hydraClient(id, gateway string, logout map[string]any) map[string]any {
	c := map[string]any{
		"client_id": id, "client_secret": clientSecret,
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"scope": "openid email profile offline", "redirect_uris": []string{gateway + "/oauth2/callback"},
		"post_logout_redirect_uris": []string{gateway + "/"}, "token_endpoint_auth_method": "client_secret_basic",
	}
	for k, v := range logout {
		c[k] = v
	}
	return c
}

func hydraBlock(issuer, client string, lines ...string) string {
	return "oidc_logout {\n\t\t\tissuer " + issuer + "\n\t\t\tclient_id " + client + "\n\t\t\t" + strings.Join(lines, "\n\t\t\t") + "\n\t\t}"
}

// signIn logs the tab in at the gateway's app: oauth2-proxy's start,
// Hydra, the login form when Hydra asks for it (user "" expects single
// sign-on), back to the app.
func signIn(t *testing.T, tab *e2e.Tab, gateway, user string) {
	t.Helper()
	tab.Navigate(gateway + "/oauth2/start?rd=%2Fapp")
	if user != "" {
		tab.WaitPage("the login form", func(s e2e.PageState) bool { return s.Title == "Sign in" })
		tab.Step("sign in as "+user, chromedp.SendKeys(chromedp.CSS("#subject"), user), chromedp.Click(chromedp.CSS("#submit")))
	}
	tab.WaitPage("the app at "+gateway, func(s e2e.PageState) bool { return strings.HasPrefix(s.Href, gateway+"/app") })
	body, err := e2e.Eval[string](tab, `document.body.innerText`)
	if err != nil || !strings.Contains(body, `"auth":"Bearer `) {
		t.Fatalf("the app saw no login at %s: %q %v", gateway, body, err)
	}
}

// tabCookies is the Cookie header of the tab's cookies named name or a
// chunk of it, as a copied cookie would be replayed.
func tabCookies(tab *e2e.Tab, name string) string {
	var pairs []string
	for _, c := range tab.Cookies() {
		if c.Name == name || strings.HasPrefix(c.Name, name+"_") && c.Name != name+"_csrf" {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	return strings.Join(pairs, "; ")
}

// jwtParts decodes a JWT's header and claims, unverified.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	for i, out := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, out) != nil {
			t.Fatalf("JWT part %d: %v", i, err)
		}
	}
	return header, claims
}

// What the README warns about, measured: when the provider and the app are
// not the same site (here Hydra at 127.0.0.1, the app at
// app.example.test), the browser sends the app's SameSite=Lax cookie into
// no iframe of the provider's page, so the front-channel request carries
// no session and ends nothing. Back-channel logout is the one to rely on.
func TestHydra_FrontChannel_CrossSite_EndsNothing(t *testing.T) {
	var h *hydra
	ui := startHydraUI(t, func() *hydra { return h })
	h = startHydra(t, ui, ui+"/bye")
	port := e2e.FreePort(t)
	app := fmt.Sprintf("http://app.example.test:%d", port)
	h.admin(t, "POST", "/admin/clients", hydraClient("app1", app, map[string]any{
		"frontchannel_logout_uri": app + "/oidc/frontchannel-logout", "frontchannel_logout_session_required": true,
	}), nil)
	proxy := startOAuth2Proxy(t, h.Issuer, "app1", clientSecret, app)
	caddy := startGateway(t, proxy, e2e.StartUpstream(t), stackOptions{port: port,
		oidcBlocks: hydraBlock(h.Issuer, "app1", "frontchannel /oidc/frontchannel-logout")})

	alice := e2e.NewTab(t, e2e.NewBrowser(t))
	signIn(t, alice, app, "alice")
	cookies := tabCookies(alice, "_oauth2_proxy")
	requests := alice.WatchRequests()
	alice.Navigate(h.Issuer + "oauth2/sessions/logout")
	alice.WaitPage("Hydra's logout done", func(s e2e.PageState) bool { return strings.HasPrefix(s.Href, ui+"/bye") })
	loaded := false
	for _, u := range requests() {
		loaded = loaded || strings.HasPrefix(u, app+"/oidc/frontchannel-logout?")
	}
	if !loaded {
		t.Fatalf("Hydra's page loaded no front-channel iframe: %q", requests())
	}
	gateway := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 5e9, "the front-channel request is counted", func() bool {
		return strings.Contains(adminMetrics(t, caddy), `caddy_logout_oidc_frontchannel_total{result="no_session"} 1`)
	})
	if _, in := appAccess(t, gateway, cookies); !in {
		t.Fatal("the session ended although the browser sent no cookie cross-site: the README's warning would be wrong")
	}
}
