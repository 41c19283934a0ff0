package identity

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-logout/caddy-logout/session"
	"github.com/caddy-logout/caddy-logout/tests/e2e"
)

// Two sessions of alice and one of bob, each sid cookie owned as Caddy's
// basic_auth says ({http.auth.user.id}): revoke alice, both of hers are
// refused, bob's passes.
func TestIdentity_BasicAuth_RevokeAlice(t *testing.T) {
	app := startApp(t)
	users := fmt.Sprintf("alice %s\n\t\tbob %s", hashPassword(t, "alice-pw"), hashPassword(t, "bob-pw"))
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `cookie sid
		on_revoked deny
		identity {
			subject {http.auth.user.id}
		}`, "basic_auth {\n\t\t"+users+"\n\t}", app.Port)
	})
	basic := func(user, pw string) http.Header {
		return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}}
	}
	a1, a2, b1 := "a1-"+e2e.RandomValue(), "a2-"+e2e.RandomValue(), "b1-"+e2e.RandomValue()
	for sid, h := range map[string]http.Header{a1: basic("alice", "alice-pw"), a2: basic("alice", "alice-pw"), b1: basic("bob", "bob-pw")} {
		if status, _ := visit(t, p, "/", sid, h); status != http.StatusOK {
			t.Fatalf("visit %s: %d", sid, status)
		}
	}
	waitRecorded(t, p, "alice", a1, a2)
	waitRecorded(t, p, "bob", b1)
	// A wrong password: basic_auth refuses, and no owner is learned.
	wrong := "w-" + e2e.RandomValue()
	if status, _ := visit(t, p, "/", wrong, basic("alice", "guess")); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", status)
	}

	ans := revokeOwner(t, p, ownerRef{Subject: "alice"})
	if ans.Count != 2 {
		t.Fatalf("revoke alice: %+v, want count 2", ans)
	}
	for sid, h := range map[string]http.Header{a1: basic("alice", "alice-pw"), a2: basic("alice", "alice-pw")} {
		if status, _ := visit(t, p, "/", sid, h); status != http.StatusUnauthorized {
			t.Errorf("alice's session %s after revoking alice: %d, want 401", sid[:2], status)
		}
	}
	if status, seen := visit(t, p, "/", b1, basic("bob", "bob-pw")); status != http.StatusOK || seen["sid"] != b1 {
		t.Fatalf("bob's session after revoking alice: %d %v", status, seen)
	}
	if _, ok := sessionOf(lookupOwner(t, p, ownerRef{Subject: "alice"}), wrong); ok {
		t.Fatal("a session basic_auth refused was recorded as alice's")
	}
}

// The same with forward_auth to a real auth service, copy_headers
// X-Auth-Request-User. A client that sends that header itself (naming
// alice) is recorded as who the auth service says it is.
func TestIdentity_ForwardAuth_RevokeAlice_ForgedHeaderIgnored(t *testing.T) {
	app := startApp(t)
	auth := startAuthService(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `cookie sid
		on_revoked deny
		identity {
			subject {http.request.header.X-Auth-Request-User}
		}`, forwardAuth(auth, "X-Auth-Request-User"), app.Port)
	})
	a1, a2, b1, m1 := auth.login("alice"), auth.login("alice"), auth.login("bob"), auth.login("mallory")
	for _, sid := range []string{a1, a2, b1} {
		if status, _ := visit(t, p, "/", sid, nil); status != http.StatusOK {
			t.Fatalf("visit: %d", status)
		}
	}
	forged := http.Header{"X-Auth-Request-User": {"alice"}}
	if status, seen := visit(t, p, "/", m1, forged); status != http.StatusOK || seen["user"] != "mallory" {
		t.Fatalf("mallory with a forged header: %d %v", status, seen)
	}
	waitRecorded(t, p, "alice", a1, a2)
	waitRecorded(t, p, "bob", b1)
	mal := waitRecorded(t, p, "mallory", m1)
	if s, _ := sessionOf(mal, m1); !s.Confirmed {
		t.Fatalf("mallory's session %+v: forward_auth set the header, so it is confirmed", s)
	}
	if _, ok := sessionOf(lookupOwner(t, p, ownerRef{Subject: "alice"}), m1); ok {
		t.Fatal("the forged header filed mallory's session under alice")
	}

	if ans := revokeOwner(t, p, ownerRef{Subject: "alice"}); ans.Count != 2 {
		t.Fatalf("revoke alice: %+v, want count 2", ans)
	}
	for _, sid := range []string{a1, a2} {
		if status, _ := visit(t, p, "/", sid, nil); status != http.StatusUnauthorized {
			t.Errorf("alice's session after revoking alice: %d", status)
		}
	}
	for _, sid := range []string{b1, m1} {
		if status, _ := visit(t, p, "/", sid, forged); status != http.StatusOK {
			t.Errorf("%s's session after revoking alice: %d", strings.SplitN(sid, "-", 2)[0], status)
		}
	}
	// A new login of alice after the revocation passes.
	a3 := auth.login("alice")
	if status, _ := visit(t, p, "/", a3, nil); status != http.StatusOK {
		t.Fatalf("alice's new login: %d", status)
	}
	waitRecorded(t, p, "alice", a3)
	time.Sleep(100 * time.Millisecond)
	if status, _ := visit(t, p, "/", a3, nil); status != http.StatusOK {
		t.Fatalf("alice's new login, once recorded: %d", status)
	}
	checkMetricsAndAudit(t, p, []string{a1, a2, a3, b1, m1})
}

