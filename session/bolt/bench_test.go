package bolt

// Measured on the development VM (2 vCPU, ext4 on a virtual disk, Go 1.26.8,
// linux/amd64) with
//
//	go test -run '^$' -bench . -benchmem ./session/bolt/
//
// TODO numbers

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
