package flow_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// The self-service session endpoints, as Kratos's frontend API answers
// them (session/handler.go of Kratos v1.3.1: listMySessions,
// deleteMySessions, deleteMySession; errors from herodot).

const (
	reasonNoValidSession = "No valid session cookie found."
	msg401Unauthorized   = "The request could not be authorized"
)

// kratosSession is the part of Kratos's session object these tests read.
type kratosSession struct {
	ID                    string    `json:"id"`
	Active                bool      `json:"active"`
	ExpiresAt             time.Time `json:"expires_at"`
	AuthenticatedAt       time.Time `json:"authenticated_at"`
	IssuedAt              time.Time `json:"issued_at"`
	AuthenticationMethods []any     `json:"authentication_methods"`
	Devices               []any     `json:"devices"`
	Identity              any       `json:"identity"`
}

// withSessions is a harness where alice has sessions a1, a2, a3 and bob b1,
// all learned through forward_auth (confirmed).
func withSessions(t *testing.T, mutate ...func(*flow.Config)) *identityHarness {
	ih := newIdentityHarness(t, mutate...)
	for _, s := range []struct{ credential, user string }{{"a1", "alice"}, {"a2", "alice"}, {"a3", "alice"}, {"b1", "bob"}} {
		ih.visit(s.credential, authAs(s.user))
		ih.owner(s.credential)
		ih.clock.Advance(time.Second)
	}
	return ih
}

func (ih *identityHarness) sessionsReq(method, target, credential string) *http.Response {
	ih.t.Helper()
	return ih.serve(newReq(method, target, nil, cookie(cookieName, credential), asJSON), nil)
}

func listSessions(t *testing.T, res *http.Response) []kratosSession {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /sessions: %d %s", res.StatusCode, readBody(t, res))
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	var out []kratosSession
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSessions_List_OtherActiveSessionsOfTheOwner(t *testing.T) {
	ih := withSessions(t)
	ih.revoke("a3")
	res := ih.sessionsReq(http.MethodGet, "/sessions", "a1")
	got := listSessions(t, res)
	if len(got) != 1 || got[0].ID != session.IDOf("a2").PublicID() {
		t.Fatalf("listed %+v, want a2 only (not the current a1, not the revoked a3, not bob's)", got)
	}
	s := got[0]
	a2, _, _ := ih.owners.OwnerOf(t.Context(), session.IDOf("a2"))
	if !s.Active || !s.AuthenticatedAt.Equal(a2.Since) || !s.IssuedAt.Equal(a2.FirstSeen) || !s.ExpiresAt.Equal(a2.Until) ||
		s.AuthenticationMethods == nil || s.Devices == nil || s.Identity != nil {
		t.Fatalf("session object %+v (record %+v)", s, a2)
	}
	if res.Header.Get("X-Total-Count") != "1" || res.Header.Get("Cache-Control") != noCache {
		t.Fatalf("headers %v", res.Header)
	}
	if link := res.Header.Get("Link"); !strings.Contains(link, `rel="first"`) || !strings.HasPrefix(link, "</sessions?page=0&page_size=1&") {
		t.Fatalf("Link %q", link)
	}
}

func TestSessions_List_PaginatedAsKratos_NewestFirst(t *testing.T) {
	ih := withSessions(t)
	res := ih.sessionsReq(http.MethodGet, "/sessions?page_size=1", "a3")
	page := listSessions(t, res)
	if len(page) != 1 || page[0].ID != session.IDOf("a2").PublicID() {
		t.Fatalf("first page %+v, want a2 (authenticated last)", page)
	}
	if res.Header.Get("X-Total-Count") != "2" {
		t.Fatalf("X-Total-Count %q", res.Header.Get("X-Total-Count"))
	}
	link := res.Header.Get("Link")
	next := ""
	for _, part := range strings.Split(link, ",") {
		if strings.HasSuffix(part, `rel="next"`) {
			next = strings.TrimSuffix(strings.TrimPrefix(part, "<"), `>; rel="next"`)
		}
	}
	if next == "" || !strings.Contains(link, `rel="last"`) {
		t.Fatalf("Link %q: want next and last", link)
	}
	u, _ := url.Parse(next)
	page = listSessions(t, ih.sessionsReq(http.MethodGet, u.RequestURI(), "a3"))
	if len(page) != 1 || page[0].ID != session.IDOf("a1").PublicID() {
		t.Fatalf("second page %+v, want a1", page)
	}
}

func TestSessions_DeleteOthers_RevokesThemEverywhere_Count(t *testing.T) {
	ih := withSessions(t)
	res := ih.sessionsReq(http.MethodDelete, "/sessions", "a1")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE /sessions: %d %s", res.StatusCode, readBody(t, res))
	}
	var body map[string]any
	decodeStrict(t, res, &body)
	if len(body) != 1 || body["count"] != float64(2) {
		t.Fatalf("body %v, want {\"count\": 2}", body)
	}
	ih.assertNotRevoked("a1")
	ih.assertRevoked("a2")
	ih.assertRevoked("a3")
	ih.assertNotRevoked("b1")
	// Again: nothing left to revoke.
	decodeStrict(t, ih.sessionsReq(http.MethodDelete, "/sessions", "a1"), &body)
	if body["count"] != float64(0) {
		t.Fatalf("second DELETE /sessions: %v", body)
	}
	// The caller's session survives its own record being refreshed.
	ih.clock.Advance(time.Hour)
	ih.visit("a1", authAs("alice"))
	time.Sleep(20 * time.Millisecond)
	ih.assertNotRevoked("a1")
}

