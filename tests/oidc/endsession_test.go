package oidc

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// RP-initiated logout: the gateway's own browser logout revokes the
// session and sends the browser on to the provider's end_session_endpoint
// (found by discovery) with client_id and the checked return URL; the
// provider ends its session, tells the gateway over the back channel and
// sends the browser back. The provider session is gone: the next login
// asks for the password again.
func TestEndSession_GatewayLogoutEndsTheProviderSession(t *testing.T) {
	s := startStack(t, stackOptions{}, "backchannel "+backchannelPath, "end_session")
	gateway, idp := s.URL, s.idp

	alice := newWebClient(t, "alice")
	loginThroughGateway(t, alice, gateway, "alice")
	cookies := alice.cookieHeader(gateway)
	resp, body := e2e.Do(t, http.DefaultClient, http.MethodGet, gateway+"/self-service/logout/browser?return_to=%2Fbye",
		http.Header{"Cookie": {cookies}, "Accept": {"application/json"}}, "")
	var flow e2e.LogoutFlow
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &flow) != nil {
		t.Fatalf("create logout: %d %s", resp.StatusCode, body)
	}
	confirm := alice.get(flow.LogoutURL)
	endSession := alice.visitedPrefix(idp.Issuer + "/session/end?")
	if endSession == "" {
		t.Fatalf("the gateway's logout did not go on to the provider; visited %q", alice.visited)
	}
	q, _ := url.Parse(endSession)
	if q.Query().Get("client_id") != clientID || q.Query().Get("post_logout_redirect_uri") != gateway+"/bye" {
		t.Fatalf("end_session request %s", endSession)
	}
	done := alice.submit(confirm, "op.logoutForm", url.Values{"logout": {"yes"}})
	if got := done.URL.String(); got != gateway+"/bye" {
		t.Fatalf("after the provider's logout the browser is at %s, want %s/bye", got, gateway)
	}
	if line := idp.WaitLine(t, 10*time.Second, `"event":"backchannel.`); !strings.Contains(line, "backchannel.success") {
		t.Fatalf("back-channel: %s", line)
	}
	if _, in := appAccess(t, gateway, cookies); in {
		t.Fatal("the copied cookie still works after the logout")
	}
	again := alice.get(gateway + "/oauth2/start?rd=%2Fapp")
	if !strings.Contains(again.Body, `value="login"`) {
		t.Fatalf("the provider session survived: the next login did not ask for the password (%s)", again.URL)
	}
}

// An intercepted app logout behind forward_auth carries the ID token
// (oauth2-proxy's Authorization header), so the provider gets it as
// id_token_hint.
func TestEndSession_InterceptedLogoutSendsIDTokenHint(t *testing.T) {
	s := startStack(t, stackOptions{extra: "intercept /logout"}, "backchannel "+backchannelPath, "end_session")
	gateway, idp := s.URL, s.idp

	alice := newWebClient(t, "alice")
	loginThroughGateway(t, alice, gateway, "alice")
	cookies := alice.cookieHeader(gateway)
	idToken := strings.TrimPrefix(seenBy(t, alice.get(gateway+"/app")).Auth, "Bearer ")
	confirm := alice.get(gateway + "/logout")
	endSession := alice.visitedPrefix(idp.Issuer + "/session/end?")
	q, _ := url.Parse(endSession)
	if endSession == "" || q.Query().Get("id_token_hint") != idToken || q.Query().Get("post_logout_redirect_uri") != gateway+"/" {
		t.Fatalf("end_session request %q, want the ID token as the hint; visited %q", endSession, alice.visited)
	}
	done := alice.submit(confirm, "op.logoutForm", url.Values{"logout": {"yes"}})
	if done.URL.String() != gateway+"/" {
		t.Fatalf("after the provider's logout the browser is at %s", done.URL)
	}
	if _, in := appAccess(t, gateway, cookies); in {
		t.Fatal("the copied cookie still works after the intercepted logout")
	}
}
