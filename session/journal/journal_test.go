package journal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
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

func newRedis(t testing.TB, srv *redistest.Server, prefix string) *redis.Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("j%d:", prefixSeq.Add(1))
	}
	s, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, HealthCheckInterval: 200 * time.Millisecond,
		Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openJournal(t testing.TB, backend session.Store, path string, log *zap.Logger) *journal.Store {
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

func eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
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

// countingBackend is the real Redis store, counting the Revokes the
// journal hands it.
type countingBackend struct {
	*redis.Store
	revokes atomic.Int64
}

func (c *countingBackend) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	c.revokes.Add(1)
	return c.Store.Revoke(ctx, id, until)
}

func TestOutage_RevokeJournaled_EnforcedLocally_ReplayedWhenBack(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	core, logs := observer.New(zap.InfoLevel)
	r := newRedis(t, srv, "")
	backend := &countingBackend{Store: r}
	j := openJournal(t, backend, "", zap.New(core))
	ctx := context.Background()
	eventually(t, "backend reached", 5*time.Second, j.EverReached)

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
	// Later revocations during the outage go straight to the journal,
	// without trying Redis (BenchmarkRevoke_WhileDegraded times them).
	tried := backend.revokes.Load()
	second := session.IDOf("second during the outage")
	mustRevoke(t, j, second, until)
	if n := backend.revokes.Load() - tried; n != 0 {
		t.Errorf("a Revoke while degraded tried Redis %d times; it should go straight to the journal", n)
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
	eventually(t, "backend reached", 5*time.Second, j.EverReached)

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
	eventually(t, "backend reached", 5*time.Second, j.EverReached)

	srv.Kill()
	id := session.IDOf("journaled then restarted")
	mustRevoke(t, j, id, time.Now().Add(time.Hour))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Restart(false)

	r := newRedis(t, srv, prefix)
	j2 := openJournal(t, r, path, nil)
	if !j2.EverReached() {
		t.Error("EverReached = false for a journal whose backend answered before")
	}
	eventually(t, "pending record replayed after reopening", 10*time.Second, func() bool {
		return j2.JournalDepth() == 0 && inRedis(t, srv, r, id)
	})
}

func TestEverReached_FalseForNewJournal(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	srv.Kill()
	j := openJournal(t, newRedis(t, srv, ""), "", nil)
	if j.EverReached() {
		t.Fatal("EverReached = true for a new journal whose backend never answered")
	}
	eventually(t, "degraded, as the probe fails", 5*time.Second, j.Degraded)
	if j.EverReached() {
		t.Fatal("EverReached turned true with the backend down")
	}
}

// Close while logouts are journaled in an outage: they succeed or get
// ErrClosed, and each one that succeeded is in the file for next time.
func TestClose_WhileDegraded_KeepsEveryAcceptedRevoke(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := fmt.Sprintf("close%d:", prefixSeq.Add(1))
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openJournal(t, newRedis(t, srv, prefix), path, nil)
	eventually(t, "backend reached", 5*time.Second, j.EverReached)
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
	id := session.IDOf("through the journal")
	var revoking, heard atomic.Bool
	defer b.Subscribe(func(got session.ID, all bool) {
		// A connection lost meanwhile (a PING unanswered within the
		// 200 ms health check on a loaded machine) may reach the
		// subscriber as "forget everything" instead, which covers it too.
		if got == id || all && revoking.Load() {
			heard.Store(true)
		}
	})()
	eventually(t, "the log reader caught up", 5*time.Second, func() bool { return rb.ViewStatus().Current })
	revoking.Store(true)
	mustRevoke(t, a, id, time.Now().Add(time.Hour))
	eventually(t, "the other journal's subscriber hears it", 5*time.Second, heard.Load)
}

// A journal file that is garbage or truncated fails Open with an error
// naming it, never a crash (bbolt faults on a truncated file), and Open
// closes the backend it was given.
func TestOpen_DamagedFile_ReturnsError(t *testing.T) {
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"RandomBytes", random},
		{"TextFile", []byte("this is not a bbolt database\n")},
		{"ZeroedPages", make([]byte, 16<<10)},
		{"TruncatedJournal", validJournal(t)[:3*os.Getpagesize()]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			backend := memory.New()
			j, err := journal.Open(backend, journal.Options{Path: path})
			if err == nil {
				_ = j.Close()
				t.Fatal("Open of a damaged journal succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path %s", err, path)
			}
			if err := backend.Revoke(context.Background(), session.IDOf("x"), time.Now().Add(time.Hour)); !errors.Is(err, session.ErrClosed) {
				t.Errorf("backend after a failed Open: Revoke = %v, want session.ErrClosed", err)
			}
		})
	}
}

