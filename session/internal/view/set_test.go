package view

import (
	"fmt"
	"sync"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
)

func idOf(i int) session.ID { return session.IDOf(fmt.Sprint("idset ", i)) }

func TestSet_AddUntil_KeepsTheLater(t *testing.T) {
	s := NewSet(0)
	a, b := idOf(1), idOf(2)
	if s.Until(a) != 0 || s.Len() != 0 {
		t.Fatal("an empty set holds something")
	}
	s.Add(a, 2000)
	s.Add(a, 1000) // earlier: kept as 2000
	if got := s.Until(a); got != 2000 {
		t.Errorf("Until after an earlier Add = %d, want 2000", got)
	}
	s.Add(a, 3000)
	if got := s.Until(a); got != 3000 {
		t.Errorf("Until after a later Add = %d, want 3000", got)
	}
	if s.Until(b) != 0 {
		t.Error("an ID never added is in the set")
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
}

func TestSet_Limit_RefusesNewIDs_NotLaterUntils(t *testing.T) {
	s := NewSet(10)
	for i := range 10 {
		if !s.Add(idOf(i), 1000) {
			t.Fatalf("Add %d refused below the limit", i)
		}
	}
	if s.Add(idOf(10), 1000) {
		t.Fatal("Add of an 11th ID accepted with a limit of 10")
	}
	if s.Until(idOf(10)) != 0 || s.Len() != 10 {
		t.Fatalf("a refused Add changed the set: Len %d", s.Len())
	}
	if !s.Add(idOf(3), 5000) || s.Until(idOf(3)) != 5000 {
		t.Error("a later until for an ID already held was refused at the limit")
	}
	s.Sweep(2000) // all but idOf(3) expire
	if !s.Add(idOf(10), 1000+9000) {
		t.Error("Add refused after a sweep made room")
	}
}

func TestSet_Sweep_ForgetsExpired_AndShrinks(t *testing.T) {
	s := NewSet(0)
	const n = 100_000
	for i := range n {
		s.Add(idOf(i), int64(1000+i%2)) // half expire at 1000, half at 1001
	}
	if removed := s.Sweep(1000); removed != n/2 {
		t.Fatalf("Sweep(1000) removed %d, want %d", removed, n/2)
	}
	for i := range 10 {
		if got, want := s.Until(idOf(i)) != 0, i%2 == 1; got != want {
			t.Errorf("ID %d held = %v after the sweep, want %v", i, got, want)
		}
	}
	if removed := s.Sweep(1001); removed != n/2 || s.Len() != 0 {
		t.Fatalf("Sweep(1001) removed %d, Len %d", removed, s.Len())
	}
	for i := range s.shards {
		if sh := &s.shards[i]; sh.peak != 0 {
			t.Fatalf("shard %d: peak %d after everything expired: its map was not made again", i, sh.peak)
		}
	}
}

// Lookups, adds and sweeps at once (run with -race).
func TestSet_Concurrent(t *testing.T) {
	s := NewSet(0)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				s.Add(idOf(w*5000+i), int64(2000+i))
				_ = s.Until(idOf(i))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.Sweep(1000)
		}
	})
	wg.Wait()
	if s.Len() != 20_000 {
		t.Errorf("Len = %d, want 20000", s.Len())
	}
	n := 0
	s.Each(func(Entry) { n++ })
	if n != s.Len() {
		t.Errorf("Each saw %d entries, Len says %d", n, s.Len())
	}
}

func TestSet_EachAddEntry_RoundTrip(t *testing.T) {
	a := NewSet(0)
	for i := range 1000 {
		a.Add(idOf(i), int64(5000+i))
	}
	b := NewSet(0)
	a.Each(func(e Entry) { b.AddEntry(e) })
	for i := range 1000 {
		if got := b.Until(idOf(i)); got != int64(5000+i) {
			t.Fatalf("ID %d: %d after the round trip, want %d", i, got, 5000+i)
		}
	}
}
