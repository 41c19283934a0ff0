package session

import (
	"context"
	"errors"
	"time"
)

// Store remembers revoked sessions. Implementations live in subpackages
// (memory, bolt, redis); the Cache wraps any of them.
//
// A Store must be safe for concurrent use and must fail safely (return
// ErrClosed, never panic) when used after Close, because on a Caddy config
// reload old requests may still be running when the old config lets go.
type Store interface {
	// Revoke records that id is revoked until the given time, after which
	// the record may be forgotten (the session would have expired anyway).
	// Revoking an ID again keeps the later of the two times. Revoke returns
	// only once the record is durable for this backend.
	Revoke(ctx context.Context, id ID, until time.Time) error

	// RevokedUntil reports until when id is revoked. The zero Time means it
	// is not revoked (or its record has expired).
	RevokedUntil(ctx context.Context, id ID) (time.Time, error)

	// Close releases the backend's resources.
	Close() error
}

// Broadcaster is implemented by stores that learn of revocations made by
// other nodes (for example over Redis pub/sub). The Cache subscribes so
// that no other node keeps believing a stale "not revoked" answer.
type Broadcaster interface {
	// Subscribe registers fn to be called with each ID revoked elsewhere,
	// and with all=true whenever the store may have missed some (after a
	// lost connection), in which case every "not revoked" answer is suspect.
	// The returned function unsubscribes.
	Subscribe(fn func(id ID, all bool)) (unsubscribe func())
}

// LocalView is implemented by stores that keep a copy of every revocation
// in memory (the redis store's view of Redis). The Cache asks it first:
// while it is current, it answers "not revoked" without I/O.
type LocalView interface {
	// ViewLookup reports, from memory and without allocating, until when
	// id is revoked as far as the view knows (zero if it does not hold
	// it), and whether the view is current: then an ID it does not hold
	// is not revoked. A revocation it holds is one, current or not.
	ViewLookup(id ID) (until time.Time, current bool)
}

// ViewStatus is the state of a LocalView, for metrics and the admin API.
type ViewStatus struct {
	// Revocations held in memory (expired ones until the next sweep).
	Revocations int `json:"revocations"`
	// Limit is the most it holds (the store's view_limit).
	Limit int `json:"limit"`
	// Current: a session the view does not hold is not revoked.
	Current bool `json:"current"`
	// Full: it dropped revocations at its limit (not current until it has
	// room again and has reloaded).
	Full bool `json:"full"`
	// Dropped counts revocations not held because the view was full.
	Dropped uint64 `json:"dropped"`
	// Reloads counts full loads from a remote store's records (the redis
	// store's): the first one, and one after each gap in its log.
	Reloads uint64 `json:"reloads"`
	// CaughtUp counts the times a remote store's log reader caught up
	// after connecting: 1 after the first, one more after each reconnect.
	// It is counted after the reconnect subscribers have run.
	CaughtUp uint64 `json:"caught_up"`
}

// ViewReporter is implemented by stores with a LocalView, to report it.
type ViewReporter interface{ ViewStatus() ViewStatus }

// ErrClosed is returned by a Store or Cache used after Close.
var ErrClosed = errors.New("session store is closed")

// ErrLocked is wrapped by the error of opening a store whose file another
// process (or another open store in this one) holds locked, such as a bolt
// file or a journal in use by a running Caddy. Test with errors.Is.
var ErrLocked = errors.New("the store's file is locked by another process or store")

var errBadID = errors.New("session ID must be 64 hex characters")
