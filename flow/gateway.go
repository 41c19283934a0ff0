// Package flow is caddy-logout's behaviour as plain net/http code: the
// Kratos-compatible browser and API logout flows, the guard that refuses
// revoked sessions, zero-code logout around an app's own logout path,
// return_to validation, cookie clearing and error answers. It knows
// nothing of Caddy; caddymodule wires it in.
package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-logout/caddy-logout/session"
)

// Revocations is what the flows need from the session layer; a
// *session.Cache provides it.
type Revocations interface {
	Revoke(ctx context.Context, id session.ID, until time.Time) error
	Revoked(ctx context.Context, id session.ID) (bool, error)
}

// Next is the rest of the handler chain (the app). Caddy's
// caddyhttp.Handler has this shape, so the glue passes it straight in.
type Next interface {
	ServeHTTP(http.ResponseWriter, *http.Request) error
}

// NextFunc adapts a function to Next.
type NextFunc func(http.ResponseWriter, *http.Request) error

// ServeHTTP calls f.
func (f NextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// RevokedAction is what the guard does with a revoked credential.
type RevokedAction uint8

const (
	// Strip removes the credential and clears the cookie: the app sees an
	// anonymous visitor.
	Strip RevokedAction = iota
	// Deny answers 401.
	Deny
	// Redirect sends browsers to a login page (JSON clients get the 401).
	Redirect
)

// Config is everything a Gateway needs, already parsed and checked.
type Config struct {
	Cookies     []string // session cookie names, in lookup order
	TokenHeader string   // besides Authorization: Bearer
	Cookie      CookieAttributes
	// Seal names the cookies (names or globs) whose values the gateway
	// seals per issuance (seal.go); they are session cookies too. Sealer
	// seals them; default: one on Keys.
	Seal   []string
	Sealer *session.Sealer

	Prefix    string   // endpoints prefix, e.g. /self-service/logout
	PublicURL *url.URL // base of logout_url; nil: the request's own origin
	// The app's own logout requests: shorthands (`/logout`,
	// `/doku.php?do=logout`, see ParseIntercept) and rules.
	Intercept      []string
	InterceptRules []InterceptRule

	DefaultReturnURL *url.URL // nil: the request's own origin
	ReturnPolicy     *ReturnPolicy
	ErrorURL         *url.URL

	Keys            *session.Keys
	TokenTTL        time.Duration
	SessionLifetime time.Duration

	OnRevoked         RevokedAction
	OnRevokedRedirect string
	ClearSiteData     []string // e.g. cookies, storage
	// DenyOnStoreError refuses requests whose session cannot be checked;
	// by default they pass (with a warning), since an outage of the store
	// should not take the site down.
	DenyOnStoreError bool

	Store Revocations
	// Groups remembers which session cookies belong together (groups.go).
	// Default: Store's, when it keeps them (a *session.Cache does).
	Groups Groups

	// Identity and Owners give sessions an owner: Identity says who a
	// request's session belongs to (read after the handlers behind ran),
	// Owners records it in the store and revokes by owner. Both or neither;
	// with them the self-service session endpoints are served.
	Identity IdentitySource
	Owners   *session.Owners
	// MaxSessionsPerOwner caps the sessions recorded per owner. Default
	// session.DefaultMaxSessionsPerOwner.
	MaxSessionsPerOwner int

	// EndSession, when set, may send a browser on after its logout (the
	// browser flow's redirect and an intercepted logout's Location): given
	// the logged-out session and the checked return URL, it answers where
	// to go instead, such as an identity provider's end_session_endpoint
	// that returns to that URL.
	EndSession func(r *http.Request, id session.ID, returnTo string) (string, bool)

	// TrustForwarded reports whether the request came through a trusted
	// proxy, so that X-Forwarded-Proto/Host may be believed.
	TrustForwarded func(*http.Request) bool
	Logger         *zap.Logger
	Observer       Observer
	Now            func() time.Time
}

// Defaults of Config.
const (
	DefaultCookie          = "ory_kratos_session"
	DefaultTokenHeader     = "X-Session-Token"
	DefaultPrefix          = "/self-service/logout"
	DefaultTokenTTL        = 24 * time.Hour
	DefaultSessionLifetime = 720 * time.Hour
)

// Gateway serves the logout endpoints and guards everything else.
type Gateway struct {
	cfg Config

	browserPath, apiPath, errorsPath string
	sessionsPath, sessionPrefix      string // "" without identity; the prefix ends in "/"
	ownerPolicy                      session.OwnerPolicy
	tokenHeaders                     []string // every spelling of cfg.TokenHeader
	intercept                        *interceptMatcher
	cookies                          *cookieClearer
	cookieGlobs                      []cookieGlob // cookie names with '*'
	seal                             *sealing     // nil: no sealed cookies
	grp                              groupLearning
	answers                          answerWatching
	clearSiteData                    string
	audit                            *zap.Logger
	// refusedAudit logs revoked credentials the guard refuses, sampled: a
	// client replaying a dead cookie in a loop must not flood the log (the
	// metric still counts every refusal).
	refusedAudit *zap.Logger
}

// New checks cfg, fills in defaults and prepares what the request path
// only reads.
func New(cfg Config) (*Gateway, error) {
	if len(cfg.Cookies) == 0 && len(cfg.Seal) == 0 {
		cfg.Cookies = []string{DefaultCookie}
	}
	for _, c := range cfg.Cookies {
		if err := CheckCookiePattern(c); err != nil {
			return nil, err
		}
	}
	for _, c := range cfg.Seal {
		if err := CheckSealPattern(c); err != nil {
			return nil, err
		}
		if !slices.Contains(cfg.Cookies, c) {
			cfg.Cookies = append(slices.Clip(cfg.Cookies), c) // a sealed cookie is a session cookie
		}
	}
	if cfg.TokenHeader == "" {
		cfg.TokenHeader = DefaultTokenHeader
	}
	if err := CheckTokenHeader(cfg.TokenHeader); err != nil {
		return nil, err
	}
	cfg.TokenHeader = textproto.CanonicalMIMEHeaderKey(cfg.TokenHeader)
	if len(cfg.Cookie.Paths) == 0 {
		cfg.Cookie.Paths = []string{"/"}
	}
	if cfg.Cookie.SameSite == 0 {
		cfg.Cookie.SameSite = http.SameSiteLaxMode
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if err := CheckPrefix(cfg.Prefix); err != nil {
		return nil, err
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = DefaultSessionLifetime
	}
	if cfg.ReturnPolicy == nil {
		p, err := NewReturnPolicy(nil)
		if err != nil {
			return nil, err
		}
		cfg.ReturnPolicy = p
	}
	if cfg.Keys == nil {
		return nil, errors.New("signing keys are required")
	}
	if cfg.Store == nil {
		return nil, errors.New("a session store is required")
	}
	if (cfg.Identity == nil) != (cfg.Owners == nil) {
		return nil, errors.New("identity needs a store that records session owners, and the other way round")
	}
	if cfg.MaxSessionsPerOwner < 0 {
		return nil, errors.New("max_sessions: must be positive")
	}
	if cfg.OnRevoked == Redirect && cfg.OnRevokedRedirect == "" {
		return nil, errors.New("on_revoked redirect needs a URL")
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
	if cfg.TrustForwarded == nil {
		cfg.TrustForwarded = func(*http.Request) bool { return false }
	}
	// Exact names stay in cfg.Cookies (the hot path loops over them as
	// before); globs are matched in one more pass, only when there are any.
	var globs []cookieGlob
	cfg.Cookies, globs = splitCookiePatterns(cfg.Cookies, cfg.Logger)
	rules := make([]InterceptRule, 0, len(cfg.Intercept)+len(cfg.InterceptRules))
	for _, s := range cfg.Intercept {
		rule, err := ParseIntercept(s)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	im, err := newInterceptMatcher(append(rules, cfg.InterceptRules...), cfg.Logger)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:          cfg,
		browserPath:  cfg.Prefix + "/browser",
		apiPath:      cfg.Prefix + "/api",
		errorsPath:   path.Join(path.Dir(cfg.Prefix), "errors"),
		intercept:    im,
		cookies:      newCookieClearer(cfg.Cookies, cfg.Cookie),
		cookieGlobs:  globs,
		tokenHeaders: headerSpellings(cfg.TokenHeader),
		audit:        cfg.Logger.Named("audit"),
		ownerPolicy:  session.OwnerPolicy{Lifetime: cfg.SessionLifetime, MaxPerOwner: cfg.MaxSessionsPerOwner},
	}
	if cfg.Owners != nil {
		// Where Kratos has them: beside /self-service.
		g.sessionsPath = path.Join(path.Dir(path.Dir(cfg.Prefix)), "sessions")
		g.sessionPrefix = g.sessionsPath + "/"
	}
	if !pathCovers(cfg.Cookie.Paths, cfg.Prefix) {
		// Browsers send a cookie only under its Path: the browser flow
		// would never see the session.
		cfg.Logger.Warn("the browser logout endpoints are outside cookie_path, so browsers will not send the session cookie to them; move endpoints under it",
			zap.Strings("cookie_path", cfg.Cookie.Paths), zap.String("endpoints", cfg.Prefix))
	}
	g.grp.groups = cfg.Groups
	if g.grp.groups == nil {
		g.grp.groups, _ = cfg.Store.(Groups)
	}
	g.grp.learn = g.learnsGroups()
	if len(cfg.Seal) > 0 {
		sealer := cfg.Sealer
		if sealer == nil {
			if sealer, err = cfg.Keys.Sealer(); err != nil {
				return nil, err
			}
		}
		g.seal = newSealing(cfg.Seal, sealer, cfg.Logger)
	}
	g.answers.on = g.grp.learn || g.seal != nil
	g.refusedAudit = g.audit.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		// Per second: the first 20 lines of a kind, then every 100th.
		return zapcore.NewSamplerWithOptions(c, time.Second, 20, 100)
	}))
	if len(cfg.ClearSiteData) > 0 {
		quoted := make([]string, len(cfg.ClearSiteData))
		for i, t := range cfg.ClearSiteData {
			quoted[i] = `"` + t + `"`
		}
		g.clearSiteData = strings.Join(quoted, ", ")
	}
	return g, nil
}

