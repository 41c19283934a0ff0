package flow

// Benchmarks of the endpoints' own work (the store is in memory, so what
// is measured is decoding, checking and answering):
//
//	go test -run '^$' -bench 'Endpoint' -benchmem -count 10 ./flow/

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session/memory"
)

// BenchmarkEndpoint_APILogout is DELETE <prefix>/api with a session token.
func BenchmarkEndpoint_APILogout(b *testing.B) {
	g, _ := newBenchGateway(b, memory.New(), 1<<16)
	body := `{"session_token":"ory_st_` + benchCookieShort + `"}`
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodDelete, DefaultPrefix+"/api", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		clear(w.h)
		_ = g.ServeHTTP(w, r, nopNext)
	}
}

// BenchmarkEndpoint_CreateLogoutURL is GET <prefix>/browser with a session
// cookie, as a front end asks for a logout URL.
func BenchmarkEndpoint_CreateLogoutURL(b *testing.B) {
	g, _ := newBenchGateway(b, memory.New(), 1<<16)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, DefaultPrefix+"/browser", nil)
		r.Header.Set("Accept", "application/json")
		r.Header.Set("Cookie", benchOtherCookie+"; sid="+benchCookieKratos)
		clear(w.h)
		_ = g.ServeHTTP(w, r, nopNext)
	}
}
