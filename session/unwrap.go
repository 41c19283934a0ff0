package session

// A Store that wraps another (the Cache, or the shared handle Caddy's
// configs hold) says so with
//
//	Unwrap() Store
//
// returning the store it wraps, as errors.Unwrap does for errors. What a
// backend can do beyond Store (count its records, report an outage, find
// sessions by owner) is an interface of the backend's own, reached through
// every wrapper with As: wrappers need not know of it.

// Unwrap returns the store s wraps, or nil if s is not a wrapper (or wraps
// nothing yet, such as a backend that has not opened).
func Unwrap(s Store) Store {
	if u, ok := s.(interface{ Unwrap() Store }); ok {
		return u.Unwrap()
	}
	return nil
}

// As finds the first store in s's chain (s, Unwrap(s), and so on) that
// implements T, such as an optional capability of the backend:
//
//	if h, ok := session.As[interface{ Degraded() bool }](cache); ok { ... }
func As[T any](s Store) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		s = Unwrap(s)
	}
	var zero T
	return zero, false
}
