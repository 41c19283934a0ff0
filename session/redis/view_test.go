package redis_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
)

// The view against a real redis-server: loaded at start, kept current
// from the log, caught up after a lost connection, reloaded after a gap,
// not current while Redis is silent or the view is full.

func waitCurrent(t *testing.T, s *redis.Store) session.ViewStatus {
	t.Helper()
	eventually(t, "the view current", 10*time.Second, func() bool { return s.ViewStatus().Current })
	return s.ViewStatus()
}

// held reports whether s's view holds id, revoked until until.
func held(s *redis.Store, id session.ID, until time.Time) bool {
	got, _ := s.ViewLookup(id)
	return got.UnixMilli() == until.UnixMilli()
}

func revokeN(t *testing.T, s *redis.Store, name string, n int, until time.Time) []session.ID {
	t.Helper()
	ids := make([]session.ID, n)
	for i := range ids {
		ids[i] = session.IDOf(fmt.Sprint(name, " ", i))
		if err := s.Revoke(context.Background(), ids[i], until); err != nil {
			t.Fatalf("Revoke %d: %v", i, err)
		}
	}
	return ids
}

func allHeld(s *redis.Store, ids []session.ID, until time.Time) (missing int) {
	for _, id := range ids {
		if !held(s, id, until) {
			missing++
		}
	}
	return missing
}

func TestView_LoadsTheRecordsAtStart(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	until := time.Now().Add(time.Hour)
	ids := revokeN(t, a, "before b started", 2500, until) // several SCAN rounds
	// Someone else's keys under the prefix, and an expired record, are not
	// revocations.
	c := srv.Client(t)
	ctx := context.Background()
	c.Set(ctx, prefix+"revoked:not-hex", "1", time.Hour)
	c.Set(ctx, a.Key(session.IDOf("foreign value")), "yes", time.Hour)
	c.Set(ctx, a.Key(session.IDOf("expired")), time.Now().Add(-time.Minute).UnixMilli(), time.Hour)

	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	st := waitCurrent(t, b)
	if missing := allHeld(b, ids, until); missing != 0 {
		t.Fatalf("%d of %d records not in the view after the load", missing, len(ids))
	}
	if st.Revocations != len(ids) || st.Reloads != 1 {
		t.Errorf("status = %+v; want %d revocations, 1 reload", st, len(ids))
	}
	for _, id := range []session.ID{session.IDOf("foreign value"), session.IDOf("expired")} {
		if got, _ := b.ViewLookup(id); !got.IsZero() {
			t.Errorf("the view holds %s until %v", id.Short(), got)
		}
	}
}

// A revocation made on one node is in the other's view as soon as the log
// brings it, and its subscribers hear of it; a store with another prefix
// hears nothing.
func TestLog_RevocationReachesAnotherStore(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	other := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	var rb, ro recorder
	defer b.Subscribe(rb.fn)()
	defer other.Subscribe(ro.fn)()
	waitCurrent(t, b)
	waitCurrent(t, other)

	id := session.IDOf("announced")
	until := time.Now().Add(time.Hour)
	start := time.Now()
	if err := a.Revoke(context.Background(), id, until); err != nil {
		t.Fatal(err)
	}
	if !held(a, id, until) {
		t.Error("the revoking store's own view does not hold it when Revoke returns")
	}
	eventually(t, "the other store's view holds it", 5*time.Second, func() bool { return held(b, id, until) })
	t.Logf("in the other store's view %s after Revoke began", time.Since(start))
	eventually(t, "the other store's subscribers hear of it", 5*time.Second, func() bool { return rb.has(id) })
	if ro.has(id) || !other.ViewStatus().Current {
		t.Error("a store with another key_prefix heard the revocation, or is not current")
	}
	if got, _ := other.ViewLookup(id); !got.IsZero() {
		t.Error("a store with another key_prefix holds the revocation")
	}
}

