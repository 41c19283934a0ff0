package flow

import (
	"net/http"
	"net/url"
	"path"
	"slices"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// logoutFlowResponse is what GET <prefix>/browser answers: Kratos's
// LogoutFlow.
type logoutFlowResponse struct {
	LogoutURL   string `json:"logout_url"`
	LogoutToken string `json:"logout_token"`
}

// serveCreate answers GET <prefix>/browser: a signed logout URL for the
// session the request carries (see activeSession).
func (g *Gateway) serveCreate(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Cookie")
	if !allowOnly(w, r, http.MethodGet) {
		if r.Method != http.MethodOptions {
			g.cfg.Observer.Logout("browser_create", "bad_request")
		}
		return
	}
	setNoCache(h)
	// Backends and SPAs call this endpoint, so errors are JSON unless the
	// client plainly navigated here (Kratos v0.7; v1.3 also redirects a
	// client that sends no Accept at all).
	browser := explicitlyWantsHTML(r)
	fail := func(e *Error, result string) {
		g.cfg.Observer.Logout("browser_create", result)
		g.writeError(w, r, e, browser)
	}

	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		fail(errBadRequest("The URL query could not be parsed."), "bad_request")
		return
	}
	// Kratos's order: the session first, then return_to.
	id, e, result := g.activeSession(w, r, "browser_create")
	if e != nil {
		fail(e, result)
		return
	}
	returnTo, e := g.checkReturnTo(r, q)
	if e != nil {
		fail(e, "forbidden")
		return
	}

	token := g.cfg.Keys.SignLogoutToken(id, g.now(), g.cfg.TokenTTL)
	g.cfg.Observer.Logout("browser_create", "ok")
	writeJSON(w, http.StatusOK, logoutFlowResponse{LogoutURL: g.logoutURL(r, token, returnTo), LogoutToken: token})
}

// logoutURL is <public base><prefix>?[return_to=...&]token=... (keys
// sorted, as Kratos writes them).
func (g *Gateway) logoutURL(r *http.Request, token, returnTo string) string {
	u := g.publicBase(r)
	u.Path = path.Join(u.Path, g.cfg.Prefix)
	params := url.Values{"token": {token}}
	if returnTo != "" {
		params.Set("return_to", returnTo)
	}
	u.RawQuery = params.Encode()
	return u.String()
}

// servePerform answers GET <prefix>?token=...: the browser logout itself.
// The order of checks is Kratos's: token present, session, token match,
// revoke and clear, return_to, answer.
func (g *Gateway) servePerform(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Add("Vary", "Cookie")
	// HEAD never revokes: link checkers and prefetchers must not log
	// anyone out.
	if !allowOnly(w, r, http.MethodGet) {
		if r.Method != http.MethodOptions {
			g.cfg.Observer.Logout("browser", "bad_request")
			g.auditLogout("browser", "bad_request", nil, r)
		}
		return
	}
	setNoCache(h)
	browser := !wantsJSON(r)
	fail := func(e *Error, result string) {
		g.cfg.Observer.Logout("browser", result)
		g.auditLogout("browser", result, nil, r)
		g.writeError(w, r, e, browser)
	}

	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		fail(errBadRequest("The URL query could not be parsed."), "bad_request")
		return
	}
	switch tokens := q["token"]; {
	case len(tokens) == 0 || tokens[0] == "":
		fail(errMissingToken(), "bad_request")
		return
	case len(tokens) > 1:
		fail(errBadRequest("The token parameter must be given only once."), "bad_request")
		return
	}
	https := g.isHTTPS(r)

	id, e, result := g.activeSession(w, r, "browser")
	if e != nil {
		fail(e, result)
		return
	}
	if g.cfg.Keys.VerifyLogoutToken(q.Get("token"), id, g.now()) != nil {
		fail(errTokenMismatch(), "token_mismatch")
		return
	}

	// A client that logs out by its session token and sends no session
	// cookie is no browser: there is nothing to clear (Kratos clears
	// nothing either).
	_, hasCookie := g.primaryCookie(r)
	grouped, err := g.revokeSessionCookies(r, id)
	if err != nil {
		// Still clear the browser: the user asked to be logged out.
		g.storeErrorLog("browser", id, err)
		if hasCookie {
			g.clearBrowser(w, r.Header["Cookie"], https, nil, grouped)
		}
		fail(errStoreUnavailable(), "store_error")
		return
	}
	if hasCookie {
		g.clearBrowser(w, r.Header["Cookie"], https, nil, grouped)
	}

	returnTo, e := g.checkReturnTo(r, q)
	if e != nil {
		fail(e, "forbidden")
		return
	}
	g.cfg.Observer.Logout("browser", "ok")
	g.auditLogout("browser", "ok", &id, r)
	if !browser {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if returnTo == "" {
		returnTo = g.defaultReturn(r).String()
	}
	http.Redirect(w, r, g.endSession(r, id, returnTo), http.StatusSeeOther)
}

