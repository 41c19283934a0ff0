package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/flow/oidclogout"
	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/once"
	"github.com/caddy-logout/caddy-logout/session/redis"
)

// OIDCLogout is single logout with one OpenID Connect provider client:
// the Back-Channel and Front-Channel Logout 1.0 receivers, and the chain
// from the gateway's logouts to the provider's end_session_endpoint.
// Sessions are found by the owner the identity block records for them
// (iss and sid from the ID token).
type OIDCLogout struct {
	// The provider's issuer identifier: the exact iss of its tokens, and
	// where discovery (/.well-known/openid-configuration) starts.
	Issuer string `json:"issuer,omitempty"`
	// This client's ID: logout tokens' aud must contain it.
	ClientID string `json:"client_id,omitempty"`
	// Where the provider's signing keys are, instead of the jwks_uri that
	// discovery names.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Path of the Back-Channel Logout 1.0 receiver (the client's
	// backchannel_logout_uri).
	BackChannel string `json:"backchannel,omitempty"`
	// Path of the Front-Channel Logout 1.0 receiver (the client's
	// frontchannel_logout_uri).
	FrontChannel string `json:"frontchannel,omitempty"`
	// After the gateway's own logouts, send browsers on to the provider's
	// end_session_endpoint, so the provider's session ends too.
	EndSession bool `json:"end_session,omitempty"`
	// The end_session_endpoint, instead of the one discovery names.
	EndSessionURL string `json:"end_session_url,omitempty"`
	// How old (by iat) a logout token may be. Default: 5m.
	MaxTokenAge caddy.Duration `json:"max_token_age,omitempty"`
}

// unmarshalOIDCLogout reads
//
//	oidc_logout {
//	    issuer        <url>
//	    client_id     <id>
//	    jwks_url      <url>
//	    backchannel   <path>
//	    frontchannel  <path>
//	    end_session   [<url>]
//	    max_token_age <duration>
//	}
func (h *Handler) unmarshalOIDCLogout(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	o := &OIDCLogout{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		var err error
		switch option := d.Val(); option {
		case "issuer":
			err = oneArg(d, &o.Issuer, oidclogout.CheckIssuer)
		case "client_id":
			err = oneArg(d, &o.ClientID, nil)
		case "jwks_url":
			err = oneArg(d, &o.JWKSURL, checkOIDCURL("jwks_url"))
		case "backchannel":
			err = oneArg(d, &o.BackChannel, checkOIDCPath("backchannel"))
		case "frontchannel":
			err = oneArg(d, &o.FrontChannel, checkOIDCPath("frontchannel"))
		case "end_session":
			o.EndSession = true
			if d.NextArg() {
				o.EndSessionURL = d.Val()
				if err = checkOIDCURL("end_session")(o.EndSessionURL); err != nil {
					return d.Errf("%v", err)
				}
			}
			if d.NextArg() {
				return d.Errf("end_session: expected at most the endpoint's URL")
			}
		case "max_token_age":
			err = durationArg(d, &o.MaxTokenAge)
		default:
			return d.Errf("unrecognized oidc_logout option %q", option)
		}
		if err != nil {
			return err
		}
	}
	if err := o.check(); err != nil {
		return d.Errf("%v", err)
	}
	h.OIDCLogout = append(h.OIDCLogout, o)
	return nil
}

// check is what one block needs on its own; provisionOIDC checks the
// blocks against each other and the rest of the config.
func (o *OIDCLogout) check() error {
	if err := oidclogout.CheckIssuer(o.Issuer); err != nil {
		return fmt.Errorf("oidc_logout %w", err)
	}
	if o.ClientID == "" {
		return fmt.Errorf("oidc_logout %s: client_id is required (the aud of its logout tokens)", o.Issuer)
	}
	if o.BackChannel == "" && o.FrontChannel == "" && !o.EndSession {
		return fmt.Errorf("oidc_logout %s: give backchannel, frontchannel or end_session", o.Issuer)
	}
	for option, p := range map[string]string{"backchannel": o.BackChannel, "frontchannel": o.FrontChannel} {
		if p != "" {
			if err := checkOIDCPath(option)(p); err != nil {
				return err
			}
		}
	}
	for option, u := range map[string]string{"jwks_url": o.JWKSURL, "end_session": o.EndSessionURL} {
		if u != "" {
			if err := checkOIDCURL(option)(u); err != nil {
				return err
			}
		}
	}
	if o.EndSessionURL != "" && !o.EndSession {
		return fmt.Errorf("oidc_logout %s: end_session_url without end_session", o.Issuer)
	}
	if o.MaxTokenAge < 0 {
		return fmt.Errorf("oidc_logout %s: max_token_age must be positive", o.Issuer)
	}
	return nil
}

