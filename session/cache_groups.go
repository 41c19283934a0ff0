package session

import (
	"context"
	"errors"
	"time"
)

// ErrNoGroups is returned by a Cache whose store keeps no groups.
var ErrNoGroups = errors.New("the session store keeps no groups of credentials")

// The Cache passes groups straight to its store: they are read only at
// logout and written only when an app sets cookies, never on the guard's
// path. The store is looked up at each call, so a store opened late (a
// locked file) has them once it is open.

// JoinGroup implements Groups, or fails with ErrNoGroups.
func (c *Cache) JoinGroup(ctx context.Context, members []GroupMember, until time.Time) error {
	g, ok := As[Groups](c.store)
	if !ok {
		return ErrNoGroups
	}
	return g.JoinGroup(ctx, members, until)
}

// Group implements Groups, or fails with ErrNoGroups.
func (c *Cache) Group(ctx context.Context, id ID) ([]GroupMember, error) {
	g, ok := As[Groups](c.store)
	if !ok {
		return nil, ErrNoGroups
	}
	return g.Group(ctx, id)
}
