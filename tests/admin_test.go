package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func adminURL(p *e2e.Caddy, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", p.AdminPort, path)
}

// TestAdmin_RevokeLookupStatus drives the incident-response API through
// Caddy's real admin endpoint: kill a session now, see it refused, look it
// up, and read the store and cache status.
func TestAdmin_RevokeLookupStatus(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })

	_, body := e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=incident"}}, "")
	if e2e.Seen(t, body).Cookie != "sid=incident" {
		t.Fatal("session did not reach the app before the incident")
	}

	resp, body := e2e.Do(t, http.DefaultClient, "POST", adminURL(p, "/logout/revoke"), http.Header{"Content-Type": {"application/json"}}, `{"cookie":"incident"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %s %s", resp.Status, body)
	}
	var answer struct {
		ID     string `json:"id"`
		Stores []struct {
			Store   string `json:"store"`
			Revoked bool   `json:"revoked"`
		} `json:"stores"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || len(answer.Stores) != 1 || !answer.Stores[0].Revoked ||
		!strings.HasPrefix(answer.Stores[0].Store, "bolt:") || len(answer.ID) != 64 {
		t.Fatalf("revoke answer %s (%v)", body, err)
	}
	if strings.Contains(string(body), "incident") {
		t.Fatal("the admin answer echoes the cookie value")
	}

	_, body = e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=incident"}}, "")
	if e2e.Seen(t, body).Cookie != "" {
		t.Fatal("session revoked through the admin API still reaches the app")
	}

	// Lookup by ID (from the revoke answer) and by token.
	resp, body = e2e.Do(t, http.DefaultClient, "POST", adminURL(p, "/logout/lookup"), nil, `{"id":"`+answer.ID+`"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"revoked":true`) {
		t.Fatalf("lookup by id: %s %s", resp.Status, body)
	}
	resp, body = e2e.Do(t, http.DefaultClient, "POST", adminURL(p, "/logout/lookup"), nil, `{"session_token":"never-revoked"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"revoked":false`) {
		t.Fatalf("lookup of a live token: %s %s", resp.Status, body)
	}

	resp, body = e2e.Do(t, http.DefaultClient, "GET", adminURL(p, "/logout/status"), nil, "")
	var status struct {
		Stores []struct {
			Store     string `json:"store"`
			CacheHits uint64 `json:"cache_hits"`
			Records   *int   `json:"records"`
			View      *struct {
				Revocations int  `json:"revocations"`
				Current     bool `json:"current"`
			} `json:"view"`
		} `json:"stores"`
	}
	if err := json.Unmarshal(body, &status); err != nil || resp.StatusCode != http.StatusOK || len(status.Stores) != 1 {
		t.Fatalf("status: %s %s", resp.Status, body)
	}
	// The bolt store's view answers the lookups, so they need no cache
	// entry; it holds the one revocation.
	if s := status.Stores[0]; s.Records == nil || *s.Records != 1 || s.View == nil || s.View.Revocations != 1 || !s.View.Current {
		t.Fatalf("status does not show the revocation: %s", body)
	}

	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/logout/revoke", "", 405},
		{"POST", "/logout/revoke", "not json", 400},
		{"POST", "/logout/revoke", `{}`, 400},
		{"POST", "/logout/revoke", `{"cookie":"a","session_token":"b"}`, 400},
		{"POST", "/logout/revoke", `{"id":"abc"}`, 400},
		{"POST", "/logout/lookup", strings.Repeat("x", 64<<10), 400},
		{"POST", "/logout/status", "", 405},
	} {
		resp, body := e2e.Do(t, http.DefaultClient, c.method, adminURL(p, c.path), nil, c.body)
		if resp.StatusCode != c.code {
			t.Errorf("%s %s %.40q: %s %s", c.method, c.path, c.body, resp.Status, body)
		}
	}
}

// TestMetrics_ThroughCaddysRegistry: the module's counters and the cache
// collector appear on Caddy's admin /metrics endpoint.
func TestMetrics_ThroughCaddysRegistry(t *testing.T) {
	app := e2e.StartUpstream(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, "cookie sid") })
	revokeCookie(t, p, "sid=counted")
	e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=counted"}}, "")
	e2e.Do(t, http.DefaultClient, "GET", p.URL("/"), http.Header{"Cookie": {"sid=live"}}, "")

	_, body := e2e.Do(t, http.DefaultClient, "GET", adminURL(p, "/metrics"), nil, "")
	for _, want := range []string{
		`caddy_logout_logouts_total{flow="browser",result="ok"} 1`,
		`caddy_logout_logouts_total{flow="browser_create",result="ok"} 1`,
		`caddy_logout_guard_decisions_total{decision="revoked"} 1`,
		`caddy_logout_guard_decisions_total{decision="passed"} 1`,
		`caddy_logout_cache_hits_total{store="bolt:`,
		`caddy_logout_cache_entries{store="bolt:`,
		`caddy_logout_store_duration_seconds_bucket{op="revoke",result="ok"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
