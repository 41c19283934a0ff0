package flow_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// TestMalformedInput_Always4xxWithReason throws every kind of malformed
// input at every endpoint: each gets a 4xx JSON error with a reason, never
// a 500 and never a panic, and no session is revoked.
func TestMalformedInput_Always4xxWithReason(t *testing.T) {
	huge := strings.Repeat("A", 100<<10)
	other, err := session.NewKeys([]byte("yet another signing key, 32 bytes"))
	if err != nil {
		t.Fatal(err)
	}
	withRawQuery := func(p, rawQuery string) func(h *harness) *http.Request {
		return func(h *harness) *http.Request {
			r := get(p, cookie(cookieName, "s1"), asJSON)
			r.URL.RawQuery = rawQuery
			return r
		}
	}
	perform := func(token, returnTo string) func(h *harness) *http.Request {
		return func(h *harness) *http.Request {
			return get(performTarget(token, returnTo), cookie(cookieName, "s1"), asJSON)
		}
	}
	tests := []struct {
		name    string
		req     func(h *harness) *http.Request
		code    int  // 0: any 4xx
		revokes bool // a bad return_to at perform comes after the revoke (SPEC 3)
	}{
		// perform: tokens
		{name: "perform: token not base64", code: 403, req: perform("%%%***not base64***", "")},
		{name: "perform: token with spaces", code: 403, req: perform("a b c", "")},
		{name: "perform: token with NUL", code: 403, req: perform("abc\x00def", "")},
		{name: "perform: token signed by another key", code: 403, req: func(h *harness) *http.Request {
			return perform(other.SignLogoutToken(session.IDOf("s1"), h.clock.Now(), flow.DefaultTokenTTL), "")(h)
		}},
		{name: "perform: truncated token", code: 403, req: func(h *harness) *http.Request {
			tok := h.token("s1")
			return perform(tok[:len(tok)/2], "")(h)
		}},
		{name: "perform: token 100 KB long", code: 403, req: perform(huge, "")},
		{name: "perform: empty token", code: 400, req: perform("", "/x")},
		// perform: query and return_to
		{name: "perform: bad query escaping", code: 400, req: withRawQuery(logoutPath, "token=%zz")},
		{name: "perform: bad escaping in return_to", code: 400, req: func(h *harness) *http.Request {
			return withRawQuery(logoutPath, "return_to=%zz&token="+url.QueryEscape(h.token("s1")))(h)
		}},
		{name: "perform: semicolon in query", code: 400, req: withRawQuery(logoutPath, "token=a;b")},
		{name: "perform: CRLF in return_to (encoded)", code: 400, revokes: true,
			req: func(h *harness) *http.Request {
				return perform(h.token("s1"), "https://app.example.com/\r\nSet-Cookie: x=1")(h)
			}},
		{name: "perform: CRLF in return_to (raw)", code: 400, revokes: true, req: func(h *harness) *http.Request {
			return withRawQuery(logoutPath, "return_to=https://app.example.com/\r\nX: y&token="+url.QueryEscape(h.token("s1")))(h)
		}},
		{name: "perform: NUL in return_to", code: 400, revokes: true,
			req: func(h *harness) *http.Request { return perform(h.token("s1"), "https://app.example.com/\x00")(h) }},
		{name: "perform: huge return_to", code: 400, revokes: true,
			req: func(h *harness) *http.Request { return perform(h.token("s1"), "https://app.example.com/"+huge)(h) }},
		{name: "perform: huge cookie", code: 400, req: func(h *harness) *http.Request {
			return get(performTarget(h.token(huge), ""), cookie(cookieName, huge), asJSON)
		}},
		// create
		{name: "create: bad query escaping", code: 400, req: withRawQuery(browserPath, "return_to=%zz")},
		{name: "create: CRLF in return_to", code: 400, req: func(h *harness) *http.Request {
			return get(browserPath+"?return_to="+url.QueryEscape("/x\r\nLocation: https://evil.com"), cookie(cookieName, "s1"), asJSON)
		}},
		{name: "create: raw CR in return_to", code: 400, req: withRawQuery(browserPath, "return_to=/x\rhttps://evil.com")},
		{name: "create: NUL in return_to", code: 400, req: withRawQuery(browserPath, "return_to=/x%00y")},
		{name: "create: tab in return_to", code: 400, req: withRawQuery(browserPath, "return_to=/%09/evil.com")},
		{name: "create: huge return_to", code: 400, req: withRawQuery(browserPath, "return_to=/"+huge)},
		{name: "create: huge cookie", code: 400, req: func(h *harness) *http.Request {
			return get(browserPath, cookie(cookieName, huge), asJSON)
		}},
		{name: "create: huge chunked cookie", code: 400, req: func(h *harness) *http.Request {
			return get(browserPath, cookies("sid.0="+huge[:9000]+"; sid.1="+huge[:9000]), asJSON)
		}},
		// API
		{name: "api: NUL in token", code: 403, req: func(h *harness) *http.Request {
			return apiLogout("{\"session_token\":\"a\\u0000b\"}")
		}},
		{name: "api: raw NUL bytes in body", code: 400, req: func(h *harness) *http.Request {
			return apiLogout("{\"session_token\":\"a\x00b\"}")
		}},
		{name: "api: invalid UTF-8 escape", code: 400, req: func(h *harness) *http.Request {
			return apiLogout(`{"session_token":"\ud800\uzzzz"}`)
		}},
		{name: "api: 100 KB token", code: 400, req: func(h *harness) *http.Request {
			return apiLogout(`{"session_token":"` + huge + `"}`)
		}},
		{name: "api: deeply nested JSON", code: 400, req: func(h *harness) *http.Request {
			return apiLogout(strings.Repeat("[", 10000))
		}},
		// guard
		{name: "guard: huge cookie", code: 400, req: func(h *harness) *http.Request {
			return get("/page", cookie(cookieName, huge), asJSON)
		}},
		{name: "guard: huge bearer", code: 400, req: func(h *harness) *http.Request {
			return get("/page", header("Authorization", "Bearer "+huge), asJSON)
		}},
		// errors endpoint
		{name: "errors: NUL id", code: 404, req: withRawQuery(errorsPath, "id=%00")},
		{name: "errors: huge id", code: 404, req: withRawQuery(errorsPath, "id="+huge)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withErrorURL(t, errorUI))
			r := tt.req(h)
			res := h.serve(r, &app{status: http.StatusTeapot})
			if res.StatusCode < 400 || res.StatusCode >= 500 {
				t.Fatalf("status %d, want 4xx; body %s", res.StatusCode, readBody(t, res))
			}
			if tt.code != 0 && res.StatusCode != tt.code {
				t.Errorf("status %d, want %d", res.StatusCode, tt.code)
			}
			jsonError(t, res, res.StatusCode)
			if res.Header.Get("Location") != "" {
				t.Errorf("redirected to %q", res.Header.Get("Location"))
			}
			if tt.revokes {
				h.assertRevoked("s1")
			} else {
				h.assertNotRevoked("s1")
			}
		})
	}
}

func TestMalformedInput_ReturnToAtPerform_RevokesButNeverRedirects(t *testing.T) {
	for _, rt := range []string{"https://app.example.com/\r\nX: y", "/\\evil.com", "https://a@evil.com/", "//evil.com",
		"https://app.example.com/%2f%2fevil.com", "javascript://app.example.com/%0aalert(1)"} {
		t.Run(rt, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(get(performTarget(h.token("s1"), rt), cookie(cookieName, "s1")), nil)
			assertErrorPage(t, res, http.StatusBadRequest, `Requested return_to URL "`+rt+`" is not allowed.`)
			if loc := res.Header.Get("Location"); loc != "" {
				t.Errorf("Location %q", loc)
			}
			h.assertRevoked("s1")
		})
	}
}
