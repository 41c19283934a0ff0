package redis

import (
	"context"
	"crypto/tls"
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
	"github.com/caddy-logout/caddy-logout/session/internal/view"
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
	// KeyPrefix starts every key. Default "logout:".
	KeyPrefix string
	// HealthCheckInterval is how long the log reader waits for an entry
	// before it asks again: Redis is heard from at least this often while
	// it answers. Default 1s.
	HealthCheckInterval time.Duration
	// ViewLimit caps the revocations the view holds in memory; past it the
	// view is not current and lookups go to Redis. Default 10,000,000.
	ViewLimit int
	// LogRetention is how long entries stay in the revocation log: a node
	// away for longer reloads its view instead of catching up. Default 1h.
	LogRetention time.Duration
	// SavedView is a file the view is saved to (every few minutes while it
	// changes, and at Close) and read from at start, so that a node that
	// starts while Redis is down, or after Redis lost revocations, still
	// refuses what it had heard of. Default: none.
	SavedView string
	// Logger receives the view's and the log reader's state changes.
	// Default: none.
	Logger *zap.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time

	// sweepInterval is how often expired revocations leave the view
	// (default 10m), for this package's tests.
	sweepInterval time.Duration
}

// Defaults for Options.
const (
	DefaultAddr                = "127.0.0.1:6379"
	DefaultKeyPrefix           = "logout:"
	DefaultHealthCheckInterval = time.Second
	DefaultViewLimit           = 10_000_000
	DefaultLogRetention        = time.Hour
	defaultSweepInterval       = 10 * time.Minute
)

// staleAfterChecks is how many health-check intervals without a word from
// Redis make the view stale: one XREAD comes back per interval, so this
// allows two of them to be slow.
const staleAfterChecks = 3

// Store is a session.Store and session.Broadcaster on Redis, with a
// complete local view of the revocations (see the package documentation).
type Store struct {
	client  goredis.UniversalClient
	uo      *goredis.UniversalOptions // the reader's clients are made from it
	addrs   string                    // for error messages
	prefix  string
	logKey  string
	log     *zap.Logger
	now     func() time.Time
	health  time.Duration
	keepLog time.Duration

	view         *view.View
	reloads      atomic.Uint64 // see ViewStatus
	caughtUp     atomic.Uint64
	snapshot     string // SavedView
	savedVersion uint64 // the view's version when it was last saved (sweepView's)

	subs       subscribers[func(session.ID, bool)]
	reconnects subscribers[func()]

	// The log reader's state (only its goroutine reads or writes pos).
	pos        string                  // the last log entry read into the view; "" before the first load
	readerMu   sync.Mutex              //
	reader     goredis.UniversalClient // the reader's client now, for Close and failovers
	sentinelPS *goredis.PubSub         // the Sentinel's +switch-master one, for Close
	moving     atomic.Bool             // reader was closed to move it to a new master
	wantReload atomic.Bool             // the view dropped revocations past its limit, and has room again

	stop     chan struct{}
	workers  sync.WaitGroup
	closed   atomic.Bool
	close    sync.Once
	closeErr error
}

// New returns a Store for the configured Redis. It does no I/O itself:
// connections are made on first use (call Ping to check the configuration
// at start). The log reader starts at once, loads the view and keeps
// trying until Close.
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
	if opts.ViewLimit <= 0 {
		opts.ViewLimit = DefaultViewLimit
	}
	if opts.LogRetention <= 0 {
		opts.LogRetention = DefaultLogRetention
	}
	if opts.sweepInterval <= 0 {
		opts.sweepInterval = defaultSweepInterval
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
		// the view keeps answering, which beats every caller waiting.
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
		client:   goredis.NewUniversalClient(uo),
		uo:       uo,
		addrs:    strings.Join(opts.Addrs, ","),
		prefix:   opts.KeyPrefix,
		logKey:   opts.KeyPrefix + "log",
		log:      opts.Logger,
		now:      opts.Now,
		health:   opts.HealthCheckInterval,
		keepLog:  opts.LogRetention,
		snapshot: opts.SavedView,
		stop:     make(chan struct{}),
	}
	s.view = newView(opts.ViewLimit, staleAfterChecks*opts.HealthCheckInterval, s.addrs, opts.Logger)
	s.workers.Add(2)
	go s.readLog()
	go s.sweepView(opts.sweepInterval)
	if opts.MasterName != "" {
		s.workers.Add(1)
		go s.watchFailovers(opts.Addrs, opts.MasterName, opts.TLS)
	}
	return s, nil
}

// Key is the Redis key of id's record.
func (s *Store) Key(id session.ID) string { return s.prefix + "revoked:" + id.String() }

