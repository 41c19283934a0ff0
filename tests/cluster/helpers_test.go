package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Helpers for the multi-node tests (cluster_test.go): several Caddy
// processes (the binary built by TestMain) sharing one real redis-server
// (redistest starts it on a free port and kills it at the end; when
// redis-server is missing the test fails and says to run
// scripts/test-setup.sh).

// clusterKey is the signing key every node shares, so a logout URL handed
// out by one node verifies on all of them.
const clusterKey = "cluster-test-signing-key-0123456789abcdef"

// redisBlock is the store block for a Redis at addr, plus extra lines.
func redisBlock(addr string, extra ...string) string {
	lines := append([]string{"address " + addr}, extra...)
	return "store redis {\n\t\t\t" + strings.Join(lines, "\n\t\t\t") + "\n\t\t}"
}

// nodeConfig is one node's logout block: deny revoked sessions (401, easy
// to tell from a pass), believe a cached "not revoked" for an hour (so a
// node can only learn of another's revocation from Redis, never by its
// cache expiring), and the given store block.
func nodeConfig(store string) string {
	return "on_revoked deny\n\t\tsigning_key " + clusterKey + "\n\t\t" + store +
		"\n\t\tcache {\n\t\t\tnegative_ttl 1h\n\t\t}"
}

// startNodes starts n Caddy processes, each with its own data directory
// (so its own journal), in front of app.
func startNodes(t *testing.T, n int, app *e2e.Upstream, logoutBlock string) []*e2e.Caddy {
	t.Helper()
	nodes := make([]*e2e.Caddy, n)
	for i := range nodes {
		nodes[i] = e2e.StartCaddy(t, "", func(admin, port int) string { return e2e.SiteConfig(admin, port, app.Port, logoutBlock) })
	}
	return nodes
}

// fastClient keeps connections open: the latency test measures Caddy and
// Redis, not TCP handshakes.
var fastClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// send makes one request without failing the test (safe in goroutines)
// and returns the status.
func send(method, rawURL string, header http.Header, body string) (int, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, rawURL, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := fastClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// guardStatus sends a request with the session token through node: 200
// when the guard lets it pass, 401 when it refuses it as revoked.
func guardStatus(p *e2e.Caddy, token string) (int, error) {
	return send("GET", p.URL("/app"), http.Header{"X-Session-Token": {token}, "Accept": {"application/json"}}, "")
}

// apiLogout revokes token through node's API logout (204 expected).
func apiLogout(p *e2e.Caddy, token string) (int, error) {
	return send("DELETE", p.URL("/self-service/logout/api"),
		http.Header{"Content-Type": {"application/json"}}, `{"session_token":"`+token+`"}`)
}

// browserLogout performs a logout URL with the session cookie (303
// expected: a browser, redirected to the default return URL).
func browserLogout(logoutURL, cookie string) (int, error) {
	return send("GET", logoutURL, http.Header{"Cookie": {"ory_kratos_session=" + cookie}, "Accept": {"text/html"}}, "")
}

// logoutURLFor asks node for a logout URL for the session cookie.
func logoutURLFor(p *e2e.Caddy, cookie string) (string, error) {
	req, _ := http.NewRequest("GET", p.URL("/self-service/logout/browser"), nil)
	req.Header.Set("Cookie", "ory_kratos_session="+cookie)
	req.Header.Set("Accept", "application/json")
	resp, err := fastClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var f e2e.LogoutFlow
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create logout: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		return "", err
	}
	return f.LogoutURL, nil
}

// waitRefused polls node until it refuses token (401) or the deadline.
func waitRefused(p *e2e.Caddy, token string, deadline time.Time) (time.Time, error) {
	for {
		status, err := guardStatus(p, token)
		now := time.Now()
		if err == nil && status == http.StatusUnauthorized {
			return now, nil
		}
		if now.After(deadline) {
			return now, fmt.Errorf("node :%d still answers %d (err %v) for a revoked session", p.Port, status, err)
		}
	}
}

// nodeHealth is a node's store status from the admin API.
type nodeHealth struct {
	Store        string `json:"store"`
	JournalDepth *int   `json:"journal_depth"`
	Degraded     *bool  `json:"degraded"`
}

func storeHealth(p *e2e.Caddy) (nodeHealth, error) {
	resp, err := fastClient.Get(fmt.Sprintf("http://127.0.0.1:%d/logout/status", p.AdminPort))
	if err != nil {
		return nodeHealth{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Stores []nodeHealth `json:"stores"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nodeHealth{}, err
	}
	for _, s := range out.Stores {
		if strings.HasPrefix(s.Store, "redis:") && s.JournalDepth != nil && s.Degraded != nil {
			return s, nil
		}
	}
	return nodeHealth{}, fmt.Errorf("no redis store in the status: %+v", out.Stores)
}

// waitHealthy waits until every node's journal is empty and none is
// degraded.
func waitHealthy(t *testing.T, nodes []*e2e.Caddy, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, p := range nodes {
		for {
			h, err := storeHealth(p)
			if err == nil && *h.JournalDepth == 0 && !*h.Degraded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node :%d not healthy within %s: %+v %v\n%s", p.Port, within, h, err, p.Logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// caddyMustFail runs the binary with a config that must not load, waits
// for it to exit and returns what it logged.
func caddyMustFail(t *testing.T, logoutBlock string) string {
	t.Helper()
	return caddyMustFailIn(t, "", logoutBlock)
}

// caddyMustFailIn is caddyMustFail with the data directory (XDG_DATA_HOME)
// of an earlier run: its journal, its key. "" makes a fresh one.
func caddyMustFailIn(t *testing.T, dataHome, logoutBlock string) string {
	t.Helper()
	return e2e.MustFail(t, dataHome, e2e.SiteConfig(e2e.FreePort(t), e2e.FreePort(t), e2e.FreePort(t), logoutBlock))
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sortDurations(d []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// checkInRedis waits until the record of every acknowledged logout is in
// the Redis c talks to.
func checkInRedis(t *testing.T, c *goredis.Client, all []acked, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, a := range all {
		key := "logout:revoked:" + session.IDOf(a.token).String()
		for {
			n, err := c.Exists(t.Context(), key).Result()
			if err == nil && n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the logout of %s, acknowledged by node %d, is not in Redis: %d, %v", a.token, a.node+1, n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
