package oidclogout

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestBackChannel_ValidToken_RevokesIssuerSession(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, obs := newReceiver(t, p, nil)
	c := p.claims()
	w := postToken(t, rcv, p.sign(t, c))
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || w.Body.Len() != 0 {
		t.Fatalf("got %d %q %q, want 200 no-store and no body", w.Code, w.Header().Get("Cache-Control"), w.Body)
	}
	if got, want := rec.Calls(), []string{"sid " + p.URL + " " + c["sid"].(string)}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("revoked %q, want %q", got, want)
	}
	if obs.accepted != 1 {
		t.Fatalf("observer saw %d accepted", obs.accepted)
	}
}

func TestBackChannel_NoSID_RevokesSubject(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, _ := newReceiver(t, p, nil)
	c := p.claims()
	delete(c, "sid")
	if w := postToken(t, rcv, p.sign(t, c)); w.Code != http.StatusOK {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if got := rec.Calls(); len(got) != 1 || got[0] != "sub "+p.URL+" alice" {
		t.Fatalf("revoked %q", got)
	}
}

// Ory Hydra's shape: sid only, no sub, no exp, no typ header.
func TestBackChannel_HydraShape_Accepted(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, _ := newReceiver(t, p, nil)
	c := p.claims()
	delete(c, "sub")
	delete(c, "exp")
	token := signWith(t, jose.RS256, p.key, p.kid, nil, c)
	if w := postToken(t, rcv, token); w.Code != http.StatusOK {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if len(rec.Calls()) != 1 {
		t.Fatalf("revoked %q", rec.Calls())
	}
}

func TestBackChannel_Accepted_Variants(t *testing.T) {
	p := newTestProvider(t)
	ec := ecKey(t)
	p.extraKeys = []jose.JSONWebKey{{Key: ec.Public(), KeyID: "ec-1", Use: "sig"}}
	rcv, _, _ := newReceiver(t, p, nil)
	cases := map[string]func() string{
		"aud array with the client": func() string {
			c := p.claims()
			c["aud"] = []string{"other", testClientID}
			return p.sign(t, c)
		},
		"typ JWT": func() string {
			return signWith(t, jose.RS256, p.key, p.kid, map[jose.HeaderKey]any{jose.HeaderType: "JWT"}, p.claims())
		},
		"typ application/logout+jwt": func() string {
			return signWith(t, jose.RS256, p.key, p.kid, map[jose.HeaderKey]any{jose.HeaderType: "application/logout+jwt"}, p.claims())
		},
		"no kid: tried against every key": func() string { return signWith(t, jose.RS256, p.key, "", nil, p.claims()) },
		"ES256 key":                       func() string { return signWith(t, jose.ES256, ec, "ec-1", nil, p.claims()) },
		"PS256 with the RSA key (its JWK says RS256, so refused)": nil,
		"iat with a fraction": func() string {
			c := p.claims()
			c["iat"] = float64(time.Now().Unix()) + 0.5
			return p.sign(t, c)
		},
		"other events members ignored (Keycloak's revoke_offline_access)": func() string {
			c := p.claims()
			c["events"] = map[string]any{BackChannelEvent: map[string]any{}, "revoke_offline_access": true}
			return p.sign(t, c)
		},
		"exp within the clock skew": func() string {
			c := p.claims()
			c["exp"] = time.Now().Add(-ClockSkew / 2).Unix()
			return p.sign(t, c)
		},
	}
	for name, token := range cases {
		if token == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if w := postToken(t, rcv, token()); w.Code != http.StatusOK {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
		})
	}
}

// Every hostile token is a 400 with the reason, and revokes nothing.
func TestBackChannel_HostileTokens_400AndNothingRevoked(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, obs := newReceiver(t, p, nil)
	pubDER, err := x509.MarshalPKIXPublicKey(p.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	withClaims := func(edit func(map[string]any)) func() string {
		return func() string {
			c := p.claims()
			edit(c)
			return p.sign(t, c)
		}
	}
	cases := []struct {
		name   string
		token  func() string
		reason Reason
	}{
		{"another key with the same kid", func() string { return signWith(t, jose.RS256, rsaKey(t), p.kid, nil, p.claims()) }, ReasonSignature},
		{"wrong aud", withClaims(func(c map[string]any) { c["aud"] = "other-client" }), ReasonAudience},
		{"aud array without the client", withClaims(func(c map[string]any) { c["aud"] = []string{"a", "b"} }), ReasonAudience},
		{"aud missing", withClaims(func(c map[string]any) { delete(c, "aud") }), ReasonAudience},
		{"wrong iss", withClaims(func(c map[string]any) { c["iss"] = "https://evil.example" }), ReasonIssuer},
		{"iss with a trailing slash", withClaims(func(c map[string]any) { c["iss"] = p.URL + "/" }), ReasonIssuer},
		{"no events", withClaims(func(c map[string]any) { delete(c, "events") }), ReasonEvents},
		{"events as an array (old drafts)", withClaims(func(c map[string]any) { c["events"] = []string{BackChannelEvent} }), ReasonEvents},
		{"event member not an object", withClaims(func(c map[string]any) { c["events"] = map[string]any{BackChannelEvent: true} }), ReasonEvents},
		{"event member null", withClaims(func(c map[string]any) { c["events"] = map[string]any{BackChannelEvent: nil} }), ReasonEvents},
		{"events without the back-channel member", withClaims(func(c map[string]any) { c["events"] = map[string]any{"other": map[string]any{}} }), ReasonEvents},
		{"a nonce", withClaims(func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }), ReasonNonce},
		{"a null nonce", withClaims(func(c map[string]any) { c["nonce"] = nil }), ReasonNonce},
		{"alg none", func() string { return unsigned(t, map[string]any{"alg": "none", "kid": p.kid}, p.claims()) }, ReasonAlg},
		{"HS256 signed with the public key", func() string { return signWith(t, jose.HS256, pubDER, p.kid, nil, p.claims()) }, ReasonAlg},
		{"expired", withClaims(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * ClockSkew).Unix() }), ReasonExpired},
		{"exp not a number", withClaims(func(c map[string]any) { c["exp"] = "soon" }), ReasonExpired},
		{"iat too old", withClaims(func(c map[string]any) {
			c["iat"] = time.Now().Add(-DefaultMaxTokenAge - 2*ClockSkew).Unix()
			delete(c, "exp")
		}), ReasonIssuedAt},
		{"iat in the future", withClaims(func(c map[string]any) { c["iat"] = time.Now().Add(2 * ClockSkew).Unix() }), ReasonIssuedAt},
		{"iat missing", withClaims(func(c map[string]any) { delete(c, "iat") }), ReasonIssuedAt},
		{"neither sid nor sub", withClaims(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }), ReasonSubject},
		{"empty sid and sub", withClaims(func(c map[string]any) { c["sid"] = ""; c["sub"] = "" }), ReasonSubject},
		{"sid not a string", withClaims(func(c map[string]any) { c["sid"] = 42 }), ReasonMalformed},
		{"jti missing", withClaims(func(c map[string]any) { delete(c, "jti") }), ReasonJTI},
		{"typ of an access token", func() string {
			return signWith(t, jose.RS256, p.key, p.kid, map[jose.HeaderKey]any{jose.HeaderType: "at+jwt"}, p.claims())
		}, ReasonTyp},
		{"unknown kid", func() string { return signWith(t, jose.RS256, rsaKey(t), "made-up", nil, p.claims()) }, ReasonKey},
		{"alg the key does not name (PS256 for an RS256 key)", func() string { return signWith(t, jose.PS256, p.key, p.kid, nil, p.claims()) }, ReasonKey},
		{"malformed", func() string { return "not.a.jwt" }, ReasonMalformed},
		{"two parts", func() string { return "eyJhbGciOiJSUzI1NiJ9.e30" }, ReasonMalformed},
		{"encrypted (five parts)", func() string { return "a.b.c.d.e" }, ReasonMalformed},
		{"claims not an object", func() string { return signWith(t, jose.RS256, p.key, p.kid, nil, []string{"x"}) }, ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := postToken(t, rcv, tc.token())
			if w.Code != http.StatusBadRequest || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %q %s, want 400 with no-store", w.Code, w.Header().Get("Cache-Control"), w.Body)
			}
			if code, desc := oauthError(t, w); code != "invalid_request" || desc == "" {
				t.Fatalf("error %q %q", code, desc)
			}
			if n := obs.refused[tc.reason]; n == 0 {
				t.Fatalf("not refused for %s; refusals: %v (body %s)", tc.reason, obs.refused, w.Body)
			}
			obs.refused = nil
		})
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Fatalf("hostile tokens revoked %q", calls)
	}
}

