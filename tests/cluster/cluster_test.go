package cluster

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Three Caddy processes (the real binary, each with its own data
// directory) on one real redis-server. See helpers_test.go for the helpers.

// TestCluster_Propagation: a session the other two nodes have just let
// through is revoked on node 1; both must refuse it. The latency from the
// logout's 204 until both refuse is logged as p50/p99 (bench/run.sh view
// measures it on a binary without the race detector, against p99 <= 5ms);
// the test only asserts that every revocation is refused everywhere within
// a generous bound. The nodes believe a cached "not revoked" for an hour,
// so only the revocation log can make them refuse it.
func TestCluster_Propagation(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 3, app, nodeConfig(redisBlock(srv.Addr)))
	const rounds = 200
	const bound = 5 * time.Second

	var fromAck, fromStart, logoutTook []time.Duration
	for i := range rounds {
		token := fmt.Sprintf("propagation-%d-%s", i, e2e.RandomValue())
		for _, p := range nodes[1:] {
			if status, err := guardStatus(p, token); err != nil || status != http.StatusOK {
				t.Fatalf("round %d: before logout node :%d answered %d, %v; want 200 (cached as valid)", i, p.Port, status, err)
			}
		}
		start := time.Now()
		status, err := apiLogout(nodes[0], token)
		ack := time.Now()
		if err != nil || status != http.StatusNoContent {
			t.Fatalf("round %d: API logout on node 1: %d, %v", i, status, err)
		}
		var wg sync.WaitGroup
		refused := make([]time.Time, 2)
		errs := make([]error, 2)
		for j, p := range nodes[1:] {
			wg.Go(func() { refused[j], errs[j] = waitRefused(p, token, ack.Add(bound)) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: not refused within %s of the logout: %v", i, bound, err)
			}
		}
		last := refused[0]
		if refused[1].After(last) {
			last = refused[1]
		}
		fromAck = append(fromAck, last.Sub(ack))
		fromStart = append(fromStart, last.Sub(start))
		logoutTook = append(logoutTook, ack.Sub(start))
	}
	a, s, l := sortDurations(fromAck), sortDurations(fromStart), sortDurations(logoutTook)
	t.Logf("propagation over %d revocations, until both other nodes refuse the session:", rounds)
	t.Logf("  from node 1's 204:          p50 %v  p99 %v  max %v", percentile(a, 50), percentile(a, 99), a[len(a)-1])
	t.Logf("  from the logout request:    p50 %v  p99 %v  max %v", percentile(s, 50), percentile(s, 99), s[len(s)-1])
	t.Logf("  API logout on node 1 took:  p50 %v  p99 %v", percentile(l, 50), percentile(l, 99))
	if p99 := percentile(a, 99); p99 > 5*time.Millisecond {
		t.Logf("NOTE: p99 %v is above the 5ms target (not asserted: a shared machine running Caddy with -race is not a benchmark)", p99)
	}
}

// acked is one logout a node acknowledged.
type acked struct {
	token string
	node  int
	kind  string // "api" or "browser"
}

// outageRound sends logouts to all nodes from several workers while Redis
// is killed and restarted (with its AOF, or empty), and checks that every
// logout was answered as usual (204 or 303, never 5xx or anything else).
func outageRound(t *testing.T, srv *redistest.Server, nodes []*e2e.Caddy, keepData bool, label string) []acked {
	t.Helper()
	const tokens = 1200
	// Every token is first cached as valid on every node, and each browser
	// session gets its logout URL while Redis is up.
	type pre struct {
		token, logoutURL string
	}
	pool := make([]pre, tokens)
	for i := range pool {
		// As a cookie value too, so no spaces: a session cookie outside
		// RFC 6265 never reaches the app, nor binds a logout.
		pool[i].token = fmt.Sprintf("%s-%d-%s", strings.ReplaceAll(label, " ", "-"), i, e2e.RandomValue())
		for _, p := range nodes {
			if status, err := guardStatus(p, pool[i].token); err != nil || status != http.StatusOK {
				t.Fatalf("warming %s on :%d: %d, %v", pool[i].token, p.Port, status, err)
			}
		}
		if i%3 == 0 {
			u, err := logoutURLFor(nodes[i%len(nodes)], pool[i].token)
			if err != nil {
				t.Fatal(err)
			}
			pool[i].logoutURL = u
		}
	}

	var next atomic.Int64
	var mu sync.Mutex
	var ok []acked
	var bad []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := int(next.Add(1) - 1)
				if i >= len(pool) {
					return
				}
				n := i % len(nodes)
				var status int
				var err error
				a := acked{token: pool[i].token, node: n, kind: "api"}
				if pool[i].logoutURL != "" {
					a.kind = "browser"
					status, err = browserLogout(pool[i].logoutURL, pool[i].token)
				} else {
					status, err = apiLogout(nodes[n], pool[i].token)
				}
				mu.Lock()
				if err == nil && (a.kind == "api" && status == http.StatusNoContent || a.kind == "browser" && status == http.StatusSeeOther) {
					ok = append(ok, a)
				} else {
					bad = append(bad, fmt.Sprintf("%s logout on node %d: %d %v", a.kind, n+1, status, err))
				}
				mu.Unlock()
				time.Sleep(8 * time.Millisecond)
			}
		})
	}

	// Watch the nodes' health while this happens.
	var sawDegraded, maxDepth atomic.Int64
	watchStop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() {
		for {
			select {
			case <-watchStop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for _, p := range nodes {
				if h, err := storeHealth(p); err == nil {
					if *h.Degraded {
						sawDegraded.Add(1)
					}
					if d := int64(*h.JournalDepth); d > maxDepth.Load() {
						maxDepth.Store(d)
					}
				}
			}
		}
	})

	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	killedAt := time.Now()
	mu.Lock()
	before := len(ok)
	mu.Unlock()
	time.Sleep(time.Second)
	mu.Lock()
	during := len(ok) - before
	mu.Unlock()
	srv.Restart(keepData)
	downFor := time.Since(killedAt).Round(time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(watchStop)
	watch.Wait()
	after := len(ok) - before - during
	t.Logf("%s: Redis down for %v; logouts acknowledged: %d before the kill, %d while it was down, %d after it returned",
		label, downFor, before, during, after)

	for _, b := range bad {
		t.Errorf("%s: %s", label, b)
	}
	if during == 0 || after == 0 {
		t.Fatalf("%s: logouts must arrive during the outage and after it (got %d and %d)", label, during, after)
	}
	if sawDegraded.Load() == 0 || maxDepth.Load() == 0 {
		t.Errorf("%s: the admin status never showed a degraded node with a journal (degraded seen %d, max depth %d)",
			label, sawDegraded.Load(), maxDepth.Load())
	}
	t.Logf("%s: %d logouts acknowledged in all (%d during the outage), none failed; max journal depth seen %d",
		label, len(ok), during, maxDepth.Load())
	return ok
}

