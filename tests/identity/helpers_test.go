// Package identity runs sessions' owners end to end: the real Caddy binary
// with Caddy's own basic_auth and forward_auth (to a small real auth
// service) as identity sources, revocation by owner through the admin API
// on one node and on three nodes sharing a real redis-server, the
// Kratos-compatible /sessions endpoints through Ory's own SDKs, and forged
// identities.
package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }

// authService is what forward_auth asks: a session service that knows
// which user each session cookie belongs to, as oauth2-proxy or an app's
// auth endpoint would. It answers 2xx with X-Auth-Request-User (and an
// Authorization header when the user has an ID token), 401 otherwise.
type authService struct {
	Port   int
	cookie string // the session cookie it reads
	mu     sync.Mutex
	users  map[string]string // sid cookie value -> user
	token  map[string]string // user -> ID token for Authorization
}

func startAuthService(t *testing.T) *authService { return startAuthServiceFor(t, "sid") }

// startAuthServiceFor is an auth service that reads the cookie named cookie.
func startAuthServiceFor(t *testing.T, cookie string) *authService {
	t.Helper()
	a := &authService{Port: e2e.FreePort(t), cookie: cookie, users: map[string]string{}, token: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/auth", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(a.cookie)
		a.mu.Lock()
		user := ""
		if err == nil {
			user = a.users[c.Value]
		}
		tok := a.token[user]
		a.mu.Unlock()
		if user == "" {
			http.Error(w, "not logged in", http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Auth-Request-User", user)
		if tok != "" {
			w.Header().Set("Authorization", "Bearer "+tok)
		}
		w.WriteHeader(http.StatusAccepted) // oauth2-proxy's /oauth2/auth answers 202
	})
	serve(t, a.Port, mux)
	return a
}

// login gives user a new session and returns its cookie value.
func (a *authService) login(user string) string {
	sid := user + "-" + e2e.RandomValue()
	a.mu.Lock()
	a.users[sid] = user
	a.mu.Unlock()
	return sid
}

// app is the upstream: it answers with the user and session it saw.
// /slow takes slowFor first (a slow page, a report).
type app struct {
	Port    int
	slowFor time.Duration
}

func startApp(t *testing.T) *app {
	t.Helper()
	a := &app{Port: e2e.FreePort(t), slowFor: 1500 * time.Millisecond}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(a.slowFor)
		}
		sid := ""
		if c, err := r.Cookie("sid"); err == nil {
			sid = c.Value
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"user": r.Header.Get("X-Auth-Request-User"), "sid": sid, "basic_user": basicUser(r)})
	})
	serve(t, a.Port, handler)
	return a
}

func basicUser(r *http.Request) string {
	u, _, _ := r.BasicAuth()
	return u
}

func serve(t *testing.T, port int, h http.Handler) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// site renders a Caddyfile: the gateway with logoutBlock in front of
// middle (forward_auth, basic_auth, or nothing) and the app.
func site(admin, port int, logoutBlock, middle string, appPort int) string {
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	auto_https off
	grace_period 2s
}

http://127.0.0.1:%d {
	logout {
		%s
	}
	%s
	reverse_proxy 127.0.0.1:%d
}
`, admin, port, logoutBlock, middle, appPort)
}

// forwardAuth is the forward_auth block that asks the auth service.
func forwardAuth(a *authService, copyHeaders ...string) string {
	return fmt.Sprintf("forward_auth 127.0.0.1:%d {\n\t\turi /auth\n\t\tcopy_headers %s\n\t}", a.Port, strings.Join(copyHeaders, " "))
}

// visit is one request to the app with the session cookie (and any other
// headers); it returns the status and what the app saw.
func visit(t *testing.T, p *e2e.Caddy, path, sid string, extra http.Header) (int, map[string]string) {
	t.Helper()
	h := http.Header{"Accept": {"application/json"}}
	if sid != "" {
		h.Set("Cookie", "sid="+sid)
	}
	for k, v := range extra {
		h[k] = v
	}
	resp, body := e2e.Do(t, e2e.OneShot, http.MethodGet, p.URL(path), h, "")
	var seen map[string]string
	if resp.StatusCode == http.StatusOK {
		_ = json.Unmarshal(body, &seen)
	}
	return resp.StatusCode, seen
}

// ownerRef is how the admin API names an owner.
type ownerRef struct {
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	SessionID string `json:"sid,omitempty"`
}

// revokeAnswer is POST /logout/revoke's answer for an owner.
type revokeAnswer struct {
	Owner  ownerRef `json:"owner"`
	Count  int      `json:"count"`
	Stores []struct {
		Store string `json:"store"`
		Count int    `json:"count"`
		Error string `json:"error"`
	} `json:"stores"`
}

// lookupAnswer is POST /logout/lookup's answer for an owner.
type lookupAnswer struct {
	Owner    ownerRef        `json:"owner"`
	Sessions []ownerSession  `json:"sessions"`
	Stores   json.RawMessage `json:"stores"`
}

type ownerSession struct {
	ID        string    `json:"id"`
	PublicID  string    `json:"public_id"`
	Issuer    string    `json:"iss"`
	Subject   string    `json:"sub"`
	SessionID string    `json:"sid"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Confirmed bool      `json:"confirmed"`
	Revoked   bool      `json:"revoked"`
	Store     string    `json:"store"`
}

func adminPost(t *testing.T, p *e2e.Caddy, path string, body any, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(p.AdminURL(path), "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("POST %s: %s: %v", path, buf.String(), err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("POST %s %s: %d %s", path, b, resp.StatusCode, buf.String())
	}
	return resp.StatusCode
}

func revokeOwner(t *testing.T, p *e2e.Caddy, ref ownerRef) revokeAnswer {
	t.Helper()
	var a revokeAnswer
	if code := adminPost(t, p, "/logout/revoke", ref, &a); code != http.StatusOK {
		t.Fatalf("revoke %+v: status %d", ref, code)
	}
	return a
}

func lookupOwner(t *testing.T, p *e2e.Caddy, ref ownerRef) lookupAnswer {
	t.Helper()
	var a lookupAnswer
	if code := adminPost(t, p, "/logout/lookup", ref, &a); code != http.StatusOK {
		t.Fatalf("lookup %+v: status %d", ref, code)
	}
	return a
}

// waitRecorded waits until the store lists every one of sids (sid
// cookie values) as subject's.
func waitRecorded(t *testing.T, p *e2e.Caddy, subject string, sids ...string) lookupAnswer {
	t.Helper()
	ids := make([]session.ID, len(sids))
	for i, sid := range sids {
		ids[i] = session.CookieID(sid)
	}
	return waitRecordedIDs(t, p, subject, ids...)
}

// waitRecordedIDs is waitRecorded for sessions named by their ID.
func waitRecordedIDs(t *testing.T, p *e2e.Caddy, subject string, ids ...session.ID) lookupAnswer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := lookupOwner(t, p, ownerRef{Subject: subject})
		have := map[string]bool{}
		for _, s := range a.Sessions {
			have[s.ID] = true
		}
		missing := 0
		for _, id := range ids {
			if !have[id.String()] {
				missing++
			}
		}
		if missing == 0 {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions of %s not recorded after 10s: %+v", missing, len(ids), subject, a.Sessions)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionOf finds sid's entry in a lookup.
func sessionOf(a lookupAnswer, sid string) (ownerSession, bool) {
	for _, s := range a.Sessions {
		if s.ID == session.CookieID(sid).String() {
			return s, true
		}
	}
	return ownerSession{}, false
}