// pathCovers reports whether a cookie set under one of paths is sent to p.
func pathCovers(paths []string, p string) bool {
	for _, cp := range paths {
		cp = strings.TrimSuffix(cp, "/")
		if cp == "" || p == cp || strings.HasPrefix(p, cp+"/") {
			return true
		}
	}
	return false
}

// ErrorsPath is where the error UI fetches errors by id: the sibling of the
// endpoints prefix (/self-service/errors by default, as in Kratos).
func (g *Gateway) ErrorsPath() string { return g.errorsPath }

// SessionsPath is where the self-service session endpoints are (/sessions
// by default, as in Kratos), or "" when sessions have no owners.
func (g *Gateway) SessionsPath() string { return g.sessionsPath }

// ServeHTTP routes a request: the endpoints answer it themselves, an
// intercepted logout path goes through the app with logout around it, and
// everything else passes the guard on its way to next.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request, next Next) error {
	switch p := r.URL.Path; {
	case p == g.cfg.Prefix:
		g.servePerform(w, r)
		return nil
	case p == g.browserPath:
		g.serveCreate(w, r)
		return nil
	case p == g.apiPath:
		g.serveAPI(w, r)
		return nil
	case g.sessionsPath != "" && (p == g.sessionsPath || isSessionPath(p, g.sessionPrefix, r.Method)):
		g.serveSessions(w, r)
		return nil
	case p == g.errorsPath && g.cfg.ErrorURL != nil:
		// Only an error UI fetches errors by id, and ids are only issued
		// with error_url; without it the path stays the app's.
		g.serveErrors(w, r)
		return nil
	case g.intercept.any && r.Method != http.MethodHead && r.Method != http.MethodOptions && g.intercept.matches(r) && !isPrefetch(r):
		// HEAD, OPTIONS and prefetches never log out: link checkers, CORS
		// preflights and speculative loads are not the user asking to leave.
		return g.serveIntercept(w, r, next)
	}
	return g.guard(w, r, next)
}

