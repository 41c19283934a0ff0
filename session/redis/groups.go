package redis

import (
	"context"
	"errors"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/caddy-logout/caddy-logout/session"
)

// Groups of credentials (session.Groups): every member's key
// <prefix>group:<ID> holds the whole group (session.EncodeGroup) with a
// Redis expiry at its end, so a logout on any node finds the group from
// whichever credential it carries with one GET. Joining reads the members'
// groups and writes the merged one back to every member, pipelined (Redis
// Cluster splits the pipeline by node). Two logins joining the same
// members at once may each miss the other's newest member; a group only
// ever grows, and a login's own members always end up together.

// GroupKey is the Redis key of the group id is in.
func (s *Store) GroupKey(id session.ID) string { return s.prefix + "group:" + id.String() }

// JoinGroup implements session.Groups.
func (s *Store) JoinGroup(ctx context.Context, members []session.GroupMember, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return session.ErrClosed
	}
	now := s.now()
	if !until.After(now) || len(members) == 0 {
		return nil
	}
	gets := make([]*goredis.StringCmd, len(members))
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, m := range members {
			gets[i] = p.Get(ctx, s.GroupKey(m.ID))
		}
		return nil
	})
	var existing [][]session.GroupMember
	old := map[session.ID]bool{}
	for _, g := range gets {
		v, err := g.Bytes()
		if errors.Is(err, goredis.Nil) {
			continue
		}
		if err != nil {
			return s.fail(ctx, err)
		}
		ms, u, err := session.DecodeGroup(v)
		if err != nil || !u.After(now) {
			continue // someone else's value, or expired: overwritten below
		}
		existing = append(existing, ms)
		if u.After(until) {
			until = u
		}
		for _, m := range ms {
			old[m.ID] = true
		}
	}
	merged := session.MergeGroup(members, existing...)
	rec := session.EncodeGroup(merged, until)
	cmds, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, m := range merged {
			delete(old, m.ID)
			p.Set(ctx, s.GroupKey(m.ID), rec, max(until.Sub(now), time.Millisecond))
		}
		for id := range old { // cut off by MaxGroupMembers
			p.Del(ctx, s.GroupKey(id))
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, err)
	}
	for _, c := range cmds {
		if err := c.Err(); err != nil {
			return s.fail(ctx, err)
		}
	}
	return nil
}

// Group implements session.Groups.
func (s *Store) Group(ctx context.Context, id session.ID) ([]session.GroupMember, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, session.ErrClosed
	}
	v, err := s.client.Get(ctx, s.GroupKey(id)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	ms, until, err := session.DecodeGroup(v)
	if err != nil || !until.After(s.now()) {
		return nil, nil
	}
	return ms, nil
}

var _ session.Groups = (*Store)(nil)
