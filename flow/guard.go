package flow

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// guardVerdict is the guard's finding for one request.
type guardVerdict uint8

const (
	verdictPass guardVerdict = iota
	verdictRevoked
	verdictStoreDown // and DenyOnStoreError is set
	verdictTooLong
)

// guard lets a request through to the app unless it carries a revoked
// credential. This runs on every proxied request: a request without
// credentials costs a few header lookups, one with credentials a hash and
// a cache hit, and neither allocates.
func (g *Gateway) guard(w http.ResponseWriter, r *http.Request, next Next) error {
	verdict := verdictPass
	var revoked credential
	g.eachCredential(r, func(c credential) bool {
		verdict = g.check(r, c)
		if verdict == verdictRevoked {
			revoked = c
		}
		return verdict == verdictPass
	})

	switch verdict {
	case verdictPass:
		return next.ServeHTTP(w, r)
	case verdictTooLong:
		g.writeError(w, r, errCredentialTooLong(), !wantsJSON(r))
		return nil
	case verdictStoreDown:
		w.Header().Set("Retry-After", "1")
		g.writeError(w, r, errStoreUnavailable(), !wantsJSON(r))
		return nil
	}
	return g.refuse(w, r, next, revoked)
}

// check decides one credential.
func (g *Gateway) check(r *http.Request, c credential) guardVerdict {
	if len(c.value) > MaxCredentialLength {
		return verdictTooLong
	}
	id := session.IDOf(c.value)
	revoked, err := g.cfg.Store.Revoked(r.Context(), id)
	switch {
	case err != nil:
		g.cfg.Observer.Guard("store_error")
		g.storeErrorLog("guard", id, err)
		if g.cfg.DenyOnStoreError {
			return verdictStoreDown
		}
		return verdictPass
	case revoked:
		g.cfg.Observer.Guard("revoked")
		g.audit.Info("revoked credential refused",
			zap.String("session", id.Short()),
			zap.String("credential", c.name),
			zap.String("remote_addr", r.RemoteAddr),
			zap.String("uri", r.URL.Path))
		return verdictRevoked
	}
	g.cfg.Observer.Guard("passed")
	return verdictPass
}

// refuse applies on_revoked to a request with a revoked credential. The
// dead cookie is cleared whatever the action: it will never work again.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, next Next, c credential) error {
	https := g.isHTTPS(r)
	if c.kind == fromCookie || c.kind == fromChunkedCookie {
		g.cookies.clearOne(w, r, c.name, https)
	}
	switch g.cfg.OnRevoked {
	case Deny:
		g.writeError(w, r, errNoSession(), !wantsJSON(r))
		return nil
	case Redirect:
		if wantsJSON(r) {
			writeJSONError(w, errNoSession())
			return nil
		}
		setNoCache(w.Header())
		http.Redirect(w, r, g.cfg.OnRevokedRedirect, http.StatusSeeOther)
		return nil
	}
	// Strip: remove every revoked credential, so the app sees an anonymous
	// visitor; a valid one riding along stays.
	stripCredential(r, c)
	for {
		var more credential
		found := false
		g.eachCredential(r, func(c credential) bool {
			if g.check(r, c) == verdictRevoked {
				more, found = c, true
			}
			return !found
		})
		if !found {
			break
		}
		if more.kind == fromCookie || more.kind == fromChunkedCookie {
			g.cookies.clearOne(w, r, more.name, https)
		}
		stripCredential(r, more)
	}
	return next.ServeHTTP(w, r)
}
