package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Each node's view of Redis, end to end: three Caddy processes on a real
// redis-server while it is killed, restarted empty, stalled, flushed and
// failed over, and while one node is cut off from it.

// fault is one way Redis goes away and comes back.
type fault struct {
	name  string
	begin func(srv *redistest.Server)
	end   func(srv *redistest.Server)
}

var faults = []fault{
	{"killed", func(s *redistest.Server) { s.Kill() }, func(s *redistest.Server) { s.Restart(true) }},
	{"restarted without data", func(s *redistest.Server) { s.Kill() }, func(s *redistest.Server) { s.Restart(false) }},
	{"stalled", func(s *redistest.Server) { s.Pause() }, func(s *redistest.Server) { s.Resume() }},
}

// TestCluster_OutageUnderLoad_NoRevokedSessionReachesTheApp: guarded
// requests and logouts keep coming at all three nodes while Redis is
// killed, restarted without its data, and stalled, one at a time, each
// for longer than a view stays current without Redis. No request carrying
// a session revoked before the outage began reaches the app, on any node,
// at any moment (each node's view holds them, and refuses them without
// Redis); every logout acknowledged before, during or after it is
// enforced by every node afterwards.
func TestCluster_OutageUnderLoad_NoRevokedSessionReachesTheApp(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{AOF: true})
			app := e2e.StartUpstream(t)
			nodes := startNodes(t, 3, app, nodeConfig(redisBlock(srv.Addr)))

			// Sessions revoked more than a second before the outage, each
			// on one node. The other nodes have never been asked about
			// them: nothing is cached, only what they heard from Redis can
			// refuse them.
			var revoked []string
			for i := range 300 {
				token := fmt.Sprintf("revoked-before-%d-%s", i, e2e.RandomValue())
				if status, err := apiLogout(nodes[i%len(nodes)], token); err != nil || status != http.StatusNoContent {
					t.Fatalf("logout %d: %d, %v", i, status, err)
				}
				revoked = append(revoked, token)
			}
			time.Sleep(time.Second)
			isRevoked := map[string]bool{}
			for _, token := range revoked {
				isRevoked[token] = true
			}
			seenBefore := len(app.Requests())

			load := startLoad(nodes, revoked)
			f.begin(srv)
			began := time.Now()
			time.Sleep(4 * time.Second) // past the view's 3 s without Redis
			f.end(srv)
			time.Sleep(time.Second)
			acked, refusals, passes := load.stop()
			t.Logf("Redis %s for %v; %d guarded requests for revoked sessions refused, %d for others passed; %d logouts acknowledged",
				f.name, time.Since(began).Round(time.Millisecond), refusals, passes, len(acked))
			if refusals == 0 || len(acked) == 0 {
				t.Fatal("the load sent no requests for revoked sessions, or no logout went through")
			}

			leaked := 0
			for _, r := range app.Requests()[seenBefore:] {
				if isRevoked[r.Token] {
					if leaked++; leaked <= 5 {
						t.Errorf("a request carrying a session revoked before the outage reached the app: %s", r.Token)
					}
				}
			}
			if leaked > 0 {
				t.Fatalf("%d requests carrying a session revoked before the outage reached the app", leaked)
			}
			waitHealthy(t, nodes, 20*time.Second)
			checkAllRefused(t, nodes, acked, "after Redis was "+f.name)
		})
	}
}

// load sends guarded requests for revoked sessions (and fresh ones) and
// API logouts at every node until stop.
type load struct {
	stopped  chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	acked    []acked
	refusals atomic.Int64 // requests for revoked sessions, refused
	passes   atomic.Int64 // requests for other sessions, passed
}

func startLoad(nodes []*e2e.Caddy, revoked []string) *load {
	l := &load{stopped: make(chan struct{})}
	for w := range 4 {
		l.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-l.stopped:
					return
				default:
				}
				n := rand.IntN(len(nodes))
				p := nodes[n]
				switch {
				case i%10 == 9: // a logout now and then
					token := fmt.Sprintf("logout-under-load-%d-%d-%s", w, i, e2e.RandomValue())
					if status, err := apiLogout(p, token); err == nil && status == http.StatusNoContent {
						l.mu.Lock()
						l.acked = append(l.acked, acked{token: token, node: n, kind: "api"})
						l.mu.Unlock()
					}
				case i%2 == 0:
					if status, err := guardStatus(p, revoked[rand.IntN(len(revoked))]); err == nil && status == http.StatusUnauthorized {
						l.refusals.Add(1)
					}
				default:
					if status, err := guardStatus(p, "fresh-"+e2e.RandomValue()); err == nil && status == http.StatusOK {
						l.passes.Add(1)
					}
				}
			}
		})
	}
	return l
}

