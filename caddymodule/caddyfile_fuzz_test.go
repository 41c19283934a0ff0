package caddymodule

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzCaddyfile puts arbitrary text inside a logout block and adapts the
// site. The adapter never panics; an error of the logout directive names
// the Caddyfile and line; a success is valid JSON holding a
// "handler":"logout" object that decodes into Handler with no field
// Handler does not know.
func FuzzCaddyfile(f *testing.F) {
	for _, s := range []string{
		"", "cookie sid", "store memory", "store bolt /tmp/x.db", "store redis {\n\taddress 127.0.0.1:6379\n}",
		"cache {\n\tmax_entries 10\n\tnegative_ttl 1s\n}", "on_revoked redirect https://a.example/login",
		"signing_key {env.LOGOUT_KEY} {file./run/secrets/k}", "token_ttl 1h", "session_lifetime -1h",
		"clear_site_data cookies *", "cookie_samesite none", "cookie \"a b\" `c d`", "cookie <<EOF\nsid\nEOF",
		"cookie sid {\n}", "}\n}\n:9090 {", "{", "\\", "\"", "#", "cache {", "store", "on_revoked",
		"import x", "{$LOGOUT_TEST_UNSET}", "cache {\n\tcache {\n\t}\n}", "store memory {\n\tx\n}",
	} {
		f.Add(s)
	}
	// The full option set of the golden file, one option per seed too.
	if raw, err := os.ReadFile("testdata/adapt/all_options.caddyfiletest"); err == nil {
		site, _, _ := strings.Cut(string(raw), "\n----------\n")
		if _, block, ok := strings.Cut(site, "logout {\n"); ok {
			block, _, _ = strings.Cut(block, "\n\t}\n")
			f.Add(block)
			for _, line := range strings.Split(block, "\n") {
				f.Add(strings.TrimSpace(line))
			}
		}
	}

	f.Fuzz(func(t *testing.T, body string) {
		caddyfile := ":8080 {\n\tlogout {\n\t\t" + body + "\n\t}\n}\n"
		out, err := adapt(caddyfile)
		if err != nil {
			// Text that closes the block early reaches Caddy's own parsing;
			// errors of the logout directive itself must name the line.
			if strings.Contains(err.Error(), "tokens for 'logout'") && !strings.Contains(err.Error(), "Caddyfile:") {
				t.Fatalf("error without file and line: %v\n%s", err, caddyfile)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s\n%s", out, caddyfile)
		}
		var cfg any
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		handlers := findHandlers(cfg, "logout", nil)
		if len(handlers) == 0 {
			t.Fatalf("no \"handler\":\"logout\" in %s\n%s", out, caddyfile)
		}
		for _, raw := range handlers {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			var h struct {
				Handler
				Name string `json:"handler"`
			}
			if err := dec.Decode(&h); err != nil {
				t.Fatalf("logout handler %s does not decode: %v\n%s", raw, err, caddyfile)
			}
		}
	})
}

// findHandlers collects every JSON object with "handler": name.
func findHandlers(v any, name string, found []json.RawMessage) []json.RawMessage {
	switch v := v.(type) {
	case map[string]any:
		if v["handler"] == name {
			raw, _ := json.Marshal(v)
			found = append(found, raw)
		}
		for _, x := range v {
			found = findHandlers(x, name, found)
		}
	case []any:
		for _, x := range v {
			found = findHandlers(x, name, found)
		}
	}
	return found
}
