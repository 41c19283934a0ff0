package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

// The universal client's other two shapes, on real servers: a three-master
// Redis Cluster (joined with redis-cli) and a Sentinel in front of a
// master with a password.

func TestCluster_ConformanceAndLogAcrossNodes(t *testing.T) {
	nodes := redistest.StartCluster(t, 3)
	addrs := []string{nodes[0].Addr, nodes[1].Addr, nodes[2].Addr}
	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) session.Store {
			return open(t, redis.Options{Addrs: addrs, KeyPrefix: uniquePrefix(t)})
		})
	})

	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: addrs, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: addrs[1:], KeyPrefix: prefix}) // other seeds, same cluster
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "the view current", 5*time.Second, func() bool { return b.ViewStatus().Current })

	// Enough IDs that their keys land on every master.
	ctx := context.Background()
	perNode := map[string]int{}
	for i := range 60 {
		id := session.IDOf(fmt.Sprintf("cluster-%d", i))
		until := time.Now().Add(time.Hour)
		if err := a.Revoke(ctx, id, until); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		got, err := b.RevokedUntil(ctx, id)
		if err != nil || got.UnixMilli() != until.UnixMilli() {
			t.Fatalf("RevokedUntil on the other store = %s, %v", got, err)
		}
		eventually(t, "announced across the cluster", 5*time.Second, func() bool { return rb.has(id) })
		for _, n := range nodes {
			if c := n.Client(t); c.Exists(ctx, a.Key(id)).Val() == 1 {
				perNode[n.Addr]++
			}
		}
	}
	if len(perNode) != 3 {
		t.Errorf("keys landed on %d masters (%v); want all 3 used", len(perNode), perNode)
	}
	// B's view holds them all (from the log, on whichever master holds it),
	// and a store started now loads them from the records on every master.
	c := open(t, redis.Options{Addrs: addrs, KeyPrefix: prefix})
	eventually(t, "a new store's view loaded", 10*time.Second, func() bool { return c.ViewStatus().Current })
	for i := range 60 {
		id := session.IDOf(fmt.Sprintf("cluster-%d", i))
		for name, s := range map[string]*redis.Store{"B": b, "a store started later": c} {
			if until, _ := s.ViewLookup(id); until.IsZero() {
				t.Fatalf("%s's view does not hold cluster-%d", name, i)
			}
		}
	}
}

func TestSentinel_ConformanceAndLog(t *testing.T) {
	master := redistest.Start(t, redistest.Options{Password: "master-pass"})
	sentinel := redistest.Start(t, redistest.Options{Sentinel: master, SentinelMaster: "logoutmaster"})
	opts := func(prefix string) redis.Options {
		return redis.Options{Addrs: []string{sentinel.Addr}, MasterName: "logoutmaster", Password: "master-pass", KeyPrefix: prefix}
	}
	t.Run("conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) session.Store { return open(t, opts(uniquePrefix(t))) })
	})

	prefix := uniquePrefix(t)
	a, b := open(t, opts(prefix)), open(t, opts(prefix))
	if err := a.Ping(context.Background()); err != nil {
		t.Fatalf("Ping through Sentinel: %v", err)
	}
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "the view current", 5*time.Second, func() bool { return b.ViewStatus().Current })
	id := session.IDOf("via sentinel")
	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "announced", 5*time.Second, func() bool { return rb.has(id) })
	if master.Client(t).Exists(context.Background(), a.Key(id)).Val() != 1 {
		t.Error("the record is not on the master the Sentinel named")
	}
}

// With master_name, the store listens to the Sentinels for master
// switches; when it cannot, it says so once (and keeps trying).
func TestSentinel_CannotListenForSwitches_WarnsOnce(t *testing.T) {
	gone := redistest.Start(t, redistest.Options{})
	gone.Kill()
	core, logs := observer.New(zap.WarnLevel)
	open(t, redis.Options{Addrs: []string{gone.Addr}, MasterName: "nomaster", Logger: zap.New(core)})
	eventually(t, "the warning", 5*time.Second, func() bool {
		return logs.FilterMessageSnippet("cannot listen for Sentinel's master switches").Len() > 0
	})
	time.Sleep(1500 * time.Millisecond) // several more attempts
	if n := logs.FilterMessageSnippet("cannot listen for Sentinel's master switches").Len(); n != 1 {
		t.Errorf("%d warnings; want one however many attempts fail", n)
	}
}
