package bolt

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
)

// The file holds boltfile's two buckets, records (ID -> expiry) and the
// expiry index (expiry || ID), the session owners' four (owners.go) and the
// groups of credentials (groups.go).

// openFile opens the bbolt file at path; a damaged file is an error, never
// a crash (see boltfile.Open).
func openFile(path string, timeout time.Duration) (*boltfile.File, error) {
	f, err := boltfile.Open(boltfile.Options{Name: "bolt", Path: path, Timeout: timeout, Buckets: append([][]byte{groupsBucket}, ownerBuckets...)})
	if errors.Is(err, boltfile.ErrLockTimeout) {
		return nil, fmt.Errorf("bolt: %s is locked by another open store (waited %s); "+
			"bbolt allows one opener at a time, even within one process: %w", path, timeout, session.ErrLocked)
	}
	return f, err
}
