package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// Stores and caches outlive a config: on reload the new config provisions
// before the old one is cleaned up, so both hold a reference and the
// backend is opened once (bbolt could not be opened twice anyway) and
// closed when the last config using it lets go.
var (
	storePool = caddy.NewUsagePool() // StoreKey -> *sharedStore
	cachePool = caddy.NewUsagePool() // StoreKey and cache options -> *pooledCache
)

// sharedStore is the one open backend of a StoreKey, and the only layer
// between the caches and that backend:
//   - it opens the backend, in the background when its file is locked at
//     start (until then calls fail fast and on_store_error decides);
//   - it announces a revocation made through any of its caches to all of
//     them (handlers may put caches with different options on one store),
//     and passes on the backend's announcements from other nodes;
//   - it times the calls that reach the backend, for the metrics;
//   - once closed, because the configs using it were replaced, it sends
//     the calls of requests still in flight to the store that replaced it.
//
// Unwrap reaches the backend, so session.As finds its capabilities.
type sharedStore struct {
	key string
	log *zap.Logger

	backend atomic.Pointer[backendRef] // nil until open, and once closed
	closed  atomic.Bool
	stop    chan struct{} // the background open, when the file was locked
	done    chan struct{}

	replacedOnce sync.Once // says once what became of requests in flight after Close

	mu                 sync.Mutex
	unsubscribeBackend func()
	caches             map[*session.Cache]struct{}
	retired            session.CacheStats // counts of caches closed already: counters never go back
	// configs are the configs that used this store, by their context's
	// Done channel: whatever they share with another store's, that store
	// did not replace this one.
	configs map[<-chan struct{}]struct{}
	// lifetime is the longest session_lifetime among them: what the admin
	// API revokes for.
	lifetime time.Duration

	subsMu  sync.RWMutex
	subs    map[uint64]func(session.ID, bool)
	nextSub uint64
}

type backendRef struct{ store session.Store }

// errNotOpenYet is what calls get while the file is still locked.
var errNotOpenYet = fmt.Errorf("session store not open yet: %w", session.ErrLocked)

// errStoreReplaced is what a request still in flight gets from a store
// whose configs are gone when no single store took its place: the flows
// refuse it, whatever on_store_error says.
var errStoreReplaced = fmt.Errorf("the configs using this session store were replaced, and no one store took its place: %w", session.ErrClosed)

// openRetry is how often a locked file is tried again.
const openRetry = time.Second

// acquireStore returns the shared store for sm's key, opening it if no
// config has it yet. The caller holds a reference in storePool.
func acquireStore(ctx caddy.Context, sm StoreModule) (*sharedStore, error) {
	key := sm.StoreKey()
	v, _, err := storePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s := &sharedStore{
			key:     key,
			log:     ctx.Logger().With(zap.String("store", key)),
			caches:  map[*session.Cache]struct{}{},
			configs: map[<-chan struct{}]struct{}{},
			subs:    map[uint64]func(session.ID, bool){},
		}
		b, err := sm.OpenStore(ctx)
		switch {
		case errors.Is(err, session.ErrLocked):
			// Another process holds the file: `caddy validate` next to the
			// serving Caddy, or a restart while the old process exits.
			s.log.Warn("the session store's file is locked by another process; loading anyway and opening it as soon as it is free (expected when this is `caddy validate` next to a running Caddy)", zap.Error(err))
			s.openLater(func() (session.Store, error) { return sm.OpenStore(ctx) })
		case err != nil:
			return nil, err
		default:
			s.setBackend(b)
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*sharedStore), nil
}

func (s *sharedStore) openLater(open func() (session.Store, error)) {
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(openRetry)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			b, err := open()
			if errors.Is(err, session.ErrLocked) {
				continue
			}
			if err != nil {
				s.log.Error("opening the session store failed", zap.Error(err))
				continue
			}
			s.setBackend(b)
			s.log.Info("session store opened")
			return
		}
	}()
}

