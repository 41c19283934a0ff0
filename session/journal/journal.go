package journal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/internal/groupcommit"
)

// Options configure Open. Zero values take the defaults.
type Options struct {
	// Path of the journal file; missing directories are created. Required.
	Path string
	// OpenTimeout bounds the wait for the file lock. Default 5s.
	OpenTimeout time.Duration
	// OpTimeout bounds each call to the backend, so a backend that hangs
	// costs a request at most this long. Default 1s.
	OpTimeout time.Duration
	// RetryInterval is how often the replayer probes a backend that is
	// away. Default 500ms.
	RetryInterval time.Duration
	// VerifyInterval is how often the replayer checks that the backend
	// still holds this node's recent records. Default 1m.
	VerifyInterval time.Duration
	// SweepInterval is how often expired records are deleted. Default 10m.
	SweepInterval time.Duration
	// Logger receives the degraded/recovered warnings. Default: none.
	Logger *zap.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time

	// noReplayer leaves the replayer out, so this package's own tests can
	// drive it step by step.
	noReplayer bool
}

// Defaults for Options.
const (
	DefaultOpenTimeout    = 5 * time.Second
	DefaultOpTimeout      = time.Second
	DefaultRetryInterval  = 500 * time.Millisecond
	DefaultVerifyInterval = time.Minute
	DefaultSweepInterval  = 10 * time.Minute
)

// verifySample is how many of the most recent records the periodic loss
// check asks the backend about. Lost writes are the most recent ones (a
// snapshot that is a little old, a replica a little behind), so a small
// sample finds them.
const verifySample = 32

// verifyAfterReconnect is the same check after a reconnect, an outage or a
// start, when writes are most likely lost: a failover loses the last ones
// the old master took, and logouts made since on the new master may
// already be more than verifySample.
const verifyAfterReconnect = 1024

// maxBatch caps how many writes share one journal transaction.
const maxBatch = 1000

// Store is a session.Store that wraps a backend with the journal.
type Store struct {
	backend session.Store
	file    *boltfile.File
	path    string
	log     *zap.Logger
	now     func() time.Time

	opTimeout   time.Duration
	retryEvery  time.Duration
	verifyEvery time.Duration
	sweepEvery  time.Duration

	committer *groupcommit.Committer[putRequest]
	wake      chan struct{} // the replayer has work: pending records, a probe
	verify    chan struct{} // the backend reconnected: check it kept our records
	stop      chan struct{}
	workers   sync.WaitGroup
	closed    atomic.Bool
	close     sync.Once
	closeErr  error

	unsubscribe func()
	unreachable func(error) bool // tells an outage from an error reply
	view        viewRememberer   // the backend's in-memory view, if it keeps one

	depth    atomic.Int64  // pending records
	requeues atomic.Uint64 // bumped (inside the write transaction) by requeueAll
	reached  atomic.Bool   // the backend has answered this journal at least once, ever

	degradedMu    sync.Mutex // orders the transitions and their log lines
	degraded      atomic.Bool
	degradedSince time.Time
	refusing      atomic.Bool // the backend answers, with errors
	probeWanted   atomic.Bool

	// The replayer's own state.
	refusedWarned time.Time // its last warning about refused records; zero when none are
	replayFrom    []byte    // where the next round starts, when the last one stopped early
}

