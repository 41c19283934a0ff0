package bolt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// openFile opens the bbolt file at path and makes sure it holds our
// buckets. A damaged file is an error, never a crash: bbolt trusts the
// pages it maps, so a truncated file faults (SIGBUS) inside bbolt.Open and
// a scrambled one panics. Faults become panics for this goroutine only, and
// the panic becomes the returned error.
func openFile(path string, timeout time.Duration) (db *bbolt.DB, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: creating the directory for %s: %w", path, err)
	}

	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// After a fault inside bbolt.Open there is no db to close: its
			// descriptor and lock go when the garbage collector finalizes it.
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("bolt: %s is damaged and cannot be read: %v", path, r)
		}
	}()

	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: %s is locked by another open store (waited %s); "+
			"bbolt allows one opener at a time, even within one process", path, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	if err := checkSize(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: %s is damaged: %w", path, err)
	}
	if err := createBuckets(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: preparing %s: %w", path, err)
	}
	return db, nil
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
