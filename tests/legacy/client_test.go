package legacy

import (
	"crypto/rand"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Cookie is a cookie as a browser keeps it for one host.
type Cookie struct {
	Name, Value, Path string
	Persistent        bool // it has an expiry, so it outlives the browser
	Secure            bool
}

func (c Cookie) String() string { return c.Name + " (Path=" + c.Path + ")" }

// Jar keeps cookies the way a browser does for a single host (every test
// site is one host): by name and Path, sent to the paths under their
// Path, longest Path first, Secure ones only over HTTPS, deleted by an
// expiry in the past. Unlike net/http/cookiejar it tells which cookies are
// persistent, so a test can restart the browser.
type Jar struct {
	mu      sync.Mutex
	cookies []Cookie
}

// SetCookies implements http.CookieJar.
func (j *Jar) SetCookies(u *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.Secure && u.Scheme != "https" {
			continue // browsers refuse Secure cookies from plain HTTP
		}
		p := c.Path
		if !strings.HasPrefix(p, "/") {
			p = defaultPath(u.Path)
		}
		j.cookies = slices.DeleteFunc(j.cookies, func(k Cookie) bool { return k.Name == c.Name && k.Path == p })
		if c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(time.Now()) {
			continue // a deletion
		}
		j.cookies = append(j.cookies, Cookie{Name: c.Name, Value: c.Value, Path: p,
			Persistent: c.MaxAge > 0 || !c.Expires.IsZero(), Secure: c.Secure})
	}
}

// Cookies implements http.CookieJar.
func (j *Jar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var match []Cookie
	for _, c := range j.cookies {
		if pathMatch(u.Path, c.Path) && (!c.Secure || u.Scheme == "https") {
			match = append(match, c)
		}
	}
	sort.SliceStable(match, func(a, b int) bool { return len(match[a].Path) > len(match[b].Path) })
	out := make([]*http.Cookie, len(match))
	for i, c := range match {
		out[i] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
	return out
}

// All is every cookie the jar holds: what a thief copies.
func (j *Jar) All() []Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.cookies)
}

// Get is the jar's cookie of that name (the first, when several paths).
func (j *Jar) Get(name string) (Cookie, bool) {
	for _, c := range j.All() {
		if c.Name == name {
			return c, true
		}
	}
	return Cookie{}, false
}

// Restart drops the cookies that do not outlive the browser.
func (j *Jar) Restart() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cookies = slices.DeleteFunc(j.cookies, func(c Cookie) bool { return !c.Persistent })
}

// JarOf is a jar holding exactly these cookies: a copied jar replayed.
func JarOf(cs ...Cookie) *Jar { return &Jar{cookies: slices.Clone(cs)} }

func defaultPath(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// pathMatch is RFC 6265 5.1.4.
func pathMatch(reqPath, cookiePath string) bool {
	if reqPath == "" {
		reqPath = "/"
	}
	if reqPath == cookiePath {
		return true
	}
	return strings.HasPrefix(reqPath, cookiePath) && (strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/')
}

// Browser is a Go client that behaves like a browser on the test site:
// it keeps cookies in its Jar, follows redirects itself (recording each
// hop), and sends the fetch metadata a browser sends for a click on a
// page of the same site. Every answer of 500 or more fails the test.
type Browser struct {
	t      *testing.T
	Jar    *Jar
	client *http.Client
	Site   string // scheme://host:port
}

// Hop is one answer on the way to a page.
type Hop struct {
	Status   int
	Location string
	Header   http.Header
}

// Page is where a navigation ended.
type Page struct {
	URL    string
	Status int
	Body   string
	Hops   []Hop // every answer, the page's last
}

// NewBrowser is a browser with an empty jar on site (https sites are
// reached on loopback with Caddy's internal certificate).
func NewBrowser(t *testing.T, site string) *Browser {
	return NewBrowserWith(t, site, &Jar{})
}

// NewBrowserWith is a browser with the given jar.
func NewBrowserWith(t *testing.T, site string, jar *Jar) *Browser {
	c := e2e.LoopbackClient()
	c.Jar = jar
	c.Timeout = 30 * time.Second
	return &Browser{t: t, Jar: jar, client: c, Site: site}
}

// Get navigates to path (or an absolute URL), as a click on one of the
// site's own pages does.
func (b *Browser) Get(target string) *Page {
	b.t.Helper()
	return b.Navigate(http.MethodGet, target, nil, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Referer": {b.Site + "/"}})
}

// Post submits a form of the site's own.
func (b *Browser) Post(target string, form url.Values) *Page {
	b.t.Helper()
	h := http.Header{
		"Sec-Fetch-Site": {"same-origin"},
		"Origin":         {b.Site},
		"Content-Type":   {"application/x-www-form-urlencoded"},
	}
	return b.Navigate(http.MethodPost, target, form, h)
}

// Navigate sends a request and follows the redirects (as GETs, as
// browsers do after a POST).
func (b *Browser) Navigate(method, target string, form url.Values, h http.Header) *Page {
	b.t.Helper()
	u := b.resolve(target)
	page := &Page{}
	for range 10 {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, u, body)
		if err != nil {
			b.t.Fatal(err)
		}
		req.Header.Set("Accept", "text/html,application/xhtml+xml")
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) caddy-logout-legacy-test")
		for k, v := range h {
			req.Header[k] = v
		}
		res, err := b.client.Do(req)
		if err != nil {
			b.t.Fatalf("%s %s: %v", method, u, err)
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		if res.StatusCode >= 500 {
			b.t.Fatalf("%s %s: %s\n%s", method, u, res.Status, raw)
		}
		loc := res.Header.Get("Location")
		page.Hops = append(page.Hops, Hop{Status: res.StatusCode, Location: loc, Header: res.Header})
		page.URL, page.Status, page.Body = u, res.StatusCode, string(raw)
		if res.StatusCode < 300 || res.StatusCode >= 400 || loc == "" {
			return page
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatalf("%s %s: Location %q: %v", method, u, loc, err)
		}
		u, method, form = next.String(), http.MethodGet, nil
		h = http.Header{"Sec-Fetch-Site": {"same-origin"}}
	}
	b.t.Fatalf("%s %s: more than 10 redirects", method, target)
	return nil
}

func (b *Browser) resolve(target string) string {
	if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
		return target
	}
	return b.Site + target
}

// link finds the first href on the page that contains want, unescaped.
func (p *Page) link(t *testing.T, want string) string {
	t.Helper()
	for _, m := range hrefs.FindAllStringSubmatch(p.Body, -1) {
		if h := html.UnescapeString(m[1]); strings.Contains(h, want) {
			return h
		}
	}
	t.Fatalf("no link with %q on %s (status %d):\n%.3000s", want, p.URL, p.Status, p.Body)
	return ""
}

func (p *Page) hasLink(want string) bool {
	for _, m := range hrefs.FindAllStringSubmatch(p.Body, -1) {
		if strings.Contains(html.UnescapeString(m[1]), want) {
			return true
		}
	}
	return false
}

var hrefs = regexp.MustCompile(`href=["']([^"']+)["']`)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
