package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestStore_GroupsConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	storetest.RunGroups(t, func(t *testing.T) session.Store {
		return open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	})
}

// TestGroups_SeenFromAnotherNode: a group joined through one node is read
// through another, and its keys expire in Redis with the group.
func TestGroups_SeenFromAnotherNode(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	ctx := context.Background()
	auth := session.GroupMember{ID: session.IDOf("auth"), Name: "wordpress_5d41"}
	logged := session.GroupMember{ID: session.IDOf("logged"), Name: "wordpress_logged_in_5d41"}
	if err := a.JoinGroup(ctx, []session.GroupMember{auth, logged}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ms, err := b.Group(ctx, logged.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("the other node reads %v, %v", ms, err)
	}
	ttl, err := srv.Client(t).PTTL(ctx, a.GroupKey(auth.ID)).Result()
	if err != nil || ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("PTTL %s, %v; want about an hour", ttl, err)
	}
}
