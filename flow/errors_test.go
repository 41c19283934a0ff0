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
func errorRedirectID(t *testing.T, res *http.Response, wantOryID string) string {
	t.Helper()
	assertStatus(t, res, http.StatusSeeOther)
	assertHeader(t, res, "Ory-Error-Id", wantOryID)
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
		{name: "perform without token", code: 400, id: "logout_token_missing", reason: reasonMissingToken,
			req: func(h *harness) *http.Request { return get(logoutPath, cookie(cookieName, "s1")) }},
		{name: "perform without session", code: 401, id: "session_inactive", reason: reasonNoSession,
			req: func(h *harness) *http.Request { return get(performTarget(h.token("s1"), "")) }},
		{name: "perform with a token for another session", code: 403, id: "logout_token_invalid", reason: reasonTokenMismatch,
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
	assertError(t, res, http.StatusBadRequest, "logout_token_missing", reasonMissingToken)
	if res.Header.Get("Location") != "" {
		t.Error("a JSON client was redirected")
	}
}

func TestErrorsEndpoint_OneNodeSealsAnotherOpens(t *testing.T) {
	a := newHarness(t, withErrorURL(t, errorUI))
	b := newHarness(t, withErrorURL(t, errorUI)) // same keys, separate store
	sealed := errorRedirectID(t, a.serve(get(logoutPath), nil), "logout_token_missing")
	if fe := fetchError(t, b, sealed); fe.Error.ID != "logout_token_missing" {
		t.Errorf("other node answered %+v", fe.Error)
	}
}

func TestErrorsEndpoint_BadIDs(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	sealed := errorRedirectID(t, h.serve(get(logoutPath), nil), "logout_token_missing")
	tampered := []byte(sealed)
	tampered[len(tampered)/2] ^= 0x01
	other, err := session.NewKeys([]byte("a completely different 32B key!!"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
		code   int
	}{
		{"tampered id", errorsPath + "?id=" + url.QueryEscape(string(tampered)), 404},
		{"truncated id", errorsPath + "?id=" + url.QueryEscape(sealed[:len(sealed)-3]), 404},
		{"forged id", errorsPath + "?id=" + url.QueryEscape(other.Seal(session.PurposeErrorID, []byte("12345678{}"), nil)), 404},
		{"validly signed but too short", errorsPath + "?id=" + url.QueryEscape(h.keys.Seal(session.PurposeErrorID, []byte("1234567"), nil)), 404},
		{"validly signed but not JSON", errorsPath + "?id=" + url.QueryEscape(h.keys.Seal(session.PurposeErrorID, []byte("12345678not json"), nil)), 404},
		{"logout token as an id", errorsPath + "?id=" + url.QueryEscape(h.token("s1")), 404},
		{"random", errorsPath + "?id=abc", 404},
		{"huge", errorsPath + "?id=" + strings.Repeat("A", 100<<10), 404},
		{"no id", errorsPath, 400},
		{"empty id", errorsPath + "?id=", 404},
		{"two ids", errorsPath + "?id=" + url.QueryEscape(sealed) + "&id=" + url.QueryEscape(sealed), 400},
		{"bad escaping", errorsPath + "?id=%zz", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.serve(get(tt.target), nil)
			jsonError(t, res, tt.code)
			assertNoCacheHeaders(t, res, false)
		})
	}
}

func TestErrorsEndpoint_IDExpiresAfterADay(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	sealed := errorRedirectID(t, h.serve(get(logoutPath), nil), "logout_token_missing")
	h.clock.Advance(23 * time.Hour)
	fetchError(t, h, sealed)
	h.clock.Advance(2 * time.Hour)
	res := h.serve(get(errorsPath+"?id="+url.QueryEscape(sealed)), nil)
	jsonError(t, res, http.StatusNotFound)
}

func TestErrorsEndpoint_OtherMethods_MethodNotAllowed(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI))
	res := h.serve(newReq(http.MethodPost, errorsPath+"?id=x", nil), nil)
	jsonError(t, res, http.StatusMethodNotAllowed)
	if res.Header.Get("Allow") == "" {
		t.Error("no Allow header")
	}
}

func TestErrorsEndpoint_MovesWithThePrefix(t *testing.T) {
	h := newHarness(t, withErrorURL(t, errorUI), func(c *flow.Config) { c.Prefix = "/auth/logout" })
	if got := h.gw.ErrorsPath(); got != "/auth/errors" {
		t.Errorf("ErrorsPath %q, want /auth/errors", got)
	}
	res := h.serve(get("/auth/logout"), nil)
	sealed := errorRedirectID(t, res, "logout_token_missing")
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
	want := `{"error":{"id":"logout_token_missing","code":400,"status":"Bad Request",` +
		`"reason":"Please include a token in the URL query.",` +
		`"message":"The request was malformed or contained invalid parameters"}}`
	if strings.TrimSpace(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	assertHeader(t, res, "Content-Type", "application/json")
	assertHeader(t, res, "Ory-Error-Id", "logout_token_missing")
}