// An ID token handed on by forward_auth (oauth2-proxy's
// --set-authorization-header): iss, sub and sid are recorded, and the
// owner can be revoked by (iss, sid). A forged token the client sends in
// Authorization is replaced by forward_auth before the gateway reads it.
func TestIdentity_IDTokenFromForwardAuth_RevokeByIssSid_ForgedTokenReplaced(t *testing.T) {
	app := startApp(t)
	auth := startAuthService(t)
	const iss = "https://idp.example"
	auth.token["alice"] = signedJWT(t, map[string]any{"iss": iss, "sub": "alice-sub", "sid": "idp-session-1"})
	auth.token["mallory"] = signedJWT(t, map[string]any{"iss": iss, "sub": "mallory-sub", "sid": "idp-session-9"})
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `cookie sid
		on_revoked deny
		identity {
			id_token {http.request.header.Authorization}
		}`, forwardAuth(auth, "X-Auth-Request-User", "Authorization"), app.Port)
	})
	a1, m1 := auth.login("alice"), auth.login("mallory")
	visit(t, p, "/", a1, nil)
	forged := signedJWT(t, map[string]any{"iss": iss, "sub": "alice-sub", "sid": "idp-session-1"})
	visit(t, p, "/", m1, http.Header{"Authorization": {"Bearer " + forged}})
	rec := waitRecorded(t, p, "alice-sub", a1)
	if s, _ := sessionOf(rec, a1); s.Issuer != iss || s.SessionID != "idp-session-1" || !s.Confirmed {
		t.Fatalf("alice's record %+v", s)
	}
	waitRecorded(t, p, "mallory-sub", m1)
	if len(lookupOwner(t, p, ownerRef{Subject: "alice-sub"}).Sessions) != 1 {
		t.Fatal("mallory's forged token filed a session under alice")
	}
	if ans := revokeOwner(t, p, ownerRef{Issuer: iss, SessionID: "idp-session-1"}); ans.Count != 1 {
		t.Fatalf("revoke (iss, sid): %+v, want 1", ans)
	}
	if status, _ := visit(t, p, "/", a1, nil); status != http.StatusUnauthorized {
		t.Fatalf("alice after revoking her IdP session: %d", status)
	}
	if status, _ := visit(t, p, "/", m1, nil); status != http.StatusOK {
		t.Fatalf("mallory after revoking alice's IdP session: %d", status)
	}
}

// A session cookie that is itself a JWT, read with
// id_token {http.request.cookie.jwt}. The gateway does not verify it, so a
// forger can name alice in their own cookie: revoking alice then ends the
// forger's session too, and the forger cannot use the claim on alice's
// other sessions (self-service refuses a claimed owner). Bob is untouched.
func TestIdentity_JWTSessionCookie_ForgedSubject_OnlyTheForgerAffected(t *testing.T) {
	app := startApp(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `cookie jwt
		on_revoked deny
		identity {
			id_token {http.request.cookie.jwt}
		}`, "", app.Port)
	})
	alice1 := signedJWT(t, map[string]any{"iss": "https://app.example", "sub": "alice", "jti": e2e.RandomValue()})
	alice2 := signedJWT(t, map[string]any{"iss": "https://app.example", "sub": "alice", "jti": e2e.RandomValue()})
	bob := signedJWT(t, map[string]any{"iss": "https://app.example", "sub": "bob", "jti": e2e.RandomValue()})
	forged := forgedJWT(t, map[string]any{"iss": "https://app.example", "sub": "alice", "jti": e2e.RandomValue()})
	get := func(jwtCookie string) int {
		resp, _ := e2e.Do(t, e2e.OneShot, http.MethodGet, p.URL("/"), http.Header{"Cookie": {"jwt=" + jwtCookie}, "Accept": {"application/json"}}, "")
		return resp.StatusCode
	}
	for _, c := range []string{alice1, alice2, bob, forged} {
		if status := get(c); status != http.StatusOK {
			t.Fatalf("first visit: %d", status)
		}
	}
	rec := waitRecordedIDs(t, p, "alice", session.CookieID(alice1), session.CookieID(alice2), session.CookieID(forged))
	for _, s := range rec.Sessions {
		if s.Confirmed {
			t.Fatalf("%+v: a JWT the client sends itself is only claimed", s)
		}
	}
	// The forger tries to log alice out of her other sessions.
	resp, body := e2e.Do(t, e2e.OneShot, http.MethodDelete, p.URL("/sessions"), http.Header{"Cookie": {"jwt=" + forged}, "Accept": {"application/json"}}, "")
	if e := e2e.DecodeError(t, body); resp.StatusCode != http.StatusForbidden || e.Error.ID != "session_owner_unconfirmed" {
		t.Fatalf("DELETE /sessions with a forged identity: %d %s", resp.StatusCode, body)
	}
	if get(alice1) != http.StatusOK || get(alice2) != http.StatusOK {
		t.Fatal("the forger's DELETE /sessions ended alice's sessions")
	}
	if ans := revokeOwner(t, p, ownerRef{Subject: "alice"}); ans.Count != 3 {
		t.Fatalf("revoke alice: %+v, want 3 (hers and the forger's)", ans)
	}
	for name, c := range map[string]string{"alice1": alice1, "alice2": alice2, "forged": forged} {
		if status := get(c); status != http.StatusUnauthorized {
			t.Errorf("%s after revoking alice: %d", name, status)
		}
	}
	if status := get(bob); status != http.StatusOK {
		t.Fatalf("bob after revoking alice: %d", status)
	}
}

