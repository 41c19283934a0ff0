package oidclogout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Limits of what is fetched from the issuer.
const (
	// maxDocumentSize bounds a discovery document or a JWKS.
	maxDocumentSize = 1 << 20
	// maxKeys bounds the keys kept from a JWKS: a token without a kid is
	// tried against each one.
	maxKeys = 64
	// DefaultFetchTimeout bounds one fetch of a discovery document or a
	// JWKS: an IdP waits only a few seconds for the answer to a logout.
	DefaultFetchTimeout = 3 * time.Second
	// DefaultRefreshInterval is the least time between two fetches of the
	// keys: a token naming an unknown kid refreshes them at most this often,
	// so a flood of made-up kids costs the issuer one request per interval.
	DefaultRefreshInterval = 10 * time.Second
	// retryWithoutKeys is the least time between two fetches while there
	// are no keys (or no discovery document) at all: a provider that was
	// slow when Caddy started is asked again for the next logout token a
	// second later (a provider sends each one once, and losing it leaves a
	// session alive), while a flood of tokens still costs it at most one
	// request a second.
	retryWithoutKeys = time.Second
	// keysMaxAge is how long fetched keys are trusted before they are
	// fetched again on the next use, so that a key the issuer removed
	// stops verifying within the hour. A failed refresh keeps the old keys.
	keysMaxAge = time.Hour
)

// provider is what discovery tells about the issuer.
type provider struct {
	Issuer             string `json:"issuer"`
	JWKSURI            string `json:"jwks_uri"`
	EndSessionEndpoint string `json:"end_session_endpoint"`
}

// fetcher GETs the issuer's JSON documents.
type fetcher struct {
	client  *http.Client
	timeout time.Duration
}