// validJournal returns the bytes of a journal holding a few hundred
// records, big enough to span several pages.
func validJournal(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	j := openJournal(t, memory.New(), path, nil)
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Go(func() { mustRevoke(t, j, session.IDOf(fmt.Sprint("valid-", i)), time.Now().Add(time.Hour)) })
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return content
}

func TestOpen_Locked_WrapsErrLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	openJournal(t, memory.New(), path, nil)
	j, err := journal.Open(memory.New(), journal.Options{Path: path, OpenTimeout: 100 * time.Millisecond})
	if err == nil {
		_ = j.Close()
		t.Fatal("second Open of a locked journal succeeded")
	}
	if !errors.Is(err, session.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q: want one naming %s and wrapping session.ErrLocked", err, path)
	}
}

// Redis that answers but refuses writes (here out of memory under
// noeviction, as the README recommends) is not an outage: the logout is
// journaled and retried, but lookups keep asking Redis, so this node still
// sees the revocations other nodes made.
func TestRedisRefusesWrites_LogoutJournaled_OtherNodesRevocationsStillSeen(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := fmt.Sprintf("oom%d:", prefixSeq.Add(1))
	core, logs := observer.New(zap.WarnLevel)
	r := newRedis(t, srv, prefix)
	j := openJournal(t, r, "", zap.New(core))
	eventually(t, "backend reached", 5*time.Second, j.EverReached)
	other := newRedis(t, srv, prefix) // another node, without a journal
	t.Cleanup(func() { _ = other.Close() })
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)

	before := session.IDOf("another node, before")
	mustRevoke(t, other, before, hour)

	admin := srv.Client(t)
	setMaxMemory := func(v string) {
		t.Helper()
		if err := admin.ConfigSet(ctx, "maxmemory", v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	setMaxMemory("1")
	if err := other.Revoke(ctx, session.IDOf("refused"), hour); err == nil || redis.IsUnreachable(err) {
		t.Fatalf("Revoke straight to Redis with maxmemory 1 = %v; want an error reply", err)
	}

	id := session.IDOf("this node, refused by Redis")
	if err := j.Revoke(ctx, id, hour); err != nil {
		t.Fatalf("Revoke while Redis refuses writes = %v; want nil (journaled)", err)
	}
	if d := j.JournalDepth(); d != 1 {
		t.Errorf("JournalDepth = %d, want 1", d)
	}
	if got, err := j.RevokedUntil(ctx, id); err != nil || got.UnixMilli() != hour.UnixMilli() {
		t.Errorf("RevokedUntil(journaled) = %s, %v; want %s from the journal", got, err, hour)
	}

	// The replayer retries the write and fails a few times meanwhile; none
	// of that may stop this node from reading Redis.
	time.Sleep(200 * time.Millisecond)
	if j.Degraded() {
		t.Fatal("Degraded = true with Redis answering (only refusing writes)")
	}
	if got, err := j.RevokedUntil(ctx, before); err != nil || got.IsZero() {
		t.Errorf("RevokedUntil(another node's revocation) = %s, %v; want revoked, from Redis", got, err)
	}
	if got, err := j.RevokedUntil(ctx, session.IDOf("unknown")); err != nil || !got.IsZero() {
		t.Errorf("RevokedUntil(unknown) = %s, %v; want Redis's answer, not revoked", got, err)
	}
	// One more made by another node while this one's write is refused.
	setMaxMemory("0")
	during := session.IDOf("another node, during")
	mustRevoke(t, other, during, hour)
	setMaxMemory("1")
	if got, err := j.RevokedUntil(ctx, during); err != nil || got.IsZero() {
		t.Errorf("RevokedUntil(another node's revocation during the refusal) = %s, %v; want revoked", got, err)
	}

	// Once Redis takes writes again, the replayer writes the logout.
	setMaxMemory("0")
	eventually(t, "the journaled logout written to Redis", 10*time.Second, func() bool {
		return j.JournalDepth() == 0 && inRedis(t, srv, r, id)
	})
	if n := logs.FilterMessageSnippet("answers with errors").Len(); n != 1 {
		t.Errorf("want one warning that the store answers with errors; got %d: %v", n, logs.All())
	}
	if n := logs.FilterMessageSnippet("unreachable").Len(); n != 0 {
		t.Errorf("want no outage warning; got %v", logs.All())
	}
	eventually(t, "a warning that the store takes writes again", 5*time.Second, func() bool {
		return logs.FilterMessageSnippet("without errors again").Len() == 1
	})
}

// An outage that ends into a Redis refusing writes ends the degraded
// state (lookups ask Redis again) while the refused logout stays pending
// and is retried until Redis takes it.
func TestOutage_EndsIntoRedisRefusingWrites_NoLongerDegraded_StillRetried(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory", "1", "--maxmemory-policy", "noeviction"}})
	core, logs := observer.New(zap.WarnLevel)
	r := newRedis(t, srv, "")
	j := openJournal(t, r, "", zap.New(core))
	eventually(t, "backend reached", 5*time.Second, j.EverReached)
	ctx := context.Background()

	srv.Kill()
	id := session.IDOf("journaled in the outage")
	mustRevoke(t, j, id, time.Now().Add(time.Hour))
	if !j.Degraded() {
		t.Fatal("Degraded = false with Redis down")
	}
	srv.Restart(false) // back, but out of memory
	eventually(t, "no longer degraded", 10*time.Second, func() bool { return !j.Degraded() })
	if d := j.JournalDepth(); d != 1 || inRedis(t, srv, r, id) {
		t.Fatalf("JournalDepth = %d (in Redis: %v); want the refused logout still pending", d, inRedis(t, srv, r, id))
	}
	if got, err := j.RevokedUntil(ctx, session.IDOf("unknown")); err != nil || !got.IsZero() {
		t.Errorf("RevokedUntil(unknown) = %s, %v; want Redis's answer, not revoked", got, err)
	}
	if n := logs.FilterMessageSnippet("no longer degraded, but it refuses writes").Len(); n != 1 {
		t.Errorf("want one warning that the outage ended into refused writes; got %v", logs.All())
	}

	if err := srv.Client(t).ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the journaled logout written to Redis", 10*time.Second, func() bool {
		return j.JournalDepth() == 0 && inRedis(t, srv, r, id)
	})
}

