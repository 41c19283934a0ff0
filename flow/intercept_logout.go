package flow

import (
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// interceptLogout is one intercepted logout on its way through the app:
// what the request carries, what has been revoked, and what the app's
// answer sets.
type interceptLogout struct {
	g         *Gateway
	r         *http.Request
	https     bool
	crossSite bool

	sent    []string     // the Cookie header as the browser sent it (the app's is rewritten)
	live    []credential // to revoke
	dead    []credential // revoked already: stripped before the app sees them
	carried []string     // names of the session cookies the request carries
	revoked map[session.ID]bool
	fresh   []setCookie // session cookies the app's answer sets to live values
	grouped []string    // names of the cookies of the revoked sessions' groups
	done    bool        // revoked, or refused
}

// newInterceptLogout runs the guard over an intercepted request: credentials
// revoked already are stripped, like on any request (whatever on_revoked
// says: the user asked to leave, and leaves); the others are to be revoked.
func (g *Gateway) newInterceptLogout(r *http.Request) *interceptLogout {
	lo := &interceptLogout{g: g, r: r, sent: r.Header["Cookie"], https: g.isHTTPS(r), crossSite: g.crossSite(r), revoked: map[session.ID]bool{}}
	shape := g.eachCredential(r, func(c credential) bool {
		if len(c.value) > MaxCredentialLength {
			return true
		}
		if c.isCookie() {
			lo.carried = append(lo.carried, c.name)
		}
		if v, id := g.check(r, c); v == verdictRevoked {
			lo.dead = append(lo.dead, c)
			lo.revoked[id] = true
		} else {
			lo.live = append(lo.live, c)
		}
		return true
	})
	// The app's logout sees the sessions it is about, and none that the
	// guard cannot read.
	g.stripRevoked(r, lo.dead, shape.rewrite())
	return lo
}

// revoke revokes the request's live credentials, once.
func (lo *interceptLogout) revoke() {
	if lo.done {
		return
	}
	lo.done = true
	g, r := lo.g, lo.r
	until := g.now().Add(g.cfg.SessionLifetime)
	var ids []session.ID
	result := "ok"
	for _, c := range lo.live {
		id := c.id()
		if lo.revoked[id] {
			continue
		}
		ids = append(ids, id)
		lo.revoked[id] = true
		if err := g.cfg.Store.Revoke(r.Context(), id, until); err != nil {
			result = "store_error"
			g.storeErrorLog("intercept", id, err)
		}
	}
	grouped, err := g.revokeGroups(r.Context(), ids, until, lo.revoked)
	lo.grouped = grouped
	if err != nil {
		result = "store_error"
		g.storeErrorLog("intercept", ids[0], err)
	}
	if len(ids) == 0 && result == "ok" {
		result = "no_session"
	}
	g.cfg.Observer.Logout("intercept", result)
	for i := range ids {
		g.auditLogout("intercept", result, &ids[i], r)
	}
	if len(ids) == 0 {
		g.auditLogout("intercept", result, nil, r)
	}
}

// refuse records a cross-site logout the app did not accept: nothing is
// revoked, the app's answer goes out as it is, and only cookies revoked
// before are cleared (they never work again anyway).
func (lo *interceptLogout) refuse(w http.ResponseWriter) {
	if lo.done {
		return
	}
	lo.done = true
	lo.g.cfg.Observer.Logout("intercept", "forbidden")
	lo.g.auditLogout("intercept", "forbidden", nil, lo.r)
	for _, c := range lo.dead {
		lo.g.cookies.clearOne(w, lo.sent, c.name, lo.https, nil)
	}
}

// appEndsSession reports whether the app's answer deletes one of the
// session cookies: the sign that it accepted the logout (an app that
// refuses one, such as WordPress without a valid nonce, leaves them).
func (lo *interceptLogout) appEndsSession(h http.Header) bool {
	now := lo.g.now()
	for _, line := range h["Set-Cookie"] {
		sc, ok := parseSetCookie(line, lo.r.URL.Path, now)
		if ok && lo.g.isSessionCookie(sc.name) && (sc.expires || sc.value == "") {
			return true
		}
	}
	return false
}

// filterAppCookies drops every Set-Cookie of the app's answer that would set
// a session cookie to a value this logout revoked (DokuWiki sends its session
// id again in its logout answer), and notes the fresh values the app sets
// (a new anonymous session), whose deletion is then left out.
func (lo *interceptLogout) filterAppCookies(h http.Header) {
	lines := h["Set-Cookie"]
	if len(lines) == 0 {
		return
	}
	now := lo.g.now()
	kept := lines[:0:0]
	for _, line := range lines {
		sc, ok := parseSetCookie(line, lo.r.URL.Path, now)
		if !ok || !lo.g.isSessionCookie(sc.name) || sc.expires || sc.value == "" {
			kept = append(kept, line)
			continue
		}
		if lo.revoked[session.CookieID(sc.value)] || lo.g.gaveApp(lo.r.Header["Cookie"], sc) {
			continue // never set again what the logout revoked (a sealed cookie's value the app got)
		}
		kept = append(kept, line)
		lo.fresh = append(lo.fresh, sc)
		lo.warnIfLogin(sc)
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
}

// sealAppCookies seals the sealed cookies the app's answer sets (seal.go);
// a logout keeps no sealed value the browser held.
func (lo *interceptLogout) sealAppCookies(h http.Header) {
	lo.g.sealSetCookies(lo.r.Context(), h, lo.r.URL.Path, nil)
}

// keepFresh leaves out the deletion of a cookie the app's answer sets to a
// fresh value: the browser keeps the new session, not a deleted one.
func (lo *interceptLogout) keepFresh(name, path, domain string) bool {
	for _, sc := range lo.fresh {
		if sameCookieSlot(name, path, domain, sc) {
			return true
		}
	}
	return false
}

// warnIfLogin warns when an intercepted answer sets a session cookie the
// request did not carry: that is a login (or a first visit), so the
// intercept rule catches more than the logout.
func (lo *interceptLogout) warnIfLogin(sc setCookie) {
	for _, n := range lo.carried {
		if sameCookieName(n, sc.name) {
			return // a new value for a cookie it had: a fresh anonymous session
		}
	}
	lo.g.cfg.Logger.Warn("an intercepted logout's answer sets a session cookie the request did not carry, as a login does: the intercept rule catches more than the logout (intercept /doku.php also catches the login; write /doku.php?do=logout)",
		zap.String("cookie", sc.name), zap.String("path", lo.r.URL.Path))
}

// crossSite reports whether another site sent the user here: by the
// browser's Sec-Fetch-Site, or, from browsers that send no fetch metadata,
// by an Origin or Referer of another host. A request with none of them (a
// typed URL, a bookmark, a client that is no browser) is not cross-site.
func (g *Gateway) crossSite(r *http.Request) bool {
	switch strings.ToLower(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site"))) {
	case "cross-site":
		return true
	case "same-origin", "same-site", "none":
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		return !g.ownSite(r, o) // "null" (an opaque origin) is another site
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		return !g.ownSite(r, ref)
	}
	return false
}

// ownSite reports whether raw (an Origin or Referer) is on this site: the
// request's own host, or that of public_url or default_return_url.
func (g *Gateway) ownSite(r *http.Request, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	host := u.Hostname()
	for _, own := range []*url.URL{g.origin(r), g.cfg.PublicURL, g.cfg.DefaultReturnURL} {
		if own != nil && strings.EqualFold(own.Hostname(), host) {
			return true
		}
	}
	return false
}
