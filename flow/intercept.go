package flow

import (
	"bufio"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// interceptMatcher recognises the app's own logout paths however a client
// spells them: case, repeated or trailing slashes, ;params, percent
// encoding and dot segments do not get a request past it.
type interceptMatcher struct {
	paths map[string]bool
}

func newInterceptMatcher(paths []string) (*interceptMatcher, error) {
	m := &interceptMatcher{paths: map[string]bool{}}
	for _, p := range paths {
		if err := CheckInterceptPath(p); err != nil {
			return nil, err
		}
		n, _ := normalizePath(p)
		m.paths[n] = true
	}
	return m, nil
}

// CheckInterceptPath checks an `intercept` option.
func CheckInterceptPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("intercept: %q must be an absolute path such as /logout", p)
	}
	if _, ok := normalizePath(p); !ok {
		return fmt.Errorf("intercept: %q is not a usable path", p)
	}
	return nil
}

func (m *interceptMatcher) matches(p string) bool {
	if len(m.paths) == 0 {
		return false
	}
	if plainPath(p) {
		// Already in normal form: no need to build one on every request.
		return m.paths[p]
	}
	n, ok := normalizePath(p)
	return ok && m.paths[n]
}

// plainPath reports whether normalizePath would return p unchanged:
// lowercase, no encoding, ;params, backslashes, empty or dot segments, or
// trailing slash. Most requests' paths are.
func plainPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case 'A' <= c && c <= 'Z', c >= 0x80, c == '%', c == ';', c == '\\':
			return false
		case c == '/' && p[i-1] == '/':
			return false
		case c == '.' && p[i-1] == '/':
			return false
		}
	}
	return true
}

