package flow

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// guardVerdict is the guard's finding for one request.
type guardVerdict uint8

const (
	verdictPass guardVerdict = iota
	verdictRevoked
	verdictRefuseUnchecked // the store could not answer, and the request may not pass unchecked
	verdictTooLong
)

// guard lets a request through to the app unless it carries a revoked
// credential. This runs on every proxied request: a request without
// credentials costs a few header lookups, one with credentials a hash and
// a cache hit per credential, and neither allocates.
func (g *Gateway) guard(w http.ResponseWriter, r *http.Request, next Next) error {
	verdict := verdictPass
	var revoked []credential // allocated only when something is revoked
	// With identity on: some session here has no owner recorded on this
	// node yet (serveLearning finds which).
	learn := false
	decide := func(c credential) bool {
		v, id := g.check(r, c)
		switch v {
		case verdictRevoked:
			revoked = append(revoked, c)
			verdict = v
			// strip removes every revoked credential; the others need one.
			return g.cfg.OnRevoked == Strip
		case verdictTooLong, verdictRefuseUnchecked:
			verdict = v
			return false
		}
		// A piece the app never gets is no session of the app's to learn.
		if g.cfg.Owners != nil && !learn && c.kind != fromUnreadableCookie && !g.cfg.Owners.Known(id, g.ownerPolicy) {
			learn = true
		}
		return true
	}
	shape := g.eachCredential(r, decide)
	sent := shape.sent // the app's Cookie header may be rewritten below
	// Pieces that may be session cookies but are not clean are read only
	// when there are some, and only while the request may still go on.
	if shape.unreadable && (verdict == verdictPass || verdict == verdictRevoked && g.cfg.OnRevoked == Strip) {
		g.eachUnreadableCookie(r.Header["Cookie"], decide)
	}

	switch verdict {
	case verdictPass:
		if shape.rewrite() {
			g.forwardCookies(r, nil)
		}
		if learn {
			return g.serveLearning(w, r, g.watched(next, sent), sent)
		}
		return g.serveApp(w, r, next, sent)
	case verdictTooLong:
		g.writeError(w, r, errCredentialTooLong(), !wantsJSON(r))
		return nil
	case verdictRefuseUnchecked:
		w.Header().Set("Retry-After", "1")
		g.writeError(w, r, errStoreUnavailable(), !wantsJSON(r))
		return nil
	}
	return g.refuse(w, r, next, revoked, sent)
}

// check decides one credential, and names its session.
func (g *Gateway) check(r *http.Request, c credential) (guardVerdict, session.ID) {
	if len(c.value) > MaxCredentialLength {
		return verdictTooLong, session.ID{}
	}
	id := c.id()
	revoked, err := g.cfg.Store.Revoked(r.Context(), id)
	switch {
	case err != nil:
		g.cfg.Observer.Guard("store_error")
		g.storeErrorLog("guard", id, err)
		// on_store_error allow rides out an outage. A closed store is not
		// one: its config was replaced and no store took its place.
		if g.cfg.DenyOnStoreError || errors.Is(err, session.ErrClosed) {
			return verdictRefuseUnchecked, id
		}
		return verdictPass, id
	case revoked:
		g.cfg.Observer.Guard("revoked")
		// Check first: with the audit log off, the fields are never built.
		if ce := g.refusedAudit.Check(zap.InfoLevel, "revoked credential refused"); ce != nil {
			ce.Write(
				zap.String("session", id.Short()),
				zap.String("credential", c.name),
				zap.String("remote_addr", r.RemoteAddr),
				zap.String("uri", r.URL.Path))
		}
		return verdictRevoked, id
	}
	g.cfg.Observer.Guard("passed")
	return verdictPass, id
}

// refuse applies on_revoked to a request with revoked credentials. Dead
// cookies are cleared whatever the action: they will never work again.
func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, next Next, revoked []credential, sent []string) error {
	https := g.isHTTPS(r)
	for _, c := range revoked {
		if c.isCookie() {
			g.cookies.clearOne(w, sent, c.name, https, nil)
		}
	}
	switch g.cfg.OnRevoked {
	case Deny:
		// A 401 for the request itself, not a trip to the error UI: the
		// browser asked for an app page and should see that it was refused.
		setNoCache(w.Header())
		if wantsJSON(r) {
			writeJSONError(w, errNoSession())
		} else {
			writeErrorPage(w, errNoSession())
		}
		return nil
	case Redirect:
		if wantsJSON(r) {
			g.writeError(w, r, errNoSession(), false)
			return nil
		}
		setNoCache(w.Header())
		http.Redirect(w, r, g.cfg.OnRevokedRedirect, http.StatusSeeOther)
		return nil
	}
	// Strip: the app sees an anonymous visitor. Credentials of another
	// name or kind riding along stay; a valid cookie sharing the revoked
	// one's name goes with it (the request is not worth untangling).
	g.stripRevoked(r, revoked, len(r.Header["Cookie"]) > 0)
	return g.serveApp(w, r, next, sent)
}
