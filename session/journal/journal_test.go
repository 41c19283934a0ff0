package journal_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/journal"
	"github.com/caddy-logout/caddy-logout/session/memory"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

// The backend in these tests is a real redis-server (redistest) or the
// memory store; nothing is faked.

var prefixSeq atomic.Uint64

func newRedis(t *testing.T, srv *redistest.Server, prefix string) *redis.Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("j%d:", prefixSeq.Add(1))
	}
	s, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, HealthCheckInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openJournal(t *testing.T, backend session.Store, path string, log *zap.Logger) *journal.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "journal.db")
	}
	j, err := journal.Open(backend, journal.Options{
		Path: path, RetryInterval: 20 * time.Millisecond, OpTimeout: 500 * time.Millisecond, Logger: log,
	})
	if err != nil {
		t.Fatalf("journal.Open: %v", err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j
}

func TestJournal_Conformance_OverMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store { return openJournal(t, memory.New(), "", nil) })
}

func TestJournal_Conformance_OverRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	storetest.Run(t, func(t *testing.T) session.Store {
		return openJournal(t, newRedis(t, srv, ""), "", zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	})
}

func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustRevoke(t *testing.T, s session.Store, id session.ID, until time.Time) {
	t.Helper()
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatalf("Revoke(%s): %v", id.Short(), err)
	}
}

func inRedis(t *testing.T, srv *redistest.Server, r *redis.Store, id session.ID) bool {
	t.Helper()
	v, err := srv.Client(t).Get(context.Background(), r.Key(id)).Result()
	return err == nil && v != ""
}

func TestOutage_RevokeJournaled_EnforcedLocally_ReplayedWhenBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	core, logs := observer.New(zap.InfoLevel)
	r := newRedis(t, srv, "")
	j := openJournal(t, r, "", zap.New(core))
	ctx := context.Background()
	eventually(t, "backend reached", 5*time.Second, j.Reached)

	before := session.IDOf("before the outage")
	mustRevoke(t, j, before, time.Now().Add(time.Hour))

	srv.Kill()
	id := session.IDOf("during the outage")
	until := time.Now().Add(time.Hour)
	start := time.Now()
	if err := j.Revoke(ctx, id, until); err != nil {
		t.Fatalf("Revoke with Redis down = %v; want nil (journaled)", err)
	}
	t.Logf("first Revoke after the kill took %s", time.Since(start))
	if d := j.JournalDepth(); d != 1 {
		t.Errorf("JournalDepth = %d, want 1", d)
	}
	if !j.Degraded() {
		t.Error("Degraded = false with Redis down")
	}
	if got, err := j.RevokedUntil(ctx, id); err != nil || got.UnixMilli() != until.UnixMilli() {
		t.Errorf("RevokedUntil(journaled) = %s, %v; want %s from the journal", got, err, until)
	}
	// The journal also holds what this node revoked before the outage.
	if got, err := j.RevokedUntil(ctx, before); err != nil || got.IsZero() {
		t.Errorf("RevokedUntil(before outage) = %s, %v; want revoked from the local copy", got, err)
	}
	// What neither knows is an error: on_store_error decides.
	if _, err := j.RevokedUntil(ctx, session.IDOf("unknown")); err == nil {
		t.Error("RevokedUntil(unknown) with Redis down = nil error; want the store's error")
	}
	// Later revocations during the outage are journaled without waiting.
	start = time.Now()
	second := session.IDOf("second during the outage")
	mustRevoke(t, j, second, until)
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("a Revoke while degraded took %s; it should go straight to the journal", d)
	}
	if d := j.JournalDepth(); d != 2 {
		t.Errorf("JournalDepth = %d, want 2", d)
	}

	srv.Restart(true)
	eventually(t, "journal replayed and no longer degraded", 10*time.Second, func() bool {
		return j.JournalDepth() == 0 && !j.Degraded()
	})
	for _, x := range []session.ID{before, id, second} {
		if !inRedis(t, srv, r, x) {
			t.Errorf("%s not in Redis after the replay", x.Short())
		}
	}
	if n := logs.FilterMessageSnippet("degraded").Len(); n < 2 {
		t.Errorf("want a warning when degraded starts and one when it ends; got %d: %v", n, logs.All())
	}
}

