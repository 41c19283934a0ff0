// Package bolt is the default session.Store: an embedded bbolt file, so
// revocations survive restarts with no server to run.
//
// Revoke returns once its record is fsynced. Concurrent Revokes share one
// transaction, and so one fsync (group commit), so logout throughput is
// bounded by the disk's fsync rate times the batch size, not by the fsync
// rate alone. A sweeper deletes expired records through an index ordered by
// expiry, so the file stops growing once the session lifetime has passed.
//
// bbolt locks its file exclusively, even against a second Open in the same
// process: share one Store (Caddy's UsagePool) rather than opening twice.
package bolt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/internal/groupcommit"
	"github.com/caddy-logout/caddy-logout/session/internal/view"
)

// Options configure Open. Zero values take the defaults.
type Options struct {
	// Path of the database file. Missing parent directories are created
	// (0700) and so is the file (0600). Required.
	Path string
	// OpenTimeout bounds the wait for the file lock. Default 5s.
	OpenTimeout time.Duration
	// SweepInterval is how often expired records are deleted. Default 10m.
	SweepInterval time.Duration
	// MaxBatch caps how many Revokes share one transaction. Default 1000.
	MaxBatch int
	// ViewLimit caps the revocations held in memory for lookups (40-70
	// bytes each); past it, lookups read the file. Default
	// DefaultViewLimit.
	ViewLimit int
	// Logger receives sweep results and write failures. Default: none.
	Logger *zap.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Defaults for Options.
const (
	DefaultOpenTimeout   = 5 * time.Second
	DefaultSweepInterval = 10 * time.Minute
	DefaultMaxBatch      = 1000
)

// Store is a session.Store in a bbolt file.
type Store struct {
	file     *boltfile.File
	path     string
	log      *zap.Logger
	now      func() time.Time
	maxBatch int

	sweepChunkSize int // boltfile.DefaultSweepChunk; tests make it small

	committer *groupcommit.Committer[revokeRequest]
	stop      chan struct{}  // closed by Close
	workers   sync.WaitGroup // committer and sweeper
	closed    atomic.Bool
	close     sync.Once
	closeErr  error

	commits atomic.Uint64 // write transactions made by the committer, for tests

	view *view.View // every live record, for lookups (view.go)
}

// Open opens (or creates) the database at opts.Path and starts its
// committer and sweeper.
func Open(opts Options) (*Store, error) {
	if opts.Path == "" {
		return nil, errors.New("bolt: Options.Path is required")
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = DefaultSweepInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.ViewLimit <= 0 {
		opts.ViewLimit = DefaultViewLimit
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	file, err := openFile(opts.Path, opts.OpenTimeout)
	if err != nil {
		return nil, err
	}

	s := &Store{
		file:     file,
		path:     opts.Path,
		log:      opts.Logger,
		now:      opts.Now,
		maxBatch: opts.MaxBatch,

		sweepChunkSize: boltfile.DefaultSweepChunk,
		stop:           make(chan struct{}),
	}
	s.view = s.newView(opts.ViewLimit)
	s.committer = groupcommit.New(opts.MaxBatch, s.writeBatch)
	s.workers.Add(3)
	go func() {
		defer s.workers.Done()
		s.committer.Run(s.stop)
	}()
	go func() {
		defer s.workers.Done()
		s.loadView()
	}()
	go s.sweepLoop(opts.SweepInterval)
	return s, nil
}

// RevokedUntil reports until when id is revoked, or the zero Time. It is a
// read transaction, which never waits for a commit.
func (s *Store) RevokedUntil(_ context.Context, id session.ID) (time.Time, error) {
	if s.closed.Load() {
		return time.Time{}, session.ErrClosed
	}
	var at int64
	err := s.file.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(boltfile.RecordsBucket).Get(id[:])
		if v == nil {
			return nil
		}
		var err error
		at, err = boltfile.DecodeExpiry(v)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if at <= s.now().UnixNano() { // also "no record": at is 0
		return time.Time{}, nil
	}
	return time.Unix(0, at), nil
}

// Len is the number of records in the file, including any that expired
// since the last sweep. It walks the bucket: for status pages, not for
// every request.
func (s *Store) Len() (int, error) {
	if s.closed.Load() {
		return 0, session.ErrClosed
	}
	var n int
	err := s.file.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(boltfile.RecordsBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// Close stops the committer and the sweeper and closes the file. A Revoke
// the committer has already taken is written before Close returns; one still
// waiting to be taken gets session.ErrClosed. Close is idempotent, and every
// method called afterwards returns session.ErrClosed.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		s.view.Close()
		close(s.stop)
		s.workers.Wait()
		s.closeErr = s.file.Close()
	})
	return s.closeErr
}
