package bolt

// Measured on the development VM (2 vCPU, ext4 on a virtual disk, Go 1.26.8,
// linux/amd64) with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./session/bolt/
//
// (five runs each; ranges, median in brackets; the disk is shared and noisy):
//
//	Revoke_Parallel     11,200-19,300 revokes/s [18,100]  ~15.9 revokes/commit  25 KB/op  37 allocs/op
//	Revoke_Serial        3,000-3,700 revokes/s  [3,300]    1 revoke/commit      36 KB/op  91 allocs/op
//	RevokedUntil_Hit       634-676 ns/op                                      480 B/op   8 allocs/op
//	RevokedUntil_Miss      629-758 ns/op                                      480 B/op   8 allocs/op
//
// Serial is one fsync per Revoke (~300 us here), what a store without group
// commit gives at any concurrency; Parallel (32 goroutines on 2 vCPU) shares
// each fsync about 16 ways and is ~5.5x faster. The batch is about half the
// callers: while one half waits on the fsync, the other half is being
// answered and queues again. Reads are a bbolt View; the Cache sits in front.

import (
	"path/filepath"
	"testing"

	"github.com/caddy-logout/caddy-logout/session/storetest"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(Options{Path: filepath.Join(b.TempDir(), "logout.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// reportCommits shows how many Revokes shared each fsync.
func reportCommits(b *testing.B, s *Store, run func(*testing.B, *Store)) {
	before := s.commits.Load()
	run(b, s)
	if commits := s.commits.Load() - before; commits > 0 {
		b.ReportMetric(float64(b.N)/float64(commits), "revokes/commit")
	}
}

// Group commit: many callers share each fsync.
func BenchmarkRevoke_Parallel(b *testing.B) {
	reportCommits(b, benchStore(b), func(b *testing.B, s *Store) { storetest.BenchRevokeParallel(b, s) })
}

// One caller at a time: one fsync per Revoke, what a store without group
// commit would do under any load.
func BenchmarkRevoke_Serial(b *testing.B) {
	reportCommits(b, benchStore(b), func(b *testing.B, s *Store) { storetest.BenchRevokeSerial(b, s) })
}

func BenchmarkRevokedUntil_Hit(b *testing.B) {
	storetest.BenchRevokedUntilHit(b, benchStore(b))
}

func BenchmarkRevokedUntil_Miss(b *testing.B) {
	storetest.BenchRevokedUntilMiss(b, benchStore(b))
}
