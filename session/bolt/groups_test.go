package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/bolt"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestStore_GroupsConformance(t *testing.T) {
	storetest.RunGroups(t, func(t *testing.T) session.Store {
		return openAt(t, filepath.Join(t.TempDir(), "logout.db"))
	})
}

func TestGroups_SurviveReopen_SweptAfterExpiry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	ctx := context.Background()
	a := session.GroupMember{ID: session.IDOf("a"), Name: "wordpress_5d41"}
	b := session.GroupMember{ID: session.IDOf("b"), Name: "wordpress_logged_in_5d41"}
	s := openAt(t, path)
	if err := s.JoinGroup(ctx, []session.GroupMember{a, b}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	now := time.Now()
	clock := newSetClock(now)
	s2, err := bolt.Open(bolt.Options{Path: path, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	if ms, err := s2.Group(ctx, b.ID); err != nil || len(ms) != 2 {
		t.Fatalf("after reopening: %v, %v", ms, err)
	}
	clock.Set(now.Add(2 * time.Hour))
	if _, err := s2.Sweep(); err != nil {
		t.Fatal(err)
	}
	clock.Set(time.Now()) // the record is gone, not only expired
	if ms, err := s2.Group(ctx, a.ID); err != nil || ms != nil {
		t.Fatalf("after the sweep: %v, %v", ms, err)
	}
}
