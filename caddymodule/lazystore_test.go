package caddymodule

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// TestLazyStore_FailsFastUntilOpen_ThenServes: while the file is locked
// every call fails at once with an error wrapping session.ErrLocked (so
// on_store_error decides, and no request waits on the lock); once the open
// succeeds, calls reach the store and subscriptions made before are live.
func TestLazyStore_FailsFastUntilOpen_ThenServes(t *testing.T) {
	var locked atomic.Bool
	locked.Store(true)
	backend := memory.New()
	l := newLazyStore(func() (session.Store, error) {
		if locked.Load() {
			return nil, session.ErrLocked
		}
		return backend, nil
	}, zap.NewNop())
	defer l.Close()

	ctx := context.Background()
	id := session.IDOf("x")
	start := time.Now()
	if _, err := l.RevokedUntil(ctx, id); !errors.Is(err, session.ErrLocked) {
		t.Fatalf("RevokedUntil while locked = %v", err)
	}
	if err := l.Revoke(ctx, id, time.Now().Add(time.Hour)); !errors.Is(err, session.ErrLocked) {
		t.Fatalf("Revoke while locked = %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("calls waited %v on the lock", d)
	}
	locked.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := l.Revoke(ctx, id, time.Now().Add(time.Hour)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never opened once the lock was gone")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if until, err := backend.RevokedUntil(ctx, id); err != nil || until.IsZero() {
		t.Fatalf("revocation did not reach the store: %v %v", until, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Revoke(ctx, id, time.Now().Add(time.Hour)); !errors.Is(err, session.ErrClosed) {
		t.Fatalf("Revoke after Close = %v", err)
	}
}
