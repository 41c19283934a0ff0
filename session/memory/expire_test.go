package memory

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/unixnano"
)

// clock is a settable time source for Store.now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newWithClock() (*Store, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s := New()
	s.now = c.now
	return s, c
}

func idN(n int) session.ID { return session.IDOf(fmt.Sprint("memory-test-", n)) }

func revoke(t *testing.T, s *Store, id session.ID, until time.Time) {
	t.Helper()
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatal(err)
	}
}

func wantLen(t *testing.T, s *Store, want int) {
	t.Helper()
	if got, err := s.Len(); err != nil || got != want {
		t.Fatalf("Len() = %d, %v; want %d", got, err, want)
	}
}

func TestRevoke_ForgetsExpiredRecords_KeepsLiveOnes(t *testing.T) {
	s, c := newWithClock()
	revoke(t, s, idN(1), c.t.Add(time.Minute))
	revoke(t, s, idN(2), c.t.Add(time.Hour))
	wantLen(t, s, 2)

	c.t = c.t.Add(2 * time.Minute)
	revoke(t, s, idN(3), c.t.Add(time.Hour))
	if _, ok := s.until[idN(1)]; ok {
		t.Error("expired record still held after the next Revoke")
	}
	wantLen(t, s, 2)
}

func TestRevoke_ExtendedRecord_SurvivesItsEarlierExpiry(t *testing.T) {
	s, c := newWithClock()
	id := idN(1)
	revoke(t, s, id, c.t.Add(time.Minute))
	revoke(t, s, id, c.t.Add(time.Hour))

	c.t = c.t.Add(2 * time.Minute) // past the first expiry, not the second
	wantLen(t, s, 1)
	got, err := s.RevokedUntil(context.Background(), id)
	if err != nil || !got.Equal(c.t.Add(time.Hour-2*time.Minute)) {
		t.Fatalf("RevokedUntil = %s, %v; want the extended expiry", got, err)
	}
}

func TestRevoke_AfterBurstExpires_ShrinksStorage(t *testing.T) {
	s, c := newWithClock()
	const burst = 4 * compactBelow
	for i := range burst {
		revoke(t, s, idN(i), c.t.Add(time.Minute))
	}
	c.t = c.t.Add(time.Hour)
	revoke(t, s, idN(-1), c.t.Add(time.Hour))
	wantLen(t, s, 1)
	if cap(s.expiries) >= burst {
		t.Errorf("expiry heap still has capacity %d after the burst expired", cap(s.expiries))
	}
	if s.peak != 1 {
		t.Errorf("peak = %d after shrinking, want 1", s.peak)
	}
}

func TestRevoke_FarFuture_SaturatesInsteadOfOverflowing(t *testing.T) {
	s, _ := newWithClock()
	id := idN(1)
	revoke(t, s, id, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	got, err := s.RevokedUntil(context.Background(), id)
	if err != nil || !got.Equal(unixnano.Max) {
		t.Fatalf("RevokedUntil = %s, %v; want %s", got, err, unixnano.Max)
	}
}

func TestLen_AfterClose_ReturnsErrClosed(t *testing.T) {
	s := New()
	_ = s.Close()
	if _, err := s.Len(); err != session.ErrClosed {
		t.Fatalf("Len after Close = %v, want session.ErrClosed", err)
	}
}