// The guard's question, through the real session.Cache, while the view is
// current: never-seen sessions cost Redis nothing, and another node's
// revocation is refused, all without a single command on the lookup path.
func TestCache_ViewCurrent_LookupsSendNoCommand(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	cacheB, err := session.NewCache(b, session.CacheOptions{MaxEntries: 1000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cacheB.Close()
	waitCurrent(t, b)
	ctx := context.Background()
	revoked := session.IDOf("revoked on A")
	if err := a.Revoke(ctx, revoked, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B refuses A's revocation", 5*time.Second, func() bool {
		r, err := cacheB.Revoked(ctx, revoked)
		return err == nil && r
	})

	before := srv.Commands(t)
	for i := range 10_000 {
		if r, err := cacheB.Revoked(ctx, session.IDOf(fmt.Sprint("never seen ", i))); err != nil || r {
			t.Fatalf("never-seen session %d: revoked = %v, %v", i, r, err)
		}
	}
	if r, err := cacheB.Revoked(ctx, revoked); err != nil || !r {
		t.Fatalf("A's revocation: revoked = %v, %v", r, err)
	}
	after := srv.Commands(t)
	for _, cmd := range []string{"get", "mget", "evalsha", "eval", "exists"} {
		if after[cmd] != before[cmd] {
			t.Errorf("%d %s commands during 10,001 lookups; want none", after[cmd]-before[cmd], cmd)
		}
	}
	if cacheB.Len() != 0 {
		t.Errorf("%d answers cached in ristretto; the view answers without them", cacheB.Len())
	}
}

// disconnect keeps a store's connections away from Redis (its ACL user
// turned off and its clients killed) until the returned function lets it
// back: a node whose network to Redis is down while the others revoke.
func disconnect(t *testing.T, srv *redistest.Server, user string) (reconnect func()) {
	t.Helper()
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Do(ctx, "ACL", "SETUSER", user, "off").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "CLIENT", "KILL", "USER", user).Err(); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := c.Do(ctx, "ACL", "SETUSER", user, "on").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// awayPair is two stores on one Redis, B with an ACL user of its own (so
// that disconnect can keep it away), and B's view current and holding A's
// first revocations.
func awayPair(t *testing.T) (srv *redistest.Server, a, b *redis.Store, first []session.ID, until time.Time) {
	t.Helper()
	srv = redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	nodeUser(t, srv, "nodeb")
	a = open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b = open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, Username: "nodeb", Password: "nodeb-pass"})
	until = time.Now().Add(time.Hour)
	first = revokeN(t, a, "before", 10, until)
	eventually(t, "B current and holding A's first revocations", 5*time.Second, func() bool {
		return b.ViewStatus().Current && allHeld(b, first, until) == 0
	})
	return srv, a, b, first, until
}

