package session_test

import (
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// BenchmarkOwners_Known is the guard's question for every request of a
// session when identity is on: has this node recorded its owner?
func BenchmarkOwners_Known(b *testing.B) {
	store := memory.New()
	defer store.Close()
	cache, _ := session.NewCache(store, session.CacheOptions{})
	defer cache.Close()
	o := session.NewOwners(store, cache, session.OwnersOptions{})
	defer o.Close()
	p := session.OwnerPolicy{Lifetime: 720 * time.Hour}
	id := session.IDOf("known")
	o.Learn(session.Sighting{ID: id, Owner: session.Owner{Subject: "alice"}}, p)
	b.ReportAllocs()
	for b.Loop() {
		if !o.Known(id, p) {
			b.Fatal("not known")
		}
	}
}
