package bolt

// The check must not grow with the number of revoked sessions. This
// fills a bolt file with 1 thousand or 1 million revocations (written
// straight into sorted transactions, so a million takes seconds rather
// than a million Revokes) and measures the lookups the guard makes:
//
//	go test -run '^$' -bench Scale -benchmem -count 5 ./session/bolt/
//
//   - cache_hit: a valid session answered by the Cache (every request of
//     a logged-in user after its first);
//   - cache_revoked_hit: a revoked session answered by the Cache;
//   - cache_miss: a session never seen, so the Cache asks the file and
//     remembers the answer (a new ID each iteration);
//   - store_hit, store_miss: the file alone, a revoked or unknown ID.
//
// The in-memory side of this is flow's BenchmarkGuard_Scale.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/internal/boltfile"
)

func BenchmarkScale(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			s := benchStore(b)
			until := time.Now().Add(24 * time.Hour)
			bulkRevoke(b, s, n, until)
			cache, err := session.NewCache(s, session.CacheOptions{NegativeTTL: time.Hour})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = cache.Close() })
			revoked, valid := scaleID(uint64(n/2)), scaleID(uint64(n)+1)

			lookup := func(b *testing.B, id session.ID, want bool, ask func(session.ID) (time.Time, error)) {
				b.ReportAllocs()
				for b.Loop() {
					until, err := ask(id)
					if err != nil || until.IsZero() == want {
						b.Fatalf("lookup: until=%v err=%v, want revoked=%v", until, err, want)
					}
				}
			}
			cached := func(id session.ID) (time.Time, error) { return cache.RevokedUntil(ctx, id) }
			stored := func(id session.ID) (time.Time, error) { return s.RevokedUntil(ctx, id) }

			b.Run("cache_hit", func(b *testing.B) {
				warmCache(b, cache, valid)
				lookup(b, valid, false, cached)
			})
			b.Run("cache_revoked_hit", func(b *testing.B) {
				warmCache(b, cache, revoked)
				lookup(b, revoked, true, cached)
			})
			b.Run("cache_miss", func(b *testing.B) {
				next := uint64(n) + 1000
				b.ReportAllocs()
				for b.Loop() {
					next++
					if until, err := cache.RevokedUntil(ctx, scaleID(next)); err != nil || !until.IsZero() {
						b.Fatal(until, err)
					}
				}
			})
			b.Run("store_hit", func(b *testing.B) { lookup(b, revoked, true, stored) })
			b.Run("store_miss", func(b *testing.B) { lookup(b, valid, false, stored) })
		})
	}
}

// bulkRevoke writes records for scaleID(0..n-1) in sorted transactions of
// 100k, the way the committer writes them (boltfile.PutRecord), without the
// round trip per Revoke.
func bulkRevoke(b *testing.B, s *Store, n int, until time.Time) {
	b.Helper()
	ids := make([]session.ID, n)
	for i := range ids {
		ids[i] = scaleID(uint64(i))
	}
	slices.SortFunc(ids, func(x, y session.ID) int { return bytes.Compare(x[:], y[:]) })
	at := until.UnixNano()
	for start := 0; start < n; start += 100_000 {
		err := s.file.Update(func(tx *bbolt.Tx) error {
			records, index := tx.Bucket(boltfile.RecordsBucket), tx.Bucket(boltfile.ExpiryBucket)
			records.FillPercent, index.FillPercent = 0.9, 0.9 // appending in order
			for _, id := range ids[start:min(start+100_000, n)] {
				if err := boltfile.PutRecord(records, index, id, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if got, err := s.Len(); err != nil || got != n {
		b.Fatalf("filled %d records (%v), want %d", got, err, n)
	}
}

// scaleID is a distinct, hash-like ID per n (SHA-256 of a million
// strings would only slow the set-up).
func scaleID(n uint64) session.ID {
	var id session.ID
	binary.BigEndian.PutUint64(id[:8], (n+1)*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(id[8:16], n)
	return id
}

// warmCache asks until the answer is served by the cache (ristretto's Set
// is asynchronous).
func warmCache(b *testing.B, c *session.Cache, id session.ID) {
	b.Helper()
	for range 1000 {
		before := c.Stats().Hits
		if _, err := c.RevokedUntil(context.Background(), id); err != nil {
			b.Fatal(err)
		}
		if c.Stats().Hits > before {
			return
		}
		time.Sleep(time.Millisecond)
	}
	b.Fatal("the answer never reached the cache")
}
