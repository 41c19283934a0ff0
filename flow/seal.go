package flow

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caddy-logout/caddy-logout/session"
)

// Sealed cookies (`seal`). Some apps' remember-me cookie is the same value
// for every login of a user (an HMAC of a token kept per user) and their
// logout leaves it valid: revoking that value would end remember-me for
// all of the user's later logins, and not revoking it leaves a copy
// working. So the gateway gives each issuance a value of its own: every
// value the app sets for a sealed cookie goes to the browser sealed
// (session.Sealer: authenticated encryption, a fresh nonce each time), and
// comes back to the app opened, in the Cookie header the guard forwards.
// The sealed value is the credential: the guard checks it and a logout
// revokes it, alone. A value under a sealed name that does not open (the
// app's raw value, a forgery, one sealed with a key no longer configured)
// never reaches the app. Deletions pass as the app sends them.
//
// Sealed cookies are session cookies too (New adds them to the cookie
// names): checked, revoked, cleared and grouped like the others.

// sealing is the Gateway's part for sealed cookies; nil without any.
type sealing struct {
	sealer *session.Sealer
	exact  []string
	globs  []cookieGlob
	log    *zap.Logger // sampled: an app may set a cookie it cannot seal on every answer
}

func newSealing(patterns []string, sealer *session.Sealer, log *zap.Logger) *sealing {
	s := &sealing{sealer: sealer, log: log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Minute, 1, 0)
	}))}
	for _, p := range patterns {
		if isGlob(p) {
			s.globs = append(s.globs, newCookieGlob(p))
		} else {
			s.exact = append(s.exact, p)
		}
	}
	return s
}

// matches reports whether a cookie of this name (as a browser sends it or
// an app sets it) is sealed, under the names' canonicalisation.
func (s *sealing) matches(name string) bool {
	for _, n := range s.exact {
		if sameCookieName(name, n) {
			return true
		}
	}
	for _, g := range s.globs {
		if g.matches(name) {
			return true
		}
	}
	return false
}

// inHeader reports whether a Cookie header has a piece under a sealed
// name: its values are opened for the app (the header is rewritten).
func (s *sealing) inHeader(lines []string) bool {
	found := false
	eachCookiePiece(lines, func(p cookiePiece) bool {
		found = p.clean && s.matches(p.name())
		return !found
	})
	return found
}

// forwardSealed writes what the app gets of a clean piece under a sealed
// name: the app's own value when the sealed one opens (for the name as
// sent: a respelled name does not open), else nothing. One AEAD open, no
// allocation.
func (g *Gateway) forwardSealed(b *strings.Builder, p cookiePiece) {
	var buf [session.MaxSealedValue]byte
	plain, err := g.seal.sealer.Open(buf[:0], p.name(), p.value())
	if err != nil {
		g.cfg.Observer.Guard("not_sealed")
		return
	}
	separate(b)
	b.WriteString(p.name())
	b.WriteByte('=')
	b.Write(plain)
}

// sealSetCookies seals, in place, every value an answer sets for a sealed
// cookie, before the answer's header goes out. sent is the request's
// Cookie header as the browser sent it, or nil: a value the app sets again
// unchanged (a sliding expiry) keeps the sealed form the browser holds, so
// a copy of it stays the one credential a logout revokes. Deletions and
// values sealed already pass; a value that cannot be sealed (longer than
// session.MaxSealedValue, or not a cookie value) is not sent, and the log
// says why.
func (g *Gateway) sealSetCookies(ctx context.Context, h http.Header, requestPath string, sent []string) {
	lines := h["Set-Cookie"]
	if g.seal == nil || len(lines) == 0 {
		return
	}
	var out []string // allocated at the first sealed cookie
	for i, line := range lines {
		name, value, at, ok := setCookiePair(line)
		if !ok || !g.seal.matches(name) {
			if out != nil {
				out = append(out, line)
			}
			continue
		}
		if out == nil {
			out = append(make([]string, 0, len(lines)), lines[:i]...)
		}
		if sealed, keep := g.sealValue(ctx, name, value, line, requestPath, sent); keep {
			out = append(out, line[:at.valueAt]+sealed+line[at.valueEnd:])
		}
	}
	if out == nil {
		return
	}
	if len(out) == 0 {
		delete(h, "Set-Cookie")
		return
	}
	h["Set-Cookie"] = out
}

