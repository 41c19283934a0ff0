package flow

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// IdentitySource tells the gateway who a request's session belongs to.
// caddymodule evaluates the identity block's placeholders; tests pass a
// function.
//
// The guard reads it twice for a session this node has not recorded yet:
// before the handlers behind it run, and after (when the response starts,
// or when they return without one). A value a handler set or changed on the
// way (forward_auth's copied headers, basic_auth's user) is confirmed; a
// value that was already the client's is only claimed. Claimed owners are
// recorded too, so that revoking the owner also ends a forger's session,
// but they cannot act on the owner's other sessions (self-service) and the
// per-owner cap pushes them out first.
type IdentitySource interface {
	Identity(r *http.Request) IdentityValues
}

// IdentityValues are the raw identity of a request: an OpenID Connect ID
// token (a JWT, "Bearer " allowed) and a subject. Either may be empty; a
// subject wins over the token's sub.
type IdentityValues struct {
	IDToken string
	Subject string
}

// IdentityFunc adapts a function to IdentitySource.
type IdentityFunc func(r *http.Request) IdentityValues

// Identity calls f.
func (f IdentityFunc) Identity(r *http.Request) IdentityValues { return f(r) }

// maxLearnedPerRequest bounds the credentials of one request that are
// recorded (a request carries one session, rarely two).
const maxLearnedPerRequest = 4

