package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// RunOwners is the conformance suite of session.OwnerIndex, for backends
// that record session owners:
//
//	func TestOwners(t *testing.T) {
//		storetest.RunOwners(t, func(t *testing.T) session.Store { return memory.New() })
//	}
//
// open follows Run's rules, and its store must implement session.OwnerIndex.
func RunOwners(t *testing.T, open func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, x session.OwnerIndex)
	}{
		{"Record_ThenOwnerOf_ReturnsRecord", testRecordThenOwnerOf},
		{"OwnerOf_Unknown_ReturnsFalse", testOwnerOfUnknown},
		{"SessionsOf_EachKeyKind_ListsItsSessionsOldestFirst", testSessionsOfKinds},
		{"Record_Again_WidensTimesKeepsConfirmed", testRecordAgain},
		{"Record_AnotherOwner_MovesTheSession", testOwnerChange},
		{"Mark_ThenLateRecord_SeenBefore_MustRevoke", testMarkThenLateRecord},
		{"Mark_ThenRecord_SeenAfter_IsANewLogin", testMarkThenNewLogin},
		{"Mark_Except_SparesThatSession", testMarkExcept},
		{"Mark_OtherOwner_DoesNotCover", testMarkOtherOwner},
		{"Mark_ReturnsTheRecordedSessions", testMarkReturnsSessions},
		{"Mark_Later_ReplacesEarlier", testMarkReplaces},
		{"Cap_EvictsOldest_ClaimedBeforeConfirmed", testCap},
		{"Record_AfterExpiry_IsForgotten", testOwnerExpiry},
		{"Mark_AfterItsUntil_NoLongerCovers", testMarkExpiry},
		{"Record_Batch_AnswersInOrder", testBatch},
		{"Record_InvalidOwner_IsNotRecorded", testInvalidOwner},
		{"Race_MarkAndRecords_NoSessionSeenBeforeEscapes", testMarkRace},
		{"AfterClose_ReturnsErrClosed", testOwnersAfterClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			x, ok := s.(session.OwnerIndex)
			if !ok {
				t.Fatalf("%T does not implement session.OwnerIndex", s)
			}
			tc.test(t, x)
		})
	}
}

// subjectFor gives each sub-test its own subjects, so a backend shared
// between sub-tests (one Redis server) cannot leak state between them.
func subjectFor(t *testing.T, name string) string {
	return strings.ReplaceAll(t.Name(), "/", ":") + "/" + name
}

// sighting is a sighting of session n of owner, seen at seen, kept an hour.
func sighting(t *testing.T, n int, owner session.Owner, seen time.Time, confirmed bool) session.Sighting {
	return session.Sighting{ID: idFor(t, n), Owner: owner, Seen: seen, Since: seen, Confirmed: confirmed, Until: seen.Add(time.Hour)}
}

func mustRecord(t *testing.T, x session.OwnerIndex, maxPerOwner int, batch ...session.Sighting) []session.Recorded {
	t.Helper()
	res, err := x.RecordOwners(context.Background(), batch, maxPerOwner)
	if err != nil {
		t.Fatalf("RecordOwners: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("RecordOwners answered %d results for %d sightings", len(res), len(batch))
	}
	return res
}

func mustSessions(t *testing.T, x session.OwnerIndex, key session.OwnerKey) []session.OwnerRecord {
	t.Helper()
	recs, err := x.SessionsOf(context.Background(), key)
	if err != nil {
		t.Fatalf("SessionsOf(%s): %v", key, err)
	}
	return recs
}

func mustMark(t *testing.T, x session.OwnerIndex, key session.OwnerKey, mark session.OwnerMark) []session.OwnerRecord {
	t.Helper()
	recs, err := x.MarkOwnerRevoked(context.Background(), key, mark)
	if err != nil {
		t.Fatalf("MarkOwnerRevoked(%s): %v", key, err)
	}
	return recs
}

func idsOf(recs []session.OwnerRecord) []session.ID {
	out := make([]session.ID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func wantIDs(t *testing.T, what string, got []session.ID, want ...session.ID) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %s, want %s", what, shorts(got), shorts(want))
	}
}

func shorts(ids []session.ID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.Short()
	}
	return "[" + strings.Join(s, " ") + "]"
}

