package tests

import (
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// TestLimits_OverLimitInput_4xxWithReason: each input just over one of the
// module's limits gets its 4xx and a reason through a real Caddy (the
// limits TestE2E_MalformedInput_Never5xx does not reach already).
func TestLimits_OverLimitInput_4xxWithReason(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\tallowed_return_urls http://127.0.0.1/\n\t\terror_url http://127.0.0.1/error")
	})
	const (
		maxCredential = 16 << 10             // flow.MaxCredentialLength
		maxBody       = maxCredential + 1024 // flow.MaxAPIBody
		maxReturnTo   = 2048                 // flow.MaxReturnToLength
		maxSealed     = 8192                 // what session.Keys.Open decodes
		tooLong       = "The session credential is too long."
		mismatch      = "Unable to log out because the logout token in the URL query does not match the session cookie."
		tokenInvalid  = "The provided Ory Session Token could not be found, is invalid, or otherwise malformed."
	)
	cookie := "sid=limits-" + e2e.RandomValue()
	good := e2e.CreateLogout(t, p, cookie, "")
	half := strings.Repeat("c", maxCredential/2+1) // two of them are one over the cap
	chunks := "sid.0=" + half + "; sid.1=" + half
	longReturn := "http://127.0.0.1/" + strings.Repeat("r", maxReturnTo-len("http://127.0.0.1/")+1)
	jsonBody := http.Header{"Content-Type": {"application/json"}}

	cases := []struct {
		name, method, path string
		header             http.Header
		body               string
		code               int
		reason             string // "" : any non-empty reason
	}{
		{"return_to over 2048 at create", "GET", e2e.WithQuery("/self-service/logout/browser", "return_to", longReturn), http.Header{"Cookie": {cookie}}, "", 400, `Requested return_to URL "` + longReturn + `" is not allowed.`},
		{"return_to of exactly 2048 is not refused for its length", "GET", e2e.WithQuery("/self-service/logout/browser", "return_to", longReturn[:maxReturnTo]), http.Header{"Cookie": {cookie}}, "", 200, ""},
		{"chunked cookie over the cap at create", "GET", "/self-service/logout/browser", http.Header{"Cookie": {chunks}}, "", 400, tooLong},
		{"chunked cookie over the cap at perform", "GET", e2e.WithQuery("/self-service/logout", "token", good.LogoutToken), http.Header{"Cookie": {chunks}}, "", 400, tooLong},
		{"chunked cookie over the cap at the guard", "GET", "/page", http.Header{"Cookie": {chunks}}, "", 400, tooLong},
		{"bearer token over the cap at the guard", "GET", "/page", http.Header{"Authorization": {"Bearer " + strings.Repeat("b", maxCredential+1)}}, "", 400, tooLong},
		{"logout token over what Open decodes", "GET", e2e.WithQuery("/self-service/logout", "token", good.LogoutToken+strings.Repeat("A", maxSealed)), http.Header{"Cookie": {cookie}}, "", 403, mismatch},
		{"API token over the cap, body under it", "DELETE", "/self-service/logout/api", jsonBody, `{"session_token":"` + strings.Repeat("t", maxCredential+1) + `"}`, 403, tokenInvalid},
		{"API body one byte over the cap", "DELETE", "/self-service/logout/api", jsonBody, `{"session_token":"t"}` + strings.Repeat(" ", maxBody-len(`{"session_token":"t"}`)+1), 400, "The request body is too large."},
		// Kratos's 404 for an error it does not hold: no reason, its message.
		{"error id over what Open decodes", "GET", e2e.WithQuery("/self-service/errors", "id", strings.Repeat("A", maxSealed+1)), nil, "", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{"Accept": {"application/json"}}
			for k, v := range c.header {
				h[k] = v
			}
			resp, body := e2e.Do(t, http.DefaultClient, c.method, p.URL(c.path), h, c.body)
			if resp.StatusCode != c.code {
				t.Fatalf("%s, want %d: %.300s", resp.Status, c.code, body)
			}
			if c.code == 200 {
				return
			}
			e := e2e.DecodeError(t, body)
			if c.code == http.StatusNotFound {
				if e.Error.Reason != "" || e.Error.Message != "Unable to locate the resource" {
					t.Fatalf("error %+v, want Kratos's 404", e.Error)
				}
				return
			}
			if e.Error.Code != c.code || e.Error.Reason == "" || c.reason != "" && e.Error.Reason != c.reason {
				t.Fatalf("error %+v, want code %d and reason %q", e.Error, c.code, c.reason)
			}
		})
	}
	// The session survived all of it (the perform above was refused).
	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/still"), http.Header{"Cookie": {cookie}}, "")
	if e2e.Seen(t, body).Cookie != cookie {
		t.Fatal("an over-limit request logged the session out")
	}
}
