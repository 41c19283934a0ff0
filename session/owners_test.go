package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// ownersHarness is Owners over a memory store behind a Cache, with a
// clock the test moves.
type ownersHarness struct {
	t      *testing.T
	store  *memory.Store
	cache  *session.Cache
	owners *session.Owners
	mu     sync.Mutex
	now    time.Time
	events map[string]int
}

var policy = session.OwnerPolicy{Lifetime: 720 * time.Hour, MaxPerOwner: 3}

func newOwnersHarness(t *testing.T, opts session.OwnersOptions) *ownersHarness {
	h := &ownersHarness{t: t, store: memory.New(), now: time.Now(), events: map[string]int{}}
	cache, err := session.NewCache(h.store, session.CacheOptions{MaxEntries: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	h.cache = cache
	opts.Now = h.clock
	opts.Observe = func(outcome string, n int) {
		h.mu.Lock()
		h.events[outcome] += n
		h.mu.Unlock()
	}
	h.owners = session.NewOwners(h.store, cache, opts)
	t.Cleanup(func() {
		h.owners.Close()
		_ = cache.Close()
		_ = h.store.Close()
	})
	return h
}

func (h *ownersHarness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *ownersHarness) advance(d time.Duration) {
	h.mu.Lock()
	h.now = h.now.Add(d)
	h.mu.Unlock()
}

func (h *ownersHarness) count(outcome string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.events[outcome]
}

// learn records a sighting of credential for owner and waits until the
// store has it.
func (h *ownersHarness) learn(credential string, owner session.Owner, confirmed bool) session.ID {
	h.t.Helper()
	id := session.IDOf(credential)
	before := h.count("recorded")
	h.owners.Learn(session.Sighting{ID: id, Owner: owner, Seen: h.clock(), Confirmed: confirmed}, policy)
	h.waitFor(func() bool { return h.count("recorded") > before }, "the sighting to be written")
	return id
}

func (h *ownersHarness) waitFor(cond func() bool, what string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *ownersHarness) revoked(id session.ID) bool {
	h.t.Helper()
	r, err := h.cache.Revoked(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

var alice = session.Owner{Issuer: "https://idp.example", Subject: "alice", SessionID: "idp-1"}

func TestOwners_Learn_MarksKnownAndRecords(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	id := session.IDOf("a1")
	if h.owners.Known(id, policy) {
		t.Fatal("known before it was learned")
	}
	h.learn("a1", alice, true)
	if !h.owners.Known(id, policy) {
		t.Fatal("not known after it was learned")
	}
	rec, ok, err := h.owners.OwnerOf(context.Background(), id)
	if err != nil || !ok || rec.Owner != alice || !rec.Confirmed {
		t.Fatalf("OwnerOf = %+v, %v, %v", rec, ok, err)
	}
	if !rec.Until.Equal(rec.LastSeen.Add(policy.Lifetime)) {
		t.Fatalf("Until = %s, want LastSeen + lifetime", rec.Until)
	}
}

func TestOwners_Known_ExpiresAfterRefresh(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	id := h.learn("a1", alice, true)
	h.advance(policy.Refresh() - time.Minute)
	if !h.owners.Known(id, policy) {
		t.Fatal("forgotten before the refresh interval")
	}
	h.advance(time.Minute)
	if h.owners.Known(id, policy) {
		t.Fatalf("still known after the refresh interval (%s): LastSeen would never move", policy.Refresh())
	}
}

func TestOwnerPolicy_Refresh_QuarterOfLifetimeBetweenAMinuteAndAnHour(t *testing.T) {
	for lifetime, want := range map[time.Duration]time.Duration{
		720 * time.Hour: time.Hour, 2 * time.Hour: 30 * time.Minute, time.Minute: time.Minute,
	} {
		if got := (session.OwnerPolicy{Lifetime: lifetime}).Refresh(); got != want {
			t.Errorf("Refresh(%s) = %s, want %s", lifetime, got, want)
		}
	}
}

func TestOwners_RevokeOwner_RevokesRecordedSessionsAndCounts(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	a1 := h.learn("a1", alice, true)
	a2 := h.learn("a2", session.Owner{Subject: "alice"}, true) // another source, no issuer
	b1 := h.learn("b1", session.Owner{Issuer: alice.Issuer, Subject: "bob", SessionID: "idp-2"}, true)
	ctx := context.Background()

	n, err := h.owners.RevokeOwner(ctx, session.BySubject("alice"), session.RevokeOwnerOptions{Lifetime: time.Hour})
	if err != nil || n != 2 {
		t.Fatalf("RevokeOwner(alice) = %d, %v; want 2", n, err)
	}
	if !h.revoked(a1) || !h.revoked(a2) || h.revoked(b1) {
		t.Fatalf("revoked: a1 %v a2 %v b1 %v; want true true false", h.revoked(a1), h.revoked(a2), h.revoked(b1))
	}
	if n, err := h.owners.RevokeOwner(ctx, session.BySubject("alice"), session.RevokeOwnerOptions{Lifetime: time.Hour}); err != nil || n != 0 {
		t.Fatalf("RevokeOwner(alice) again = %d, %v; want 0 (already revoked)", n, err)
	}
	n, err = h.owners.RevokeOwner(ctx, session.ByIssuerSession(alice.Issuer, "idp-2"), session.RevokeOwnerOptions{Lifetime: time.Hour})
	if err != nil || n != 1 || !h.revoked(b1) {
		t.Fatalf("RevokeOwner(iss, sid of bob) = %d, %v, revoked %v", n, err, h.revoked(b1))
	}
}

func TestOwners_RevokeOwner_Except_SparesTheCaller(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	a1 := h.learn("a1", alice, true)
	a2 := h.learn("a2", alice, true)
	n, err := h.owners.RevokeOwner(context.Background(), session.ByIssuerSubject(alice.Issuer, "alice"),
		session.RevokeOwnerOptions{Lifetime: time.Hour, Except: a1})
	if err != nil || n != 1 || h.revoked(a1) || !h.revoked(a2) {
		t.Fatalf("RevokeOwner except a1 = %d, %v; a1 revoked %v, a2 revoked %v", n, err, h.revoked(a1), h.revoked(a2))
	}
	// The caller's own session, refreshed later, stays alive.
	h.advance(policy.Refresh())
	h.learn("a1", alice, true)
	if h.revoked(a1) {
		t.Fatal("the caller's session was revoked when its record was refreshed after the revocation")
	}
}

// The race: a session was seen before the revocation, but its record
// reaches the store after it. The node revokes it as soon as it arrives.
func TestOwners_LateRecord_RevokedWhenItArrives(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	seen := h.clock()
	h.advance(time.Second)
	n, err := h.owners.RevokeOwner(context.Background(), session.BySubject("alice"), session.RevokeOwnerOptions{Lifetime: time.Hour})
	if err != nil || n != 0 {
		t.Fatalf("RevokeOwner before any record = %d, %v", n, err)
	}
	late := session.IDOf("late")
	h.owners.Learn(session.Sighting{ID: late, Owner: alice, Seen: seen, Confirmed: true}, policy)
	h.waitFor(func() bool { return h.count("revoked_late") == 1 }, "the late record to be revoked")
	if !h.revoked(late) {
		t.Fatal("a session seen before its owner's revocation survived it")
	}

	// A session first seen after the revocation is a new login.
	h.advance(time.Second)
	fresh := h.learn("fresh", alice, true)
	if h.revoked(fresh) {
		t.Fatal("a new login after the revocation was revoked")
	}
}

// An ID token's auth_time earlier than the revocation makes a session old,
// however late the gateway first sees it.
func TestOwners_SinceFromIDToken_RevokesOldLoginSeenLate(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	authTime := h.clock()
	h.advance(time.Minute)
	if _, err := h.owners.RevokeOwner(context.Background(), session.BySubject("alice"), session.RevokeOwnerOptions{Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	h.advance(time.Minute)
	id := session.IDOf("old")
	h.owners.Learn(session.Sighting{ID: id, Owner: alice, Seen: h.clock(), Since: authTime, Confirmed: true}, policy)
	h.waitFor(func() bool { return h.count("revoked_late") == 1 }, "the old login to be revoked")
	if !h.revoked(id) {
		t.Fatal("a login from before the revocation, first seen after it, survived it")
	}
}

func TestOwners_OverTheCap_OldestRevoked(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	var ids []session.ID
	for i := range policy.MaxPerOwner + 1 {
		ids = append(ids, h.learn(fmt.Sprint("a", i), alice, true))
		h.advance(time.Second)
	}
	h.waitFor(func() bool { return h.revoked(ids[0]) }, "the oldest session to be revoked")
	for _, id := range ids[1:] {
		if h.revoked(id) {
			t.Fatalf("session %s revoked; only the oldest should be", id.Short())
		}
	}
	recs, err := h.owners.Sessions(context.Background(), session.BySubject("alice"))
	if err != nil || len(recs) != policy.MaxPerOwner {
		t.Fatalf("Sessions = %d, %v; want the cap, %d", len(recs), err, policy.MaxPerOwner)
	}
}

func TestOwners_QueueFull_DroppedAndForgotten(t *testing.T) {
	blocked := &blockingIndex{OwnerIndex: memory.New(), release: make(chan struct{}), entered: make(chan struct{}, 1)}
	cache, err := session.NewCache(memory.New(), session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	dropped := 0
	o := session.NewOwners(blocked, cache, session.OwnersOptions{QueueSize: 1, Observe: func(outcome string, n int) {
		if outcome == "dropped" {
			mu.Lock()
			dropped += n
			mu.Unlock()
		}
	}})
	t.Cleanup(func() { close(blocked.release); o.Close(); _ = cache.Close() })
	var ids []session.ID
	for i := range 10 {
		id := session.IDOf(fmt.Sprint("q", i))
		ids = append(ids, id)
		o.Learn(session.Sighting{ID: id, Owner: alice}, policy)
		if i == 0 { // the writer batches what is queued: let it take the first alone and get stuck
			select {
			case <-blocked.entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the first sighting never reached the store")
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if dropped != 8 { // one in the writer, one queued
		t.Fatalf("dropped %d of 10 with a queue of 1 and a stuck store", dropped)
	}
	known := 0
	for _, id := range ids {
		if o.Known(id, policy) {
			known++
		}
	}
	if known != 2 {
		t.Fatalf("%d sessions known though their sightings were dropped: they would never be recorded", known)
	}
}

func TestOwners_StoreError_ForgottenForTheNextRequest(t *testing.T) {
	failing := &failingIndex{OwnerIndex: memory.New()}
	cache, err := session.NewCache(memory.New(), session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan int, 10)
	o := session.NewOwners(failing, cache, session.OwnersOptions{Observe: func(outcome string, n int) {
		if outcome == "error" {
			errs <- n
		}
	}})
	t.Cleanup(func() { o.Close(); _ = cache.Close() })
	id := session.IDOf("f")
	o.Learn(session.Sighting{ID: id, Owner: alice}, policy)
	select {
	case <-errs:
	case <-time.After(5 * time.Second):
		t.Fatal("the failed write was not reported")
	}
	if o.Known(id, policy) {
		t.Fatal("a session whose record failed is still known: it would never be recorded")
	}
}

func TestOwners_AfterClose_LearnDoesNothing(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	h.owners.Close()
	h.owners.Learn(session.Sighting{ID: session.IDOf("x"), Owner: alice}, policy)
	if h.owners.Known(session.IDOf("x"), policy) {
		t.Fatal("Learn after Close marked a session known")
	}
	h.owners.Close() // twice is fine
}

func TestOwners_InvalidKey_Refused(t *testing.T) {
	h := newOwnersHarness(t, session.OwnersOptions{})
	for _, k := range []session.OwnerKey{{}, session.BySubject(""), session.ByIssuerSession("i", "")} {
		if _, err := h.owners.RevokeOwner(context.Background(), k, session.RevokeOwnerOptions{Lifetime: time.Hour}); err == nil {
			t.Errorf("RevokeOwner(%+v) succeeded", k)
		}
	}
}

func TestPublicID_IsAUUIDv8OfTheID(t *testing.T) {
	id := session.IDOf("x")
	got := id.PublicID()
	if len(got) != 36 || got[8] != '-' || got[13] != '-' || got[14] != '8' || got[18] != '-' || got[23] != '-' {
		t.Fatalf("PublicID = %q, want a version 8 UUID", got)
	}
	if v := got[19]; v != '8' && v != '9' && v != 'a' && v != 'b' {
		t.Fatalf("PublicID = %q: variant nibble %c, want 8-b", got, v)
	}
	if got != id.PublicID() || got == session.IDOf("y").PublicID() {
		t.Fatal("PublicID is not a stable, distinct name of the session")
	}
}

type blockingIndex struct {
	session.OwnerIndex
	release chan struct{}
	entered chan struct{} // a write has started (buffered, optional)
}

func (b *blockingIndex) RecordOwners(ctx context.Context, batch []session.Sighting, maxPerOwner int) ([]session.Recorded, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	return b.OwnerIndex.RecordOwners(ctx, batch, maxPerOwner)
}

type failingIndex struct{ session.OwnerIndex }

func (failingIndex) RecordOwners(context.Context, []session.Sighting, int) ([]session.Recorded, error) {
	return nil, errors.New("store down")
}