func testRecordThenOwnerOf(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Issuer: "https://idp.example", Subject: subjectFor(t, "alice"), SessionID: "sid-1"}
	seen := time.Now()
	sg := sighting(t, 0, owner, seen, true)
	sg.Since = seen.Add(-time.Minute) // an ID token's auth_time
	if res := mustRecord(t, x, 10, sg); res[0].Revoke || len(res[0].Evicted) != 0 {
		t.Fatalf("first record answered %+v, want nothing to revoke", res[0])
	}
	rec, ok, err := x.OwnerOf(context.Background(), sg.ID)
	if err != nil || !ok {
		t.Fatalf("OwnerOf = %v, %v", ok, err)
	}
	if rec.ID != sg.ID || rec.Owner != owner || !rec.Confirmed {
		t.Fatalf("OwnerOf = %+v, want %s owned by %+v, confirmed", rec, sg.ID.Short(), owner)
	}
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{{"FirstSeen", rec.FirstSeen, seen}, {"LastSeen", rec.LastSeen, seen}, {"Since", rec.Since, sg.Since}, {"Until", rec.Until, sg.Until}} {
		if !sameInstant(c.got, c.want) {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
}

func testOwnerOfUnknown(t *testing.T, x session.OwnerIndex) {
	if _, ok, err := x.OwnerOf(context.Background(), idFor(t, 0)); ok || err != nil {
		t.Fatalf("OwnerOf(unknown) = %v, %v; want false, nil", ok, err)
	}
	if recs := mustSessions(t, x, session.BySubject(subjectFor(t, "nobody"))); len(recs) != 0 {
		t.Fatalf("SessionsOf(unknown subject) = %d records", len(recs))
	}
}

func testSessionsOfKinds(t *testing.T, x session.OwnerIndex) {
	sub := subjectFor(t, "alice")
	now := time.Now()
	a := session.Owner{Issuer: "https://a.example", Subject: sub, SessionID: "s1"}
	b := session.Owner{Issuer: "https://b.example", Subject: sub, SessionID: "s1"}
	other := session.Owner{Issuer: "https://a.example", Subject: subjectFor(t, "bob"), SessionID: "s2"}
	mustRecord(t, x, 10,
		sighting(t, 2, a, now.Add(2*time.Second), true), // same IdP session, newer
		sighting(t, 0, a, now, true),
		sighting(t, 1, b, now.Add(time.Second), true),
		sighting(t, 3, other, now, true),
	)
	wantIDs(t, "BySubject", idsOf(mustSessions(t, x, session.BySubject(sub))), idFor(t, 0), idFor(t, 1), idFor(t, 2))
	wantIDs(t, "ByIssuerSubject(a)", idsOf(mustSessions(t, x, session.ByIssuerSubject(a.Issuer, sub))), idFor(t, 0), idFor(t, 2))
	wantIDs(t, "ByIssuerSession(a, s1)", idsOf(mustSessions(t, x, session.ByIssuerSession(a.Issuer, "s1"))), idFor(t, 0), idFor(t, 2))
	wantIDs(t, "ByIssuerSession(b, s1)", idsOf(mustSessions(t, x, session.ByIssuerSession(b.Issuer, "s1"))), idFor(t, 1))
	wantIDs(t, "BySubject(bob)", idsOf(mustSessions(t, x, session.BySubject(other.Subject))), idFor(t, 3))
}

func testRecordAgain(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Subject: subjectFor(t, "alice")}
	t0 := time.Now()
	first := sighting(t, 0, owner, t0, true)
	mustRecord(t, x, 10, first)
	// Another node saw it earlier but only claimed; the refresh comes later.
	early := sighting(t, 0, owner, t0.Add(-time.Minute), false)
	late := sighting(t, 0, owner, t0.Add(time.Hour), false)
	mustRecord(t, x, 10, early)
	mustRecord(t, x, 10, late)
	rec, ok, err := x.OwnerOf(context.Background(), first.ID)
	if err != nil || !ok {
		t.Fatalf("OwnerOf = %v, %v", ok, err)
	}
	if !sameInstant(rec.FirstSeen, early.Seen) || !sameInstant(rec.LastSeen, late.Seen) ||
		!sameInstant(rec.Since, early.Since) || !sameInstant(rec.Until, late.Until) || !rec.Confirmed {
		t.Fatalf("after three sightings: %+v; want first %s, last %s, since %s, until %s, confirmed",
			rec, early.Seen, late.Seen, early.Since, late.Until)
	}
	if n := len(mustSessions(t, x, session.BySubject(owner.Subject))); n != 1 {
		t.Fatalf("one session recorded three times is listed %d times", n)
	}
}