func checkOIDCPath(option string) func(string) error {
	return func(p string) error {
		if len(p) < 2 || p[0] != '/' || path.Clean(p) != p {
			return fmt.Errorf("%s: %q must be a clean absolute path such as /oidc/%s-logout", option, p, option)
		}
		return nil
	}
}

func checkOIDCURL(option string) func(string) error {
	return func(u string) error {
		_, err := parseAbsoluteURL(option, u)
		return err
	}
}

// oidcRoutes are the receivers of a handler's oidc_logout blocks.
type oidcRoutes struct {
	// paths maps each receiver's path to it: one lookup per request.
	paths      map[string]oidcRoute
	endSession []*oidclogout.Receiver // the blocks with end_session, in order
	browser    oidclogout.Browser
	owners     ownerLookup
	idToken    string // the identity block's id_token placeholder
	replays    *sharedReplays
}

// oidcRoute is one receiver path: the back-channel or the front-channel
// receiver of a block.
type oidcRoute struct {
	rcv   *oidclogout.Receiver
	front bool
}

// ownerLookup is what the glue needs of the recorded owners: the
// provider's (iss, sid) of a gateway session, and revocation by them.
type ownerLookup interface {
	oidclogout.Sessions
	// OwnerOf returns the issuer and provider session recorded for id.
	OwnerOf(ctx context.Context, id session.ID) (iss, sid string, ok bool)
}

// provisionOIDC prepares the receivers. It runs before the gateway is
// built (its EndSession hook reads h.oidc) and finishes after (the
// front-channel ends sessions through the gateway).
func (h *Handler) provisionOIDC(ctx caddy.Context, sm StoreModule, cfg *flow.Config, owners ownerLookup, idToken string) error {
	if len(h.OIDCLogout) == 0 {
		return nil
	}
	taken := map[string]string{}
	prefix := h.Endpoints
	if prefix == "" {
		prefix = flow.DefaultPrefix
	}
	for _, p := range []string{prefix, prefix + "/browser", prefix + "/api", path.Join(path.Dir(prefix), "errors")} {
		taken[p] = "the logout endpoints"
	}
	routes := &oidcRoutes{paths: map[string]oidcRoute{}, owners: owners, idToken: idToken}
	needOwners := false
	for _, o := range h.OIDCLogout {
		if err := o.check(); err != nil {
			return err
		}
		for option, p := range map[string]string{"backchannel": o.BackChannel, "frontchannel": o.FrontChannel} {
			if p == "" {
				continue
			}
			if other, dup := taken[p]; dup {
				return fmt.Errorf("oidc_logout %s: %s %s is already %s", o.Issuer, option, p, other)
			}
			taken[p] = "the " + option + " of " + o.Issuer
			needOwners = true
		}
	}
	if needOwners && owners == nil {
		return errors.New("oidc_logout: backchannel and frontchannel find sessions by the owner the identity block records; " +
			"add identity { id_token <placeholder> } (for oauth2-proxy: {http.request.header.Authorization})")
	}
	var err error
	if routes.replays, err = acquireReplays(ctx, sm); err != nil {
		return err
	}
	var sessions oidclogout.Sessions
	if owners != nil {
		sessions = owners
	}
	obs := newOIDCObserver(ctx)
	for _, o := range h.OIDCLogout {
		rcv, err := oidclogout.New(oidclogout.Config{
			Issuer:        o.Issuer,
			ClientID:      o.ClientID,
			JWKSURL:       o.JWKSURL,
			EndSession:    o.EndSession,
			EndSessionURL: o.EndSessionURL,
			MaxTokenAge:   time.Duration(o.MaxTokenAge),
			Sessions:      sessions,
			Replays:       routes.replays.set,
			Logger:        h.logger,
			Observer:      obs,
		})
		if err != nil {
			routes.replays.release()
			return fmt.Errorf("oidc_logout %s: %w", o.Issuer, err)
		}
		if o.BackChannel != "" {
			routes.paths[o.BackChannel] = oidcRoute{rcv: rcv}
		}
		if o.FrontChannel != "" {
			routes.paths[o.FrontChannel] = oidcRoute{rcv: rcv, front: true}
		}
		if o.EndSession {
			routes.endSession = append(routes.endSession, rcv)
		}
		rcv.Prefetch()
	}
	if len(routes.endSession) > 0 {
		cfg.EndSession = routes.endSessionURL
	}
	h.oidc = routes
	return nil
}