// nodeUser makes an ACL user with every right, for a store that a test
// disconnects on its own.
func nodeUser(t *testing.T, srv *redistest.Server, user string) {
	t.Helper()
	if err := srv.Client(t).Do(context.Background(), "ACL", "SETUSER", user, "on", ">"+user+"-pass", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
}

// B's connection to Redis is cut mid-stream while A revokes 1,000
// sessions; when B is back it reads the log on from where it was: every
// one of them is in its view, without a reload, and its subscribers were
// not told to distrust everything.
func TestLog_NodeAway_1000Revocations_CaughtUpWithoutReload(t *testing.T) {
	srv, a, b, _, until := awayPair(t)
	var rb recorder
	defer b.Subscribe(rb.fn)()
	st := b.ViewStatus()

	back := disconnect(t, srv, "nodeb")
	ids := revokeN(t, a, "while B is away", 1000, until)
	if missing := allHeld(b, ids, until); missing < 900 {
		t.Fatalf("B holds %d of the 1,000 while its connections are refused: the test did not cut it off", 1000-missing)
	}
	back()
	eventually(t, "B caught up", 10*time.Second, func() bool { return b.ViewStatus().CaughtUp > st.CaughtUp })
	eventually(t, "B holds all 1,000", 5*time.Second, func() bool { return allHeld(b, ids, until) == 0 })
	after := b.ViewStatus()
	if after.Reloads != st.Reloads {
		t.Errorf("B reloaded its view (%d reloads, %d before); it should have caught up from the log", after.Reloads, st.Reloads)
	}
	if rb.flushes() != 0 {
		t.Errorf("B's subscribers were told to distrust everything %d times; catching up needs no flush", rb.flushes())
	}
	if !after.Current {
		t.Error("B's view is not current after catching up")
	}
}

// The same, but the log is trimmed past B's position while B is away: B
// finds its position gone, reloads from the records, and holds every
// revocation all the same.
func TestLog_TrimmedPastANode_Reloads_AllHeld(t *testing.T) {
	srv, a, b, first, until := awayPair(t)
	st := b.ViewStatus()

	back := disconnect(t, srv, "nodeb")
	ids := revokeN(t, a, "while B is away", 1000, until)
	if err := srv.Client(t).XTrimMaxLen(context.Background(), a.LogKey(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	back()
	eventually(t, "B reloaded", 10*time.Second, func() bool { return b.ViewStatus().Reloads > st.Reloads })
	waitCurrent(t, b)
	if missing := allHeld(b, append(first, ids...), until); missing != 0 {
		t.Fatalf("%d revocations not in B's view after the reload", missing)
	}
}

// Redis restarts without its data: the view keeps every revocation it
// held (the journals of the nodes that made them write them back), finds
// the log gone, reloads, and reads the new log from its start.
func TestLog_RedisRestartsEmpty_ViewKeepsWhatItHeld(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	until := time.Now().Add(time.Hour)
	before := revokeN(t, a, "before the restart", 20, until)
	eventually(t, "B holds them", 5*time.Second, func() bool { return allHeld(b, before, until) == 0 })
	st := waitCurrent(t, b)

	srv.Restart(false)
	eventually(t, "B reloaded after the restart", 10*time.Second, func() bool { return b.ViewStatus().Reloads > st.Reloads })
	if missing := allHeld(b, before, until); missing != 0 {
		t.Errorf("B dropped %d revocations Redis lost", missing)
	}
	after := revokeN(t, a, "after the restart", 5, until)
	eventually(t, "B holds the new log's revocations", 5*time.Second, func() bool { return allHeld(b, after, until) == 0 })
}

// FLUSHALL while connected: the next entry does not follow on from what
// B read, so B tells its subscribers to distrust what they cached from
// Redis, reloads, and keeps what it held.
func TestLog_FLUSHALL_GapFound_SubscribersTold_ViewKept(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	var rb recorder
	defer b.Subscribe(rb.fn)()
	until := time.Now().Add(time.Hour)
	before := revokeN(t, a, "before FLUSHALL", 5, until)
	eventually(t, "B holds them", 5*time.Second, func() bool { return allHeld(b, before, until) == 0 })
	st := waitCurrent(t, b)

	if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	after := revokeN(t, a, "after FLUSHALL", 1, until)
	eventually(t, "B reloaded", 5*time.Second, func() bool { return b.ViewStatus().Reloads > st.Reloads })
	eventually(t, "B holds the new revocation", 5*time.Second, func() bool { return allHeld(b, after, until) == 0 })
	if missing := allHeld(b, before, until); missing != 0 {
		t.Errorf("B dropped %d revocations FLUSHALL took from Redis", missing)
	}
	if rb.flushes() == 0 {
		t.Error("B's subscribers were not told to distrust what they cached")
	}
	waitCurrent(t, b)
}

// A stalled Redis (SIGSTOP) answers nothing: the view stops being current
// within StaleAfter, and is current again once Redis answers.
func TestView_RedisStalled_NotCurrent_ThenCurrentAgain(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	core, logs := observer.New(zap.InfoLevel)
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t), Logger: zap.New(core)})
	waitCurrent(t, b)
	srv.Pause()
	stalled := time.Now()
	eventually(t, "not current while Redis is stalled", 5*time.Second, func() bool { return !b.ViewStatus().Current })
	t.Logf("not current %s after the stall began (3 health checks of 200ms)", time.Since(stalled))
	srv.Resume()
	waitCurrent(t, b)
	if logs.FilterMessageSnippet("not current").FilterField(zap.String("because", "no answer from Redis for 600ms")).Len() != 1 {
		t.Errorf("want one warning that the view is not current, saying why; got %v", logs.All())
	}
}

// Past ViewLimit the view stops being current (lookups go to Redis, as
// before the view), says so, and counts what it dropped; once expiries
// make room it reloads and is current again.
func TestView_Full_NotCurrent_Warns_ThenReloadsWhenThereIsRoom(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	core, logs := observer.New(zap.WarnLevel)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.WithSweepInterval(redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, ViewLimit: 10, Logger: zap.New(core)},
		100*time.Millisecond))
	waitCurrent(t, b)
	soon, later := time.Now().Add(1500*time.Millisecond), time.Now().Add(time.Hour)
	short := revokeN(t, a, "expires soon", 5, soon)
	long := revokeN(t, a, "stays", 5, later)
	eventually(t, "B holds ten", 5*time.Second, func() bool { return b.ViewStatus().Revocations == 10 })
	dropped := revokeN(t, a, "one too many", 1, later)
	eventually(t, "B full", 5*time.Second, func() bool { return b.ViewStatus().Full })
	st := b.ViewStatus()
	if st.Current || st.Dropped != 1 || st.Revocations != 10 {
		t.Errorf("status when full = %+v; want not current, 1 dropped, 10 held", st)
	}
	if logs.FilterMessageSnippet("the view of Redis is full").Len() != 1 {
		t.Errorf("want one warning that the view is full; got %v", logs.All())
	}
	// Redis still answers for what the view could not hold.
	if got, err := b.RevokedUntil(context.Background(), dropped[0]); err != nil || got.IsZero() {
		t.Errorf("Redis's answer for the dropped revocation: %v, %v", got, err)
	}

	eventually(t, "room again, reloaded, current", 10*time.Second, func() bool {
		st := b.ViewStatus()
		return st.Current && !st.Full && st.Reloads > 1
	})
	if missing := allHeld(b, append(long, dropped...), later); missing != 0 {
		t.Errorf("%d live revocations not held after the reload", missing)
	}
	for _, id := range short {
		if r, err := b.RevokedUntil(context.Background(), id); err != nil || !r.IsZero() {
			t.Errorf("an expired revocation is still revoked: %v, %v", r, err)
		}
	}
}

