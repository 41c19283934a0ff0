// Package kratos compares the gateway's logout endpoints with the real Ory
// Kratos, detail by detail: the same logical requests go to both, and every
// difference a client could observe fails the test unless byDesign lists
// it with its reason.
package kratos

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// startBoth runs Kratos and a gateway configured alike: the same session
// cookie name (Kratos's default), default return URL, allowed return URLs
// and error UI.
func startBoth(t *testing.T) (kratos, gateway *side) {
	t.Helper()
	k := e2e.StartKratos(t, e2e.KratosConfig{
		DefaultReturnURL:  defaultReturnURL,
		AllowedReturnURLs: []string{allowedApp, allowedPartner},
		ErrorURL:          errorUI,
	})
	app := e2e.StartUpstream(t)
	g := e2e.StartCaddy(t, "", func(admin, port int) string {
		return e2e.SiteConfig(admin, port, app.Port, strings.Join([]string{
			"store memory",
			"default_return_url " + defaultReturnURL,
			"allowed_return_urls " + allowedApp + " " + allowedPartner,
			"error_url " + errorUI,
		}, "\n\t\t"))
	})
	return newSide("kratos", k.PublicURL(""), k), newSide("gateway", g.URL(""), k)
}

// TestKratosDifferential sends every case to the real Kratos and to the
// gateway and compares what a client observes. It reports how many details
// match, and fails on each one that differs.
func TestKratosDifferential(t *testing.T) {
	kratos, gateway := startBoth(t)
	n := &normaliser{kratos: map[string]*observation{}, gateway: map[string]*observation{}}
	var order []string
	for _, c := range cases {
		if _, dup := n.kratos[c.name]; dup {
			t.Fatalf("two cases named %q", c.name)
		}
		order = append(order, c.name)
		n.kratos[c.name] = c.run(t, kratos)
		n.gateway[c.name] = c.run(t, gateway)
	}
	n.run(order)

	compared, matched := 0, 0
	var report strings.Builder
	for _, name := range order {
		total, diffs := compare(n.kratos[name], n.gateway[name])
		compared += total
		matched += total - len(diffs)
		for _, d := range diffs {
			fmt.Fprintf(&report, "%s: %s: Kratos %q, gateway %q\n", name, d.detail, d.kratos, d.gateway)
			t.Errorf("%s: %s differs from Kratos:\n\tKratos:  %q\n\tgateway: %q", name, d.detail, d.kratos, d.gateway)
		}
	}
	t.Logf("%d of %d details match Kratos v1.3.1 in %d cases (%d differences listed by design)", matched, compared, len(order), len(byDesign))
	if testing.Verbose() && report.Len() > 0 {
		t.Logf("differences:\n%s", report.String())
	}
}
