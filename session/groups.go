package session

import (
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// A session of a legacy app is often several cookies that the app sets
// together (WordPress: an auth cookie at /wp-admin and a logged-in cookie
// at /; DokuWiki: a PHP session and a remember-me cookie). A logout request
// may carry only some of them, so the gateway learns which credentials
// belong together when the app sets them, and a logout revokes them all.

// GroupMember is one credential of a session that has several.
type GroupMember struct {
	ID ID
	// Name is the cookie's name, so that a logout can delete a cookie the
	// browser did not send it (it lives under another Path). Not secret.
	Name string
}

// Groups is implemented by stores that remember which credentials make up
// one session. Every node sharing the store sees the same groups. It is
// reached through the wrappers around a store with As[Groups].
type Groups interface {
	// JoinGroup records that members belong together, merged with every
	// group one of them is in already, until the given time. A group keeps
	// at most MaxGroupMembers members, the most recently joined.
	JoinGroup(ctx context.Context, members []GroupMember, until time.Time) error
	// Group returns the members of the group id is in (id among them), or
	// nil when it is in none.
	Group(ctx context.Context, id ID) ([]GroupMember, error)
}

// MaxGroupMembers bounds a group: a browser's session cookies, and the
// ones that came before them, are a handful, not hundreds.
const MaxGroupMembers = 32

// maxMemberName bounds a member's name (cookie names are short).
const maxMemberName = 255

// MergeGroup is the union of groups and add, each ID once with its latest
// name, add's members last, cut to the newest MaxGroupMembers. Backends
// use it to merge what they hold with what joins.
func MergeGroup(add []GroupMember, groups ...[]GroupMember) []GroupMember {
	var out []GroupMember
	put := func(m GroupMember) {
		for i := range out {
			if out[i].ID == m.ID {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, m)
	}
	for _, g := range groups {
		for _, m := range g {
			put(m)
		}
	}
	for _, m := range add {
		if len(m.Name) > maxMemberName {
			m.Name = m.Name[:maxMemberName]
		}
		put(m)
	}
	if len(out) > MaxGroupMembers {
		out = out[len(out)-MaxGroupMembers:]
	}
	return out
}

// EncodeGroup is a group record as backends keep it: until (unix
// nanoseconds), then each member's ID, name length and name.
func EncodeGroup(members []GroupMember, until time.Time) []byte {
	n := 8
	for _, m := range members {
		n += len(m.ID) + 1 + len(m.Name)
	}
	b := make([]byte, 8, n)
	binary.BigEndian.PutUint64(b, uint64(until.UnixNano()))
	for _, m := range members {
		b = append(b, m.ID[:]...)
		b = append(b, byte(len(m.Name)))
		b = append(b, m.Name...)
	}
	return b
}

var errBadGroup = errors.New("malformed group record")

// DecodeGroup reads EncodeGroup's form.
func DecodeGroup(b []byte) ([]GroupMember, time.Time, error) {
	if len(b) < 8 {
		return nil, time.Time{}, errBadGroup
	}
	until := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	b = b[8:]
	var members []GroupMember
	for len(b) > 0 {
		var m GroupMember
		if len(b) < len(m.ID)+1 {
			return nil, time.Time{}, errBadGroup
		}
		copy(m.ID[:], b)
		n := int(b[len(m.ID)])
		b = b[len(m.ID)+1:]
		if len(b) < n {
			return nil, time.Time{}, errBadGroup
		}
		m.Name = string(b[:n])
		b = b[n:]
		members = append(members, m)
	}
	return members, until, nil
}
