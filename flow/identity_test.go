package flow_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// The identity source of these tests reads what caddymodule's placeholders
// would: a header (forward_auth's copy_headers sets it) as the subject,
// and the Authorization header or a JWT cookie as the ID token.
const userHeader = "X-Auth-Request-User"

// identityHarness is a harness whose sessions have owners.
type identityHarness struct {
	*harness
	owners *session.Owners
	reads  atomic.Int64 // calls of the identity source
}

func newIdentityHarness(t *testing.T, mutate ...func(*flow.Config)) *identityHarness {
	t.Helper()
	ih := &identityHarness{}
	ih.harness = newHarness(t, append([]func(*flow.Config){func(c *flow.Config) {
		ih.owners = session.NewOwners(c.Store.(*session.Cache).Unwrap().(session.OwnerIndex), c.Store.(*session.Cache),
			session.OwnersOptions{Now: c.Now})
		t.Cleanup(ih.owners.Close)
		c.Owners = ih.owners
		c.Identity = flow.IdentityFunc(func(r *http.Request) flow.IdentityValues {
			ih.reads.Add(1)
			v := flow.IdentityValues{Subject: r.Header.Get(userHeader), IDToken: r.Header.Get("Authorization")}
			if c, err := r.Cookie("id_token"); err == nil {
				v.IDToken = c.Value
			}
			return v
		})
	}}, mutate...)...)
	return ih
}

// authAs is the app behind the gateway with forward_auth in front of it:
// it sets the user header as copy_headers does (replacing whatever the
// client sent), then answers.
func authAs(user string) flow.Next {
	return flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		r.Header.Del(userHeader)
		if user != "" {
			r.Header.Set(userHeader, user)
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("app"))
		return nil
	})
}

// passThrough is an app that changes nothing in the request.
var passThrough = flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusOK)
	return nil
})

// visit sends one app request with the session cookie and returns the status.
func (ih *identityHarness) visit(credential string, next flow.Next, opts ...reqOpt) int {
	ih.t.Helper()
	return ih.serve(get("/app", append([]reqOpt{cookie(cookieName, credential)}, opts...)...), next).StatusCode
}

// owner waits for the store to have credential's owner record.
func (ih *identityHarness) owner(credential string) session.OwnerRecord {
	ih.t.Helper()
	return ih.ownerOf(session.IDOf(credential))
}

func (ih *identityHarness) ownerOf(id session.ID) session.OwnerRecord {
	ih.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, ok, err := ih.owners.OwnerOf(context.Background(), id)
		if err != nil {
			ih.t.Fatal(err)
		}
		if ok {
			return rec
		}
		if time.Now().After(deadline) {
			ih.t.Fatalf("no owner recorded for session %s", id.Short())
		}
		time.Sleep(time.Millisecond)
	}
}

// noOwner asserts that credential's session has no owner record (after
// giving the background writer time to write one).
func (ih *identityHarness) noOwner(credential string) {
	ih.t.Helper()
	time.Sleep(50 * time.Millisecond)
	if rec, ok, err := ih.owners.OwnerOf(context.Background(), session.IDOf(credential)); ok || err != nil {
		ih.t.Fatalf("session %q has an owner record %+v, %v; want none", credential, rec, err)
	}
}

