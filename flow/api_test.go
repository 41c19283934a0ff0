package flow_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

// apiLogout builds DELETE <prefix>/api with a JSON body.
func apiLogout(body string, opts ...reqOpt) *http.Request {
	return newReq(http.MethodDelete, apiPath, strings.NewReader(body),
		append([]reqOpt{header("Content-Type", "application/json")}, opts...)...)
}

func TestAPILogout_ValidToken_NoContentAndRevoked(t *testing.T) {
	h := newHarness(t)
	res := h.serve(apiLogout(`{"session_token": "tok-1"}`), nil)
	assertStatus(t, res, http.StatusNoContent)
	if b := readBody(t, res); b != "" {
		t.Errorf("204 with body %q", b)
	}
	assertNoCacheHeaders(t, res, false)
	assertNoSetCookie(t, res)
	h.assertRevoked("tok-1")
	h.assertNotRevoked("tok-2")
}

func TestAPILogout_AlreadyRevoked_NoContentAgain(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		res := h.serve(apiLogout(`{"session_token":"tok-1"}`), nil)
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("call %d: status %d, want 204", i+1, res.StatusCode)
		}
	}
	h.assertRevoked("tok-1")
}

func TestAPILogout_RevokedTokenIsThenRefusedByGuard(t *testing.T) {
	h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
	a := &app{}
	assertStatus(t, h.serve(get("/api/me", header("X-Session-Token", "tok-1"), asJSON), a), http.StatusOK)
	assertStatus(t, h.serve(apiLogout(`{"session_token":"tok-1"}`), nil), http.StatusNoContent)
	assertNoSessionError(t, h.serve(get("/api/me", header("X-Session-Token", "tok-1"), asJSON), a))
	assertNoSessionError(t, h.serve(get("/api/me", header("Authorization", "Bearer tok-1"), asJSON), a))
}

func TestAPILogout_MissingOrEmptyToken_Forbidden(t *testing.T) {
	for _, body := range []string{
		`{}`,
		`{"session_token": ""}`,
		`{"session_token": null}`,
		`{"other": "tok-1"}`,
		`{"session_token": "with\u0000nul"}`,
		`{"session_token": "with\nnewline"}`,
	} {
		t.Run(body, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(apiLogout(body), nil)
			assertError(t, res, http.StatusForbidden, "", reasonAPITokenBad)
			assertNoCacheHeaders(t, res, false)
			assertNoSetCookie(t, res)
		})
	}
}

func TestAPILogout_MalformedBody_BadRequest(t *testing.T) {
	tests := []struct {
		name        string
		contentType string // "-": no Content-Type header
		body        string
	}{
		{"empty body", "application/json", ""},
		{"no Content-Type", "-", `{"session_token":"tok-1"}`},
		{"text/plain", "text/plain", `{"session_token":"tok-1"}`},
		{"form", "application/x-www-form-urlencoded", `session_token=tok-1`},
		{"json-ish media type", "application/json-patch+json", `{"session_token":"tok-1"}`},
		{"unparsable Content-Type", "application/json; =", `{"session_token":"tok-1"}`},
		{"invalid JSON", "application/json", `{"session_token": `},
		{"array", "application/json", `[]`},
		{"string", "application/json", `"x"`},
		{"null", "application/json", `null`},
		{"number", "application/json", `1`},
		{"trailing garbage", "application/json", `{"session_token":"tok-1"} x`},
		{"two objects", "application/json", `{"session_token":"tok-1"}{"session_token":"tok-2"}`},
		{"number token", "application/json", `{"session_token": 123}`},
		{"object token", "application/json", `{"session_token": {"a": 1}}`},
		{"array token", "application/json", `{"session_token": ["tok-1"]}`},
		{"boolean token", "application/json", `{"session_token": true}`},
		{"over the body limit", "application/json", `{"session_token":"` + strings.Repeat("a", flow.MaxAPIBody) + `"}`},
		{"over the limit in whitespace", "application/json", `{"session_token":"tok-1"}` + strings.Repeat(" ", flow.MaxAPIBody)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			r := newReq(http.MethodDelete, apiPath, strings.NewReader(tt.body))
			if tt.contentType != "-" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			res := h.serve(r, nil)
			e := jsonError(t, res, http.StatusBadRequest)
			if e.Reason == "" {
				t.Error("no reason given")
			}
			assertNoCacheHeaders(t, res, false)
			assertNoSetCookie(t, res)
			h.assertNotRevoked("tok-1")
		})
	}
}

