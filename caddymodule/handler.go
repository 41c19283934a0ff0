package caddymodule

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler gives the app behind it real logout: Kratos-compatible browser
// and API logout endpoints, a guard that refuses revoked sessions on every
// request, and zero-code logout around the app's own logout path.
type Handler struct {
	// Session cookie names, in lookup order, or patterns where '*' matches
	// any run of characters (DW*). Default: ory_kratos_session.
	Cookies []string `json:"cookies,omitempty"`
	// Header carrying a session token. Default: X-Session-Token.
	// Authorization: Bearer is always read too.
	TokenHeader string `json:"token_header,omitempty"`
	// Also clear the cookies with these Domain attributes.
	CookieDomains []string `json:"cookie_domains,omitempty"`
	// Path attributes the cookies were set with; deletions go out once per
	// path (and per domain). A path or a list of them. Default: /.
	CookiePath PathList `json:"cookie_path,omitempty"`
	// SameSite attribute: lax (default), strict or none.
	CookieSameSite string `json:"cookie_samesite,omitempty"`

	// Prefix of the logout endpoints. Default: /self-service/logout.
	Endpoints string `json:"endpoints,omitempty"`
	// Base of the logout URLs handed out. Default: the request's own
	// scheme and host.
	PublicURL string `json:"public_url,omitempty"`
	// The app's own logout requests (zero-code logout): paths, each with
	// the query parameters it must carry, such as /doku.php?do=logout.
	Intercept []string `json:"intercept,omitempty"`
	// More of them as Caddy request matcher sets: all matchers of a set
	// must match, any set may. A set's query matcher is read however a
	// client spells the query, and its other matchers also see the request
	// with its path in normal form.
	InterceptMatchRaw []caddy.ModuleMap `json:"intercept_match,omitempty" caddy:"namespace=http.matchers"`

	// Where a logout goes without a return_to. Default: public_url, or
	// the request's own origin.
	DefaultReturnURL string `json:"default_return_url,omitempty"`
	// Where else a logout may go: scheme, host (a leading *. matches
	// subdomains) and a path prefix on a segment boundary.
	AllowedReturnURLs []string `json:"allowed_return_urls,omitempty"`
	// Error UI for browsers; it receives ?id= and fetches the error from
	// the errors endpoint.
	ErrorURL string `json:"error_url,omitempty"`

	// Keys for logout tokens and error ids, at least 32 bytes each; the
	// first signs, all verify. Placeholders such as {env.LOGOUT_KEY} or
	// {file./run/secrets/logout_key} are resolved at load. Default: a key
	// generated once and kept in Caddy's storage.
	SigningKeys []string `json:"signing_keys,omitempty"`
	// Cookies (names or globs) whose values the gateway seals for each
	// issuance: for a remember-me cookie the app never rotates. They are
	// session cookies too.
	Seal []string `json:"seal,omitempty"`
	// Keys that seal them, at least 32 bytes each, placeholders as for
	// signing_keys; the first seals, all open. Default: the signing keys.
	SealKeys []string `json:"seal_keys,omitempty"`
	// How long a logout URL stays valid. Default: 24h.
	TokenTTL caddy.Duration `json:"token_ttl,omitempty"`
	// How long a revocation is remembered: the app's session lifetime.
	// Default: 720h.
	SessionLifetime caddy.Duration `json:"session_lifetime,omitempty"`

	// What the guard does with a revoked credential: strip (default),
	// deny or redirect.
	OnRevoked string `json:"on_revoked,omitempty"`
	// Where on_revoked redirect sends browsers.
	OnRevokedRedirect string `json:"on_revoked_redirect,omitempty"`
	// Clear-Site-Data types sent on logout over HTTPS, e.g. cookies,
	// storage. "cache" only if you mean it: it stalls Chrome.
	ClearSiteData []string `json:"clear_site_data,omitempty"`

	// Who sessions belong to, so that every session of an owner can be
	// logged out (admin API, the self-service /sessions endpoints).
	Identity *IdentityConfig `json:"identity,omitempty"`

	// The session store: a logout.stores.* module. Default: bolt.
	StoreRaw json.RawMessage `json:"store,omitempty" caddy:"namespace=logout.stores inline_key=backend"`
	// The cache in front of the store.
	Cache *CacheConfig `json:"cache,omitempty"`
	// When the store cannot answer: allow (default, with a warning and a
	// metric) or deny (503).
	OnStoreError string `json:"on_store_error,omitempty"`

	// Single logout with OpenID Connect providers, one entry per client.
	OIDCLogout []*OIDCLogout `json:"oidc_logout,omitempty"`

	gateway  *flow.Gateway
	cacheKey string // this handler's reference in cachePool
	oidc     *oidcRoutes
	// ownersKey is its reference in ownersPool, with identity.
	ownersKey string
	logger    *zap.Logger
}

