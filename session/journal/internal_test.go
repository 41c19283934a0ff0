package journal

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
	"github.com/caddy-logout/caddy-logout/session/memory"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
)

// The backend here is the real memory store; the journal's clock is moved
// by the test (Options.Now) so expiry needs no sleeping, and the replayer
// is left out so each step runs when the test says.

type testClock struct{ ns atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }
func newClock() *testClock                   { c := &testClock{}; c.ns.Store(time.Now().UnixNano()); return c }
func (s *Store) counts() (records, pending, index int) {
	_ = s.file.View(func(tx *bbolt.Tx) error {
		records = tx.Bucket(boltfile.RecordsBucket).Stats().KeyN
		pending = tx.Bucket(pendingBucket).Stats().KeyN
		index = tx.Bucket(boltfile.ExpiryBucket).Stats().KeyN
		return nil
	})
	return
}

func openInternal(t *testing.T, clock *testClock) *Store {
	t.Helper()
	s, err := Open(memory.New(), Options{
		Path: filepath.Join(t.TempDir(), "journal.db"), Now: clock.now,
		// Nothing in the background during these tests.
		SweepInterval: time.Hour, noReplayer: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSweep_DeletesExpiredRecordsTheirIndexAndPendingMarks(t *testing.T) {
	clock := newClock()
	s := openInternal(t, clock)
	ctx := context.Background()
	short, long := session.IDOf("short"), session.IDOf("long")
	epoch := s.requeues.Load()
	if err := s.put(ctx, short, clock.now().Add(time.Hour), true, epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.put(ctx, long, clock.now().Add(3*time.Hour), false, epoch); err != nil {
		t.Fatal(err)
	}
	// A later revoke of the short one moves its expiry; the sweep must
	// follow the record, not the stale index entry.
	if err := s.put(ctx, short, clock.now().Add(2*time.Hour), true, epoch); err != nil {
		t.Fatal(err)
	}
	if r, p, i := s.counts(); r != 2 || p != 1 || i != 2 || s.JournalDepth() != 1 {
		t.Fatalf("records %d pending %d index %d depth %d; want 2 1 2 1", r, p, i, s.JournalDepth())
	}

	clock.advance(90 * time.Minute)
	if n, err := s.sweep(); err != nil || n != 0 {
		t.Fatalf("sweep before anything expired: %d, %v", n, err)
	}
	clock.advance(time.Hour) // 2h30: short expired, long not
	if n, err := s.sweep(); err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v; want 1", n, err)
	}
	if r, p, i := s.counts(); r != 1 || p != 0 || i != 1 || s.JournalDepth() != 0 {
		t.Fatalf("after sweep: records %d pending %d index %d depth %d; want 1 0 1 0", r, p, i, s.JournalDepth())
	}
	if got, _ := s.lookup(long); got.IsZero() {
		t.Error("the live record was swept")
	}
}

// A Revoke that the backend acknowledged while a requeue (the backend lost
// data) was starting must end up pending: nobody knows which incarnation
// of the backend has it.
func TestPut_AcknowledgedBeforeARequeue_StaysPending(t *testing.T) {
	clock := newClock()
	s := openInternal(t, clock)
	ctx := context.Background()
	id := session.IDOf("raced a requeue")
	epoch := s.requeues.Load() // Revoke reads this before asking the backend
	if _, err := s.requeueAll(); err != nil {
		t.Fatal(err)
	}
	if err := s.put(ctx, id, clock.now().Add(time.Hour), false, epoch); err != nil {
		t.Fatal(err)
	}
	if s.JournalDepth() != 1 {
		t.Fatalf("JournalDepth = %d; the record must be pending", s.JournalDepth())
	}
}

func TestReplayed_KeepsWhatChangedMeanwhile(t *testing.T) {
	clock := newClock()
	s := openInternal(t, clock)
	ctx := context.Background()
	a, b := session.IDOf("a"), session.IDOf("b")
	at := clock.now().Add(time.Hour)
	epoch := s.requeues.Load()
	for _, id := range []session.ID{a, b} {
		if err := s.put(ctx, id, at, true, epoch); err != nil {
			t.Fatal(err)
		}
	}
	chunk, err := s.pendingChunk(nil, 10)
	if err != nil || len(chunk) != 2 {
		t.Fatalf("pendingChunk = %v, %v", chunk, err)
	}
	// b is journaled again, later, while the replayer pushes the old one.
	if err := s.put(ctx, b, at.Add(time.Hour), true, epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.replayed(chunk, epoch); err != nil {
		t.Fatal(err)
	}
	left, _ := s.pendingChunk(nil, 10)
	if len(left) != 1 || left[0].id != b || s.JournalDepth() != 1 {
		t.Fatalf("pending after replay = %v (depth %d); want only b, with its later time", left, s.JournalDepth())
	}

	// A requeue since the chunk was read: nothing is dropped.
	if _, err := s.requeueAll(); err != nil {
		t.Fatal(err)
	}
	before := s.JournalDepth()
	chunk, _ = s.pendingChunk(nil, 10)
	if err := s.replayed(chunk, epoch); err != nil {
		t.Fatal(err)
	}
	if s.JournalDepth() != before {
		t.Fatalf("replayed with a stale epoch dropped pending records (%d -> %d)", before, s.JournalDepth())
	}
}

func TestRecent_SkipsPendingAndNearlyExpired(t *testing.T) {
	clock := newClock()
	s := openInternal(t, clock)
	ctx := context.Background()
	epoch := s.requeues.Load()
	synced, pending, expiring := session.IDOf("synced"), session.IDOf("pending"), session.IDOf("expiring")
	_ = s.put(ctx, synced, clock.now().Add(time.Hour), false, epoch)
	_ = s.put(ctx, pending, clock.now().Add(2*time.Hour), true, epoch)
	_ = s.put(ctx, expiring, clock.now().Add(time.Second), false, epoch)
	got, err := s.recent(10, verifyMargin)
	if err != nil || len(got) != 1 || got[0].id != synced {
		t.Fatalf("recent = %v, %v; want only the synced, live record", got, err)
	}
}

// The replayer reads the pending set in chunks from a cursor, so records
// it leaves pending (refused) do not hide the ones after them.
func TestPendingChunk_ReadsOnFromTheCursor(t *testing.T) {
	clock := newClock()
	s := openInternal(t, clock)
	ctx := context.Background()
	epoch := s.requeues.Load()
	for i := range 5 {
		if err := s.put(ctx, session.IDOf(fmt.Sprint("cursor ", i)), clock.now().Add(time.Hour), true, epoch); err != nil {
			t.Fatal(err)
		}
	}
	var seen []session.ID
	var after []byte
	for range 10 {
		chunk, err := s.pendingChunk(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunk) == 0 {
			break
		}
		for _, e := range chunk {
			seen = append(seen, e.id)
		}
		after = chunk[len(chunk)-1].id[:]
	}
	if len(seen) != 5 || !slices.IsSortedFunc(seen, func(a, b session.ID) int { return bytes.Compare(a[:], b[:]) }) ||
		len(slices.Compact(slices.Clone(seen))) != 5 {
		t.Fatalf("walked %d records (%v); want each of the 5, once, in key order", len(seen), seen)
	}
	// A cursor whose record is gone meanwhile goes on from the next one.
	if err := s.replayed([]entry{{id: seen[1], at: clock.now().Add(time.Hour).UnixNano()}}, epoch); err != nil {
		t.Fatal(err)
	}
	chunk, err := s.pendingChunk(seen[1][:], 10)
	if err != nil || len(chunk) != 3 || chunk[0].id != seen[2] {
		t.Fatalf("pendingChunk after a dropped record = %v, %v; want the 3 after it", chunk, err)
	}
}

// MaxRefusedPerRound is maxRefusedPerRound for the package's external tests.
const MaxRefusedPerRound = maxRefusedPerRound

// A round of the replayer makes at most maxRefusedPerRound writes that
// the backend refuses, and the next round goes on from where it stopped
// (wrapping around the pending set):
// a Redis that refuses every write (here, a key of the wrong type at each
// record's key) is not asked once per pending record every RetryInterval,
// and every record still gets its turn. The backend is a real redis-server.
func TestReplayPending_RefusalsPerRoundBounded(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	admin := srv.Client(t)
	r, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: "bounded:"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(r, Options{Path: filepath.Join(t.TempDir(), "journal.db"), SweepInterval: time.Hour, noReplayer: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })

	ctx := context.Background()
	const n = maxRefusedPerRound + 36
	until := time.Now().Add(time.Hour)
	for i := range n {
		id := session.IDOf(fmt.Sprint("refused ", i))
		if err := admin.RPush(ctx, r.Key(id), "not a revocation").Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.put(ctx, id, until, true, s.requeues.Load()); err != nil {
			t.Fatal(err)
		}
	}
	// Each round stops at its 64th refusal; the next goes on after it, to
	// the end, and around from the start.
	for round, want := range []int{maxRefusedPerRound, 2 * maxRefusedPerRound, 3 * maxRefusedPerRound} {
		if err := s.replayPending(); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
			t.Fatalf("round %d: replayPending = %v; want the WRONGTYPE refusal", round+1, err)
		}
		if got := srv.ErrorReplies(t, "WRONGTYPE"); got != want {
			t.Fatalf("round %d: Redis refused %d writes in all; want %d (at most %d a round, each record in turn)",
				round+1, got, want, maxRefusedPerRound)
		}
		if d := s.JournalDepth(); d != n {
			t.Fatalf("round %d: JournalDepth = %d; want all %d still pending", round+1, d, n)
		}
	}
}
