package redis_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	// And one entry in the log: the ID, the until, and the entry before
	// it (none).
	entries, err := c.XRange(context.Background(), s.LogKey(), "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("log entries = %v, %v; want one", entries, err)
	}
	want := map[string]any{"id": id.String(), "until": strconv.FormatInt(until.UnixMilli(), 10), "prev": "0-0"}
	if !maps.Equal(entries[0].Values, want) {
		t.Errorf("log entry = %v, want %v", entries[0].Values, want)
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
	slices.Sort(keys)
	if want := []string{"tenant-a:log", "tenant-a:revoked:" + id.String()}; !slices.Equal(keys, want) {
		t.Fatalf("keys in Redis = %v, want only %v", keys, want)
	}
	if s.LogKey() != "tenant-a:log" {
		t.Errorf("LogKey = %q", s.LogKey())
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

// Over TLS (a real redis-server serving TLS only, its certificate signed
// by a CA made for the test): revocations are written and read, and reach
// another store's view over its TLS log reader.
func TestTLS_RevokeReadAndAnnounce(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true})
	prefix := uniquePrefix(t)
	a := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, TLS: srv.ClientTLS()})
	b := open(t, redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix, TLS: srv.ClientTLS()})
	var rb recorder
	defer b.Subscribe(rb.fn)()
	eventually(t, "the log read over TLS", 5*time.Second, func() bool { return b.ViewStatus().Current })

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
	if got, _ := b.ViewLookup(id); got.UnixMilli() != until.UnixMilli() {
		t.Errorf("the other store's view holds %v, want %v", got, until)
	}
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
