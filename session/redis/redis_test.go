package redis_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

// Every test here talks to a real redis-server started by redistest; none
// is faked and none is skipped.

var prefixSeq atomic.Uint64

// uniquePrefix keeps tests sharing one server out of each other's keys.
func uniquePrefix(t *testing.T) string {
	return fmt.Sprintf("t%d-%d:", time.Now().UnixNano()%1e6, prefixSeq.Add(1))
}

func open(t *testing.T, opts redis.Options) *redis.Store {
	t.Helper()
	opts.HealthCheckInterval = max(opts.HealthCheckInterval, 200*time.Millisecond)
	s, err := redis.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore_Conformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	storetest.Run(t, func(t *testing.T) session.Store {
		return open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	})
}

func TestRevoke_SetsKeyWithValueAndTTL(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	id := session.IDOf("ttl")
	until := time.Now().Add(90 * time.Minute)
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatal(err)
	}

	c := srv.Client(t)
	key := prefix + "revoked:" + id.String()
	if s.Key(id) != key {
		t.Fatalf("Key = %q, want %q", s.Key(id), key)
	}
	v, err := c.Get(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	if v != strconv.FormatInt(until.UnixMilli(), 10) {
		t.Errorf("value = %s, want %d (until in unix ms)", v, until.UnixMilli())
	}
	ttl, err := c.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl < 89*time.Minute || ttl > 90*time.Minute {
		t.Errorf("PTTL = %s, want about 90m (the record expires with the session)", ttl)
	}
}

func TestRevoke_LaterUntilWins_InRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	id := session.IDOf("later wins")
	late := time.Now().Add(3 * time.Hour)
	early := time.Now().Add(time.Hour)
	ctx := context.Background()

	if err := a.Revoke(ctx, id, late); err != nil {
		t.Fatal(err)
	}
	if err := b.Revoke(ctx, id, early); err != nil { // another node, an earlier time
		t.Fatal(err)
	}
	got, err := b.RevokedUntil(ctx, id)
	if err != nil || got.UnixMilli() != late.UnixMilli() {
		t.Fatalf("RevokedUntil = %s, %v; want %s", got, err, late)
	}
	ttl, _ := srv.Client(t).PTTL(ctx, a.Key(id)).Result()
	if ttl < 2*time.Hour+59*time.Minute {
		t.Errorf("PTTL = %s after an earlier revoke; the later record's expiry must stay (about 3h)", ttl)
	}
}

// recorder collects Broadcaster callbacks.
type recorder struct {
	mu  sync.Mutex
	ids []session.ID
	all int
}

func (r *recorder) fn(id session.ID, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if all {
		r.all++
		return
	}
	r.ids = append(r.ids, id)
}

func (r *recorder) flushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all
}

func (r *recorder) has(id session.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, got := range r.ids {
		if got == id {
			return true
		}
	}
	return false
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

func TestPubSub_RevocationReachesAnotherStore(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	var ra, rb recorder
	defer a.Subscribe(ra.fn)()
	defer b.Subscribe(rb.fn)()
	eventually(t, "both subscriptions confirmed", 5*time.Second, func() bool { return a.Subscriptions() > 0 && b.Subscriptions() > 0 })

	id := session.IDOf("announced")
	start := time.Now()
	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other store hears of the revocation", 5*time.Second, func() bool { return rb.has(id) })
	t.Logf("announcement reached the other store %s after Revoke began", time.Since(start))
	time.Sleep(50 * time.Millisecond)
	if ra.has(id) {
		t.Error("the revoking store was told of its own revocation; its cache already knows")
	}

	// A store with another prefix is another deployment: it hears nothing.
	other := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	var ro recorder
	defer other.Subscribe(ro.fn)()
	eventually(t, "third subscription confirmed", 5*time.Second, func() bool { return other.Subscriptions() > 0 })
	id2 := session.IDOf("not for them")
	if err := a.Revoke(context.Background(), id2, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "same-prefix store hears the second revocation", 5*time.Second, func() bool { return rb.has(id2) })
	if ro.has(id2) {
		t.Error("a store with another key_prefix heard the revocation")
	}
}

func TestPubSub_AfterClientKill_ResubscribesAndFlushes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "subscription confirmed", 5*time.Second, func() bool { return b.Subscriptions() > 0 })
	before := rb.flushes()

	c := srv.Client(t)
	if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	eventually(t, "flush (all=true) after the subscription was killed", 5*time.Second, func() bool { return rb.flushes() > before })

	// And the new subscription carries messages again.
	id := session.IDOf("after kill")
	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "message on the new subscription", 5*time.Second, func() bool { return rb.has(id) })
}

