package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Revoker is what Owners needs to revoke sessions: the Cache in front of
// the store, so that a revocation by owner is an ordinary revocation of
// each session (cached at once on this node, announced to the others).
type Revoker interface {
	Revoke(ctx context.Context, id ID, until time.Time) error
	Revoked(ctx context.Context, id ID) (bool, error)
}

// OwnerPolicy is a configuration's say in how owners are recorded.
type OwnerPolicy struct {
	// Lifetime is the session lifetime: records are kept this long after a
	// session was last seen, marks and revocations this long after they
	// were made.
	Lifetime time.Duration
	// MaxPerOwner caps the sessions one owner's index holds. Default
	// DefaultMaxSessionsPerOwner.
	MaxPerOwner int
}

// DefaultMaxSessionsPerOwner is OwnerPolicy.MaxPerOwner's default.
const DefaultMaxSessionsPerOwner = 1000

// Refresh is how often a node records a session it already recorded
// again, so that LastSeen moves and the record outlives Lifetime for a
// session still in use: a quarter of the lifetime, between a minute and
// an hour.
func (p OwnerPolicy) Refresh() time.Duration {
	return min(max(p.Lifetime/4, time.Minute), time.Hour)
}

func (p OwnerPolicy) maxPerOwner() int {
	if p.MaxPerOwner <= 0 {
		return DefaultMaxSessionsPerOwner
	}
	return p.MaxPerOwner
}