// unsigned builds a token with the given header and an empty signature.
func unsigned(t testing.TB, header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func TestBackChannel_BadRequests(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, _ := newReceiver(t, p, nil)
	token := p.sign(t, p.claims())
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
	}{
		{"GET", http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{"PUT", http.MethodPut, "application/x-www-form-urlencoded", "logout_token=" + token, http.StatusMethodNotAllowed},
		{"empty body", http.MethodPost, "application/x-www-form-urlencoded", "", http.StatusBadRequest},
		{"no content type", http.MethodPost, "", "logout_token=" + token, http.StatusBadRequest},
		{"JSON body", http.MethodPost, "application/json", `{"logout_token":"` + token + `"}`, http.StatusBadRequest},
		{"token twice", http.MethodPost, "application/x-www-form-urlencoded", "logout_token=" + token + "&logout_token=" + token, http.StatusBadRequest},
		{"oversized", http.MethodPost, "application/x-www-form-urlencoded", "logout_token=" + strings.Repeat("a", 2*MaxBodySize), http.StatusBadRequest},
		{"bad form encoding", http.MethodPost, "application/x-www-form-urlencoded", "logout_token=%zz", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/bc", strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			w := httptest.NewRecorder()
			rcv.ServeBackChannel(w, req)
			if w.Code != tc.status || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %q %s, want %d", w.Code, w.Header().Get("Cache-Control"), w.Body, tc.status)
			}
			if tc.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Fatalf("Allow %q", w.Header().Get("Allow"))
			}
			oauthError(t, w)
		})
	}
	if len(rec.Calls()) != 0 {
		t.Fatalf("revoked %q", rec.Calls())
	}
}