func TestOutage_RedisRestartsEmpty_JournalWritesEverythingAgain(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newRedis(t, srv, "")
	j := openJournal(t, r, "", nil)
	eventually(t, "backend reached", 5*time.Second, j.Reached)

	var ids []session.ID
	for i := range 50 {
		id := session.IDOf("acknowledged " + strconv.Itoa(i))
		mustRevoke(t, j, id, time.Now().Add(time.Hour))
		ids = append(ids, id)
	}
	srv.Restart(false) // Redis without persistence: everything gone
	eventually(t, "every acknowledged revocation back in Redis", 10*time.Second, func() bool {
		for _, id := range ids {
			if !inRedis(t, srv, r, id) {
				return false
			}
		}
		return true
	})
	// The replayer writes a record to Redis before it drops it from the
	// pending set, so the depth reaches 0 a moment later.
	eventually(t, "journal depth back to 0 after the re-push", 5*time.Second, func() bool { return j.JournalDepth() == 0 })
}

func TestReopen_PendingRecordsReplayed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := fmt.Sprintf("reopen%d:", prefixSeq.Add(1))
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openJournal(t, newRedis(t, srv, prefix), path, nil)
	eventually(t, "backend reached", 5*time.Second, j.Reached)

	srv.Kill()
	id := session.IDOf("journaled then restarted")
	mustRevoke(t, j, id, time.Now().Add(time.Hour))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(false)

	r := newRedis(t, srv, prefix)
	j2 := openJournal(t, r, path, nil)
	if !j2.Reached() {
		t.Error("Reached = false for a journal whose backend answered before")
	}
	eventually(t, "pending record replayed after reopening", 10*time.Second, func() bool {
		return j2.JournalDepth() == 0 && inRedis(t, srv, r, id)
	})
}

func TestReached_FalseForNewJournal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	srv.Kill()
	j := openJournal(t, newRedis(t, srv, ""), "", nil)
	if j.Reached() {
		t.Fatal("Reached = true for a new journal whose backend never answered")
	}
	eventually(t, "degraded, as the probe fails", 5*time.Second, j.Degraded)
	if j.Reached() {
		t.Fatal("Reached turned true with the backend down")
	}
}

// Close while logouts are journaled in an outage: they succeed or get
// ErrClosed, and each one that succeeded is in the file for next time.
func TestClose_WhileDegraded_KeepsEveryAcceptedRevoke(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := fmt.Sprintf("close%d:", prefixSeq.Add(1))
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openJournal(t, newRedis(t, srv, prefix), path, nil)
	eventually(t, "backend reached", 5*time.Second, j.Reached)
	srv.Kill()

	var mu sync.Mutex
	var accepted []session.ID
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := session.IDOf(fmt.Sprintf("close/%d/%d", g, i))
				err := j.Revoke(context.Background(), id, time.Now().Add(time.Hour))
				if err != nil {
					if !errors.Is(err, session.ErrClosed) {
						errs <- err
					}
					return
				}
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		})
	}
	eventually(t, "some revocations journaled", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) > 100
	})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Revoke during Close: %v", err)
	}
	if len(accepted) == 0 {
		t.Fatal("no Revoke was accepted before Close")
	}

	srv.Restart(false)
	r := newRedis(t, srv, prefix)
	j2 := openJournal(t, r, path, nil)
	eventually(t, "every accepted revoke replayed", 20*time.Second, func() bool { return j2.JournalDepth() == 0 })
	for _, id := range accepted {
		if !inRedis(t, srv, r, id) {
			t.Fatalf("accepted revocation %s lost across Close", id.Short())
		}
	}
	t.Logf("%d revocations accepted while degraded, all replayed after reopening", len(accepted))
}

func TestSubscribe_PassesThroughToBackend(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := fmt.Sprintf("sub%d:", prefixSeq.Add(1))
	a := openJournal(t, newRedis(t, srv, prefix), "", nil)
	rb := newRedis(t, srv, prefix)
	b := openJournal(t, rb, "", nil)
	var got atomic.Value
	defer b.Subscribe(func(id session.ID, all bool) {
		if !all {
			got.Store(id)
		}
	})()
	eventually(t, "subscription confirmed", 5*time.Second, func() bool { return rb.Resyncs() > 0 })
	id := session.IDOf("through the journal")
	mustRevoke(t, a, id, time.Now().Add(time.Hour))
	eventually(t, "the other journal's subscriber hears it", 5*time.Second, func() bool {
		v, _ := got.Load().(session.ID)
		return v == id
	})
}