// OwnersOptions configure NewOwners. Zero values take the defaults.
type OwnersOptions struct {
	// KnownSessions sizes the table of sessions this node has recorded
	// (8 bytes each, allocated once). Default 1<<20.
	KnownSessions int
	// QueueSize bounds the sightings waiting to be written; past it a
	// sighting is dropped and recorded on the session's next request.
	// Default 10,000.
	QueueSize int
	// Logger receives the audit lines of revocations by owner and of late
	// records, and write failures. Default: none.
	Logger *zap.Logger
	// Observe hears what became of sightings, for metrics: "recorded",
	// "revoked_late", "evicted", "dropped" or "error", n at a time.
	Observe func(outcome string, n int)
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Defaults for OwnersOptions.
const (
	DefaultKnownSessions = 1 << 20
	DefaultOwnerQueue    = 10_000
)

// maxRecordBatch caps the sightings one RecordOwners call carries.
const maxRecordBatch = 256

// Owners is where sessions get their owners and lose them: it records
// sightings in the store's OwnerIndex (asynchronously, in batches, once
// per session per node per refresh interval) and revokes by owner.
//
// Revocation by owner, for the admin API, the self-service endpoints and
// OpenID Connect logout alike, is RevokeOwner. It is safe for concurrent
// use; Close stops the writer, after which Learn does nothing and the
// other methods still work while the store is open.
type Owners struct {
	index   OwnerIndex
	revoker Revoker
	log     *zap.Logger
	observe func(string, int)
	now     func() time.Time
	base    time.Time
	// minuteNow is the minute Known compares with, moved by the writer
	// once a minute (a clock read on every request would cost more than
	// the lookup). Zero with a test clock: then Known reads the clock.
	minuteNow atomic.Uint64
	testClock bool

	known  *knownTable
	queue  chan learnItem
	warned time.Time // the writer's last warning about a failed write
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

type learnItem struct {
	s      Sighting
	policy OwnerPolicy
}

// NewOwners starts recording owners in index, revoking through revoker.
func NewOwners(index OwnerIndex, revoker Revoker, opts OwnersOptions) *Owners {
	if opts.KnownSessions <= 0 {
		opts.KnownSessions = DefaultKnownSessions
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultOwnerQueue
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Observe == nil {
		opts.Observe = func(string, int) {}
	}
	o := &Owners{
		index:   index,
		revoker: revoker,
		log:     opts.Logger,
		observe: opts.Observe,
		now:     opts.Now,
		known:   newKnownTable(opts.KnownSessions),
		queue:   make(chan learnItem, opts.QueueSize),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if o.now == nil {
		o.now = time.Now
	} else {
		o.testClock = true
	}
	o.base = o.now()
	o.minuteNow.Store(1)
	go o.run()
	return o
}

// Known reports whether this node recorded id's owner within the policy's
// refresh interval (or is recording it now). The guard asks on every
// request; it does not allocate and takes no lock.
func (o *Owners) Known(id ID, p OwnerPolicy) bool {
	at, ok := o.known.recordedAt(id)
	return ok && o.minute()-at < uint64(p.Refresh()/time.Minute)
}

// Learn records a sighting in the background and marks the session known.
// Sightings whose owner cannot be recorded (no subject, over-long claims)
// are ignored.
func (o *Owners) Learn(s Sighting, p OwnerPolicy) {
	if s.Owner.Check() != nil {
		return
	}
	select {
	case <-o.stop:
		return
	default:
	}
	if s.Seen.IsZero() {
		s.Seen = o.now()
	}
	if s.Since.IsZero() || s.Since.After(s.Seen) {
		s.Since = s.Seen
	}
	s.Until = s.Seen.Add(p.Lifetime)
	o.known.mark(s.ID, o.minute())
	select {
	case o.queue <- learnItem{s: s, policy: p}:
	default:
		o.known.forget(s.ID)
		o.observe("dropped", 1)
	}
}

// Forget makes the next request of id record it again.
func (o *Owners) Forget(id ID) { o.known.forget(id) }

// RevokeOwnerOptions say how to revoke by owner.
type RevokeOwnerOptions struct {
	// Lifetime is how long the revocations (and the mark) are kept.
	Lifetime time.Duration
	// Except is spared: the caller's own session, when a user logs out
	// their other sessions. The zero ID spares none.
	Except ID
}

// revokeWorkers bounds the store calls RevokeOwner and Sessions make at
// once.
const revokeWorkers = 8

// RevokeOwner revokes every session recorded for key, on every node that
// shares the store, and answers how many it revoked (sessions revoked
// before are not counted again).
//
// It first marks key revoked in the store, in the same atomic step that
// lists the sessions recorded for it; then it revokes each listed session
// through the Revoker, as an ordinary revocation. A session seen before
// now on a node whose record had not reached the store yet is not listed,
// but its record meets the mark when it arrives, and that node revokes it
// at once. A session first seen after now is a new login and is left
// alone. On error the count says how many were revoked before it.
func (o *Owners) RevokeOwner(ctx context.Context, key OwnerKey, opts RevokeOwnerOptions) (int, error) {
	if err := key.Check(); err != nil {
		return 0, err
	}
	now := o.now()
	until := now.Add(opts.Lifetime)
	recs, err := o.index.MarkOwnerRevoked(ctx, key, OwnerMark{At: now, Except: opts.Except, Until: until})
	if err != nil {
		return 0, err
	}
	ids := make([]ID, 0, len(recs))
	for _, r := range recs {
		if r.ID != opts.Except {
			ids = append(ids, r.ID)
		}
	}
	return o.revokeAll(ctx, ids, until)
}

// revokeAll revokes ids that are not revoked yet, a few at a time, and
// counts them.
func (o *Owners) revokeAll(ctx context.Context, ids []ID, until time.Time) (int, error) {
	var mu sync.Mutex
	count := 0
	err := inParallel(len(ids), func(i int) error {
		revoked, err := o.revoker.Revoked(ctx, ids[i])
		if err == nil && !revoked {
			if err = o.revoker.Revoke(ctx, ids[i], until); err == nil {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}
		return err
	})
	return count, err
}

// inParallel runs fn(0..n-1), revokeWorkers at a time (each is a store
// call; concurrent revocations share group commits), and returns the
// first error.
func inParallel(n int, fn func(i int) error) error {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range min(revokeWorkers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

// RevokeSession revokes one session of key: the self-service API's
// "log out that one of my sessions". It reports false when no session
// recorded for key has that public ID (then nothing happens).
func (o *Owners) RevokeSession(ctx context.Context, key OwnerKey, publicID string, lifetime time.Duration) (bool, error) {
	recs, err := o.index.SessionsOf(ctx, key)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.ID.PublicID() == publicID {
			return true, o.revoker.Revoke(ctx, r.ID, o.now().Add(lifetime))
		}
	}
	return false, nil
}

// OwnerSession is a recorded session and whether it is revoked.
type OwnerSession struct {
	OwnerRecord
	Revoked bool
}

// Sessions lists the sessions recorded for key, oldest first, each with
// whether it is revoked.
func (o *Owners) Sessions(ctx context.Context, key OwnerKey) ([]OwnerSession, error) {
	if err := key.Check(); err != nil {
		return nil, err
	}
	recs, err := o.index.SessionsOf(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]OwnerSession, len(recs))
	err = inParallel(len(recs), func(i int) error {
		revoked, err := o.revoker.Revoked(ctx, recs[i].ID)
		out[i] = OwnerSession{OwnerRecord: recs[i], Revoked: revoked}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OwnerOf returns the record of id, if the store has one.
func (o *Owners) OwnerOf(ctx context.Context, id ID) (OwnerRecord, bool, error) {
	return o.index.OwnerOf(ctx, id)
}

// Close stops the background writer; sightings still queued are dropped
// (they are recorded again on their sessions' next requests). It does not
// close the store.
func (o *Owners) Close() {
	o.once.Do(func() {
		close(o.stop)
		<-o.done
	})
}

// minute is minutes since NewOwners, plus one (zero marks an empty slot).
func (o *Owners) minute() uint64 {
	if o.testClock {
		return o.exactMinute()
	}
	return o.minuteNow.Load()
}

func (o *Owners) exactMinute() uint64 { return uint64(o.now().Sub(o.base)/time.Minute) + 1 }

// writeTimeout bounds one RecordOwners call.
const writeTimeout = 5 * time.Second

func (o *Owners) run() {
	defer close(o.done)
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	batch := make([]learnItem, 0, maxRecordBatch)
	for {
		select {
		case <-o.stop:
			return
		case <-tick.C:
			o.minuteNow.Store(o.exactMinute())
			continue
		case item := <-o.queue:
			batch = append(batch[:0], item)
		}
	drain:
		for len(batch) < maxRecordBatch {
			select {
			case item := <-o.queue:
				batch = append(batch, item)
			default:
				break drain
			}
		}
		o.write(batch)
	}
}

// write records one batch, grouped by the cap their configurations set
// (one group, but for several configurations on one store), and revokes
// what the store says must go.
func (o *Owners) write(batch []learnItem) {
	for len(batch) > 0 {
		limit := batch[0].policy.maxPerOwner()
		var group, rest []learnItem
		for _, it := range batch {
			if it.policy.maxPerOwner() == limit {
				group = append(group, it)
			} else {
				rest = append(rest, it)
			}
		}
		o.writeGroup(group, limit)
		batch = rest
	}
}

func (o *Owners) writeGroup(items []learnItem, limit int) {
	sightings := make([]Sighting, len(items))
	for i, it := range items {
		sightings[i] = it.s
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	results, err := o.index.RecordOwners(ctx, sightings, limit)
	if err == nil && len(results) != len(items) {
		err = errors.New("the store answered for a different number of sightings")
	}
	if err != nil {
		for _, it := range items {
			o.known.forget(it.s.ID)
		}
		o.observe("error", len(items))
		// Once a minute at most: during a store outage every batch fails.
		if now := o.now(); !errors.Is(err, ErrClosed) && now.Sub(o.warned) >= time.Minute {
			o.warned = now
			o.log.Warn("recording session owners failed; they are recorded on their next requests",
				zap.Int("sessions", len(items)), zap.Error(err))
		}
		return
	}
	o.observe("recorded", len(items))
	for i, res := range results {
		it := items[i]
		until := o.now().Add(it.policy.Lifetime)
		if res.Revoke {
			o.observe("revoked_late", 1)
			o.revokeLogged(ctx, it.s.ID, until, it.s.Owner, "session revoked: its owner was revoked before its record reached the store")
		}
		for _, ev := range res.Evicted {
			o.observe("evicted", 1)
			o.revokeLogged(ctx, ev, until, it.s.Owner, "session revoked: its owner has more recorded sessions than the cap allows, oldest first")
		}
	}
}

func (o *Owners) revokeLogged(ctx context.Context, id ID, until time.Time, owner Owner, msg string) {
	err := o.revoker.Revoke(ctx, id, until)
	fields := append(ByIssuerSubject(owner.Issuer, owner.Subject).LogFields(), zap.String("session", id.Short()))
	if err != nil {
		// Recorded again on its next request on this node, which meets
		// the same answer and tries again.
		o.known.forget(id)
		o.log.Error(msg+" (failed)", append(fields, zap.Error(err))...)
		return
	}
	o.log.Info(msg, fields...)
}