// poisonedJournal holds logouts journaled in an outage, some of them
// "poisoned": a LIST sits at their Redis key (another program's, say), so
// Redis answers their write with WRONGTYPE for as long as it is there.
// The poisoned IDs sort first, so they are at the front of the pending
// set, where they used to hold back everything behind them.
type poisonedJournal struct {
	srv            *redistest.Server
	admin          *goredis.Client
	r              *redis.Store // the journal's backend
	fresh          *redis.Store // another node's client, without a journal
	j              *journal.Store
	logs           *observer.ObservedLogs
	poisoned, good []session.ID
	until          time.Time
}

func newPoisonedJournal(t *testing.T, nPoisoned, nGood int) *poisonedJournal {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{AOF: true}) // the LISTs survive the restart
	prefix := fmt.Sprintf("poison%d:", prefixSeq.Add(1))
	core, logs := observer.New(zap.WarnLevel)
	r := newRedis(t, srv, prefix)
	p := &poisonedJournal{
		srv: srv, admin: srv.Client(t), r: r, fresh: newRedis(t, srv, prefix),
		j: openJournal(t, r, "", zap.New(core)), logs: logs, until: time.Now().Add(time.Hour),
	}
	t.Cleanup(func() { _ = p.fresh.Close() })
	eventually(t, "backend reached", 5*time.Second, p.j.EverReached)

	ids := make([]session.ID, nPoisoned+nGood)
	for i := range ids {
		ids[i] = session.IDOf(fmt.Sprintf("poisoned replay %d", i))
	}
	slices.SortFunc(ids, func(a, b session.ID) int { return bytes.Compare(a[:], b[:]) })
	p.poisoned, p.good = ids[:nPoisoned], ids[nPoisoned:]

	ctx := context.Background()
	pipe := p.admin.Pipeline()
	for _, id := range p.poisoned {
		pipe.RPush(ctx, r.Key(id), "not a revocation")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if err := p.j.Revoke(ctx, id, p.until); err != nil {
				t.Errorf("Revoke(%s) with Redis down: %v", id.Short(), err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if d := p.j.JournalDepth(); d != len(ids) {
		t.Fatalf("JournalDepth = %d, want %d journaled", d, len(ids))
	}
	srv.Restart(true)
	return p
}

// seen reports whether another node sees id revoked, as this one revoked it.
func (p *poisonedJournal) seen(id session.ID) bool {
	got, err := p.fresh.RevokedUntil(context.Background(), id)
	return err == nil && got.UnixMilli() == p.until.UnixMilli()
}

func (p *poisonedJournal) allSeen(ids []session.ID) bool {
	for _, id := range ids {
		if !p.seen(id) {
			return false
		}
	}
	return true
}

// checkRefusedWarning wants exactly one warning about refused records
// since the test began, naming how many and the first by its short ID, and
// no log line holding a full ID.
func (p *poisonedJournal) checkRefusedWarning(t *testing.T) {
	t.Helper()
	warned := p.logs.FilterMessageSnippet("refused journaled logouts").All()
	if len(warned) != 1 {
		t.Errorf("want one warning about the refused records, however many rounds retried them; got %d: %v", len(warned), p.logs.All())
	} else {
		f := warned[0].ContextMap()
		// The first round stops after MaxRefusedPerRound refusals.
		want := min(len(p.poisoned), journal.MaxRefusedPerRound)
		if f["refused"] != int64(want) || f["first_refused"] != p.poisoned[0].Short() ||
			!strings.Contains(fmt.Sprint(f["error"]), "WRONGTYPE") {
			t.Errorf("warning fields = %v; want refused=%d first_refused=%s and the WRONGTYPE error",
				f, want, p.poisoned[0].Short())
		}
	}
	for _, e := range p.logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		for _, id := range slices.Concat(p.poisoned, p.good) {
			if strings.Contains(text, id.String()) {
				t.Errorf("a log line holds the full ID of %s: %s", id.Short(), text)
			}
		}
	}
}

// A record Redis refuses for good stays pending, but no longer holds
// back the ones behind it: this node's other logouts reach the other
// nodes, and the refused one is written once Redis takes it.
func TestReplay_RefusedRecord_DoesNotHoldBackTheOthers(t *testing.T) {
	p := newPoisonedJournal(t, 1, 8)
	poison := p.poisoned[0]
	eventually(t, "the other journaled logouts written to Redis", 10*time.Second, func() bool { return p.allSeen(p.good) })
	// More rounds retry the refused record (and finish the first one).
	retried := p.srv.ErrorReplies(t, "WRONGTYPE") + 3
	eventually(t, "the refused record retried", 10*time.Second, func() bool { return p.srv.ErrorReplies(t, "WRONGTYPE") >= retried })
	if d := p.j.JournalDepth(); d != 1 {
		t.Errorf("JournalDepth = %d; want 1, the refused record", d)
	}
	if p.j.Degraded() {
		t.Error("Degraded = true with Redis answering")
	}
	p.checkRefusedWarning(t)

	if err := p.admin.Del(context.Background(), p.r.Key(poison)).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused logout written once Redis takes it", 10*time.Second, func() bool {
		return p.j.JournalDepth() == 0 && p.seen(poison)
	})
	eventually(t, "a warning that the store takes writes again", 5*time.Second, func() bool {
		return p.logs.FilterMessageSnippet("without errors again").Len() == 1
	})
}