// Open opens (or creates) the journal at opts.Path in front of backend and
// starts the committer, the replayer and the sweeper. The Store owns the
// backend from now on: Close closes it (and so does a failed Open).
func Open(backend session.Store, opts Options) (*Store, error) {
	if opts.Path == "" {
		_ = backend.Close()
		return nil, errors.New("journal: Options.Path is required")
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = DefaultVerifyInterval
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	file, err := openFile(opts.Path, opts.OpenTimeout)
	if err != nil {
		_ = backend.Close()
		return nil, err
	}
	s := &Store{
		backend:     backend,
		file:        file,
		path:        opts.Path,
		log:         opts.Logger,
		now:         opts.Now,
		opTimeout:   opts.OpTimeout,
		retryEvery:  opts.RetryInterval,
		verifyEvery: opts.VerifyInterval,
		sweepEvery:  opts.SweepInterval,
		wake:        make(chan struct{}, 1),
		verify:      make(chan struct{}, 1),
		stop:        make(chan struct{}),
	}
	depth, reached, err := s.loadState()
	if err != nil {
		_ = file.Close()
		_ = backend.Close()
		return nil, err // names the file
	}
	s.depth.Store(int64(depth))
	s.reached.Store(reached)
	if depth > 0 {
		s.log.Warn("journal holds logouts not yet written to the store; replaying them",
			zap.String("journal", s.path), zap.Int("pending", depth))
	}
	s.unreachable = func(error) bool { return true }
	if u, ok := backend.(unreachabler); ok {
		s.unreachable = u.Unreachable
	}
	// Check what the backend kept after it reconnects (it may have lost
	// writes meanwhile) and whenever it says it may have missed some.
	var unsubscribes []func()
	if r, ok := backend.(reconnectNotifier); ok {
		unsubscribes = append(unsubscribes, r.SubscribeReconnects(func() { signal(s.verify) }))
	}
	if b, ok := backend.(session.Broadcaster); ok {
		unsubscribes = append(unsubscribes, b.Subscribe(func(_ session.ID, all bool) {
			if all {
				signal(s.verify)
			}
		}))
	}
	s.unsubscribe = func() {
		for _, u := range unsubscribes {
			u()
		}
	}
	if v, ok := backend.(viewRememberer); ok {
		// Everything this node accepted, in Redis or not, is in its view
		// from the start: the backend may have lost some.
		s.view = v
		if err := s.rememberAll(); err != nil {
			s.log.Error("reading the journal into the view failed", zap.String("journal", s.path), zap.Error(err))
		}
	}
	s.committer = groupcommit.New(maxBatch, s.writeBatch)
	s.workers.Add(2)
	go func() {
		defer s.workers.Done()
		s.committer.Run(s.stop)
	}()
	go s.sweepLoop()
	if !opts.noReplayer {
		s.workers.Add(1)
		go s.replayLoop()
	}
	signal(s.wake) // first round at once: probe, verify, replay
	return s, nil
}

// Revoke records id as revoked until the given time. It returns nil once
// the backend or the fsynced journal holds the record: an acknowledged
// logout is never lost. It fails only when both fail.
func (s *Store) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return session.ErrClosed
	}
	if !until.After(s.now()) {
		return nil // that session has expired anyway
	}
	// Read before the backend is asked: a requeue that starts meanwhile
	// (the backend lost data) must not see this record as safely stored.
	epoch := s.requeues.Load()
	pending := s.degraded.Load()
	var backendErr, refused error
	if !pending {
		bctx, cancel := context.WithTimeout(ctx, s.opTimeout)
		backendErr = s.backend.Revoke(bctx, id, until)
		cancel()
		switch {
		case backendErr == nil:
		case ctx.Err() != nil:
			return ctx.Err() // the caller gave up (the backend may have it anyway)
		case errors.Is(backendErr, session.ErrClosed):
			return session.ErrClosed
		case s.unreachable(backendErr):
			pending = true
			s.setDegraded(backendErr)
		default:
			// An error reply: journaled all the same, but lookups keep
			// asking the backend (noted once the record is pending, so
			// the replayer cannot see the state without the record).
			pending = true
			refused = backendErr
		}
	}
	if err := s.put(ctx, id, until, pending, epoch); err != nil {
		if !pending {
			// The backend has it; only the local copy is missing.
			if !errors.Is(err, session.ErrClosed) && ctx.Err() == nil {
				s.log.Error("journal write failed; the revocation is in the store only",
					zap.String("journal", s.path), zap.String("session", id.Short()), zap.Error(err))
			}
			return nil
		}
		if errors.Is(err, session.ErrClosed) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("journal: %w (and the store: %v)", err, backendErr)
	}
	if refused != nil {
		s.setRefusing(refused)
	}
	if pending {
		if s.view != nil {
			s.view.Remember(id, until) // the backend does not have it
		}
		signal(s.wake)
	}
	return nil
}

// RevokedUntil asks the backend and the journal, and answers with the
// later of the two: the journal alone when the backend cannot answer.
func (s *Store) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	if s.closed.Load() {
		return time.Time{}, session.ErrClosed
	}
	if s.degraded.Load() {
		// The replayer probes the backend and clears this flag when it is
		// back; until then a lookup would only wait out opTimeout per cache
		// miss on the guard's path. Answer from the journal at once, and
		// let on_store_error decide what the journal cannot.
		local, err := s.lookup(id)
		switch {
		case err != nil:
			return time.Time{}, err
		case !local.IsZero():
			return local, nil
		}
		return time.Time{}, ErrDegraded
	}
	bctx, cancel := context.WithTimeout(ctx, s.opTimeout)
	until, backendErr := s.backend.RevokedUntil(bctx, id)
	cancel()
	switch {
	case backendErr == nil:
	case ctx.Err() != nil:
		return time.Time{}, ctx.Err()
	case errors.Is(backendErr, session.ErrClosed):
		return time.Time{}, session.ErrClosed
	default:
		// Let the replayer find out whether the backend is away.
		s.probeWanted.Store(true)
		signal(s.wake)
	}
	// The journal too, even when the backend knows id: a pending record
	// may hold a later time than another node's in the backend.
	local, err := s.lookup(id)
	if err != nil {
		return time.Time{}, err
	}
	if local.After(until) {
		return local, nil
	}
	if backendErr != nil && local.IsZero() {
		return time.Time{}, backendErr
	}
	return until, nil
}

// Subscribe passes the backend's broadcasts through (session.Broadcaster).
func (s *Store) Subscribe(fn func(id session.ID, all bool)) (unsubscribe func()) {
	if b, ok := s.backend.(session.Broadcaster); ok {
		return b.Subscribe(fn)
	}
	return func() {}
}

// ErrDegraded answers lookups the journal cannot while the backend is
// unreachable.
var ErrDegraded = errors.New("session store unreachable; answering from the local journal only")

