package storetest

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
)

// Shared benchmarks, so every backend is measured the same way. Each takes
// an open, empty store and leaves closing it to the caller.

// revokeParallelism multiplies GOMAXPROCS for BenchRevokeParallel: logouts
// arrive from many more connections than there are cores, and group commit
// only pays off when callers wait together.
const revokeParallelism = 16

// hitSetSize is how many IDs BenchRevokedUntilHit revokes before measuring.
const hitSetSize = 4096

// BenchRevokeParallel measures Revoke from many goroutines at once, each
// revoking IDs never seen before.
func BenchRevokeParallel(b *testing.B, s session.Store) {
	var next atomic.Uint64
	until := time.Now().Add(time.Hour)
	b.SetParallelism(revokeParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := s.Revoke(ctx, benchID(next.Add(1)), until); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "revokes/s")
}

// BenchRevokeSerial measures Revoke from one goroutine: nothing to group,
// so on a durable store every call pays for its own commit.
func BenchRevokeSerial(b *testing.B, s session.Store) {
	until := time.Now().Add(time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n++
		if err := s.Revoke(ctx, benchID(n), until); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "revokes/s")
}

// BenchRevokedUntilHit measures lookups of revoked IDs.
func BenchRevokedUntilHit(b *testing.B, s session.Store) {
	fill(b, s, hitSetSize)
	benchRead(b, s, 0)
}

// BenchRevokedUntilMiss measures lookups of IDs never revoked, in a store
// that holds others.
func BenchRevokedUntilMiss(b *testing.B, s session.Store) {
	fill(b, s, hitSetSize)
	benchRead(b, s, hitSetSize)
}

func benchRead(b *testing.B, s session.Store, offset uint64) {
	ctx := context.Background()
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		until, err := s.RevokedUntil(ctx, benchID(offset+1+i%hitSetSize))
		if err != nil {
			b.Fatal(err)
		}
		if until.IsZero() != (offset > 0) {
			b.Fatalf("RevokedUntil(%d) = %s: wrong answer", offset+1+i%hitSetSize, until)
		}
		i++
	}
}

// fill revokes IDs 1..n from many goroutines, so a durable store can group
// the commits and the set-up stays quick.
func fill(b *testing.B, s session.Store, n uint64) {
	b.Helper()
	const workers = 64
	until := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for w := range uint64(workers) {
		wg.Go(func() {
			for i := 1 + w; i <= n; i += workers {
				if err := s.Revoke(context.Background(), benchID(i), until); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchID makes a distinct ID from n without hashing, so the benchmark
// measures the store and not SHA-256. Multiplying by an odd constant is a
// bijection that scatters consecutive n like real (hashed) IDs, so a
// B-tree store is not flattered by appending in key order.
func benchID(n uint64) session.ID {
	var id session.ID
	binary.BigEndian.PutUint64(id[:8], n*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(id[8:16], n)
	return id
}
