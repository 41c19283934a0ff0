package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// RunGroups runs the conformance suite of session.Groups. open must return
// a fresh, empty store each time (Close is called when the sub-test ends).
func RunGroups(t *testing.T, open func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s session.Store, g session.Groups)
	}{
		{"JoinGroup_ThenGroup_EveryMemberSeesAll", testGroupJoinRead},
		{"Group_UnknownID_Nil", testGroupUnknown},
		{"JoinGroup_Overlapping_Merges", testGroupMerge},
		{"JoinGroup_Again_Idempotent_LatestNameKept", testGroupAgain},
		{"JoinGroup_Bounded_NewestKept", testGroupBounded},
		{"Group_AfterExpiry_Nil", testGroupExpiry},
		{"Groups_AfterClose_Fail", testGroupAfterClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			g, ok := session.As[session.Groups](s)
			if !ok {
				t.Fatalf("%T keeps no groups", s)
			}
			tc.test(t, s, g)
		})
	}
}

func member(t *testing.T, n int, name string) session.GroupMember {
	return session.GroupMember{ID: idFor(t, n), Name: name}
}

func mustJoin(t *testing.T, g session.Groups, until time.Time, ms ...session.GroupMember) {
	t.Helper()
	if err := g.JoinGroup(context.Background(), ms, until); err != nil {
		t.Fatalf("JoinGroup: %v", err)
	}
}

func groupOf(t *testing.T, g session.Groups, id session.ID) []session.GroupMember {
	t.Helper()
	ms, err := g.Group(context.Background(), id)
	if err != nil {
		t.Fatalf("Group: %v", err)
	}
	return ms
}

// wantGroup checks that id's group is exactly want, in any order.
func wantGroup(t *testing.T, g session.Groups, id session.ID, want ...session.GroupMember) {
	t.Helper()
	got := groupOf(t, g, id)
	key := func(ms []session.GroupMember) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID.Short()+"/"+m.Name)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(key(got), key(want)) {
		t.Errorf("Group(%s) = %v, want %v", id.Short(), key(got), key(want))
	}
}

func testGroupJoinRead(t *testing.T, _ session.Store, g session.Groups) {
	auth, logged := member(t, 1, "wordpress_5d41"), member(t, 2, "wordpress_logged_in_5d41")
	mustJoin(t, g, time.Now().Add(time.Hour), auth, logged)
	wantGroup(t, g, auth.ID, auth, logged)
	wantGroup(t, g, logged.ID, auth, logged)
}

func testGroupUnknown(t *testing.T, _ session.Store, g session.Groups) {
	if ms := groupOf(t, g, idFor(t, 1)); ms != nil {
		t.Errorf("Group of an unknown ID = %v, want nil", ms)
	}
}

func testGroupMerge(t *testing.T, _ session.Store, g session.Groups) {
	// A session cookie from the first visit, then the login's cookies.
	a, b, c := member(t, 1, "DokuWiki"), member(t, 2, "DW1"), member(t, 3, "DW2")
	until := time.Now().Add(time.Hour)
	mustJoin(t, g, until, a, b)
	mustJoin(t, g, until, b, c)
	for _, m := range []session.GroupMember{a, b, c} {
		wantGroup(t, g, m.ID, a, b, c)
	}
	// Another session stays apart.
	d, e := member(t, 4, "DokuWiki"), member(t, 5, "DW1")
	mustJoin(t, g, until, d, e)
	wantGroup(t, g, d.ID, d, e)
	wantGroup(t, g, a.ID, a, b, c)
}

func testGroupAgain(t *testing.T, _ session.Store, g session.Groups) {
	a, b := member(t, 1, "sid"), member(t, 2, "remember")
	until := time.Now().Add(time.Hour)
	mustJoin(t, g, until, a, b)
	b.Name = "Remember"
	mustJoin(t, g, until, a, b)
	wantGroup(t, g, a.ID, a, b)
}

func testGroupBounded(t *testing.T, _ session.Store, g session.Groups) {
	until := time.Now().Add(time.Hour)
	first := member(t, 0, "c0")
	prev := first
	for i := 1; i <= session.MaxGroupMembers+5; i++ {
		next := member(t, i, fmt.Sprint("c", i))
		mustJoin(t, g, until, prev, next)
		prev = next
	}
	got := groupOf(t, g, prev.ID)
	if len(got) != session.MaxGroupMembers {
		t.Fatalf("group of %d members, want at most %d", len(got), session.MaxGroupMembers)
	}
	if slices.ContainsFunc(got, func(m session.GroupMember) bool { return m.ID == first.ID }) {
		t.Error("the oldest member is kept over the newest")
	}
}

func testGroupExpiry(t *testing.T, _ session.Store, g session.Groups) {
	a, b := member(t, 1, "sid"), member(t, 2, "remember")
	mustJoin(t, g, time.Now().Add(expiryDelay), a, b)
	wantGroup(t, g, a.ID, a, b)
	time.Sleep(expiryDelay + 100*time.Millisecond)
	if ms := groupOf(t, g, a.ID); ms != nil {
		t.Errorf("Group after its expiry = %v, want nil", ms)
	}
	// Joining with an until in the past records nothing.
	c, d := member(t, 3, "sid"), member(t, 4, "remember")
	mustJoin(t, g, time.Now().Add(-time.Second), c, d)
	if ms := groupOf(t, g, c.ID); ms != nil {
		t.Errorf("a group joined in the past = %v, want nil", ms)
	}
}

func testGroupAfterClose(t *testing.T, s session.Store, g session.Groups) {
	_ = s.Close()
	a, b := member(t, 1, "sid"), member(t, 2, "remember")
	if err := g.JoinGroup(context.Background(), []session.GroupMember{a, b}, time.Now().Add(time.Hour)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("JoinGroup after Close: %v, want ErrClosed", err)
	}
	if _, err := g.Group(context.Background(), a.ID); !errors.Is(err, session.ErrClosed) {
		t.Errorf("Group after Close: %v, want ErrClosed", err)
	}
}