// setBackend makes b the backend, subscribing once to its announcements.
func (s *sharedStore) setBackend(b session.Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		_ = b.Close()
		return
	}
	if br, ok := b.(session.Broadcaster); ok {
		s.unsubscribeBackend = br.Subscribe(s.announce)
	}
	s.backend.Store(&backendRef{store: b})
}

// Revoke implements session.Store, announcing the revocation to every
// cache on this store.
func (s *sharedStore) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	ref := s.backend.Load()
	if ref == nil {
		r, err := s.standIn()
		if err != nil {
			return err
		}
		return r.Revoke(ctx, id, until)
	}
	start := time.Now()
	err := ref.store.Revoke(ctx, id, until)
	observeStore("revoke", start, err)
	if err != nil {
		if r, ok := s.replacedAfter(err); ok {
			return r.Revoke(ctx, id, until)
		}
		return err
	}
	s.announce(id, false)
	return nil
}

// RevokedUntil implements session.Store.
func (s *sharedStore) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	ref := s.backend.Load()
	if ref == nil {
		r, err := s.standIn()
		if err != nil {
			return time.Time{}, err
		}
		return r.RevokedUntil(ctx, id)
	}
	start := time.Now()
	until, err := ref.store.RevokedUntil(ctx, id)
	observeStore("lookup", start, err)
	if err != nil {
		if r, ok := s.replacedAfter(err); ok {
			return r.RevokedUntil(ctx, id)
		}
	}
	return until, err
}

// standIn answers for a store without a backend: the store that replaced
// it once closed, else nothing yet (the file is still locked).
func (s *sharedStore) standIn() (session.Store, error) {
	if s.closed.Load() {
		return s.replacement()
	}
	return nil, errNotOpenYet
}

// replacedAfter is the replacement for a call that failed because Close
// got to the backend first.
func (s *sharedStore) replacedAfter(err error) (session.Store, bool) {
	if !s.closed.Load() || !errors.Is(err, session.ErrClosed) {
		return nil, false
	}
	r, rerr := s.replacement()
	if rerr != nil {
		return nil, false
	}
	return r, true
}

// replacement finds the store that took this one's place: the one store
// in use by a live config, none of whose configs used this store. (A store
// used by a config that also used this one served alongside it, and did
// not replace it.) With none or several, there is no answer to give.
func (s *sharedStore) replacement() (session.Store, error) {
	s.mu.Lock()
	old := maps.Clone(s.configs)
	s.mu.Unlock()
	var found []*sharedStore
	storePool.Range(func(_, v any) bool {
		if t := v.(*sharedStore); t != s && !t.closed.Load() && t.tookOverFrom(old) {
			found = append(found, t)
		}
		return true
	})
	if len(found) != 1 {
		s.replacedOnce.Do(func() {
			s.log.Warn("requests still in flight on a closed session store are refused: no one store took its place", zap.Int("candidates", len(found)))
		})
		return nil, errStoreReplaced
	}
	s.replacedOnce.Do(func() {
		s.log.Info("requests still in flight on a closed session store go to the store that took its place", zap.String("replacement", found[0].key))
	})
	return found[0], nil
}

// tookOverFrom reports whether a live config uses s and no config in old
// did.
func (s *sharedStore) tookOverFrom(old map[<-chan struct{}]struct{}) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := false
	for c := range s.configs {
		if _, shared := old[c]; shared {
			return false
		}
		live = live || !isDone(c)
	}
	return live
}

// Subscribe implements session.Broadcaster: revocations made through this
// store, and the backend's own announcements from other nodes.
func (s *sharedStore) Subscribe(fn func(session.ID, bool)) func() {
	s.subsMu.Lock()
	n := s.nextSub
	s.nextSub++
	s.subs[n] = fn
	s.subsMu.Unlock()
	return func() {
		s.subsMu.Lock()
		delete(s.subs, n)
		s.subsMu.Unlock()
	}
}

func (s *sharedStore) announce(id session.ID, all bool) {
	s.subsMu.RLock()
	defer s.subsMu.RUnlock()
	for _, fn := range s.subs {
		fn(id, all)
	}
}

