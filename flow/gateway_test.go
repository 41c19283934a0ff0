package flow_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

func TestNew_InvalidConfig_Refused(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*flow.Config)
		wantErr string
	}{
		{"cookie name with a space", func(c *flow.Config) { c.Cookies = []string{"my sid"} }, "cookie"},
		{"cookie name with =", func(c *flow.Config) { c.Cookies = []string{"a=b"} }, "cookie"},
		{"empty cookie name", func(c *flow.Config) { c.Cookies = []string{"sid", ""} }, "cookie"},
		{"relative prefix", func(c *flow.Config) { c.Prefix = "self-service/logout" }, "endpoints"},
		{"root prefix", func(c *flow.Config) { c.Prefix = "/" }, "endpoints"},
		{"unclean prefix", func(c *flow.Config) { c.Prefix = "/a/../logout" }, "endpoints"},
		{"trailing slash prefix", func(c *flow.Config) { c.Prefix = "/logout/" }, "endpoints"},
		{"no keys", func(c *flow.Config) { c.Keys = nil }, "key"},
		{"no store", func(c *flow.Config) { c.Store = nil }, "store"},
		{"redirect without URL", func(c *flow.Config) { c.OnRevoked = flow.Redirect }, "redirect"},
		{"relative intercept path", func(c *flow.Config) { c.Intercept = []string{"logout"} }, "intercept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t) // a valid config to break
			cfg := h.cfg
			tt.mutate(&cfg)
			gw, err := flow.New(cfg)
			if err == nil {
				t.Fatalf("New accepted the config (gateway %v)", gw)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not name %q", err, tt.wantErr)
			}
		})
	}
}

func TestNew_Defaults(t *testing.T) {
	cache := newHarness(t).cache
	keys := newHarness(t).keys
	gw, err := flow.New(flow.Config{Keys: keys, Store: cache})
	if err != nil {
		t.Fatal(err)
	}
	if gw.ErrorsPath() != errorsPath {
		t.Errorf("ErrorsPath %q", gw.ErrorsPath())
	}
	// Default cookie ory_kratos_session, default prefix, default token header.
	a := &app{}
	rec := serveRaw(t, gw, get(browserPath, cookie(flow.DefaultCookie, "s1")), a)
	f := decodeFlow(t, rec)
	if !strings.HasPrefix(f.LogoutURL, "http://example.com"+flow.DefaultPrefix+"?token=") {
		t.Errorf("logout_url %q", f.LogoutURL)
	}
	if a.called() {
		t.Error("the app answered the create endpoint")
	}
}

func serveRaw(t *testing.T, gw *flow.Gateway, r *http.Request, next flow.Next) *http.Response {
	t.Helper()
	h := &harness{t: t, gw: gw}
	return h.serve(r, next)
}

func TestRouting_EndpointsAnswerThemselves(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	for _, target := range []string{browserPath, logoutPath, apiPath, errorsPath} {
		res := h.serve(get(target, header("Accept", "application/json")), nil) // nil next: fails if the app is called
		if res.StatusCode < 400 {
			t.Errorf("%s without credentials: status %d", target, res.StatusCode)
		}
		if res.StatusCode != http.StatusMethodNotAllowed { // GET on the API path: the router's 405
			assertNoCacheHeaders(t, res, false)
		}
	}
}

func TestRouting_NearbyPathsGoToTheApp(t *testing.T) {
	h := newHarness(t)
	for _, target := range []string{"/self-service/logout/", "/self-service/logout/browser/", "/self-service/logout/apix",
		"/self-service/LOGOUT", "/self-service", "/self-service/logout/browser/x", "/self-service/errors/x"} {
		a := &app{}
		res := h.serve(get(target), a)
		assertStatus(t, res, http.StatusOK)
		if !a.called() {
			t.Errorf("%s did not reach the app", target)
		}
	}
}

// observer records the metric events.
type observer struct {
	mu     sync.Mutex
	events []string
}

func (o *observer) Logout(flow, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "logout "+flow+" "+result)
}

func (o *observer) Guard(decision string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, "guard "+decision)
}

func (o *observer) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	e := o.events
	o.events = nil
	return e
}

func TestObserver_HearsEveryDecision(t *testing.T) {
	o := &observer{}
	h := newHarness(t, withIntercept("/logout"), func(c *flow.Config) { c.Observer = o })
	h.revoke("dead")
	steps := []struct {
		req  *http.Request
		next flow.Next
		want []string
	}{
		{get(browserPath, cookie(cookieName, "s1")), nil, []string{"logout browser_create ok"}},
		{get(browserPath), nil, []string{"logout browser_create no_session"}},
		{get(logoutPath, cookie(cookieName, "s1")), nil, []string{"logout browser bad_request"}},
		{get(performTarget(h.token("x"), ""), cookie(cookieName, "s1")), nil, []string{"logout browser token_mismatch"}},
		{get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1")), nil, []string{"logout browser ok"}},
		{get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1")), nil, []string{"logout browser no_session"}},
		{apiLogout(`{"session_token":"t"}`), nil, []string{"logout api ok"}},
		{apiLogout(`{}`), nil, []string{"logout api forbidden"}},
		{apiLogout(`[]`), nil, []string{"logout api bad_request"}},
		// The guard holds on intercepted logouts too.
		{get("/logout", cookie(cookieName, "s2")), &app{}, []string{"guard passed", "logout intercept ok"}},
		{get("/logout", cookie(cookieName, "dead")), &app{}, []string{"guard revoked", "logout intercept no_session"}},
		{get("/logout"), &app{}, []string{"logout intercept no_session"}},
		{get("/logout", cookie(cookieName, "s3"), header("Sec-Fetch-Site", "cross-site")), &app{status: 403},
			[]string{"guard passed", "logout intercept forbidden"}},
		{get("/page"), &app{}, nil},
		{get("/page", cookie(cookieName, "alive")), &app{}, []string{"guard passed"}},
		{get("/page", cookie(cookieName, "dead")), &app{}, []string{"guard revoked"}},
	}
	for _, s := range steps {
		h.serve(s.req, s.next)
		got := o.take()
		if strings.Join(got, "|") != strings.Join(s.want, "|") {
			t.Errorf("%s %s: events %q, want %q", s.req.Method, s.req.URL, got, s.want)
		}
	}
}

func TestGateway_ClosedStore_FailsSafely(t *testing.T) {
	// On a config reload old requests may outlive the store: they must fail
	// safely, never panic or 500. A closed store is no outage: the guard
	// refuses (503) even under on_store_error allow (the default here)
	// rather than pass a session nothing checked; creating a logout URL is
	// harmless; a revocation asked for is a 503.
	h := newHarness(t, withIntercept("/logout"))
	_ = h.cache.Close()
	_ = h.store.Close()
	tests := []struct {
		req  *http.Request
		want int
	}{
		{get("/page", cookie(cookieName, "s1")), http.StatusServiceUnavailable},
		{get(browserPath, cookie(cookieName, "s1")), http.StatusOK},
		{get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON), http.StatusServiceUnavailable},
		{apiLogout(`{"session_token":"t"}`), http.StatusServiceUnavailable},
		{get("/logout", cookie(cookieName, "s1")), http.StatusOK},
	}
	for _, tt := range tests {
		res := h.serve(tt.req, &app{})
		if res.StatusCode != tt.want {
			t.Errorf("%s %s: status %d, want %d", tt.req.Method, tt.req.URL, res.StatusCode, tt.want)
		}
	}
}
