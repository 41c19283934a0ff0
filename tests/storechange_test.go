package tests

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// TestE2E_Reload_StoreChange_InFlightRequestsChecked: a reload that moves
// the gateway to another store closes the old store while requests of the
// old config are still inside it. Here they wait in a forward_auth (a slow
// auth service) in front of logout, so every reload leaves several in
// flight. With on_store_error allow (the default), none of them may reach
// the app with a revoked session: they are checked against the store that
// replaced the old one (the session is revoked in both), and a live session
// still gets through.
func TestE2E_Reload_StoreChange_InFlightRequestsChecked(t *testing.T) {
	app := e2e.StartUpstream(t)
	const authDelay = 300 * time.Millisecond
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(authDelay)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(auth.Close)
	dir := t.TempDir()
	stores := []string{filepath.Join(dir, "x.db"), filepath.Join(dir, "y.db")}

	var adminPort, sitePort int
	render := func(i int) string {
		return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 10s
}

http://127.0.0.1:%d {
	route {
		forward_auth %s {
			uri /auth
		}
		logout {
			on_revoked deny
			store bolt %s
			cache {
				max_entries 1000
			}
		}
		reverse_proxy 127.0.0.1:%d
	}
}
`, adminPort, sitePort, strings.TrimPrefix(auth.URL, "http://"), stores[i%2], app.Port)
	}
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		adminPort, sitePort = admin, port
		return render(0)
	})
	const revoked = "revoked-in-both-stores"
	apiLogoutOK := func() {
		t.Helper()
		resp, body := e2e.Do(t, e2e.OneShot, "DELETE", p.URL("/self-service/logout/api"),
			http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+revoked+`"}`)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("API logout: %s %s", resp.Status, body)
		}
	}
	apiLogoutOK()
	if err := p.Reload(render(1)); err != nil {
		t.Fatal(err)
	}
	apiLogoutOK()

	load := e2e.StartLoad(8, p.URL("/page"), func(w, i int) http.Header {
		token := fmt.Sprintf("live-%d", w)
		if i%2 == 0 {
			token = revoked
		}
		return http.Header{"X-Session-Token": {token}, "Accept": {"application/json"}}
	}, func(w, i int, resp *http.Response, body []byte) string {
		switch {
		case i%2 == 0 && resp.StatusCode != http.StatusUnauthorized:
			return fmt.Sprintf("revoked session answered %s: %s", resp.Status, body)
		case i%2 == 1 && (resp.StatusCode != http.StatusOK || e2e.Seen(t, body).Token != fmt.Sprintf("live-%d", w)):
			return fmt.Sprintf("live session answered %s: %s", resp.Status, body)
		}
		return ""
	})
	const reloads = 8
	for i := range reloads {
		time.Sleep(authDelay + 100*time.Millisecond)
		if err := p.Reload(render(i)); err != nil {
			t.Errorf("reload %d: %v", i, err)
		}
	}
	time.Sleep(2 * authDelay)
	load.Stop()

	t.Logf("%v across %d store changes", load, reloads)
	if n, first := load.Failures(); n > 0 {
		t.Fatalf("%d requests were answered wrong; first: %v\nCaddy's log:\n%s", n, first, p.Logs.String())
	}
	// The window was really crossed: some old config's requests reached its
	// store after it closed, and went to the new one.
	if !strings.Contains(p.Logs.String(), "go to the store that took its place") {
		t.Fatalf("no request was in flight across a store change; the test proved nothing\nCaddy's log:\n%s", p.Logs.String())
	}
}
