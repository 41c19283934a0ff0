package bolt_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/bolt"
)

func waitViewCurrent(t *testing.T, s *bolt.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !s.ViewStatus().Current {
		if time.Now().After(deadline) {
			t.Fatalf("the view is not current within 10s: %+v", s.ViewStatus())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The view holds every live record: those in the file at Open (loaded in
// chunks) and each one revoked since, from the moment Revoke returns; the
// Cache answers a session nobody revoked from it, without reading the
// file.
func TestView_HoldsEveryLiveRecord_CacheAnswersWithoutTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	s := openAt(t, path)
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	var ids []session.ID
	for i := range 12_000 { // more than one load chunk
		ids = append(ids, session.IDOf(fmt.Sprint("in the file ", i)))
	}
	var wg sync.WaitGroup
	for w := range 64 { // concurrent Revokes share commits
		wg.Go(func() {
			for i := w; i < len(ids); i += 64 {
				if err := s.Revoke(ctx, ids[i], until); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	expired := session.IDOf("expired before the reopen")
	if err := s.Revoke(ctx, expired, time.Now().Add(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)

	s = openAt(t, path)
	waitViewCurrent(t, s)
	if st := s.ViewStatus(); st.Revocations != len(ids) {
		t.Errorf("the view holds %d revocations after Open, want %d (the expired one left out)", st.Revocations, len(ids))
	}
	for _, id := range ids {
		if got, _ := s.ViewLookup(id); got.IsZero() || got.Before(until) {
			t.Fatalf("%s: the view says %v, want %v or a little later", id.Short(), got, until)
		}
	}
	fresh := session.IDOf("revoked after Open")
	if err := s.Revoke(ctx, fresh, until); err != nil {
		t.Fatal(err)
	}
	if got, current := s.ViewLookup(fresh); got.IsZero() || !current {
		t.Errorf("a revocation is not in the view when Revoke returns: %v, current %v", got, current)
	}

	counting := &countingStore{Store: s}
	c, err := session.NewCache(counting, session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 1000 {
		if r, err := c.Revoked(ctx, session.IDOf(fmt.Sprint("never seen ", i))); r || err != nil {
			t.Fatalf("never-seen session: %v, %v", r, err)
		}
	}
	if r, err := c.Revoked(ctx, ids[7]); !r || err != nil {
		t.Fatalf("a revoked session: %v, %v", r, err)
	}
	if n := counting.lookups; n != 0 {
		t.Errorf("%d lookups read the file; the view answers them", n)
	}
}

// countingStore counts the lookups that reach the store beneath.
type countingStore struct {
	*bolt.Store
	lookups int
}

func (c *countingStore) RevokedUntil(ctx context.Context, id session.ID) (time.Time, error) {
	c.lookups++
	return c.Store.RevokedUntil(ctx, id)
}

func (c *countingStore) Unwrap() session.Store { return c.Store }

// Past ViewLimit the view is not current, and lookups read the file (as
// before the view existed): still right, revoked or not.
func TestView_PastItsLimit_LookupsReadTheFile(t *testing.T) {
	s, err := bolt.Open(bolt.Options{Path: filepath.Join(t.TempDir(), "logout.db"), ViewLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	waitViewCurrent(t, s)
	ctx := context.Background()
	var ids []session.ID
	for i := range 6 {
		id := session.IDOf(fmt.Sprint("limit ", i))
		ids = append(ids, id)
		if err := s.Revoke(ctx, id, time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.ViewStatus(); st.Current || !st.Full || st.Dropped != 1 {
		t.Fatalf("status past the limit = %+v", st)
	}
	c, err := session.NewCache(s, session.CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range ids {
		if r, err := c.Revoked(ctx, id); !r || err != nil {
			t.Errorf("%s: revoked = %v, %v", id.Short(), r, err)
		}
	}
	if r, err := c.Revoked(ctx, session.IDOf("nobody revoked this")); r || err != nil {
		t.Errorf("never-seen session: %v, %v", r, err)
	}
}