// idToken is a JWT with the given claims, signed with a key nobody checks.
func idToken(t *testing.T, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("a key the gateway never sees, 32b")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIdentity_SetByTheHandlersBehind_RecordedConfirmed(t *testing.T) {
	ih := newIdentityHarness(t)
	if status := ih.visit("a1", authAs("alice")); status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	rec := ih.owner("a1")
	if rec.Owner != (session.Owner{Subject: "alice"}) || !rec.Confirmed {
		t.Fatalf("recorded %+v, want alice, confirmed (forward_auth set the header)", rec)
	}
	if !rec.FirstSeen.Equal(ih.clock.Now()) || !rec.Until.Equal(ih.clock.Now().Add(flow.DefaultSessionLifetime)) {
		t.Fatalf("recorded first seen %s, until %s; want now and now + session lifetime", rec.FirstSeen, rec.Until)
	}
}

func TestIdentity_SentByTheClient_RecordedClaimed(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("m1", passThrough, header(userHeader, "alice"))
	if rec := ih.owner("m1"); rec.Owner.Subject != "alice" || rec.Confirmed {
		t.Fatalf("recorded %+v, want alice, claimed (nothing behind the gateway set it)", rec)
	}
}

// forward_auth deletes the header the client sent and sets its own: the
// forged name never reaches the record.
func TestIdentity_ForgedHeaderReplacedBehind_RecordsTheRealUser(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("m1", authAs("mallory"), header(userHeader, "alice"))
	if rec := ih.owner("m1"); rec.Owner.Subject != "mallory" || !rec.Confirmed {
		t.Fatalf("recorded %+v, want mallory, confirmed", rec)
	}
}

func TestIdentity_IDToken_BearerAllowed_IssSubSidRecorded(t *testing.T) {
	ih := newIdentityHarness(t)
	authTime := ih.clock.Now().Add(-time.Hour)
	tok := idToken(t, map[string]any{"iss": "https://idp.example", "sub": "alice-sub", "sid": "idp-sid-1",
		"iat": ih.clock.Now().Add(-time.Minute).Unix(), "auth_time": authTime.Unix(), "aud": "app"})
	for credential, value := range map[string]string{"b1": "Bearer " + tok, "b2": tok} {
		next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
			r.Header.Set("Authorization", value) // oauth2-proxy's, copied by forward_auth
			w.WriteHeader(http.StatusOK)
			return nil
		})
		ih.visit(credential, next)
		rec := ih.owner(credential)
		want := session.Owner{Issuer: "https://idp.example", Subject: "alice-sub", SessionID: "idp-sid-1"}
		if rec.Owner != want || !rec.Confirmed || !rec.Since.Equal(authTime) {
			t.Fatalf("%s: recorded %+v, want %+v, confirmed, since the token's auth_time %s", value[:10], rec, want, authTime)
		}
	}
	// A subject wins over the token's sub; iss and sid still come from it.
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set(userHeader, "alice@example.com")
		w.WriteHeader(http.StatusOK)
		return nil
	})
	ih.visit("b3", next)
	if rec := ih.owner("b3"); rec.Owner != (session.Owner{Issuer: "https://idp.example", Subject: "alice@example.com", SessionID: "idp-sid-1"}) {
		t.Fatalf("with both: recorded %+v", rec.Owner)
	}
}

// A session cookie that is itself a JWT: the token is the client's own, so
// the owner is claimed.
func TestIdentity_SessionCookieIsAJWT_RecordedClaimed(t *testing.T) {
	ih := newIdentityHarness(t, func(c *flow.Config) { c.Cookies = []string{"id_token"} })
	tok := idToken(t, map[string]any{"iss": "https://app.example", "sub": "alice"})
	res := ih.serve(get("/app", cookie("id_token", tok)), passThrough)
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.Status)
	}
	if rec := ih.ownerOf(session.CookieID(tok)); rec.Owner != (session.Owner{Issuer: "https://app.example", Subject: "alice"}) || rec.Confirmed {
		t.Fatalf("recorded %+v, want alice at https://app.example, claimed", rec)
	}
}

func TestIdentity_NotAJWT_NothingRecorded(t *testing.T) {
	ih := newIdentityHarness(t)
	for i, v := range []string{
		"Bearer not-a-jwt",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.",                   // alg none
		"Bearer " + idToken(t, map[string]any{"iss": "https://idp.example"}), // no sub
		"Bearer " + idToken(t, map[string]any{"sub": strings.Repeat("x", session.MaxOwnerField+1)}),
	} {
		credential := "n" + string(rune('0'+i))
		next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
			r.Header.Set("Authorization", v)
			w.WriteHeader(http.StatusOK)
			return nil
		})
		if status := ih.visit(credential, next); status != http.StatusOK {
			t.Fatalf("%q: status %d; an unreadable identity must not change the answer", v, status)
		}
		ih.noOwner(credential)
	}
}