// More refused records at the front of the pending set than one replay
// round tries (maxRefusedPerRound) or reads at once (replayChunk, 256):
// later rounds go on past them to the rest.
func TestReplay_MoreRefusedThanAChunk_TheRestStillWritten(t *testing.T) {
	p := newPoisonedJournal(t, 300, 5)
	eventually(t, "the logouts behind the refused ones written to Redis", 20*time.Second, func() bool { return p.allSeen(p.good) })
	eventually(t, "only the refused records pending", 10*time.Second, func() bool { return p.j.JournalDepth() == len(p.poisoned) })
	p.checkRefusedWarning(t)

	keys := make([]string, len(p.poisoned))
	for i, id := range p.poisoned {
		keys[i] = p.r.Key(id)
	}
	if err := p.admin.Del(context.Background(), keys...).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refused logouts written once Redis takes them", 20*time.Second, func() bool {
		return p.j.JournalDepth() == 0 && p.allSeen(p.poisoned)
	})
}

// A Sentinel failover under load, with the journal in front of Redis as
// Caddy runs it. Redis replicates asynchronously, so a logout the old
// master acknowledged just before the switch can be lost with it. The
// store hears Sentinel announce the new master and moves its subscription
// there; the resubscription makes the journal check what Redis kept, and
// it writes the lost logouts again. Every logout acknowledged before,
// during and after the failover must end up on the new master, where a
// node without this journal sees it, within a few seconds: not only once
// Sentinel demotes the old master (which took 9 s here). Real servers: a
// master, its replica and a Sentinel.
func TestSentinelFailover_NoAcknowledgedLogoutLost(t *testing.T) {
	group := redistest.StartReplicated(t, "failovermaster")
	sentinel, replica := group.Sentinel, group.Replica
	ctx := context.Background()

	prefix := fmt.Sprintf("failover%d:", prefixSeq.Add(1))
	viaSentinel := func() *redis.Store {
		s, err := redis.New(redis.Options{Addrs: []string{sentinel.Addr}, MasterName: "failovermaster", KeyPrefix: prefix,
			HealthCheckInterval: 200 * time.Millisecond, Logger: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	j := openJournal(t, viaSentinel(), "", zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	other := viaSentinel() // another node, without a journal
	t.Cleanup(func() { _ = other.Close() })
	eventually(t, "backend reached", 5*time.Second, j.EverReached)

	until := time.Now().Add(time.Hour)
	var acked []session.ID
	logout := func(what string) {
		id := session.IDOf(fmt.Sprintf("%s %d", what, len(acked)))
		if err := j.Revoke(ctx, id, until); err != nil {
			t.Fatalf("Revoke (%s): %v", what, err)
		}
		acked = append(acked, id)
	}
	for range 20 {
		logout("before")
	}

	group.Failover(t)
	// Logouts keep coming while the replica is promoted and the old master
	// demoted, and for a while after.
	promoted := time.Time{}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		logout("during")
		if promoted.IsZero() {
			if group.Promoted(t) {
				promoted = time.Now()
			}
		} else if time.Since(promoted) > time.Second {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if promoted.IsZero() {
		t.Fatal("the replica was not promoted within 20s")
	}
	for range 20 {
		logout("after")
	}

	newMaster := replica.Client(t)
	missing := func() (n int, first session.ID) {
		for _, id := range acked {
			got, err := other.RevokedUntil(ctx, id)
			if err != nil || got.UnixMilli() != until.UnixMilli() || newMaster.Exists(ctx, j.Unwrap().(*redis.Store).Key(id)).Val() != 1 {
				if n == 0 {
					first = id
				}
				n++
			}
		}
		return n, first
	}
	start := time.Now()
	for {
		n, first := missing()
		if n == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%d of %d acknowledged logouts are not on the new master 5s after the failover (first: %s)", n, len(acked), first.Short())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d logouts acknowledged across the failover, all on the new master %s after the last one (%s after the promotion)",
		len(acked), time.Since(start).Round(time.Millisecond), time.Since(promoted).Round(time.Millisecond))
}

// After a reconnect the loss check looks further back than the periodic
// one: a failover loses the last writes the old master took, and by the
// time the node reconnects, more logouts than the periodic sample may
// have gone to the new master. Here Redis loses 50 records that are not
// among the 32 most recent, and the subscription is then dropped: the
// check after the reconnect finds them and the journal writes them again.
func TestReconnect_LossBehindTheMostRecent_WrittenAgain(t *testing.T) {
	srv, r, j := reachedJournal(t)
	ctx := context.Background()
	ids := revokeInOrder(t, j, "behind the sample", 100)
	admin := srv.Client(t)
	for _, id := range ids[:50] {
		if err := admin.Del(ctx, r.Key(id)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if srv.KillClients(t, "caddy-logout-log") == 0 {
		t.Fatal("no log reader connection to kill")
	}
	eventually(t, "the 50 lost records written again after the reconnect", 5*time.Second, func() bool {
		for _, id := range ids {
			if !inRedis(t, srv, r, id) {
				return false
			}
		}
		return true
	})
	if d := j.JournalDepth(); d != 0 {
		t.Errorf("JournalDepth = %d after the rewrite", d)
	}
}

// Exactly one round's worth of refused records (64): a round that starts
// where the last one stopped and finds nothing more to refuse there must
// not count as a clean pass (it wraps around to the refused ones), so the
// warning still comes once, not every round.
func TestReplay_ExactlyARoundOfRefusals_WarnsOnce(t *testing.T) {
	p := newPoisonedJournal(t, journal.MaxRefusedPerRound, 5)
	eventually(t, "the logouts behind the refused ones written to Redis", 10*time.Second, func() bool { return p.allSeen(p.good) })
	retried := p.srv.ErrorReplies(t, "WRONGTYPE") + 4*len(p.poisoned)
	eventually(t, "several more rounds", 10*time.Second, func() bool { return p.srv.ErrorReplies(t, "WRONGTYPE") >= retried })
	if d := p.j.JournalDepth(); d != len(p.poisoned) {
		t.Errorf("JournalDepth = %d; want the %d refused records", d, len(p.poisoned))
	}
	p.checkRefusedWarning(t)
	if n := p.logs.FilterMessageSnippet("journaled logouts replayed").Len(); n != 0 {
		t.Errorf("%d log lines say the journal was replayed while refused records are pending", n)
	}
}

// A Redis that refuses every write (out of memory) while logouts keep
// coming: each refused logout wakes the replayer, but it makes one round
// (at most 64 refused writes) per RetryInterval, not one per logout.
func TestRedisRefusesEveryWrite_ReplayerNotWokenIntoAStorm(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	r := newRedis(t, srv, "")
	j, err := journal.Open(r, journal.Options{
		Path: filepath.Join(t.TempDir(), "journal.db"), RetryInterval: time.Hour, OpTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	eventually(t, "backend reached", 5*time.Second, j.EverReached)
	ctx := context.Background()
	admin := srv.Client(t)
	for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
		if err := admin.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	const logouts = 300
	for i := range logouts {
		if err := j.Revoke(ctx, session.IDOf(fmt.Sprint("refused logout ", i)), time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("Revoke %d with Redis refusing: %v", i, err)
		}
	}
	time.Sleep(200 * time.Millisecond) // let a woken replayer do what it would
	// Each logout's own attempt, plus one round from the first wake; each
	// write is two commands (the record and the log entry), both refused.
	if got, most := srv.ErrorReplies(t, "OOM"), 2*(logouts+journal.MaxRefusedPerRound); got > most {
		t.Errorf("Redis refused %d writes for %d logouts; want at most %d: the replayer retries on every wake", got, logouts, most)
	}
	if d := j.JournalDepth(); d != logouts {
		t.Errorf("JournalDepth = %d; want all %d journaled", d, logouts)
	}
}

// A record Redis cannot give back as a time (someone else's value at its
// key) among the ones the loss check reads: the check counts it as missing
// and goes on, instead of taking Redis for unreachable (which made every
// round end there, and the node degraded for good). An older lost record
// behind it is still found and written again.
func TestVerify_ForeignValueAmongTheRecent_CheckGoesOn(t *testing.T) {
	srv, r, j := reachedJournal(t)
	ctx := context.Background()
	ids := revokeInOrder(t, j, "foreign among the recent", 100)
	admin := srv.Client(t)
	// The 40th most recent: outside the minute's 32, inside the reconnect's check.
	if err := admin.Set(ctx, r.Key(ids[len(ids)-40]), "garbage", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	lost := ids[10]
	if err := admin.Del(ctx, r.Key(lost)).Err(); err != nil {
		t.Fatal(err)
	}
	if srv.KillClients(t, "caddy-logout-log") == 0 {
		t.Fatal("no log reader connection to kill")
	}
	eventually(t, "the lost record written again", 5*time.Second, func() bool { return inRedis(t, srv, r, lost) })
	if j.Degraded() {
		t.Error("Degraded = true: a value Redis answered with was taken for an outage")
	}
}

// revokeInOrder revokes n sessions through j, each expiring a little later
// than the one before, which is the journal's "most recent" order.
func revokeInOrder(t *testing.T, j *journal.Store, name string, n int) []session.ID {
	t.Helper()
	ids := make([]session.ID, n)
	base := time.Now().Add(time.Hour)
	for i := range ids {
		ids[i] = session.IDOf(fmt.Sprint(name, " ", i))
		if err := j.Revoke(context.Background(), ids[i], base.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// reachedJournal is a journal in front of a fresh redis-server, once it
// has reached it.
func reachedJournal(t *testing.T) (*redistest.Server, *redis.Store, *journal.Store) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{})
	r := newRedis(t, srv, "")
	j := openJournal(t, r, "", zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	eventually(t, "backend reached", 5*time.Second, j.EverReached)
	return srv, r, j
}