func TestPubSub_AfterRedisRestart_ResubscribesAndFlushes(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "subscription confirmed", 5*time.Second, func() bool { return b.Subscriptions() > 0 })
	before := rb.flushes()

	srv.Kill()
	id := session.IDOf("during outage")
	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err == nil {
		t.Fatal("Revoke succeeded with Redis down")
	} else if !redis.IsUnreachable(err) || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("Revoke with Redis down = %q; want an unreachable error that says so", err)
	}
	srv.Restart(false)
	eventually(t, "flush (all=true) after Redis came back", 10*time.Second, func() bool { return rb.flushes() > before })

	if err := a.Revoke(context.Background(), id, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Revoke after restart: %v", err)
	}
	eventually(t, "message after restart", 5*time.Second, func() bool { return rb.has(id) })
}

func TestPassword_AndKeyPrefix(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "s3cret-pass"})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, Password: "s3cret-pass", KeyPrefix: "tenant-a:"})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
	id := session.IDOf("prefixed")
	if err := s.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client(t).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	want := "tenant-a:revoked:" + id.String()
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys in Redis = %v, want only %s", keys, want)
	}
	if s.Channel() != "tenant-a:revocations" {
		t.Errorf("Channel = %q", s.Channel())
	}
}

func TestPing_WrongPassword_SaysAuthenticationFailed(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "right"})
	for _, c := range []struct{ name, user, pass string }{
		{"wrong password", "", "wrong"},
		{"no password", "", ""},
		{"unknown user", "nobody", "right"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, redis.Options{Addrs: []string{srv.Addr}, Username: c.user, Password: c.pass})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := s.Ping(ctx)
			if err == nil {
				t.Fatal("Ping succeeded")
			}
			if !redis.IsAuthError(err) || redis.IsUnreachable(err) {
				t.Errorf("IsAuthError = %v, IsUnreachable = %v for %q", redis.IsAuthError(err), redis.IsUnreachable(err), err)
			}
			want := "redis store: " + srv.Addr + ": authentication failed"
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error = %q, want it to start with %q", err, want)
			}
			if strings.Contains(err.Error(), "right") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}

}

func TestPing_Unreachable_SaysCannotReach(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	srv.Kill()
	s := open(t, redis.Options{Addrs: []string{srv.Addr}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping succeeded with nothing listening")
	}
	if !redis.IsUnreachable(err) || redis.IsAuthError(err) {
		t.Errorf("IsUnreachable = %v, IsAuthError = %v for %q", redis.IsUnreachable(err), redis.IsAuthError(err), err)
	}
	if want := "redis store: cannot reach " + srv.Addr; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Ping took %s to fail on a refused connection", d)
	}
}

func TestNew_ClusterWithDB_Refused(t *testing.T) {
	_, err := redis.New(redis.Options{Addrs: []string{"127.0.0.1:1", "127.0.0.1:2"}, DB: 3})
	if err == nil || !strings.Contains(err.Error(), "db must be 0") {
		t.Fatalf("New(cluster, db 3) = %v", err)
	}
}

