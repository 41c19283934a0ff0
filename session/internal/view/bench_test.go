package view

// A lookup's cost against the number of revocations held:
//
//	go test -run '^$' -bench . -benchmem -count 6 ./session/internal/view/
//
// Each size is filled once; lookups are of IDs the set does not hold (the
// guard's usual question) and of IDs it holds, in random order.

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

// benchID is a cheap, well-spread ID: the set only reads bytes 0-7 and 31.
func benchID(i uint64) session.ID {
	var id session.ID
	x := i*0x9E3779B97F4A7C15 + 1
	binary.LittleEndian.PutUint64(id[0:8], x)
	id[31] = byte(x >> 56)
	return id
}

func BenchmarkSet_Until(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000, 10_000_000} {
		s := NewSet(0)
		for i := range uint64(n) {
			s.Add(benchID(i), 1<<62)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap := float64(ms.HeapInuse)
		b.Run(fmt.Sprintf("revoked=%d/absent", n), func(b *testing.B) {
			b.ReportMetric(heap/float64(n), "heap-bytes/entry")
			i := uint64(n)
			for b.Loop() {
				i++
				if s.Until(benchID(i)) != 0 {
					b.Fatal("found an absent ID")
				}
			}
		})
		b.Run(fmt.Sprintf("revoked=%d/held", n), func(b *testing.B) {
			i := uint64(0)
			for b.Loop() {
				i = (i + 7919) % uint64(n)
				if s.Until(benchID(i)) == 0 {
					b.Fatal("lost a held ID")
				}
			}
		})
		b.Run(fmt.Sprintf("revoked=%d/absent_parallel", n), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := uint64(n) << 20
				for pb.Next() {
					i++
					_ = s.Until(benchID(i))
				}
			})
		})
	}
}

func BenchmarkSet_Add(b *testing.B) {
	s := NewSet(0)
	i := uint64(0)
	for b.Loop() {
		i++
		s.Add(benchID(i), 1<<62)
	}
}