func (g *Gateway) now() time.Time { return g.cfg.Now() }

// isHTTPS reports whether the client reached us over TLS, directly or
// through a trusted proxy.
func (g *Gateway) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return g.cfg.TrustForwarded(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// origin is the request's own scheme and host, the base of logout URLs and
// the default return URL when none is configured.
func (g *Gateway) origin(r *http.Request) *url.URL {
	scheme := "http"
	if g.isHTTPS(r) {
		scheme = "https"
	}
	host := r.Host
	if g.cfg.TrustForwarded(r) {
		if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && validHost(fh) {
			host = fh
		}
	}
	return &url.URL{Scheme: scheme, Host: host, Path: "/"}
}

// publicBase is the base for logout_url.
func (g *Gateway) publicBase(r *http.Request) *url.URL {
	if g.cfg.PublicURL != nil {
		u := *g.cfg.PublicURL
		return &u
	}
	return g.origin(r)
}

// defaultReturn is where a logout goes without a return_to.
func (g *Gateway) defaultReturn(r *http.Request) *url.URL {
	if g.cfg.DefaultReturnURL != nil {
		return g.cfg.DefaultReturnURL
	}
	if g.cfg.PublicURL != nil {
		return g.cfg.PublicURL
	}
	return g.origin(r)
}

// validHost accepts what may appear in a Host header: no spaces, slashes,
// control characters or userinfo.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`/\@?#"<>`, c) >= 0 {
			return false
		}
	}
	return true
}

