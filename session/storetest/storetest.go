// Package storetest is the conformance suite every session.Store backend
// runs from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) session.Store { return memory.New() })
//	}
//
// Precision: a store must keep revocation times to at least the
// millisecond. The suite accepts any answer within Precision of the time
// that was revoked, so a backend may truncate or round (Redis keeps
// milliseconds, bolt keeps nanoseconds).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// Precision is the coarsest time resolution a Store may keep.
const Precision = time.Millisecond

// expiryDelay is how far ahead the expiry test sets its record: long enough
// for a slow fsync under -race, short enough to keep the suite quick.
const expiryDelay = 300 * time.Millisecond

// Run runs the conformance suite. open must return a fresh, empty store
// each time it is called; Run closes it when the sub-test ends (Close must
// be idempotent, so open may also register its own clean-up). Sub-tests
// run one after another, never in parallel.
func Run(t *testing.T, open func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s session.Store)
	}{
		{"Revoke_ThenRevokedUntil_ReturnsUntil", testRevokeThenRead},
		{"RevokedUntil_UnknownID_ReturnsZero", testUnknownID},
		{"Revoke_OneID_LeavesOthersUnrevoked", testOthersUnaffected},
		{"Revoke_Twice_LaterSecond_KeepsLater", testRevokeTwice(false)},
		{"Revoke_Twice_EarlierSecond_KeepsLater", testRevokeTwice(true)},
		{"Revoke_UntilInPast_NotRevoked", testUntilInPast},
		{"RevokedUntil_AfterExpiry_ReturnsZero", testExpiry},
		{"Revoke_CancelledContext_FailsWithoutWriting", testCancelledContext},
		{"Concurrent_RevokeAndRead_DistinctAndSameIDs", testConcurrent},
		{"AfterClose_ReturnsErrClosed", testAfterClose},
		{"Close_Twice_IsSafe", testCloseTwice},
		{"Close_WhileInUse_NoPanicOnlyErrClosed", testCloseWhileInUse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.test(t, s)
		})
	}
}

// idFor gives each sub-test its own IDs, so a backend shared between
// sub-tests (one Redis server) cannot leak state from one into another.
func idFor(t *testing.T, n int) session.ID {
	return session.IDOf(fmt.Sprintf("storetest/%s/%d", t.Name(), n))
}

// sameInstant reports whether got is want as far as Precision can tell.
func sameInstant(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -Precision && d < Precision
}

func mustRevoke(t *testing.T, s session.Store, id session.ID, until time.Time) {
	t.Helper()
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatalf("Revoke(%s, %s): %v", id.Short(), until, err)
	}
}

func mustRead(t *testing.T, s session.Store, id session.ID) time.Time {
	t.Helper()
	got, err := s.RevokedUntil(context.Background(), id)
	if err != nil {
		t.Fatalf("RevokedUntil(%s): %v", id.Short(), err)
	}
	return got
}

func wantUntil(t *testing.T, s session.Store, id session.ID, want time.Time) {
	t.Helper()
	if got := mustRead(t, s, id); !sameInstant(got, want) {
		t.Fatalf("RevokedUntil(%s) = %s, want %s (±%s)", id.Short(), got, want, Precision)
	}
}

func wantNotRevoked(t *testing.T, s session.Store, id session.ID) {
	t.Helper()
	if got := mustRead(t, s, id); !got.IsZero() {
		t.Fatalf("RevokedUntil(%s) = %s, want the zero Time (not revoked)", id.Short(), got)
	}
}

func testRevokeThenRead(t *testing.T, s session.Store) {
	// A sub-millisecond part checks that the store keeps at least Precision.
	until := time.Now().Add(time.Hour + 123456*time.Nanosecond)
	id := idFor(t, 0)
	mustRevoke(t, s, id, until)
	wantUntil(t, s, id, until)
}

func testUnknownID(t *testing.T, s session.Store) {
	wantNotRevoked(t, s, idFor(t, 0))
}

func testOthersUnaffected(t *testing.T, s session.Store) {
	mustRevoke(t, s, idFor(t, 0), time.Now().Add(time.Hour))
	wantNotRevoked(t, s, idFor(t, 1))
}

