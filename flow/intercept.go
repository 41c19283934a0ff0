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
)

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

// serveIntercept runs an intercepted logout. The guard holds first: a
// credential revoked already is stripped, as on any request. The session is
// then revoked before the app runs (so the logout happens whatever the app
// does), unless the request is cross-site: then only once the app's answer
// shows that the app accepted the logout. The app gets the request with its
// cookies, so its own clean-up runs, and its answer gains cookie clearing
// and a safe redirect. A failed app answer is replaced by a clear "signed
// out" page.
func (g *Gateway) serveIntercept(w http.ResponseWriter, r *http.Request, next Next) error {
	lo := g.newInterceptLogout(r)
	if !lo.crossSite {
		lo.revoke()
	}
	iw := &interceptWriter{ResponseWriter: w, lo: lo}
	err := next.ServeHTTP(iw, r)
	if iw.wroteHeader && !iw.replaced {
		return err
	}
	// The app failed (an error status, an error, or no answer at all):
	// the logout happens anyway, and the answer says so.
	if err != nil {
		g.cfg.Logger.Warn("app failed during intercepted logout; answering for it", zap.Error(err))
	}
	lo.revoke()
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
	lo          *interceptLogout
	wroteHeader bool
	replaced    bool // the app's answer is being discarded
}

func (iw *interceptWriter) WriteHeader(code int) {
	if iw.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		iw.lo.sealAppCookies(iw.Header())
		iw.ResponseWriter.WriteHeader(code) // informational: not the answer yet
		return
	}
	iw.wroteHeader = true
	lo := iw.lo
	switch {
	case code >= 500 || code >= 400 && !lo.crossSite:
		// Keep none of a failed answer; serveIntercept writes its own. A
		// same-site refusal (a stale nonce) is a failure too: the user
		// asked to leave.
		iw.replaced = true
		h := iw.Header()
		for k := range h {
			if k != "Set-Cookie" {
				delete(h, k)
			}
		}
		lo.revoke()
		iw.finishHeaders()
		return
	case lo.crossSite && (code >= 400 || !lo.appEndsSession(iw.Header())):
		// Another site asked, and the app did not log out: neither do we.
		lo.sealAppCookies(iw.Header())
		lo.refuse(iw.ResponseWriter)
		iw.ResponseWriter.WriteHeader(code)
		return
	}
	lo.revoke()
	iw.finishHeaders()
	h := iw.Header()
	if loc := h.Get("Location"); loc != "" {
		h.Set("Location", lo.g.endSessionOf(lo.r, lo.g.safeLocation(lo.r, loc)))
	}
	if refresh := h.Get("Refresh"); refresh != "" {
		h.Set("Refresh", lo.g.safeRefresh(lo.r, refresh))
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

// finishHeaders adds what every intercepted logout answer carries, and
// keeps the app from setting again what the logout revoked.
func (iw *interceptWriter) finishHeaders() {
	h := iw.Header()
	setNoCache(h)
	iw.lo.filterAppCookies(h)
	iw.lo.sealAppCookies(h)
	iw.lo.g.clearBrowser(iw, iw.lo.sent, iw.lo.https, iw.lo.keepFresh, iw.lo.grouped)
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
