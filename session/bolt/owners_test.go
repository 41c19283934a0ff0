package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/bolt"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func TestOwners_Conformance(t *testing.T) {
	storetest.RunOwners(t, func(t *testing.T) session.Store {
		return openAt(t, filepath.Join(t.TempDir(), "logout.db"))
	})
}

func TestOwners_SurviveCloseAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	ctx := context.Background()
	owner := session.Owner{Issuer: "https://idp.example", Subject: "alice", SessionID: "sid-1"}
	now := time.Now()
	sg := session.Sighting{ID: session.IDOf("alice-1"), Owner: owner, Seen: now, Since: now, Confirmed: true, Until: now.Add(time.Hour)}

	s := openAt(t, path)
	if _, err := s.RecordOwners(ctx, []session.Sighting{sg}, 10); err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Minute)
	if _, err := s.MarkOwnerRevoked(ctx, session.BySubject("alice"), session.OwnerMark{At: at, Until: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	rec, ok, err := s.OwnerOf(ctx, sg.ID)
	if err != nil || !ok || rec.Owner != owner || !rec.Confirmed || !rec.FirstSeen.Equal(now) {
		t.Fatalf("after reopen OwnerOf = %+v, %v, %v", rec, ok, err)
	}
	if recs, err := s.SessionsOf(ctx, session.ByIssuerSession(owner.Issuer, owner.SessionID)); err != nil || len(recs) != 1 {
		t.Fatalf("after reopen SessionsOf(iss, sid) = %d, %v", len(recs), err)
	}
	// The mark survived too: a late record of a session seen before it.
	late := sg
	late.ID = session.IDOf("alice-2")
	if res, err := s.RecordOwners(ctx, []session.Sighting{late}, 10); err != nil || !res[0].Revoke {
		t.Fatalf("after reopen, a late record was not covered by the mark: %+v, %v", res, err)
	}
}

func TestOwners_Sweep_DeletesExpiredRecordsIndexAndMarks(t *testing.T) {
	now := time.Now()
	clock := newSetClock(now)
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(t.TempDir(), "logout.db"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	var batch []session.Sighting
	for i := range 25 {
		until := now.Add(time.Hour)
		if i%5 == 0 {
			until = now.Add(10 * time.Hour) // five live ones
		}
		batch = append(batch, session.Sighting{ID: session.IDOf(string(rune('a' + i))), Owner: session.Owner{Issuer: "i", Subject: "alice", SessionID: "s"},
			Seen: now, Since: now, Confirmed: true, Until: until})
	}
	if _, err := s.RecordOwners(ctx, batch, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkOwnerRevoked(ctx, session.BySubject("bob"), session.OwnerMark{At: now, Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	clock.Set(now.Add(2 * time.Hour))
	removed, err := s.SweepOwners(7) // several chunks
	if err != nil || removed != 20 {
		t.Fatalf("SweepOwners = %d, %v; want 20 removed", removed, err)
	}
	if n, err := s.OwnerCount(); err != nil || n != 5 {
		t.Fatalf("OwnerCount after the sweep = %d, %v; want 5", n, err)
	}
	for _, key := range []session.OwnerKey{session.BySubject("alice"), session.ByIssuerSession("i", "s")} {
		if recs, err := s.SessionsOf(ctx, key); err != nil || len(recs) != 5 {
			t.Fatalf("SessionsOf(%s) after the sweep = %d, %v; want 5", key, len(recs), err)
		}
	}
	if n := s.IndexEntries(); n != 10 {
		t.Fatalf("index entries after the sweep = %d, want 10 (5 sessions in 2 indexes)", n)
	}
	if n := s.MarkCount(); n != 0 {
		t.Fatalf("marks after the sweep = %d, want 0 (bob's expired)", n)
	}
}
