package session_test

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// TestAs_ReachesTheBackendThroughTheCache: a capability of the backend is
// found through the Cache (and any wrapper with Unwrap), and one no store
// in the chain has is not.
func TestAs_ReachesTheBackendThroughTheCache(t *testing.T) {
	backend := memory.New()
	c := newCache(t, backend, session.CacheOptions{MaxEntries: 10})
	if session.Unwrap(c) != backend {
		t.Fatal("Unwrap of the cache is not its store")
	}
	if session.Unwrap(backend) != nil {
		t.Fatal("a backend unwraps to something")
	}
	counter, ok := session.As[interface{ Len() (int, error) }](c)
	if !ok || counter != backend {
		t.Fatalf("As found %v, %v; want the memory store", counter, ok)
	}
	if _, ok := session.As[interface{ Degraded() bool }](c); ok {
		t.Fatal("As found a capability no store in the chain has")
	}
}
