package oidc

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Two Caddy nodes on one real redis-server: the session is used on node
// A, the provider's logout token reaches node B, and A refuses the copied
// cookie. A token B acted on is a replay at A too.
func TestBackChannel_TwoNodes_TokenAtB_RefusedAtA(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	store := fmt.Sprintf("store redis {\n\t\t\taddress %s\n\t\t}", srv.Addr)
	portA, portB := e2e.FreePort(t), e2e.FreePort(t)
	nodeA, nodeB := fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)
	idp := startProvider(t, appClient(nodeA, nodeB+"/oidc/backchannel-logout"))
	proxy := startOAuth2Proxy(t, idp.Issuer, clientID, clientSecret, nodeA)
	upstream := e2e.StartUpstream(t)
	block := oidcBlock(idp.Issuer, "backchannel /oidc/backchannel-logout")
	a := startGateway(t, proxy, upstream, stackOptions{port: portA, store: store, oidcBlocks: block})
	b := startGateway(t, proxy, upstream, stackOptions{port: portB, store: store, oidcBlocks: block})

	alice, bob := newWebClient(t, "alice"), newWebClient(t, "bob")
	loginThroughGateway(t, alice, nodeA, "alice")
	loginThroughGateway(t, bob, nodeA, "bob")
	aliceCookies, bobCookies := alice.cookieHeader(nodeA), bob.cookieHeader(nodeA)

	logoutAtProvider(t, alice, idp)
	if line := idp.WaitLine(t, 10*time.Second, `"event":"backchannel.`); !strings.Contains(line, "backchannel.success") {
		t.Fatalf("back-channel logout to node B: %s", line)
	}
	if !strings.Contains(b.Logs.String(), `"logout token accepted"`) || strings.Contains(a.Logs.String(), `"logout token accepted"`) {
		t.Fatal("the token did not go to node B alone")
	}
	start := time.Now()
	eventually(t, 2*time.Second, "node A refuses the cookie", func() bool {
		_, in := appAccess(t, nodeA, aliceCookies)
		return !in
	})
	t.Logf("node A refused the cookie %s after node B's 200", time.Since(start).Round(time.Millisecond))
	if !proxyAccepts(t, proxy, aliceCookies) {
		t.Fatal("oauth2-proxy alone refused the cookie")
	}
	if _, in := appAccess(t, nodeA, bobCookies); !in {
		t.Fatal("the bystander was logged out")
	}

	// One token, two nodes: acted on once.
	token := idp.sign(t, logoutClaims(idp, "bob", "no-such-session"))
	if status, _, body := postLogoutToken(t, nodeB+"/oidc/backchannel-logout", token); status != http.StatusOK {
		t.Fatalf("node B: %d %s", status, body)
	}
	if status, _, body := postLogoutToken(t, nodeA+"/oidc/backchannel-logout", token); status != http.StatusBadRequest || !strings.Contains(body, "received before") {
		t.Fatalf("the token again at node A: %d %s", status, body)
	}
}
