package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-logout/caddy-logout/session"
)

// ownersPool holds one session.Owners per store (by StoreKey), shared by
// every config with identity on that store and across reloads, so that the
// table of sessions this node has recorded survives a reload. Each config
// holding a reference here also holds its store (through its cache).
var ownersPool = caddy.NewUsagePool()

type pooledOwners struct{ owners *session.Owners }

// Destruct implements caddy.Destructor: the last config with identity on
// this store is gone.
func (p *pooledOwners) Destruct() error {
	p.owners.Close()
	return nil
}

// acquireOwners returns the Owners of the store under cache and the key of
// the reference the caller now holds in ownersPool. A backend without
// session.OwnerIndex fails the load (one whose file is still locked is
// asked once it opens).
func acquireOwners(ctx caddy.Context, cache *session.Cache, knownSessions int64) (string, *session.Owners, error) {
	store, ok := session.As[*sharedStore](cache)
	if !ok {
		return "", nil, errors.New("identity: the cache has no shared store") // (cannot happen)
	}
	if store.Unwrap() != nil {
		if _, ok := session.As[session.OwnerIndex](store); !ok {
			return "", nil, errNoOwnerIndex(store.key)
		}
	}
	if knownSessions <= 0 {
		knownSessions = session.DefaultKnownSessions
	}
	v, _, err := ownersPool.LoadOrNew(store.key, func() (caddy.Destructor, error) {
		return &pooledOwners{owners: session.NewOwners(storeOwners{store}, storeRevoker{store}, session.OwnersOptions{
			KnownSessions: int(knownSessions),
			Logger:        ctx.Logger().Named("audit"),
			Observe:       observeRecorded,
		})}, nil
	})
	if err != nil {
		return "", nil, err
	}
	return store.key, v.(*pooledOwners).owners, nil
}

// ownersOf is the Owners of the store with this key, if a config with
// identity uses it.
func ownersOf(key string) (*session.Owners, bool) {
	var found *session.Owners
	ownersPool.Range(func(k, v any) bool {
		if k == key {
			found = v.(*pooledOwners).owners
			return false
		}
		return true
	})
	return found, found != nil
}

// storeOwners is the backend's OwnerIndex, reached through the shared store
// on each call: a backend that opened late (its file was locked) is found
// once it opens.
type storeOwners struct{ store *sharedStore }

func (s storeOwners) index() (session.OwnerIndex, error) {
	if s.store.Unwrap() == nil {
		if s.store.closed.Load() {
			return nil, session.ErrClosed
		}
		return nil, errNotOpenYet
	}
	x, ok := session.As[session.OwnerIndex](s.store)
	if !ok {
		return nil, errNoOwnerIndex(s.store.key)
	}
	return x, nil
}

func (s storeOwners) RecordOwners(ctx context.Context, batch []session.Sighting, maxPerOwner int) ([]session.Recorded, error) {
	x, err := s.index()
	if err != nil {
		return nil, err
	}
	return x.RecordOwners(ctx, batch, maxPerOwner)
}

func (s storeOwners) OwnerOf(ctx context.Context, id session.ID) (session.OwnerRecord, bool, error) {
	x, err := s.index()
	if err != nil {
		return session.OwnerRecord{}, false, err
	}
	return x.OwnerOf(ctx, id)
}

func (s storeOwners) SessionsOf(ctx context.Context, key session.OwnerKey) ([]session.OwnerRecord, error) {
	x, err := s.index()
	if err != nil {
		return nil, err
	}
	return x.SessionsOf(ctx, key)
}

func (s storeOwners) MarkOwnerRevoked(ctx context.Context, key session.OwnerKey, mark session.OwnerMark) ([]session.OwnerRecord, error) {
	x, err := s.index()
	if err != nil {
		return nil, err
	}
	return x.MarkOwnerRevoked(ctx, key, mark)
}

// storeRevoker revokes through the shared store: an ordinary revocation,
// announced to every cache on the store (and, with redis, to every node).
type storeRevoker struct{ store *sharedStore }

func (s storeRevoker) Revoke(ctx context.Context, id session.ID, until time.Time) error {
	return s.store.Revoke(ctx, id, until)
}

func (s storeRevoker) Revoked(ctx context.Context, id session.ID) (bool, error) {
	until, err := s.store.RevokedUntil(ctx, id)
	return !until.IsZero(), err
}

var (
	_ session.OwnerIndex = storeOwners{}
	_ session.Revoker    = storeRevoker{}
	_ caddy.Destructor   = (*pooledOwners)(nil)
)
