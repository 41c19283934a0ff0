package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
)

// fakeClock is a settable Options.Now, safe to read from the store's
// goroutines while the test moves it.
type fakeClock struct{ nanos atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.nanos.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time               { return time.Unix(0, c.nanos.Load()) }
func (c *fakeClock) Advance(d time.Duration)      { c.nanos.Add(int64(d)) }
func (c *fakeClock) In(d time.Duration) time.Time { return c.Now().Add(d) }

func openTest(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "logout.db")
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testID(n int) session.ID { return session.IDOf(fmt.Sprint("bolt-internal-", n)) }

// revokeConcurrently starts n Revokes at once and waits for all of them.
func revokeConcurrently(t *testing.T, s *Store, n int, until time.Time) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			if err := s.Revoke(context.Background(), testID(i), until); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
}

func TestRevoke_Concurrent_SharesCommits(t *testing.T) {
	s := openTest(t, Options{})
	const revokes = 200
	revokeConcurrently(t, s, revokes, time.Now().Add(time.Hour))

	commits := s.commits.Load()
	t.Logf("%d concurrent revokes took %d commits", revokes, commits)
	if commits > revokes/10 {
		t.Errorf("%d concurrent revokes took %d commits, want at most %d", revokes, commits, revokes/10)
	}
	if n, err := s.Len(); err != nil || n != revokes {
		t.Errorf("Len() = %d, %v; want %d", n, err, revokes)
	}
}

func TestRevoke_Concurrent_BatchesNoLargerThanMaxBatch(t *testing.T) {
	const revokes, maxBatch = 200, 10
	s := openTest(t, Options{MaxBatch: maxBatch})
	revokeConcurrently(t, s, revokes, time.Now().Add(time.Hour))
	if commits := s.commits.Load(); commits < revokes/maxBatch {
		t.Errorf("%d revokes in %d commits: some batch exceeded MaxBatch %d", revokes, commits, maxBatch)
	}
}

func TestSweep_RemovesExpired_KeepsLive(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, Options{Now: clock.Now})
	ctx := context.Background()
	for i := range 10 {
		until := clock.In(time.Minute) // 0..4 expire first
		if i >= 5 {
			until = clock.In(time.Hour)
		}
		if err := s.Revoke(ctx, testID(i), until); err != nil {
			t.Fatal(err)
		}
	}

	if removed, err := s.Sweep(); err != nil || removed != 0 {
		t.Fatalf("Sweep before anything expired = %d, %v; want 0", removed, err)
	}
	clock.Advance(2 * time.Minute)
	if removed, err := s.Sweep(); err != nil || removed != 5 {
		t.Fatalf("Sweep = %d, %v; want 5 removed", removed, err)
	}
	if n, _ := s.Len(); n != 5 {
		t.Errorf("Len after sweep = %d, want 5", n)
	}
	for i := range 10 {
		got, err := s.RevokedUntil(ctx, testID(i))
		if err != nil {
			t.Fatal(err)
		}
		if live := i >= 5; live == got.IsZero() {
			t.Errorf("record %d: RevokedUntil = %s, live = %v", i, got, live)
		}
	}
	assertIndexMatchesRecords(t, s)
}

func TestSweep_ExtendedRecord_KeptUntilItsNewExpiry(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, Options{Now: clock.Now})
	ctx := context.Background()
	id := testID(1)
	for _, d := range []time.Duration{time.Minute, time.Hour, 30 * time.Minute} {
		if err := s.Revoke(ctx, id, clock.In(d)); err != nil {
			t.Fatal(err)
		}
	}
	assertIndexMatchesRecords(t, s)

	clock.Advance(45 * time.Minute)
	if removed, err := s.Sweep(); err != nil || removed != 0 {
		t.Fatalf("Sweep before the extended expiry = %d, %v; want 0", removed, err)
	}
	clock.Advance(time.Hour)
	if removed, err := s.Sweep(); err != nil || removed != 1 {
		t.Fatalf("Sweep after the extended expiry = %d, %v; want 1", removed, err)
	}
	assertIndexMatchesRecords(t, s)
}

