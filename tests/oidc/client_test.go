package oidc

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// webClient is a browser as far as HTTP goes: one cookie jar (cookies kept
// per host, as browsers keep them), redirects followed, HTML forms filled
// in and submitted. It runs no JavaScript; Chromium does that where a flow
// needs it (front-channel iframes).
type webClient struct {
	t       *testing.T
	name    string
	http    *http.Client
	visited []string // every URL requested, in order
}

func newWebClient(t *testing.T, name string) *webClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webClient{t: t, name: name, http: &http.Client{
		Jar:           jar,
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read, at the URL it came from.
type page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

// do sends one request, without following redirects.
func (c *webClient) do(method, rawURL string, form url.Values) page {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c.visited = append(c.visited, req.URL.String())
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s: %s %s: %v", c.name, method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return page{URL: req.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// follow sends a request and follows redirects as a browser does (a 303,
// or a 302 after a POST, becomes a GET), returning the last page.
func (c *webClient) follow(method, rawURL string, form url.Values) page {
	c.t.Helper()
	p := c.do(method, rawURL, form)
	for hops := 0; p.Status >= 300 && p.Status < 400; hops++ {
		if hops == 20 {
			c.t.Fatalf("%s: too many redirects at %s", c.name, p.URL)
		}
		loc, err := p.URL.Parse(p.Header.Get("Location"))
		if err != nil {
			c.t.Fatalf("%s: bad Location %q", c.name, p.Header.Get("Location"))
		}
		if p.Status == http.StatusTemporaryRedirect || p.Status == http.StatusPermanentRedirect {
			p = c.do(method, loc.String(), form)
			continue
		}
		method, form = http.MethodGet, nil
		p = c.do(http.MethodGet, loc.String(), nil)
	}
	return p
}

func (c *webClient) get(rawURL string) page {
	c.t.Helper()
	return c.follow(http.MethodGet, rawURL, nil)
}

// submit fills in the page's form (the first, or the one with id) with
// its own fields plus values, submits it and follows the answer.
func (c *webClient) submit(p page, id string, values url.Values) page {
	c.t.Helper()
	f, ok := findForm(p.Body, id)
	if !ok {
		c.t.Fatalf("%s: no form %q on %s (%d):\n%s", c.name, id, p.URL, p.Status, p.Body)
	}
	for k, vs := range values {
		f.fields[k] = vs
	}
	action, err := p.URL.Parse(f.action)
	if err != nil {
		c.t.Fatal(err)
	}
	if strings.EqualFold(f.method, "post") {
		return c.follow(http.MethodPost, action.String(), f.fields)
	}
	action.RawQuery = f.fields.Encode()
	return c.get(action.String())
}

// cookieHeader is the Cookie header the client would send to u.
func (c *webClient) cookieHeader(u string) string {
	parsed, _ := url.Parse(u)
	var pairs []string
	for _, ck := range c.http.Jar.Cookies(parsed) {
		pairs = append(pairs, ck.Name+"="+ck.Value)
	}
	return strings.Join(pairs, "; ")
}

type form struct {
	action, method string
	fields         url.Values
}

// findForm reads a form's action, method and fields (inputs with a name,
// as a browser submits them; buttons are left to the caller).
func findForm(body, id string) (form, bool) {
	z := html.NewTokenizer(strings.NewReader(body))
	var f form
	in := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return f, in
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			attr := func(name string) string {
				for _, a := range tok.Attr {
					if a.Key == name {
						return a.Val
					}
				}
				return ""
			}
			switch tok.Data {
			case "form":
				if !in && (id == "" || attr("id") == id) {
					in = true
					f = form{action: attr("action"), method: attr("method"), fields: url.Values{}}
				}
			case "input":
				if in && attr("name") != "" {
					f.fields.Add(attr("name"), attr("value"))
				}
			}
		case html.EndTagToken:
			if in && z.Token().Data == "form" {
				return f, true
			}
		}
	}
}

// visitedPrefix is the last URL visited that starts with prefix, or "".
func (c *webClient) visitedPrefix(prefix string) string {
	for i := len(c.visited) - 1; i >= 0; i-- {
		if strings.HasPrefix(c.visited[i], prefix) {
			return c.visited[i]
		}
	}
	return ""
}