// checkAllRefused asserts that every acknowledged revocation is refused
// by every node.
func checkAllRefused(t *testing.T, nodes []*e2e.Caddy, all []acked, label string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	start := time.Now()
	var wg sync.WaitGroup
	var failures atomic.Int64
	for _, p := range nodes {
		wg.Go(func() {
			for _, a := range all {
				if _, err := waitRefused(p, a.token, deadline); err != nil {
					if failures.Add(1) <= 5 {
						t.Errorf("%s: %s logout acknowledged by node %d: %v", label, a.kind, a.node+1, err)
					}
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%s: %d acknowledged revocations not enforced everywhere", label, n)
	}
	t.Logf("%s: all %d acknowledged revocations refused by all %d nodes (checked in %v)",
		label, len(all), len(nodes), time.Since(start).Round(time.Millisecond))
}

// TestCluster_RedisOutage: Redis is killed (SIGKILL) while logouts arrive
// at all three nodes; every logout is answered as usual; Redis comes back,
// once with its data (AOF, appendfsync always) and once empty (as Redis
// without persistence does); every acknowledged revocation is then refused
// by every node, including the ones another node had cached as valid.
func TestCluster_RedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 3, app, nodeConfig(redisBlock(srv.Addr)))

	round1 := outageRound(t, srv, nodes, true, "restart with data")
	waitHealthy(t, nodes, 15*time.Second)
	checkAllRefused(t, nodes, round1, "restart with data")

	round2 := outageRound(t, srv, nodes, false, "restart empty")
	waitHealthy(t, nodes, 15*time.Second)
	checkAllRefused(t, nodes, append(round1, round2...), "restart empty (both rounds)")

	// After the empty restart, Redis itself holds every revocation again
	// (each node wrote its own back from its journal).
	c := srv.Client(t)
	for _, a := range append(round1, round2...) {
		key := "logout:revoked:" + session.IDOf(a.token).String()
		if n, err := c.Exists(t.Context(), key).Result(); err != nil || n != 1 {
			t.Fatalf("%s not in Redis after the empty restart: %d, %v", key, n, err)
		}
	}
}

// TestCluster_NodeRestartsDuringOutage: a node that has used this Redis
// before starts even though Redis is down (degraded, logouts journaled),
// and writes its journal to Redis when it returns. What decides for it
// meanwhile is its journal (its own logouts) and the view it saved when
// it stopped (every revocation it had heard of, the other nodes' too);
// what neither knows follows on_store_error.
func TestCluster_NodeRestartsDuringOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 2, app, nodeConfig(redisBlock(srv.Addr)))
	elsewhere := "revoked-on-node-2-" + e2e.RandomValue()
	if status, err := apiLogout(nodes[1], elsewhere); err != nil || status != http.StatusNoContent {
		t.Fatalf("API logout on node 2: %d, %v", status, err)
	}
	time.Sleep(time.Second) // in node 1's view by now; node 1 was never asked

	srv.Kill()
	nodes[0].Stop()
	nodes[0].Restart()
	if !strings.Contains(nodes[0].Logs.String(), "starting degraded") {
		t.Errorf("restarted node did not say it starts degraded:\n%s", nodes[0].Logs.String())
	}
	if _, err := waitRefused(nodes[0], elsewhere, time.Now().Add(5*time.Second)); err != nil {
		t.Errorf("node 1, restarted while Redis is down, does not refuse node 2's earlier revocation: %v", err)
	}
	if status, _ := guardStatus(nodes[0], "never-revoked-"+e2e.RandomValue()); status != http.StatusOK {
		t.Errorf("a session nobody revoked: %d while degraded; want 200 (on_store_error allow)", status)
	}
	token := "restart-during-outage-" + e2e.RandomValue()
	if status, err := apiLogout(nodes[0], token); err != nil || status != http.StatusNoContent {
		t.Fatalf("API logout while degraded: %d, %v", status, err)
	}
	if status, _ := guardStatus(nodes[0], token); status != http.StatusUnauthorized {
		t.Errorf("the node that journaled the logout answers %d for it, want 401", status)
	}
	h, err := storeHealth(nodes[0])
	if err != nil || *h.JournalDepth != 1 || !*h.Degraded {
		t.Errorf("status while degraded = %+v, %v; want journal_depth 1, degraded", h, err)
	}
	_, metrics := e2e.Do(t, http.DefaultClient, "GET", nodes[0].AdminURL("/metrics"), nil, "")
	for _, want := range []string{`caddy_logout_journal_depth{store="redis:`, `caddy_logout_store_degraded{store="redis:`} {
		line := regexp.MustCompile(regexp.QuoteMeta(want) + `[^}]*} (\S+)`).FindStringSubmatch(string(metrics))
		if line == nil || line[1] != "1" {
			t.Errorf("/metrics while degraded: %s... = %v, want 1", want, line)
		}
	}

	srv.Restart(false)
	waitHealthy(t, nodes, 15*time.Second)
	if _, err := waitRefused(nodes[1], token, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("the other node after Redis returned: %v", err)
	}
}

