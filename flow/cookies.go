package flow

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieAttributes are the operator's cookie settings. A browser deletes a
// cookie only when name, Domain and Path match the ones it was set with, so
// these are configuration, not guesses.
type CookieAttributes struct {
	Paths    []string      // deletions go out once per path; default "/"
	Domains  []string      // besides host-only, also clear with each Domain
	SameSite http.SameSite // default Lax
}

// deletion is one Set-Cookie that deletes a cookie, with the name, Path and
// Domain (empty: host-only) it deletes.
type deletion struct {
	name, path, domain string
	header             string
}

// deletions renders the Set-Cookie values that delete one cookie name:
// once per Path, each host-only and once per configured Domain. Prefixed
// names obey their prefix's rules, or the browser would ignore the deletion.
func (a CookieAttributes) deletions(name string, https bool) []deletion {
	hostPrefix := strings.HasPrefix(name, "__Host-")
	secure := https || hostPrefix || strings.HasPrefix(name, "__Secure-")
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
	if hostPrefix {
		// __Host- cookies always have Path=/ and no Domain.
		return []deletion{{name: name, path: "/", header: name + "=; Path=/" + tail}}
	}
	paths := a.Paths
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	out := make([]deletion, 0, len(paths)*(1+len(a.Domains)))
	for _, p := range paths {
		out = append(out, deletion{name: name, path: p, header: name + "=; Path=" + p + tail})
		for _, d := range a.Domains {
			out = append(out, deletion{name: name, path: p, domain: d, header: name + "=; Path=" + p + "; Domain=" + d + tail})
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
	render map[string][2][]deletion // name -> deletions over http, over https
}

func newCookieClearer(names []string, attrs CookieAttributes) *cookieClearer {
	c := &cookieClearer{attrs: attrs, names: names, render: map[string][2][]deletion{}}
	for _, n := range names {
		c.render[n] = [2][]deletion{attrs.deletions(n, false), attrs.deletions(n, true)}
	}
	return c
}

// keepCookie reports that the response sets this cookie (name, Path,
// Domain) to a value that must survive: its deletion is left out.
type keepCookie func(name, path, domain string) bool

// clearAll deletes every configured session cookie, and every chunk or
// other spelling of one that the request carries.
func (c *cookieClearer) clearAll(w http.ResponseWriter, sent []string, https bool, keep keepCookie) {
	for _, n := range c.names {
		c.clearOne(w, sent, n, https, keep)
	}
}

// clearOne deletes one configured cookie, with its chunks and the other
// spellings the browser sent (sent: its Cookie header lines): the guard
// clears only the credential it found revoked.
func (c *cookieClearer) clearOne(w http.ResponseWriter, sent []string, name string, https bool, keep keepCookie) {
	h := w.Header()
	scheme := 0
	if https {
		scheme = 1
	}
	add := func(ds []deletion) {
		for _, d := range ds {
			if keep == nil || !keep(d.name, d.path, d.domain) {
				h.Add("Set-Cookie", d.header)
			}
		}
	}
	if ds, ok := c.render[name]; ok {
		add(ds[scheme])
	} else {
		add(c.attrs.deletions(name, https))
	}
	for _, related := range relatedNames(sent, name) {
		add(c.attrs.deletions(related, https))
	}
}

// setCookie is what a Set-Cookie header of the app's answer does.
type setCookie struct {
	name, value  string
	path, domain string // as the browser will store them ("" domain: host-only)
	expires      bool   // it deletes the cookie (Max-Age <= 0, or Expires in the past)
}

// parseSetCookie reads a Set-Cookie header as a browser would store it,
// for a response to a request for requestPath.
func parseSetCookie(line, requestPath string, now time.Time) (setCookie, bool) {
	parts := strings.Split(line, ";")
	name, value, ok := strings.Cut(parts[0], "=")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" {
		return setCookie{}, false
	}
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	sc := setCookie{name: name, value: value}
	maxAgeSeen := false
	for _, attr := range parts[1:] {
		k, v, _ := strings.Cut(attr, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "path":
			if strings.HasPrefix(v, "/") {
				sc.path = v
			}
		case "domain":
			sc.domain = strings.ToLower(strings.TrimPrefix(v, "."))
		case "max-age":
			// Max-Age wins over Expires (RFC 6265 5.3 step 3).
			if n, err := strconv.Atoi(v); err == nil {
				maxAgeSeen = true
				sc.expires = n <= 0
			}
		case "expires":
			if maxAgeSeen {
				continue
			}
			if t, ok := parseCookieTime(v); ok {
				sc.expires = !t.After(now)
			}
		}
	}
	if sc.path == "" {
		sc.path = defaultCookiePath(requestPath)
	}
	return sc, true
}

// parseCookieTime reads an Expires date in the formats servers send.
func parseCookieTime(v string) (time.Time, bool) {
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	for _, layout := range []string{"Mon, 02-Jan-2006 15:04:05 MST", "Mon, 02-Jan-06 15:04:05 MST"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// defaultCookiePath is RFC 6265 5.1.4's default-path: the request path up
// to its last '/', or "/".
func defaultCookiePath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/"
	}
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// sameCookieSlot reports whether two (name, Path, Domain) name one cookie
// in a browser's jar.
func sameCookieSlot(name, path, domain string, sc setCookie) bool {
	return name == sc.name && path == sc.path && strings.EqualFold(strings.TrimPrefix(domain, "."), sc.domain)
}