// serveLearning passes a request with a session this node has not
// recorded to the app, and records the owner of its unknown sessions once
// the handlers behind have run. (The guard only noted that there is one,
// so that a known session costs it nothing more.) sent is the Cookie
// header as the browser sent it: the sessions are its sealed values, not
// the app's values the app's header holds by now (seal.go).
func (g *Gateway) serveLearning(w http.ResponseWriter, r *http.Request, next Next, sent []string) error {
	sessions := r
	if g.seal != nil {
		sessions = &http.Request{Header: r.Header.Clone()}
		sessions.Header["Cookie"] = sent
	}
	var ids []session.ID
	g.eachCredential(sessions, func(c credential) bool {
		if len(c.value) <= MaxCredentialLength && c.kind != fromUnreadableCookie {
			if id := c.id(); !g.cfg.Owners.Known(id, g.ownerPolicy) && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		return len(ids) < maxLearnedPerRequest
	})
	// Seen now, when the guard let the session through: a revocation by
	// owner made while the app is still answering covers this session.
	seen := g.now()
	before := g.cfg.Identity.Identity(r)
	lw := &learningWriter{ResponseWriter: w, learn: func() { g.learn(r, seen, before, ids) }}
	err := next.ServeHTTP(lw, r)
	lw.once.Do(lw.learn) // the app wrote no response (an error for Caddy to answer)
	return err
}

// learn reads the identity again and records the sessions' owner.
func (g *Gateway) learn(r *http.Request, seen time.Time, before IdentityValues, ids []session.ID) {
	after := g.cfg.Identity.Identity(r)
	owner, since, confirmed, ok := readOwner(before, after)
	if !ok {
		return // anonymous: asked again on its next request
	}
	if err := owner.Check(); err != nil {
		g.cfg.Logger.Debug("identity not recorded", zap.Error(err))
		return
	}
	if since.IsZero() || since.After(seen) {
		since = seen
	}
	for _, id := range ids {
		g.cfg.Owners.Learn(session.Sighting{ID: id, Owner: owner, Seen: seen, Since: since, Confirmed: confirmed}, g.ownerPolicy)
	}
}

// readOwner builds the owner from the identity read after the handlers
// behind ran, and says whether they confirmed it (see IdentitySource).
func readOwner(before, after IdentityValues) (owner session.Owner, since time.Time, confirmed, ok bool) {
	confirmed = true
	if token := bearerOrBare(after.IDToken); token != "" {
		if c, decoded := decodeIDToken(token); decoded {
			owner = session.Owner{Issuer: c.Issuer, Subject: c.Subject, SessionID: c.SessionID}
			since = c.since()
			confirmed = after.IDToken != before.IDToken
		}
	}
	if sub := strings.TrimSpace(after.Subject); sub != "" {
		owner.Subject = sub
		confirmed = confirmed && after.Subject != before.Subject
	}
	return owner, since, confirmed, owner.Subject != ""
}

// bearerOrBare strips an optional "Bearer " from an ID token.
func bearerOrBare(v string) string {
	if t, ok := bearerToken(v); ok {
		return t
	}
	return strings.TrimSpace(v)
}

// idClaims are the claims of an ID token the gateway records.
type idClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	SessionID string           `json:"sid"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	AuthTime  *jwt.NumericDate `json:"auth_time"`
}

// since is the earliest time the token says the session existed.
func (c idClaims) since() time.Time {
	var t time.Time
	for _, d := range []*jwt.NumericDate{c.AuthTime, c.IssuedAt} {
		if d != nil && *d > 0 && (t.IsZero() || d.Time().Before(t)) {
			t = d.Time()
		}
	}
	return t
}

// idTokenAlgorithms are the signature algorithms a JWS may name to be
// decoded. The signature is not checked (see decodeIDToken), so the list
// only keeps out what is not a signed JWT at all ("none", encrypted).
var idTokenAlgorithms = []jose.SignatureAlgorithm{
	jose.EdDSA, jose.HS256, jose.HS384, jose.HS512, jose.RS256, jose.RS384, jose.RS512,
	jose.ES256, jose.ES384, jose.ES512, jose.PS256, jose.PS384, jose.PS512,
}

// decodeIDToken reads a JWT's claims WITHOUT verifying its signature. That
// is safe here, and only here: the claims only ever decide which sessions
// a revocation refuses, so a forged token can at most get the forger's own
// session revoked along with the user it names.
func decodeIDToken(raw string) (idClaims, bool) {
	if len(raw) > MaxCredentialLength {
		return idClaims{}, false
	}
	tok, err := jwt.ParseSigned(raw, idTokenAlgorithms)
	if err != nil {
		return idClaims{}, false
	}
	var c idClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Subject == "" {
		return idClaims{}, false
	}
	return c, true
}

// learningWriter records the owner when the app starts its answer: by
// then every handler behind the gateway has run (forward_auth, basic_auth),
// and a long answer (a stream, a WebSocket) is not waited for.
type learningWriter struct {
	http.ResponseWriter
	learn func()
	once  sync.Once
}

func (w *learningWriter) WriteHeader(code int) {
	w.once.Do(w.learn)
	w.ResponseWriter.WriteHeader(code)
}

func (w *learningWriter) Write(p []byte) (int, error) {
	w.once.Do(w.learn)
	return w.ResponseWriter.Write(p)
}

// Flush implements http.Flusher for handlers that assert it.
func (w *learningWriter) Flush() {
	w.once.Do(w.learn)
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the writer below (Hijack for
// WebSockets, deadlines).
func (w *learningWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// RevokeOwner revokes every recorded session of key, on every node that
// shares the store, for this configuration's session lifetime, and answers
// how many it revoked. It is the one way to revoke by owner: the admin API,
// the self-service endpoints and OpenID Connect logout all call it (via
// names the caller in the audit line and the metric: "admin",
// "self_service", "oidc_backchannel", ...). A session seen before now on a
// node whose record has not reached the store yet is revoked when the
// record arrives (session.Owners.RevokeOwner says how); one first seen
// after now is a new login and passes.
func (g *Gateway) RevokeOwner(ctx context.Context, key session.OwnerKey, via string) (int, error) {
	return g.revokeOwner(ctx, key, via, session.ID{})
}

func (g *Gateway) revokeOwner(ctx context.Context, key session.OwnerKey, via string, except session.ID) (int, error) {
	if g.cfg.Owners == nil {
		return 0, session.ErrNoOwnerIndex
	}
	n, err := g.cfg.Owners.RevokeOwner(ctx, key, session.RevokeOwnerOptions{Lifetime: g.cfg.SessionLifetime, Except: except})
	if o, ok := g.cfg.Observer.(OwnerObserver); ok {
		o.OwnerRevoked(via, n, err)
	}
	fields := append(key.LogFields(), zap.String("via", via), zap.Int("sessions", n))
	if err != nil {
		g.audit.Warn("owner revocation failed", append(fields, zap.Error(err))...)
		return n, err
	}
	g.audit.Info("owner revoked", fields...)
	return n, nil
}

// OwnerObserver is an Observer that also counts revocations by owner.
type OwnerObserver interface {
	// OwnerRevoked is called once per revocation by owner: via names the
	// caller, n the sessions revoked, err its failure.
	OwnerRevoked(via string, n int, err error)
}
