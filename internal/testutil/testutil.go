// Package testutil holds the small helpers that tests share: for real
// processes (Caddy, redis-server) and a clock a test moves.
package testutil

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FreePort asks the kernel for a loopback port that is free right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SyncBuffer collects a process's output; safe to read while it writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tool returns the path of a program that scripts/test-setup.sh built at
// its pinned version (staticcheck, identity providers, auth proxies). A
// missing tool fails the test, never skips it: CI must run everything.
func Tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("CADDY_LOGOUT_TOOLS")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "caddy-logout", "tools")
	}
	p := filepath.Join(dir, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not installed (%v): run scripts/test-setup.sh", name, err)
	}
	return p
}

// Clock is a clock a test moves, safe to read from other goroutines.
type Clock struct{ ns atomic.Int64 }

// NewClock is a Clock at start.
func NewClock(start time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(start.UnixNano())
	return c
}

// Now is the clock's time (a func value for the code's Now options).
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }
