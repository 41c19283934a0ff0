package flow_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

// TestCookieClearing_Attributes pins SPEC 1.6: the exact deletion cookies
// for each combination of name prefix, Path, Domain, SameSite and scheme.
func TestCookieClearing_Attributes(t *testing.T) {
	const tail = deletionTail
	tests := []struct {
		name     string
		cookie   string
		attrs    flow.CookieAttributes
		https    bool
		forwards bool // plain HTTP from a trusted proxy that says https
		want     []string
	}{
		{name: "defaults over http", cookie: "sid",
			want: []string{"sid=; Path=/" + tail + "; SameSite=Lax"}},
		{name: "defaults over https", cookie: "sid", https: true,
			want: []string{"sid=; Path=/" + tail + "; Secure; SameSite=Lax"}},
		{name: "https via a trusted proxy", cookie: "sid", forwards: true,
			want: []string{"sid=; Path=/" + tail + "; Secure; SameSite=Lax"}},
		{name: "configured path", cookie: "sid", attrs: flow.CookieAttributes{Paths: []string{"/app"}},
			want: []string{"sid=; Path=/app" + tail + "; SameSite=Lax"}},
		{name: "strict", cookie: "sid", attrs: flow.CookieAttributes{SameSite: http.SameSiteStrictMode},
			want: []string{"sid=; Path=/" + tail + "; SameSite=Strict"}},
		{name: "explicit lax", cookie: "sid", attrs: flow.CookieAttributes{SameSite: http.SameSiteLaxMode},
			want: []string{"sid=; Path=/" + tail + "; SameSite=Lax"}},
		{name: "none over https", cookie: "sid", https: true, attrs: flow.CookieAttributes{SameSite: http.SameSiteNoneMode},
			want: []string{"sid=; Path=/" + tail + "; Secure; SameSite=None"}},
		{name: "none over http is left out (None needs Secure)", cookie: "sid",
			attrs: flow.CookieAttributes{SameSite: http.SameSiteNoneMode},
			want:  []string{"sid=; Path=/" + tail}},
		{name: "domains: host-only plus each", cookie: "sid",
			attrs: flow.CookieAttributes{Paths: []string{"/app"}, Domains: []string{"example.com", ".shop.example.com"}},
			want: []string{
				"sid=; Path=/app" + tail + "; SameSite=Lax",
				"sid=; Path=/app; Domain=example.com" + tail + "; SameSite=Lax",
				"sid=; Path=/app; Domain=.shop.example.com" + tail + "; SameSite=Lax",
			}},
		{name: "__Host- prefix: Secure, Path=/, no Domain, even over http", cookie: "__Host-sid",
			attrs: flow.CookieAttributes{Paths: []string{"/app"}, Domains: []string{"example.com"}},
			want:  []string{"__Host-sid=; Path=/" + tail + "; Secure; SameSite=Lax"}},
		{name: "__Host- prefix with SameSite=None", cookie: "__Host-sid",
			attrs: flow.CookieAttributes{SameSite: http.SameSiteNoneMode},
			want:  []string{"__Host-sid=; Path=/" + tail + "; Secure; SameSite=None"}},
		{name: "__Secure- prefix: Secure even over http, domains kept", cookie: "__Secure-sid",
			attrs: flow.CookieAttributes{Paths: []string{"/app"}, Domains: []string{"example.com"}},
			want: []string{
				"__Secure-sid=; Path=/app" + tail + "; Secure; SameSite=Lax",
				"__Secure-sid=; Path=/app; Domain=example.com" + tail + "; Secure; SameSite=Lax",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) {
				c.Cookies = []string{tt.cookie}
				c.Cookie = tt.attrs
				c.TrustForwarded = func(*http.Request) bool { return tt.forwards }
			})
			r := get(performTarget(h.token("s1"), ""), cookie(tt.cookie, "s1"), asJSON)
			if tt.https {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.forwards {
				r.Header.Set("X-Forwarded-Proto", "https")
			}
			res := h.serve(r, nil)
			assertStatus(t, res, http.StatusNoContent)
			got := setCookies(res)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Set-Cookie\n got %q\nwant %q", got, tt.want)
			}
			// And a client reads each of them as a deletion of that cookie.
			for _, c := range res.Cookies() {
				if c.Name != tt.cookie || c.Value != "" || c.MaxAge >= 0 || !c.HttpOnly {
					t.Errorf("%q is not read as a deletion of %s: %+v", c.Raw, tt.cookie, c)
				}
			}
			if len(res.Cookies()) != len(tt.want) {
				t.Errorf("%d cookies parse, want %d", len(res.Cookies()), len(tt.want))
			}
		})
	}
}

