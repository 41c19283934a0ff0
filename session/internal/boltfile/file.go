// Package boltfile is the bbolt file layer that the bolt store and the
// Redis outage journal share: opening a file without crashing on damage,
// the only ways in to it afterwards (View and Update, which turn bbolt's
// panics on damaged pages into errors), the revocation records with their
// expiry index, and the chunked sweep of expired records.
//
// Each store keeps its own specifics on top: the bolt store's group
// commit, the journal's pending and meta buckets and its requeue epochs.
package boltfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/caddy-logout/caddy-logout/session"
)

// Options configure Open.
type Options struct {
	// Name starts every error message ("bolt", "journal").
	Name string
	// Path of the file. Missing parent directories are created (0700) and
	// so is the file (0600).
	Path string
	// Timeout bounds the wait for the file lock; after it Open fails with
	// an error matching ErrLockTimeout.
	Timeout time.Duration
	// Buckets are created if missing, besides RecordsBucket and
	// ExpiryBucket, which always are.
	Buckets [][]byte
}

// ErrLockTimeout is what Open's error matches (errors.Is) when another
// opener held the file's lock for longer than Options.Timeout. The stores
// say so in their own words, wrapping session.ErrLocked.
var ErrLockTimeout = bolterrors.ErrTimeout

// File is an open bbolt file.
type File struct {
	db   *bbolt.DB
	name string
	path string
}

// Open opens (or creates) the bbolt file at opts.Path and makes sure it
// holds the buckets. A damaged file is an error, never a crash: bbolt
// trusts the pages it maps, so a truncated file faults (SIGBUS) inside
// bbolt.Open and a scrambled one panics. Faults become panics for this
// goroutine only, and the panic becomes the returned error.
func Open(opts Options) (f *File, err error) {
	path := opts.Path
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("%s: creating the directory for %s: %w", opts.Name, path, err)
	}

	var db *bbolt.DB
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// After a fault inside bbolt.Open there is no db to close: its
			// descriptor and lock go when the garbage collector finalizes it.
			if db != nil {
				_ = db.Close()
			}
			f, err = nil, fmt.Errorf("%s: %s is damaged and cannot be read: %v", opts.Name, path, r)
		}
	}()

	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%s: %s: waited %s for the lock: %w", opts.Name, path, opts.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: opening %s: %w", opts.Name, path, err)
	}
	if err := checkSize(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %s is damaged: %w", opts.Name, path, err)
	}
	buckets := append([][]byte{RecordsBucket, ExpiryBucket}, opts.Buckets...)
	if err := createBuckets(db, buckets); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: preparing %s: %w", opts.Name, path, err)
	}
	return &File{db: db, name: opts.Name, path: path}, nil
}

// checkSize refuses a file shorter than the pages its metadata claims: a
// truncated copy whose free list happened to survive would otherwise fault
// on the first read of a missing page, long after Open.
func checkSize(db *bbolt.DB) error {
	info, err := os.Stat(db.Path())
	if err != nil {
		return err
	}
	return db.View(func(tx *bbolt.Tx) error {
		if info.Size() < tx.Size() {
			return fmt.Errorf("file is %d bytes, its pages need %d (truncated?)", info.Size(), tx.Size())
		}
		return nil
	})
}

func createBuckets(db *bbolt.DB, names [][]byte) error {
	return db.Update(func(tx *bbolt.Tx) error {
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
		}
		return nil
	})
}

// View and Update are the only ways in to the file after Open. bbolt
// trusts its pages and panics on a damaged one; that would take Caddy
// down, from a request or from a committer. Here it becomes an error the
// caller's on_store_error policy can handle. bbolt rolls the transaction
// back while the panic unwinds, so its locks are released.
//
// Memory faults are deliberately not recovered here, unlike in Open: a
// fault inside bbolt's Begin leaves its locks held, so recovering would
// trade a crash for a hang. A file truncated under an open store still
// crashes the process, as it would any bbolt user; the next Open refuses it.
//
// Errors are session.ErrClosed for a file closed meanwhile (a call that
// raced Close past the store's closed flag), and otherwise name the file.
func (f *File) View(fn func(*bbolt.Tx) error) error {
	return f.wrap(guard(f.db.View, fn))
}

// Update is View's writing twin: one fsynced write transaction.
func (f *File) Update(fn func(*bbolt.Tx) error) error {
	return f.wrap(guard(f.db.Update, fn))
}

func guard(run func(func(*bbolt.Tx) error) error, fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("file is damaged: %v", r)
		}
	}()
	return run(fn)
}

func (f *File) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return session.ErrClosed
	default:
		return fmt.Errorf("%s: %s: %w", f.name, f.path, err)
	}
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// DB is the bbolt handle, for tests that need a raw transaction.
func (f *File) DB() *bbolt.DB { return f.db }

// Close closes the file. Calls made afterwards return session.ErrClosed.
func (f *File) Close() error { return f.db.Close() }
