package bolt

import (
	"fmt"

	bbolt "go.etcd.io/bbolt"
)

// view and update are the only ways in to the file after Open. bbolt
// trusts its pages and panics on a damaged one; that would take Caddy
// down, from a request or from the committer. Here it becomes an error the
// caller's on_store_error policy can handle. bbolt rolls the transaction
// back while the panic unwinds, so its locks are released.
//
// Memory faults are deliberately not recovered here, unlike in Open: a
// fault inside bbolt's Begin leaves its locks held, so recovering would
// trade a crash for a hang. A file truncated under an open store still
// crashes the process, as it would any bbolt user; the next Open refuses it.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer recoverDamage(&err)
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bbolt.Tx) error) (err error) {
	defer recoverDamage(&err)
	return s.db.Update(fn)
}

func recoverDamage(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("file is damaged: %v", r)
	}
}