// getJSON fetches url and decodes its JSON body into v: a 200, a JSON
// content type (or none), at most maxDocumentSize bytes.
func (f fetcher) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && mt != "application/jwk-set+json") {
			return fmt.Errorf("GET %s: content type %q is not JSON", url, ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxDocumentSize {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxDocumentSize)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// discovery fetches and keeps the issuer's OpenID Provider Metadata.
type discovery struct {
	issuer   string
	fetch    fetcher
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	doc     *provider
	lastTry time.Time
	lastErr error
	flight  *flight
}

// get returns the metadata, fetching it on first use. A failed fetch is
// retried at most once per retryWithoutKeys; meanwhile its error is
// returned.
func (d *discovery) get(ctx context.Context) (*provider, error) {
	d.mu.Lock()
	if d.doc != nil {
		doc := d.doc
		d.mu.Unlock()
		return doc, nil
	}
	if d.flight == nil && !d.lastTry.IsZero() && d.now().Sub(d.lastTry) < min(d.interval, retryWithoutKeys) {
		err := d.lastErr
		d.mu.Unlock()
		return nil, err
	}
	f := d.flight
	if f == nil {
		f = newFlight()
		d.flight = f
		d.lastTry = d.now()
		go d.load(f)
	}
	d.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.doc == nil {
		return nil, d.lastErr
	}
	return d.doc, nil
}

func (d *discovery) load(f *flight) {
	var doc provider
	err := d.fetch.getJSON(context.Background(), wellKnown(d.issuer), &doc)
	switch {
	case err != nil:
	case doc.Issuer != d.issuer:
		// OpenID Connect Discovery 1.0, 4.3: the issuer in the document
		// must be exactly the one it was fetched for.
		err = fmt.Errorf("discovery: the document names issuer %q, not %q", doc.Issuer, d.issuer)
	case doc.JWKSURI == "":
		err = errors.New("discovery: the document has no jwks_uri")
	}
	d.mu.Lock()
	if err == nil {
		d.doc = &doc
	}
	d.lastErr = err
	d.flight = nil
	d.mu.Unlock()
	f.done()
}

// wellKnown is the discovery URL of an issuer: its path with
// /.well-known/openid-configuration appended.
func wellKnown(issuer string) string {
	for len(issuer) > 0 && issuer[len(issuer)-1] == '/' {
		issuer = issuer[:len(issuer)-1]
	}
	return issuer + "/.well-known/openid-configuration"
}

// keySet holds the issuer's signing keys, fetched from its JWKS and
// refreshed when a token names a kid it does not know, at most once per
// interval: verification never trusts a key from the token itself (jwk,
// jku, x5u and x5c headers are ignored).
type keySet struct {
	jwksURL  func(context.Context) (string, error)
	fetch    fetcher
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	loaded  time.Time // last successful fetch
	lastTry time.Time // last fetch started
	lastErr error
	flight  *flight
}

// errNoKeys says the issuer's keys could not be had.
var errNoKeys = errors.New("the issuer's signing keys could not be fetched")

// candidates returns the keys that may have signed a token with this kid
// and alg: the ones with that kid (every signing key when kid is empty),
// of a type that fits alg, and whose own alg, when it names one, is alg.
// An unknown kid refreshes the set first when the interval allows.
func (k *keySet) candidates(ctx context.Context, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	keys, fresh, err := k.current(ctx, false)
	if err != nil {
		return nil, err
	}
	found := matching(keys, kid, alg)
	if len(found) > 0 || fresh {
		return found, nil
	}
	if keys, _, err = k.current(ctx, true); err != nil {
		return nil, err
	}
	return matching(keys, kid, alg), nil
}

// current returns the keys, fetching them when there are none yet, when
// they are older than keysMaxAge, or when refresh asks for it; fetches
// start at most once per interval (retryWithoutKeys while there are none)
// and concurrent callers share one. fresh
// reports that the keys were fetched for this call (no point in asking
// again).
func (k *keySet) current(ctx context.Context, refresh bool) (keys []jose.JSONWebKey, fresh bool, err error) {
	k.mu.Lock()
	now := k.now()
	stale := k.loaded.IsZero() || now.Sub(k.loaded) > keysMaxAge
	f := k.flight
	wait := k.interval
	if k.keys == nil {
		wait = min(wait, retryWithoutKeys)
	}
	if f == nil && (refresh || stale) && (k.lastTry.IsZero() || now.Sub(k.lastTry) >= wait) {
		f = newFlight()
		k.flight = f
		k.lastTry = now
		go k.load(f)
	}
	if f == nil {
		keys, err = k.keys, k.lastErr
		k.mu.Unlock()
		if keys == nil {
			if err == nil {
				err = errNoKeys
			}
			return nil, false, err
		}
		return keys, false, nil
	}
	k.mu.Unlock()
	if err := f.wait(ctx); err != nil {
		return nil, false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		return nil, false, fmt.Errorf("%w: %v", errNoKeys, k.lastErr)
	}
	return k.keys, true, nil
}

// load fetches the JWKS. A JWKS that cannot be used keeps the keys there
// were: an IdP outage must not turn into refusing every token.
func (k *keySet) load(f *flight) {
	keys, err := k.fetchKeys()
	k.mu.Lock()
	if err == nil {
		k.keys = keys
		k.loaded = k.now()
	}
	k.lastErr = err
	k.flight = nil
	k.mu.Unlock()
	f.done()
}

func (k *keySet) fetchKeys() ([]jose.JSONWebKey, error) {
	ctx := context.Background()
	url, err := k.jwksURL(ctx)
	if err != nil {
		return nil, err
	}
	// Each key on its own: one key this library cannot read (an
	// encryption key of a newer kind) must not hide the others.
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := k.fetch.getJSON(ctx, url, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || !key.IsPublic() {
			continue // symmetric and private keys never verify a logout token
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		keys = append(keys, key)
		if len(keys) == maxKeys {
			break
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("the JWKS at %s has no public signing key", url)
	}
	return keys, nil
}

// matching filters keys for a token's kid and alg.
func matching(keys []jose.JSONWebKey, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, key := range keys {
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != string(alg) {
			continue
		}
		if !keyFits(key, alg) {
			continue
		}
		out = append(out, key)
	}
	return out
}

// flight is one fetch that several callers wait for.
type flight struct{ ch chan struct{} }

func newFlight() *flight { return &flight{ch: make(chan struct{})} }

func (f *flight) done() { close(f.ch) }

func (f *flight) wait(ctx context.Context) error {
	select {
	case <-f.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
