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
		`null`, // decodes to no token, as in Kratos
		`{"other": "tok-1"}`,
		`{"session_token": "with\u0000nul"}`,
		`{"session_token": "with\nnewline"}`,
	} {
		t.Run(body, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(apiLogout(body), nil)
			assertError(t, res, http.StatusForbidden, "", reasonAPITokenBad)
			assertNoCacheHeaders(t, res, true)
			assertNoSetCookie(t, res)
		})
	}
}

// The reasons are those of Ory's body decoder (ory/x decoderx), which
// Kratos's API logout uses: word for word, the decoder's own message last.
func TestAPILogout_MalformedBody_BadRequestInKratosWords(t *testing.T) {
	const (
		zeroLength = `Unable to decode HTTP Request Body because its HTTP Header "Content-Length" is zero.`
		decode     = "Unable to decode JSON payload: "
	)
	notJSON := func(ct string) string {
		return `HTTP DELETE Request used unknown HTTP Header "Content-Type: ` + ct + `", only [application/json] are supported.`
	}
	tests := []struct {
		name        string
		contentType string // "-": no Content-Type header
		body        string
		reason      string
	}{
		{"empty body", "application/json", "", zeroLength},
		{"empty body, no Content-Type", "-", "", zeroLength},
		{"no Content-Type", "-", `{"session_token":"tok-1"}`, notJSON("")},
		{"text/plain", "text/plain", `{"session_token":"tok-1"}`, notJSON("text/plain")},
		{"form", "application/x-www-form-urlencoded", `session_token=tok-1`, notJSON("application/x-www-form-urlencoded")},
		{"json-ish media type", "application/json-patch+json", `{"session_token":"tok-1"}`, notJSON("application/json-patch+json")},
		{"unparsable Content-Type", "application/json; =", `{"session_token":"tok-1"}`, notJSON("application/json; =")},
		{"invalid JSON", "application/json", `{"session_token": `, decode + "unexpected EOF"},
		{"not JSON", "application/json", `session_token=tok-1`, decode + "invalid character 's' looking for beginning of value"},
		{"array", "application/json", `[]`, decode + "json: cannot unmarshal array into Go value of type flow.performNativeLogoutBody"},
		{"string", "application/json", `"x"`, decode + "json: cannot unmarshal string into Go value of type flow.performNativeLogoutBody"},
		{"number", "application/json", `1`, decode + "json: cannot unmarshal number into Go value of type flow.performNativeLogoutBody"},
		{"number token", "application/json", `{"session_token": 123}`,
			decode + "json: cannot unmarshal number into Go struct field performNativeLogoutBody.session_token of type string"},
		{"object token", "application/json", `{"session_token": {"a": 1}}`,
			decode + "json: cannot unmarshal object into Go struct field performNativeLogoutBody.session_token of type string"},
		{"array token", "application/json", `{"session_token": ["tok-1"]}`,
			decode + "json: cannot unmarshal array into Go struct field performNativeLogoutBody.session_token of type string"},
		{"boolean token", "application/json", `{"session_token": true}`,
			decode + "json: cannot unmarshal bool into Go struct field performNativeLogoutBody.session_token of type string"},
		// Bounded bodies: Kratos reads any size; no session token is this long.
		{"over the body limit", "application/json", `{"session_token":"` + strings.Repeat("a", flow.MaxAPIBody) + `"}`, "The request body is too large."},
		{"over the limit in whitespace", "application/json", `{"session_token":"tok-1"}` + strings.Repeat(" ", flow.MaxAPIBody), "The request body is too large."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.body == "" {
				body = nil
			}
			r := newReq(http.MethodDelete, apiPath, body)
			if tt.contentType != "-" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			res := h.serve(r, nil)
			assertError(t, res, http.StatusBadRequest, "", tt.reason)
			assertNoCacheHeaders(t, res, true)
			assertNoSetCookie(t, res)
			h.assertNotRevoked("tok-1")
		})
	}
}

// A body whose length is not announced (chunked) and turns out empty is
// not the Content-Length refusal: it reaches the decoder, as in Kratos.
func TestAPILogout_EmptyChunkedBody_DecoderError(t *testing.T) {
	h := newHarness(t)
	r := newReq(http.MethodDelete, apiPath, io.MultiReader(), header("Content-Type", "application/json"))
	r.ContentLength = -1
	assertError(t, h.serve(r, nil), http.StatusBadRequest, "", "Unable to decode JSON payload: EOF")
}

// Go's decoder, as Kratos uses it: the first JSON value is the body,
// whatever follows it is not read; keys match case-insensitively.
func TestAPILogout_DecodesLikeKratos(t *testing.T) {
	for _, tt := range []struct{ body, revoked string }{
		{`{"session_token":"tok-1"} x`, "tok-1"},
		{`{"session_token":"tok-1"}{"session_token":"tok-2"}`, "tok-1"},
		{`{"Session_Token":"tok-1"}`, "tok-1"},
		{`{"session_token":"tok-2","session_token":"tok-1"}`, "tok-1"},
	} {
		t.Run(tt.body, func(t *testing.T) {
			h := newHarness(t)
			assertStatus(t, h.serve(apiLogout(tt.body), nil), http.StatusNoContent)
			h.assertRevoked(tt.revoked)
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

// Any other method is answered as Kratos's router answers it: a plain 405
// naming DELETE and OPTIONS, without Cache-Control (it says nothing about
// a session).
func TestAPILogout_OtherMethods_RoutersMethodNotAllowed(t *testing.T) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodHead, "TRACE"} {
		t.Run(m, func(t *testing.T) {
			h := newHarness(t)
			r := newReq(m, apiPath, strings.NewReader(`{"session_token":"tok-1"}`), header("Content-Type", "application/json"))
			assertMethodNotAllowed(t, h.serve(r, nil), "DELETE, OPTIONS")
			h.assertNotRevoked("tok-1")
		})
	}
}

func TestAPILogout_Options_AllowAndNothingElse(t *testing.T) {
	h := newHarness(t)
	assertOptions(t, h.serve(newReq(http.MethodOptions, apiPath, nil), nil), "DELETE, OPTIONS")
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
	assertError(t, res, http.StatusServiceUnavailable, "", "")
	assertNoSetCookie(t, res)
}

// brokenBody fails mid-read, like a client that hangs up.
type brokenBody struct{}

func (brokenBody) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestAPILogout_BodyReadError_BadRequest(t *testing.T) {
	h := newHarness(t)
	r := newReq(http.MethodDelete, apiPath, brokenBody{}, header("Content-Type", "application/json"))
	assertError(t, h.serve(r, nil), http.StatusBadRequest, "", "Unable to read HTTP POST body: unexpected EOF")
}
