package identity

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// The self-service session endpoints against the real Ory Kratos (v1.3.1,
// tests/e2e.StartKratos): the same identities and sessions, the same
// requests to Kratos and to the gateway, compared detail by detail. The
// gateway learns the owners from Kratos itself: forward_auth to Kratos's
// /sessions/whoami, which names the identity in
// X-Kratos-Authenticated-Identity-Id.
func TestKratosDifferential_MySessions(t *testing.T) {
	k := e2e.StartKratos(t, e2e.KratosConfig{DefaultReturnURL: "http://127.0.0.1/"})
	app := startApp(t)
	gw := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `store memory
		identity {
			subject {http.request.header.X-Kratos-Authenticated-Identity-Id}
		}`, fmt.Sprintf("forward_auth 127.0.0.1:%d {\n\t\turi /sessions/whoami\n\t\tcopy_headers X-Kratos-Authenticated-Identity-Id\n\t}", k.PublicPort), app.Port)
	})
	alice, bob := k.CreateIdentity(t), k.CreateIdentity(t)
	a1, a2, b1 := k.LoginBrowser(t, alice), k.LoginBrowser(t, alice), k.LoginBrowser(t, bob)
	cookie := func(s e2e.KratosSession) string { return s.Cookie.Name + "=" + s.Cookie.Value }
	for _, s := range []e2e.KratosSession{a1, a2, b1} {
		resp, _ := e2e.Do(t, e2e.OneShot, http.MethodGet, gw.URL("/"), http.Header{"Cookie": {cookie(s)}}, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("through forward_auth to Kratos: %d", resp.StatusCode)
		}
	}
	waitRecordedIDs(t, gw, alice.ID, session.CookieID(a1.Cookie.Value), session.CookieID(a2.Cookie.Value))
	waitRecordedIDs(t, gw, bob.ID, session.CookieID(b1.Cookie.Value))

	// Each case names the session it acts for on both sides; Kratos's
	// session IDs are its own, the gateway's are taken from the cookie.
	type req struct{ method, path, cookie string }
	kratosID := map[string]string{"current": a1.ID, "unknown": "9f1c6a64-0000-4000-8000-000000000000"}
	gatewayID := map[string]string{"current": session.CookieID(a1.Cookie.Value).PublicID(), "unknown": kratosID["unknown"]}
	cases := []struct {
		name string
		req  req
	}{
		{"list, no session", req{http.MethodGet, "/sessions", ""}},
		{"list the others", req{http.MethodGet, "/sessions", cookie(a1)}},
		{"list, page_size 1", req{http.MethodGet, "/sessions?page_size=1", cookie(a1)}},
		{"disable one, not a UUID", req{http.MethodDelete, "/sessions/abc", cookie(a1)}},
		{"disable one, braces wrong", req{http.MethodDelete, "/sessions/{9f1c6a64-0000-4000-8000-000000000000)", cookie(a1)}},
		{"disable one, the current one", req{http.MethodDelete, "/sessions/{current}", cookie(a1)}},
		{"disable one, unknown", req{http.MethodDelete, "/sessions/{unknown}", cookie(a1)}},
		{"disable one, no session", req{http.MethodDelete, "/sessions/{unknown}", ""}},
		{"disable the others, no session", req{http.MethodDelete, "/sessions", ""}},
		{"disable the others", req{http.MethodDelete, "/sessions", cookie(a1)}},
		{"list after", req{http.MethodGet, "/sessions", cookie(a1)}},
		{"bob's list after", req{http.MethodGet, "/sessions", cookie(b1)}},
	}
	compared := 0
	for _, c := range cases {
		path := func(ids map[string]string) string {
			p := c.req.path
			for name, id := range ids {
				p = strings.ReplaceAll(p, "{"+name+"}", id)
			}
			return p
		}
		h := http.Header{"Accept": {"application/json"}}
		if c.req.cookie != "" {
			h.Set("Cookie", c.req.cookie)
		}
		want := observe(t, k.PublicURL(path(kratosID)), c.req.method, h)
		got := observe(t, gw.URL(path(gatewayID)), c.req.method, h)
		n, diffs := want.diff(got)
		for _, d := range diffs {
			t.Errorf("%s: %s", c.name, d)
		}
		compared += n
	}
	t.Logf("%d details of %d cases compared with Kratos v1.3.1", compared, len(cases))
}

// observation is what a client sees of one answer: the status, the
// headers a client reads, and the body (whole for errors and counts; the
// shape of each session object for a list, whose IDs and times are each
// side's own).
type observation struct {
	status                        int
	contentType, totalCount, link string
	body                          string
	isList                        bool
	listLen                       int
	sessionKeys                   [][]string
	sessionTypes                  []map[string]string
}

func observe(t *testing.T, url, method string, h http.Header) observation {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header = h
	resp, err := e2e.OneShot.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	o := observation{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"),
		totalCount: resp.Header.Get("X-Total-Count"), link: resp.Header.Get("Link"), body: string(b)}
	var list []map[string]any
	if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &list) == nil {
		o.isList, o.listLen = true, len(list)
		for _, s := range list {
			keys := make([]string, 0, len(s))
			types := map[string]string{}
			for k, v := range s {
				keys = append(keys, k)
				types[k] = fmt.Sprintf("%T", v)
			}
			slices.Sort(keys)
			o.sessionKeys, o.sessionTypes = append(o.sessionKeys, keys), append(o.sessionTypes, types)
		}
	}
	return o
}

// byDesign are the session object's fields Kratos fills from what only it
// knows: the gateway leaves them out (authenticator_assurance_level) or
// empty (identity: null, no authentication methods or devices).
var byDesign = map[string]bool{"authenticator_assurance_level": true, "identity": true, "tokenized": true}

// diff lists what a client could tell apart, and how many details it
// compared.
func (want observation) diff(got observation) (int, []string) {
	var d []string
	n := 0
	check := func(what string, w, g any) {
		n++
		if fmt.Sprint(w) != fmt.Sprint(g) {
			d = append(d, fmt.Sprintf("%s: Kratos %v, gateway %v", what, w, g))
		}
	}
	check("status", want.status, got.status)
	check("Content-Type", want.contentType, got.contentType)
	check("X-Total-Count", want.totalCount, got.totalCount)
	if !want.isList {
		check("body", strings.TrimSpace(want.body), strings.TrimSpace(got.body))
		return n, d
	}
	check("sessions listed", want.listLen, got.listLen)
	check("Link", want.link, got.link)
	for i := range min(len(want.sessionKeys), len(got.sessionKeys)) {
		for _, k := range want.sessionKeys[i] {
			if byDesign[k] {
				continue
			}
			check("session field "+k, want.sessionTypes[i][k], got.sessionTypes[i][k])
		}
		for _, k := range got.sessionKeys[i] {
			n++
			if _, ok := want.sessionTypes[i][k]; !ok {
				d = append(d, "session field "+k+" is not Kratos's")
			}
		}
	}
	return n, d
}
