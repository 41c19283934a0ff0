// Package redis is the session.Store for several Caddy nodes: revocations
// live in Redis (standalone, Sentinel or Cluster, through go-redis's
// UniversalClient), and every node hears about every revocation at once.
//
// # Records
//
// A revocation is one string key, <prefix>revoked:<hex ID>, holding the
// time it is revoked until (unix milliseconds), with a Redis expiry at that
// time, so Redis forgets it when the session would have expired anyway and
// the data set never grows without bound. Revoking again keeps the later
// time: a small Lua script compares and sets in one step, so two nodes
// revoking the same session at once cannot lower it.
//
// # Invalidation: pub/sub, not client-side caching
//
// The same script PUBLISHes the ID on <prefix>revocations, so the record
// and its announcement are one atomic step: no node can read the record
// and miss the message or the other way round. Every Store subscribes and
// hands other nodes' IDs to the session.Cache (Broadcaster), which drops
// its "not revoked" answer for that ID.
//
// Redis 6's client-side caching (CLIENT TRACKING, BCAST on the key prefix,
// as rueidis does it) was the alternative. It was not chosen because:
//   - we already have one bounded cache (ristretto) with the semantics we
//     need ("revoked" until expiry, "not revoked" briefly, epochs against
//     racing refills); tracking would add a second cache or would have to
//     be wired into ours, for the same one-message-per-revocation fan-out;
//   - tracking is per server connection: in Cluster every node must track
//     on every master, while a PUBLISH reaches every subscriber in the
//     cluster from any node; pub/sub also works through Sentinel, through
//     proxies and on managed services that disable CLIENT TRACKING, and on
//     RESP2 servers;
//   - tracking has the same blind spot as pub/sub, a lost connection loses
//     invalidations, so it needs the same flush on reconnect anyway.
//
// # Lost subscriptions
//
// go-redis's PubSub reconnects silently and drops whatever was published
// meanwhile. So the subscriber reads the subscription confirmations too:
// every confirmed SUBSCRIBE (the first, and each one after a reconnect)
// calls the Broadcaster callbacks with all=true, which makes the cache
// distrust every "not revoked" answer it holds. A revocation published
// while the subscription was down was written before it was published, so
// the lookups after the flush see it. The subscriber also PINGs when the
// channel is quiet and starts over if no answer comes, so a connection that
// dies silently (a dropped route, a frozen server) is noticed within two
// health-check intervals, not after TCP gives up.
//
// While the subscription is down the cache keeps serving what it has: the
// outage policy (session/journal, on_store_error) is the caller's, and
// flushing at the moment of loss would only turn cached answers into store
// errors.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// Options configure New. Zero values take the defaults.
type Options struct {
	// Addrs are host:port addresses: one for a standalone server, the seed
	// nodes of a Cluster, or the Sentinels when MasterName is set.
	// Default: 127.0.0.1:6379.
	Addrs []string
	// MasterName selects Sentinel: the name of the monitored master.
	MasterName string
	// Cluster forces Cluster mode with a single address (a cluster's
	// configuration endpoint); two or more addresses without MasterName
	// are a Cluster anyway.
	Cluster bool
	// Username and Password authenticate to the Redis servers that hold
	// the data. Sentinels are asked for the master without credentials.
	Username, Password string
	// DB is the database number (standalone and Sentinel only).
	DB int
	// TLS, when set, connects with TLS.
	TLS *tls.Config
	// KeyPrefix starts every key and the channel name. Default "logout:".
	KeyPrefix string
	// HealthCheckInterval is how long the subscription may be quiet before
	// it is PINGed; no answer within another interval counts as lost.
	// Default 1s.
	HealthCheckInterval time.Duration
	// Logger receives subscription losses and recoveries. Default: none.
	Logger *zap.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultAddr                = "127.0.0.1:6379"
	DefaultKeyPrefix           = "logout:"
	DefaultHealthCheckInterval = time.Second
)

