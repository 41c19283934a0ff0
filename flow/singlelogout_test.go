package flow_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// endSessionTo is an EndSession hook that sends every logout to the
// provider with the return URL, recording which session it was asked for.
func endSessionTo(seen *[]session.ID) func(*flow.Config) {
	return func(c *flow.Config) {
		c.EndSession = func(_ *http.Request, id session.ID, returnTo string) (string, bool) {
			*seen = append(*seen, id)
			return "https://idp.example/session/end?post_logout_redirect_uri=" + returnTo, true
		}
	}
}

func TestEndSession_BrowserLogoutGoesOnToTheProvider(t *testing.T) {
	var seen []session.ID
	h := newHarness(t, endSessionTo(&seen))
	u, _ := h.logoutURL("s1", "https://app.example.com/bye")
	res := h.serve(get(u, cookie(cookieName, "s1")), nil)
	assertStatus(t, res, http.StatusSeeOther)
	assertHeader(t, res, "Location", "https://idp.example/session/end?post_logout_redirect_uri=https://app.example.com/bye")
	if len(seen) != 1 || seen[0] != session.CookieID("s1") {
		t.Fatalf("hook asked for %v", seen)
	}
	h.assertRevoked("s1")
}

// A JSON client gets its 204: there is no redirect to chain.
func TestEndSession_JSONClientGets204(t *testing.T) {
	var seen []session.ID
	h := newHarness(t, endSessionTo(&seen))
	u, _ := h.logoutURL("s1", "")
	res := h.serve(get(u, cookie(cookieName, "s1"), accept("application/json")), nil)
	assertStatus(t, res, http.StatusNoContent)
	if len(seen) != 0 {
		t.Fatalf("hook called for a JSON client")
	}
}

// The hook declining (no provider endpoint known) leaves the redirect.
func TestEndSession_HookDeclines_PlainRedirect(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) {
		c.EndSession = func(*http.Request, session.ID, string) (string, bool) { return "", false }
	})
	u, _ := h.logoutURL("s1", "")
	res := h.serve(get(u, cookie(cookieName, "s1")), nil)
	assertHeader(t, res, "Location", defaultReturn)
}

// An intercepted logout's checked Location goes on to the provider too;
// the app's open redirect is still refused first.
func TestEndSession_InterceptedLogout(t *testing.T) {
	var seen []session.ID
	h := newHarness(t, withIntercept("/logout"), endSessionTo(&seen))
	a := &app{status: http.StatusFound, header: http.Header{"Location": {"https://evil.example/"}}}
	res := h.serve(get("https://app.example.com/logout", cookie(cookieName, "s1")), a)
	assertHeader(t, res, "Location", "https://idp.example/session/end?post_logout_redirect_uri="+defaultReturn)
	if len(seen) != 1 || seen[0] != session.CookieID("s1") {
		t.Fatalf("hook asked for %v", seen)
	}
}

func TestEndBrowserSession(t *testing.T) {
	cases := []struct {
		name   string
		cookie string
		accept bool
		ended  bool
	}{
		{"accepted: revoked and cleared", "s1", true, true},
		{"not accepted: untouched", "s1", false, false},
		{"no session cookie", "", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			r := httptest.NewRequest(http.MethodGet, "https://app.example.com/oidc/frontchannel", nil)
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: cookieName, Value: tc.cookie})
				r.AddCookie(&http.Cookie{Name: "other", Value: "x"})
			}
			var asked []session.ID
			w := httptest.NewRecorder()
			ended, err := h.gw.EndBrowserSession(w, r, func(id session.ID) bool {
				asked = append(asked, id)
				return tc.accept
			})
			if err != nil || ended != tc.ended {
				t.Fatalf("ended %v %v, want %v", ended, err, tc.ended)
			}
			if tc.cookie != "" && (len(asked) != 1 || asked[0] != session.CookieID(tc.cookie)) {
				t.Fatalf("accept asked about %v", asked)
			}
			cleared := strings.Contains(strings.Join(w.Header().Values("Set-Cookie"), "\n"), cookieName+"=;")
			if cleared != tc.ended {
				t.Fatalf("Set-Cookie %q", w.Header().Values("Set-Cookie"))
			}
			if tc.cookie != "" && h.revoked(tc.cookie) != tc.ended {
				t.Fatalf("revoked %v", h.revoked(tc.cookie))
			}
		})
	}
}

// A session revoked already is not ended again (nothing to tell).
func TestEndBrowserSession_AlreadyRevoked(t *testing.T) {
	h := newHarness(t)
	h.revoke("s1")
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: cookieName, Value: "s1"})
	ended, err := h.gw.EndBrowserSession(httptest.NewRecorder(), r, func(session.ID) bool {
		t.Fatal("accept asked about a revoked session")
		return true
	})
	if ended || err != nil {
		t.Fatalf("%v %v", ended, err)
	}
}