func TestRevokedUntil_ForeignValue_IsAnError(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	id := session.IDOf("foreign")
	if err := srv.Client(t).Set(context.Background(), s.Key(id), "yes", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.RevokedUntil(context.Background(), id)
	if err == nil || errors.Is(err, session.ErrClosed) || !strings.Contains(err.Error(), s.Key(id)) {
		t.Fatalf("RevokedUntil over a foreign value = %v, want an error naming the key", err)
	}
	// Redis answered: not an outage (the journal would stop asking it).
	if redis.IsUnreachable(err) {
		t.Errorf("IsUnreachable(%q) = true", err)
	}
}

// RevokedUntilMany reads records in pipelined batches: a record, an absent
// one, an expired one, someone else's value and a key of another type,
// across more than one batch. Only the first reads as a time; the rest
// are "not there". A stopped Redis is an error, and an outage.
func TestRevokedUntilMany(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	ctx := context.Background()
	c := srv.Client(t)
	until := time.Now().Add(time.Hour)
	ids := make([]session.ID, 600) // more than two batches
	for i := range ids {
		ids[i] = session.IDOf(fmt.Sprint("many ", i))
	}
	const revoked, foreign, list, expired = 1, 300, 599, 2
	if err := s.Revoke(ctx, ids[revoked], until); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, s.Key(ids[foreign]), "yes", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.RPush(ctx, s.Key(ids[list]), "x").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, s.Key(ids[expired]), strconv.FormatInt(time.Now().Add(-time.Minute).UnixMilli(), 10), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.RevokedUntilMany(ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("RevokedUntilMany = %d answers, %v", len(got), err)
	}
	for i, u := range got {
		if want := i == revoked; want != !u.IsZero() || want && u.UnixMilli() != until.UnixMilli() {
			t.Errorf("record %d: %v", i, u)
		}
	}
	srv.Kill()
	if _, err := s.RevokedUntilMany(ctx, ids); err == nil || !redis.IsUnreachable(err) {
		t.Errorf("RevokedUntilMany with Redis stopped = %v; want an unreachable error", err)
	}
}

// TestCache_OnAnotherNode_DropsStaleAnswer wires the real session.Cache to
// two Stores, as two Caddy nodes would: B has cached "not revoked" (a
// cache hit, believed for an hour), A revokes, B refuses at once. The hit
// is checked before the revocation, so only the announcement over pub/sub
// can change B's answer: a lookup that went to Redis would not prove it.
func TestCache_OnAnotherNode_DropsStaleAnswer(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	cacheB, err := session.NewCache(b, session.CacheOptions{MaxEntries: 1000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cacheB.Close()
	var heard recorder
	defer b.Subscribe(heard.fn)()
	eventually(t, "B subscribed", 5*time.Second, func() bool { return b.Subscriptions() > 0 })
	ctx := context.Background()

	id := session.IDOf("cached as valid on B")
	requireCachedNotRevoked(t, cacheB, id)
	if err := a.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's cache refuses the session", 5*time.Second, func() bool {
		revoked, err := cacheB.Revoked(ctx, id)
		return err == nil && revoked
	})
	if !heard.has(id) {
		t.Error("B refused the session without having heard of the revocation")
	}
}

// requireCachedNotRevoked asks c about id until its "not revoked" answer
// comes from the cache (a hit), so that nothing but an invalidation can
// change it.
func requireCachedNotRevoked(t *testing.T, c *session.Cache, id session.ID) {
	t.Helper()
	ctx := context.Background()
	if revoked, err := c.Revoked(ctx, id); err != nil || revoked {
		t.Fatalf("before: revoked = %v, %v", revoked, err)
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

// TestCache_MissedMessage_FlushedOnResubscribe: a revocation whose message
// B never got (written while its subscription was down) must not stay
// hidden behind B's cached "not revoked" once the subscription is back.
func TestCache_MissedMessage_FlushedOnResubscribe(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	prefix := uniquePrefix(t)
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
	cacheB, err := session.NewCache(b, session.CacheOptions{MaxEntries: 1000, NegativeTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer cacheB.Close()
	eventually(t, "B subscribed", 5*time.Second, func() bool { return b.Subscriptions() > 0 })
	ctx := context.Background()
	id := session.IDOf("message lost")
	requireCachedNotRevoked(t, cacheB, id)

	// The record arrives without its message, as one published during a
	// reconnect would.
	c := srv.Client(t)
	until := time.Now().Add(time.Hour).UnixMilli()
	if err := c.Set(ctx, b.Key(id), until, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if revoked, _ := cacheB.Revoked(ctx, id); revoked {
		t.Fatal("B saw the record without a message or a flush: the cache is not being tested")
	}
	resyncs := b.Subscriptions()
	if err := c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B resubscribed", 5*time.Second, func() bool { return b.Subscriptions() > resyncs })
	if revoked, err := cacheB.Revoked(ctx, id); err != nil || !revoked {
		t.Fatalf("after the resubscribe B's cache still says %v, %v; want revoked", revoked, err)
	}
}

// Over TLS (a real redis-server serving TLS only, its certificate signed
// by a CA made for the test): revocations are written and read, and
// announced over the TLS pub/sub connection to another store.
func TestTLS_RevokeReadAndAnnounce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, TLS: srv.ClientTLS()})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, TLS: srv.ClientTLS()})
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "subscription over TLS confirmed", 5*time.Second, func() bool { return b.Subscriptions() > 0 })

	id := session.IDOf("over tls")
	until := time.Now().Add(time.Hour)
	if err := a.Revoke(context.Background(), id, until); err != nil {
		t.Fatal(err)
	}
	got, err := b.RevokedUntil(context.Background(), id)
	if err != nil || got.UnixMilli() != until.UnixMilli() {
		t.Fatalf("RevokedUntil over TLS = %v, %v; want %v", got, err, until)
	}
	eventually(t, "the other store hears of the revocation over TLS", 5*time.Second, func() bool { return rb.has(id) })
}

