package caddymodule

import "github.com/caddy-logout/caddy-logout/session"

// The store wrappers hand out what they wrap (the errors.Unwrap idiom), so
// that what a backend does beyond revocations is found through them
// (session.GroupsOf).

// Unwrap returns the pooled backend.
func (p *pooledStore) Unwrap() session.Store { return p.Store }

// Unwrap returns the timed backend.
func (s timedStore) Unwrap() session.Store { return s.Store }

// Unwrap returns the store once it is open, else nil.
func (l *lazyStore) Unwrap() session.Store {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store
}