// LogKey is the Redis key of the revocation log (a stream).
func (s *Store) LogKey() string { return s.logKey }

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

// recordScript sets a revocation's record unless it already holds a later
// time.
//
//	KEYS[1] record key   ARGV[1] until (unix ms)   ARGV[2] TTL (ms)
var recordScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur == nil or cur < tonumber(ARGV[1]) then
	redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// logScript appends a revocation to the log, naming the entry before it,
// and trims entries older than the retention (by Redis's clock, as the
// entry IDs are). The log's own key is its only key, so in a Cluster it
// lives on one node whichever node holds the record.
//
//	KEYS[1] log key   ARGV[1] hex ID   ARGV[2] until (unix ms)   ARGV[3] retention (ms)
var logScript = goredis.NewScript(`
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if last[1] then prev = last[1][1] end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('XADD', KEYS[1], 'MINID', '~', now - tonumber(ARGV[3]), '*',
	'id', ARGV[1], 'until', ARGV[2], 'prev', prev)
`)

// Revoke records id as revoked until the given time (kept to the
// millisecond), with a Redis expiry at that time, and appends it to the
// log: both in one round trip (a pipeline; in a Cluster the two may go to
// different nodes). It returns once Redis has executed both, as durable as
// the server's persistence settings make it, and this node's view holds
// it. An until that is not in the future records nothing.
//
// The two are not one atomic step: if Redis fails between them, Revoke
// fails and the caller (the journal) writes both again; a record and a
// log entry written twice are harmless.
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
	var record, entry *goredis.Cmd
	// Pipelined's own error is the first failed command's, read below.
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		record = recordScript.Eval(ctx, p, []string{s.prefix + "revoked:" + hexID}, ms, ttl)
		entry = logScript.Eval(ctx, p, []string{s.logKey}, hexID, ms, s.keepLog.Milliseconds())
		return nil
	})
	for _, cmd := range []*goredis.Cmd{record, entry} {
		if err := cmd.Err(); err != nil {
			return s.fail(ctx, err)
		}
	}
	s.view.Add(id, ms)
	return nil
}

// RevokedUntil reads id's record in Redis (one round trip; the view is
// asked through ViewLookup).
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

// readManyChunk is how many records RevokedUntilMany (and the view's
// reload) ask for per round trip.
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

// Subscribe implements session.Broadcaster: fn gets every ID the log
// announces (this node's own included), and all=true whenever the view
// may have missed some (a gap in the log), when every "not revoked" answer
// cached from Redis is suspect.
func (s *Store) Subscribe(fn func(id session.ID, all bool)) (unsubscribe func()) {
	return s.subs.add(fn)
}

// SubscribeReconnects registers fn to be called each time the log reader
// has (re)connected to Redis and caught up: Redis may have lost writes
// meanwhile (a restart, a failover), which only the writer can tell, so
// the journal checks its own records then.
func (s *Store) SubscribeReconnects(fn func()) (unsubscribe func()) {
	return s.reconnects.add(fn)
}

func (s *Store) notify(id session.ID, all bool) {
	for _, fn := range s.subs.all() {
		fn(id, all)
	}
}

func (s *Store) notifyReconnect() {
	for _, fn := range s.reconnects.all() {
		fn()
	}
}

// subscribers are the callbacks of one kind registered with a Store.
type subscribers[F any] struct {
	mu   sync.Mutex
	next int
	fns  map[int]F
}

func (s *subscribers[F]) add(fn F) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = make(map[int]F)
	}
	n := s.next
	s.next++
	s.fns[n] = fn
	return func() {
		s.mu.Lock()
		delete(s.fns, n)
		s.mu.Unlock()
	}
}

// all is a copy of the callbacks, to call without the lock.
func (s *subscribers[F]) all() []F {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]F, 0, len(s.fns))
	for _, fn := range s.fns {
		out = append(out, fn)
	}
	return out
}

// Close stops the log reader and closes the connections. It is
// idempotent; every method called afterwards returns session.ErrClosed (or
// for ViewLookup, not current), and calls already running end with it or
// with their result.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		s.view.Close()
		close(s.stop)
		s.readerMu.Lock()
		if s.reader != nil {
			_ = s.reader.Close() // ends a blocked XREAD
		}
		if s.sentinelPS != nil {
			_ = s.sentinelPS.Close()
		}
		s.readerMu.Unlock()
		s.workers.Wait()
		s.save()
		s.closeErr = s.client.Close()
	})
	return s.closeErr
}

var (
	_ session.Store       = (*Store)(nil)
	_ session.Broadcaster = (*Store)(nil)
	_ session.LocalView   = (*Store)(nil)
)