// sealValue is the value a Set-Cookie of a sealed cookie goes out with, or
// false when it must not go out.
func (g *Gateway) sealValue(ctx context.Context, name, value, line, requestPath string, sent []string) (string, bool) {
	if value == "" {
		return value, true
	}
	if sc, ok := parseSetCookie(line, requestPath, g.now()); ok && sc.expires {
		return value, true // a deletion
	}
	if _, err := g.seal.sealer.Open(nil, name, value); err == nil {
		return value, true // sealed already (an informational answer sent this header before)
	}
	if held, ok := g.heldSealed(ctx, name, value, sent); ok {
		return held, true
	}
	if !cookieValue(value) {
		g.seal.log.Warn("the app set a sealed cookie to a value outside the cookie grammar (RFC 6265), which cannot come back unchanged; it is not sent",
			zap.String("cookie", name))
		return "", false
	}
	sealed, err := g.seal.sealer.Seal(name, value)
	if err != nil {
		g.seal.log.Warn("the app set a sealed cookie that cannot be sealed; it is not sent",
			zap.String("cookie", name), zap.Int("length", len(value)), zap.Error(err))
		return "", false
	}
	return sealed, true
}

// heldSealed finds, among the cookies the browser sent, a sealed value of
// this name that opens to value and is not revoked.
func (g *Gateway) heldSealed(ctx context.Context, name, value string, sent []string) (string, bool) {
	held := ""
	eachCookiePiece(sent, func(p cookiePiece) bool {
		if !p.clean || p.name() != name {
			return true
		}
		var buf [session.MaxSealedValue]byte
		plain, err := g.seal.sealer.Open(buf[:0], name, p.value())
		if err != nil || len(plain) != len(value) || subtle.ConstantTimeCompare(plain, []byte(value)) != 1 {
			return true
		}
		if revoked, err := g.cfg.Store.Revoked(ctx, session.CookieID(p.value())); err != nil || revoked {
			return true
		}
		held = p.value()
		return false
	})
	return held, held != ""
}

// gaveApp reports whether the app got this cookie's value, opened from a
// sealed one, in the request's Cookie header as forwarded (lines).
func (g *Gateway) gaveApp(lines []string, sc setCookie) bool {
	if g.seal == nil || !g.seal.matches(sc.name) {
		return false
	}
	gave := false
	eachCookiePiece(lines, func(p cookiePiece) bool {
		gave = p.clean && p.name() == sc.name && subtle.ConstantTimeCompare([]byte(p.value()), []byte(sc.value)) == 1
		return !gave
	})
	return gave
}

// setCookieValue locates the value in a Set-Cookie line.
type setCookieValue struct{ valueAt, valueEnd int }

// setCookiePair reads a Set-Cookie line's name and value as a browser does
// (RFC 6265 5.2: up to the first ';', split at the first '=', blanks
// trimmed; quotes are part of the value).
func setCookiePair(line string) (name, value string, at setCookieValue, ok bool) {
	end := strings.IndexByte(line, ';')
	if end < 0 {
		end = len(line)
	}
	eq := strings.IndexByte(line[:end], '=')
	if eq < 0 {
		return "", "", at, false // a nameless cookie
	}
	name = trimBlanks(line[:eq])
	start := eq + 1
	for start < end && (line[start] == ' ' || line[start] == '\t') {
		start++
	}
	stop := end
	for stop > start && (line[stop-1] == ' ' || line[stop-1] == '\t') {
		stop--
	}
	return name, line[start:stop], setCookieValue{start, stop}, name != ""
}

// cookieValue reports whether v is an RFC 6265 cookie-value: cookie-octets,
// optionally in double quotes. Only such a value comes back from the
// browser as it was set, in a piece every framework reads alike.
func cookieValue(v string) bool {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return cookieOctets(v)
}