func testOwnerChange(t *testing.T, x session.OwnerIndex) {
	alice := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "a"}
	bob := session.Owner{Issuer: "i", Subject: subjectFor(t, "bob"), SessionID: "b"}
	now := time.Now()
	mustRecord(t, x, 10, sighting(t, 0, alice, now, true))
	mustRecord(t, x, 10, sighting(t, 0, bob, now.Add(time.Second), true))
	rec, _, err := x.OwnerOf(context.Background(), idFor(t, 0))
	if err != nil || rec.Owner != bob {
		t.Fatalf("OwnerOf after the owner changed = %+v, %v; want bob", rec, err)
	}
	if !sameInstant(rec.FirstSeen, now.Add(time.Second)) {
		t.Fatalf("FirstSeen = %s: a new owner starts a new record", rec.FirstSeen)
	}
	wantIDs(t, "alice's sessions", idsOf(mustSessions(t, x, session.BySubject(alice.Subject))))
	wantIDs(t, "alice's IdP session", idsOf(mustSessions(t, x, session.ByIssuerSession("i", "a"))))
	wantIDs(t, "bob's sessions", idsOf(mustSessions(t, x, session.BySubject(bob.Subject))), idFor(t, 0))
}

// A node saw the session before the revocation; its record arrives after.
func testMarkThenLateRecord(t *testing.T, x session.OwnerIndex) {
	seen := time.Now()
	at := seen.Add(time.Second)
	sid := subjectFor(t, "sid")
	cases := []struct {
		key   session.OwnerKey
		owner session.Owner
	}{
		{session.BySubject(subjectFor(t, "a")), session.Owner{Issuer: "i", Subject: subjectFor(t, "a")}},
		{session.ByIssuerSubject("i", subjectFor(t, "b")), session.Owner{Issuer: "i", Subject: subjectFor(t, "b")}},
		{session.ByIssuerSession("i", sid), session.Owner{Issuer: "i", Subject: subjectFor(t, "c"), SessionID: sid}},
	}
	for n, c := range cases {
		if recs := mustMark(t, x, c.key, session.OwnerMark{At: at, Until: at.Add(time.Hour)}); len(recs) != 0 {
			t.Fatalf("%s: mark listed %d sessions before any was recorded", c.key, len(recs))
		}
		if res := mustRecord(t, x, 10, sighting(t, n, c.owner, seen, true)); !res[0].Revoke {
			t.Fatalf("%s: a session seen at %s, recorded after its owner was revoked at %s, was not marked for revocation", c.key, seen, at)
		}
	}
}

func testMarkThenNewLogin(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "s"}
	at := time.Now()
	mustMark(t, x, session.BySubject(owner.Subject), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
	if res := mustRecord(t, x, 10, sighting(t, 0, owner, at.Add(time.Second), true)); res[0].Revoke {
		t.Fatal("a session first seen after the revocation (a new login) was marked for revocation")
	}
}

