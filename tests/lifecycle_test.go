package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// TestE2E_Persistence_RevokedSurvivesHardKill: revoke, SIGKILL Caddy (no
// Cleanup, no graceful close), start it again on the same data directory
// with the default bolt store: still revoked, and the logout URLs handed
// out before the crash still verify (the generated key is in storage).
func TestE2E_Persistence_RevokedSurvivesHardKill(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })

	revoked := make([]string, 20)
	for i := range revoked {
		revoked[i] = "sid=persist-" + e2e.RandomValue()
		revokeCookie(t, p, revoked[i])
	}
	for i := range 20 {
		token := fmt.Sprintf("api-persist-%d-%s", i, e2e.RandomValue())
		resp, _ := e2e.Do(t, http.DefaultClient, "DELETE", p.URL("/self-service/logout/api"),
			http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+token+`"}`)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("API logout: %s", resp.Status)
		}
		revoked = append(revoked, "token:"+token)
	}
	pending := e2e.CreateLogout(t, p, "sid=still-logged-in", "")

	p.Kill()
	p.Restart()

	for _, cred := range revoked {
		h := http.Header{"Accept": {"application/json"}}
		if token, ok := strings.CutPrefix(cred, "token:"); ok {
			h.Set("X-Session-Token", token)
		} else {
			h.Set("Cookie", cred)
		}
		_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/after-restart"), h, "")
		if s := e2e.Seen(t, body); s.Cookie != "" || s.Token != "" {
			t.Fatalf("after a hard kill and restart, revoked %s reached the app: %+v", cred, s)
		}
	}
	resp, body := e2e.Do(t, http.DefaultClient, "GET", pending.LogoutURL, http.Header{"Cookie": {"sid=still-logged-in"}, "Accept": {"application/json"}}, "")
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout URL issued before the restart: %s %s", resp.Status, body)
	}
}

// TestE2E_Reload_UnderLoad: reload the config repeatedly (changing the
// handler, and changing the cache so a new cache opens over the same bolt
// file) while requests flow. No request may fail, revocations made before
// and during the reloads stay enforced, and no reload blocks on the bbolt
// file lock.
func TestE2E_Reload_UnderLoad(t *testing.T) {
	app := e2e.StartUpstream(t)
	configs := []string{
		"cookie sid\n\t\ttoken_ttl 1h",
		"cookie sid\n\t\ttoken_ttl 2h",
		"cookie sid\n\t\tcache {\n\t\t\tnegative_ttl 3s\n\t\t}",
	}
	var adminPort, sitePort int
	render := func(i int) string { return e2e.SiteConfig(adminPort, sitePort, app.Port, configs[i%len(configs)]) }
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		adminPort, sitePort = admin, port
		return render(0)
	})
	revokeCookie(t, p, "sid=revoked-before")

	valid := func(w int) string { return fmt.Sprintf("sid=valid-%d", w) }
	load := e2e.StartLoad(4, p.URL("/load"), func(w, i int) http.Header {
		if i%2 == 1 {
			return http.Header{"Cookie": {"sid=revoked-before"}}
		}
		return http.Header{"Cookie": {valid(w)}}
	}, func(w, i int, resp *http.Response, body []byte) string {
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("status %s during reload: %s", resp.Status, body)
		}
		s := e2e.Seen(t, body)
		if i%2 == 0 && s.Cookie != valid(w) {
			return fmt.Sprintf("valid session lost during reload: app saw %q", s.Cookie)
		}
		if i%2 == 1 && s.Cookie != "" {
			return fmt.Sprintf("revoked session passed during reload: app saw %q", s.Cookie)
		}
		return ""
	})

	for i := 1; i <= 9; i++ {
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		if err := p.Reload(render(i)); err != nil {
			t.Errorf("reload %d: %v", i, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("reload %d took %v: blocked on the store?", i, d)
		}
		revokeCookie(t, p, fmt.Sprintf("sid=revoked-during-%d", i))
	}
	load.Stop()

	if n, first := load.Failures(); n > 0 {
		t.Fatalf("%d requests failed during reloads (of %v); first: %v\nCaddy's log:\n%s", n, load, first, p.Logs.String())
	}
	if strings.Contains(p.Logs.String(), "panic") {
		t.Fatalf("panic in Caddy's log:\n%s", p.Logs.String())
	}
	t.Logf("%v across 9 reloads, none failed", load)
	for i := 1; i <= 9; i++ {
		_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/after"), http.Header{"Cookie": {fmt.Sprintf("sid=revoked-during-%d", i)}}, "")
		if s := e2e.Seen(t, body); s.Cookie != "" {
			t.Fatalf("revocation made during reload %d not enforced: %+v", i, s)
		}
	}
}

