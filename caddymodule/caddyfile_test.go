package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite the adapt golden files with the current output")

// TestAdapt_Golden pins what Caddyfiles using the directive adapt to, in
// the style of Caddy's caddytest/integration/caddyfile_adapt: each file is
// a Caddyfile, a line of dashes, and the expected JSON.
func TestAdapt_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, want, ok := strings.Cut(string(raw), "\n----------\n")
			if !ok {
				t.Fatalf("%s: no ---------- separator", file)
			}
			if *update {
				got := adaptPretty(t, caddyfile)
				if err := os.WriteFile(file, []byte(caddyfile+"\n----------\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !caddytest.CompareAdapt(t, file, caddyfile, "caddyfile", strings.TrimRight(want, "\n")) {
				t.Errorf("%s: adapted JSON differs (run go test ./caddymodule -run TestAdapt_Golden -update to accept)", file)
			}
		})
	}
}

func adaptPretty(t *testing.T, caddyfile string) string {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "\t"); err != nil {
		t.Fatal(err)
	}
	return buf.String() + "\n"
}

func adapt(caddyfile string) ([]byte, error) {
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	return out, err
}

// TestCaddyfile_Errors: bad input fails at adapt time with a message that
// names the option and the line.
func TestCaddyfile_Errors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown option", "bogus 1", `unrecognized logout option "bogus"`},
		{"cookie without name", "cookie", "cookie: expected at least one value"},
		{"samesite", "cookie_samesite sideways", `cookie_samesite: must be lax, strict or none (got "sideways")`},
		{"token_ttl not a duration", "token_ttl soon", `token_ttl: expected a positive duration such as 24h (got "soon")`},
		{"token_ttl negative", "token_ttl -1h", "token_ttl: expected a positive duration"},
		{"session_lifetime two values", "session_lifetime 1h 2h", "session_lifetime: expected one value, got more"},
		{"on_revoked unknown", "on_revoked explode", `on_revoked: expected strip, deny or redirect <url> (got "explode")`},
		{"on_revoked redirect without url", "on_revoked redirect", "on_revoked redirect: expected the URL"},
		{"on_store_error unknown", "on_store_error maybe", `on_store_error: expected allow or deny (got "maybe")`},
		{"clear_site_data unknown", "clear_site_data everything", `clear_site_data: "everything" must be one of`},
		{"store unknown backend", "store floppy", "store floppy"},
		{"store twice", "store memory\n\t\tstore memory", "store: already specified"},
		{"store memory with args", "store memory now", "store memory takes no options"},
		{"store bolt two paths", "store bolt a b", "store bolt takes at most a file path"},
		{"cache unknown option", "cache {\n\t\t\tsize 1\n\t\t}", `unrecognized cache option "size"`},
		{"cache max_entries not a number", "cache {\n\t\t\tmax_entries lots\n\t\t}", `cache max_entries: expected a positive number (got "lots")`},
		{"cache negative_ttl zero", "cache {\n\t\t\tnegative_ttl 0s\n\t\t}", "negative_ttl: expected a positive duration"},
		{"intercept without anything", "intercept", "intercept: expected a path such as /logout, or a block"},
		{"intercept empty block", "intercept {\n\t\t}", "intercept: expected a path such as /logout, or a block"},
		{"intercept unknown matcher", "intercept {\n\t\t\tbogus x\n\t\t}", "getting matcher module 'bogus'"},
		{"intercept matcher with bad arguments", "intercept {\n\t\t\tquery do\n\t\t}", "malformed query matcher token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { assertAdaptError(t, c.body, c.want) })
	}
}

