package flow

import (
	"net/http"
	"strings"
)

// forwardCookies rewrites the request's Cookie header into the one line
// the app receives: the pieces it keeps (forwardPiece), byte for byte, in
// order, joined by "; ". stripped names the session cookies whose every
// spelling and chunk goes (revoked, under on_revoked strip). A header
// with nothing left goes.
func (g *Gateway) forwardCookies(r *http.Request, stripped []string) {
	var b strings.Builder
	eachCookiePiece(r.Header["Cookie"], func(p cookiePiece) bool {
		if text, keep := g.forwardPiece(p, stripped); keep {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(text)
		}
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

// forwardPiece decides what the app gets of one piece: its text, or
// nothing. A piece that is not clean goes when some framework could read
// it as a session cookie; a clean one when it is a session cookie that is
// stripped. This is where a per-cookie transformation of what the app
// sees belongs.
func (g *Gateway) forwardPiece(p cookiePiece, stripped []string) (string, bool) {
	if !p.clean {
		return p.text, !g.mentionsSession(p.text)
	}
	for _, name := range stripped {
		if _, chunk := chunkIndex(p.name(), name); chunk || sameCookieName(p.name(), name) {
			return "", false
		}
	}
	return p.text, true
}