// A known session costs nothing: its identity is not read again until the
// refresh interval has passed.
func TestIdentity_KnownSession_NotReadAgainUntilRefresh(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("a1", authAs("alice"))
	ih.owner("a1")
	reads := ih.reads.Load()
	for range 10 {
		ih.visit("a1", authAs("alice"))
	}
	if n := ih.reads.Load() - reads; n != 0 {
		t.Fatalf("the identity of a known session was read %d times", n)
	}
	ih.clock.Advance(time.Hour) // the refresh interval of a 720h lifetime
	ih.visit("a1", authAs("alice"))
	if n := ih.reads.Load() - reads; n != 2 {
		t.Fatalf("after the refresh interval the identity was read %d times, want 2 (before and after)", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ih.owner("a1").LastSeen.Equal(ih.owner("a1").FirstSeen) {
		if time.Now().After(deadline) {
			t.Fatal("LastSeen did not move after the refresh")
		}
		time.Sleep(time.Millisecond)
	}
}

// An anonymous session (no identity yet) is asked again on each request:
// the app may log it in without a new session ID.
func TestIdentity_Anonymous_AskedAgainAndLearnedAtLogin(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("s1", authAs(""))
	ih.noOwner("s1")
	ih.visit("s1", authAs("alice"))
	if rec := ih.owner("s1"); rec.Owner.Subject != "alice" {
		t.Fatalf("recorded %+v", rec)
	}
}

// The owner is read when the app starts answering, not when it finishes:
// a long answer (a stream) is recorded at once.
func TestIdentity_LearnedWhenTheAnswerStarts(t *testing.T) {
	ih := newIdentityHarness(t)
	wrote, finish := make(chan struct{}), make(chan struct{})
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		r.Header.Set(userHeader, "alice")
		w.WriteHeader(http.StatusOK)
		close(wrote)
		<-finish
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ih.gw.ServeHTTP(&discard{h: http.Header{}}, get("/stream", cookie(cookieName, "st")), next)
	}()
	<-wrote
	if rec := ih.owner("st"); rec.Owner.Subject != "alice" {
		t.Fatalf("recorded %+v", rec)
	}
	close(finish)
	<-done
}

func TestIdentity_RevokedSession_NotLearned(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.revoke("r1")
	ih.visit("r1", authAs("alice"))
	ih.noOwner("r1")
}

// The race: the session passed the guard before the revocation, and its
// record reaches the store after it. It must not survive.
func TestIdentity_UsedBeforeRevocation_RecordedAfter_Revoked(t *testing.T) {
	ih := newIdentityHarness(t)
	entered, release := make(chan struct{}), make(chan struct{})
	slowApp := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		close(entered)
		<-release // forward_auth and the app take their time
		r.Header.Set(userHeader, "alice")
		w.WriteHeader(http.StatusOK)
		return nil
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ih.gw.ServeHTTP(&discard{h: http.Header{}}, get("/app", cookie(cookieName, "race")), slowApp)
	}()
	<-entered
	ih.clock.Advance(time.Second)
	if n, err := ih.gw.RevokeOwner(context.Background(), session.BySubject("alice"), "admin"); err != nil || n != 0 {
		t.Fatalf("RevokeOwner = %d, %v; want 0 (nothing recorded yet)", n, err)
	}
	ih.clock.Advance(time.Second) // the answer starts after the revocation
	close(release)
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for !ih.revoked("race") {
		if time.Now().After(deadline) {
			t.Fatal("a session used before its owner was revoked survived the revocation")
		}
		time.Sleep(time.Millisecond)
	}
	a := &app{}
	ih.serve(get("/app", cookie(cookieName, "race")), a)
	if a.seen == nil || strings.Contains(a.seen.Header.Get("Cookie"), "race") {
		t.Fatal("the revoked session still reached the app")
	}
}

// A login after the revocation is a new session and passes.
func TestIdentity_LearnedAfterRevocation_IsANewLogin(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("old", authAs("alice"))
	ih.owner("old")
	if n, err := ih.gw.RevokeOwner(context.Background(), session.BySubject("alice"), "admin"); err != nil || n != 1 {
		t.Fatalf("RevokeOwner = %d, %v; want 1", n, err)
	}
	ih.clock.Advance(time.Second)
	ih.visit("new", authAs("alice"))
	ih.owner("new")
	time.Sleep(20 * time.Millisecond)
	if ih.revoked("new") || !ih.revoked("old") {
		t.Fatalf("old revoked %v, new revoked %v; want true, false", ih.revoked("old"), ih.revoked("new"))
	}
}