// Store is a session.Store and session.Broadcaster on Redis.
type Store struct {
	client  goredis.UniversalClient
	addrs   string // for error messages
	prefix  string
	channel string
	node    string // this Store's random name, to skip its own messages
	log     *zap.Logger
	now     func() time.Time

	subMu   sync.Mutex
	nextSub int
	subs    map[int]func(session.ID, bool)

	psMu       sync.Mutex
	ps         *goredis.PubSub // the current subscription, for Close
	sentinelPS *goredis.PubSub // the Sentinel's +switch-master one, for Close
	moving     atomic.Bool     // ps was closed to move it to a new master
	health     time.Duration
	// confirmed (re)subscriptions whose callbacks have run, for tests and status
	subscriptions atomic.Uint64
	stop          chan struct{}
	workers       sync.WaitGroup
	closed        atomic.Bool
	close         sync.Once
	closeErr      error
}

// New returns a Store for the configured Redis. It does no I/O: connections
// are made on first use (call Ping to check the configuration at start). The
// subscriber starts at once and keeps trying until Close.
func New(opts Options) (*Store, error) {
	if len(opts.Addrs) == 0 {
		opts.Addrs = []string{DefaultAddr}
	}
	if opts.KeyPrefix == "" {
		opts.KeyPrefix = DefaultKeyPrefix
	}
	if opts.HealthCheckInterval <= 0 {
		opts.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DB != 0 && opts.MasterName == "" && (opts.Cluster || len(opts.Addrs) > 1) {
		return nil, errors.New("redis store: db must be 0 with Redis Cluster (several addresses without master_name)")
	}
	var node [8]byte
	_, _ = rand.Read(node[:])

	uo := &goredis.UniversalOptions{
		Addrs:         opts.Addrs,
		MasterName:    opts.MasterName,
		IsClusterMode: opts.Cluster,
		Username:      opts.Username,
		Password:      opts.Password,
		DB:            opts.DB,
		TLSConfig:     opts.TLS,
		ClientName:    "caddy-logout",
		// Fail fast when Redis is down: the journal takes the logout and
		// the cache keeps serving, which beats every caller waiting.
		// One retry is for a pooled connection that died with a restart.
		DialTimeout:           2 * time.Second,
		DialerRetries:         1,
		ReadTimeout:           2 * time.Second,
		WriteTimeout:          2 * time.Second,
		ContextTimeoutEnabled: true,
		MaxRetries:            1,
		MinRetryBackoff:       8 * time.Millisecond,
		MaxRetryBackoff:       64 * time.Millisecond,
		// Redis Enterprise maintenance hand-offs: nothing to gain here, and
		// on other servers the probe is one more command per connection.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	s := &Store{
		client:  goredis.NewUniversalClient(uo),
		addrs:   strings.Join(opts.Addrs, ","),
		prefix:  opts.KeyPrefix,
		channel: opts.KeyPrefix + "revocations",
		node:    hex.EncodeToString(node[:]),
		log:     opts.Logger,
		now:     opts.Now,
		subs:    make(map[int]func(session.ID, bool)),
		health:  opts.HealthCheckInterval,
		stop:    make(chan struct{}),
	}
	s.workers.Add(1)
	go s.subscribeLoop()
	if opts.MasterName != "" {
		s.workers.Add(1)
		go s.watchFailovers(opts.Addrs, opts.MasterName, opts.TLS)
	}
	return s, nil
}

// Key is the Redis key of id's record.
func (s *Store) Key(id session.ID) string { return s.prefix + "revoked:" + id.String() }

// Channel is the pub/sub channel revocations are announced on.
func (s *Store) Channel() string { return s.channel }

// Ping checks that Redis answers and accepts the credentials. Its error
// says which: see IsAuthError and IsUnreachable.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return session.ErrClosed
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.describe(err)
	}
	return nil
}

