package flow

import (
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/internal/percent"
)

// A configured session cookie is an exact name or a glob: '*' matches any
// run of characters, anywhere in the name (DW*, wordpress_logged_in_*), for
// apps whose cookie names carry a per-install hash. Globs match under the
// same name canonicalisation as exact names (sameCookieName: case, and the
// characters PHP mangles), and a cookie they catch is known by the name the
// browser sent: that is the name its deletion uses.
//
// A glob can also catch a cookie whose value many sessions share
// (WordPress's wordpress_test_cookie=WP Cookie check is the same for every
// visitor; a user-id cookie is the same for every session of a user):
// revoking such a value would log out everyone who has it, for good. So a
// glob-matched value shorter than MinGlobValueLength is no credential at
// all (session secrets are longer), patterns with too little literal text
// are refused, and patterns that catch a known shared cookie warn at load.

// MinGlobValueLength is the shortest value (percent-decoded) a
// glob-matched cookie must have to count as a session credential: 16 bytes, as short as the shortest
// mainstream session id (128 bits in base64 is 22) gets, and longer than
// the shared values known to be caught (WP Cookie check is 15).
const MinGlobValueLength = 16

// longEnough reports whether a cookie value is at least MinGlobValueLength
// bytes as the app reads it: percent-decoded (PHP sends WordPress's
// "WP Cookie check" as WP%20Cookie%20check, 19 bytes on the wire).
func longEnough(v string) bool {
	if len(v) < MinGlobValueLength {
		return false
	}
	n := len(v)
	for i := 0; i+2 < len(v) && n >= MinGlobValueLength; i++ {
		if percent.EscapeAt(v, i) {
			n -= 2
			i += 2
		}
	}
	return n >= MinGlobValueLength
}

// minGlobLiteral is how many characters other than '*' a glob needs.
const minGlobLiteral = 2

// sharedCookies are cookies known to hold values that many sessions share.
// short: the value is always shorter than MinGlobValueLength, so a glob
// that catches it never takes it for a session.
var sharedCookies = []struct {
	name, what string
	short      bool
}{
	{"wordpress_test_cookie", "WordPress's cookie test, the same value for every visitor", true},
	{"wp-settings-time-1", "WordPress's per-user settings time", true},
	{"wp-settings-1", "WordPress's per-user settings", false},
	{"DOKU_PREFS", "DokuWiki's display preferences", false},
}

// isGlob reports whether a configured cookie name is a pattern.
func isGlob(name string) bool { return strings.IndexByte(name, '*') >= 0 }

// CheckCookiePattern checks a `cookie` option: an RFC 6265 token, where '*'
// is a wildcard with enough literal text around it.
func CheckCookiePattern(name string) error { return checkPattern("cookie", name) }

// CheckSealPattern checks a `seal` option, as CheckCookiePattern does.
func CheckSealPattern(name string) error { return checkPattern("seal", name) }

func checkPattern(option, name string) error {
	if !validCookieName(name) {
		return fmt.Errorf("%s: %q is not a valid cookie name", option, name)
	}
	if isGlob(name) && len(name)-strings.Count(name, "*") < minGlobLiteral {
		return fmt.Errorf("%s: %q matches nearly every cookie, including ones every visitor shares; name the session cookies (DW*, wordpress_logged_in_*)", option, name)
	}
	return nil
}

// cookieGlob is a compiled glob: the pattern folded as sameCookieName folds
// names, with '*' kept.
type cookieGlob struct {
	pattern string
	folded  string
}

func newCookieGlob(pattern string) cookieGlob {
	b := []byte(pattern)
	for i, c := range b {
		if c != '*' {
			b[i] = foldNameByte(c)
		}
	}
	return cookieGlob{pattern: pattern, folded: string(b)}
}

// matches reports whether a cookie name matches the glob, folding the name
// as it goes. It does not allocate; backtracking is to the last '*' only,
// so it is linear in practice.
func (g cookieGlob) matches(name string) bool {
	pat := g.folded
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, n
			p++
		case p < len(pat) && pat[p] == foldNameByte(name[n]):
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}

// splitCookiePatterns separates exact names from globs, and warns about
// globs that catch a cookie known to hold shared values.
func splitCookiePatterns(names []string, log *zap.Logger) (exact []string, globs []cookieGlob) {
	for _, n := range names {
		if !isGlob(n) {
			exact = append(exact, n)
			continue
		}
		g := newCookieGlob(n)
		globs = append(globs, g)
		for _, s := range sharedCookies {
			if !g.matches(s.name) {
				continue
			}
			if s.short {
				log.Info("a cookie pattern also matches a cookie whose value many sessions share; its value is shorter than 16 bytes, so it is never taken for a session",
					zap.String("pattern", n), zap.String("matches", s.name), zap.String("which_is", s.what))
				continue
			}
			log.Warn("a cookie pattern also matches a cookie whose value many sessions share, and a logout would revoke that value for all of them; list narrower patterns",
				zap.String("pattern", n), zap.String("matches", s.name), zap.String("which_is", s.what))
		}
	}
	return exact, globs
}