// TestE2E_MalformedInput_Never5xx throws bad input of every kind at the
// endpoints and the guard: each gets a 4xx, never a 500, and Caddy lives on.
func TestE2E_MalformedInput_Never5xx(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, "cookie sid\n\t\tallowed_return_urls http://127.0.0.1/\n\t\terror_url http://127.0.0.1/error")
	})
	good := e2e.CreateLogout(t, p, "sid=m", "")
	// Another signature: the last two characters changed (a token that
	// already ends in "AA" gets "QA", both canonical base64url endings).
	forged := good.LogoutToken[:len(good.LogoutToken)-2] + "AA"
	if forged == good.LogoutToken {
		forged = good.LogoutToken[:len(good.LogoutToken)-2] + "QA"
	}
	huge := strings.Repeat("x", 20<<10)
	cases := []struct {
		name, method, path string
		header             http.Header
		body               string
	}{
		{"bad base64 token", "GET", "/self-service/logout?token=%%%%", http.Header{"Cookie": {"sid=m"}}, ""},
		{"token not base64", "GET", "/self-service/logout?token=!!!!", http.Header{"Cookie": {"sid=m"}}, ""},
		{"wrong signature", "GET", "/self-service/logout?token=" + forged, http.Header{"Cookie": {"sid=m"}}, ""},
		{"truncated token", "GET", "/self-service/logout?token=" + good.LogoutToken[:20], http.Header{"Cookie": {"sid=m"}}, ""},
		{"token twice", "GET", "/self-service/logout?token=a&token=b", http.Header{"Cookie": {"sid=m"}}, ""},
		{"huge token", "GET", "/self-service/logout?token=" + strings.Repeat("A", 6000), http.Header{"Cookie": {"sid=m"}}, ""},
		{"huge cookie at perform", "GET", "/self-service/logout?token=" + good.LogoutToken, http.Header{"Cookie": {"sid=" + huge}}, ""},
		{"huge cookie at create", "GET", "/self-service/logout/browser", http.Header{"Cookie": {"sid=" + huge}}, ""},
		{"huge cookie at guard", "GET", "/page", http.Header{"Cookie": {"sid=" + huge}}, ""},
		{"huge token header at guard", "GET", "/page", http.Header{"X-Session-Token": {huge}}, ""},
		{"CRLF in return_to", "GET", "/self-service/logout/browser?return_to=http://127.0.0.1/%0d%0aSet-Cookie:x=1", http.Header{"Cookie": {"sid=m"}}, ""},
		{"encoded // in return_to", "GET", "/self-service/logout/browser?return_to=/%2f%2fevil.com", http.Header{"Cookie": {"sid=m"}}, ""},
		{"open redirect", "GET", "/self-service/logout/browser?return_to=https://evil.com/", http.Header{"Cookie": {"sid=m"}}, ""},
		{"return_to twice", "GET", "/self-service/logout/browser?return_to=/a&return_to=/b", http.Header{"Cookie": {"sid=m"}}, ""},
		{"bad query escape", "GET", "/self-service/logout/browser?return_to=%zz", http.Header{"Cookie": {"sid=m"}}, ""},
		{"bad JSON", "DELETE", "/self-service/logout/api", http.Header{"Content-Type": {"application/json"}}, `{"session_token":`},
		{"JSON with NUL token", "DELETE", "/self-service/logout/api", http.Header{"Content-Type": {"application/json"}}, `{"session_token":"a\u0000b"}`},
		{"oversize body", "DELETE", "/self-service/logout/api", http.Header{"Content-Type": {"application/json"}}, strings.Repeat(" ", 1<<20) + "{}"},
		{"wrong method on perform", "POST", "/self-service/logout", nil, ""},
		{"HEAD on perform", "HEAD", "/self-service/logout?token=" + good.LogoutToken, http.Header{"Cookie": {"sid=m"}}, ""},
		{"wrong method on create", "DELETE", "/self-service/logout/browser", nil, ""},
		{"errors endpoint garbage id", "GET", "/self-service/errors?id=%00%01", nil, ""},
		{"errors endpoint without id", "GET", "/self-service/errors", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// As a JSON client: browsers would be sent to error_url instead.
			h := http.Header{"Accept": {"application/json"}}
			for k, v := range c.header {
				h[k] = v
			}
			resp, body := e2e.Do(t, e2e.Client(t), c.method, p.URL(c.path), h, c.body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Fatalf("%s %s: %s %s", c.method, c.path, resp.Status, body)
			}
			if c.method != "HEAD" && len(body) == 0 {
				t.Fatalf("%s with no reason in the body", resp.Status)
			}
		})
	}
	// The session used above was never logged out by any of it.
	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/still"), http.Header{"Cookie": {"sid=m"}}, "")
	if e2e.Seen(t, body).Cookie != "sid=m" {
		t.Fatal("a malformed request logged the session out")
	}
	if strings.Contains(p.Logs.String(), "panic") {
		t.Fatalf("panic in logs:\n%s", p.Logs.String())
	}
}

