package flow_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

const errorUI = "https://ui.example.com/error"

func withErrorURL(t *testing.T, raw string) func(*flow.Config) {
	return func(c *flow.Config) { c.ErrorURL = mustURL(t, raw) }
}

// errorRedirectID follows SPEC 1.5 for a browser: a 303 to error_url?id=.
// wantOryID is the error's id ("" for an error without one).
func errorRedirectID(t *testing.T, res *http.Response, wantOryID string) string {
	t.Helper()
	assertStatus(t, res, http.StatusSeeOther)
	if wantOryID == "" {
		assertNoHeader(t, res, "Ory-Error-Id")
	} else {
		assertHeader(t, res, "Ory-Error-Id", wantOryID)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if base := loc.Scheme + "://" + loc.Host + loc.Path; base != errorUI {
		t.Fatalf("Location %q is not the error UI %s", loc, errorUI)
	}
	ids := loc.Query()["id"]
	if len(ids) != 1 || ids[0] == "" {
		t.Fatalf("Location %q carries no single id", loc)
	}
	return ids[0]
}

// flowErrorBody is what GET <errors path>?id= answers (Kratos's FlowError).
type flowErrorBody struct {
	ID        string     `json:"id"`
	Error     *errorBody `json:"error"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func fetchError(t *testing.T, h *harness, id string) flowErrorBody {
	t.Helper()
	res := h.serve(get(errorsPath+"?"+url.Values{"id": {id}}.Encode()), nil)
	assertStatus(t, res, http.StatusOK)
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	assertNoCacheHeaders(t, res, false)
	var fe flowErrorBody
	decodeStrict(t, res, &fe)
	if fe.Error == nil {
		t.Fatal(`no "error" object`)
	}
	return fe
}

func TestBrowserError_RedirectsToErrorUI_AndErrorsEndpointReturnsIt(t *testing.T) {
	tests := []struct {
		name   string
		req    func(h *harness) *http.Request
		code   int
		id     string
		reason string
	}{
		{name: "perform without token", code: 400, reason: reasonMissingToken,
			req: func(h *harness) *http.Request { return get(logoutPath, cookie(cookieName, "s1")) }},
		{name: "perform without session", code: 401, id: "session_inactive", reason: reasonNoSession,
			req: func(h *harness) *http.Request { return get(performTarget(h.token("s1"), "")) }},
		{name: "perform with a token for another session", code: 403, reason: reasonTokenMismatch,
			req: func(h *harness) *http.Request {
				return get(performTarget(h.token("other"), ""), cookie(cookieName, "s1"), accept("text/html"))
			}},
		{name: "perform with a disallowed return_to", code: 400, id: "self_service_flow_return_to_forbidden",
			reason: `Requested return_to URL "https://evil.com/" is not allowed.`,
			req: func(h *harness) *http.Request {
				return get(performTarget(h.token("s1"), "https://evil.com/"), cookie(cookieName, "s1"))
			}},
		{name: "create navigated to by a browser", code: 401, id: "session_inactive", reason: reasonNoSession,
			req: func(h *harness) *http.Request { return get(browserPath, accept("text/html")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withErrorURL(t, errorUI))
			res := h.serve(tt.req(h), nil)
			sealed := errorRedirectID(t, res, tt.id)

			fe := fetchError(t, h, sealed)
			if fe.ID != sealed {
				t.Errorf("id %q, want the one in the redirect %q", fe.ID, sealed)
			}
			want := errorBody{ID: tt.id, Code: tt.code, Status: http.StatusText(tt.code), Reason: tt.reason,
				Message: map[int]string{400: msg400, 401: msg401, 403: msg403}[tt.code]}
			if *fe.Error != want {
				t.Errorf("error\n got %+v\nwant %+v", *fe.Error, want)
			}
			if !fe.CreatedAt.Equal(h.clock.Now()) || !fe.UpdatedAt.Equal(h.clock.Now()) {
				t.Errorf("created_at %v updated_at %v, want %v", fe.CreatedAt, fe.UpdatedAt, h.clock.Now())
			}
		})
	}
}

func TestBrowserError_ErrorURLKeepsItsOwnQuery(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI+"?lang=de"))
	res := h.serve(get(logoutPath), nil)
	assertStatus(t, res, http.StatusSeeOther)
	loc := mustURL(t, res.Header.Get("Location"))
	if loc.Query().Get("lang") != "de" || loc.Query().Get("id") == "" {
		t.Errorf("Location %q lost lang or lacks id", loc)
	}
}

func TestBrowserError_JSONClientGetsEnvelopeEvenWithErrorURL(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	res := h.serve(get(logoutPath, cookie(cookieName, "s1"), asJSON), nil)
	assertError(t, res, http.StatusBadRequest, "", reasonMissingToken)
	if res.Header.Get("Location") != "" {
		t.Error("a JSON client was redirected")
	}
}

func TestErrorsEndpoint_OneNodeSealsAnotherOpens(t *testing.T) {
	a := newHarness(t, withErrorURL(t, errorUI))
	b := newHarness(t, withErrorURL(t, errorUI)) // same keys, separate store
	sealed := errorRedirectID(t, a.serve(get(logoutPath), nil), "")
	if fe := fetchError(t, b, sealed); fe.Error.Reason != reasonMissingToken {
		t.Errorf("other node answered %+v", fe.Error)
	}
}

func TestErrorsEndpoint_BadIDs(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	sealed := errorRedirectID(t, h.serve(get(logoutPath), nil), "")
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 0x01
	other, err := session.NewKeys([]byte("a completely different 32B key!!"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, target string }{
		{"tampered id", errorsPath + "?id=" + url.QueryEscape(string(tampered))},
		{"truncated id", errorsPath + "?id=" + url.QueryEscape(sealed[:len(sealed)-3])},
		{"forged id", errorsPath + "?id=" + url.QueryEscape(other.Seal(session.PurposeErrorID, []byte("12345678{}"), nil))},
		{"validly signed but too short", errorsPath + "?id=" + url.QueryEscape(h.keys.Seal(session.PurposeErrorID, []byte("1234567"), nil))},
		{"validly signed but not JSON", errorsPath + "?id=" + url.QueryEscape(h.keys.Seal(session.PurposeErrorID, []byte("12345678not json"), nil))},
		{"logout token as an id", errorsPath + "?id=" + url.QueryEscape(h.token("s1"))},
		{"random", errorsPath + "?id=abc"},
		{"a Kratos UUID", errorsPath + "?id=1b1d2a3c-7f47-4bd6-9c2e-4fd3c5b5a0e1"},
		{"huge", errorsPath + "?id=" + strings.Repeat("A", 100<<10)},
		{"no id", errorsPath},
		{"empty id", errorsPath + "?id="},
		{"bad escaping", errorsPath + "?id=%zz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assertUnknownError(t, h.serve(get(tt.target), nil))
		})
	}
}

// assertUnknownError checks Kratos's answer for an error it does not hold:
// its database layer's 404, with no id and no reason.
func assertUnknownError(t *testing.T, res *http.Response) {
	t.Helper()
	assertStatus(t, res, http.StatusNotFound)
	assertHeader(t, res, "Content-Type", "application/json")
	assertNoCacheHeaders(t, res, true)
	want := `{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}`
	if body := strings.TrimSpace(readBody(t, res)); body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
}

// Kratos reads the id from ?error= first (what some error UIs send), then
// ?id=, and takes the first of several.
func TestErrorsEndpoint_ErrorParameterFirst_FirstValue(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	sealed := errorRedirectID(t, h.serve(get(logoutPath), nil), "")
	q := url.QueryEscape(sealed)
	for _, target := range []string{
		errorsPath + "?error=" + q,
		errorsPath + "?error=" + q + "&id=abc",
		errorsPath + "?id=" + q + "&id=abc",
	} {
		res := h.serve(get(target), nil)
		assertStatus(t, res, http.StatusOK)
	}
	assertUnknownError(t, h.serve(get(errorsPath+"?error=abc&id="+q), nil))
}

func TestErrorsEndpoint_IDExpiresAfterADay(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	sealed := errorRedirectID(t, h.serve(get(logoutPath), nil), "")
	h.clock.Advance(23 * time.Hour)
	fetchError(t, h, sealed)
	h.clock.Advance(2 * time.Hour)
	assertUnknownError(t, h.serve(get(errorsPath+"?id="+url.QueryEscape(sealed)), nil))
}

func TestErrorsEndpoint_OtherMethods_RoutersMethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodHead, http.MethodPost, http.MethodDelete, "TRACE"} {
		t.Run(m, func(t *testing.T) {
			h := newHarness(t, withErrorURL(t, errorUI))
			assertMethodNotAllowed(t, h.serve(newReq(m, errorsPath+"?id=x", nil), nil), "GET, OPTIONS")
		})
	}
	h := newHarness(t, withErrorURL(t, errorUI))
	assertOptions(t, h.serve(newReq(http.MethodOptions, errorsPath, nil), nil), "GET, OPTIONS")
}

// assertMethodNotAllowed checks the answer of Kratos's router (httprouter)
// to a method an endpoint does not serve: 405, text/plain "Method Not
// Allowed", Allow, Vary: Cookie, and no Cache-Control.
func assertMethodNotAllowed(t *testing.T, res *http.Response, allow string) {
	t.Helper()
	assertStatus(t, res, http.StatusMethodNotAllowed)
	assertHeader(t, res, "Allow", allow)
	assertHeader(t, res, "Vary", "Cookie")
	assertHeader(t, res, "Content-Type", "text/plain; charset=utf-8")
	assertHeader(t, res, "X-Content-Type-Options", "nosniff")
	assertNoHeader(t, res, "Cache-Control")
	if body := readBody(t, res); body != "Method Not Allowed\n" {
		t.Errorf("body %q", body)
	}
	assertNoSetCookie(t, res)
}

// assertOptions checks the router's answer to OPTIONS: 200, Allow, Vary:
// Cookie, nothing else.
func assertOptions(t *testing.T, res *http.Response, allow string) {
	t.Helper()
	assertStatus(t, res, http.StatusOK)
	assertHeader(t, res, "Allow", allow)
	assertHeader(t, res, "Vary", "Cookie")
	for _, h := range []string{"Cache-Control", "Content-Type", "Set-Cookie"} {
		assertNoHeader(t, res, h)
	}
	if body := readBody(t, res); body != "" {
		t.Errorf("body %q", body)
	}
}

func TestErrorsEndpoint_MovesWithThePrefix(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI), func(c *flow.Config) { c.Prefix = "/auth/logout" })
	if got := h.gw.ErrorsPath(); got != "/auth/errors" {
		t.Errorf("ErrorsPath %q, want /auth/errors", got)
	}
	res := h.serve(get("/auth/logout"), nil)
	sealed := errorRedirectID(t, res, "")
	res = h.serve(get("/auth/errors?id="+url.QueryEscape(sealed)), nil)
	assertStatus(t, res, http.StatusOK)
}

func TestBrowserError_PageWithoutErrorURL_EscapesReason(t *testing.T) {
	h := newHarness(t)
	rt := `https://evil.com/"><script>alert(1)</script>`
	res := h.serve(get(performTarget(h.token("s1"), rt), cookie(cookieName, "s1"), accept("text/html")), nil)
	reason := `Requested return_to URL "` + rt + `" is not allowed.`
	assertErrorPage(t, res, http.StatusBadRequest, reason)
	body := readBody(t, res)
	if strings.Contains(body, "<script>") {
		t.Errorf("the reason is not escaped:\n%s", body)
	}
	if !strings.Contains(body, "400") {
		t.Errorf("the page does not show the status code:\n%s", body)
	}
	assertHeader(t, res, "Ory-Error-Id", "self_service_flow_return_to_forbidden")
	assertHeader(t, res, "X-Content-Type-Options", "nosniff")
}

func TestJSONError_EnvelopeShape(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(logoutPath, asJSON), nil)
	body := readBody(t, res)
	want := `{"error":{"code":400,"status":"Bad Request",` +
		`"reason":"Please include a token in the URL query.",` +
		`"message":"The request was malformed or contained invalid parameters"}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	assertHeader(t, res, "Content-Type", "application/json")
	// Kratos gives this error no id, so there is none to name.
	assertNoHeader(t, res, "Ory-Error-Id")
}

func TestJSONError_KratosIDsKept(t *testing.T) {
	h := newHarness(t)
	res := h.serve(get(browserPath, asJSON), nil)
	body := readBody(t, res)
	want := `{"error":{"id":"session_inactive","code":401,"status":"Unauthorized",` +
		`"reason":"No active session was found in this request.",` +
		`"message":"request does not have a valid authentication session"}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	assertHeader(t, res, "Ory-Error-Id", "session_inactive")
}