func TestAPILogout_ContentTypeWithParameters_Accepted(t *testing.T) {
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"} {
		t.Run(ct, func(t *testing.T) {
			h := newHarness(t)
			r := newReq(http.MethodDelete, apiPath, strings.NewReader(`{"session_token":"tok-1"}`), header("Content-Type", ct))
			assertStatus(t, h.serve(r, nil), http.StatusNoContent)
			h.assertRevoked("tok-1")
		})
	}
}

func TestAPILogout_TokenAtTheLengthLimit_Accepted(t *testing.T) {
	h := newHarness(t)
	tok := strings.Repeat("t", flow.MaxCredentialLength)
	assertStatus(t, h.serve(apiLogout(`{"session_token":"`+tok+`"}`), nil), http.StatusNoContent)
	h.assertRevoked(tok)
}

func TestAPILogout_TokenOverTheLengthLimit_Forbidden(t *testing.T) {
	h := newHarness(t)
	tok := strings.Repeat("t", flow.MaxCredentialLength+1)
	res := h.serve(apiLogout(`{"session_token":"`+tok+`"}`), nil)
	// Within the body limit, so the body is fine and the token is malformed.
	assertError(t, res, http.StatusForbidden, "", reasonAPITokenBad)
	h.assertNotRevoked(tok)
}

func TestAPILogout_ExtraFieldsIgnored(t *testing.T) {
	h := newHarness(t)
	assertStatus(t, h.serve(apiLogout(`{"session_token":"tok-1","csrf_token":"x"}`), nil), http.StatusNoContent)
	h.assertRevoked("tok-1")
}

func TestAPILogout_OtherMethods_MethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodHead} {
		t.Run(m, func(t *testing.T) {
			h := newHarness(t)
			r := newReq(m, apiPath, strings.NewReader(`{"session_token":"tok-1"}`), header("Content-Type", "application/json"))
			res := h.serve(r, nil)
			assertStatus(t, res, http.StatusMethodNotAllowed)
			assertHeader(t, res, "Allow", "DELETE")
			assertNoCacheHeaders(t, res, false)
			if m != http.MethodHead {
				jsonError(t, res, http.StatusMethodNotAllowed)
			}
			h.assertNotRevoked("tok-1")
		})
	}
}

func TestAPILogout_NeverSetsOrClearsCookies(t *testing.T) {
	h := newHarness(t)
	h.revoke("revoked-cookie")
	for _, body := range []string{`{"session_token":"tok-1"}`, `{}`, `[]`} {
		res := h.serve(apiLogout(body, cookie(cookieName, "revoked-cookie")), nil)
		assertNoSetCookie(t, res)
	}
}

func TestAPILogout_CookieIsNotRevoked(t *testing.T) {
	h := newHarness(t)
	assertStatus(t, h.serve(apiLogout(`{"session_token":"tok-1"}`, cookie(cookieName, "browser-session")), nil), http.StatusNoContent)
	h.assertRevoked("tok-1")
	h.assertNotRevoked("browser-session")
}

func TestAPILogout_StoreDown_503(t *testing.T) {
	h := newHarness(t, withFailingStore(t))
	res := h.serve(apiLogout(`{"session_token":"tok-1"}`), nil)
	assertError(t, res, http.StatusServiceUnavailable, "session_store_unavailable", "")
	assertNoSetCookie(t, res)
}

// brokenBody fails mid-read, like a client that hangs up.
type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestAPILogout_BodyReadError_BadRequest(t *testing.T) {
	h := newHarness(t)
	r := newReq(http.MethodDelete, apiPath, brokenBody{}, header("Content-Type", "application/json"))
	jsonError(t, h.serve(r, nil), http.StatusBadRequest)
}
