package flow

import (
	"net/http"
	"strings"
)

// forwardCookies rewrites the request's Cookie header into the one line
// the app receives: the pieces it keeps (forwardPiece), byte for byte, in
// order, joined by "; ", sealed values opened. stripped names the session
// cookies whose every spelling and chunk goes (revoked, under on_revoked
// strip). A header with nothing left goes. The line it builds is its one
// allocation: what the app gets is never longer than what came, but for
// the "; " between pieces sent with a bare ';'.
func (g *Gateway) forwardCookies(r *http.Request, stripped []string) {
	lines := r.Header["Cookie"]
	size := 0
	for _, l := range lines {
		size += len(l) + 2
	}
	var b strings.Builder
	b.Grow(size)
	eachCookiePiece(lines, func(p cookiePiece) bool {
		g.forwardPiece(&b, p, stripped)
		return true
	})
	if b.Len() == 0 {
		r.Header.Del("Cookie")
		return
	}
	r.Header["Cookie"] = []string{b.String()}
}

// stripRevoked removes revoked credentials from the request before the app
// sees it: tokens by their header, cookies (every spelling and chunk) by
// rewriting the Cookie header, which is rewritten anyway when forward is
// set.
func (g *Gateway) stripRevoked(r *http.Request, revoked []credential, forward bool) {
	var stripped []string
	for _, c := range revoked {
		if c.isCookie() {
			stripped = append(stripped, c.name)
		} else {
			stripCredential(r, c)
		}
	}
	if forward || len(stripped) > 0 {
		g.forwardCookies(r, stripped)
	}
}

// forwardPiece writes what the app gets of one piece: its text, or
// nothing. A piece that is not clean goes when some framework could read
// it as a session cookie; a clean one when it is a session cookie that is
// stripped. A sealed cookie's value is opened (seal.go).
func (g *Gateway) forwardPiece(b *strings.Builder, p cookiePiece, stripped []string) {
	if !p.clean {
		if !g.mentionsSession(p.text) {
			separate(b)
			b.WriteString(p.text)
		}
		return
	}
	for _, name := range stripped {
		if _, chunk := chunkIndex(p.name(), name); chunk || sameCookieName(p.name(), name) {
			return
		}
	}
	if g.seal != nil && g.seal.matches(p.name()) {
		g.forwardSealed(b, p)
		return
	}
	separate(b)
	b.WriteString(p.text)
}

// separate puts "; " between pieces.
func separate(b *strings.Builder) {
	if b.Len() > 0 {
		b.WriteString("; ")
	}
}
