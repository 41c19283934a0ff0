package oidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-logout/caddy-logout/internal/jwttest"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

const backChannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// idTokenClaims decodes the claims of the ID token the app was handed
// (Authorization: Bearer ...), unverified: the test reads its own.
func idTokenClaims(t *testing.T, bearer string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(bearer, "Bearer "), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", bearer)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// logoutClaims is a logout token for the provider session (sub, sid), as
// oidc-provider makes them.
func logoutClaims(p *provider, sub, sid string) map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss": p.Issuer, "aud": clientID, "iat": now, "exp": now + 120, "jti": randomID(),
		"sub": sub, "sid": sid, "events": map[string]any{backChannelEvent: map[string]any{}},
	}
}

// sign signs like the provider: its key, its kid, logout+jwt.
func (p *provider) sign(t *testing.T, claims any) string {
	return jwttest.Sign(t, jose.RS256, p.Key, p.KID, map[jose.HeaderKey]any{jose.HeaderType: "logout+jwt"}, claims)
}

// postLogoutToken sends a back-channel logout request as a provider does.
func postLogoutToken(t *testing.T, endpoint, token string) (int, http.Header, string) {
	t.Helper()
	return postForm(t, endpoint, "application/x-www-form-urlencoded", url.Values{"logout_token": {token}}.Encode())
}

func postForm(t *testing.T, endpoint, contentType, body string) (int, http.Header, string) {
	t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	resp, b := e2e.Do(t, http.DefaultClient, http.MethodPost, endpoint, h, body)
	return resp.StatusCode, resp.Header, string(b)
}

// Hostile logout tokens, each aimed at alice's real provider session and
// each refused with a 400 (a 405 for a GET) and the reason counted;
// alice stays logged in through all of them. Then a good token for the
// same session logs her out, which shows the hostile ones were aimed
// right, and the same token again is a replay.
func TestBackChannel_HostileTokens_400AndNothingRevoked(t *testing.T) {
	s := startStack(t, stackOptions{}, "backchannel "+backchannelPath)
	gateway, idp, caddy := s.URL, s.idp, s.caddy
	endpoint := gateway + backchannelPath

	alice := newWebClient(t, "alice")
	loginThroughGateway(t, alice, gateway, "alice")
	cookies := alice.cookieHeader(gateway)
	p := alice.get(gateway + "/app")
	idToken := idTokenClaims(t, seenBy(t, p).Auth)
	sub, sid := idToken["sub"].(string), idToken["sid"].(string)
	if sid == "" {
		t.Fatalf("the ID token has no sid: %v", idToken)
	}

	good := func() map[string]any { return logoutClaims(idp, sub, sid) }
	edit := func(f func(map[string]any)) string {
		c := good()
		f(c)
		return idp.sign(t, c)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(idp.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	noneHeader, _ := json.Marshal(map[string]string{"alg": "none", "kid": idp.KID})
	noneClaims, _ := json.Marshal(good())

	cases := []struct {
		name, token, result string
	}{
		{"another key with the same kid", jwttest.Sign(t, jose.RS256, otherKey, idp.KID, nil, good()), "signature"},
		{"wrong aud", edit(func(c map[string]any) { c["aud"] = "another-client" }), "aud"},
		{"wrong iss", edit(func(c map[string]any) { c["iss"] = "http://evil.example" }), "iss"},
		{"no events", edit(func(c map[string]any) { delete(c, "events") }), "events"},
		{"events as an array", edit(func(c map[string]any) { c["events"] = []string{backChannelEvent} }), "events"},
		{"event member not an object", edit(func(c map[string]any) { c["events"] = map[string]any{backChannelEvent: "yes"} }), "events"},
		{"a nonce", edit(func(c map[string]any) { c["nonce"] = "abc" }), "nonce"},
		{"alg none", base64.RawURLEncoding.EncodeToString(noneHeader) + "." + base64.RawURLEncoding.EncodeToString(noneClaims) + ".", "alg"},
		{"HS256 signed with the public key", jwttest.Sign(t, jose.HS256, pubDER, idp.KID, nil, good()), "alg"},
		{"expired", edit(func(c map[string]any) {
			c["iat"] = time.Now().Add(-3 * time.Minute).Unix() // young enough for max_token_age
			c["exp"] = time.Now().Add(-2 * time.Minute).Unix()
		}), "exp"},
		{"neither sid nor sub", edit(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }), "no_sid_or_sub"},
		{"malformed", "eyJhbGciOiJSUzI1NiJ9.not-base64!.x", "malformed"},
	}
	for _, tc := range cases {
		status, h, body := postLogoutToken(t, endpoint, tc.token)
		assertRefused(t, tc.name, status, h, body, http.StatusBadRequest)
	}
	requests := []struct {
		name, method, contentType, body, result string
		status                                  int
	}{
		{"oversized", http.MethodPost, "application/x-www-form-urlencoded", "logout_token=" + strings.Repeat("a", 200<<10), "too_large", http.StatusBadRequest},
		{"empty body", http.MethodPost, "application/x-www-form-urlencoded", "", "bad_request", http.StatusBadRequest},
		{"GET", http.MethodGet, "", "", "method", http.StatusMethodNotAllowed},
	}
	for _, r := range requests {
		resp, b := e2e.Do(t, http.DefaultClient, r.method, endpoint, http.Header{"Content-Type": {r.contentType}}, r.body)
		assertRefused(t, r.name, resp.StatusCode, resp.Header, string(b), r.status)
		if r.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET: Allow %q", resp.Header.Get("Allow"))
		}
	}
	if _, in := appAccess(t, gateway, cookies); !in {
		t.Fatal("a hostile logout token revoked alice's session")
	}
	metrics := adminMetrics(t, caddy)
	for _, tc := range cases {
		if !strings.Contains(metrics, `caddy_logout_oidc_logout_tokens_total{result="`+tc.result+`"}`) {
			t.Fatalf("%s: no refusal counted as %s:\n%s", tc.name, tc.result, grepLines(metrics, "oidc"))
		}
	}

	token := idp.sign(t, good())
	if status, _, body := postLogoutToken(t, endpoint, token); status != http.StatusOK {
		t.Fatalf("the good token: %d %s", status, body)
	}
	if _, in := appAccess(t, gateway, cookies); in {
		t.Fatal("the good logout token did not revoke alice's session")
	}
	status, h, body := postLogoutToken(t, endpoint, token)
	assertRefused(t, "replayed jti", status, h, body, http.StatusBadRequest)
	if !strings.Contains(adminMetrics(t, caddy), `caddy_logout_oidc_logout_tokens_total{result="replayed"} 1`) {
		t.Fatal("the replay was not counted")
	}
	if strings.Contains(caddy.Logs.String(), token[:40]) {
		t.Fatal("a logout token appears in Caddy's log")
	}
}

func assertRefused(t *testing.T, name string, status int, h http.Header, body string, want int) {
	t.Helper()
	if status != want || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: got %d (Cache-Control %q) %s, want %d with no-store", name, status, h.Get("Cache-Control"), body, want)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" || e.Description == "" {
		t.Fatalf("%s: error body %q", name, body)
	}
}

// adminMetrics reads Caddy's Prometheus metrics from its admin endpoint.
func adminMetrics(t *testing.T, c *e2e.Caddy) string {
	t.Helper()
	resp, err := http.Get(c.AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