// CheckCookieName checks a `cookie` option: an RFC 6265 token.
func CheckCookieName(name string) error {
	if !validCookieName(name) {
		return fmt.Errorf("cookie: %q is not a valid cookie name", name)
	}
	return nil
}

// CheckTokenHeader checks a `token_header` option: an HTTP header name
// (RFC 9110 token) that is not one the guard already reads another way.
func CheckTokenHeader(name string) error {
	if !validHeaderName(name) {
		return fmt.Errorf("token_header: %q is not an HTTP header name", name)
	}
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "Cookie", "Authorization":
		return fmt.Errorf("token_header: %s is read already (cookies by name, Authorization as Bearer); name the header that carries the bare session token, such as %s", name, DefaultTokenHeader)
	}
	return nil
}

// validHeaderName accepts an RFC 9110 token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// CheckPrefix checks an `endpoints` option.
func CheckPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || path.Clean(prefix) != prefix || prefix == "/" {
		return fmt.Errorf("endpoints: %q must be a clean absolute path such as %s", prefix, DefaultPrefix)
	}
	return nil
}

// validCookieName accepts an RFC 6265 token.
func validCookieName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Observer hears about every decision, for metrics. Implementations must
// be cheap and safe for concurrent use: the guard calls it on the hot path.
type Observer interface {
	// Logout is called once per logout attempt: flow is browser_create,
	// browser, api or intercept; result is a short word such as ok,
	// no_session, token_mismatch, forbidden, bad_request, store_error.
	Logout(flow, result string)
	// Guard is called for each request that carried a credential:
	// passed, revoked or store_error.
	Guard(decision string)
}

type nopObserver struct{}

func (nopObserver) Logout(string, string) {}
func (nopObserver) Guard(string)          {}
