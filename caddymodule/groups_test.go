package caddymodule

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
)

// TestStores_GroupsReachableThroughTheWrappers: every built-in store keeps
// groups, and the cache finds them through the pool's, the metrics' and the
// journal's wrappers.
func TestStores_GroupsReachableThroughTheWrappers(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	for name, store := range map[string]string{
		"memory": "store memory",
		"bolt":   "store bolt " + filepath.Join(t.TempDir(), "sessions.db"),
		"redis":  "store redis {\n\taddress " + srv.Addr + "\n\tkey_prefix unwrap:\n}",
	} {
		t.Run(name, func(t *testing.T) {
			h := provisioned(t, store+"\nsigning_key 0123456789abcdef0123456789abcdef")
			cache := handlerCache(t, h)
			if _, ok := session.As[session.Groups](cache.Unwrap()); !ok {
				t.Fatalf("no groups behind %T", cache.Unwrap())
			}
			ctx := context.Background()
			a := session.GroupMember{ID: session.IDOf(name + "-a"), Name: "a"}
			b := session.GroupMember{ID: session.IDOf(name + "-b"), Name: "b"}
			if err := cache.JoinGroup(ctx, []session.GroupMember{a, b}, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if ms, err := cache.Group(ctx, b.ID); err != nil || len(ms) != 2 {
				t.Fatalf("Group: %v, %v", ms, err)
			}
		})
	}
}

// handlerCache is the shared cache a provisioned handler holds in cachePool.
func handlerCache(t *testing.T, h *Handler) *session.Cache {
	t.Helper()
	var cache *session.Cache
	cachePool.Range(func(key, v any) bool {
		if key == h.cacheKey {
			cache = v.(*pooledCache).cache
		}
		return cache == nil
	})
	if cache == nil {
		t.Fatalf("no cache under %q", h.cacheKey)
	}
	return cache
}