// attachGateway lets the front-channel receivers end sessions through the
// gateway, once it is built.
func (o *oidcRoutes) attachGateway(g *flow.Gateway) {
	if o == nil {
		return
	}
	o.browser = gatewayBrowser{g: g, owners: o.owners}
}

// serve answers a request for one of the receivers' paths; false for
// every other request.
func (o *oidcRoutes) serve(w http.ResponseWriter, r *http.Request) bool {
	if o == nil {
		return false
	}
	route, ok := o.paths[r.URL.Path]
	switch {
	case !ok:
		return false
	case route.front:
		route.rcv.ServeFrontChannel(w, r, o.browser)
	default:
		route.rcv.ServeBackChannel(w, r)
	}
	return true
}

// endSessionURL is the gateway's EndSession hook. It picks the provider
// the logged-out session belongs to: its recorded issuer, else the issuer
// of the ID token the request carries; a session of a provider without
// end_session is not sent to another one. When neither is known, the one
// block with end_session, if there is one.
func (o *oidcRoutes) endSessionURL(r *http.Request, id session.ID, returnTo string) (string, bool) {
	idToken := o.readIDToken(r)
	var issuer string
	if o.owners != nil {
		issuer, _, _ = o.owners.OwnerOf(r.Context(), id)
	}
	if issuer == "" {
		issuer = oidclogout.IssuerOf(idToken)
	}
	var rcv *oidclogout.Receiver
	for _, c := range o.endSession {
		if c.Issuer() == issuer {
			rcv = c
			break
		}
	}
	if rcv == nil && issuer == "" && len(o.endSession) == 1 {
		rcv = o.endSession[0]
	}
	if rcv == nil {
		return "", false
	}
	return rcv.EndSessionURL(r.Context(), returnTo, idToken)
}

// readIDToken evaluates the identity block's id_token placeholder on the
// request (after the handlers behind ran, for an intercepted logout).
func (o *oidcRoutes) readIDToken(r *http.Request) string {
	if o.idToken == "" {
		return ""
	}
	repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	if !ok {
		return ""
	}
	return repl.ReplaceKnown(o.idToken, "")
}

func (o *oidcRoutes) cleanup() {
	if o != nil && o.replays != nil {
		o.replays.release()
	}
}

// gatewayBrowser is the front-channel's Browser: the gateway ends the
// session, the recorded owners say whose it is.
type gatewayBrowser struct {
	g      *flow.Gateway
	owners ownerLookup
}

func (b gatewayBrowser) EndBrowserSession(w http.ResponseWriter, r *http.Request, accept func(iss, sid string, known bool) bool) (bool, error) {
	return b.g.EndBrowserSession(w, r, func(id session.ID) bool {
		iss, sid, ok := b.owners.OwnerOf(r.Context(), id)
		return accept(iss, sid, ok)
	})
}

// replays: one jti set per store. With the redis store the set is in the
// same Redis, so every node sees every token; otherwise it is in memory,
// shared by the configs of this process.
var replayPool = caddy.NewUsagePool()

type pooledReplays struct {
	set   once.Set
	close func() error
}

func (p *pooledReplays) Destruct() error {
	if p.close != nil {
		return p.close()
	}
	return nil
}

type sharedReplays struct {
	key string
	set once.Set
}

func (s *sharedReplays) release() { _, _ = replayPool.Delete(s.key) }

func acquireReplays(ctx caddy.Context, sm StoreModule) (*sharedReplays, error) {
	key := "memory"
	rs, isRedis := sm.(*RedisStore)
	if isRedis {
		key = rs.StoreKey()
	}
	v, _, err := replayPool.LoadOrNew(key, func() (caddy.Destructor, error) {
		if !isRedis {
			return &pooledReplays{set: once.NewMemory(0, nil)}, nil
		}
		client := rs.replayClient()
		ctx.Logger().Debug("oidc_logout: logout token IDs are shared through the redis store", zap.String("store", key))
		return &pooledReplays{set: once.NewRedis(client, rs.keyPrefix()), close: client.Close}, nil
	})
	if err != nil {
		return nil, err
	}
	return &sharedReplays{key: key, set: v.(*pooledReplays).set}, nil
}

