package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The collectors live for the process, so counts survive reloads; each
// config load registers them with its own registry.
var (
	logoutsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "logouts_total",
		Help: "Logout attempts by flow (browser_create, browser, api, intercept) and result.",
	}, []string{"flow", "result"})
	guardTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "logout", Name: "guard_decisions_total",
		Help: "Guard decisions on requests carrying a session credential: passed, revoked, store_error.",
	}, []string{"decision"})
)

// observer counts the flows' decisions. The guard's counters are resolved
// once, so the hot path does one atomic add.
type observer struct {
	passed, revoked, storeError prometheus.Counter
}

func newObserver(ctx caddy.Context) *observer {
	registerCollectors(ctx, logoutsTotal, guardTotal)
	return &observer{
		passed:     guardTotal.WithLabelValues("passed"),
		revoked:    guardTotal.WithLabelValues("revoked"),
		storeError: guardTotal.WithLabelValues("store_error"),
	}
}

func (o *observer) Logout(flow, result string) { logoutsTotal.WithLabelValues(flow, result).Inc() }

func (o *observer) Guard(decision string) {
	switch decision {
	case "passed":
		o.passed.Inc()
	case "revoked":
		o.revoked.Inc()
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