// normalizePath reduces a path to the form an app would most plausibly
// route on: decoded (repeatedly, so double encoding does not hide a
// path), lowercase, ;params dropped, empty and dot segments resolved, no
// trailing slash.
func normalizePath(p string) (string, bool) {
	for range 3 {
		if !strings.Contains(p, "%") {
			break
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return "", false
		}
		p = d
	}
	p = strings.ToLower(strings.ReplaceAll(p, `\`, "/"))
	var out []string
	for _, seg := range strings.Split(p, "/") {
		seg, _, _ = strings.Cut(seg, ";")
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

// isPrefetch reports a speculative request (link prefetch, prerender):
// the browser guessing, not the user asking to leave.
func isPrefetch(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Sec-Purpose"), "prefetch") ||
		strings.EqualFold(r.Header.Get("Purpose"), "prefetch") ||
		strings.EqualFold(r.Header.Get("X-Moz"), "prefetch")
}

// serveIntercept runs an intercepted logout: the session is revoked first
// (so the logout happens whatever the app does), then the app gets the
// request untouched so its own clean-up runs, and its answer gains cookie
// clearing and a safe redirect. A failed app answer is replaced by a clear
// "signed out" page.
func (g *Gateway) serveIntercept(w http.ResponseWriter, r *http.Request, next Next) error {
	https := g.isHTTPS(r)
	result := "ok"
	var ids []session.ID
	until := g.now().Add(g.cfg.SessionLifetime)
	var storeErr error
	g.eachCredential(r, func(c credential) bool {
		if len(c.value) > MaxCredentialLength {
			return true
		}
		id := c.id()
		ids = append(ids, id)
		if err := g.cfg.Store.Revoke(r.Context(), id, until); err != nil {
			storeErr = err
			g.storeErrorLog("intercept", id, err)
		}
		return true
	})
	switch {
	case storeErr != nil:
		result = "store_error"
	case len(ids) == 0:
		result = "no_session"
	}
	g.cfg.Observer.Logout("intercept", result)
	for i := range ids {
		g.auditLogout("intercept", result, &ids[i], r)
	}
	if len(ids) == 0 {
		g.auditLogout("intercept", result, nil, r)
	}

	iw := &interceptWriter{ResponseWriter: w, g: g, r: r, https: https}
	err := next.ServeHTTP(iw, r)
	if iw.wroteHeader && !iw.replaced {
		return err
	}
	// The app failed (an error status, an error, or no answer at all):
	// the logout has happened, so say so.
	if err != nil {
		g.cfg.Logger.Warn("app failed during intercepted logout; answering for it", zap.Error(err))
	}
	iw.replaced = false
	if !iw.wroteHeader {
		iw.finishHeaders()
	}
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeSignedOutPage(w, g.defaultReturn(r).String())
	return nil
}

// interceptWriter adds logout to the app's answer as its header goes out.
type interceptWriter struct {
	http.ResponseWriter
	g           *Gateway
	r           *http.Request
	https       bool
	wroteHeader bool
	replaced    bool // the app's answer is being discarded
}

func (iw *interceptWriter) WriteHeader(code int) {
	if iw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		iw.ResponseWriter.WriteHeader(code) // informational: not the answer yet
		return
	}
	iw.wroteHeader = true
	if code >= 400 {
		// Keep none of a failed answer; serveIntercept writes its own.
		iw.replaced = true
		h := iw.Header()
		for k := range h {
			if k != "Set-Cookie" {
				delete(h, k)
			}
		}
		iw.finishHeaders()
		return
	}
	iw.finishHeaders()
	h := iw.Header()
	if loc := h.Get("Location"); loc != "" {
		h.Set("Location", iw.g.safeLocation(iw.r, loc))
	}
	if refresh := h.Get("Refresh"); refresh != "" {
		h.Set("Refresh", iw.g.safeRefresh(iw.r, refresh))
	}
	iw.ResponseWriter.WriteHeader(code)
}

// safeRefresh applies safeLocation to the target of a `Refresh: <delay>;
// url=<target>` header, the other way an app redirects.
func (g *Gateway) safeRefresh(r *http.Request, refresh string) string {
	delay, target, found := strings.Cut(refresh, ";")
	target = strings.TrimSpace(target)
	if len(target) >= 4 && strings.EqualFold(target[:4], "url=") {
		target = strings.Trim(strings.TrimSpace(target[4:]), `"'`)
	}
	if !found || target == "" {
		return strings.TrimSpace(delay) // a plain reload of this page
	}
	return strings.TrimSpace(delay) + "; url=" + g.safeLocation(r, target)
}

// finishHeaders adds what every intercepted logout answer carries.
func (iw *interceptWriter) finishHeaders() {
	setNoCache(iw.Header())
	iw.g.clearBrowser(iw, iw.r, iw.https)
}

func (iw *interceptWriter) Write(b []byte) (int, error) {
	if !iw.wroteHeader {
		iw.WriteHeader(http.StatusOK)
	}
	if iw.replaced {
		return len(b), nil
	}
	return iw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (iw *interceptWriter) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

func (iw *interceptWriter) Flush() {
	if !iw.wroteHeader {
		iw.WriteHeader(http.StatusOK)
	}
	if f, ok := iw.ResponseWriter.(http.Flusher); ok && !iw.replaced {
		f.Flush()
	}
}

// Hijack is refused: a logout answer is not a protocol switch.
func (iw *interceptWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, http.ErrNotSupported
}

// safeLocation keeps the app's redirect when return_to rules allow it, and
// otherwise sends the browser to the default return URL: an open redirect
// in the app must not survive the gateway.
func (g *Gateway) safeLocation(r *http.Request, loc string) string {
	def := g.defaultReturn(r)
	base := g.origin(r)
	base.Path = r.URL.Path
	target, err := base.Parse(loc)
	if err != nil {
		return def.String()
	}
	if ok, err := g.cfg.ReturnPolicy.Check(target.String(), def); err == nil {
		return ok
	}
	return def.String()
}

func writeSignedOutPage(w http.ResponseWriter, home string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "<!doctype html>\n<title>Signed out</title>\n<h1>You have been signed out.</h1>\n<p><a href=\"%s\">Continue</a></p>\n",
		html.EscapeString(home))
}