func testMarkExcept(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Subject: subjectFor(t, "alice")}
	seen := time.Now()
	at := seen.Add(time.Second)
	mustMark(t, x, session.BySubject(owner.Subject), session.OwnerMark{At: at, Except: idFor(t, 0), Until: at.Add(time.Hour)})
	res := mustRecord(t, x, 10, sighting(t, 0, owner, seen, true), sighting(t, 1, owner, seen, true))
	if res[0].Revoke || !res[1].Revoke {
		t.Fatalf("mark excepting session 0: got revoke %v %v, want false true", res[0].Revoke, res[1].Revoke)
	}
}

func testMarkOtherOwner(t *testing.T, x session.OwnerIndex) {
	seen := time.Now()
	at := seen.Add(time.Second)
	alice := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "a"}
	mustMark(t, x, session.BySubject(subjectFor(t, "bob")), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
	mustMark(t, x, session.ByIssuerSubject("other-issuer", alice.Subject), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
	mustMark(t, x, session.ByIssuerSession("i", "b"), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
	if res := mustRecord(t, x, 10, sighting(t, 0, alice, seen, true)); res[0].Revoke {
		t.Fatal("marks of other owners (another subject, alice at another issuer, another sid) covered alice's session")
	}
}

func testMarkReturnsSessions(t *testing.T, x session.OwnerIndex) {
	now := time.Now()
	alice := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "a"}
	bob := session.Owner{Issuer: "i", Subject: subjectFor(t, "bob"), SessionID: "b"}
	mustRecord(t, x, 10, sighting(t, 0, alice, now, true), sighting(t, 1, alice, now.Add(time.Second), false), sighting(t, 2, bob, now, true))
	mark := session.OwnerMark{At: now.Add(time.Minute), Until: now.Add(time.Hour)}
	wantIDs(t, "mark alice", idsOf(mustMark(t, x, session.BySubject(alice.Subject), mark)), idFor(t, 0), idFor(t, 1))
	wantIDs(t, "mark (i, b)", idsOf(mustMark(t, x, session.ByIssuerSession("i", "b"), mark)), idFor(t, 2))
	wantIDs(t, "mark alice at another issuer", idsOf(mustMark(t, x, session.ByIssuerSubject("j", alice.Subject), mark)))
}

func testMarkReplaces(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Subject: subjectFor(t, "alice")}
	t0 := time.Now()
	key := session.BySubject(owner.Subject)
	// A user logs out their other sessions at t0+1s, an admin revokes all at t0+3s.
	mustMark(t, x, key, session.OwnerMark{At: t0.Add(time.Second), Except: idFor(t, 0), Until: t0.Add(time.Hour)})
	mustMark(t, x, key, session.OwnerMark{At: t0.Add(3 * time.Second), Until: t0.Add(time.Hour)})
	// An older mark arriving late changes nothing.
	mustMark(t, x, key, session.OwnerMark{At: t0.Add(2 * time.Second), Except: idFor(t, 1), Until: t0.Add(time.Hour)})
	res := mustRecord(t, x, 10,
		sighting(t, 0, owner, t0.Add(2*time.Second), true), // before the admin's mark, no exception any more
		sighting(t, 1, owner, t0.Add(2*time.Second), true),
		sighting(t, 2, owner, t0.Add(4*time.Second), true), // after every mark
	)
	if !res[0].Revoke || !res[1].Revoke || res[2].Revoke {
		t.Fatalf("revoke = %v %v %v, want true true false (the latest mark decides)", res[0].Revoke, res[1].Revoke, res[2].Revoke)
	}
}

