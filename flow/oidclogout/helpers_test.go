package oidclogout

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/caddy-logout/caddy-logout/internal/jwttest"
)

const testClientID = "app"

// testProvider is an identity provider's discovery and JWKS endpoints, and
// its signing key: what the receiver fetches, and what signs the tokens
// the tests send. The end-to-end suite (tests/oidc) runs real providers.
type testProvider struct {
	*httptest.Server
	mu         sync.Mutex
	key        *rsa.PrivateKey
	kid        string
	extraKeys  []jose.JSONWebKey // published besides the signing key
	jwksFetch  atomic.Int32
	discFetch  atomic.Int32
	jwksStatus atomic.Int32 // non-zero: answer the JWKS with this status
}

func newTestProvider(t testing.TB) *testProvider {
	t.Helper()
	p := &testProvider{key: rsaKey(t), kid: "key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discFetch.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"issuer":               p.URL,
			"jwks_uri":             p.URL + "/jwks",
			"end_session_endpoint": p.URL + "/session/end",
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksFetch.Add(1)
		if s := p.jwksStatus.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.jwks())
	})
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Close)
	return p
}

func (p *testProvider) jwks() jose.JSONWebKeySet {
	p.mu.Lock()
	defer p.mu.Unlock()
	keys := []jose.JSONWebKey{{Key: p.key.Public(), KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}
	return jose.JSONWebKeySet{Keys: append(keys, p.extraKeys...)}
}

// rotate makes a new signing key with a new kid, as providers rotate.
func (p *testProvider) rotate(t testing.TB, kid string) {
	key := rsaKey(t)
	p.mu.Lock()
	p.key, p.kid = key, kid
	p.mu.Unlock()
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// claims is an oidc-provider-shaped logout token's claims, fresh.
func (p *testProvider) claims() map[string]any {
	now := time.Now().Unix()
	return map[string]any{
		"iss":    p.URL,
		"aud":    testClientID,
		"iat":    now,
		"exp":    now + 120,
		"jti":    randomString(),
		"sid":    "sid-" + randomString(),
		"sub":    "alice",
		"events": map[string]any{BackChannelEvent: map[string]any{}},
	}
}

// sign signs claims with the provider's current key, typ logout+jwt.
func (p *testProvider) sign(t testing.TB, claims map[string]any) string {
	p.mu.Lock()
	key, kid := p.key, p.kid
	p.mu.Unlock()
	return signWith(t, jose.RS256, key, kid, map[jose.HeaderKey]any{jose.HeaderType: "logout+jwt"}, claims)
}

func signWith(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, headers map[jose.HeaderKey]any, claims any) string {
	return jwttest.Sign(t, alg, key, kid, headers, claims)
}

func randomString() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// recorder is a Sessions that records what it was asked to revoke.
type recorder struct {
	mu    sync.Mutex
	calls []string
	fail  atomic.Bool
}

func (r *recorder) RevokeIssuerSession(_ context.Context, iss, sid string) (int, error) {
	return r.record("sid " + iss + " " + sid)
}

func (r *recorder) RevokeIssuerSubject(_ context.Context, iss, sub string) (int, error) {
	return r.record("sub " + iss + " " + sub)
}

func (r *recorder) record(call string) (int, error) {
	if r.fail.Load() {
		return 0, errTestStore
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
	return 1, nil
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

var errTestStore = &testError{"store down"}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }

// observed counts the observer's calls.
type observed struct {
	mu       sync.Mutex
	accepted int
	refused  map[Reason]int
	front    map[string]int
}

func (o *observed) BackChannel(accepted bool, reason Reason, _ int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if accepted {
		o.accepted++
		return
	}
	if o.refused == nil {
		o.refused = map[Reason]int{}
	}
	o.refused[reason]++
}

func (o *observed) FrontChannel(result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.front == nil {
		o.front = map[string]int{}
	}
	o.front[result]++
}

// newReceiver is a receiver for p with a recorder behind it.
func newReceiver(t testing.TB, p *testProvider, edit func(*Config)) (*Receiver, *recorder, *observed) {
	t.Helper()
	rec, obs := &recorder{}, &observed{}
	cfg := Config{Issuer: p.URL, ClientID: testClientID, Sessions: rec, Observer: obs, HTTPClient: p.Client()}
	if edit != nil {
		edit(&cfg)
	}
	rcv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rcv, rec, obs
}

// postToken sends a back-channel logout with the token as the form.
func postToken(t testing.TB, rcv *Receiver, token string) *httptest.ResponseRecorder {
	t.Helper()
	return postBody(t, rcv, url.Values{"logout_token": {token}}.Encode())
}

func postBody(t testing.TB, rcv *Receiver, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/oidc/backchannel-logout", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	rcv.ServeBackChannel(w, req)
	return w
}

// oauthError decodes a 400's body.
func oauthError(t testing.TB, w *httptest.ResponseRecorder) (code, description string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	return e.Error, e.Description
}

var _ crypto.Signer = (*rsa.PrivateKey)(nil)