// Two sessions of alice and one of bob: revoke alice, both of hers go.
func TestIdentity_RevokeOwner_AliceEverywhereBobUntouched(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("a1", authAs("alice"))
	ih.visit("a2", authAs("alice"))
	ih.visit("b1", authAs("bob"))
	ih.owner("a1")
	ih.owner("a2")
	ih.owner("b1")
	n, err := ih.gw.RevokeOwner(context.Background(), session.BySubject("alice"), "admin")
	if err != nil || n != 2 {
		t.Fatalf("RevokeOwner(alice) = %d, %v; want 2", n, err)
	}
	ih.assertRevoked("a1")
	ih.assertRevoked("a2")
	ih.assertNotRevoked("b1")
}

// A forged JWT naming alice: the forger's own session is filed under alice
// (claimed), so revoking alice ends it too, and nothing else changes.
func TestIdentity_ForgedJWT_OnlyTheForgersSessionAffected(t *testing.T) {
	ih := newIdentityHarness(t)
	ih.visit("a1", authAs("alice"))
	ih.visit("b1", authAs("bob"))
	forged := idToken(t, map[string]any{"sub": "alice"})
	ih.serve(get("/app", cookie(cookieName, "m1"), cookie("id_token", forged)), passThrough)
	for _, c := range []string{"a1", "b1", "m1"} {
		ih.owner(c)
	}
	if rec := ih.owner("m1"); rec.Owner.Subject != "alice" || rec.Confirmed {
		t.Fatalf("forged session recorded %+v, want alice, claimed", rec)
	}
	// The forger tries to log alice out everywhere: refused.
	res := ih.serve(newReq(http.MethodDelete, "/sessions", nil, cookie(cookieName, "m1"), asJSON), nil)
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("DELETE /sessions with a claimed owner: %d %s", res.StatusCode, readBody(t, res))
	}
	ih.assertNotRevoked("a1")
	// Revoking alice ends her session and the forger's; bob's stays.
	n, err := ih.gw.RevokeOwner(context.Background(), session.BySubject("alice"), "admin")
	if err != nil || n != 2 {
		t.Fatalf("RevokeOwner(alice) = %d, %v; want 2 (hers and the forger's)", n, err)
	}
	ih.assertRevoked("a1")
	ih.assertRevoked("m1")
	ih.assertNotRevoked("b1")
}

func TestIdentity_ConfigNeedsBothIdentityAndOwners(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Identity = flow.IdentityFunc(func(*http.Request) flow.IdentityValues { return flow.IdentityValues{} })
	if _, err := flow.New(cfg); err == nil || !strings.Contains(err.Error(), "identity") {
		t.Fatalf("identity without Owners: %v, want an error naming identity", err)
	}
}

// discard is a ResponseWriter for requests run in a goroutine.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// TestIdentity_SealedCookie_OwnerOfTheSealedValue: the app gets a sealed
// cookie opened, but the session is the sealed value the browser holds;
// its owner is recorded under it, so revoking the owner ends it.
func TestIdentity_SealedCookie_OwnerOfTheSealedValue(t *testing.T) {
	ih := newIdentityHarness(t, func(c *flow.Config) { c.Seal = []string{"remember"} })
	sealer, err := ih.keys.Sealer()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealer.Seal("remember", rememberValue)
	if err != nil {
		t.Fatal(err)
	}
	if status := ih.serve(get("/app", cookie("remember", sealed)), authAs("alice")).StatusCode; status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if rec := ih.ownerOf(session.CookieID(sealed)); rec.Owner != (session.Owner{Subject: "alice"}) {
		t.Fatalf("recorded %+v, want alice", rec)
	}
	if _, ok, _ := ih.owners.OwnerOf(context.Background(), session.CookieID(rememberValue)); ok {
		t.Error("an owner recorded for the app's own value, which is never a credential")
	}
}