// Unwrap returns the backend, or nil while it is not open.
func (s *sharedStore) Unwrap() session.Store {
	if ref := s.backend.Load(); ref != nil {
		return ref.store
	}
	return nil
}

// Close stops opening the backend, or closes it. Requests still in flight
// go to the store that replaced this one from now on.
func (s *sharedStore) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	ref := s.backend.Swap(nil)
	unsubscribe := s.unsubscribeBackend
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	if unsubscribe != nil {
		unsubscribe()
	}
	if ref != nil {
		return ref.store.Close()
	}
	return nil
}

// Destruct implements caddy.Destructor: the last config using this store
// is gone.
func (s *sharedStore) Destruct() error { return s.Close() }

// use records that a config (by its context) uses this store, with its
// session_lifetime. Configs that ended before are forgotten.
func (s *sharedStore) use(ctx caddy.Context, lifetime time.Duration) {
	var done <-chan struct{} // nil: a context that never ends
	if ctx.Context != nil {
		done = ctx.Done()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.DeleteFunc(s.configs, func(c <-chan struct{}, _ struct{}) bool { return isDone(c) })
	s.configs[done] = struct{}{}
	s.lifetime = max(s.lifetime, lifetime)
}

// revokeLifetime is how long the admin API revokes a session for.
func (s *sharedStore) revokeLifetime() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lifetime
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// cacheTotals adds up the caches on this store, those closed already
// included, so the counters only grow.
func (s *sharedStore) cacheTotals() (st session.CacheStats, entries int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st = s.retired
	for c := range s.caches {
		cs := c.Stats()
		st.Hits += cs.Hits
		st.Misses += cs.Misses
		entries += c.Len()
	}
	return st, entries
}

// pooledCache is a cache in cachePool, holding a reference to its store.
type pooledCache struct {
	store *sharedStore
	cache *session.Cache
}

// Destruct implements caddy.Destructor: the last config using this cache
// is gone, so close it and let go of its store.
func (p *pooledCache) Destruct() error {
	p.store.mu.Lock()
	delete(p.store.caches, p.cache)
	cs := p.cache.Stats()
	p.store.retired.Hits += cs.Hits
	p.store.retired.Misses += cs.Misses
	p.store.mu.Unlock()
	p.cache.Close()
	_, err := storePool.Delete(p.store.key)
	return err
}

// acquireCache returns the shared cache for this store and cache options,
// opening the store and creating the cache if no config has them yet, and
// the key of the reference the caller now holds in cachePool. lifetime is
// the config's session_lifetime.
func acquireCache(ctx caddy.Context, sm StoreModule, opts session.CacheOptions, lifetime time.Duration) (string, *session.Cache, error) {
	key := fmt.Sprintf("%s|max=%d|neg=%s", sm.StoreKey(), opts.MaxEntries, opts.NegativeTTL)
	v, _, err := cachePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		s, err := acquireStore(ctx, sm)
		if err != nil {
			return nil, err
		}
		c, err := session.NewCache(s, opts)
		if err != nil {
			_, _ = storePool.Delete(s.key)
			return nil, err
		}
		s.mu.Lock()
		s.caches[c] = struct{}{}
		s.mu.Unlock()
		return &pooledCache{store: s, cache: c}, nil
	})
	if err != nil {
		return "", nil, err
	}
	pc := v.(*pooledCache)
	pc.store.use(ctx, lifetime)
	return key, pc.cache, nil
}

// activeStores lists the stores some config is using, by key, for the
// admin API and metrics.
func activeStores() []*sharedStore {
	var out []*sharedStore
	storePool.Range(func(_, v any) bool {
		out = append(out, v.(*sharedStore))
		return true
	})
	slices.SortFunc(out, func(a, b *sharedStore) int { return strings.Compare(a.key, b.key) })
	return out
}

var (
	_ session.Store       = (*sharedStore)(nil)
	_ session.Broadcaster = (*sharedStore)(nil)
	_ caddy.Destructor    = (*sharedStore)(nil)
	_ caddy.Destructor    = (*pooledCache)(nil)
)