func TestSessions_DeleteOne_ThatOneOnly(t *testing.T) {
	ih := withSessions(t)
	res := ih.sessionsReq(http.MethodDelete, "/sessions/"+session.IDOf("a2").PublicID(), "a1")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Content-Type") != "application/json; charset=utf-8" || readBody(t, res) != "" {
		t.Fatalf("DELETE /sessions/{a2}: %d %v %q", res.StatusCode, res.Header, readBody(t, res))
	}
	ih.assertRevoked("a2")
	ih.assertNotRevoked("a3")
	// Bob's session, named by someone else: 204 as in Kratos, and nothing happens.
	res = ih.sessionsReq(http.MethodDelete, "/sessions/"+strings.ToUpper(session.IDOf("b1").PublicID()), "a1")
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /sessions/{bob's}: %d", res.StatusCode)
	}
	ih.assertNotRevoked("b1")
}

func TestSessions_DeleteOne_Errors_AsKratos(t *testing.T) {
	ih := withSessions(t)
	current := session.IDOf("a1").PublicID()
	for _, tc := range []struct {
		id, message string
	}{
		{current, "cannot revoke current session"},
		{"abc", `uuid: incorrect UUID length 3 in string "abc"`},
		{"{" + current + ")", `uuid: incorrect UUID format in string "{` + current + `)"`},
		{strings.Replace(current, "-", "_", 1), `uuid: incorrect UUID format in string "` + strings.Replace(current, "-", "_", 1) + `"`},
		{strings.Repeat("z", 32), "uuid: invalid UUID format"},
	} {
		res := ih.sessionsReq(http.MethodDelete, "/sessions/"+url.PathEscape(tc.id), "a1")
		e := decodeError(t, res, http.StatusBadRequest)
		if e.Message != tc.message || e.ID != "" || e.Reason != "" || e.Status != "Bad Request" {
			t.Errorf("DELETE /sessions/%s: %+v, want message %q and no id or reason", tc.id, e, tc.message)
		}
	}
	ih.assertNotRevoked("a1")
}

// Kratos's 401 is herodot's generic one: no id, its own message.
func TestSessions_NoOrRevokedSession_401AsKratos(t *testing.T) {
	ih := withSessions(t)
	ih.revoke("a3")
	for name, req := range map[string]*http.Request{
		"no credential":    newReq(http.MethodGet, "/sessions", nil, asJSON),
		"revoked":          newReq(http.MethodDelete, "/sessions", nil, cookie(cookieName, "a3"), asJSON),
		"revoked, one":     newReq(http.MethodDelete, "/sessions/"+session.IDOf("a2").PublicID(), nil, cookie(cookieName, "a3")),
		"other cookie":     newReq(http.MethodGet, "/sessions", nil, cookie("other", "a1")),
		"revoked as token": newReq(http.MethodGet, "/sessions", nil, header("X-Session-Token", "a3")),
	} {
		res := ih.serve(req, nil)
		e := decodeError(t, res, http.StatusUnauthorized)
		if e.ID != "" || e.Reason != reasonNoValidSession || e.Message != msg401Unauthorized || e.Status != "Unauthorized" {
			t.Errorf("%s: %+v", name, e)
		}
		if res.Header.Get("Ory-Error-Id") != "" {
			t.Errorf("%s: Ory-Error-Id %q for an error without an id", name, res.Header.Get("Ory-Error-Id"))
		}
	}
	ih.assertNotRevoked("a2")
}