func testCap(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "shared"}
	t0 := time.Now()
	// Three confirmed sessions, then two claimed ones that are newer.
	mustRecord(t, x, 3,
		sighting(t, 0, owner, t0, true),
		sighting(t, 1, owner, t0.Add(time.Second), true),
		sighting(t, 2, owner, t0.Add(2*time.Second), true),
	)
	res := mustRecord(t, x, 3, sighting(t, 3, owner, t0.Add(3*time.Second), false))
	// Subject and sid index each push the new claimed session out first.
	wantIDs(t, "evicted by a claimed session", dedupe(res[0].Evicted), idFor(t, 3))
	res = mustRecord(t, x, 3, sighting(t, 4, owner, t0.Add(4*time.Second), true))
	wantIDs(t, "evicted by a fourth confirmed session", dedupe(res[0].Evicted), idFor(t, 0))
	wantIDs(t, "alice's sessions at the cap", idsOf(mustSessions(t, x, session.BySubject(owner.Subject))), idFor(t, 1), idFor(t, 2), idFor(t, 4))
	wantIDs(t, "the sid's sessions at the cap", idsOf(mustSessions(t, x, session.ByIssuerSession("i", "shared"))), idFor(t, 1), idFor(t, 2), idFor(t, 4))
}

func dedupe(ids []session.ID) []session.ID {
	var out []session.ID
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func testOwnerExpiry(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "s"}
	sg := sighting(t, 0, owner, time.Now(), true)
	sg.Until = time.Now().Add(expiryDelay)
	mustRecord(t, x, 10, sg)
	time.Sleep(time.Until(sg.Until) + 2*Precision)
	if _, ok, err := x.OwnerOf(context.Background(), sg.ID); ok || err != nil {
		t.Fatalf("OwnerOf after Until = %v, %v; want forgotten", ok, err)
	}
	wantIDs(t, "subject after Until", idsOf(mustSessions(t, x, session.BySubject(owner.Subject))))
	wantIDs(t, "sid after Until", idsOf(mustSessions(t, x, session.ByIssuerSession("i", "s"))))
	// Recording more (which sweeps, where a backend sweeps on write) keeps
	// the expired one out.
	mustRecord(t, x, 10, sighting(t, 1, owner, time.Now(), true))
	wantIDs(t, "subject after another record", idsOf(mustSessions(t, x, session.BySubject(owner.Subject))), idFor(t, 1))
}

func testMarkExpiry(t *testing.T, x session.OwnerIndex) {
	owner := session.Owner{Subject: subjectFor(t, "alice")}
	at := time.Now()
	until := at.Add(expiryDelay)
	mustMark(t, x, session.BySubject(owner.Subject), session.OwnerMark{At: at, Until: until})
	time.Sleep(time.Until(until) + 2*Precision)
	if res := mustRecord(t, x, 10, sighting(t, 0, owner, at.Add(-time.Second), true)); res[0].Revoke {
		t.Fatal("a mark past its Until still covered a session")
	}
}