func testRevokeTwice(earlierSecond bool) func(t *testing.T, s session.Store) {
	return func(t *testing.T, s session.Store) {
		early := time.Now().Add(time.Hour)
		late := early.Add(time.Hour)
		first, second := early, late
		if earlierSecond {
			first, second = late, early
		}
		id := idFor(t, 0)
		mustRevoke(t, s, id, first)
		mustRevoke(t, s, id, second)
		wantUntil(t, s, id, late)
	}
}

func testUntilInPast(t *testing.T, s session.Store) {
	id := idFor(t, 0)
	mustRevoke(t, s, id, time.Now().Add(-time.Minute))
	wantNotRevoked(t, s, id)

	// The zero Time is the furthest past there is.
	zero := idFor(t, 1)
	mustRevoke(t, s, zero, time.Time{})
	wantNotRevoked(t, s, zero)
}

func testExpiry(t *testing.T, s session.Store) {
	id := idFor(t, 0)
	until := time.Now().Add(expiryDelay)
	mustRevoke(t, s, id, until)
	got := mustRead(t, s, id)
	// A very slow machine may already be past until; then only the second
	// half of the test means anything.
	if time.Now().Before(until) && !sameInstant(got, until) {
		t.Fatalf("before expiry: RevokedUntil = %s, want %s", got, until)
	}
	time.Sleep(time.Until(until) + 2*Precision)
	wantNotRevoked(t, s, id)
}

func testCancelledContext(t *testing.T, s session.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := idFor(t, 0)
	err := s.Revoke(ctx, id, time.Now().Add(time.Hour))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Revoke with a cancelled context = %v, want context.Canceled", err)
	}
	wantNotRevoked(t, s, id)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err = s.Revoke(ctx, id, time.Now().Add(time.Hour))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Revoke past its deadline = %v, want context.DeadlineExceeded", err)
	}
	wantNotRevoked(t, s, id)
}

// testConcurrent has every goroutine revoke its own IDs and one shared ID
// (each with a different until) while reading both, then checks that the
// shared ID kept the latest until and every own ID its own.
func testConcurrent(t *testing.T, s session.Store) {
	const goroutines, perGoroutine = 32, 20
	base := time.Now().Add(time.Hour)
	shared := idFor(t, -1)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perGoroutine*4)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				n := g*perGoroutine + i
				until := base.Add(time.Duration(n) * time.Second)
				own := idFor(t, n)
				for _, id := range []session.ID{own, shared} {
					if err := s.Revoke(ctx, id, until); err != nil {
						errs <- fmt.Errorf("Revoke(%s): %w", id.Short(), err)
					}
				}
				if got, err := s.RevokedUntil(ctx, own); err != nil || !sameInstant(got, until) {
					errs <- fmt.Errorf("RevokedUntil(own %d) = %s, %v; want %s", n, got, err, until)
				}
				if got, err := s.RevokedUntil(ctx, shared); err != nil || got.Before(until.Add(-Precision)) {
					errs <- fmt.Errorf("RevokedUntil(shared) = %s, %v; want at least %s", got, err, until)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantUntil(t, s, shared, base.Add(time.Duration(goroutines*perGoroutine-1)*time.Second))
}

func testAfterClose(t *testing.T, s session.Store) {
	id := idFor(t, 0)
	mustRevoke(t, s, id, time.Now().Add(time.Hour))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := s.Revoke(context.Background(), idFor(t, 1), time.Now().Add(time.Hour))
	if !errors.Is(err, session.ErrClosed) {
		t.Errorf("Revoke after Close = %v, want session.ErrClosed", err)
	}
	if _, err := s.RevokedUntil(context.Background(), id); !errors.Is(err, session.ErrClosed) {
		t.Errorf("RevokedUntil after Close = %v, want session.ErrClosed", err)
	}
}

func testCloseTwice(t *testing.T, s session.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// testCloseWhileInUse is a config reload: old requests are still running
// when the store is closed under them. They may succeed or get ErrClosed,
// nothing else, and none may hang or panic.
func testCloseWhileInUse(t *testing.T, s session.Store) {
	const goroutines = 16
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	stop := make(chan struct{})
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := idFor(t, g*1_000_000+i)
				err := s.Revoke(ctx, id, until)
				if err == nil {
					_, err = s.RevokedUntil(ctx, id)
				}
				if err != nil {
					if !errors.Is(err, session.ErrClosed) {
						errs <- err
					}
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close while in use: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close while in use did not return within 10s")
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during Close: got %v, want nil or session.ErrClosed", err)
	}
}