func TestSessions_OwnerUnknownOrClaimed_403Envelope(t *testing.T) {
	ih := withSessions(t)
	ih.visit("anon", authAs(""))                                  // never seen with an identity
	ih.visit("claimed", passThrough, header(userHeader, "alice")) // the client's own header
	ih.owner("claimed")
	for credential, id := range map[string]string{"anon": "session_owner_unknown", "claimed": "session_owner_unconfirmed"} {
		for _, target := range []string{"/sessions", "/sessions/" + session.IDOf("a2").PublicID()} {
			for _, method := range []string{http.MethodGet, http.MethodDelete} {
				if method == http.MethodGet && target != "/sessions" {
					continue
				}
				res := ih.sessionsReq(method, target, credential)
				e := decodeError(t, res, http.StatusForbidden)
				if e.ID != id || e.Reason == "" || e.Message != msg403 || res.Header.Get("Ory-Error-Id") != id {
					t.Errorf("%s %s as %s: %+v", method, target, credential, e)
				}
			}
		}
	}
	ih.assertNotRevoked("a1")
	ih.assertNotRevoked("a2")
}

// Kratos reads a session token before the cookie; Bearer works too.
func TestSessions_SessionToken_AndBearer(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.serve(get("/app", header("X-Session-Token", "t1")), authAs("alice"))
	ih.serve(get("/app", header("Authorization", "Bearer t2")), authAs("alice"))
	ih.owner("t1")
	ih.owner("t2")
	res := ih.serve(newReq(http.MethodGet, "/sessions", nil, header("X-Session-Token", "t1"), cookie(cookieName, "t2")), nil)
	if got := listSessions(t, res); len(got) != 1 || got[0].ID != session.IDOf("t2").PublicID() {
		t.Fatalf("as t1 (token before cookie): %+v", got)
	}
	res = ih.serve(newReq(http.MethodGet, "/sessions", nil, header("Authorization", "Bearer t2")), nil)
	if got := listSessions(t, res); len(got) != 1 || got[0].ID != session.IDOf("t1").PublicID() {
		t.Fatalf("as t2 (Bearer): %+v", got)
	}
}

func TestSessions_Routes(t *testing.T) {
	ih := withSessions(t)
	assertMethodNotAllowed(t, ih.sessionsReq(http.MethodPost, "/sessions", "a1"), "DELETE, GET, HEAD, OPTIONS")
	// Kratos's other routes under /sessions (whoami) stay the app's.
	for _, r := range []*http.Request{
		get("/sessions/whoami", cookie(cookieName, "a1")),
		newReq(http.MethodDelete, "/sessions/whoami", nil, cookie(cookieName, "a1")),
		get("/sessions/"+session.IDOf("a2").PublicID(), cookie(cookieName, "a1")),
		newReq(http.MethodDelete, "/sessions/a/b", nil, cookie(cookieName, "a1")),
	} {
		a := &app{}
		ih.serve(r, a)
		if a.calls != 1 {
			t.Errorf("%s %s did not reach the app", r.Method, r.URL.Path)
		}
	}
}

// Beside /self-service wherever the endpoints are.
func TestSessions_BesideTheEndpoints(t *testing.T) {
	ih := withSessions(t, func(c *flow.Config) { c.Prefix = "/app/self-service/logout" })
	if ih.gw.SessionsPath() != "/app/sessions" {
		t.Fatalf("SessionsPath %q", ih.gw.SessionsPath())
	}
	if got := listSessions(t, ih.sessionsReq(http.MethodGet, "/app/sessions", "a1")); len(got) != 2 {
		t.Fatalf("listed %d", len(got))
	}
	a := &app{}
	ih.serve(get("/sessions", cookie(cookieName, "a1")), a)
	if a.calls != 1 {
		t.Fatal("/sessions did not reach the app with the endpoints moved")
	}
}

func TestSessions_WithoutIdentity_PathIsTheApps(t *testing.T) {
	h := newHarness(t)
	if h.gw.SessionsPath() != "" {
		t.Fatalf("SessionsPath %q without identity", h.gw.SessionsPath())
	}
	a := &app{}
	h.serve(newReq(http.MethodDelete, "/sessions", nil, cookie(cookieName, "x")), a)
	if a.calls != 1 {
		t.Fatal("DELETE /sessions did not reach the app")
	}
}

// decodeError reads the session endpoints' error envelope: Kratos's, where
// herodot leaves out an empty id and reason.
func decodeError(t *testing.T, res *http.Response, code int) errorBody {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, code, readBody(t, res))
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	var env struct {
		Error *errorBody `json:"error"`
	}
	decodeStrict(t, res, &env)
	if env.Error == nil || env.Error.Code != code || env.Error.Status != http.StatusText(code) || env.Error.Message == "" {
		t.Fatalf("error envelope %+v", env.Error)
	}
	if res.Header.Get("Cache-Control") != noCache {
		t.Errorf("Cache-Control %q", res.Header.Get("Cache-Control"))
	}
	return *env.Error
}
