package flow

import (
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/caddy-logout/caddy-logout/session"
)

// MaxCredentialLength caps a session cookie (after joining its chunks) or
// token. Browsers keep cookies under 4 KiB each; anything longer than a few
// chunks is not a session, and hashing it would only cost us.
const MaxCredentialLength = 16 << 10

// credentialKind says where a credential was found, which decides how the
// guard strips it and whether a cookie must be cleared.
type credentialKind uint8

const (
	fromCookie credentialKind = iota
	fromChunkedCookie
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
	if c.kind == fromCookie || c.kind == fromChunkedCookie {
		return session.CookieID(c.value)
	}
	return session.IDOf(c.value)
}

func (c credential) isCookie() bool { return c.kind == fromCookie || c.kind == fromChunkedCookie }

// eachCookie calls fn for every cookie in the request's Cookie headers, in
// order, without allocating. Values are unquoted as net/http does.
// fn returns false to stop.
func eachCookie(h http.Header, fn func(name, value string) bool) {
	eachCookiePair(h, func(name, value, _ string) bool { return fn(name, value) })
}

// eachCookiePair is eachCookie that also passes the pair as it was sent.
// Pairs are split on ',' as well as ';': older cookie parsers (RFC 2109)
// still do, and a revoked cookie hidden behind a comma must not reach them.
// No valid cookie value contains a comma.
func eachCookiePair(h http.Header, fn func(name, value, raw string) bool) {
	eachCookiePairIn(h["Cookie"], fn)
}

// eachCookiePairIn is eachCookiePair over the Cookie header's lines. It
// runs on every request that carries cookies, so it uses the vectorised
// strings.IndexByte (strings.IndexAny builds a byte set on each call).
func eachCookiePairIn(lines []string, fn func(name, value, raw string) bool) {
	for _, line := range lines {
		for len(line) > 0 {
			var pair string
			if i := indexCookieSep(line); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				pair, line = line, ""
			}
			pair = trimSpace(pair)
			eq := strings.IndexByte(pair, '=')
			if eq < 0 {
				continue
			}
			name, value := trimSpace(pair[:eq]), trimSpace(pair[eq+1:])
			if name == "" {
				continue
			}
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if !fn(name, value, pair) {
				return
			}
		}
	}
}

// indexCookieSep is strings.IndexAny(s, ";,").
func indexCookieSep(s string) int {
	i := strings.IndexByte(s, ';')
	if i < 0 {
		return strings.IndexByte(s, ',')
	}
	if j := strings.IndexByte(s[:i], ','); j >= 0 {
		return j
	}
	return i
}

// trimSpace is strings.TrimSpace with the common case (ASCII at both ends)
// inlined; it hands anything else to strings.TrimSpace, so the result is
// always the same.
func trimSpace(s string) string {
	for len(s) > 0 && isASCIISpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isASCIISpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && (s[0] >= utf8.RuneSelf || s[len(s)-1] >= utf8.RuneSelf) {
		return strings.TrimSpace(s)
	}
	return s
}

func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// sameCookieName reports whether an app could read cookie as the
// configured name: some frameworks compare names case-insensitively
// (ASP.NET) and PHP turns '.' and ' ' in names into '_'. Matching more
// spellings than one app would only means checking more cookies.
func sameCookieName(cookie, name string) bool {
	if len(cookie) != len(name) {
		return false
	}
	for i := 0; i < len(cookie); i++ {
		if foldNameByte(cookie[i]) != foldNameByte(name[i]) {
			return false
		}
	}
	return true
}

func foldNameByte(c byte) byte {
	switch {
	case 'A' <= c && c <= 'Z':
		return c + 'a' - 'A'
	case c == '.' || c == ' ':
		return '_'
	}
	return c
}

