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

// cookieClearer holds the deletion headers of the configured names,
// rendered once at load for both schemes, so clearing on the request path
// is only header appends. Other spellings and chunks the request carries
// are rendered when met.
type cookieClearer struct {
	attrs  CookieAttributes
	names  []string
	render map[string][2][]string // name -> deletions over http, over https
}

func newCookieClearer(names []string, attrs CookieAttributes) *cookieClearer {
	c := &cookieClearer{attrs: attrs, names: names, render: map[string][2][]string{}}
	for _, n := range names {
		c.render[n] = [2][]string{attrs.deletionCookies(n, false), attrs.deletionCookies(n, true)}
	}
	return c
}

// clearAll deletes every configured session cookie, and every chunk or
// other spelling of one that the request carries.
func (c *cookieClearer) clearAll(w http.ResponseWriter, r *http.Request, https bool) {
	for _, n := range c.names {
		c.clearOne(w, r, n, https)
	}
}

// clearOne deletes one configured cookie, with its chunks and other
// spellings: the guard clears only the credential it found revoked.
func (c *cookieClearer) clearOne(w http.ResponseWriter, r *http.Request, name string, https bool) {
	h := w.Header()
	scheme := 0
	if https {
		scheme = 1
	}
	for _, v := range c.render[name][scheme] {
		h.Add("Set-Cookie", v)
	}
	for _, related := range relatedNames(r.Header, name) {
		for _, v := range c.attrs.deletionCookies(related, https) {
			h.Add("Set-Cookie", v)
		}
	}
}
