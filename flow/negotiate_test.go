package flow_test

import (
	"net/http"
	"testing"

	"github.com/caddy-logout/caddy-logout/flow"
)

// negotiationCases are SPEC 3's rule: JSON when Accept negotiates
// application/json over text/html, text/*, */*, or Content-Type is exactly
// application/json.
var negotiationCases = []struct {
	name        string
	accept      []string // each one Accept header line
	contentType string
	json        bool
}{
	{name: "application/json", accept: []string{"application/json"}, json: true},
	{name: "application/json with q=1", accept: []string{"application/json;q=1"}, json: true},
	{name: "*/* alone", accept: []string{"*/*"}, json: false},
	{name: "no Accept", json: false},
	{name: "empty Accept", accept: []string{""}, json: false},
	{name: "text/html then application/json", accept: []string{"text/html,application/json"}, json: false},
	{name: "application/json then text/html (tie: html)", accept: []string{"application/json, text/html"}, json: false},
	{name: "axios default", accept: []string{"application/json, text/plain, */*"}, json: true},
	{name: "q-values favour json", accept: []string{"text/html;q=0.5, application/json"}, json: true},
	{name: "q-values favour html", accept: []string{"application/json;q=0.5, text/html"}, json: false},
	{name: "json beats */* at lower q", accept: []string{"application/json, */*;q=0.8"}, json: true},
	{name: "exact json beats text/* at equal q", accept: []string{"text/*, application/json"}, json: true},
	{name: "exact json beats */* at equal q", accept: []string{"*/*, application/json"}, json: true},
	{name: "browser navigation", accept: []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, json: false},
	{name: "fetch default */*", accept: []string{"*/*"}, json: false},
	{name: "json refused with q=0", accept: []string{"application/json;q=0, text/html;q=0.1"}, json: false},
	{name: "json across two Accept lines", accept: []string{"text/html;q=0.1", "application/json"}, json: true},
	{name: "uppercase media type", accept: []string{"Application/JSON"}, json: true},
	{name: "unrelated type only", accept: []string{"image/png"}, json: false},
	{name: "invalid q ignored", accept: []string{"application/json;q=2"}, json: false},
	{name: "Content-Type: application/json", contentType: "application/json", json: true},
	{name: "Content-Type with charset is not exact", contentType: "application/json; charset=utf-8", json: false},
	{name: "Content-Type: application/json beats Accept: text/html", accept: []string{"text/html"}, contentType: "application/json", json: true},
	{name: "Content-Type: text/plain", contentType: "text/plain", json: false},
}

func negotiationRequest(target string, accept []string, contentType string, opts ...reqOpt) *http.Request {
	r := get(target, opts...)
	for _, a := range accept {
		r.Header.Add("Accept", a)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

// At the perform step a JSON client's success is 204, a browser's 303.
func TestNegotiation_PerformSuccess(t *testing.T) {
	for _, tt := range negotiationCases {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(negotiationRequest(performTarget(h.token("s1"), ""), tt.accept, tt.contentType,
				cookie(cookieName, "s1")), nil)
			want := http.StatusSeeOther
			if tt.json {
				want = http.StatusNoContent
			}
			assertStatus(t, res, want)
			h.assertRevoked("s1")
		})
	}
}

// A JSON client's error is the envelope, a browser's the plain page.
func TestNegotiation_PerformError(t *testing.T) {
	for _, tt := range negotiationCases {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(negotiationRequest(logoutPath, tt.accept, tt.contentType), nil)
			if tt.json {
				assertError(t, res, http.StatusBadRequest, "", reasonMissingToken)
			} else {
				assertErrorPage(t, res, http.StatusBadRequest, reasonMissingToken)
			}
		})
	}
}

// The guard's deny follows the same rule.
func TestNegotiation_GuardDeny(t *testing.T) {
	for _, tt := range negotiationCases {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *flow.Config) { c.OnRevoked = flow.Deny })
			h.revoke("dead")
			res := h.serve(negotiationRequest("/account", tt.accept, tt.contentType, cookie(cookieName, "dead")), &app{})
			if tt.json {
				assertNoSessionError(t, res)
			} else {
				assertErrorPage(t, res, http.StatusUnauthorized, reasonNoSession)
			}
		})
	}
}

// The create endpoint is called by backends and SPAs: its errors are JSON
// unless the client navigated there with text/html winning.
func TestNegotiation_CreateErrors(t *testing.T) {
	tests := []struct {
		name   string
		accept []string
		html   bool
	}{
		{"no Accept", nil, false},
		{"*/*", []string{"*/*"}, false},
		{"axios", []string{"application/json, text/plain, */*"}, false},
		{"application/json", []string{"application/json"}, false},
		{"text/html", []string{"text/html"}, true},
		{"browser navigation", []string{"text/html,application/xhtml+xml,*/*;q=0.8"}, true},
		{"html at lower q than json", []string{"text/html;q=0.5, application/json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			res := h.serve(negotiationRequest(browserPath, tt.accept, ""), nil)
			if tt.html {
				assertErrorPage(t, res, http.StatusUnauthorized, reasonNoSession)
			} else {
				assertNoSessionError(t, res)
			}
		})
	}
}
