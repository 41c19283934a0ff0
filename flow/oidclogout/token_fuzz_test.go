package oidclogout

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// staticKeys is a keySource of fixed keys: the fuzzer cannot reach a
// network, and needs the same answer for the same input.
type staticKeys []jose.JSONWebKey

func (s staticKeys) candidates(_ context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	return matching(s, kid, alg), nil
}

var (
	fuzzKeyOnce sync.Once
	fuzzKey     *rsa.PrivateKey
)

const fuzzIssuer = "https://idp.example"

func fuzzValidator(t testing.TB) *validator {
	fuzzKeyOnce.Do(func() { fuzzKey = rsaKey(t) })
	return &validator{
		issuer: fuzzIssuer, clientID: testClientID, maxAge: DefaultMaxTokenAge,
		keys: staticKeys{{Key: fuzzKey.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}},
		now:  func() time.Time { return time.Unix(1_800_000_000, 0) },
	}
}

func fuzzClaims() map[string]any {
	return map[string]any{
		"iss": fuzzIssuer, "aud": testClientID, "iat": 1_800_000_000, "exp": 1_800_000_120,
		"jti": "j1", "sid": "s1", "sub": "alice",
		"events": map[string]any{BackChannelEvent: map[string]any{}},
	}
}

// checkAccepted is what every accepted token must satisfy, whatever the
// input: the checks cannot be talked out of.
func checkAccepted(t *testing.T, c Claims) {
	t.Helper()
	if c.Issuer != fuzzIssuer || c.ID == "" || (c.SessionID == "" && c.Subject == "") ||
		c.IssuedAt.IsZero() || len(c.SessionID) > maxClaimLength || len(c.Subject) > maxClaimLength {
		t.Fatalf("accepted claims break the rules: %+v", c)
	}
}

// FuzzValidate feeds whole tokens to the validator: the parser of the
// compact form, the headers and the claims must never panic, and nothing
// unsigned or signed by another key may pass.
func FuzzValidate(f *testing.F) {
	v := fuzzValidator(f)
	// signed holds what the key signed (header.payload): nothing else may
	// pass, since the fuzzer cannot sign.
	signed := map[string]bool{}
	sign := func(kid string, headers map[jose.HeaderKey]any) string {
		token := signWith(f, jose.RS256, fuzzKey, kid, headers, fuzzClaims())
		signed[token[:strings.LastIndexByte(token, '.')]] = true
		return token
	}
	valid := sign("k1", map[jose.HeaderKey]any{jose.HeaderType: "logout+jwt"})
	f.Add(valid)
	f.Add(sign("", nil))
	f.Add(unsigned(f, map[string]any{"alg": "none"}, fuzzClaims()))
	f.Add(unsigned(f, map[string]any{"alg": "RS256", "kid": "k1", "crit": []string{"exp"}}, fuzzClaims()))
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("a.b.c.d.e")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, refusal := v.validate(context.Background(), token)
		if refusal != nil {
			if refusal.Reason == "" || refusal.Description == "" {
				t.Fatalf("refusal without a reason: %+v", refusal)
			}
			return
		}
		if !signed[canonicalInput(token)] {
			t.Fatalf("a token the key did not sign was accepted: %q", token)
		}
		checkAccepted(t, c)
	})
}

// canonicalInput is a token's header and payload re-encoded, since a
// base64 spelling with other unused bits decodes to the same bytes.
func canonicalInput(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	var out []string
	for _, p := range parts[:2] {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return ""
		}
		out = append(out, base64.RawURLEncoding.EncodeToString(b))
	}
	return strings.Join(out, ".")
}

// FuzzCheckClaims feeds claims sets straight to the claims checks, which a
// fuzzer could not reach through a signature it cannot make.
func FuzzCheckClaims(f *testing.F) {
	v := fuzzValidator(f)
	seed, _ := json.Marshal(fuzzClaims())
	f.Add(seed)
	f.Add([]byte(`{"iss":"https://idp.example","aud":["x","app"],"iat":1800000000.5,"jti":"j","sid":"s","events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`))
	f.Add([]byte(`{"iss":"https://idp.example","aud":"app","iat":1800000000,"jti":"j","sub":"a","events":["http://schemas.openid.net/event/backchannel-logout"]}`))
	f.Add([]byte(`{"iss":"https://idp.example","aud":"app","iat":1e309,"jti":"j","sub":"a","nonce":null,"events":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, refusal := v.checkClaims(payload)
		if refusal != nil {
			return
		}
		checkAccepted(t, c)
		var m map[string]json.RawMessage
		if json.Unmarshal(payload, &m) != nil {
			t.Fatalf("accepted claims that are not a JSON object: %q", payload)
		}
		if _, has := m["nonce"]; has {
			t.Fatalf("accepted a nonce: %q", payload)
		}
		if checkEvents(m["events"]) != nil {
			t.Fatalf("accepted bad events: %q", payload)
		}
	})
}

// FuzzBackChannelRequest feeds whole request bodies to the endpoint: any
// body is a 200 or a 400, never a panic or a 5xx.
func FuzzBackChannelRequest(f *testing.F) {
	v := fuzzValidator(f)
	rcv, err := New(Config{Issuer: fuzzIssuer, ClientID: testClientID, Sessions: &recorder{}, Now: v.now})
	if err != nil {
		f.Fatal(err)
	}
	rcv.validator = v
	valid := signWith(f, jose.RS256, fuzzKey, "k1", nil, fuzzClaims())
	f.Add("logout_token=" + valid)
	f.Add("logout_token=" + url.QueryEscape(valid) + "&x=%zz")
	f.Add("logout_token=&logout_token=")
	f.Add(strings.Repeat("a", 100))
	f.Fuzz(func(t *testing.T, body string) {
		w := postBody(t, rcv, body)
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}