// The log keeps entries for LogRetention: older ones go on the next
// append (exactly, with one entry per stream node, as here).
func TestLog_TrimmedByAge(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--stream-node-max-entries", "1"}})
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t), LogRetention: 300 * time.Millisecond})
	until := time.Now().Add(time.Hour)
	revokeN(t, a, "old", 20, until)
	time.Sleep(500 * time.Millisecond)
	revokeN(t, a, "new", 1, until)
	n, err := srv.Client(t).XLen(context.Background(), a.LogKey()).Result()
	if err != nil || n != 1 {
		t.Errorf("log length after the retention = %d, %v; want 1 (the new entry)", n, err)
	}
}

// A reconnect is counted (CaughtUp) only once the reconnect subscribers
// (the journal's loss check) have run: a test, or a status page, that
// sees the count go up may rely on it. The subscriber is slow on purpose.
func TestCaughtUp_CountedOnceTheReconnectSubscribersRan(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	var told atomic.Uint64
	defer s.SubscribeReconnects(func() {
		time.Sleep(100 * time.Millisecond)
		told.Add(1)
	})()
	eventually(t, "caught up once", 5*time.Second, func() bool { return s.ViewStatus().CaughtUp > 0 })
	time.Sleep(200 * time.Millisecond)              // the first one's subscribers, if it came after Subscribe
	missed := s.ViewStatus().CaughtUp - told.Load() // one before Subscribe told nobody
	for range 3 {
		before := s.ViewStatus().CaughtUp
		if srv.KillClients(t, "caddy-logout-log") == 0 {
			t.Fatal("no log reader connection to kill")
		}
		eventually(t, "caught up again", 5*time.Second, func() bool { return s.ViewStatus().CaughtUp > before })
		if n, told := s.ViewStatus().CaughtUp, told.Load(); told+missed < n {
			t.Fatalf("CaughtUp = %d, but the subscriber was told only %d times", n, told+missed)
		}
	}
}

// While the view is full (not current), the Cache caches Redis's answers
// as before the view, and the log still drops a cached "not revoked" the
// moment another node revokes that session.
func TestCache_ViewFull_LogDropsACachedAnswer(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, ViewLimit: 1})
	cacheB, err := session.NewCache(b, session.CacheOptions{MaxEntries: 1000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cacheB.Close()
	waitCurrent(t, b)
	revokeN(t, a, "fills B's view", 2, time.Now().Add(time.Hour))
	eventually(t, "B's view full", 5*time.Second, func() bool { return b.ViewStatus().Full })

	id := session.IDOf("cached as valid on B")
	requireCachedNotRevoked(t, cacheB, id)
	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's cache refuses the session", 5*time.Second, func() bool {
		revoked, err := cacheB.Revoked(context.Background(), id)
		return err == nil && revoked
	})
}

// requireCachedNotRevoked asks c about id until its "not revoked" answer
// comes from the cache (a hit), so that nothing but an invalidation can
// change it. (The cache keeps a "not revoked" from the second lookup on.)
func requireCachedNotRevoked(t *testing.T, c *session.Cache, id session.ID) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		if revoked, err := c.Revoked(ctx, id); err != nil || revoked {
			t.Fatalf("before: revoked = %v, %v", revoked, err)
		}
	}
	c.Wait()
	hits := c.Stats().Hits
	if revoked, err := c.Revoked(ctx, id); err != nil || revoked {
		t.Fatalf("second lookup: revoked = %v, %v", revoked, err)
	}
	if c.Stats().Hits != hits+1 {
		t.Fatal("the \"not revoked\" answer is not cached: a lookup would ask Redis and the test would prove nothing")
	}
}