// revokeScript sets the record unless it already holds a later time, and
// announces the ID either way (a repeated announcement costs one cache
// epoch bump; a missing one would cost a stale answer).
//
//	KEYS[1] record key   ARGV[1] until (unix ms)   ARGV[2] TTL (ms)
//	ARGV[3] channel      ARGV[4] message
var revokeScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur == nil or cur < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`)

// Revoke records id as revoked until the given time (kept to the
// millisecond), with a Redis expiry at that time, and announces it. It
// returns once Redis has executed the script: as durable as the server's
// persistence settings make it. An until that is not in the future records
// nothing.
func (s *Store) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return session.ErrClosed
	}
	ms := until.UnixMilli()
	ttl := ms - s.now().UnixMilli()
	if !until.After(s.now()) || ttl <= 0 {
		return nil
	}
	hexID := id.String()
	err := revokeScript.Run(ctx, s.client,
		[]string{s.prefix + "revoked:" + hexID},
		ms, ttl, s.channel, hexID+":"+s.node,
	).Err()
	if err != nil {
		return s.fail(ctx, err)
	}
	return nil
}

// RevokedUntil reads id's record.
func (s *Store) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	if s.closed.Load() {
		return time.Time{}, session.ErrClosed
	}
	v, err := s.client.Get(ctx, s.Key(id)).Result()
	if errors.Is(err, goredis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, s.fail(ctx, err)
	}
	until, ok := s.parseUntil(v)
	if !ok {
		// Someone else's value under our prefix: say so rather than guess.
		// Redis answered, so this is not an outage.
		return time.Time{}, &Error{Addrs: s.addrs, Err: fmt.Errorf("%s holds %q, not a time", s.Key(id), v), answered: true}
	}
	return until, nil
}

// parseUntil reads a record's value; an expired one reads as zero.
func (s *Store) parseUntil(v string) (time.Time, bool) {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	until := time.UnixMilli(ms)
	if !until.After(s.now()) {
		return time.Time{}, true // expired; Redis drops the key on its own
	}
	return until, true
}

// readManyChunk is how many records RevokedUntilMany asks for per round
// trip.
const readManyChunk = 256

// RevokedUntilMany reads many records in a few round trips (pipelined
// GETs, which Redis Cluster splits by node). A record Redis cannot give as
// a time (a key of another type, someone else's value) reads as zero,
// like an absent one: the journal's loss check uses it, and for it either
// means "this record is not there". An error means Redis could not be
// asked.
func (s *Store) RevokedUntilMany(ctx context.Context, ids []session.ID) ([]time.Time, error) {
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	out := make([]time.Time, 0, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), readManyChunk)]
		ids = ids[len(chunk):]
		cmds := make([]*goredis.StringCmd, len(chunk))
		// Pipelined's own error is the first failed command's, read below.
		_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, id := range chunk {
				cmds[i] = p.Get(ctx, s.Key(id))
			}
			return nil
		})
		for _, cmd := range cmds {
			v, cerr := cmd.Result()
			if cerr != nil && !errors.Is(cerr, goredis.Nil) && IsUnreachable(cerr) {
				return nil, s.fail(ctx, cerr)
			}
			until, _ := s.parseUntil(v) // "" (absent or refused) reads as zero
			out = append(out, until)
		}
	}
	return out, nil
}

// Subscribe implements session.Broadcaster: fn gets every ID revoked by
// another Store, and all=true each time the subscription is confirmed (at
// start and after every reconnect), when messages may have been missed.
func (s *Store) Subscribe(fn func(id session.ID, all bool)) (unsubscribe func()) {
	s.subMu.Lock()
	n := s.nextSub
	s.nextSub++
	s.subs[n] = fn
	s.subMu.Unlock()
	return func() {
		s.subMu.Lock()
		delete(s.subs, n)
		s.subMu.Unlock()
	}
}

// Subscriptions counts the confirmed subscriptions so far: 1 after the
// first, one more after each reconnect. A subscription is counted once
// every subscriber has been told of it (all=true), so a caller that sees
// the count go up may rely on the caches having been flushed.
func (s *Store) Subscriptions() uint64 { return s.subscriptions.Load() }

// Close stops the subscriber and closes the connections. It is
// idempotent; every method called afterwards returns session.ErrClosed,
// and calls already running end with it or with their result.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		s.psMu.Lock()
		for _, ps := range []*goredis.PubSub{s.ps, s.sentinelPS} {
			if ps != nil {
				_ = ps.Close()
			}
		}
		s.psMu.Unlock()
		s.workers.Wait()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}

func (s *Store) notify(id session.ID, all bool) {
	s.subMu.Lock()
	fns := make([]func(session.ID, bool), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subMu.Unlock()
	for _, fn := range fns {
		fn(id, all)
	}
}

// fail maps an error from a command: the caller's own cancellation stays
// as it is, a closed client is session.ErrClosed, the rest names Redis.
func (s *Store) fail(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ctx.Err()
	case s.closed.Load() || errors.Is(err, goredis.ErrClosed):
		return session.ErrClosed
	}
	return s.describe(err)
}

// describe names the server and, for authentication failures, says so in
// words an operator searches for.
func (s *Store) describe(err error) error {
	if IsAuthError(err) {
		return &Error{Addrs: s.addrs, Err: err, auth: true}
	}
	return &Error{Addrs: s.addrs, Err: err}
}

// Error is a failure talking to Redis.
type Error struct {
	Addrs    string // the configured addresses
	Err      error
	auth     bool
	answered bool // Redis answered; the error is about what it answered
}

func (e *Error) Error() string {
	if e.auth {
		return fmt.Sprintf("redis store: %s: authentication failed (check username and password): %v", e.Addrs, e.Err)
	}
	if IsTLSError(e.Err) {
		return fmt.Sprintf("redis store: %s: TLS handshake failed (check tls and the server's certificate): %v", e.Addrs, e.Err)
	}
	if IsUnreachable(e.Err) {
		return fmt.Sprintf("redis store: cannot reach %s: %v", e.Addrs, e.Err)
	}
	return fmt.Sprintf("redis store: %s: %v", e.Addrs, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsAuthError reports whether err is Redis refusing the credentials: a
// wrong password or user, or none sent to a server that requires one.
func IsAuthError(err error) bool {
	var e *Error
	if errors.As(err, &e) && e.auth {
		return true
	}
	if goredis.IsAuthError(err) {
		return true
	}
	// Servers without ACLs (Redis before 6) say it their own way, which
	// go-redis does not recognise.
	var re goredis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), "ERR invalid password")
}

// IsTLSError reports whether err is a TLS handshake that failed because
// the server's certificate does not verify (unknown CA, another name,
// expired): that does not go away by itself. It still counts as
// unreachable for a running node (no usable connection), but at start it
// is configuration.
func IsTLSError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	return errors.As(err, &verify) || errors.As(err, &unknownCA) || errors.As(err, &hostname) ||
		errors.As(err, &invalid)
}

// Unreachable reports whether err, from one of this Store's calls, means
// Redis could not be reached (IsUnreachable) rather than that it answered
// with an error. The outage journal (session/journal) asks it: only an
// unreachable Redis makes it stop asking Redis for lookups, while one that
// refuses writes (out of memory under noeviction, a read-only replica)
// still answers reads, so other nodes' revocations are still seen.
func (s *Store) Unreachable(err error) bool { return IsUnreachable(err) }

// IsUnreachable reports whether err is a failure to talk to Redis at all
// (refused, timed out, dropped), as opposed to Redis answering with an
// error (bad credentials, a database that does not exist, out of memory).
func IsUnreachable(err error) bool {
	if err == nil || errors.Is(err, session.ErrClosed) {
		return false
	}
	if e := (*Error)(nil); errors.As(err, &e) && e.answered {
		return false
	}
	// Replies that mean "no usable connection": a server still loading its
	// data, a replica without its master, a cluster without quorum or
	// mid-resharding, every client slot taken.
	if goredis.IsLoadingError(err) || goredis.IsMasterDownError(err) || goredis.IsClusterDownError(err) ||
		goredis.IsTryAgainError(err) || goredis.IsMaxClientsError(err) {
		return true
	}
	var re goredis.Error
	return !errors.As(err, &re) // any other reply is an answer; the rest is the network
}

var (
	_ session.Store       = (*Store)(nil)
	_ session.Broadcaster = (*Store)(nil)
)