func (l *load) stop() (acks []acked, refusals, passes int64) {
	close(l.stopped)
	l.wg.Wait()
	return l.acked, l.refusals.Load(), l.passes.Load()
}

// TestCluster_NodeCutOff_CatchesUpFromTheLog: three nodes, node 3 with a
// Redis user of its own. A revocation on node 1 is refused on the others.
// Node 3's connections are killed mid-stream and kept out (its user off)
// while node 1 revokes 1,000 sessions; once let back, node 3 refuses all
// 1,000 without reloading its view (it read the log on from where it
// was). Then again with the log trimmed past node 3's position meanwhile:
// node 3 reloads from the records, and refuses all of those too.
func TestCluster_NodeCutOff_CatchesUpFromTheLog(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	ctx := context.Background()
	if err := admin.Do(ctx, "ACL", "SETUSER", "node3", "on", ">node3-pass", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 2, app, nodeConfig(redisBlock(srv.Addr)))
	nodes = append(nodes, startNodes(t, 1, app, nodeConfig(redisBlock(srv.Addr, "username node3", "password node3-pass")))...)
	node3 := nodes[2]
	reloads := func() int { return strings.Count(node3.Logs.String(), "view of Redis loaded from its records") }

	token := "cut-off-warm-up-" + e2e.RandomValue()
	if status, err := apiLogout(nodes[0], token); err != nil || status != http.StatusNoContent {
		t.Fatalf("logout: %d, %v", status, err)
	}
	for _, p := range nodes[1:] {
		if _, err := waitRefused(p, token, time.Now().Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
	}

	cutOff := func(trim bool) []string {
		t.Helper()
		if err := admin.Do(ctx, "ACL", "SETUSER", "node3", "off").Err(); err != nil {
			t.Fatal(err)
		}
		if err := admin.Do(ctx, "CLIENT", "KILL", "USER", "node3").Err(); err != nil {
			t.Fatal(err)
		}
		tokens := revokeMany(t, nodes[0], 1000)
		if trim {
			if err := admin.XTrimMaxLen(ctx, "logout:log", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if err := admin.Do(ctx, "ACL", "SETUSER", "node3", "on").Err(); err != nil {
			t.Fatal(err)
		}
		return tokens
	}

	before := reloads()
	tokens := cutOff(false)
	deadline := time.Now().Add(15 * time.Second)
	for _, token := range tokens {
		if _, err := waitRefused(node3, token, deadline); err != nil {
			t.Fatal(err)
		}
	}
	if n := reloads(); n != before {
		t.Errorf("node 3 reloaded its view %d times after the cut-off; it should have caught up from the log", n-before)
	}
	if !strings.Contains(node3.Logs.String(), "reading the revocation log again; caught up on what was missed") {
		t.Errorf("node 3 did not say it caught up:\n%s", node3.Logs.String())
	}

	tokens = cutOff(true)
	deadline = time.Now().Add(15 * time.Second)
	for _, token := range tokens {
		if _, err := waitRefused(node3, token, deadline); err != nil {
			t.Fatal(err)
		}
	}
	if n := reloads(); n != before+1 {
		t.Errorf("node 3 reloaded its view %d times after the log was trimmed past it; want 1", n-before)
	}
}

// revokeMany logs out n fresh sessions through node, eight at a time.
func revokeMany(t *testing.T, node *e2e.Caddy, n int) []string {
	t.Helper()
	tokens := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				tokens[i] = fmt.Sprintf("revoked-many-%d-%s", i, e2e.RandomValue())
				if status, err := apiLogout(node, tokens[i]); err != nil || status != http.StatusNoContent {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d logouts failed", f, n)
	}
	return tokens
}

// TestCluster_FLUSHALL_WhileLogoutsFlow: Redis is flushed while logouts
// keep coming at all three nodes. Every node keeps refusing what its view
// held, finds the gap in the log, and every acknowledged logout is
// enforced by every node afterwards, and is in Redis again (each node
// wrote its own back from its journal).
func TestCluster_FLUSHALL_WhileLogoutsFlow(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 3, app, nodeConfig(redisBlock(srv.Addr)))
	load := startLoad(nodes, revokeMany(t, nodes[0], 50))
	time.Sleep(time.Second)
	if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	acks, _, _ := load.stop()
	waitHealthy(t, nodes, 15*time.Second)
	checkAllRefused(t, nodes, acks, "after FLUSHALL")
	checkInRedis(t, srv.Client(t), acks, 15*time.Second)
	for i, p := range nodes {
		if !strings.Contains(p.Logs.String(), "the revocation log skipped entries") {
			t.Errorf("node %d did not notice the gap FLUSHALL left in the log", i+1)
		}
	}
}

// TestCluster_SentinelFailover_NoLogoutLost: three nodes on a master, its
// replica and a Sentinel; SENTINEL FAILOVER while logouts keep coming.
// Every acknowledged logout is enforced by every node afterwards, and is
// on the new master.
func TestCluster_SentinelFailover_NoLogoutLost(t *testing.T) {
	group := redistest.StartReplicated(t, "e2emaster")
	app := e2e.StartUpstream(t)
	nodes := startNodes(t, 3, app, nodeConfig(redisBlock(group.Sentinel.Addr, "master_name e2emaster")))

	load := startLoad(nodes, revokeMany(t, nodes[0], 50))
	group.Failover(t)
	waitFor(t, "the replica promoted", 20*time.Second, func() bool { return group.Promoted(t) })
	time.Sleep(2 * time.Second) // logouts keep coming on the new master
	acks, _, _ := load.stop()
	waitHealthy(t, nodes, 20*time.Second)
	checkAllRefused(t, nodes, acks, "after the failover")
	checkInRedis(t, group.Replica.Client(t), acks, 15*time.Second)
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster_RevokeByOwner_ReachesEveryView: a revocation by owner is the
// ordinary revocation of each of the owner's sessions, so it reaches every
// node's view through the revocation log. Alice's two sessions are seen on
// node 1 and revoked by subject on node 2; node 3, which never saw them,
// refuses both from its view, current throughout, without one lookup
// reaching Redis.
func TestCluster_RevokeByOwner_ReachesEveryView(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	app := e2e.StartUpstream(t)
	identity := "identity {\n\t\t\tsubject {http.request.header.X-User}\n\t\t}"
	nodes := startNodes(t, 3, app, nodeConfig(redisBlock(srv.Addr)+"\n\t\t"+identity))
	tokens := []string{"alice-laptop-" + e2e.RandomValue(), "alice-phone-" + e2e.RandomValue()}
	for _, token := range tokens {
		status, err := send("GET", nodes[0].URL("/app"), http.Header{"X-Session-Token": {token}, "X-User": {"alice"}}, "")
		if err != nil || status != http.StatusOK {
			t.Fatalf("alice's session on node 1: %d, %v", status, err)
		}
	}
	waitFor(t, "alice's two sessions recorded", 10*time.Second, func() bool {
		var a struct{ Sessions []json.RawMessage }
		return adminJSON(t, nodes[1], "/logout/lookup", `{"subject":"alice"}`, &a) == http.StatusOK && len(a.Sessions) == len(tokens)
	})

	lookups := storeLookups(t, nodes[2])
	var revoked struct{ Count int }
	if code := adminJSON(t, nodes[1], "/logout/revoke", `{"subject":"alice"}`, &revoked); code != http.StatusOK || revoked.Count != len(tokens) {
		t.Fatalf("revoke alice on node 2: %d, %+v; want 200 and %d sessions", code, revoked, len(tokens))
	}
	for _, token := range tokens {
		if _, err := waitRefused(nodes[2], token, time.Now().Add(5*time.Second)); err != nil {
			t.Errorf("node 3, alice's session: %v", err)
		}
	}
	if n := storeLookups(t, nodes[2]); n != lookups {
		t.Errorf("node 3 asked Redis %v times for sessions its view answers for; want none", n-lookups)
	}
	var status struct {
		Stores []struct{ View *session.ViewStatus }
	}
	if code := adminJSON(t, nodes[2], "/logout/status", "", &status); code != http.StatusOK || len(status.Stores) != 1 {
		t.Fatalf("node 3's status: %d, %d stores; want 200 and one", code, len(status.Stores))
	}
	if v := status.Stores[0].View; v == nil || !v.Current || v.Revocations < len(tokens) {
		t.Errorf("node 3's view: %+v; want it current, holding alice's sessions", v)
	}
}

// adminJSON calls node's admin API (POST with body, GET without) and
// decodes a 200 answer into out.
func adminJSON(t *testing.T, p *e2e.Caddy, path, body string, out any) int {
	t.Helper()
	method := "POST"
	if body == "" {
		method = "GET"
	}
	req, err := http.NewRequest(method, p.AdminURL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fastClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// storeLookups is how many lookups reached node's store (Redis), from
// its /metrics.
func storeLookups(t *testing.T, p *e2e.Caddy) float64 {
	t.Helper()
	resp, err := fastClient.Get(p.AdminURL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, m := range regexp.MustCompile(`(?m)^caddy_logout_store_duration_seconds_count\{op="lookup",result="\w+"\} (\S+)$`).FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}