// The race, on one node: the session passes the guard, the app takes its
// time, the owner is revoked meanwhile (no record yet: nothing to list),
// then the record arrives. It must not survive.
func TestIdentity_SeenBeforeRevocation_RecordedAfter_Refused(t *testing.T) {
	app := startApp(t)
	auth := startAuthService(t)
	p := e2e.StartCaddy(t, "", func(admin, port int) string {
		return site(admin, port, `cookie sid
		on_revoked deny
		identity {
			subject {http.request.header.X-Auth-Request-User}
		}`, forwardAuth(auth, "X-Auth-Request-User"), app.Port)
	})
	sid := auth.login("alice")
	done := make(chan int)
	go func() {
		status, _ := visit(t, p, "/slow", sid, nil)
		done <- status
	}()
	time.Sleep(300 * time.Millisecond) // the request is inside the app
	if ans := revokeOwner(t, p, ownerRef{Subject: "alice"}); ans.Count != 0 {
		t.Fatalf("revoke alice while her first request is in flight: %+v, want 0 recorded", ans)
	}
	if status := <-done; status != http.StatusOK {
		t.Fatalf("the slow request: %d", status)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, _ := visit(t, p, "/", sid, nil)
		if status == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a session used before its owner was revoked still passes: %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The identity block needs a store that records owners, and placeholders.
func TestIdentity_ConfigErrors(t *testing.T) {
	for _, c := range []struct{ block, want string }{
		{"identity {\n\t\t\tsubject alice\n\t\t}", "must be a placeholder"},
		{"identity {\n\t\t}", "needs id_token or subject"},
		{"identity {\n\t\t\tsubject {http.auth.user.id}\n\t\t\tmax_sessions 0\n\t\t}", "max_sessions"},
	} {
		out := e2e.MustFail(t, "", site(e2e.FreePort(t), e2e.FreePort(t), c.block, "", 9))
		if !strings.Contains(out, c.want) {
			t.Errorf("%q: the error does not say %q:\n%s", c.block, c.want, out)
		}
	}
}

func checkMetricsAndAudit(t *testing.T, p *e2e.Caddy, sids []string) {
	t.Helper()
	resp, body := e2e.Do(t, e2e.OneShot, http.MethodGet, p.AdminURL("/metrics"), nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{`caddy_logout_sessions_recorded_total{result="recorded"}`, `caddy_logout_owner_revocations_total{result="ok",via="admin"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	logs := p.Logs.String()
	if !strings.Contains(logs, `"msg":"owner revoked"`) || !strings.Contains(logs, `"subject":"alice"`) {
		t.Errorf("no audit line naming the subject:\n%s", logs)
	}
	for _, sid := range sids {
		if strings.Contains(logs, sid) {
			t.Errorf("the log holds a session cookie")
		}
	}
}

// appKey signs the app's own JWTs; a forger signs with its own key.
var (
	appKey    = []byte("the app's signing key, 32 bytes!")
	forgerKey = []byte("mallory's own key, also 32 bytes")
)

func signedJWT(t *testing.T, claims map[string]any) string { return jwtWith(t, appKey, claims) }
func forgedJWT(t *testing.T, claims map[string]any) string { return jwtWith(t, forgerKey, claims) }

func jwtWith(t *testing.T, key []byte, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// hashPassword is `caddy hash-password`, with the binary under test, at
// bcrypt's lowest cost: the default (14) takes tens of seconds under the
// race detector on a busy machine.
func hashPassword(t *testing.T, pw string) string {
	t.Helper()
	out, err := exec.Command(e2e.Bin, "hash-password", "--bcrypt-cost", "4", "--plaintext", pw).Output()
	if err != nil {
		t.Fatalf("caddy hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}
