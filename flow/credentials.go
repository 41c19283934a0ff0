package flow

import (
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"github.com/caddy-logout/caddy-logout/session"
)

// MaxCredentialLength caps a session cookie (after joining its chunks) or
// token. Browsers keep cookies under 4 KiB each; anything longer than a few
// chunks is not a session, and hashing it would only cost us.
const MaxCredentialLength = 16 << 10

// credentialKind says where a credential was found, which decides how the
// guard strips it and whether a cookie must be cleared.
type credentialKind uint8

// The cookie kinds come first (isCookie).
const (
	fromCookie credentialKind = iota
	fromChunkedCookie
	// fromUnreadableCookie: a likely reading of a Cookie header piece the
	// guard drops as not clean; checked so that on_revoked applies.
	fromUnreadableCookie
	fromTokenHeader
	fromBearer
)

// credential is one session credential a request carries. value is
// secret: it is hashed, compared, stripped, never logged.
type credential struct {
	kind  credentialKind
	name  string // configured cookie name, or header name
	value string
}

// id is the session the credential names. Cookie values are decoded first,
// as apps decode them (see session.CookieID); tokens are taken as sent.
func (c credential) id() session.ID {
	if c.isCookie() {
		return session.CookieID(c.value)
	}
	return session.IDOf(c.value)
}

func (c credential) isCookie() bool { return c.kind <= fromUnreadableCookie }

// eachCredential calls fn for every configured credential the request
// carries, in the one order used for both lookup and revocation: cookies in
// configured order (every occurrence, since apps differ in which duplicate
// they read), then the token header, then Authorization: Bearer (every
// value of each). Only clean pieces of the Cookie header are credentials
// here: the others never reach the app (see eachUnreadableCookie). It
// reports the shape of the Cookie header it saw (complete unless fn
// stopped it).
// It allocates only for chunked cookies. fn returns false to stop.
func (g *Gateway) eachCredential(r *http.Request, fn func(credential) bool) (shape cookieShape) {
	if lines := r.Header["Cookie"]; len(lines) > 0 {
		var ok bool
		if shape, ok = g.eachCookieCredential(lines, fn); !ok {
			return shape
		}
	}
	// Every value of the token headers, not only the first: apps differ in
	// which of several they read.
	for _, name := range g.tokenHeaders {
		for _, v := range r.Header[name] {
			if v != "" && !fn(credential{kind: fromTokenHeader, name: name, value: v}) {
				return shape
			}
		}
	}
	for _, h := range r.Header["Authorization"] {
		if v, ok := bearerToken(h); ok && !fn(credential{kind: fromBearer, name: "Authorization", value: v}) {
			return shape
		}
	}
	return shape
}

// eachCookieCredential is eachCredential's part for the Cookie header
// lines. It reports false when fn stopped it.
func (g *Gateway) eachCookieCredential(lines []string, fn func(credential) bool) (shape cookieShape, ok bool) {
	if len(lines) == 0 {
		return shape, true
	}
	shape.sent = lines
	if g.seal != nil {
		shape.sealed = g.seal.inHeader(lines) // seal.go
	}
	for i, name := range g.cfg.Cookies {
		// One pass finds the cookie and notices chunks of it (and the
		// first notes the shape); only a request that has chunks pays for
		// joining them.
		stop, chunked := false, false
		eachCookiePiece(lines, func(p cookiePiece) bool {
			switch {
			case !p.clean:
				if i == 0 && !shape.unreadable {
					shape.unreadable = g.mentionsSession(p.text)
				}
			case p.value() != "" && sameCookieName(p.name(), name):
				stop = !eachReading(credential{kind: fromCookie, name: name, value: p.value()}, fn)
			case !chunked:
				_, chunked = chunkIndex(p.name(), name)
			}
			return !stop
		})
		if stop {
			return shape, false
		}
		if !chunked {
			continue
		}
		if first, last, ok := joinedChunks(lines, name); ok {
			if !eachReading(credential{kind: fromChunkedCookie, name: name, value: first}, fn) {
				return shape, false
			}
			if last != first && !eachReading(credential{kind: fromChunkedCookie, name: name, value: last}, fn) {
				return shape, false
			}
		}
	}
	if len(g.cookieGlobs) > 0 && !g.eachGlobCookie(lines, &shape, fn) { // cookienames.go
		return shape, false
	}
	return shape, true
}

// eachReading calls fn with a cookie credential and with each JSON reading
// of its value (session.EachJSONReading): to an Express app, any of them
// may be the session. Small enough to inline: most values have none.
func eachReading(c credential, fn func(credential) bool) bool {
	return fn(c) && (!session.MayBeJSONCookie(c.value) || jsonReadings(c, fn))
}

func jsonReadings(c credential, fn func(credential) bool) bool {
	return session.EachJSONReading(c.value, func(r string) bool {
		c.value = r
		return fn(c)
	})
}

// cookieShape is what the guard needs to know about the Cookie header
// beyond its credentials: whether the app may get it as it is.
type cookieShape struct {
	sent       []string // the Cookie header lines as the browser sent them
	unreadable bool     // some piece is not clean and may be a session cookie
	sealed     bool     // some piece has a sealed cookie's name (seal.go)
}

// noteShape adds what an unclean piece tells about the header to shape.
func (g *Gateway) noteShape(shape *cookieShape, p cookiePiece) {
	if !p.clean && !shape.unreadable {
		shape.unreadable = g.mentionsSession(p.text)
	}
}

