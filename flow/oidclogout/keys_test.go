package oidclogout

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/go-jose/go-jose/v4"
)

func TestKeys_Rotation_UnknownKidRefreshes(t *testing.T) {
	p := newTestProvider(t)
	clock := testutil.NewClock(time.Now())
	rcv, _, _ := newReceiver(t, p, func(c *Config) { c.Now = clock.Now })
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatalf("before rotation: %d %s", w.Code, w.Body)
	}
	p.rotate(t, "key-2")
	clock.Add(DefaultRefreshInterval)
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatalf("after rotation: %d %s", w.Code, w.Body)
	}
	if n := p.jwksFetch.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
}

// A flood of tokens with made-up kids costs the issuer at most one JWKS
// fetch per refresh interval, however many arrive at once.
func TestKeys_UnknownKidFlood_BoundedFetches(t *testing.T) {
	p := newTestProvider(t)
	clock := testutil.NewClock(time.Now())
	rcv, _, obs := newReceiver(t, p, func(c *Config) { c.Now = clock.Now })
	attacker := rsaKey(t)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			token := signWith(t, jose.RS256, attacker, "made-up-"+string(rune('a'+i%26)), nil, p.claims())
			if w := postToken(t, rcv, token); w.Code != http.StatusBadRequest {
				t.Errorf("got %d", w.Code)
			}
		}()
	}
	wg.Wait()
	if n := p.jwksFetch.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for 50 unknown kids at once, want 1", n)
	}
	clock.Add(DefaultRefreshInterval / 2)
	postToken(t, rcv, signWith(t, jose.RS256, attacker, "another", nil, p.claims()))
	if n := p.jwksFetch.Load(); n != 1 {
		t.Fatalf("JWKS fetched again within the interval (%d)", n)
	}
	clock.Add(DefaultRefreshInterval)
	postToken(t, rcv, signWith(t, jose.RS256, attacker, "yet-another", nil, p.claims()))
	if n := p.jwksFetch.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times after the interval, want 2", n)
	}
	if obs.refused[ReasonKey] != 52 {
		t.Fatalf("refusals %v", obs.refused)
	}
}

// An IdP outage: no key yet is a 400, never a 5xx; keys fetched before
// keep verifying while the JWKS fails.
func TestKeys_JWKSDown(t *testing.T) {
	p := newTestProvider(t)
	clock := testutil.NewClock(time.Now())
	rcv, _, obs := newReceiver(t, p, func(c *Config) { c.Now = clock.Now })
	p.jwksStatus.Store(http.StatusInternalServerError)
	w := postToken(t, rcv, p.sign(t, p.claims()))
	if code, _ := oauthError(t, w); w.Code != http.StatusBadRequest || code != "temporarily_unavailable" || obs.refused[ReasonKeys] != 1 {
		t.Fatalf("no keys: %d %s %v", w.Code, w.Body, obs.refused)
	}
	// Right away the failure is not retried: a flood costs the provider
	// one request a second.
	postToken(t, rcv, p.sign(t, p.claims()))
	if n := p.jwksFetch.Load(); n != 1 {
		t.Fatalf("failed fetch retried at once: %d", n)
	}
	// Without any key, a second later the next token asks again (the
	// provider sends each token once: waiting out the refresh interval
	// would lose it; Hydra's first JWKS answer was slow at start).
	p.jwksStatus.Store(0)
	clock.Add(retryWithoutKeys)
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatalf("JWKS back a second later: %d %s", w.Code, w.Body)
	}
	p.jwksStatus.Store(http.StatusServiceUnavailable)
	clock.Add(keysMaxAge + time.Minute) // stale: refetched on use, and that fails
	c := p.claims()
	c["iat"] = clock.Now().Unix()
	delete(c, "exp")
	if w := postToken(t, rcv, p.sign(t, c)); w.Code != http.StatusOK {
		t.Fatalf("stale keys during an outage: %d %s", w.Code, w.Body)
	}
}

// A key the issuer removed stops verifying once the keys are refetched
// (at the latest keysMaxAge later).
func TestKeys_RemovedKeyStopsVerifying(t *testing.T) {
	p := newTestProvider(t)
	clock := testutil.NewClock(time.Now())
	rcv, _, _ := newReceiver(t, p, func(c *Config) { c.Now = clock.Now })
	old, oldKid := p.key, p.kid
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatal(w.Code)
	}
	p.rotate(t, "key-2")
	clock.Add(keysMaxAge + time.Minute)
	c := p.claims()
	c["iat"] = clock.Now().Unix()
	delete(c, "exp")
	if w := postToken(t, rcv, signWith(t, jose.RS256, old, oldKid, nil, c)); w.Code != http.StatusBadRequest {
		t.Fatalf("removed key still verifies: %d", w.Code)
	}
}

func TestDiscovery_IssuerMismatch_NoKeys(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": "https://other.example", "jwks_uri": srv.URL + "/jwks"})
	}))
	defer srv.Close()
	rcv, err := New(Config{Issuer: srv.URL, ClientID: testClientID, Sessions: &recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	w := postToken(t, rcv, "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30.c2ln")
	if w.Code != http.StatusBadRequest {
		t.Fatalf("got %d", w.Code)
	}
	if _, err := rcv.discovery.get(t.Context()); err == nil {
		t.Fatal("discovery accepted a document for another issuer")
	}
}

// With jwks_url, discovery is never fetched for the keys.
func TestJWKSURL_SkipsDiscovery(t *testing.T) {
	p := newTestProvider(t)
	rcv, _, _ := newReceiver(t, p, func(c *Config) { c.JWKSURL = p.URL + "/jwks" })
	if w := postToken(t, rcv, p.sign(t, p.claims())); w.Code != http.StatusOK {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if n := p.discFetch.Load(); n != 0 {
		t.Fatalf("discovery fetched %d times", n)
	}
}

// Keys that must never verify a logout token are not kept: symmetric,
// private, and encryption keys.
func TestKeys_OnlyPublicSigningKeysKept(t *testing.T) {
	p := newTestProvider(t)
	ec := ecKey(t)
	p.extraKeys = []jose.JSONWebKey{
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct", Algorithm: "HS256"},
		{Key: ec, KeyID: "private"},
		{Key: ec.Public(), KeyID: "enc", Use: "enc"},
	}
	rcv, _, _ := newReceiver(t, p, nil)
	keys, _, err := rcv.validator.keys.(*keySet).current(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != p.kid {
		var kids []string
		for _, k := range keys {
			kids = append(kids, k.KeyID)
		}
		t.Fatalf("kept %v, want only %s", kids, p.kid)
	}
}
