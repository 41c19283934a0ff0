package redis_test

// Measured against a local redis-server (loopback, no persistence) with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./session/redis/
//
// Numbers are in bench/README.md. Each call is one round trip; the Cache
// in front answers repeated lookups without one.

import (
	"testing"

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
