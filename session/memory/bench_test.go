package memory_test

// Measured on the development VM (2 vCPU, Go 1.26.8, linux/amd64) with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./session/memory/
//
// (five runs each, ranges):
//
//	Revoke_Parallel     769-866 ns/op  ~1.25M revokes/s  ~430 B/op  1 allocs/op
//	Revoke_Serial       633-803 ns/op  ~1.45M revokes/s  ~450 B/op  1 allocs/op
//	RevokedUntil_Hit     86-97 ns/op                        0 B/op  0 allocs/op
//	RevokedUntil_Miss    33-35 ns/op                        0 B/op  0 allocs/op
//
// Revoke is one map insert and one heap push under a single mutex (the
// allocation is the heap entry boxed for container/heap); parallel is no
// faster than serial because of that mutex, which is fine for a test store.

import (
	"testing"

	"github.com/caddy-logout/caddy-logout/session/memory"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func benchStore(b *testing.B) *memory.Store {
	s := memory.New()
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
