package memory_test

// Measured on the development VM (2 vCPU, Go 1.26.8, linux/amd64) with
//
//	go test -run '^$' -bench . -benchmem ./session/memory/
//
// TODO numbers

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
