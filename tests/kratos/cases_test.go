package kratos

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// The configuration both servers share (see startBoth).
const (
	defaultReturnURL = "https://app.example.test/after-logout"
	allowedApp       = "https://app.example.test/"
	allowedPartner   = "https://partner.example.test/app"
	errorUI          = "https://ui.example.test/error"
)

// Accept headers as real clients send them.
var (
	jsonClient    = http.Header{"Accept": {"application/json"}}
	htmlNavigator = http.Header{"Accept": {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"}}
	noAccept      = http.Header{}
)

// side is one of the two servers: the real Kratos, or Caddy with logout.
// Sessions for either come from the real Kratos (its login flows); the
// gateway takes any session cookie or token as a session, so the same
// kind of credential goes to both.
type side struct {
	name   string
	origin string // scheme://host:port the side answers on
	kratos *e2e.Kratos
	client *http.Client
}

func newSide(name, origin string, k *e2e.Kratos) *side {
	return &side{name: name, origin: origin, kratos: k, client: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// cookie is the Cookie header of a fresh browser session (Kratos's browser
// login flow, with its CSRF cookie).
func (s *side) cookie(t *testing.T) string {
	t.Helper()
	c := s.kratos.LoginBrowser(t, s.kratos.CreateIdentity(t)).Cookie
	return c.Name + "=" + c.Value
}

// token is the session token of a fresh native session (the API flow).
func (s *side) token(t *testing.T) string {
	t.Helper()
	return s.kratos.LoginAPI(t, s.kratos.CreateIdentity(t)).Token
}

// send sends one request to the side (target: a path with query, or an
// absolute URL the side itself handed out) and observes the answer.
func (s *side) send(t *testing.T, method, target string, h http.Header, body string) *observation {
	t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.origin + target
	}
	var req *http.Request
	var err error
	if body == "" {
		req, err = http.NewRequest(method, target, nil)
	} else {
		req, err = http.NewRequest(method, target, strings.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, method, target, err)
	}
	o, err := observe(s.origin, resp)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, method, target, err)
	}
	return o
}

// create asks for a logout URL for a session cookie (a setup step: it must
// succeed).
func (s *side) create(t *testing.T, cookie, query string) (logoutURL, token string) {
	t.Helper()
	return s.createAt(t, createPath+query, with(jsonClient, "Cookie", cookie))
}

// createWith asks for a logout URL with the given headers.
func (s *side) createWith(t *testing.T, h http.Header) (logoutURL, token string) {
	t.Helper()
	return s.createAt(t, createPath, h)
}

func (s *side) createAt(t *testing.T, target string, h http.Header) (logoutURL, token string) {
	t.Helper()
	o := s.send(t, http.MethodGet, target, h, "")
	if o.status != http.StatusOK || o.logoutURL == "" {
		t.Fatalf("%s: create logout at %s: %d %s %s", s.name, target, o.status, o.errReason, o.body)
	}
	return o.logoutURL, o.logoutToken
}

// openOwnLogoutURL logs a fresh browser session in, asks for its logout URL
// (createQuery on the create request) and opens that URL, with suffix
// appended, by method with h and the session cookie.
func (s *side) openOwnLogoutURL(t *testing.T, method string, h http.Header, createQuery, suffix string) *observation {
	t.Helper()
	cookie := s.cookie(t)
	logoutURL, _ := s.create(t, cookie, createQuery)
	return s.send(t, method, logoutURL+suffix, with(h, "Cookie", cookie), "")
}

// perform opens a logout URL as a JSON client (a setup step: it must succeed).
func (s *side) perform(t *testing.T, cookie, logoutURL string) {
	t.Helper()
	if o := s.send(t, http.MethodGet, logoutURL, with(jsonClient, "Cookie", cookie), ""); o.status != http.StatusNoContent {
		t.Fatalf("%s: perform logout: %d %s", s.name, o.status, o.errReason)
	}
}

// errorID is the id the side put in its redirect to the error UI.
func (s *side) errorID(t *testing.T, o *observation) string {
	t.Helper()
	u, err := url.Parse(o.location)
	if err != nil || o.status != http.StatusSeeOther || !strings.HasPrefix(o.location, errorUI+"?") || u.Query().Get("id") == "" {
		t.Fatalf("%s: expected a redirect to the error UI, got %d Location %q", s.name, o.status, o.location)
	}
	return u.Query().Get("id")
}

// with is h plus one header (none when value is empty).
func with(h http.Header, key, value string) http.Header {
	out := h.Clone()
	if value != "" {
		out.Set(key, value)
	}
	return out
}

func jsonBody(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// kase is one logical request, with whatever setup it needs, run the same
// way against each side.
type kase struct {
	name string
	run  func(t *testing.T, s *side) *observation
}

const (
	createPath  = "/self-service/logout/browser"
	performPath = "/self-service/logout"
	apiPath     = "/self-service/logout/api"
	errorsPath  = "/self-service/errors"
)

var cases = []kase{
	// Creating a logout URL.
	{"create: JSON client", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: HTML navigation", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(htmlNavigator, "Cookie", s.cookie(t)), "")
	}},
	{"create: no Accept", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(noAccept, "Cookie", s.cookie(t)), "")
	}},
	{"create: allowed return_to", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to="+url.QueryEscape("https://app.example.test/bye"), with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: allowed return_to under a path", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to="+url.QueryEscape(allowedPartner+"/x"), with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: relative return_to", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to=/dashboard", with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: disallowed return_to", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to="+url.QueryEscape("https://evil.example/"), with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: disallowed return_to, HTML navigation", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to="+url.QueryEscape("https://evil.example/"), with(htmlNavigator, "Cookie", s.cookie(t)), "")
	}},
	{"create: return_to past a segment boundary", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath+"?return_to="+url.QueryEscape("https://partner.example.test/application"), with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: no session, JSON client", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, jsonClient, "")
	}},
	{"create: no session, HTML navigation", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, htmlNavigator, "")
	}},
	{"create: no session, no Accept", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, noAccept, "")
	}},
	{"create: unknown session cookie", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(jsonClient, "Cookie", "ory_kratos_session=not-a-session"), "")
	}},
	{"create: revoked session", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		logoutURL, _ := s.create(t, cookie, "")
		s.perform(t, cookie, logoutURL)
		return s.send(t, "GET", createPath, with(jsonClient, "Cookie", cookie), "")
	}},
	{"create: X-Session-Token", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(jsonClient, "X-Session-Token", s.token(t)), "")
	}},
	{"create: X-Session-Token, no Accept", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(noAccept, "X-Session-Token", s.token(t)), "")
	}},
	{"create: Authorization Bearer", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", createPath, with(jsonClient, "Authorization", "Bearer "+s.token(t)), "")
	}},
	{"create: wrong method", func(t *testing.T, s *side) *observation {
		return s.send(t, "TRACE", createPath, with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: HEAD", func(t *testing.T, s *side) *observation {
		return s.send(t, "HEAD", createPath, with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: POST", func(t *testing.T, s *side) *observation {
		return s.send(t, "POST", createPath, with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"create: OPTIONS", func(t *testing.T, s *side) *observation {
		return s.send(t, "OPTIONS", createPath, nil, "")
	}},

	// Performing it.
	{"perform: JSON client", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "GET", jsonClient, "", "")
	}},
	{"perform: browser", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "GET", htmlNavigator, "", "")
	}},
	{"perform: browser, allowed return_to", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "GET", htmlNavigator, "?return_to="+url.QueryEscape("https://app.example.test/bye"), "")
	}},
	{"perform: wrong token", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		s.create(t, cookie, "")
		return s.send(t, "GET", performPath+"?token=not-the-token", with(jsonClient, "Cookie", cookie), "")
	}},
	{"perform: wrong token, browser", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		s.create(t, cookie, "")
		return s.send(t, "GET", performPath+"?token=not-the-token", with(htmlNavigator, "Cookie", cookie), "")
	}},
	{"perform: another session's token", func(t *testing.T, s *side) *observation {
		_, other := s.create(t, s.cookie(t), "")
		return s.send(t, "GET", performPath+"?token="+url.QueryEscape(other), with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"perform: missing token", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", performPath, with(jsonClient, "Cookie", s.cookie(t)), "")
	}},
	{"perform: missing token, browser", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", performPath, with(htmlNavigator, "Cookie", s.cookie(t)), "")
	}},
	{"perform: no session", func(t *testing.T, s *side) *observation {
		_, token := s.create(t, s.cookie(t), "")
		return s.send(t, "GET", performPath+"?token="+url.QueryEscape(token), jsonClient, "")
	}},
	{"perform: reused token", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		logoutURL, _ := s.create(t, cookie, "")
		s.perform(t, cookie, logoutURL)
		return s.send(t, "GET", logoutURL, with(jsonClient, "Cookie", cookie), "")
	}},
	{"perform: reused token, browser", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		logoutURL, _ := s.create(t, cookie, "")
		s.perform(t, cookie, logoutURL)
		return s.send(t, "GET", logoutURL, with(htmlNavigator, "Cookie", cookie), "")
	}},
	{"perform: disallowed return_to", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "GET", jsonClient, "", "&return_to="+url.QueryEscape("https://evil.example/"))
	}},
	{"perform: disallowed return_to, browser", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "GET", htmlNavigator, "", "&return_to="+url.QueryEscape("https://evil.example/"))
	}},
	{"perform: X-Session-Token", func(t *testing.T, s *side) *observation {
		token := s.token(t)
		logoutURL, _ := s.createWith(t, with(jsonClient, "X-Session-Token", token))
		return s.send(t, "GET", logoutURL, with(jsonClient, "X-Session-Token", token), "")
	}},
	{"perform: Authorization Bearer", func(t *testing.T, s *side) *observation {
		bearer := "Bearer " + s.token(t)
		logoutURL, _ := s.createWith(t, with(jsonClient, "Authorization", bearer))
		return s.send(t, "GET", logoutURL, with(jsonClient, "Authorization", bearer), "")
	}},
	{"perform: the cookie's logout URL, with an X-Session-Token too", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		logoutURL, _ := s.create(t, cookie, "")
		return s.send(t, "GET", logoutURL, with(with(jsonClient, "Cookie", cookie), "X-Session-Token", s.token(t)), "")
	}},
	{"perform: wrong method", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "TRACE", jsonClient, "", "")
	}},
	{"perform: HEAD", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "HEAD", jsonClient, "", "")
	}},
	{"perform: POST", func(t *testing.T, s *side) *observation {
		return s.openOwnLogoutURL(t, "POST", jsonClient, "", "")
	}},

	// The API flow.
	{"api: valid token", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), jsonBody(map[string]string{"session_token": s.token(t)}))
	}},
	{"api: the same token again", func(t *testing.T, s *side) *observation {
		body := jsonBody(map[string]string{"session_token": s.token(t)})
		if o := s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), body); o.status != http.StatusNoContent {
			t.Fatalf("%s: first API logout: %d %s", s.name, o.status, o.errReason)
		}
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), body)
	}},
	{"api: unknown token", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{"session_token":"ory_st_never-issued"}`)
	}},
	{"api: {}", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{}`)
	}},
	{"api: empty token", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{"session_token":""}`)
	}},
	{"api: null token", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{"session_token":null}`)
	}},
	{"api: no body", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), "")
	}},
	{"api: no body, no Content-Type", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, jsonClient, "")
	}},
	{"api: form body", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/x-www-form-urlencoded"), "session_token="+url.QueryEscape(s.token(t)))
	}},
	{"api: bad JSON", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{"session_token": `)
	}},
	{"api: not JSON at all", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `session_token=x`)
	}},
	{"api: JSON, not an object", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `["x"]`)
	}},
	{"api: token not a string", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), `{"session_token": 5}`)
	}},
	{"api: Content-Type with charset", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json; charset=utf-8"), jsonBody(map[string]string{"session_token": s.token(t)}))
	}},
	{"api: body over the limit", func(t *testing.T, s *side) *observation {
		return s.send(t, "DELETE", apiPath, with(jsonClient, "Content-Type", "application/json"), jsonBody(map[string]string{"session_token": strings.Repeat("x", 20<<10)}))
	}},
	{"api: wrong method", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", apiPath, jsonClient, "")
	}},
	{"api: POST", func(t *testing.T, s *side) *observation {
		return s.send(t, "POST", apiPath, with(jsonClient, "Content-Type", "application/json"), jsonBody(map[string]string{"session_token": s.token(t)}))
	}},
	{"api: OPTIONS", func(t *testing.T, s *side) *observation {
		return s.send(t, "OPTIONS", apiPath, nil, "")
	}},

	// The errors endpoint, as the error UI calls it.
	{"errors: an error a browser was sent with", func(t *testing.T, s *side) *observation {
		id := s.errorID(t, s.send(t, "GET", createPath, htmlNavigator, ""))
		return s.send(t, "GET", errorsPath+"?id="+url.QueryEscape(id), jsonClient, "")
	}},
	{"errors: a 403 a browser was sent with", func(t *testing.T, s *side) *observation {
		cookie := s.cookie(t)
		s.create(t, cookie, "")
		id := s.errorID(t, s.send(t, "GET", performPath+"?token=not-the-token", with(htmlNavigator, "Cookie", cookie), ""))
		return s.send(t, "GET", errorsPath+"?id="+url.QueryEscape(id), jsonClient, "")
	}},
	{"errors: unknown id", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", errorsPath+"?id=1b1d2a3c-7f47-4bd6-9c2e-4fd3c5b5a0e1", jsonClient, "")
	}},
	{"errors: no id", func(t *testing.T, s *side) *observation {
		return s.send(t, "GET", errorsPath, jsonClient, "")
	}},
	{"errors: wrong method", func(t *testing.T, s *side) *observation {
		return s.send(t, "TRACE", errorsPath+"?id=x", jsonClient, "")
	}},
	{"errors: POST", func(t *testing.T, s *side) *observation {
		return s.send(t, "POST", errorsPath+"?id=x", jsonClient, "")
	}},
}