// TestE2E_TwoCachesOnOneStore_RevocationSeenByBoth: two sites share the
// default bolt store but configure different caches. A logout through one
// must be refused at once by the other, even though the other had just
// cached the session as valid (with a negative_ttl of an hour).
func TestE2E_TwoCachesOnOneStore_RevocationSeenByBoth(t *testing.T) {
	app := e2e.StartUpstream(t)
	var portB int
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		portB = e2e.FreePort(t)
		// The memory store keeps no view of its own, so every lookup is
		// the caches' (a bolt or redis store's view answers most first).
		return e2e.SiteConfig(admin, port, app.Port, "on_revoked deny\n\t\tstore memory") + fmt.Sprintf(`
http://127.0.0.1:%d {
	logout {
		on_revoked deny
		store memory
		cache {
			negative_ttl 1h
		}
	}
	reverse_proxy 127.0.0.1:%d
}
`, portB, app.Port)
	})
	siteB := fmt.Sprintf("http://127.0.0.1:%d", portB)
	token := "shared-" + e2e.RandomValue()
	h := http.Header{"X-Session-Token": {token}, "Accept": {"application/json"}}
	if resp, _ := e2e.Do(t, http.DefaultClient, "GET", siteB+"/", h, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("site B before logout: %s", resp.Status)
	}
	resp, _ := e2e.Do(t, http.DefaultClient, "DELETE", p.URL("/self-service/logout/api"),
		http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+token+`"}`)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout through site A: %s", resp.Status)
	}
	if resp, body := e2e.Do(t, http.DefaultClient, "GET", siteB+"/", h, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("site B right after the logout on site A: %s %s", resp.Status, body)
	}
	// One store, so one series per metric and one status entry, adding up
	// both caches (duplicate series would make Caddy's whole /metrics a 500).
	resp, body := e2e.Do(t, http.DefaultClient, "GET", p.AdminURL("/metrics"), nil, "")
	if resp.StatusCode != http.StatusOK || strings.Count(string(body), "\ncaddy_logout_cache_misses_total{") != 1 {
		t.Fatalf("/metrics with two caches on one store: %s\n%s", resp.Status, grepLines(body, "caddy_logout_cache"))
	}
	var status struct {
		Stores []struct {
			Hits   int `json:"cache_hits"`
			Misses int `json:"cache_misses"`
		}
	}
	_, body = e2e.Do(t, http.DefaultClient, "GET", p.AdminURL("/logout/status"), nil, "")
	if err := json.Unmarshal(body, &status); err != nil || len(status.Stores) != 1 || status.Stores[0].Hits+status.Stores[0].Misses < 2 {
		t.Fatalf("status with two caches on one store, want it once with both caches' lookups: %s", body)
	}
}

// grepLines returns the lines of body that contain s.
func grepLines(body []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2E_ValidateNextToRunningCaddy: `caddy validate` provisions the
// config in its own process while the serving Caddy holds the bolt file;
// it must succeed (the usual `caddy validate && caddy reload`), not fail
// on the file lock.
func TestE2E_ValidateNextToRunningCaddy(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	revokeCookie(t, p, "sid=before-validate")

	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(p.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.Bin, "validate", "--config", file, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+p.DataHome, "XDG_CONFIG_HOME="+t.TempDir(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("caddy validate next to a running Caddy: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Valid configuration") {
		t.Fatalf("caddy validate said:\n%s", out)
	}
	// The serving Caddy still has its store.
	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=before-validate"}}, "")
	if e2e.Seen(t, body).Cookie != "" {
		t.Fatal("revocation lost after caddy validate")
	}
}

// TestE2E_SecondProcessWaitsForTheFile: a Caddy started while another
// still holds the bolt file (a restart racing the old process's exit)
// starts anyway, and opens the store once the file is free.
func TestE2E_SecondProcessWaitsForTheFile(t *testing.T) {
	app := e2e.StartUpstream(t)
	first := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	revokeCookie(t, first, "sid=old-process")

	second := e2e.StartCaddy(t, first.DataHome, func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	if !strings.Contains(second.Logs.String(), "locked by another process") {
		t.Fatalf("no warning about the locked file:\n%s", second.Logs.String())
	}
	first.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := e2e.Do(t, http.DefaultClient, "GET", second.URL("/"), http.Header{"Cookie": {"sid=old-process"}}, "")
		if e2e.Seen(t, body).Cookie == "" {
			break // the store is open and the old revocation enforced
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second Caddy never opened the store:\n%s", second.Logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Once open, it reports as a store opened at start does.
	_, body := e2e.Do(t, http.DefaultClient, "GET", second.AdminURL("/logout/status"), nil, "")
	if !strings.Contains(string(body), `"records":1`) {
		t.Fatalf("status of the store opened late: %s", body)
	}
}
