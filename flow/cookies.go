package flow

import (
	"net/http"
	"strings"
)

// CookieAttributes are the operator's cookie settings. A browser deletes a
// cookie only when name, Domain and Path match the ones it was set with, so
// these are configuration, not guesses.
type CookieAttributes struct {
	Path     string        // default "/"
	Domains  []string      // besides host-only, also clear with each Domain
	SameSite http.SameSite // default Lax
}

// deletionCookies renders the Set-Cookie values that delete one cookie
// name: once host-only and once per configured Domain. Prefixed names obey
// their prefix's rules, or the browser would ignore the deletion.
func (a CookieAttributes) deletionCookies(name string, https bool) []string {
	hostPrefix := strings.HasPrefix(name, "__Host-")
	secure := https || hostPrefix || strings.HasPrefix(name, "__Secure-")
	path := a.Path
	if hostPrefix {
		path = "/" // __Host- cookies always have Path=/ and no Domain
	}
	tail := "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
	if secure {
		tail += "; Secure"
	}
	switch a.SameSite {
	case http.SameSiteStrictMode:
		tail += "; SameSite=Strict"
	case http.SameSiteNoneMode:
		// Browsers reject SameSite=None without Secure; SameSite is not part
		// of a cookie's identity, so leaving it out still deletes it.
		if secure {
			tail += "; SameSite=None"
		}
	default:
		tail += "; SameSite=Lax"
	}
	out := []string{name + "=; Path=" + path + tail}
	if !hostPrefix {
		for _, d := range a.Domains {
			out = append(out, name+"=; Path="+path+"; Domain="+d+tail)
		}
	}
	return out
}

// cookieClearer holds the deletion headers, rendered once at load for both
// schemes, so clearing on the request path is only header appends.
type cookieClearer struct {
	attrs CookieAttributes
	names []string
	plain []string // for http
	tls   []string // for https
}

func newCookieClearer(names []string, attrs CookieAttributes) *cookieClearer {
	c := &cookieClearer{attrs: attrs, names: names}
	for _, n := range names {
		c.plain = append(c.plain, attrs.deletionCookies(n, false)...)
		c.tls = append(c.tls, attrs.deletionCookies(n, true)...)
	}
	return c
}

// clearAll deletes every configured session cookie, and every chunk or
// other spelling of one that the request carries.
func (c *cookieClearer) clearAll(w http.ResponseWriter, r *http.Request, https bool) {
	h := w.Header()
	set := c.plain
	if https {
		set = c.tls
	}
	for _, v := range set {
		h.Add("Set-Cookie", v)
	}
	for _, n := range c.names {
		for _, chunk := range relatedNames(r.Header, n) {
			for _, v := range c.attrs.deletionCookies(chunk, https) {
				h.Add("Set-Cookie", v)
			}
		}
	}
}

// clearOne deletes one cookie (and its chunks): the guard clears only the
// credential it found revoked.
func (c *cookieClearer) clearOne(w http.ResponseWriter, r *http.Request, name string, https bool) {
	h := w.Header()
	for _, v := range c.attrs.deletionCookies(name, https) {
		h.Add("Set-Cookie", v)
	}
	for _, chunk := range relatedNames(r.Header, name) {
		for _, v := range c.attrs.deletionCookies(chunk, https) {
			h.Add("Set-Cookie", v)
		}
	}
}
