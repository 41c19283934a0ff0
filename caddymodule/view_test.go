package caddymodule

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestView_PastViewLimit_StillRefused_MetricAndStatusSaySo: a bolt store
// whose view holds fewer revocations than it has is not current any more:
// every revoked session is still refused (the one past the limit through
// the file, as before the view), a live one passes, and both the metrics
// and the admin status say the view is full.
func TestView_PastViewLimit_StillRefused_MetricAndStatusSaySo(t *testing.T) {
	ctx, _ := newConfig(t)
	path := filepath.Join(t.TempDir(), "sessions.db")
	h := loadHandler(t, ctx, handlerConfig(fmt.Sprintf(`{"backend":"bolt","path":%q,"view_limit":2}`, path), ""))
	key := "bolt:" + path

	// The view loads in the background at open: past the limit only once
	// it holds what it loaded.
	deadline := time.Now().Add(10 * time.Second)
	for st := statusOf(t, key); st.View == nil || !st.View.Current; st = statusOf(t, key) {
		if time.Now().After(deadline) {
			t.Fatalf("the bolt store's view is not current within 10s: %+v", st.View)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, token := range []string{"first", "second", "past-the-limit"} {
		if code := apiLogout(t, h, token); code != http.StatusNoContent {
			t.Fatalf("API logout of %s: %d", token, code)
		}
	}
	for _, token := range []string{"first", "second", "past-the-limit"} {
		if code := serve(t, h, &app{}, withToken(token)); code != http.StatusUnauthorized {
			t.Errorf("revoked %s: %d, want 401", token, code)
		}
	}
	if code := serve(t, h, &app{}, withToken("live")); code != http.StatusOK {
		t.Errorf("live session: %d, want 200", code)
	}

	st := statusOf(t, key).View
	if st == nil || st.Current || !st.Full || st.Dropped != 1 || st.Revocations != 2 || st.Limit != 2 {
		t.Errorf("admin status of the view: %+v; want full, not current, 2 held of limit 2, 1 dropped", st)
	}
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != key {
				continue
			}
			if m.GetGauge() != nil {
				found[f.GetName()] = m.GetGauge().GetValue()
			} else if m.GetCounter() != nil {
				found[f.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	if found["caddy_logout_view_full"] != 1 || found["caddy_logout_view_current"] != 0 ||
		found["caddy_logout_view_dropped_total"] != 1 || found["caddy_logout_view_revocations"] != 2 {
		t.Errorf("view metrics of the store: %v; want full 1, current 0, dropped 1, revocations 2", found)
	}
}
