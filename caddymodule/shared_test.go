package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/session/memory"
)

// The handlers here are loaded the way Caddy loads them (LoadModuleByID in
// a config's context), and cancelling that context cleans them up as a
// config reload does: the new config is provisioned first, the old one
// cancelled after.

const testKey = "0123456789abcdef0123456789abcdef"

// newConfig is one config load: its context, cancelled (and its handlers
// cleaned up) when the test ends unless the test does it first.
func newConfig(t *testing.T) (caddy.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	var once sync.Once
	stop := func() { once.Do(cancel) }
	t.Cleanup(stop)
	return ctx, stop
}

// loadHandler provisions a logout handler from its JSON config (without
// "handler") in ctx.
func loadHandler(t *testing.T, ctx caddy.Context, config string) *Handler {
	t.Helper()
	m, err := ctx.LoadModuleByID("http.handlers.logout", json.RawMessage(config))
	if err != nil {
		t.Fatal(err)
	}
	return m.(*Handler)
}

// handlerConfig is a handler on the given store JSON, denying revoked
// sessions, with on_store_error at its default (allow).
func handlerConfig(store, extra string) string {
	return fmt.Sprintf(`{"cookies":["sid"],"signing_keys":[%q],"on_revoked":"deny","store":%s%s}`, testKey, store, extra)
}

// app is the handler behind the gateway: it records what reached it.
type app struct{ reached atomic.Int64 }

func (a *app) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	a.reached.Add(1)
	w.WriteHeader(http.StatusOK)
	return nil
}

// serve sends one request through h and returns the status.
func serve(t *testing.T, h *Handler, next caddyhttp.Handler, r *http.Request) int {
	t.Helper()
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, next); err != nil {
		t.Fatal(err)
	}
	return w.Code
}

// apiLogout revokes token through h's API logout endpoint.
func apiLogout(t *testing.T, h *Handler, token string) int {
	t.Helper()
	r := httptest.NewRequest(http.MethodDelete, "/self-service/logout/api", strings.NewReader(`{"session_token":"`+token+`"}`))
	r.Header.Set("Content-Type", "application/json")
	return serve(t, h, &app{}, r)
}

// withToken is an app request carrying a session token.
func withToken(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/page", nil)
	r.Header.Set("X-Session-Token", token)
	r.Header.Set("Accept", "application/json")
	return r
}

// adminGet calls the admin API's status route.
func adminStatus(t *testing.T) []storeStatus {
	t.Helper()
	w := httptest.NewRecorder()
	if err := new(adminAPI).status(w, httptest.NewRequest(http.MethodGet, "/logout/status", nil)); err != nil {
		t.Fatal(err)
	}
	var out struct{ Stores []storeStatus }
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("status %s: %v", w.Body, err)
	}
	return out.Stores
}

// statusOf finds one store in the admin status, failing unless it is
// listed exactly once.
func statusOf(t *testing.T, key string) storeStatus {
	t.Helper()
	var found []storeStatus
	for _, s := range adminStatus(t) {
		if s.Store == key {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("admin status lists store %s %d times, want once: %+v", key, len(found), adminStatus(t))
	}
	return found[0]
}

// TestTwoCachesOnOneStore_OneSeriesAndOneStatusPerStore: two handlers on
// one store with different cache options (supported: the store is shared,
// each gets its cache) must not make Caddy's /metrics fail on duplicate
// series, and the admin status names the store once, with both caches'
// counts.
func TestTwoCachesOnOneStore_OneSeriesAndOneStatusPerStore(t *testing.T) {
	// A store without a view of its own, so that every lookup is the
	// caches' (a bolt or redis store's view answers most of them first).
	name, g := newGate(t)
	g.open.Store(true)
	ctx, _ := newConfig(t)
	store := `{"backend":"test_gated","name":"` + name + `"}`
	a := loadHandler(t, ctx, handlerConfig(store, ""))
	b := loadHandler(t, ctx, handlerConfig(store, `,"cache":{"negative_ttl":"1h"}`))
	if code := apiLogout(t, a, "gone"); code != http.StatusNoContent {
		t.Fatalf("API logout: %d", code)
	}
	for _, h := range []*Handler{a, b} {
		serve(t, h, &app{}, withToken("gone"))
		serve(t, h, &app{}, withToken("live"))
	}

	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatalf("gathering metrics (Caddy's /metrics would answer 500): %v", err)
	}
	key := "gated:" + name
	// Two lookups through each cache: four hits or misses in all.
	var lookups float64
	for _, f := range families {
		if name := f.GetName(); name != "caddy_logout_cache_hits_total" && name != "caddy_logout_cache_misses_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == key {
				lookups += m.GetCounter().GetValue()
			}
		}
	}
	if lookups != 4 {
		t.Errorf("cache hits and misses of the store = %v, want both caches' 4", lookups)
	}
	st := statusOf(t, key)
	if st.CacheHits+st.CacheMisses != 4 || st.Records == nil || *st.Records != 1 {
		t.Errorf("status %+v: want both caches' 4 lookups and the one record", st)
	}
}

