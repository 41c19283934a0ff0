package bolt

import (
	"fmt"
	"runtime/debug"

	bbolt "go.etcd.io/bbolt"
)

// view and update are the only ways in to the file after Open. bbolt
// trusts its pages: a damaged page makes it panic, and a file truncated
// under it makes a read fault (SIGBUS). Either would take Caddy down, from
// a request or from the committer; here both become an error, which the
// caller's on_store_error policy can handle. bbolt itself rolls the
// transaction back when it panics, so its locks are released.
func (s *Store) view(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverDamage(&err)
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bbolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer recoverDamage(&err)
	return s.db.Update(fn)
}

func recoverDamage(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("file is damaged: %v", r)
	}
}