// TestCluster_PasswordAndKeyPrefix: Redis with requirepass; the nodes get
// the password from the environment and use their own key prefix. A wrong
// password, or a Redis that is not there, stops Caddy at start with a
// clear error.
func TestCluster_PasswordAndKeyPrefix(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "e2e-redis-pass"})
	t.Setenv("LOGOUT_E2E_REDIS_PASSWORD", "e2e-redis-pass")
	t.Setenv("LOGOUT_E2E_WRONG_PASSWORD", "not-the-password")
	app := e2e.StartUpstream(t)
	store := redisBlock(srv.Addr, "password {env.LOGOUT_E2E_REDIS_PASSWORD}", "key_prefix tenant-a:")
	nodes := startNodes(t, 2, app, nodeConfig(store))

	token := "prefixed-" + e2e.RandomValue()
	if status, _ := guardStatus(nodes[1], token); status != http.StatusOK {
		t.Fatalf("before logout: %d", status)
	}
	if status, err := apiLogout(nodes[0], token); err != nil || status != http.StatusNoContent {
		t.Fatalf("API logout: %d, %v", status, err)
	}
	if _, err := waitRefused(nodes[1], token, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client(t).Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if want := []string{"tenant-a:log", "tenant-a:revoked:" + session.IDOf(token).String()}; !slices.Equal(keys, want) {
		t.Fatalf("keys in Redis = %v, want only %v", keys, want)
	}
	for _, p := range nodes {
		if strings.Contains(p.Logs.String(), "e2e-redis-pass") {
			t.Errorf("node :%d logged the password", p.Port)
		}
	}

	t.Run("wrong password", func(t *testing.T) {
		logs := caddyMustFail(t, nodeConfig(redisBlock(srv.Addr, "password {env.LOGOUT_E2E_WRONG_PASSWORD}")))
		want := "redis store: " + srv.Addr + ": authentication failed (check username and password)"
		if !strings.Contains(logs, want) {
			t.Fatalf("Caddy's log does not say %q:\n%s", want, logs)
		}
		if strings.Contains(logs, "not-the-password") {
			t.Errorf("the log shows the password:\n%s", logs)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		gone := redistest.Start(t, redistest.Options{})
		gone.Kill()
		logs := caddyMustFail(t, nodeConfig(redisBlock(gone.Addr)))
		want := "redis store: cannot reach " + gone.Addr
		if !strings.Contains(logs, want) {
			t.Fatalf("Caddy's log does not say %q:\n%s", want, logs)
		}
	})
}

// The tls option against a real redis-server that serves TLS only, its
// certificate signed by a CA made for the test and named in the config
// (tls { ca <file> }): nodes that trust it log out over TLS and see each
// other's revocations; a node that does not (bare tls: the system's roots)
// refuses to load, saying why, instead of starting as if Redis were down;
// even one that has used this Redis before (which would start degraded on
// an outage).
func TestCluster_TLS(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true})
	untrusted := redisBlock(srv.Addr, "tls")
	trusted := redisBlock(srv.Addr, "tls {\n\t\t\t\tca "+srv.CAFile+"\n\t\t\t}")

	t.Run("certificate not trusted", func(t *testing.T) {
		logs := caddyMustFail(t, nodeConfig(untrusted))
		want := "redis store: " + srv.Addr + ": TLS handshake failed (check tls and the server's certificate)"
		if !strings.Contains(logs, want) || !strings.Contains(logs, "certificate signed by unknown authority") {
			t.Fatalf("Caddy's log does not say %q and why:\n%s", want, logs)
		}
	})

	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 2, app, nodeConfig(trusted))
	token := "tls-" + e2e.RandomValue()
	if status, _ := guardStatus(nodes[1], token); status != http.StatusOK {
		t.Fatalf("before logout: %d", status)
	}
	if status, err := apiLogout(nodes[0], token); err != nil || status != http.StatusNoContent {
		t.Fatalf("API logout over TLS: %d, %v", status, err)
	}
	if _, err := waitRefused(nodes[1], token, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := srv.Client(t).Exists(t.Context(), "logout:revoked:"+session.IDOf(token).String()).Result()
	if err != nil || n != 1 {
		t.Fatalf("the revocation in Redis: exists = %d, %v", n, err)
	}

	nodes[0].Stop()
	logs := caddyMustFailIn(t, nodes[0].DataHome, nodeConfig(untrusted))
	if want := "TLS handshake failed (check tls and the server's certificate)"; !strings.Contains(logs, want) {
		t.Fatalf("a node that reached Redis before, now not trusting its certificate: the log does not say %q:\n%s", want, logs)
	}
}
