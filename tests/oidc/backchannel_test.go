package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	clientID     = "app"
	clientSecret = "app-secret-for-tests"
)

// appClient is the gateway's client at the provider, registered as the
// README says: the back-channel URI, with the session (sid) required.
func appClient(gateway string, backchannel string) client {
	return client{
		"client_id":                           clientID,
		"client_secret":                       clientSecret,
		"redirect_uris":                       []string{gateway + "/oauth2/callback"},
		"post_logout_redirect_uris":           []string{gateway + "/", gateway + "/bye"},
		"backchannel_logout_uri":              backchannel,
		"backchannel_logout_session_required": true,
		"grant_types":                         []string{"authorization_code", "refresh_token"},
		"response_types":                      []string{"code"},
	}
}

func oidcBlock(issuer string, lines ...string) string {
	return "oidc_logout {\n\t\t\tissuer " + issuer + "\n\t\t\tclient_id " + clientID + "\n\t\t\t" + strings.Join(lines, "\n\t\t\t") + "\n\t\t}"
}

// logoutAtProvider ends the user's provider session at the provider
// itself (as when the user signs out of another app, or of the provider's
// own account page): its end_session endpoint and confirmation form.
func logoutAtProvider(t *testing.T, c *webClient, p *provider) page {
	t.Helper()
	confirm := c.get(p.Issuer + "/session/end")
	return c.submit(confirm, "op.logoutForm", url.Values{"logout": {"yes"}})
}

// The scenario the product exists for: a user logs out at the provider,
// the provider tells the gateway over the back channel, and the copied
// _oauth2_proxy cookie is refused at the gateway from then on, while
// oauth2-proxy alone would still accept it until it expires (168h by
// default). Another user stays logged in.
func TestBackChannel_LogoutAtProvider_CookieRefusedAtGateway(t *testing.T) {
	s := startStack(t, stackOptions{}, "backchannel "+backchannelPath)
	gateway, idp, proxy, caddy := s.URL, s.idp, s.proxy, s.caddy

	alice, bob := newWebClient(t, "alice"), newWebClient(t, "bob")
	loginThroughGateway(t, alice, gateway, "alice")
	loginThroughGateway(t, bob, gateway, "bob")
	aliceCookies, bobCookies := alice.cookieHeader(gateway), bob.cookieHeader(gateway)
	if !strings.Contains(aliceCookies, "_oauth2_proxy") {
		t.Fatalf("no _oauth2_proxy cookie after login: %q", aliceCookies)
	}
	// The gateway learns who each session belongs to on its requests.
	for _, c := range []string{aliceCookies, bobCookies} {
		if _, in := appAccess(t, gateway, c); !in {
			t.Fatal("a logged-in user is not logged in at the app")
		}
	}

	logoutAtProvider(t, alice, idp)
	line := idp.WaitLine(t, 10*time.Second, `"event":"backchannel.`)
	if !strings.Contains(line, "backchannel.success") || !strings.Contains(line, `"sub":"alice"`) {
		t.Fatalf("the provider's back-channel logout did not succeed: %s", line)
	}

	status, in := appAccess(t, gateway, aliceCookies)
	if in {
		t.Fatal("the copied cookie still works at the gateway after the provider logout")
	}
	if status != http.StatusUnauthorized {
		t.Fatalf("the copied cookie got %d, want oauth2-proxy's 401 (the gateway stripped it)", status)
	}
	if !proxyAccepts(t, proxy, aliceCookies) {
		t.Fatal("oauth2-proxy alone refused the cookie: the test would not show what the gateway adds")
	}
	if _, in := appAccess(t, gateway, bobCookies); !in {
		t.Fatal("the bystander was logged out too")
	}
	for _, want := range []string{`"logout token accepted"`, `"sessions_revoked":1`} {
		if !strings.Contains(caddy.Logs.String(), want) {
			t.Fatalf("no audit line with %s:\n%s", want, caddy.Logs.String())
		}
	}
	if strings.Contains(caddy.Logs.String(), "eyJ") {
		t.Fatal("a JWT (a logout or ID token) appears in Caddy's log")
	}
}