// activeSession finds the session the browser flow is about, where Kratos
// looks for it: the token header (X-Session-Token), then the session
// cookie, then Authorization: Bearer. It must not be revoked already:
// telling a client its session ended now would be wrong when it ended
// before; a dead cookie is cleared all the same. When the store cannot
// answer, the flow goes on: creating a URL or revoking again is harmless.
func (g *Gateway) activeSession(w http.ResponseWriter, r *http.Request, flow string) (session.ID, *Error, string) {
	c, ok := g.sessionCredential(r)
	if !ok {
		return session.ID{}, errNoSession(), "no_session"
	}
	if len(c.value) > MaxCredentialLength {
		return session.ID{}, errCredentialTooLong(), "bad_request"
	}
	id := c.id()
	revoked, err := g.cfg.Store.Revoked(r.Context(), id)
	if err != nil {
		g.storeErrorLog(flow, id, err)
	}
	if revoked {
		if c.isCookie() {
			g.cookies.clearOne(w, r.Header["Cookie"], c.name, g.isHTTPS(r), nil)
		}
		return session.ID{}, errNoSession(), "no_session"
	}
	return id, nil, ""
}

// sessionCredential is the credential the browser flows bind a logout
// token to, in Kratos's order: the token header's first value, the primary
// session cookie, the first Authorization: Bearer.
func (g *Gateway) sessionCredential(r *http.Request) (credential, bool) {
	if v := r.Header.Get(g.cfg.TokenHeader); v != "" {
		return credential{kind: fromTokenHeader, name: g.cfg.TokenHeader, value: v}, true
	}
	if c, ok := g.primaryCookie(r); ok {
		return c, true
	}
	if v, ok := bearerToken(r.Header.Get("Authorization")); ok {
		return credential{kind: fromBearer, name: "Authorization", value: v}, true
	}
	return credential{}, false
}

// revokeSessionCookies revokes the bound session (a cookie's or a token's)
// and every other configured session cookie the request carries, and the
// groups they are in: logout ends all of the browser's credentials, not
// only the one the token was bound to. It returns the names of the groups'
// cookies, for deletion.
func (g *Gateway) revokeSessionCookies(r *http.Request, primary session.ID) ([]string, error) {
	until := g.now().Add(g.cfg.SessionLifetime)
	if err := g.cfg.Store.Revoke(r.Context(), primary, until); err != nil {
		return nil, err
	}
	done := map[session.ID]bool{primary: true}
	ids := []session.ID{primary}
	var err error
	g.eachCredential(r, func(c credential) bool {
		if c.kind != fromCookie && c.kind != fromChunkedCookie || len(c.value) > MaxCredentialLength {
			return true
		}
		if id := c.id(); !done[id] {
			done[id] = true
			ids = append(ids, id)
			err = g.cfg.Store.Revoke(r.Context(), id, until)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return g.revokeGroups(r.Context(), ids, until, done)
}

// clearBrowser deletes the session cookies (and the cookies of their
// groups the request did not carry, by name) and, over HTTPS when
// configured, asks the browser to clear site data. sent is the Cookie
// header as the browser sent it.
func (g *Gateway) clearBrowser(w http.ResponseWriter, sent []string, https bool, keep keepCookie, grouped []string) {
	g.cookies.clearAll(w, sent, https, keep)
	globbed := g.globNamesSent(sent)
	for _, n := range globbed {
		g.cookies.clearOne(w, sent, n, https, keep)
	}
	for _, n := range grouped {
		if !slices.Contains(g.cfg.Cookies, n) && !slices.Contains(globbed, n) {
			g.cookies.clearOne(w, sent, n, https, keep)
		}
	}
	if https && g.clearSiteData != "" {
		w.Header().Set("Clear-Site-Data", g.clearSiteData)
	}
}

// checkReturnTo validates the optional return_to parameter and returns the
// URL to redirect to ("" when none was given).
func (g *Gateway) checkReturnTo(r *http.Request, q url.Values) (string, *Error) {
	values := q["return_to"]
	switch {
	case len(values) > 1:
		return "", errBadRequest("The return_to parameter must be given only once.")
	case len(values) == 0 || values[0] == "":
		return "", nil
	}
	u, err := g.cfg.ReturnPolicy.Check(values[0], g.defaultReturn(r))
	if err != nil {
		return "", errReturnToForbidden(err)
	}
	return u, nil
}

func errCredentialTooLong() *Error {
	return errBadRequest("The session credential is too long.")
}

// storeErrorLog warns that the store could not answer; the session is
// named by its ID prefix only.
func (g *Gateway) storeErrorLog(flow string, id session.ID, err error) {
	g.cfg.Logger.Warn("session store error", zap.String("flow", flow), zap.String("session", id.Short()), zap.Error(err))
}

// auditLogout writes the audit line for a logout attempt. Never the
// credential: the session ID prefix identifies it.
func (g *Gateway) auditLogout(flow, result string, id *session.ID, r *http.Request) {
	fields := []zap.Field{zap.String("flow", flow), zap.String("result", result), zap.String("remote_addr", r.RemoteAddr)}
	if id != nil {
		fields = append(fields, zap.String("session", id.Short()))
	}
	g.audit.Info("logout", fields...)
}

// LogoutURL is a signed logout URL for the session cookie the request
// carries, for pages of apps that have no logout link of their own
// (caddymodule offers it as the {http.logout.url} placeholder). It reports
// false when the request has no session cookie.
func (g *Gateway) LogoutURL(r *http.Request) (string, bool) {
	cookie, ok := g.primaryCookie(r)
	if !ok || len(cookie.value) > MaxCredentialLength {
		return "", false
	}
	token := g.cfg.Keys.SignLogoutToken(cookie.id(), g.now(), g.cfg.TokenTTL)
	return g.logoutURL(r, token, ""), true
}