func TestSweep_MoreThanOneChunk_RemovesAll(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, Options{Now: clock.Now})
	s.sweepChunkSize = 10
	n := 25
	err := s.file.Update(func(tx *bbolt.Tx) error {
		records, index := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(boltfile.ExpiryBucket)
		for i := range n {
			if err := boltfile.PutRecord(records, index, testID(i), clock.In(time.Duration(i)).UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if removed, err := s.Sweep(); err != nil || removed != n {
		t.Fatalf("Sweep = %d, %v; want %d", removed, err, n)
	}
}

func TestSweeper_RunsEverySweepInterval(t *testing.T) {
	clock := newFakeClock()
	s := openTest(t, Options{Now: clock.Now, SweepInterval: 10 * time.Millisecond})
	if err := s.Revoke(context.Background(), testID(1), clock.In(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := s.Len()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not remove an expired record within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMalformedRecord_ReadFails_RevokeRepairs(t *testing.T) {
	s := openTest(t, Options{})
	id := testID(1)
	err := s.file.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(boltfile.RecordsBucket).Put(id[:], []byte("short"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokedUntil(context.Background(), id); err == nil {
		t.Fatal("RevokedUntil of a malformed record returned no error")
	}

	// Revoking it again repairs it instead of failing.
	until := time.Now().Add(time.Hour)
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatalf("Revoke over a malformed record: %v", err)
	}
	if got, err := s.RevokedUntil(context.Background(), id); err != nil || !got.Equal(until) {
		t.Fatalf("after repair RevokedUntil = %s, %v; want %s", got, err, until)
	}
}

// assertIndexMatchesRecords checks the invariant the sweeper relies on:
// exactly one index entry per record, carrying that record's expiry.
func assertIndexMatchesRecords(t *testing.T, s *Store) {
	t.Helper()
	err := s.file.View(func(tx *bbolt.Tx) error {
		records, index := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(boltfile.ExpiryBucket)
		if r, i := records.Stats().KeyN, index.Stats().KeyN; r != i {
			return fmt.Errorf("%d records but %d index entries", r, i)
		}
		return records.ForEach(func(id, v []byte) error {
			at, err := boltfile.DecodeExpiry(v)
			if err != nil {
				return err
			}
			if index.Get(boltfile.IndexKey(at, session.ID(id))) == nil {
				return fmt.Errorf("record %x has no index entry for its expiry", id[:6])
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// While the committer is stuck (here behind a write transaction the test
// holds), a Revoke whose context ends before it is taken must give up with
// ctx.Err() and write nothing; one already taken is written whatever its
// context does. Either way, what Revoke returns must match the file.
func TestRevoke_ContextEndsWhileCommitterBusy(t *testing.T) {
	s := openTest(t, Options{})
	tx, err := s.file.DB().Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	revoke := func(ctx context.Context, id session.ID) chan error {
		done := make(chan error, 1)
		go func() { done <- s.Revoke(ctx, id, until) }()
		return done
	}

	takenCtx, cancelTaken := context.WithCancel(context.Background())
	takenDone := revoke(takenCtx, testID(1))
	time.Sleep(100 * time.Millisecond) // let the committer take it and block

	waitingCtx, cancelWaiting := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelWaiting()
	waitingDone := revoke(waitingCtx, testID(2))
	select {
	case err := <-waitingDone:
		waitingDone <- err // read again below
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Revoke not taken before its deadline = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		// A very slow machine: the second request was taken, not the first.
		t.Log("the committer took the second request; only the outcomes are checked")
	}

	cancelTaken()
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	outcomes := map[session.ID]error{testID(1): <-takenDone, testID(2): <-waitingDone}
	for id, revokeErr := range outcomes {
		got, err := s.RevokedUntil(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if written := !got.IsZero(); written != (revokeErr == nil) {
			t.Errorf("Revoke(%s) returned %v but written = %v", id.Short(), revokeErr, written)
		}
	}
}
