package caddymodule

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// blockingOpen is a StoreModule whose OpenStore, once the file is free,
// blocks until released, as bolt's Open waits on a lock: what calls do
// meanwhile shows whether they wait on the open.
type blockingOpen struct {
	key     string
	free    atomic.Bool
	entered chan struct{} // closed when an open is under way
	release chan struct{}
	backend session.Store
}

func (b *blockingOpen) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.test_blocking"}
}
func (b *blockingOpen) StoreKey() string { return b.key }
func (b *blockingOpen) OpenStore(caddy.Context) (session.Store, error) {
	if !b.free.Load() {
		return nil, session.ErrLocked
	}
	if b.entered != nil {
		close(b.entered)
		b.entered = nil // the open loop is one goroutine: no race
	}
	<-b.release
	return b.backend, nil
}

func newSharedStore(t *testing.T, sm StoreModule) *sharedStore {
	t.Helper()
	ctx, _ := newConfig(t)
	s, err := acquireStore(ctx, sm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = storePool.Delete(sm.StoreKey()) })
	return s
}

// TestSharedStore_LockedFile_FailsFastUntilOpen_ThenServes: while the file
// is locked, and while the open is under way, every call fails at once
// with an error wrapping session.ErrLocked (so on_store_error decides, and
// no request waits on the lock); once open, calls reach the backend.
func TestSharedStore_LockedFile_FailsFastUntilOpen_ThenServes(t *testing.T) {
	backend := memory.New()
	entered := make(chan struct{})
	sm := &blockingOpen{key: "blocking:" + t.Name(), entered: entered, release: make(chan struct{}), backend: backend}
	s := newSharedStore(t, sm)
	ctx := context.Background()
	id := session.IDOf("x")

	check := func(when string) {
		t.Helper()
		start := time.Now()
		if _, err := s.RevokedUntil(ctx, id); !errors.Is(err, session.ErrLocked) {
			t.Fatalf("RevokedUntil %s = %v", when, err)
		}
		if err := s.Revoke(ctx, id, time.Now().Add(time.Hour)); !errors.Is(err, session.ErrLocked) {
			t.Fatalf("Revoke %s = %v", when, err)
		}
		t.Logf("calls %s answered in %v", when, time.Since(start))
	}
	check("while the file is locked")
	sm.free.Store(true)
	<-entered
	check("while the open is blocked")
	close(sm.release)

	deadline := time.Now().Add(5 * time.Second)
	for s.Revoke(ctx, id, time.Now().Add(time.Hour)) != nil {
		if time.Now().After(deadline) {
			t.Fatal("never opened once the lock was gone")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if until, err := backend.RevokedUntil(ctx, id); err != nil || until.IsZero() {
		t.Fatalf("revocation did not reach the backend: %v %v", until, err)
	}
	if session.Unwrap(s) != backend {
		t.Fatal("Unwrap does not reach the backend once open")
	}
}

// TestSharedStore_UnsubscribedBeforeOpen_NeverCalled: a cache that went
// away while the file was locked is not called once the store opens.
func TestSharedStore_UnsubscribedBeforeOpen_NeverCalled(t *testing.T) {
	backend := &healthyMemory{Store: memory.New()}
	sm := &blockingOpen{key: "blocking:" + t.Name(), release: make(chan struct{}), backend: backend}
	close(sm.release)
	s := newSharedStore(t, sm)

	var gone, live atomic.Int64
	unsubscribe := s.Subscribe(func(session.ID, bool) { gone.Add(1) })
	s.Subscribe(func(session.ID, bool) { live.Add(1) })
	unsubscribe()
	sm.free.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for session.Unwrap(s) == nil {
		if time.Now().After(deadline) {
			t.Fatal("never opened")
		}
		time.Sleep(20 * time.Millisecond)
	}
	backend.announce(session.IDOf("revoked on another node"))
	if err := s.Revoke(context.Background(), session.IDOf("revoked here"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if gone.Load() != 0 || live.Load() != 2 {
		t.Fatalf("unsubscribed callback called %d times (want 0), live one %d (want 2)", gone.Load(), live.Load())
	}
}