// gatedStore is a logout.stores.test_gated module: a store whose "file"
// stays locked until the test opens its gate, as a bolt file held by
// another process would be, then a memory store with the health methods
// of a store that has an outage journal. (A stand-in: the real locked
// file is TestE2E_SecondProcessWaitsForTheFile's, through a real Caddy.)
type gatedStore struct {
	Name string `json:"name"`
}

type gate struct {
	open    atomic.Bool
	backend *healthyMemory
}

var gates sync.Map // name -> *gate

func newGate(t *testing.T) (string, *gate) {
	name := strings.ReplaceAll(t.Name(), "/", "_")
	g := &gate{backend: &healthyMemory{Store: memory.New()}}
	gates.Store(name, g)
	t.Cleanup(func() { gates.Delete(name) })
	return name, g
}

func init() { caddy.RegisterModule(gatedStore{}) }

func (gatedStore) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "logout.stores.test_gated", New: func() caddy.Module { return new(gatedStore) }}
}

func (s *gatedStore) StoreKey() string { return "gated:" + s.Name }

func (s *gatedStore) OpenStore(caddy.Context) (session.Store, error) {
	v, _ := gates.Load(s.Name)
	g := v.(*gate)
	if !g.open.Load() {
		return nil, fmt.Errorf("gated store %s: %w", s.Name, session.ErrLocked)
	}
	return g.backend, nil
}

func (s *gatedStore) UnmarshalCaddyfile(*caddyfile.Dispenser) error { return nil }

// healthyMemory is a memory store that reports journal health, and
// announces revocations to subscribers as a Redis store would.
type healthyMemory struct {
	session.Store
	mu   sync.Mutex
	subs []func(session.ID, bool)
}

func (*healthyMemory) JournalDepth() int { return 7 }
func (*healthyMemory) Degraded() bool    { return true }

func (m *healthyMemory) Len() (int, error) { return m.Store.(*memory.Store).Len() }

func (m *healthyMemory) Subscribe(fn func(session.ID, bool)) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := len(m.subs)
	m.subs = append(m.subs, fn)
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.subs[i] = nil
	}
}

// announce calls every live subscriber, as a revocation heard from
// another node would.
func (m *healthyMemory) announce(id session.ID) {
	m.mu.Lock()
	subs := append([]func(session.ID, bool){}, m.subs...)
	m.mu.Unlock()
	for _, fn := range subs {
		if fn != nil {
			fn(id, false)
		}
	}
}

// waitOpen asks through h until its store answers (the background open
// retries every second).
func waitOpen(t *testing.T, h *Handler) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for apiLogout(t, h, "probe") != http.StatusNoContent {
		if time.Now().After(deadline) {
			t.Fatal("the store never opened once its file was free")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockedStore_OnceOpen_ReportsRecordsAndHealth: a store whose file was
// locked when the config loaded opens later; from then on the admin status
// and the metrics show its records, journal depth and degraded state, as
// for a store that opened at once.
func TestLockedStore_OnceOpen_ReportsRecordsAndHealth(t *testing.T) {
	name, g := newGate(t)
	ctx, _ := newConfig(t)
	h := loadHandler(t, ctx, handlerConfig(`{"backend":"test_gated","name":"`+name+`"}`, ""))
	key := "gated:" + name
	if st := statusOf(t, key); st.Records != nil || st.JournalDepth != nil {
		t.Fatalf("status before the store opened: %+v", st)
	}
	g.open.Store(true)
	waitOpen(t, h)

	st := statusOf(t, key)
	if st.Records == nil || *st.Records != 1 || st.JournalDepth == nil || *st.JournalDepth != 7 || st.Degraded == nil || !*st.Degraded {
		t.Errorf("status once open: %+v; want records 1, journal_depth 7, degraded true", st)
	}
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == key {
				found[f.GetName()] = m.GetGauge().GetValue()
			}
		}
	}
	if found["caddy_logout_journal_depth"] != 7 || found["caddy_logout_store_degraded"] != 1 {
		t.Errorf("metrics of the store once open: %v; want journal depth 7 and degraded 1", found)
	}
}