// assertAdaptError adapts a logout block with body inside and checks that
// it fails with want in the message and the file and line named.
func assertAdaptError(t *testing.T, body, want string) {
	t.Helper()
	caddyfile := ":8080 {\n\tlogout {\n\t\t" + body + "\n\t}\n}\n"
	_, err := adapt(caddyfile)
	if err == nil {
		t.Fatalf("adapted without error:\n%s", caddyfile)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
	if !strings.Contains(err.Error(), "Caddyfile:") {
		t.Fatalf("error %q does not name the file and line", err)
	}
}

func TestCaddyfile_ArgumentOnDirectiveLine_Refused(t *testing.T) {
	if _, err := adapt(":8080 {\n\tlogout extra\n}\n"); err == nil {
		t.Fatal("logout with an argument adapted")
	}
}

// TestCaddyfile_BadValues_FailAtAdaptWithTheLine: values that cannot work
// fail when the Caddyfile is adapted, naming the option and the line.
func TestCaddyfile_BadValues_FailAtAdaptWithTheLine(t *testing.T) {
	for _, c := range badValues {
		t.Run(c.name, func(t *testing.T) { assertAdaptError(t, "store memory\n\t\t"+c.caddyfile, c.want) })
	}
}

// TestLoad_BadJSONValues_FailAtLoad: the same values in JSON config fail
// when the config loads, with the same message.
func TestLoad_BadJSONValues_FailAtLoad(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	for _, c := range badValues {
		t.Run(c.name, func(t *testing.T) {
			handler := `{"handler":"logout","store":{"backend":"memory"},` + c.json + `}`
			cfg := `{"apps":{"http":{"servers":{"s":{"listen":["127.0.0.1:0"],"routes":[{"handle":[` + handler + `]}]}}}}}`
			var config caddy.Config
			if err := json.Unmarshal([]byte(cfg), &config); err != nil {
				t.Fatal(err)
			}
			err := caddy.Validate(&config)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not contain %q", err, c.want)
			}
			// Caddy names the module already; ours starts with the option.
			if _, ours, _ := strings.Cut(err.Error(), "provision http.handlers.logout: "); strings.HasPrefix(ours, "logout") {
				t.Fatalf("error prefixed twice: %v", err)
			}
		})
	}
}

var badValues = []struct{ name, caddyfile, json, want string }{
	{"short signing key", "signing_key 0123456789", `"signing_keys":["0123456789"]`, "must be at least 32 bytes (got 10)"},
	{"default_return_url relative", "default_return_url /home", `"default_return_url":"/home"`, "default_return_url"},
	{"default_return_url javascript", "default_return_url javascript:alert(1)", `"default_return_url":"javascript:alert(1)"`, "default_return_url"},
	{"allowed_return_urls ftp", "allowed_return_urls ftp://files.example.com/", `"allowed_return_urls":["ftp://files.example.com/"]`, "allowed_return_urls"},
	{"public_url relative", "public_url /auth", `"public_url":"/auth"`, `public_url: "/auth" must be an absolute http or https URL`},
	{"error_url relative", "error_url /error", `"error_url":"/error"`, `error_url: "/error" must be an absolute http or https URL`},
	{"endpoints not absolute", "endpoints self-service/logout", `"endpoints":"self-service/logout"`, "endpoints:"},
	{"endpoints root", "endpoints /", `"endpoints":"/"`, "endpoints:"},
	{"intercept relative", "intercept logout", `"intercept":["logout"]`, "intercept:"},
	{"intercept empty query", "intercept /doku.php?", `"intercept":["/doku.php?"]`, "intercept: \"/doku.php?\" has an empty query"},
	{"intercept parameter without a name", "intercept /doku.php?=logout", `"intercept":["/doku.php?=logout"]`, "has a parameter without a name"},
	{"intercept block path with a query", "intercept {\n\t\t\tpath /doku.php?do=logout\n\t\t}", `"intercept_match":[{"path":["/doku.php?do=logout"]}]`,
		`intercept: path "/doku.php?do=logout" can never match`},
	{"intercept block empty query", "intercept {\n\t\t\tpath /doku.php\n\t\t\tquery\n\t\t}", `"intercept_match":[{"path":["/doku.php"],"query":{}}]`,
		"intercept: an empty query matches only requests without a query"},
	{"intercept block query placeholder", "intercept {\n\t\t\tquery do={env.X}\n\t\t}", `"intercept_match":[{"query":{"do":["{env.X}"]}}]`,
		"placeholders are not supported"},
	{"cookie_path second relative", "cookie_path / wp-admin", `"cookie_path":["/","wp-admin"]`, `cookie_path: "wp-admin" must be a path`},
	{"cookie name invalid", `cookie "a;b"`, `"cookies":["a;b"]`, "is not a valid cookie name"},
	{"cookie pattern too wide", "cookie DokuWiki *", `"cookies":["DokuWiki","*"]`, `cookie: "*" matches nearly every cookie`},
	{"seal name invalid", `seal "a;b"`, `"seal":["a;b"]`, `seal: "a;b" is not a valid cookie name`},
	{"seal pattern too wide", "seal r*", `"seal":["r*"]`, `seal: "r*" matches nearly every cookie`},
	{"short seal key", "seal remember\n\t\tseal_key 0123456789", `"seal":["remember"],"seal_keys":["0123456789"]`, "must be at least 32 bytes (got 10)"},
	{"cookie_path relative", "cookie_path app", `"cookie_path":"app"`, "cookie_path"},
	{"cookie_domain with slash", "cookie_domain example.com/x", `"cookie_domains":["example.com/x"]`, "cookie_domain"},
	{"samesite", "cookie_samesite sideways", `"cookie_samesite":"sideways"`, "cookie_samesite: must be lax, strict or none"},
	{"on_revoked redirect not a URL", `on_revoked redirect "https://x/ y"`, `"on_revoked":"redirect","on_revoked_redirect":"https://x/ y"`, "on_revoked redirect:"},
	{"clear_site_data unknown", "clear_site_data everything", `"clear_site_data":["everything"]`, "clear_site_data:"},
	{"on_store_error unknown", "on_store_error maybe", `"on_store_error":"maybe"`, "on_store_error:"},
	{"cache max_entries huge", "cache {\n\t\t\tmax_entries 1000000000000\n\t\t}", `"cache":{"max_entries":1000000000000}`, "cache max_entries"},
	{"token_header not a header name", `token_header "X Session"`, `"token_header":"X Session"`, `token_header: "X Session" is not an HTTP header name`},
	{"token_header Cookie", "token_header cookie", `"token_header":"cookie"`, "token_header: cookie is read already"},
	{"token_header Authorization", "token_header Authorization", `"token_header":"Authorization"`, "token_header: Authorization is read already"},
}

