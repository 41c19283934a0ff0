package caddymodule

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/bolt"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

func init() {
	caddy.RegisterModule(MemoryStore{})
	caddy.RegisterModule(BoltStore{})
}

// StoreModule is a module in the logout.stores namespace: it opens the
// backend that remembers revocations. A third party adds a backend by
// registering one (and building Caddy with it through xcaddy). Beyond
// session.Store, a backend may count its records (Len() (int, error), in
// the admin API's status) and report an outage (StoreHealth, in the status
// and the metrics); one that wraps another store offers it with
// Unwrap() session.Store, so session.As finds what the inner one can do.
type StoreModule interface {
	caddy.Module
	// StoreKey identifies the backend: configs whose stores have the same
	// key share one open store, across reloads and across handlers.
	StoreKey() string
	// OpenStore opens the backend. It is called once per key, while no
	// config is using that key yet.
	OpenStore(ctx caddy.Context) (session.Store, error)
}

// loadStoreModule loads the configured store, bolt by default.
func (h *Handler) loadStoreModule(ctx caddy.Context) (StoreModule, error) {
	if h.StoreRaw == nil {
		return &BoltStore{}, nil
	}
	mod, err := ctx.LoadModule(h, "StoreRaw")
	if err != nil {
		return nil, fmt.Errorf("loading store: %w", err)
	}
	sm, ok := mod.(StoreModule)
	if !ok {
		return nil, fmt.Errorf("module %T is not a store", mod)
	}
	return sm, nil
}

// MemoryStore keeps revocations in memory: they survive config reloads but
// not a restart. For tests and demos.
type MemoryStore struct{}

// CaddyModule returns the Caddy module information.
func (MemoryStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.memory", New: func() caddy.Module { return new(MemoryStore) }}
}

// StoreKey implements StoreModule: one memory store per process.
func (MemoryStore) StoreKey() string { return "memory" }

// OpenStore implements StoreModule.
func (MemoryStore) OpenStore(ctx caddy.Context) (session.Store, error) {
	ctx.Logger().Warn("the memory store keeps nothing across restarts; revoked sessions work again after one. Use the default bolt store or redis in production")
	return memory.New(), nil
}

// UnmarshalCaddyfile reads `memory`, which takes no options.
func (MemoryStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend name
	if d.NextArg() || d.NextBlock(d.Nesting()) {
		return d.Errf("store memory takes no options")
	}
	return nil
}

// BoltStore keeps revocations in a bbolt file: the default, with zero
// setup, surviving restarts. One Caddy node only (use redis for several).
type BoltStore struct {
	// File path. Default: logout/sessions.db in Caddy's data directory.
	Path string `json:"path,omitempty"`
	// The most revocations held in memory for lookups (40-70 bytes
	// each); past it, lookups read the file. Default: 10000000.
	ViewLimit int `json:"view_limit,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (BoltStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.bolt", New: func() caddy.Module { return new(BoltStore) }}
}

func (b *BoltStore) path() string {
	if b.Path == "" {
		return filepath.Join(caddy.AppDataDir(), "logout", "sessions.db")
	}
	if abs, err := filepath.Abs(b.Path); err == nil {
		return abs
	}
	return b.Path
}

// StoreKey implements StoreModule: one open store per file (bbolt locks
// it exclusively, even within one process).
func (b *BoltStore) StoreKey() string { return "bolt:" + b.path() }

// OpenStore implements StoreModule.
func (b *BoltStore) OpenStore(ctx caddy.Context) (session.Store, error) {
	if err := checkViewLimit(b.ViewLimit); err != nil {
		return nil, fmt.Errorf("bolt store: %w", err)
	}
	s, err := bolt.Open(bolt.Options{Path: b.path(), OpenTimeout: 5 * time.Second, ViewLimit: b.ViewLimit, Logger: ctx.Logger()})
	if err != nil {
		return nil, fmt.Errorf("bolt store: %w", err)
	}
	return s, nil
}

// UnmarshalCaddyfile reads
//
//	bolt [<path>] [{
//	    view_limit <n>
//	}]
//
// after the store keyword.
func (b *BoltStore) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the backend name
	if d.NextArg() {
		b.Path = d.Val()
	}
	if d.NextArg() {
		return d.Errf("store bolt takes at most a file path (got %q too)", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch option := d.Val(); option {
		case "view_limit":
			n, err := viewLimitArg(d)
			if err != nil {
				return err
			}
			b.ViewLimit = n
		default:
			return d.Errf("unrecognized bolt option %q", option)
		}
	}
	return nil
}

// Interface guards
var (
	_ StoreModule = (*MemoryStore)(nil)
	_ StoreModule = (*BoltStore)(nil)

	_ caddyfile.Unmarshaler = (*MemoryStore)(nil)
	_ caddyfile.Unmarshaler = (*BoltStore)(nil)
)
