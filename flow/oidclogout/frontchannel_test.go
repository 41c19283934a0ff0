package oidclogout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// browserSession is a Browser with one session, recorded for (iss, sid)
// when known. The gateway's own Browser is tested in flow and end to end.
type browserSession struct {
	present  bool
	known    bool
	iss, sid string
	ended    bool
}

func (b *browserSession) EndBrowserSession(w http.ResponseWriter, _ *http.Request, accept func(string, string, bool) bool) (bool, error) {
	if !b.present || !accept(b.iss, b.sid, b.known) {
		return false, nil
	}
	b.ended = true
	w.Header().Add("Set-Cookie", "sid=; Max-Age=0")
	return true, nil
}

func frontChannel(t *testing.T, rcv *Receiver, method, query string, b Browser) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	rcv.ServeFrontChannel(w, httptest.NewRequest(method, "/oidc/frontchannel-logout"+query, nil), b)
	return w
}

func TestFrontChannel(t *testing.T) {
	p := newTestProvider(t)
	rcv, _, obs := newReceiver(t, p, nil)
	q := func(iss, sid string) string { return "?" + url.Values{"iss": {iss}, "sid": {sid}}.Encode() }
	cases := []struct {
		name    string
		method  string
		query   string
		browser browserSession
		status  int
		ended   bool
		result  string
	}{
		{"its own session named", "GET", q(p.URL, "s1"), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 200, true, "ended"},
		{"nothing named: the browser's session", "GET", "", browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 200, true, "ended"},
		{"nothing named, owner unknown", "GET", "", browserSession{present: true}, 200, true, "ended"},
		{"another session named: untouched", "GET", q(p.URL, "someone-else"), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 200, false, "mismatch"},
		{"named, but this session's owner unknown", "GET", q(p.URL, "s1"), browserSession{present: true}, 200, false, "mismatch"},
		{"another issuer named", "GET", q("https://evil.example", "s1"), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 200, false, "mismatch"},
		{"same sid of another issuer recorded", "GET", q(p.URL, "s1"), browserSession{present: true, known: true, iss: "https://other.example", sid: "s1"}, 200, false, "mismatch"},
		{"no session in this browser", "GET", q(p.URL, "s1"), browserSession{}, 200, false, "no_session"},
		{"iss without sid", "GET", "?iss=" + url.QueryEscape(p.URL), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 400, false, "bad_request"},
		{"sid twice", "GET", q(p.URL, "s1") + "&sid=s2", browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 400, false, "bad_request"},
		{"HEAD never logs out", "HEAD", q(p.URL, "s1"), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 200, false, "head"},
		{"POST", "POST", q(p.URL, "s1"), browserSession{present: true, known: true, iss: p.URL, sid: "s1"}, 405, false, "method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obs.front = nil
			b := tc.browser
			w := frontChannel(t, rcv, tc.method, tc.query, &b)
			if w.Code != tc.status || b.ended != tc.ended || obs.front[tc.result] != 1 {
				t.Fatalf("got %d ended=%v %v, want %d ended=%v %s", w.Code, b.ended, obs.front, tc.status, tc.ended, tc.result)
			}
			h := w.Header()
			if h.Get("Cache-Control") != "no-cache, no-store" || h.Get("Location") != "" || w.Body.Len() != 0 {
				t.Fatalf("headers %v body %q", h, w.Body)
			}
			if tc.ended != (h.Get("Set-Cookie") != "") {
				t.Fatalf("Set-Cookie %q with ended=%v", h.Get("Set-Cookie"), tc.ended)
			}
		})
	}
}

func TestEndSessionURL(t *testing.T) {
	p := newTestProvider(t)
	rcv, _, _ := newReceiver(t, p, func(c *Config) { c.EndSession = true })
	c := p.claims()
	delete(c, "events")
	c["nonce"] = "n"
	idToken := signWith(t, jose.RS256, p.key, p.kid, nil, c)
	foreign := p.claims()
	foreign["iss"] = "https://other.example"
	otherIssuers := signWith(t, jose.RS256, p.key, p.kid, nil, foreign)

	u, ok := rcv.EndSessionURL(context.Background(), "https://app.example/bye", "Bearer "+idToken)
	if !ok {
		t.Fatal("no end-session URL")
	}
	got, _ := url.Parse(u)
	q := got.Query()
	if !strings.HasPrefix(u, p.URL+"/session/end?") || q.Get("client_id") != testClientID ||
		q.Get("post_logout_redirect_uri") != "https://app.example/bye" || q.Get("id_token_hint") != idToken {
		t.Fatalf("end-session URL %s", u)
	}
	u, _ = rcv.EndSessionURL(context.Background(), "https://app.example/bye", otherIssuers)
	if strings.Contains(u, "id_token_hint") {
		t.Fatalf("another issuer's token passed as the hint: %s", u)
	}
	u, _ = rcv.EndSessionURL(context.Background(), "", "not a jwt")
	if got, _ := url.Parse(u); got.Query().Has("id_token_hint") || got.Query().Has("post_logout_redirect_uri") {
		t.Fatalf("end-session URL %s", u)
	}

	// An explicit URL keeps its own query; end_session off gives none.
	rcv2, _, _ := newReceiver(t, p, func(c *Config) {
		c.EndSession, c.EndSessionURL = true, "https://idp.example/logout?ui_locales=de"
	})
	if u, _ := rcv2.EndSessionURL(context.Background(), "", ""); u != "https://idp.example/logout?client_id=app&ui_locales=de" {
		t.Fatalf("explicit: %s", u)
	}
	rcv3, _, _ := newReceiver(t, p, nil)
	if _, ok := rcv3.EndSessionURL(context.Background(), "", ""); ok {
		t.Fatal("end_session off still gives a URL")
	}
}

// Without discovery, no end-session URL: the gateway's own redirect
// stands, so a provider outage never strands a logout.
func TestEndSessionURL_DiscoveryDown(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	rcv, err := New(Config{Issuer: srv.URL, ClientID: testClientID, Sessions: &recorder{}, EndSession: true, FetchTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := rcv.EndSessionURL(context.Background(), "https://app.example/", ""); ok {
		t.Fatalf("got %s", u)
	}
}

func TestNew_ChecksConfig(t *testing.T) {
	for _, cfg := range []Config{
		{ClientID: "app", Sessions: &recorder{}},
		{Issuer: "idp.example", ClientID: "app", Sessions: &recorder{}},
		{Issuer: "https://idp.example?x=1", ClientID: "app", Sessions: &recorder{}},
		{Issuer: "https://idp.example", Sessions: &recorder{}},
		{Issuer: "https://idp.example", ClientID: "app", Sessions: &recorder{}, JWKSURL: "file:///etc/passwd"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}