func TestCookieClearing_UntrustedForwardedProto_NotSecure(t *testing.T) {
	h := newHarness(t)
	r := get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON, header("X-Forwarded-Proto", "https"))
	res := h.serve(r, nil)
	assertHeader(t, res, "Set-Cookie", deletion(cookieName))
}

func TestCookieClearing_ChunksRepeatTheAttributes(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) {
		c.Cookie = flow.CookieAttributes{Paths: []string{"/app"}, Domains: []string{"example.com"}, SameSite: http.SameSiteStrictMode}
	})
	r := get(performTarget(h.token("ab"), ""), cookies("sid_0=a; sid_1=b"), asJSON)
	r.TLS = &tls.ConnectionState{}
	res := h.serve(r, nil)
	assertStatus(t, res, http.StatusNoContent)
	var want []string
	for _, n := range []string{"sid", "sid_0", "sid_1"} {
		want = append(want,
			n+"=; Path=/app"+deletionTail+"; Secure; SameSite=Strict",
			n+"=; Path=/app; Domain=example.com"+deletionTail+"; Secure; SameSite=Strict")
	}
	assertSameSet(t, setCookies(res), want)
}

func TestCookieClearing_OnlyChunksTheClientSent(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON), nil)
	assertHeader(t, res, "Set-Cookie", deletion(cookieName))
}

// headerAtStatus records the Set-Cookie headers present when the status
// was written, and any written after.
type headerAtStatus struct {
	*httptest.ResponseRecorder
	atStatus []string
	status   int
}

func (w *headerAtStatus) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.atStatus = slices.Clone(w.Header().Values("Set-Cookie"))
	}
	w.ResponseRecorder.WriteHeader(code)
}

func (w *headerAtStatus) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseRecorder.Write(b)
}

func TestCookieClearing_AllSetCookieBeforeStatus(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*flow.Config)
		req    func(h *harness) *http.Request
		next   flow.Next
		want   int // Set-Cookie headers expected
	}{
		{name: "perform, JSON", want: 3,
			mutate: func(c *flow.Config) { c.Cookie.Domains = []string{"a.example", "b.example"} },
			req: func(h *harness) *http.Request {
				return get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1"), asJSON)
			}},
		{name: "perform, browser redirect", want: 1,
			req: func(h *harness) *http.Request { return get(performTarget(h.token("s1"), ""), cookie(cookieName, "s1")) }},
		{name: "perform, revoked cookie 401", want: 1,
			req: func(h *harness) *http.Request {
				tok := h.token("s1")
				h.revoke("s1")
				return get(performTarget(tok, ""), cookie(cookieName, "s1"))
			}},
		{name: "perform, disallowed return_to", want: 1,
			req: func(h *harness) *http.Request {
				return get(performTarget(h.token("s1"), "https://evil.com/"), cookie(cookieName, "s1"), asJSON)
			}},
		{name: "guard strip", want: 1, next: &app{},
			req: func(h *harness) *http.Request { h.revoke("dead"); return get("/", cookie(cookieName, "dead")) }},
		{name: "intercept, app 200", want: 1, next: &app{},
			mutate: withIntercept("/logout"),
			req:    func(h *harness) *http.Request { return get("/logout", cookie(cookieName, "s1")) }},
		{name: "intercept, app 302", want: 1, next: &app{status: 302, header: http.Header{"Location": {"https://evil.com"}}},
			mutate: withIntercept("/logout"),
			req:    func(h *harness) *http.Request { return get("/logout", cookie(cookieName, "s1")) }},
		{name: "intercept, app 500", want: 1, next: &app{status: 500},
			mutate: withIntercept("/logout"),
			req:    func(h *harness) *http.Request { return get("/logout", cookie(cookieName, "s1")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mutate []func(*flow.Config)
			if tt.mutate != nil {
				mutate = append(mutate, tt.mutate)
			}
			h := newHarness(t, mutate...)
			w := &headerAtStatus{ResponseRecorder: httptest.NewRecorder()}
			next := tt.next
			if next == nil {
				next = flow.NextFunc(func(http.ResponseWriter, *http.Request) error {
					t.Error("the app was called")
					return nil
				})
			}
			if err := h.gw.ServeHTTP(w, tt.req(h), next); err != nil {
				t.Fatal(err)
			}
			if w.status == 0 {
				t.Fatal("no status written")
			}
			if len(w.atStatus) != tt.want {
				t.Errorf("%d Set-Cookie at WriteHeader(%d), want %d: %q", len(w.atStatus), w.status, tt.want, w.atStatus)
			}
			if after := w.Header().Values("Set-Cookie"); len(after) != len(w.atStatus) {
				t.Errorf("Set-Cookie added after the status: at status %q, at end %q", w.atStatus, after)
			}
		})
	}
}
