package journal

import "github.com/caddy-logout/caddy-logout/session"

// Unwrap returns the backend behind the journal, so that what it does
// beyond revocations (session.GroupsOf) is found through it.
func (s *Store) Unwrap() session.Store { return s.backend }
