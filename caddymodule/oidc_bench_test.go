package caddymodule

import (
	"net/http/httptest"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow/oidclogout"
)

// BenchmarkOIDCRoutes_OtherRequest is what oidc_logout adds to every
// request that is not for a receiver: without blocks a nil check, with
// two blocks one map lookup by path.
func BenchmarkOIDCRoutes_OtherRequest(b *testing.B) {
	r := httptest.NewRequest("GET", "/app/some/page", nil)
	w := httptest.NewRecorder()
	rcv, err := oidclogout.New(oidclogout.Config{Issuer: "https://idp.example", ClientID: "app"})
	if err != nil {
		b.Fatal(err)
	}
	two := &oidcRoutes{paths: map[string]oidcRoute{
		"/oidc/a/backchannel": {rcv: rcv}, "/oidc/b/backchannel": {rcv: rcv}, "/oidc/a/frontchannel": {rcv: rcv, front: true},
	}}
	for name, routes := range map[string]*oidcRoutes{"none": nil, "two_blocks": two} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if routes.serve(w, r) {
					b.Fatal("served")
				}
			}
		})
	}
}