// TestLoad_PlaceholderKeyErrors: keys from placeholders are checked when
// they are resolved, at load.
func TestLoad_PlaceholderKeyErrors(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	t.Setenv("SHORT_KEY", "tooshort")
	cases := []struct{ name, body, want string }{
		{"short key from env", "signing_key {env.SHORT_KEY}", "signing_key #1 must be at least 32 bytes (got 8)"},
		{"key from missing env", "signing_key {env.LOGOUT_TEST_NO_SUCH_VAR}", "signing_key #1"},
		{"key from missing file", "signing_key {file./nonexistent/logout.key}", "signing_key #1"},
		{"short seal key from env", "seal remember\n\t\tseal_key {env.SHORT_KEY}", "seal_key #1 must be at least 32 bytes (got 8)"},
		{"seal key from missing env", "seal remember\n\t\tseal_key {env.LOGOUT_TEST_NO_SUCH_VAR}", "seal_key #1"},
		{"seal key without seal", "seal_key {env.LOGOUT_TEST_NO_SUCH_VAR}", "seal_key: no cookie is sealed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validate(t, ":8080 {\n\tlogout {\n\t\tstore memory\n\t\t"+c.body+"\n\t}\n}\n")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not contain %q", err, c.want)
			}
		})
	}
}

func TestLoad_GoodConfigs(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	keyFile := filepath.Join(t.TempDir(), "logout.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("k", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LOGOUT_TEST_KEY", strings.Repeat("e", 32))
	for name, body := range map[string]string{
		"defaults (bolt in the data dir, generated key)": "",
		"keys from env and file, rotation":               "signing_key {env.LOGOUT_TEST_KEY} {file." + keyFile + "}",
		"seal with the signing keys":                     "seal remember_* app_token",
		"seal with keys of its own, rotation":            "seal remember_*\n\t\tseal_key {env.LOGOUT_TEST_KEY} {file." + keyFile + "}",
		"everything": `cookie ory_kratos_session PHPSESSID DW* wordpress_logged_in_*
		token_header X-Auth-Token
		cookie_domain example.com .example.org
		cookie_path /app /app/admin
		cookie_samesite strict
		endpoints /auth/logout
		public_url https://auth.example.com
		intercept /logout /signout /doku.php?do=logout
		intercept {
			path /index.php
			query title=Special:UserLogout
			method POST
		}
		intercept {
			header X-DokuWiki-Do logout
		}
		default_return_url https://app.example.com/
		allowed_return_urls https://app.example.com/ https://*.example.com/app
		error_url https://app.example.com/error
		token_ttl 1h
		session_lifetime 48h
		on_revoked redirect https://app.example.com/login
		clear_site_data cookies storage
		store memory
		cache {
			max_entries 1000
			negative_ttl 2s
		}
		on_store_error deny`,
	} {
		t.Run(name, func(t *testing.T) {
			if err := validate(t, ":8080 {\n\tlogout {\n\t\t"+body+"\n\t}\n}\n"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// validate adapts and fully provisions a config without serving it.
func validate(t *testing.T, caddyfile string) error {
	t.Helper()
	out, err := adapt(caddyfile)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return caddy.Validate(&cfg)
}
