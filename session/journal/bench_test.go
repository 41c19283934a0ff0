package journal_test

// What a logout costs while Redis is away: the journal's fsync (shared by
// concurrent logouts), never a wait for Redis.
//
//	go test -run '^$' -bench . -benchmem -count 6 ./session/journal/

import (
	"context"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/journal"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func degradedJournal(b *testing.B) *journal.Store {
	srv := redistest.Start(b, redistest.Options{})
	j := openJournal(b, newRedis(b, srv, ""), "", nil)
	eventually(b, "backend reached", 5*time.Second, j.EverReached)
	srv.Kill()
	// The first logout finds Redis away and makes the journal degraded.
	if err := j.Revoke(context.Background(), session.IDOf("finds Redis away"), time.Now().Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	if !j.Degraded() {
		b.Fatal("not degraded with Redis stopped")
	}
	return j
}

func BenchmarkRevoke_WhileDegraded_Serial(b *testing.B) {
	storetest.BenchRevokeSerial(b, degradedJournal(b))
}

func BenchmarkRevoke_WhileDegraded_Parallel(b *testing.B) {
	storetest.BenchRevokeParallel(b, degradedJournal(b))
}
