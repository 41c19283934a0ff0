package identity

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Three Caddy nodes (the real binary, each with its own data directory) on
// one real redis-server, forward_auth on each.
func startCluster(t *testing.T, auth *authService, app *app) []*e2e.Caddy {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	block := fmt.Sprintf(`cookie sid
		on_revoked deny
		identity {
			subject {http.request.header.X-Auth-Request-User}
		}
		store redis {
			address %s
			key_prefix identity:
		}
		cache {
			negative_ttl 1h
		}`, srv.Addr)
	nodes := make([]*e2e.Caddy, 3)
	for i := range nodes {
		admin, port := e2e.FreePort(t), e2e.FreePort(t)
		nodes[i] = e2e.NewCaddy(t, t.TempDir(), site(admin, port, block, forwardAuth(auth, "X-Auth-Request-User"), app.Port), admin, port)
		nodes[i].Launch()
	}
	for _, n := range nodes {
		n.WaitReady()
	}
	return nodes
}

// Sessions seen on nodes 1 and 2, revoked by subject on node 3: refused
// on every node; bob's passes everywhere. Then rounds of the same, timed:
// from node 3's answer until every node refuses every session of alice
// (each node believes "not revoked" for an hour, so only the revocations
// Redis announces can make them refuse), p50/p99 in the test log.
func TestCluster_RevokeBySubjectOnNode3_RefusedEverywhere(t *testing.T) {
	auth, app := startAuthService(t), startApp(t)
	nodes := startCluster(t, auth, app)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	a1, a2, a3, b1 := auth.login("alice"), auth.login("alice"), auth.login("alice"), auth.login("bob")
	seenOn := map[string][]*e2e.Caddy{a1: {n1}, a2: {n2}, a3: {n1, n2}, b1: {n1, n2}}
	for sid, on := range seenOn {
		for _, n := range on {
			if status, _ := visit(t, n, "/", sid, nil); status != http.StatusOK {
				t.Fatalf("visit: %d", status)
			}
		}
	}
	for _, n := range nodes { // every node has them cached as valid
		for sid := range seenOn {
			visit(t, n, "/", sid, nil)
		}
	}
	waitRecorded(t, n3, "alice", a1, a2, a3)
	waitRecorded(t, n3, "bob", b1)
	if ans := revokeOwner(t, n3, ownerRef{Subject: "alice"}); ans.Count != 3 {
		t.Fatalf("revoke alice on node 3: %+v, want 3", ans)
	}
	for i, n := range nodes {
		for _, sid := range []string{a1, a2, a3} {
			if err := waitStatus(n, sid, http.StatusUnauthorized, time.Now().Add(5*time.Second)); err != nil {
				t.Errorf("node %d, alice's session: %v", i+1, err)
			}
		}
		if status, _ := visit(t, n, "/", b1, nil); status != http.StatusOK {
			t.Errorf("node %d, bob's session after revoking alice: %d", i+1, status)
		}
	}

	const rounds = 40
	var fromAnswer, fromRequest, revokeTook []time.Duration
	for round := range rounds {
		s1, s2 := auth.login("alice"), auth.login("alice")
		visit(t, n1, "/", s1, nil)
		visit(t, n2, "/", s2, nil)
		for _, n := range nodes {
			for _, sid := range []string{s1, s2} {
				if status, _ := visit(t, n, "/", sid, nil); status != http.StatusOK {
					t.Fatalf("round %d: before the revocation: %d", round, status)
				}
			}
		}
		waitRecorded(t, n3, "alice", s1, s2)
		start := time.Now()
		ans := revokeOwner(t, n3, ownerRef{Subject: "alice"})
		answered := time.Now()
		if ans.Count != 2 {
			t.Fatalf("round %d: revoke alice: %+v, want 2", round, ans)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		last := answered
		for _, n := range nodes {
			for _, sid := range []string{s1, s2} {
				wg.Go(func() {
					if err := waitStatus(n, sid, http.StatusUnauthorized, answered.Add(5*time.Second)); err != nil {
						t.Errorf("round %d: %v", round, err)
						return
					}
					now := time.Now()
					mu.Lock()
					if now.After(last) {
						last = now
					}
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		fromAnswer = append(fromAnswer, last.Sub(answered))
		fromRequest = append(fromRequest, last.Sub(start))
		revokeTook = append(revokeTook, answered.Sub(start))
	}
	slices.Sort(fromAnswer)
	slices.Sort(fromRequest)
	slices.Sort(revokeTook)
	t.Logf("revoke by subject on node 3, %d rounds of 2 sessions seen on nodes 1 and 2, until all 3 nodes refuse both:", rounds)
	t.Logf("  from node 3's answer:        p50 %v  p99 %v  max %v", pct(fromAnswer, 50), pct(fromAnswer, 99), fromAnswer[len(fromAnswer)-1])
	t.Logf("  from the revoke request:     p50 %v  p99 %v  max %v", pct(fromRequest, 50), pct(fromRequest, 99), fromRequest[len(fromRequest)-1])
	t.Logf("  the admin revoke itself:     p50 %v  p99 %v", pct(revokeTook, 50), pct(revokeTook, 99))
}

// The race across nodes: alice's session is inside node 1's slow page when
// node 3 revokes alice, so node 3 finds no record of it; node 1's record
// reaches Redis after the revocation. Node 1 revokes it as the record
// arrives, and every node refuses it.
func TestCluster_SeenOnNode1BeforeRevocation_RecordedAfter_RefusedEverywhere(t *testing.T) {
	auth, app := startAuthService(t), startApp(t)
	nodes := startCluster(t, auth, app)
	sid := auth.login("alice")
	done := make(chan int)
	go func() {
		status, _ := visit(t, nodes[0], "/slow", sid, nil)
		done <- status
	}()
	time.Sleep(300 * time.Millisecond) // inside the app
	if ans := revokeOwner(t, nodes[2], ownerRef{Subject: "alice"}); ans.Count != 0 {
		t.Fatalf("revoke alice on node 3 while her first request is in flight on node 1: %+v, want 0 recorded", ans)
	}
	if status := <-done; status != http.StatusOK {
		t.Fatalf("the slow request: %d", status)
	}
	for i, n := range nodes {
		if err := waitStatus(n, sid, http.StatusUnauthorized, time.Now().Add(5*time.Second)); err != nil {
			t.Errorf("node %d: a session used before its owner was revoked survived: %v", i+1, err)
		}
	}
	if s, ok := sessionOf(lookupOwner(t, nodes[2], ownerRef{Subject: "alice"}), sid); !ok || !s.Revoked {
		t.Fatalf("lookup after the late record: %+v, %v; want it recorded and revoked", s, ok)
	}
}

// waitStatus polls p with sid until it answers want.
func waitStatus(p *e2e.Caddy, sid string, want int, deadline time.Time) error {
	for {
		req, _ := http.NewRequest(http.MethodGet, p.URL("/"), nil)
		req.Header.Set("Cookie", "sid="+sid)
		req.Header.Set("Accept", "application/json")
		resp, err := e2e.OneShot.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s answered %v, %v; want %d", p.URL("/"), statusOf(resp), err, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return nil
	}
	return resp.StatusCode
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}
