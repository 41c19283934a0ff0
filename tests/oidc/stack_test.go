package oidc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// stack is the deployment the README describes: oidc-provider with the
// gateway's client registered, oauth2-proxy answering forward_auth, Caddy
// with logout in front of the app.
type stack struct {
	URL      string // the gateway's origin
	idp      *provider
	proxy    *oauth2Proxy
	caddy    *e2e.Caddy
	upstream *e2e.Upstream
}

// backchannelPath is where the stacks' gateways receive logout tokens.
const backchannelPath = "/oidc/backchannel-logout"

// startStack runs the stack; lines go into the oidc_logout block.
func startStack(t *testing.T, o stackOptions, lines ...string) *stack {
	t.Helper()
	if o.port == 0 {
		o.port = e2e.FreePort(t)
	}
	s := &stack{URL: fmt.Sprintf("http://127.0.0.1:%d", o.port), upstream: e2e.StartUpstream(t)}
	s.idp = startProvider(t, appClient(s.URL, s.URL+backchannelPath))
	s.proxy = startOAuth2Proxy(t, s.idp.Issuer, clientID, clientSecret, s.URL)
	o.oidcBlocks = oidcBlock(s.idp.Issuer, lines...)
	s.caddy = startGateway(t, s.proxy, s.upstream, o)
	return s
}

// stackOptions shape the Caddyfile.
type stackOptions struct {
	port       int    // the gateway's port; 0 picks one
	store      string // the store line; default memory
	oidcBlocks string // the oidc_logout blocks
	extra      string // more lines in the logout block
	cookie     string // oauth2-proxy's cookie name; default _oauth2_proxy
	dataHome   string
}

// caddyfile renders the gateway's config (for any host name on its
// port): logout first (it orders itself
// before forward_auth), oauth2-proxy's own endpoints, and the app behind
// forward_auth, which copies the identity headers the logout block reads.
func caddyfile(admin, port int, proxyAddr string, upstreamPort int, o stackOptions) string {
	store := o.store
	if store == "" {
		store = "store memory"
	}
	cookie := o.cookie
	if cookie == "" {
		cookie = "_oauth2_proxy"
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 2s
	log {
		level INFO
	}
}

http://:%d {
	logout {
		cookie %s
		%s
		default_return_url http://127.0.0.1:%d/
		identity {
			id_token {http.request.header.Authorization}
			subject  {http.request.header.X-Auth-Request-User}
		}
		%s
		%s
	}
	handle /oauth2/* {
		reverse_proxy %s
	}
	handle {
		forward_auth %s {
			uri /oauth2/auth
			copy_headers X-Auth-Request-User Authorization
		}
		reverse_proxy 127.0.0.1:%d
	}
}
`, admin, port, cookie, store, port, o.extra, o.oidcBlocks, proxyAddr, proxyAddr, upstreamPort)
}

// startGateway runs Caddy for the stack in front of proxy and upstream.
func startGateway(t *testing.T, proxy *oauth2Proxy, upstream *e2e.Upstream, o stackOptions) *e2e.Caddy {
	t.Helper()
	port := o.port
	if port == 0 {
		port = e2e.FreePort(t)
	}
	admin := e2e.FreePort(t)
	dataHome := o.dataHome
	if dataHome == "" {
		dataHome = t.TempDir()
	}
	c := e2e.NewCaddy(t, dataHome, caddyfile(admin, port, proxy.Addr(), upstream.Port, o), admin, port)
	c.Start()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("caddy on %d:\n%s", port, c.Logs.String())
		}
	})
	return c
}

// loginThroughGateway signs user in as a browser does: the app's page
// sends it to oauth2-proxy's start, the provider's login and consent
// forms, and back to the app, which then sees the user.
func loginThroughGateway(t *testing.T, c *webClient, gateway, user string) {
	t.Helper()
	p := c.get(gateway + "/oauth2/start?rd=%2Fapp")
	if strings.Contains(p.Body, `value="login"`) {
		p = c.submit(p, "", url.Values{"login": {user}, "password": {"anything"}})
	}
	if strings.Contains(p.Body, `value="consent"`) {
		p = c.submit(p, "", nil)
	}
	if p.Status != http.StatusOK || !strings.HasSuffix(p.URL.Path, "/app") {
		t.Fatalf("%s: login ended at %s with %d:\n%s", user, p.URL, p.Status, p.Body)
	}
	seen := seenBy(t, p)
	if !strings.HasPrefix(seen.Auth, "Bearer ") {
		t.Fatalf("%s: the app got no ID token after login: %+v", user, seen)
	}
}

// seenBy decodes what the upstream app reported seeing.
func seenBy(t *testing.T, p page) e2e.SeenRequest {
	t.Helper()
	var s e2e.SeenRequest
	if err := json.Unmarshal([]byte(p.Body), &s); err != nil {
		t.Fatalf("not the app's answer (%d at %s): %q", p.Status, p.URL, p.Body)
	}
	return s
}

// appAccess requests the app with exactly the given Cookie header (a
// copied cookie replayed) and reports whether the app saw a logged-in
// user.
func appAccess(t *testing.T, gateway, cookieHeader string) (status int, loggedIn bool) {
	t.Helper()
	resp, body := e2e.Do(t, http.DefaultClient, http.MethodGet, gateway+"/app", http.Header{"Cookie": {cookieHeader}}, "")
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, false
	}
	var s e2e.SeenRequest
	if json.Unmarshal(body, &s) != nil {
		return resp.StatusCode, false
	}
	return resp.StatusCode, strings.HasPrefix(s.Auth, "Bearer ")
}

// proxyAccepts reports whether oauth2-proxy alone, asked directly as
// forward_auth asks it, accepts the Cookie header.
func proxyAccepts(t *testing.T, proxy *oauth2Proxy, cookieHeader string) bool {
	t.Helper()
	resp, _ := e2e.Do(t, http.DefaultClient, http.MethodGet, "http://"+proxy.Addr()+"/oauth2/auth", http.Header{"Cookie": {cookieHeader}}, "")
	return resp.StatusCode == http.StatusAccepted
}

// eventually polls cond until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
