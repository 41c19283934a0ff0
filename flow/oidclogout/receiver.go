// Package oidclogout brings OpenID Connect single logout to the apps behind
// the gateway, as plain net/http:
//
//   - Back-Channel Logout 1.0: the identity provider POSTs a signed logout
//     token; every gateway session recorded for its (iss, sid), or without
//     sid for its (iss, sub), is revoked on every node.
//   - Front-Channel Logout 1.0: the provider's logout page loads ours in an
//     iframe; the session that browser carries is ended, and only that one.
//   - RP-Initiated Logout 1.0: after the gateway's own logout, the browser
//     goes on to the provider's end_session_endpoint, so the provider's
//     session ends too.
//
// Who a session belongs to is the caller's knowledge (Sessions, Browser):
// this package validates what the provider sends and decides.
package oidclogout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-logout/caddy-logout/session/once"
)

// Sessions revokes gateway sessions by the identity provider's names for
// them, on every node.
type Sessions interface {
	// RevokeIssuerSession revokes every session recorded for the provider
	// session (iss, sid) and answers how many.
	RevokeIssuerSession(ctx context.Context, iss, sid string) (int, error)
	// RevokeIssuerSubject revokes every session recorded for the subject
	// sub of iss and answers how many.
	RevokeIssuerSubject(ctx context.Context, iss, sub string) (int, error)
}

// Browser ends the session a browser's request carries.
type Browser interface {
	// EndBrowserSession revokes the session the request's cookies carry and
	// clears them on w, when accept agrees with the owner recorded for it
	// (known is false when none is recorded). It reports whether a session
	// was ended.
	EndBrowserSession(w http.ResponseWriter, r *http.Request, accept func(iss, sid string, known bool) bool) (bool, error)
}

// Observer hears about every logout the receivers handle, for metrics.
type Observer interface {
	// BackChannel is called once per back-channel request: accepted (with
	// how many sessions it revoked) or refused with a reason.
	BackChannel(accepted bool, reason Reason, revoked int)
	// FrontChannel is called once per front-channel request: ended,
	// no_session, mismatch or bad_request.
	FrontChannel(result string)
}

// Config is one identity provider client, already checked.
type Config struct {
	// Issuer is the provider's issuer identifier: the exact iss of its
	// tokens, and where discovery starts.
	Issuer string
	// ClientID is this relying party's client: logout tokens' aud must
	// contain it, and end-session redirects name it.
	ClientID string
	// JWKSURL, when set, is where the keys are fetched instead of the
	// jwks_uri that discovery names.
	JWKSURL string
	// EndSession sends browsers on to the provider's end_session_endpoint
	// after a logout: EndSessionURL when set, else discovery's.
	EndSession    bool
	EndSessionURL string
	// MaxTokenAge is how old (by iat) a logout token may be. Default
	// DefaultMaxTokenAge.
	MaxTokenAge time.Duration

	// Sessions revokes what logout tokens name; nil refuses every token
	// (a client with end_session only).
	Sessions Sessions
	// Replays remembers the tokens acted on; several nodes share a Redis
	// one. Default: once.Memory, this node only.
	Replays once.Set

	// HTTPClient fetches discovery and keys. Default: http.DefaultClient
	// with FetchTimeout per fetch.
	HTTPClient      *http.Client
	FetchTimeout    time.Duration
	RefreshInterval time.Duration // default DefaultRefreshInterval
	Logger          *zap.Logger
	Observer        Observer
	Now             func() time.Time
}

// Receiver serves one provider client's logout endpoints.
type Receiver struct {
	cfg       Config
	validator *validator
	discovery *discovery
	// local takes the replay claims when the shared Replays cannot answer:
	// a replayed logout revokes nothing new, a lost one keeps a session
	// alive, so an outage of the shared set never refuses a logout.
	local        *once.Memory
	audit        *zap.Logger
	refusedAudit *zap.Logger
}

// New checks cfg and prepares the receiver. It fetches nothing: discovery
// and keys are fetched on first use (Prefetch starts that early).
func New(cfg Config) (*Receiver, error) {
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("client_id: required")
	}
	for option, u := range map[string]string{"jwks_url": cfg.JWKSURL, "end_session": cfg.EndSessionURL} {
		if u != "" {
			if err := checkHTTPURL(option, u); err != nil {
				return nil, err
			}
		}
	}
	if cfg.MaxTokenAge <= 0 {
		cfg.MaxTokenAge = DefaultMaxTokenAge
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	local := once.NewMemory(0, cfg.Now)
	if cfg.Replays == nil {
		cfg.Replays = local
	}
	fetch := fetcher{client: cfg.HTTPClient, timeout: cfg.FetchTimeout}
	rcv := &Receiver{
		cfg:       cfg,
		discovery: &discovery{issuer: cfg.Issuer, fetch: fetch, interval: cfg.RefreshInterval, now: cfg.Now},
		local:     local,
		audit:     cfg.Logger.Named("audit"),
	}
	keys := &keySet{fetch: fetch, interval: cfg.RefreshInterval, now: cfg.Now, jwksURL: rcv.jwksURL}
	rcv.validator = &validator{issuer: cfg.Issuer, clientID: cfg.ClientID, keys: keys, maxAge: cfg.MaxTokenAge, now: cfg.Now}
	rcv.refusedAudit = rcv.audit.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		// Per second: the first 20 refusals, then every 100th. Anyone can
		// POST garbage; the metric still counts every one.
		return zapcore.NewSamplerWithOptions(c, time.Second, 20, 100)
	}))
	return rcv, nil
}

// Issuer is the configured issuer.
func (rcv *Receiver) Issuer() string { return rcv.cfg.Issuer }

// Prefetch fetches what the receiver will need (discovery, for the keys or
// the end_session_endpoint, and the keys when it takes logout tokens) in
// the background, so the first logout does not wait for them. Failures
// are logged and retried on use.
func (rcv *Receiver) Prefetch() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*rcv.cfg.FetchTimeout)
		defer cancel()
		var err error
		switch {
		case rcv.cfg.Sessions != nil:
			_, _, err = rcv.validator.keys.(*keySet).current(ctx, false)
		case rcv.cfg.EndSession && rcv.cfg.EndSessionURL == "":
			_, err = rcv.discovery.get(ctx)
		}
		if err != nil {
			rcv.cfg.Logger.Warn("could not fetch the provider's discovery document or keys yet; retrying on use",
				zap.String("issuer", rcv.cfg.Issuer), zap.Error(err))
		}
	}()
}

// jwksURL is the configured jwks_url, else discovery's jwks_uri.
func (rcv *Receiver) jwksURL(ctx context.Context) (string, error) {
	if rcv.cfg.JWKSURL != "" {
		return rcv.cfg.JWKSURL, nil
	}
	doc, err := rcv.discovery.get(ctx)
	if err != nil {
		return "", err
	}
	return doc.JWKSURI, nil
}

// CheckIssuer checks an issuer option: an absolute http(s) URL without
// query or fragment (OpenID Connect Core 1.0, 2).
func CheckIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("issuer: required")
	}
	if err := checkHTTPURL("issuer", issuer); err != nil {
		return err
	}
	u, _ := url.Parse(issuer)
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("issuer: %q must not have a query or fragment", issuer)
	}
	return nil
}

func checkHTTPURL(option, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%s: %q must be an absolute http or https URL", option, raw)
	}
	return nil
}

type nopObserver struct{}

func (nopObserver) BackChannel(bool, Reason, int) {}
func (nopObserver) FrontChannel(string)           {}