// chunkIndex reports whether cookie is a chunk of base: `base.N` or
// `base_N` (the two conventions in use for cookies split over 4 KiB).
func chunkIndex(cookie, base string) (int, bool) {
	if len(cookie) < len(base)+2 || !sameCookieName(cookie[:len(base)], base) {
		return 0, false
	}
	sep := cookie[len(base)]
	if sep != '.' && sep != '_' {
		return 0, false
	}
	n, err := strconv.Atoi(cookie[len(base)+1:])
	if err != nil || n < 0 || n > 99 {
		return 0, false
	}
	return n, true
}

// eachCredential calls fn for every configured credential the request
// carries, in the one order used for both lookup and revocation: cookies in
// configured order (every occurrence, since apps differ in which duplicate
// they read), then the token header, then Authorization: Bearer (every
// value of each).
// It allocates only for chunked cookies. fn returns false to stop.
func (g *Gateway) eachCredential(r *http.Request, fn func(credential) bool) {
	if lines := r.Header["Cookie"]; len(lines) > 0 {
		for _, name := range g.cfg.Cookies {
			// One pass finds the cookie and notices chunks of it; only a
			// request that has chunks pays for joining them.
			stop, chunked := false, false
			eachCookiePairIn(lines, func(n, v, _ string) bool {
				if v != "" && sameCookieName(n, name) {
					stop = !fn(credential{kind: fromCookie, name: name, value: v})
				} else if !chunked {
					_, chunked = chunkIndex(n, name)
				}
				return !stop
			})
			if stop {
				return
			}
			if !chunked {
				continue
			}
			if first, last, ok := joinedChunks(r.Header, name); ok {
				if !fn(credential{kind: fromChunkedCookie, name: name, value: first}) {
					return
				}
				if last != first && !fn(credential{kind: fromChunkedCookie, name: name, value: last}) {
					return
				}
			}
		}
	}
	// Every value of the token headers, not only the first: apps differ in
	// which of several they read.
	for _, name := range g.tokenHeaders {
		for _, v := range r.Header[name] {
			if v != "" && !fn(credential{kind: fromTokenHeader, name: name, value: v}) {
				return
			}
		}
	}
	for _, h := range r.Header["Authorization"] {
		if v, ok := bearerToken(h); ok && !fn(credential{kind: fromBearer, name: "Authorization", value: v}) {
			return
		}
	}
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
func joinedChunks(h http.Header, base string) (first, last string, ok bool) {
	type chunk struct {
		i int
		v string
	}
	var chunks []chunk
	eachCookie(h, func(n, v string) bool {
		if i, ok := chunkIndex(n, base); ok {
			chunks = append(chunks, chunk{i, v})
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
func relatedNames(h http.Header, base string) []string {
	var names []string
	eachCookie(h, func(n, _ string) bool {
		_, chunk := chunkIndex(n, base)
		if (chunk || sameCookieName(n, base) && n != base) && !slices.Contains(names, n) {
			names = append(names, n)
		}
		return len(names) < maxRelatedNames
	})
	return names
}

// maxRelatedNames bounds relatedNames (and the quadratic duplicate check
// in it): real clients send a few chunks, not hundreds.
const maxRelatedNames = 32

// stripCredential removes one credential from the request before the app
// sees it: the app then treats the visitor as anonymous.
func stripCredential(r *http.Request, c credential) {
	switch c.kind {
	case fromTokenHeader:
		r.Header.Del(c.name)
	case fromBearer:
		r.Header.Del("Authorization")
	case fromCookie, fromChunkedCookie:
		var kept []string
		eachCookiePair(r.Header, func(n, _, raw string) bool {
			_, chunk := chunkIndex(n, c.name)
			if !sameCookieName(n, c.name) && !(c.kind == fromChunkedCookie && chunk) {
				kept = append(kept, raw)
			}
			return true
		})
		if len(kept) == 0 {
			r.Header.Del("Cookie")
		} else {
			r.Header["Cookie"] = []string{strings.Join(kept, "; ")}
		}
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