// A TLS handshake that cannot succeed is told apart from an outage, in
// words an operator searches for: a certificate from an unknown CA, and a
// certificate for another name. (TLS against a plain Redis is a timeout:
// Redis waits for the end of a line that the TLS hello never sends.)
func TestPing_TLSFailures_SayTLSHandshakeFailed(t *testing.T) {
	tlsSrv := redistest.Start(t, redistest.Options{TLS: true})
	otherName := tlsSrv.ClientTLS()
	otherName.ServerName = "redis.example.com"
	for _, c := range []struct {
		name, addr string
		tls        *tls.Config
		want       string
	}{
		{"unknown CA", tlsSrv.Addr, &tls.Config{MinVersion: tls.VersionTLS12}, "certificate signed by unknown authority"},
		{"another name", tlsSrv.Addr, otherName, "redis.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, redis.Options{Addrs: []string{c.addr}, TLS: c.tls})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := s.Ping(ctx)
			if err == nil {
				t.Fatal("Ping succeeded")
			}
			if !redis.IsTLSError(err) || redis.IsAuthError(err) {
				t.Errorf("IsTLSError = %v, IsAuthError = %v for %q", redis.IsTLSError(err), redis.IsAuthError(err), err)
			}
			want := "redis store: " + c.addr + ": TLS handshake failed (check tls and the server's certificate): "
			if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error = %q, want it to start with %q and say %q", err, want, c.want)
			}
		})
	}
	// And an outage is not a TLS failure.
	tlsSrv.Kill()
	s := open(t, redis.Options{Addrs: []string{tlsSrv.Addr}, TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	if err := s.Ping(context.Background()); err == nil || redis.IsTLSError(err) || !redis.IsUnreachable(err) {
		t.Errorf("Ping of a stopped TLS server = %v: want unreachable, not a TLS failure", err)
	}
}

// A confirmed subscription is counted only once every subscriber has been
// told to distrust its cached "not revoked" answers: a test (or status
// page) that sees the count go up may rely on the flush having happened.
// The subscriber here is slow on purpose, so a count taken before the
// callbacks ran is caught.
func TestSubscriptions_CountedOnceEverySubscriberWasTold(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
	var told atomic.Uint64
	defer s.Subscribe(func(_ session.ID, all bool) {
		if all {
			time.Sleep(100 * time.Millisecond)
			told.Add(1)
		}
	})()
	eventually(t, "first subscription confirmed", 5*time.Second, func() bool { return s.Subscriptions() > 0 })
	time.Sleep(200 * time.Millisecond)        // the first confirmation's callbacks, if it came after Subscribe
	missed := s.Subscriptions() - told.Load() // a confirmation before Subscribe told nobody
	c := srv.Client(t)
	for range 3 {
		before := s.Subscriptions()
		if err := c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
			t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
		}
		eventually(t, "resubscribed", 5*time.Second, func() bool { return s.Subscriptions() > before })
		if n, told := s.Subscriptions(), told.Load(); told+missed < n {
			t.Fatalf("Subscriptions = %d, but the subscriber was told only %d times", n, told+missed)
		}
	}
}

// Redis's own error replies, from a real server, are told apart the way
// the journal needs them: no usable connection (an outage: LOADING after
// a restart, every client slot taken) or an answer it does not like (not
// an outage). Refused credentials: TestPing_WrongPassword_SaysAuthenticationFailed.
func TestErrors_RealReplies_Classified(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, err error, auth, unreachable bool) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		if redis.IsAuthError(err) != auth || redis.IsUnreachable(err) != unreachable {
			t.Errorf("%q: IsAuthError = %v, IsUnreachable = %v; want %v, %v",
				err, redis.IsAuthError(err), redis.IsUnreachable(err), auth, unreachable)
		}
	}
	t.Run("LOADING while Redis loads its data", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{Args: []string{"--enable-debug-command", "local"}})
		admin := srv.Client(t)
		// A slow load, during which Redis answers other clients (with LOADING).
		for _, cmd := range [][]any{{"DEBUG", "POPULATE", "20000"}, {"CONFIG", "SET", "key-load-delay", "50"},
			{"CONFIG", "SET", "loading-process-events-interval-bytes", "1024"}} {
			if err := admin.Do(ctx, cmd...).Err(); err != nil {
				t.Fatalf("%v: %v", cmd, err)
			}
		}
		// A connection made before the reload gets the LOADING reply (a new
		// one waits out its handshake).
		s := open(t, redis.Options{Addrs: []string{srv.Addr}})
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		reloaded := make(chan error, 1)
		go func() { reloaded <- srv.Client(t).Do(ctx, "DEBUG", "RELOAD").Err() }()
		var err error
		eventually(t, "a LOADING reply", 10*time.Second, func() bool {
			err = s.Ping(ctx)
			return err != nil && strings.Contains(err.Error(), "LOADING")
		})
		check(t, err, false, true)
		if err := <-reloaded; err != nil {
			t.Fatalf("DEBUG RELOAD: %v", err)
		}
	})
	t.Run("every client slot taken", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{Args: []string{"--maxclients", "1"}})
		hold := srv.Client(t) // the one slot
		if err := hold.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		s := open(t, redis.Options{Addrs: []string{srv.Addr}})
		check(t, s.Ping(ctx), false, true)
	})
	t.Run("out of memory", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory", "1", "--maxmemory-policy", "noeviction"}})
		s := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: uniquePrefix(t)})
		check(t, s.Revoke(ctx, session.IDOf("oom"), time.Now().Add(time.Hour)), false, false)
	})
}