// replayClient is a small client of its own for the jti set, on the same
// Redis as the store (the store's client belongs to the store).
func (r *RedisStore) replayClient() goredis.UniversalClient {
	uo := &goredis.UniversalOptions{
		Addrs:      r.addrs,
		MasterName: r.MasterName,
		Username:   r.username,
		Password:   r.password,
		DB:         r.DB,
		ClientName: "caddy-logout-oidc",
		PoolSize:   4,
		// The provider waits a few seconds at most; a Redis that does not
		// answer falls back to this node's own set (oidclogout.Receiver).
		DialTimeout:              time.Second,
		ReadTimeout:              time.Second,
		WriteTimeout:             time.Second,
		ContextTimeoutEnabled:    true,
		MaxRetries:               1,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if r.tlsConfig != nil {
		uo.TLSConfig = r.tlsConfig.Clone()
	}
	return goredis.NewUniversalClient(uo)
}

// keyPrefix is the store's key prefix, under which the jti keys go.
func (r *RedisStore) keyPrefix() string {
	if r.KeyPrefix == "" {
		return redis.DefaultKeyPrefix
	}
	return r.KeyPrefix
}

// The OIDC receivers' metrics; the collectors live for the process.
var (
	oidcTokensTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "oidc_logout_tokens_total",
		Help: "Back-channel logout requests: accepted, or the reason they were refused.",
	}, []string{"result"})
	oidcRevokedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "oidc_sessions_revoked_total",
		Help: "Gateway sessions revoked by accepted back-channel logout tokens.",
	})
	oidcFrontTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "oidc_frontchannel_total",
		Help: "Front-channel logout requests by result: ended, no_session, mismatch, bad_request, head, method, store_error.",
	}, []string{"result"})
)

type oidcObserver struct{}

func newOIDCObserver(ctx caddy.Context) oidcObserver {
	registerCollectors(ctx, oidcTokensTotal, oidcRevokedTotal, oidcFrontTotal)
	return oidcObserver{}
}

func (oidcObserver) BackChannel(accepted bool, reason oidclogout.Reason, revoked int) {
	if accepted {
		oidcTokensTotal.WithLabelValues("accepted").Inc()
		oidcRevokedTotal.Add(float64(revoked))
		return
	}
	oidcTokensTotal.WithLabelValues(string(reason)).Inc()
}

func (oidcObserver) FrontChannel(result string) { oidcFrontTotal.WithLabelValues(result).Inc() }

// oidcOwners is how the receivers find sessions by their owner: the
// owners the identity block records (nil without it).
func (h *Handler) oidcOwners(cfg *flow.Config) ownerLookup {
	if cfg.Owners == nil {
		return nil
	}
	lifetime := cfg.SessionLifetime
	if lifetime <= 0 {
		lifetime = flow.DefaultSessionLifetime
	}
	return ownersLookup{owners: cfg.Owners, lifetime: lifetime}
}

// ownersLookup finds and revokes sessions through the recorded owners, on
// every node that shares the store.
type ownersLookup struct {
	owners   *session.Owners
	lifetime time.Duration
}

func (o ownersLookup) RevokeIssuerSession(ctx context.Context, iss, sid string) (int, error) {
	return o.owners.RevokeOwner(ctx, session.ByIssuerSession(iss, sid), session.RevokeOwnerOptions{Lifetime: o.lifetime})
}

func (o ownersLookup) RevokeIssuerSubject(ctx context.Context, iss, sub string) (int, error) {
	return o.owners.RevokeOwner(ctx, session.ByIssuerSubject(iss, sub), session.RevokeOwnerOptions{Lifetime: o.lifetime})
}

// OwnerOf implements ownerLookup. A store that cannot answer counts as no
// record: the front channel then ends no session named in its URL.
func (o ownersLookup) OwnerOf(ctx context.Context, id session.ID) (iss, sid string, ok bool) {
	rec, ok, err := o.owners.OwnerOf(ctx, id)
	if err != nil || !ok {
		return "", "", false
	}
	return rec.Owner.Issuer, rec.Owner.SessionID, true
}

// oidcIDToken is the identity block's id_token placeholder.
func (h *Handler) oidcIDToken() string {
	if h.Identity == nil {
		return ""
	}
	return h.Identity.IDToken
}