func testBatch(t *testing.T, x session.OwnerIndex) {
	at := time.Now()
	revoked := session.Owner{Subject: subjectFor(t, "revoked")}
	mustMark(t, x, session.BySubject(revoked.Subject), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
	var batch []session.Sighting
	for i := range 100 {
		owner := session.Owner{Subject: subjectFor(t, fmt.Sprint("user", i%7))}
		if i%10 == 3 {
			owner = revoked
		}
		batch = append(batch, sighting(t, i, owner, at.Add(-time.Second), i%2 == 0))
	}
	res := mustRecord(t, x, 1000, batch...)
	user0 := 0
	for i := range batch {
		if want := i%10 == 3; res[i].Revoke != want {
			t.Fatalf("sighting %d: revoke %v, want %v", i, res[i].Revoke, want)
		}
		if i%7 == 0 && i%10 != 3 {
			user0++
		}
	}
	if n := len(mustSessions(t, x, session.BySubject(subjectFor(t, "user0")))); n != user0 {
		t.Fatalf("user0 has %d sessions, want %d", n, user0)
	}
}

func testInvalidOwner(t *testing.T, x session.OwnerIndex) {
	now := time.Now()
	long := session.Owner{Subject: strings.Repeat("x", session.MaxOwnerField+1)}
	none := session.Owner{Issuer: "i"}
	mustRecord(t, x, 10, sighting(t, 0, long, now, true), sighting(t, 1, none, now, true))
	for n := range 2 {
		if _, ok, err := x.OwnerOf(context.Background(), idFor(t, n)); ok || err != nil {
			t.Fatalf("OwnerOf(invalid owner %d) = %v, %v; want nothing recorded", n, ok, err)
		}
	}
}

// testMarkRace records sessions of one owner, all seen before the mark,
// from several goroutines while the owner is marked revoked. Each session
// must be listed by the mark or be answered Revoke: none may escape.
func testMarkRace(t *testing.T, x session.OwnerIndex) {
	const goroutines, each = 8, 40
	owner := session.Owner{Issuer: "i", Subject: subjectFor(t, "alice"), SessionID: "s"}
	seen := time.Now()
	at := seen.Add(time.Second)
	var (
		mu      sync.Mutex
		revoke  = map[session.ID]bool{}
		listed  []session.OwnerRecord
		wg      sync.WaitGroup
		done    atomic.Int64
		started = make(chan struct{})
	)
	for g := range goroutines {
		wg.Go(func() {
			<-started
			for i := range each {
				sg := sighting(t, g*each+i, owner, seen, true)
				res, err := x.RecordOwners(context.Background(), []session.Sighting{sg}, 10_000)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				revoke[sg.ID] = res[0].Revoke
				mu.Unlock()
				done.Add(1)
			}
		})
	}
	wg.Go(func() {
		<-started
		// In the middle of the stream, so that both sides of the race run.
		for done.Load() < goroutines*each/2 {
			time.Sleep(50 * time.Microsecond)
		}
		recs, err := x.MarkOwnerRevoked(context.Background(), session.BySubject(owner.Subject), session.OwnerMark{At: at, Until: at.Add(time.Hour)})
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		listed = recs
		mu.Unlock()
	})
	close(started)
	wg.Wait()
	inMark := map[session.ID]bool{}
	for _, r := range listed {
		inMark[r.ID] = true
	}
	escaped, late := 0, 0
	for id, rev := range revoke {
		switch {
		case !rev && !inMark[id]:
			escaped++
		case rev:
			late++
		}
	}
	if escaped > 0 {
		t.Fatalf("%d of %d sessions seen before the revocation were neither listed by it nor marked for revocation", escaped, len(revoke))
	}
	t.Logf("%d sessions: %d listed by the mark, %d marked for revocation when recorded after it", len(revoke), len(listed), late)
}

func testOwnersAfterClose(t *testing.T, x session.OwnerIndex) {
	if err := x.(session.Store).Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	owner := session.Owner{Subject: subjectFor(t, "alice")}
	if _, err := x.RecordOwners(ctx, []session.Sighting{sighting(t, 0, owner, time.Now(), true)}, 10); !errors.Is(err, session.ErrClosed) {
		t.Errorf("RecordOwners after Close = %v, want ErrClosed", err)
	}
	if _, _, err := x.OwnerOf(ctx, idFor(t, 0)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("OwnerOf after Close = %v, want ErrClosed", err)
	}
	if _, err := x.SessionsOf(ctx, session.BySubject(owner.Subject)); !errors.Is(err, session.ErrClosed) {
		t.Errorf("SessionsOf after Close = %v, want ErrClosed", err)
	}
	if _, err := x.MarkOwnerRevoked(ctx, session.BySubject(owner.Subject), session.OwnerMark{At: time.Now(), Until: time.Now().Add(time.Hour)}); !errors.Is(err, session.ErrClosed) {
		t.Errorf("MarkOwnerRevoked after Close = %v, want ErrClosed", err)
	}
}
