package view

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func current(v *View) bool { _, c := v.Lookup(idOf(0)); return c }

// A local view (no StaleAfter) is current once loaded, and stops being so
// when full or closed.
func TestView_CurrentOnlyWhenLoadedNotFullNotClosed(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	v := New(Options{Limit: 3, Name: "the test view", Source: "the test", Logger: zap.New(core), LimitOption: "limit"})
	if current(v) {
		t.Fatal("current before it was loaded")
	}
	v.SetLoaded(true, "")
	if !current(v) {
		t.Fatal("not current once loaded")
	}
	for i := range 3 {
		v.Add(idOf(i), 1000+int64(i))
	}
	v.Add(idOf(3), 5000) // one too many
	if current(v) || !v.Full() || v.Status().Dropped != 1 {
		t.Fatalf("status past the limit: %+v", v.Status())
	}
	if until, _ := v.Lookup(idOf(1)); until.UnixMilli() != 1001 {
		t.Errorf("a held revocation is not answered while full: %v", until)
	}
	if logs.FilterMessageSnippet("the test view is full").Len() != 1 {
		t.Errorf("want one warning that it is full; got %v", logs.All())
	}
	v.Close()
	if _, reload := v.Sweep(5000); current(v) || reload {
		t.Error("a closed view is current again, or asks for a reload")
	}
}

func TestView_Full_RoomAfterSweep_AsksForAReload(t *testing.T) {
	v := New(Options{Limit: 10, Name: "v", Source: "s"})
	v.SetLoaded(true, "")
	for i := range 11 {
		v.Add(idOf(i), 1000)
	}
	if !v.Full() {
		t.Fatal("not full")
	}
	if _, reload := v.Sweep(999); reload {
		t.Fatal("reload asked for with no room made")
	}
	removed, reload := v.Sweep(1000)
	if removed != 10 || !reload || v.Full() || current(v) {
		t.Fatalf("after the sweep: removed %d, reload %v, %+v; want 10, true, not full, not current until loaded", removed, reload, v.Status())
	}
	v.SetLoaded(true, "")
	if !current(v) {
		t.Fatal("not current after loading again")
	}
}

// A remote view (StaleAfter) is current only while it hears from its
// source.
func TestView_Stale_WithoutAWordFromItsSource(t *testing.T) {
	v := New(Options{StaleAfter: 50 * time.Millisecond, Name: "v", Source: "s"})
	v.SetLoaded(true, "")
	if current(v) {
		t.Fatal("current before hearing from its source")
	}
	v.Heard()
	if !current(v) {
		t.Fatal("not current after hearing from its source")
	}
	deadline := time.Now().Add(5 * time.Second)
	for current(v) {
		if time.Now().After(deadline) {
			t.Fatal("still current 5s without a word")
		}
		time.Sleep(5 * time.Millisecond)
	}
	v.Heard()
	if !current(v) {
		t.Fatal("not current again after a word")
	}
	v.Close()
	v.Heard()
	if current(v) {
		t.Fatal("current after Close")
	}
}