func TestBackChannel_ReplayedJTI_Refused(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, obs := newReceiver(t, p, nil)
	token := p.sign(t, p.claims())
	if w := postToken(t, rcv, token); w.Code != http.StatusOK {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	w := postToken(t, rcv, token)
	if w.Code != http.StatusBadRequest || obs.refused[ReasonReplayed] != 1 {
		t.Fatalf("replay: %d %s %v", w.Code, w.Body, obs.refused)
	}
	if len(rec.Calls()) != 1 {
		t.Fatalf("revoked %d times", len(rec.Calls()))
	}
	// Another token with a new jti for the same session is a new logout.
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatalf("new jti: %d", w.Code)
	}
}

// A failed revocation is a 400 the provider may retry: the jti is let go.
func TestBackChannel_StoreFails_400ThenRetryAccepted(t *testing.T) {
	p := newTestProvider(t)
	rcv, rec, _ := newReceiver(t, p, nil)
	token := p.sign(t, p.claims())
	rec.fail.Store(true)
	w := postToken(t, rcv, token)
	if code, _ := oauthError(t, w); w.Code != http.StatusBadRequest || code != "temporarily_unavailable" {
		t.Fatalf("store down: %d %s", w.Code, w.Body)
	}
	rec.fail.Store(false)
	if w := postToken(t, rcv, token); w.Code != http.StatusOK {
		t.Fatalf("retry: %d %s", w.Code, w.Body)
	}
}