// CacheConfig sizes the cache in front of the store.
type CacheConfig struct {
	// At most this many sessions are cached. Default: 1000000.
	MaxEntries int64 `json:"max_entries,omitempty"`
	// How long a "not revoked" answer may be believed. Default: 10s.
	NegativeTTL caddy.Duration `json:"negative_ttl,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.logout",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision turns the config into ready objects: parsed URLs, keys,
// compiled allowlists, the shared store and cache.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()

	cfg, err := h.flowConfig()
	if err != nil {
		return err
	}
	if cfg.Keys, err = loadKeys(ctx, h.SigningKeys, h.logger); err != nil {
		return err
	}
	if len(h.SealKeys) > 0 {
		if cfg.Sealer, err = loadSealKeys(h.SealKeys); err != nil {
			return err
		}
	}
	if cfg.InterceptRules, err = h.loadInterceptRules(ctx); err != nil {
		return err
	}

	storeModule, err := h.loadStoreModule(ctx)
	if err != nil {
		return err
	}
	var opts session.CacheOptions
	if h.Cache != nil {
		opts.MaxEntries = h.Cache.MaxEntries
		opts.NegativeTTL = time.Duration(h.Cache.NegativeTTL)
	}
	lifetime := time.Duration(h.SessionLifetime)
	if lifetime <= 0 {
		lifetime = flow.DefaultSessionLifetime
	}
	var cache *session.Cache
	if h.cacheKey, cache, err = acquireCache(ctx, storeModule, opts, lifetime); err != nil {
		return err
	}
	cfg.Store = cache
	if h.Identity != nil {
		if h.ownersKey, cfg.Owners, err = acquireOwners(ctx, cache, opts.MaxEntries); err != nil {
			return err
		}
		cfg.Identity = placeholderIdentity{idToken: h.Identity.IDToken, subject: h.Identity.Subject}
	}
	cfg.Logger = h.logger
	cfg.Observer = newObserver(ctx)
	cfg.TrustForwarded = func(r *http.Request) bool {
		trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
		return trusted
	}
	if err := h.provisionOIDC(ctx, storeModule, &cfg, h.oidcOwners(&cfg), h.oidcIDToken()); err != nil {
		return err
	}
	if h.gateway, err = flow.New(cfg); err != nil {
		return err
	}
	h.oidc.attachGateway(h.gateway)
	return nil
}

// flowConfig checks and converts everything that needs no Caddy context.
// The checks are the Caddyfile parser's too (options.go), so a Caddyfile
// fails at adapt time with a line number, and JSON config fails here.
func (h *Handler) flowConfig() (flow.Config, error) {
	cfg := flow.Config{
		Cookies:         h.Cookies,
		Seal:            h.Seal,
		TokenHeader:     h.TokenHeader,
		Cookie:          flow.CookieAttributes{Paths: h.CookiePath, Domains: h.CookieDomains},
		Prefix:          h.Endpoints,
		Intercept:       h.Intercept,
		TokenTTL:        time.Duration(h.TokenTTL),
		SessionLifetime: time.Duration(h.SessionLifetime),
		ClearSiteData:   h.ClearSiteData,
	}
	var err error
	if cfg.Cookie.SameSite, err = parseSameSite(h.CookieSameSite); err != nil {
		return cfg, err
	}
	for _, d := range h.CookieDomains {
		if err := checkCookieDomain(d); err != nil {
			return cfg, err
		}
	}
	for _, p := range h.CookiePath {
		if err := checkCookiePath(p); err != nil {
			return cfg, err
		}
	}
	if h.PublicURL != "" {
		if cfg.PublicURL, err = parseAbsoluteURL("public_url", h.PublicURL); err != nil {
			return cfg, err
		}
	}
	if h.DefaultReturnURL != "" {
		if cfg.DefaultReturnURL, err = parseDefaultReturnURL(h.DefaultReturnURL); err != nil {
			return cfg, err
		}
	}
	if cfg.ReturnPolicy, err = flow.NewReturnPolicy(h.AllowedReturnURLs); err != nil {
		return cfg, err
	}
	if h.ErrorURL != "" {
		if cfg.ErrorURL, err = parseAbsoluteURL("error_url", h.ErrorURL); err != nil {
			return cfg, err
		}
	}
	if cfg.OnRevoked, err = parseOnRevoked(h.OnRevoked, h.OnRevokedRedirect); err != nil {
		return cfg, err
	}
	cfg.OnRevokedRedirect = h.OnRevokedRedirect
	for _, t := range h.ClearSiteData {
		if err := checkClearSiteData(t); err != nil {
			return cfg, err
		}
	}
	if cfg.DenyOnStoreError, err = parseOnStoreError(h.OnStoreError); err != nil {
		return cfg, err
	}
	if len(h.SealKeys) > 0 && len(h.Seal) == 0 {
		return cfg, errors.New("seal_key: no cookie is sealed (name them with seal)")
	}
	if h.TokenTTL < 0 {
		return cfg, errors.New("token_ttl: must be positive")
	}
	if h.SessionLifetime < 0 {
		return cfg, errors.New("session_lifetime: must be positive")
	}
	if h.Identity != nil {
		if err := h.Identity.check(); err != nil {
			return cfg, err
		}
		cfg.MaxSessionsPerOwner = h.Identity.MaxSessions
	}
	if h.Cache != nil {
		if err := checkMaxEntries(h.Cache.MaxEntries); err != nil {
			return cfg, err
		}
		if h.Cache.NegativeTTL < 0 {
			return cfg, errors.New("cache negative_ttl: must be positive")
		}
	}
	return cfg, nil
}

// ServeHTTP hands the request to the flows, and offers {http.logout.url}
// to the handlers after it (templates, header, reverse_proxy header_up).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	// The value is computed only if some handler asks for it, after the
	// guard, so a stripped revoked cookie yields "". It is registered on
	// every request, since an unknown placeholder would reach the app as
	// the literal text "{http.logout.url}".
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(func(key string) (any, bool) {
			if key != logoutURLPlaceholder {
				return nil, false
			}
			u, _ := h.gateway.LogoutURL(r)
			return u, true
		})
	}
	if h.oidc.serve(w, r) {
		return nil
	}
	return h.gateway.ServeHTTP(w, r, next)
}

// logoutURLPlaceholder names a signed logout URL for the request's session.
const logoutURLPlaceholder = "http.logout.url"

// Cleanup lets go of the shared store and cache; the last user closes them.
func (h *Handler) Cleanup() error {
	h.oidc.cleanup()
	if h.ownersKey != "" {
		_, _ = ownersPool.Delete(h.ownersKey)
		h.ownersKey = ""
	}
	if h.cacheKey == "" {
		return nil
	}
	_, err := cachePool.Delete(h.cacheKey)
	h.cacheKey = ""
	return err
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
