package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestCaddyfile_OIDCLogoutErrors: a bad oidc_logout block fails at adapt
// time, naming the option and the line.
func TestCaddyfile_OIDCLogoutErrors(t *testing.T) {
	block := func(lines string) string { return "oidc_logout {\n\t\t\t" + lines + "\n\t\t}" }
	cases := []struct{ name, body, want string }{
		{"argument", "oidc_logout https://idp.example {\n\t\t}", "wrong argument count"},
		{"unknown option", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tbackchannel /bc\n\t\t\tbogus 1"), `unrecognized oidc_logout option "bogus"`},
		{"no issuer", block("client_id app\n\t\t\tbackchannel /bc"), "oidc_logout issuer: required"},
		{"issuer not a URL", block("issuer idp.example"), `issuer: "idp.example" must be an absolute http or https URL`},
		{"issuer with a query", block("issuer https://idp.example/?x=1"), "must not have a query or fragment"},
		{"no client_id", block("issuer https://idp.example\n\t\t\tbackchannel /bc"), "client_id is required"},
		{"nothing to do", block("issuer https://idp.example\n\t\t\tclient_id app"), "give backchannel, frontchannel or end_session"},
		{"backchannel relative", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tbackchannel bc"), `backchannel: "bc" must be a clean absolute path`},
		{"frontchannel unclean", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tfrontchannel /a/../fc"), "frontchannel:"},
		{"jwks_url relative", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tbackchannel /bc\n\t\t\tjwks_url /jwks"), "jwks_url:"},
		{"end_session two URLs", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tend_session https://a.example https://b.example"), "end_session: expected at most"},
		{"end_session not a URL", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tend_session /logout"), "end_session:"},
		{"max_token_age", block("issuer https://idp.example\n\t\t\tclient_id app\n\t\t\tbackchannel /bc\n\t\t\tmax_token_age soon"), "max_token_age: expected a positive duration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertAdaptError(t, c.body, c.want) })
	}
}

// TestLoad_OIDCLogoutJSON: JSON config is checked the same way at load,
// including what only the whole config can tell.
func TestLoad_OIDCLogoutJSON(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	cases := []struct{ name, oidc, want string }{
		{"no issuer", `[{"client_id":"app","backchannel":"/bc"}]`, "oidc_logout issuer: required"},
		{"relative path", `[{"issuer":"https://idp.example","client_id":"app","backchannel":"bc"}]`, "backchannel:"},
		{"two blocks, one path", `[{"issuer":"https://a.example","client_id":"app","backchannel":"/bc"},{"issuer":"https://b.example","client_id":"app","frontchannel":"/bc"}]`,
			"frontchannel /bc is already the backchannel of https://a.example"},
		{"on the logout endpoints", `[{"issuer":"https://idp.example","client_id":"app","backchannel":"/self-service/logout/api"}]`, "is already the logout endpoints"},
		{"receivers without identity", `[{"issuer":"https://idp.example","client_id":"app","backchannel":"/bc"}]`, "add identity { id_token <placeholder> }"},
		{"end_session_url without end_session", `[{"issuer":"https://idp.example","client_id":"app","backchannel":"/bc","end_session_url":"https://idp.example/logout"}]`, "end_session_url without end_session"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateJSONHandler(t, `"oidc_logout":`+c.oidc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not contain %q", err, c.want)
			}
		})
	}
}

// An end_session-only block needs no identity: it only chains logouts.
func TestLoad_OIDCEndSessionOnly(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	if err := validateJSONHandler(t, `"oidc_logout":[{"issuer":"https://idp.example","client_id":"app","end_session":true,"end_session_url":"https://idp.example/logout"}]`); err != nil {
		t.Fatal(err)
	}
}

func validateJSONHandler(t *testing.T, fields string) error {
	t.Helper()
	handler := `{"handler":"logout","store":{"backend":"memory"},` + fields + `}`
	cfg := `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + handler + `]}]}}}}}`
	var config caddy.Config
	if err := json.Unmarshal([]byte(cfg), &config); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&config)
}
