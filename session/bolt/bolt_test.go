package bolt_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/bolt"
	"github.com/caddy-logout/caddy-logout/session/storetest"
)

var _ session.Store = (*bolt.Store)(nil)

// setClock is a clock for Options.Now that a test moves while the store's
// goroutines (its view's load, its sweeper) read it.
type setClock struct{ ns atomic.Int64 }

func newSetClock(t time.Time) *setClock {
	c := new(setClock)
	c.Set(t)
	return c
}

func (c *setClock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *setClock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

func openAt(t *testing.T, path string) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(bolt.Options{Path: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestStore_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) session.Store {
		return openAt(t, filepath.Join(t.TempDir(), "logout.db"))
	})
}

func TestOpen_RecordsSurviveCloseAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	id := session.IDOf("persistent")
	until := time.Now().Add(time.Hour)

	s := openAt(t, path)
	if err := s.Revoke(context.Background(), id, until); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	got, err := openAt(t, path).RevokedUntil(context.Background(), id)
	if err != nil || !got.Equal(until) {
		t.Fatalf("after reopen RevokedUntil = %s, %v; want %s", got, err, until)
	}
}

// Every Revoke that returned nil must be on disk, even when Close cut the
// others short: a config reload must not lose an accepted logout.
func TestClose_DuringRevokes_KeepsEveryAcceptedRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	s := openAt(t, path)
	until := time.Now().Add(time.Hour)

	var mu sync.Mutex
	var accepted []session.ID
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := session.IDOf(fmt.Sprintf("close-test/%d/%d", g, i))
				if err := s.Revoke(context.Background(), id, until); err != nil {
					return
				}
				mu.Lock()
				accepted = append(accepted, id)
				mu.Unlock()
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	reopened := openAt(t, path)
	for _, id := range accepted {
		if got, err := reopened.RevokedUntil(context.Background(), id); err != nil || got.IsZero() {
			t.Fatalf("accepted revoke of %s lost after Close: %s, %v", id.Short(), got, err)
		}
	}
	t.Logf("%d revokes accepted before Close", len(accepted))
}

func TestOpen_SamePathTwice_FailsWithinTimeoutNamingPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logout.db")
	openAt(t, path)

	const timeout = 200 * time.Millisecond
	start := time.Now()
	second, err := bolt.Open(bolt.Options{Path: path, OpenTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		_ = second.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path %s", err, path)
	}
	if !errors.Is(err, session.ErrLocked) {
		t.Errorf("error %q does not wrap session.ErrLocked", err)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("second Open took %s with OpenTimeout %s", elapsed, timeout)
	}
}

func TestOpen_GarbageFile_ReturnsError(t *testing.T) {
	random := make([]byte, 64<<10)
	_, _ = rand.Read(random)
	tests := []struct {
		name    string
		content []byte
	}{
		{"RandomBytes", random},
		{"TextFile", []byte("this is not a bbolt database\n")},
		{"ZeroedPages", make([]byte, 16<<10)},
		{"TruncatedDatabase", validDatabase(t)[:3*os.Getpagesize()]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logout.db")
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(bolt.Options{Path: path})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open of a garbage file succeeded")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the path %s", err, path)
			}
		})
	}
}

// A file whose metadata and top-level pages are intact but whose record
// pages are damaged opens (bbolt reads few pages on Open), then must fail
// on use with errors, not panics.
func TestStore_DamagedRecordPages_ErrorsInsteadOfPanics(t *testing.T) {
	content := validDatabase(t)
	damageRecordPages(t, content)
	path := filepath.Join(t.TempDir(), "logout.db")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path)

	_, err := s.RevokedUntil(context.Background(), validDatabaseID(0))
	if err == nil {
		t.Error("RevokedUntil on damaged pages returned no error")
	}
	t.Logf("RevokedUntil on damaged pages: %v", err)
	if err := s.Revoke(context.Background(), validDatabaseID(1), time.Now().Add(time.Hour)); err == nil {
		t.Error("Revoke on damaged pages returned no error")
	}
	if _, err := s.Len(); err == nil {
		t.Error("Len on damaged pages returned no error")
	}
	if _, err := s.Sweep(); err == nil {
		t.Error("Sweep on damaged pages returned no error")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after damage: %v", err)
	}
}

// damageRecordPages overwrites the page ID of every branch page and every
// leaf holding more than the bucket headers of the top-level page (the
// revocations' two buckets, the owners' four and the groups'), so bbolt's page check
// fails on any record lookup but not on Open. It knows bbolt's page
// header: id uint64, flags uint16, count uint16, overflow uint32.
func damageRecordPages(t *testing.T, content []byte) {
	const branchPage, leafPage, topLevelBuckets = 0x01, 0x02, 7
	size := os.Getpagesize()
	damaged := 0
	for off := 2 * size; off+size <= len(content); off += size {
		flags := binary.LittleEndian.Uint16(content[off+8:])
		count := binary.LittleEndian.Uint16(content[off+10:])
		if flags == branchPage || (flags == leafPage && count > topLevelBuckets) {
			binary.LittleEndian.PutUint64(content[off:], math.MaxUint64)
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("found no record pages to damage")
	}
}

// validDatabase returns the bytes of a store file holding a few hundred
// records, big enough to span several pages.
func validDatabase(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	s := openAt(t, path)
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Go(func() {
			if err := s.Revoke(context.Background(), validDatabaseID(i), time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return content
}

func validDatabaseID(i int) session.ID { return session.IDOf(fmt.Sprint("valid-", i)) }

func TestOpen_MissingDirectories_CreatedPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "caddy", "logout")
	path := filepath.Join(dir, "logout.db")
	openAt(t, path)

	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", p, got, want)
		}
	}
}

func TestOpen_NoPath_ReturnsError(t *testing.T) {
	if _, err := bolt.Open(bolt.Options{}); err == nil {
		t.Fatal("Open without a path succeeded")
	}
}

func TestLen_CountsRecords(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "logout.db"))
	until := time.Now().Add(time.Hour)
	for _, c := range []string{"a", "b", "a"} {
		if err := s.Revoke(context.Background(), session.IDOf(c), until); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Len(); err != nil || n != 2 {
		t.Fatalf("Len() = %d, %v; want 2", n, err)
	}
	_ = s.Close()
	if _, err := s.Len(); err != session.ErrClosed {
		t.Fatalf("Len after Close = %v, want session.ErrClosed", err)
	}
	if _, err := s.Sweep(); err != session.ErrClosed {
		t.Fatalf("Sweep after Close = %v, want session.ErrClosed", err)
	}
}
