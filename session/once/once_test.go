package once_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/internal/testutil"
	"github.com/caddy-logout/caddy-logout/session/once"
	"github.com/caddy-logout/caddy-logout/session/redis/redistest"
)

// conformance runs what every Set must do; until times are real ones, as
// Redis keeps them.
func conformance(t *testing.T, s once.Set) {
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	first, err := s.Claim(ctx, "k1", until)
	if err != nil || !first {
		t.Fatalf("first claim: %v %v", first, err)
	}
	if again, err := s.Claim(ctx, "k1", until); err != nil || again {
		t.Fatalf("second claim: %v %v", again, err)
	}
	if other, _ := s.Claim(ctx, "k2", until); !other {
		t.Fatal("another key refused")
	}
	if err := s.Release(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Claim(ctx, "k1", until); !again {
		t.Fatal("a released key cannot be claimed again")
	}

	// Many claimers of one key at once: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if first, err := s.Claim(ctx, "contended", until); err == nil && first {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d claimers won one key", n)
	}
}

func TestMemory_Conformance(t *testing.T) { conformance(t, once.NewMemory(0, nil)) }

func TestMemory_ForgetsAtUntil(t *testing.T) {
	c := testutil.NewClock(time.Now())
	m := once.NewMemory(0, c.Now)
	ctx := context.Background()
	m.Claim(ctx, "k", c.Now().Add(time.Minute))
	c.Add(59 * time.Second)
	if again, _ := m.Claim(ctx, "k", c.Now().Add(time.Minute)); again {
		t.Fatal("forgot before until")
	}
	c.Add(2 * time.Second)
	if again, _ := m.Claim(ctx, "k", c.Now().Add(time.Minute)); !again {
		t.Fatal("remembered after until")
	}
}

// Bounded: a full set lets the oldest key go, and expired ones are swept
// as new ones come, so the size never passes the bound.
func TestMemory_Bounded(t *testing.T) {
	c := testutil.NewClock(time.Now())
	m := once.NewMemory(100, c.Now)
	ctx := context.Background()
	for i := range 1000 {
		m.Claim(ctx, fmt.Sprint(i), c.Now().Add(time.Hour))
		if m.Len() > 100 {
			t.Fatalf("%d keys held with a bound of 100", m.Len())
		}
	}
	if again, _ := m.Claim(ctx, "999", c.Now().Add(time.Hour)); again {
		t.Fatal("the newest key was dropped")
	}
	if again, _ := m.Claim(ctx, "0", c.Now().Add(time.Hour)); !again {
		t.Fatal("the oldest key is still held in a full set")
	}
	c.Add(2 * time.Hour)
	m.Claim(ctx, "new", c.Now().Add(time.Hour))
	if m.Len() > 2 {
		t.Fatalf("expired keys kept: %d", m.Len())
	}
}

// A key released and claimed again is not dropped by its older entry.
func TestMemory_ReclaimedKeySurvivesItsOldEntry(t *testing.T) {
	c := testutil.NewClock(time.Now())
	m := once.NewMemory(3, c.Now)
	ctx := context.Background()
	m.Claim(ctx, "a", c.Now().Add(time.Minute))
	m.Release(ctx, "a")
	c.Add(30 * time.Second)
	m.Claim(ctx, "a", c.Now().Add(time.Minute))
	c.Add(40 * time.Second) // the first claim's time has passed, the second's not
	m.Claim(ctx, "b", c.Now().Add(time.Minute))
	if again, _ := m.Claim(ctx, "a", c.Now().Add(time.Minute)); again {
		t.Fatal("the re-claimed key was forgotten with its old entry")
	}
}

func TestRedis_Conformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	conformance(t, once.NewRedis(srv.Client(t), "test:"))
}

// Two nodes on one Redis share the claims; Redis forgets a key at until.
func TestRedis_SharedAcrossNodesAndExpires(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	a, b := once.NewRedis(srv.Client(t), "p:"), once.NewRedis(srv.Client(t), "p:")
	ctx := context.Background()
	if first, err := a.Claim(ctx, "jti", time.Now().Add(300*time.Millisecond)); err != nil || !first {
		t.Fatalf("node A: %v %v", first, err)
	}
	if first, _ := b.Claim(ctx, "jti", time.Now().Add(time.Minute)); first {
		t.Fatal("node B claimed what node A holds")
	}
	ttl, err := srv.Client(t).PTTL(ctx, "p:jti").Result()
	if err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("key TTL %v %v", ttl, err)
	}
	time.Sleep(400 * time.Millisecond)
	if first, _ := b.Claim(ctx, "jti", time.Now().Add(time.Minute)); !first {
		t.Fatal("Redis kept the key past its time")
	}
}

func TestRedis_Down_IsAnError(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	s := once.NewRedis(srv.Client(t), "p:")
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.Claim(ctx, "k", time.Now().Add(time.Minute)); err == nil {
		t.Fatal("no error with Redis down")
	}
}
