package session

// The cache is what the guard asks on every request:
//
//	go test -run '^$' -bench 'Cache' -benchmem -count 5 ./session/

import (
	"context"
	"testing"
	"time"
)

func BenchmarkCache_Revoked(b *testing.B) {
	ctx := context.Background()
	c := newTestCache(b, &mapStore{m: map[ID]time.Time{}}, CacheOptions{NegativeTTL: time.Hour})
	valid, revoked := IDOf("valid"), IDOf("revoked")
	if err := c.Revoke(ctx, revoked, time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	waitHit(b, c, valid)
	waitHit(b, c, revoked)
	for _, bc := range []struct {
		name string
		id   ID
		want bool
	}{{"hit_not_revoked", valid, false}, {"hit_revoked", revoked, true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := c.Revoked(ctx, bc.id); got != bc.want || err != nil {
					b.Fatal(got, err)
				}
			}
		})
		b.Run(bc.name+"_parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if got, err := c.Revoked(ctx, bc.id); got != bc.want || err != nil {
						b.Error(got, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCache_Clock compares what a cache hit used to pay for its TTL
// check with what it pays now.
func BenchmarkCache_Clock(b *testing.B) {
	b.Run("time.Now", func(b *testing.B) {
		var t time.Time
		for b.Loop() {
			t = time.Now()
		}
		_ = t
	})
	b.Run("coarse", func(b *testing.B) {
		c := newCoarseClock()
		defer c.Close()
		var n int64
		for b.Loop() {
			n = c.Now()
		}
		_ = n
	})
}
