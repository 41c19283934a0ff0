package caddymodule

import (
	"context"
	"errors"
	"fmt"
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
	storePool = caddy.NewUsagePool()
	cachePool = caddy.NewUsagePool()
)

// pooledStore is a backend in storePool. Several caches can sit on one
// store (configs with different cache settings), so a revocation made
// through one of them is announced to all: none may keep a stale "not
// revoked" answer on the node that made it.
type pooledStore struct {
	session.Store
	mu   sync.RWMutex
	subs map[int]func(session.ID, bool)
	next int
}

// Revoke implements session.Store, announcing the revocation locally.
func (p *pooledStore) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	if err := p.Store.Revoke(ctx, id, until); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, fn := range p.subs {
		fn(id, false)
	}
	return nil
}

// Subscribe implements session.Broadcaster: local revocations, and the
// backend's own announcements from other nodes when it has them.
func (p *pooledStore) Subscribe(fn func(session.ID, bool)) func() {
	p.mu.Lock()
	if p.subs == nil {
		p.subs = map[int]func(session.ID, bool){}
	}
	n := p.next
	p.next++
	p.subs[n] = fn
	p.mu.Unlock()
	unsubscribeBackend := func() {}
	if b, ok := p.Store.(session.Broadcaster); ok {
		unsubscribeBackend = b.Subscribe(fn)
	}
	return func() {
		p.mu.Lock()
		delete(p.subs, n)
		p.mu.Unlock()
		unsubscribeBackend()
	}
}

// Destruct implements caddy.Destructor.
func (p *pooledStore) Destruct() error { return p.Close() }

// pooledCache is a cache in cachePool, holding a reference to its store.
type pooledCache struct {
	storeKey string
	cache    *session.Cache
	// lifetime is the longest session_lifetime of the configs using this
	// cache: what the admin API revokes for.
	lifetime atomic.Int64
}

// Destruct implements caddy.Destructor: the last config using this cache
// is gone, so close it and let go of its store.
func (p *pooledCache) Destruct() error {
	p.cache.Close()
	_, err := storePool.Delete(p.storeKey)
	return err
}

// sharedCache is one config's reference to a pooled cache.
type sharedCache struct {
	key   string
	cache *session.Cache
	once  sync.Once
}

// release drops this config's reference.
func (s *sharedCache) release() error {
	var err error
	s.once.Do(func() { _, err = cachePool.Delete(s.key) })
	return err
}

// acquireCache returns the shared cache for this store and cache options,
// opening the store and creating the cache if no config has them yet.
// lifetime is the config's session_lifetime.
func acquireCache(ctx caddy.Context, sm StoreModule, opts session.CacheOptions, lifetime time.Duration) (*sharedCache, error) {
	storeKey := sm.StoreKey()
	key := fmt.Sprintf("%s|max=%d|neg=%s", storeKey, opts.MaxEntries, opts.NegativeTTL)
	v, _, err := cachePool.LoadOrNew(key, func() (caddy.Destructor, error) {
		sv, _, err := storePool.LoadOrNew(storeKey, func() (caddy.Destructor, error) {
			s, err := sm.OpenStore(ctx)
			if errors.Is(err, session.ErrLocked) {
				// Another process holds the file: `caddy validate` next to the
				// serving Caddy, or a restart while the old process exits.
				log := ctx.Logger().With(zap.String("store", storeKey))
				log.Warn("the session store's file is locked by another process; loading anyway and opening it as soon as it is free (expected when this is `caddy validate` next to a running Caddy)", zap.Error(err))
				s, err = newLazyStore(func() (session.Store, error) { return sm.OpenStore(ctx) }, log), nil
			}
			if err != nil {
				return nil, err
			}
			return &pooledStore{Store: s}, nil
		})
		if err != nil {
			return nil, err
		}
		c, err := session.NewCache(timedStore{sv.(*pooledStore)}, opts)
		if err != nil {
			_, _ = storePool.Delete(storeKey)
			return nil, err
		}
		return &pooledCache{storeKey: storeKey, cache: c}, nil
	})
	if err != nil {
		return nil, err
	}
	pc := v.(*pooledCache)
	for {
		old := pc.lifetime.Load()
		if int64(lifetime) <= old || pc.lifetime.CompareAndSwap(old, int64(lifetime)) {
			break
		}
	}
	return &sharedCache{key: key, cache: pc.cache}, nil
}

// activeCaches lists the caches some config is using, for the admin API
// and metrics.
func activeCaches() []*pooledCache {
	var out []*pooledCache
	cachePool.Range(func(_, v any) bool {
		out = append(out, v.(*pooledCache))
		return true
	})
	return out
}