// JournalDepth is the number of accepted logouts the backend does not have
// yet.
func (s *Store) JournalDepth() int { return int(s.depth.Load()) }

// Degraded reports whether the backend is away (unreachable, not merely
// answering with errors) and logouts go to the journal only.
func (s *Store) Degraded() bool { return s.degraded.Load() }

// EverReached reports whether this journal has ever seen the backend answer,
// in this process or an earlier one. A backend that cannot be reached at
// start but has been before is in an outage; one never reached is more
// likely a configuration mistake.
func (s *Store) EverReached() bool { return s.reached.Load() }

// Unwrap is Backend, so that session.As finds the backend's capabilities
// (its session.OwnerIndex) through the journal.
func (s *Store) Unwrap() session.Store { return s.backend }

// Path is the journal file.
func (s *Store) Path() string { return s.path }

// Close stops the journal's goroutines, closes its file and then the
// backend. Idempotent; calls made afterwards return session.ErrClosed.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		if s.unsubscribe != nil {
			s.unsubscribe()
		}
		close(s.stop)
		s.workers.Wait()
		dbErr := s.file.Close()
		backendErr := s.backend.Close()
		s.closeErr = errors.Join(dbErr, backendErr)
	})
	return s.closeErr
}

// reconnectNotifier is implemented by backends that say when they have
// reconnected (Redis): the journal checks then what they kept.
type reconnectNotifier interface {
	SubscribeReconnects(fn func()) (unsubscribe func())
}

// viewRememberer is implemented by backends that keep an in-memory view of
// their revocations (Redis): the journal's records go in it too, so the
// node refuses them without asking the backend, which may not have them.
type viewRememberer interface {
	Remember(id session.ID, until time.Time)
}

// unreachabler is implemented by backends that can tell an outage from an
// error the backend answered with (see the package documentation).
type unreachabler interface {
	Unreachable(err error) bool
}

// backendFailed notes a failed backend call: degraded if the backend is
// unreachable, refusing if it answered with an error.
func (s *Store) backendFailed(err error) {
	if s.unreachable(err) {
		s.setDegraded(err)
	} else {
		s.setRefusing(err)
	}
}

// setRefusing notes that the backend answers, but with errors (once, with
// a warning). Lookups keep asking it; refused logouts are journaled and
// retried.
func (s *Store) setRefusing(cause error) {
	if s.refusing.Load() {
		return
	}
	s.degradedMu.Lock()
	defer s.degradedMu.Unlock()
	if s.refusing.Load() || s.closed.Load() {
		return
	}
	s.refusing.Store(true)
	s.log.Warn("session store answers with errors: logouts it refuses are kept in the local journal and "+
		"retried until it takes them; lookups still ask it",
		zap.String("journal", s.path), zap.Int("journal_depth", s.JournalDepth()), zap.Error(cause))
	signal(s.wake)
}

// clearRefusing notes that the backend has taken every journaled record
// and answered the replayer's round without an error.
func (s *Store) clearRefusing() {
	if !s.refusing.Load() {
		return
	}
	s.degradedMu.Lock()
	defer s.degradedMu.Unlock()
	if s.depth.Load() > 0 || !s.refusing.CompareAndSwap(true, false) {
		return // (a Revoke refused since the caller looked)
	}
	s.log.Warn("session store answers without errors again; journaled logouts written to it",
		zap.String("journal", s.path))
}

// setDegraded notes that the backend is away (once, with a warning).
func (s *Store) setDegraded(cause error) {
	if s.degraded.Load() {
		return
	}
	s.degradedMu.Lock()
	defer s.degradedMu.Unlock()
	if s.degraded.Load() || s.closed.Load() {
		return
	}
	s.degradedSince = s.now()
	s.degraded.Store(true)
	s.log.Warn("session store unreachable: degraded; logouts go to the local journal until it is back, "+
		"lookups it cannot answer follow on_store_error",
		zap.String("journal", s.path), zap.Int("journal_depth", s.JournalDepth()), zap.Error(cause))
	signal(s.wake)
}

// clearDegraded notes that the backend is back: it has every journaled
// record, or it answers and refuses the rest (then the replayer keeps
// retrying them).
func (s *Store) clearDegraded(refused bool) {
	s.degradedMu.Lock()
	defer s.degradedMu.Unlock()
	if !s.degraded.Load() {
		return
	}
	s.degraded.Store(false)
	if refused {
		s.log.Warn("session store reachable again: no longer degraded, but it refuses writes; "+
			"journaled logouts are retried until it takes them",
			zap.String("journal", s.path), zap.Int("journal_depth", s.JournalDepth()),
			zap.Duration("outage", s.now().Sub(s.degradedSince)))
		return
	}
	s.log.Warn("session store reachable again: no longer degraded; journaled logouts replayed",
		zap.String("journal", s.path), zap.Duration("outage", s.now().Sub(s.degradedSince)))
}

// signal wakes the goroutine reading ch without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var (
	_ session.Store       = (*Store)(nil)
	_ session.Broadcaster = (*Store)(nil)
)
