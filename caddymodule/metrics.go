package caddymodule

import (
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/caddy-logout/caddy-logout/session"
)

// The collectors live for the process, so counts survive reloads; each
// config load registers them with its own registry.
var (
	logoutsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "logouts_total",
		Help: "Logout attempts by flow (browser_create, browser, api, intercept, admin) and result.",
	}, []string{"flow", "result"})
	guardTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "guard_decisions_total",
		Help: "Guard decisions on requests carrying a session credential: passed, revoked, store_error, not_sealed.",
	}, []string{"decision"})
	storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "store_duration_seconds",
		Help:    "Latency of session store calls that the cache could not answer, by operation and result.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op", "result"})
	sessionsRecorded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "sessions_recorded_total",
		Help: "Session owners written to the store (identity), by result: recorded; revoked_late (its owner was revoked before the record arrived); evicted (pushed out by max_sessions, and logged out); dropped (queue full: recorded on a later request); error.",
	}, []string{"result"})
	ownerRevocations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "owner_revocations_total",
		Help: "Revocations by owner (every session of a subject or of an identity provider session), by who asked (admin, self_service, ...) and result (ok, error).",
	}, []string{"via", "result"})
	ownerSessionsRevoked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "owner_sessions_revoked_total",
		Help: "Sessions revoked by revocations by owner, by who asked.",
	}, []string{"via"})
	cacheCollector = &cacheStats{
		hits:    prometheus.NewDesc("caddy_logout_cache_hits_total", "Guard and flow lookups answered by the cache.", []string{"store"}, nil),
		misses:  prometheus.NewDesc("caddy_logout_cache_misses_total", "Lookups that went to the store.", []string{"store"}, nil),
		entries: prometheus.NewDesc("caddy_logout_cache_entries", "Sessions currently cached (bounded by cache max_entries).", []string{"store"}, nil),
		journal: prometheus.NewDesc("caddy_logout_journal_depth", "Logouts accepted during a store outage and not yet written to the store.", []string{"store"}, nil),
		degrade: prometheus.NewDesc("caddy_logout_store_degraded", "1 while the store is unreachable and logouts go to the local journal.", []string{"store"}, nil),
	}
)

// observer counts the flows' decisions. The guard's counters are resolved
// once, so the hot path does one atomic add.
type observer struct {
	passed, revoked, storeError, notSealed prometheus.Counter
}

func newObserver(ctx caddy.Context) *observer {
	registerCollectors(ctx, logoutsTotal, guardTotal, storeDuration, sessionsRecorded, ownerRevocations, ownerSessionsRevoked, cacheCollector, viewCollector)
	return &observer{
		passed:     guardTotal.WithLabelValues("passed"),
		revoked:    guardTotal.WithLabelValues("revoked"),
		storeError: guardTotal.WithLabelValues("store_error"),
		notSealed:  guardTotal.WithLabelValues("not_sealed"),
	}
}

func (o *observer) Logout(flow, result string) { logoutsTotal.WithLabelValues(flow, result).Inc() }

// OwnerRevoked implements flow.OwnerObserver.
func (o *observer) OwnerRevoked(via string, n int, err error) { observeOwnerRevoked(via, n, err) }

func observeOwnerRevoked(via string, n int, err error) {
	ownerRevocations.WithLabelValues(via, resultOf(err)).Inc()
	ownerSessionsRevoked.WithLabelValues(via).Add(float64(n))
}

// observeRecorded counts what became of sightings (session.OwnersOptions).
func observeRecorded(outcome string, n int) {
	sessionsRecorded.WithLabelValues(outcome).Add(float64(n))
}

func (o *observer) Guard(decision string) {
	switch decision {
	case "passed":
		o.passed.Inc()
	case "revoked":
		o.revoked.Inc()
	case "not_sealed":
		o.notSealed.Inc()
	default:
		o.storeError.Inc()
	}
}

// registerCollectors adds collectors to this config's registry; a registry
// that already has them (several handlers in one config) is fine.
func registerCollectors(ctx caddy.Context, cs ...prometheus.Collector) {
	reg := ctx.GetMetricsRegistry()
	if reg == nil {
		return
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				ctx.Logger().Warn("registering metrics", zap.Error(err))
			}
		}
	}
}

// observeStore records the latency of a call that reached the backend
// (cache misses and revocations).
func observeStore(op string, start time.Time, err error) {
	storeDuration.WithLabelValues(op, resultOf(err)).Observe(time.Since(start).Seconds())
}

func resultOf(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// StoreHealth is implemented by stores that can report an outage: the
// journal depth and whether they are degraded right now.
type StoreHealth interface {
	JournalDepth() int
	Degraded() bool
}

// cacheStats reports every active cache at scrape time.
type cacheStats struct {
	hits, misses, entries, journal, degrade *prometheus.Desc
}

func (c *cacheStats) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.hits
	ch <- c.misses
	ch <- c.entries
	ch <- c.journal
	ch <- c.degrade
}

// Collect reports one series per store: several handlers may put caches
// with different options on one store, and their counts add up.
func (c *cacheStats) Collect(ch chan<- prometheus.Metric) {
	for _, s := range activeStores() {
		st, entries := s.cacheTotals()
		ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(st.Hits), s.key)
		ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(st.Misses), s.key)
		ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(entries), s.key)
		if h, ok := session.As[StoreHealth](s); ok {
			degraded := 0.0
			if h.Degraded() {
				degraded = 1
			}
			ch <- prometheus.MustNewConstMetric(c.journal, prometheus.GaugeValue, float64(h.JournalDepth()), s.key)
			ch <- prometheus.MustNewConstMetric(c.degrade, prometheus.GaugeValue, degraded, s.key)
		}
	}
}

// viewStats reports the view of every open store that keeps one (bolt,
// redis) at scrape time.
type viewStats struct {
	revocations, current, full, dropped, reloads *prometheus.Desc
}

var viewCollector = &viewStats{
	revocations: prometheus.NewDesc("caddy_logout_view_revocations", "Revocations the store's view holds in memory on this node.", []string{"store"}, nil),
	current:     prometheus.NewDesc("caddy_logout_view_current", "1 while the view answers \"not revoked\" without asking the store.", []string{"store"}, nil),
	full:        prometheus.NewDesc("caddy_logout_view_full", "1 while the view holds its view_limit and lookups it cannot answer go to the store.", []string{"store"}, nil),
	dropped:     prometheus.NewDesc("caddy_logout_view_dropped_total", "Revocations not held in memory because the view was full.", []string{"store"}, nil),
	reloads:     prometheus.NewDesc("caddy_logout_view_reloads_total", "Times a redis store's view was loaded from Redis's records: at start, and after a gap in the revocation log.", []string{"store"}, nil),
}

func (c *viewStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.revocations, c.current, c.full, c.dropped, c.reloads} {
		ch <- d
	}
}

func (c *viewStats) Collect(ch chan<- prometheus.Metric) {
	for _, s := range activeStores() {
		v, ok := session.As[session.ViewReporter](s)
		if !ok {
			continue
		}
		st := v.ViewStatus()
		ch <- prometheus.MustNewConstMetric(c.revocations, prometheus.GaugeValue, float64(st.Revocations), s.key)
		ch <- prometheus.MustNewConstMetric(c.current, prometheus.GaugeValue, boolValue(st.Current), s.key)
		ch <- prometheus.MustNewConstMetric(c.full, prometheus.GaugeValue, boolValue(st.Full), s.key)
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped), s.key)
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads), s.key)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
