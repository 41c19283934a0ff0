package flow

import (
	"net/http"

	"github.com/caddy-logout/caddy-logout/session"
)

// What single logout with an identity provider needs from the gateway: a
// way to end the browser session a request carries (front-channel logout),
// and the chain from the gateway's logouts to the provider's own
// (Config.EndSession). The protocols themselves live in flow/oidclogout.

// endSession is where a logged-out browser goes: returnTo, or where
// Config.EndSession sends it instead.
func (g *Gateway) endSession(r *http.Request, id session.ID, returnTo string) string {
	if g.cfg.EndSession == nil {
		return returnTo
	}
	if u, ok := g.cfg.EndSession(r, id, returnTo); ok {
		return u
	}
	return returnTo
}

// endSessionOf is endSession for an intercepted logout, whose session is
// the request's primary session cookie (still on the request: intercept
// revokes, it does not strip).
func (g *Gateway) endSessionOf(r *http.Request, returnTo string) string {
	if g.cfg.EndSession == nil {
		return returnTo
	}
	c, ok := g.primaryCookie(r)
	if !ok || len(c.value) > MaxCredentialLength {
		return returnTo
	}
	return g.endSession(r, c.id(), returnTo)
}

// EndBrowserSession ends the session the request's session cookie names,
// when accept agrees with it: that session and every other configured
// session cookie the request carries are revoked, and the cookies cleared
// on w, as the browser logout does. A session revoked already, or no
// session cookie at all, ends nothing. It reports whether a session was
// ended; on a store error the cookies are cleared all the same.
func (g *Gateway) EndBrowserSession(w http.ResponseWriter, r *http.Request, accept func(session.ID) bool) (bool, error) {
	const flow = "oidc_frontchannel"
	cookie, ok := g.primaryCookie(r)
	if !ok || len(cookie.value) > MaxCredentialLength {
		return false, nil
	}
	id := cookie.id()
	if revoked, err := g.cfg.Store.Revoked(r.Context(), id); err == nil && revoked {
		return false, nil
	}
	if !accept(id) {
		return false, nil
	}
	https := g.isHTTPS(r)
	grouped, err := g.revokeSessionCookies(r, id)
	if err != nil {
		g.storeErrorLog(flow, id, err)
		g.clearBrowser(w, r.Header["Cookie"], https, nil, grouped)
		g.cfg.Observer.Logout(flow, "store_error")
		g.auditLogout(flow, "store_error", &id, r)
		return false, err
	}
	g.clearBrowser(w, r.Header["Cookie"], https, nil, grouped)
	g.cfg.Observer.Logout(flow, "ok")
	g.auditLogout(flow, "ok", &id, r)
	return true, nil
}