// A node saves its view at Close and reads it back at start, before Redis
// answers: started while Redis is down, it refuses what it had heard of
// from the other nodes (its journal holds only its own logouts), though
// its view is not current. Once Redis is back without those revocations
// (restarted empty), the node keeps them.
func TestSavedView_NodeStartsWhileRedisIsDown_RefusesWhatItHeard(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	saved := filepath.Join(t.TempDir(), "view.snap")
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, SavedView: saved})
	until := time.Now().Add(time.Hour)
	expiring := time.Now().Add(300 * time.Millisecond)
	ids := revokeN(t, a, "heard of", 100, until)
	gone := revokeN(t, a, "expires before the restart", 1, expiring)
	eventually(t, "B holds them", 5*time.Second, func() bool { return allHeld(b, append(ids, gone...), until) == 1 })
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	time.Sleep(400 * time.Millisecond)

	core, logs := observer.New(zap.InfoLevel)
	restarted := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, SavedView: saved, Logger: zap.New(core)})
	eventually(t, "the saved view read", 5*time.Second, func() bool { return allHeld(restarted, ids, until) == 0 })
	if st := restarted.ViewStatus(); st.Current || st.Revocations != len(ids) {
		t.Errorf("status with Redis down = %+v; want %d revocations (the expired one left out), not current", st, len(ids))
	}
	if logs.FilterMessageSnippet("saved view of Redis read").Len() != 1 {
		t.Errorf("want one line saying the saved view was read; got %v", logs.All())
	}

	srv.Restart(false)
	waitCurrent(t, restarted)
	if missing := allHeld(restarted, ids, until); missing != 0 {
		t.Errorf("%d revocations Redis lost are no longer held", missing)
	}
}

// A saved view that does not check out (cut short, or not one at all) is
// ignored, with a warning: never a crash, never half of it trusted.
func TestSavedView_Damaged_Ignored(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.snap")
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, SavedView: good})
	revokeN(t, b, "saved", 50, time.Now().Add(time.Hour))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	for name, damaged := range map[string][]byte{
		"cut short":   content[:len(content)-20],
		"a bit flips": append(append([]byte{}, content[:40]...), append([]byte{content[40] ^ 1}, content[41:]...)...),
		"not a view":  []byte("hello\n"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name+".snap")
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zap.WarnLevel)
			s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, SavedView: path, Logger: zap.New(core)})
			waitCurrent(t, s)
			if n := s.ViewStatus().Revocations; n != 0 {
				t.Errorf("%d revocations read from a damaged saved view", n)
			}
			if logs.FilterMessageSnippet("ignoring the saved view").Len() != 1 {
				t.Errorf("want one warning; got %v", logs.All())
			}
		})
	}
}

// A revocation by owner is the ordinary revocation of each of the owner's
// sessions, through the Cache: it reaches the other nodes' views through
// the log like any other.
func TestOwners_RevokeOwner_ReachesTheOtherNodesViews(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	cacheA, err := session.NewCache(a, session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cacheA.Close()
	owners := session.NewOwners(a, cacheA, session.OwnersOptions{})
	defer owners.Close()
	waitCurrent(t, b)
	ctx := context.Background()
	policy := session.OwnerPolicy{Lifetime: time.Hour}
	alice := session.Owner{Issuer: "https://idp.example", Subject: "alice"}
	ids := []session.ID{session.IDOf("alice on a laptop"), session.IDOf("alice on a phone")}
	for _, id := range ids {
		owners.Learn(session.Sighting{ID: id, Owner: alice, Confirmed: true}, policy)
	}
	eventually(t, "alice's sessions recorded", 5*time.Second, func() bool {
		got, err := owners.Sessions(ctx, session.BySubject("alice"))
		return err == nil && len(got) == len(ids)
	})
	n, err := owners.RevokeOwner(ctx, session.BySubject("alice"), session.RevokeOwnerOptions{Lifetime: time.Hour})
	if err != nil || n != len(ids) {
		t.Fatalf("RevokeOwner = %d, %v; want %d", n, err, len(ids))
	}
	eventually(t, "the other node's view holds both", 5*time.Second, func() bool {
		for _, id := range ids {
			if until, _ := b.ViewLookup(id); until.IsZero() {
				return false
			}
		}
		return true
	})
}