// TestStoreReplaced_InFlightRequestsCheckedAgainstTheNewStore: a reload
// that changes the store closes the old one while requests of the old
// config may still be in flight. With on_store_error allow, an ErrClosed
// must not let them pass unchecked: they are checked against the store
// that replaced it, and refused when no one store did.
func TestStoreReplaced_InFlightRequestsCheckedAgainstTheNewStore(t *testing.T) {
	dir := t.TempDir()
	storeX := fmt.Sprintf(`{"backend":"bolt","path":%q}`, filepath.Join(dir, "x.db"))
	storeY := fmt.Sprintf(`{"backend":"bolt","path":%q}`, filepath.Join(dir, "y.db"))

	ctxA, reloadA := newConfig(t)
	old := loadHandler(t, ctxA, handlerConfig(storeX, ""))
	if code := apiLogout(t, old, "gone"); code != http.StatusNoContent {
		t.Fatalf("API logout on X: %d", code)
	}
	// The reload: the new config, on store Y (where the session is revoked
	// too), provisions before the old one is cleaned up.
	ctxB, reloadB := newConfig(t)
	replacement := loadHandler(t, ctxB, handlerConfig(storeY, ""))
	if code := apiLogout(t, replacement, "gone"); code != http.StatusNoContent {
		t.Fatalf("API logout on Y: %d", code)
	}
	reloadA()

	// Requests still inside the old handler.
	next := &app{}
	if code := serve(t, old, next, withToken("gone")); code != http.StatusUnauthorized || next.reached.Load() != 0 {
		t.Fatalf("revoked session on the old handler after its store closed: %d, reached the app %d times; want 401, never", code, next.reached.Load())
	}
	if code := serve(t, old, next, withToken("live")); code != http.StatusOK || next.reached.Load() != 1 {
		t.Fatalf("live session on the old handler after its store closed: %d; want 200", code)
	}
	// A logout accepted by the old handler lands in the new store.
	if code := apiLogout(t, old, "late"); code != http.StatusNoContent {
		t.Fatalf("API logout on the old handler after its store closed: %d", code)
	}
	if code := serve(t, replacement, next, withToken("late")); code != http.StatusUnauthorized {
		t.Fatalf("logout made through the old handler, checked on the new: %d; want 401", code)
	}

	// No config left (Caddy stopping): nothing replaced the stores, so
	// requests are refused rather than passed unchecked.
	reloadB()
	for _, h := range []*Handler{old, replacement} {
		if code := serve(t, h, next, withToken("live")); code != http.StatusServiceUnavailable {
			t.Fatalf("request after every store closed: %d; want 503", code)
		}
	}
	if next.reached.Load() != 1 {
		t.Fatalf("the app was reached %d times, want once", next.reached.Load())
	}
}

// TestStoreReplaced_WhichStoreTookOver: with several sites, the store that
// replaced a closed one is the one new store of the new config; a store
// both configs used served alongside it and did not replace it, and with
// two new stores there is no telling which took over.
func TestStoreReplaced_WhichStoreTookOver(t *testing.T) {
	bolt := func(dir, name string) string {
		return fmt.Sprintf(`{"backend":"bolt","path":%q}`, filepath.Join(dir, name))
	}
	t.Run("the new store, not the one both configs use", func(t *testing.T) {
		dir := t.TempDir()
		ctxA, reloadA := newConfig(t)
		old := loadHandler(t, ctxA, handlerConfig(bolt(dir, "x.db"), ""))
		loadHandler(t, ctxA, handlerConfig(bolt(dir, "w.db"), ""))
		ctxB, _ := newConfig(t)
		replacement := loadHandler(t, ctxB, handlerConfig(bolt(dir, "z.db"), ""))
		loadHandler(t, ctxB, handlerConfig(bolt(dir, "w.db"), ""))
		// Revoked only in z.db: a 401 on the old handler means z.db answered.
		if code := apiLogout(t, replacement, "gone"); code != http.StatusNoContent {
			t.Fatalf("API logout: %d", code)
		}
		reloadA()
		if code := serve(t, old, &app{}, withToken("gone")); code != http.StatusUnauthorized {
			t.Fatalf("old handler after its store closed: %d; want 401 from the store that replaced it", code)
		}
	})
	t.Run("two new stores: refused", func(t *testing.T) {
		dir := t.TempDir()
		ctxA, reloadA := newConfig(t)
		old := loadHandler(t, ctxA, handlerConfig(bolt(dir, "x.db"), ""))
		ctxB, _ := newConfig(t)
		loadHandler(t, ctxB, handlerConfig(bolt(dir, "y.db"), ""))
		loadHandler(t, ctxB, handlerConfig(bolt(dir, "z.db"), ""))
		reloadA()
		next := &app{}
		if code := serve(t, old, next, withToken("live")); code != http.StatusServiceUnavailable || next.reached.Load() != 0 {
			t.Fatalf("old handler with no single replacement: %d; want 503, the app not reached", code)
		}
	})
}