// rewrite reports whether the app must get a rewritten Cookie header even
// with nothing revoked.
func (s cookieShape) rewrite() bool { return s.unreadable || s.sealed || len(s.sent) > 1 }

// mentionsSession reports whether some framework could read a session
// cookie out of an unclean piece (see mentions).
func (g *Gateway) mentionsSession(text string) bool {
	for _, name := range g.cfg.Cookies {
		if mentions(text, name) {
			return true
		}
	}
	return len(g.cookieGlobs) > 0 && g.mentionsGlob(text) // cookienames.go
}

// eachUnreadableCookie calls fn with each likely reading of the pieces of
// the Cookie header that are not clean but that some framework could read
// as a session cookie (see mentions): they never reach the app
// (forwardCookies), and these readings decide whether on_revoked applies.
// fn returns false to stop.
func (g *Gateway) eachUnreadableCookie(lines []string, fn func(credential) bool) {
	eachCookiePiece(lines, func(p cookiePiece) bool {
		if p.clean {
			return true
		}
		for _, name := range g.cfg.Cookies {
			if mentions(p.text, name) && !unreadableReadings(p.text, name, func(v string) bool {
				return eachReading(credential{kind: fromUnreadableCookie, name: name, value: v}, fn)
			}) {
				return false
			}
		}
		return true
	})
}

// primaryCookie is the session cookie the browser flow binds its logout
// token to: the first configured cookie the request carries.
func (g *Gateway) primaryCookie(r *http.Request) (credential, bool) {
	var found credential
	ok := false
	g.eachCredential(r, func(c credential) bool {
		if c.kind == fromCookie || c.kind == fromChunkedCookie {
			found, ok = c, true
		}
		return !ok
	})
	return found, ok
}

// joinedChunks reassembles a chunked cookie (`name.0`, `name.1`, ... or
// `name_0`, ...) in index order. When an index repeats, apps differ in
// which copy they keep, so it returns both readings: every first copy, and
// every last one (equal when nothing repeats). It reports false when there
// are no chunks.
func joinedChunks(lines []string, base string) (first, last string, ok bool) {
	type chunk struct {
		i int
		v string
	}
	var chunks []chunk
	eachCookiePiece(lines, func(p cookiePiece) bool {
		if i, ok := chunkIndex(p.name(), base); p.clean && ok {
			chunks = append(chunks, chunk{i, p.value()})
		}
		return true
	})
	if len(chunks) == 0 {
		return "", "", false
	}
	sort.SliceStable(chunks, func(a, b int) bool { return chunks[a].i < chunks[b].i })
	var f, l strings.Builder
	for k, c := range chunks {
		if k == 0 || chunks[k-1].i != c.i {
			f.WriteString(c.v)
		}
		if k == len(chunks)-1 || chunks[k+1].i != c.i {
			l.WriteString(c.v)
		}
	}
	return f.String(), l.String(), f.Len() > 0 || l.Len() > 0
}

// bearerToken extracts the token of an `Authorization: Bearer <token>`
// header (scheme case-insensitive).
func bearerToken(h string) (string, bool) {
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || (h[len(scheme)] != ' ' && h[len(scheme)] != '\t') {
		return "", false
	}
	// Any run of blanks after the scheme: frameworks that split the
	// header on whitespace accept a tab as well as a space.
	v := strings.TrimLeft(h[len(scheme):], " \t")
	v = strings.TrimRight(v, " \t")
	return v, v != ""
}

// relatedNames lists the cookies of the request that are base under
// another spelling, or chunks of it, so they can be cleared too. The list
// is capped: a request stuffed with thousands of spellings gets the first
// maxRelatedNames deleted, not a response of thousands of headers.
func relatedNames(lines []string, base string) []string {
	var names []string
	eachCookiePiece(lines, func(p cookiePiece) bool {
		if !p.clean {
			return true // no valid name to delete it by; it never reaches the app
		}
		_, chunk := chunkIndex(p.name(), base)
		if (chunk || sameCookieName(p.name(), base) && p.name() != base) && !slices.Contains(names, p.name()) {
			names = append(names, p.name())
		}
		return len(names) < maxRelatedNames
	})
	return names
}

// maxRelatedNames bounds relatedNames (and the quadratic duplicate check
// in it): real clients send a few chunks, not hundreds.
const maxRelatedNames = 32

// stripCredential removes a token from the request before the app sees
// it; cookies go through forwardCookies.
func stripCredential(r *http.Request, c credential) {
	switch c.kind {
	case fromTokenHeader:
		r.Header.Del(c.name)
	case fromBearer:
		r.Header.Del("Authorization")
	}
}

// headerSpellings lists the names under which a header reaches an app:
// Go keeps `X_Session_Token` apart from `X-Session-Token`, but CGI-style
// backends (FastCGI, Rack, WSGI) map both to HTTP_X_SESSION_TOKEN. Each
// '-' may come as '_'; the names are canonical as net/http stores them.
func headerSpellings(name string) []string {
	name = textproto.CanonicalMIMEHeaderKey(name)
	var hyphens []int
	for i := 0; i < len(name); i++ {
		if name[i] == '-' {
			hyphens = append(hyphens, i)
		}
	}
	if len(hyphens) > 4 {
		hyphens = hyphens[:4] // 16 spellings at most; longer names are not tokens' names
	}
	out := []string{name}
	for mask := 1; mask < 1<<len(hyphens); mask++ {
		b := []byte(name)
		for k, i := range hyphens {
			if mask&(1<<k) != 0 {
				b[i] = '_'
			}
		}
		out = append(out, textproto.CanonicalMIMEHeaderKey(string(b)))
	}
	return out
}