// globMatch reports whether a cookie name matches one of the globs, as
// sent or percent-decoded (PHP decodes names: wordpress%5Flogged_in_...
// is wordpress_logged_in_...), as exact names are compared.
func (g *Gateway) globMatch(name string) bool {
	for _, glob := range g.cookieGlobs {
		if glob.matches(name) {
			return true
		}
	}
	if strings.IndexByte(name, '%') < 0 {
		return false
	}
	var stack [64]byte
	decoded := string(unescapeName(stack[:0], name))
	for _, glob := range g.cookieGlobs {
		if glob.matches(decoded) {
			return true
		}
	}
	return false
}

// isSessionCookie reports whether a cookie of this name (as a browser
// sends it, or an app sets it) is one of the configured session cookies.
func (g *Gateway) isSessionCookie(name string) bool {
	for _, n := range g.cfg.Cookies {
		if sameCookieName(name, n) {
			return true
		}
	}
	return g.globMatch(name)
}

// globCredential reports whether a cookie pair of the request is a session
// credential by a glob: a name no exact name claims, a glob matches, and a
// value long enough to be a session secret.
func (g *Gateway) globCredential(name, value string) bool {
	if !longEnough(value) || !g.globMatch(name) {
		return false
	}
	for _, n := range g.cfg.Cookies {
		if sameCookieName(name, n) {
			return false // an exact name's, read as such
		}
	}
	return true
}

// eachGlobCookie is eachCredential's part for globs: every clean cookie
// piece of the request that globCredential accepts, by the name the
// browser sent, with its JSON readings (eachReading). It reports false when
// fn stopped. Without globs it costs one branch.
// With no exact names, this pass also notes the header's shape (the exact
// names' first pass does otherwise).
func (g *Gateway) eachGlobCookie(lines []string, shape *cookieShape, fn func(credential) bool) bool {
	if len(g.cookieGlobs) == 0 {
		return true
	}
	stop := false
	eachCookiePiece(lines, func(p cookiePiece) bool {
		if len(g.cfg.Cookies) == 0 {
			g.noteShape(shape, p)
		}
		switch {
		case !p.clean:
		case g.globCredential(p.name(), p.value()):
			stop = !eachReading(credential{kind: fromCookie, name: p.name(), value: p.value()}, fn)
		}
		return !stop
	})
	return !stop
}

// mentionsGlob is mentions for the patterns: whether some framework could
// read a cookie whose name matches a pattern, with a value long enough to
// count under one, out of an unclean piece. PHP reads
// `wordpress logged_in_<hash>=...` as wordpress_logged_in_<hash>. Broad on
// purpose, like mentions: a name before one of the piece's '=' (all of it
// or its last word, trimmed, unquoted, percent-decoded and folded as the
// readings take names) matches, and at least MinGlobValueLength bytes
// follow that '='. Such a piece never reaches the app; what it holds is
// not looked up (on_revoked does not apply to it). A short piece
// (WordPress's test cookie, on every request) costs no allocation.
func (g *Gateway) mentionsGlob(text string) bool {
	off := 0
	for range maxReadingPairs {
		i := strings.IndexByte(text[off:], '=')
		if i < 0 {
			return false
		}
		eq := off + i
		off = eq + 1
		if len(text)-off < MinGlobValueLength {
			return false // a later '=' leaves even less
		}
		before := trimLatin1Right(text[:eq])
		for _, n := range [2]string{before, before[lastReadingSeparator(before)+1:]} {
			for _, t := range trimmedViews(n) {
				t = strings.TrimSuffix(strings.TrimPrefix(t, `"`), `"`)
				if g.globMatchesReading(t) {
					return true
				}
			}
		}
	}
	return false
}

// globMatchesReading reports whether a name read out of an unclean piece,
// percent-decoded and folded (foldText), matches a pattern.
func (g *Gateway) globMatchesReading(name string) bool {
	var decoded, folded [128]byte
	b := []byte(name)
	if strings.IndexByte(name, '%') >= 0 {
		b = unescapeName(decoded[:0], name)
	}
	return g.globMatch(string(foldText(folded[:0], string(b))))
}

// globNamesSent lists the names of the request's cookies that are session
// credentials by a glob, each once: what clearing deletes for the globs.
func (g *Gateway) globNamesSent(lines []string) []string {
	if len(g.cookieGlobs) == 0 {
		return nil
	}
	var names []string
	eachCookiePiece(lines, func(p cookiePiece) bool {
		if p.clean && g.globCredential(p.name(), p.value()) && !slices.Contains(names, p.name()) {
			names = append(names, p.name())
		}
		return len(names) < maxRelatedNames
	})
	return names
}
