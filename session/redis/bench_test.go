package redis_test

// Measured against a local redis-server (loopback, no persistence) with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./session/redis/
//
// Numbers are in bench/README.md. Each call is one round trip; the Cache
// in front answers repeated lookups without one.

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/redis"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func benchStore(b *testing.B) *redis.Store {
	srv := redistest.Start(b, redistest.Options{})
	s, err := redis.New(redis.Options{Addrs: []string{srv.Addr}, KeyPrefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkRevoke_Parallel(b *testing.B) { storetest.BenchRevokeParallel(b, benchStore(b)) }
func BenchmarkRevoke_Serial(b *testing.B)   { storetest.BenchRevokeSerial(b, benchStore(b)) }
func BenchmarkRevokedUntil_Hit(b *testing.B) {
	storetest.BenchRevokedUntilHit(b, benchStore(b))
}
func BenchmarkRevokedUntil_Miss(b *testing.B) {
	storetest.BenchRevokedUntilMiss(b, benchStore(b))
}

// The guard's question through the session.Cache while the view is
// current, against the number of revocations the view holds: a session
// never seen (the usual answer, "not revoked", without Redis) and a
// revoked one. The view is filled through Remember (the journal's way in),
// so ten million need no ten million round trips; the lookup is the same.
//
//	go test -run '^$' -bench Cache_View -benchmem -count 6 ./session/redis/
func BenchmarkCache_View(b *testing.B) {
	for _, n := range []int{1_000, 10_000_000} {
		b.Run(fmt.Sprintf("revoked=%d", n), func(b *testing.B) {
			s := benchStore(b)
			for !s.ViewStatus().Current {
				time.Sleep(10 * time.Millisecond)
			}
			until := time.Now().Add(time.Hour)
			for i := range uint64(n) {
				s.Remember(viewBenchID(i), until)
			}
			c, err := session.NewCache(s, session.CacheOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			ctx := context.Background()
			b.Run("never_seen", func(b *testing.B) {
				b.ReportAllocs()
				i := uint64(n)
				for b.Loop() {
					i++
					if r, err := c.Revoked(ctx, viewBenchID(i)); r || err != nil {
						b.Fatal(r, err)
					}
				}
			})
			b.Run("revoked", func(b *testing.B) {
				b.ReportAllocs()
				i := uint64(0)
				for b.Loop() {
					i = (i + 7919) % uint64(n)
					if r, err := c.Revoked(ctx, viewBenchID(i)); !r || err != nil {
						b.Fatal(r, err)
					}
				}
			})
		})
	}
}

// viewBenchID is a well-spread ID, cheaper to make than a SHA-256.
func viewBenchID(i uint64) session.ID {
	var id session.ID
	x := i*0x9E3779B97F4A7C15 + 1
	for j := 0; j < len(id); j += 8 {
		binary.LittleEndian.PutUint64(id[j:], x)
		x = x*0xBF58476D1CE4E5B9 + 7
	}
	return id
}
