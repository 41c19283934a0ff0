package flow_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/flow"
	"github.com/caddy-logout/caddy-logout/session"
)

// WordPress's cookies for one login over plain HTTP (hash = md5(siteurl)).
const (
	wpAuth   = "wordpress_5d41402abc4b2a76b9719d911017c592"
	wpLogged = "wordpress_logged_in_5d41402abc4b2a76b9719d911017c592"
)

// wpLoginAnswer is WordPress's answer to a successful login POST: the auth
// cookie twice (at /wp-content/plugins and /wp-admin), the logged-in cookie
// at /, and its cookie test again.
func wpLoginAnswer(auth, logged string) *app {
	return &app{status: http.StatusFound, header: http.Header{
		"Location": {"https://app.example.com/wp-admin/"},
		"Set-Cookie": {
			wpAuth + "=" + auth + "; path=/wp-content/plugins; HttpOnly",
			wpAuth + "=" + auth + "; path=/wp-admin; HttpOnly",
			wpLogged + "=" + logged + "; path=/; HttpOnly",
			"wordpress_test_cookie=WP%20Cookie%20check; path=/",
		},
	}}
}

func withWordPress(c *flow.Config) {
	c.Cookies = []string{"wordpress_*"}
	c.Cookie.Paths = []string{"/", "/wp-admin", "/wp-content/plugins"}
	c.Intercept = []string{"/wp-login.php?action=logout"}
	c.OnRevoked = flow.Deny
}

// login posts the login form and returns what the app's answer set.
func (h *harness) login(a *app, carried string) {
	h.t.Helper()
	opts := []reqOpt{header("Content-Type", "application/x-www-form-urlencoded")}
	if carried != "" {
		opts = append(opts, cookies(carried))
	}
	res := h.serve(newReq(http.MethodPost, "/wp-login.php", strings.NewReader("log=alice&pwd=secret"), opts...), a)
	assertStatus(h.t, res, http.StatusFound)
}

// works reports whether the app gets cookie when a request carries it.
func (h *harness) works(cookie string) bool {
	h.t.Helper()
	a := &app{}
	h.serve(get("/wp-admin/", cookies(cookie), asJSON), a)
	return a.called() && a.request(h.t).Header.Get("Cookie") == cookie
}

func TestGroups_LogoutRevokesTheCookiesItDidNotCarry(t *testing.T) {
	h := newHarness(t, withWordPress)
	const auth, logged = "alice|1700000000|token-a|hmac-auth", "alice|1700000000|token-a|hmac-logged"
	h.login(wpLoginAnswer(auth, logged), wpTest)

	// Bob logs in too, with the same cookie test value: it must not link
	// his session to Alice's.
	const bobAuth, bobLogged = "bob|1700000000|token-b|hmac-auth", "bob|1700000000|token-b|hmac-logged"
	h.login(wpLoginAnswer(bobAuth, bobLogged), wpTest)

	// The browser sends only the logged-in cookie to /wp-login.php.
	res := h.serve(get("/wp-login.php?action=logout&_wpnonce=n", cookies(wpTest+"; "+wpLogged+"="+logged)), &app{status: 302, header: http.Header{"Location": {"/wp-login.php?loggedout=true"}}})
	assertStatus(t, res, http.StatusFound)
	h.assertRevoked(logged)
	h.assertRevoked(auth)
	// The auth cookie the request did not carry is deleted at its paths too.
	for _, p := range []string{"/wp-admin", "/wp-content/plugins"} {
		want := wpAuth + "=; Path=" + p + deletionTail + "; SameSite=Lax"
		if !slices.Contains(setCookies(res), want) {
			t.Errorf("no deletion %q in %q", want, setCookies(res))
		}
	}
	// Each copy alone is refused.
	for _, c := range []string{wpAuth + "=" + auth, wpLogged + "=" + logged} {
		if h.works(c) {
			t.Errorf("the copy %s still works", c)
		}
	}
	// Bob is still logged in.
	if !h.works(wpAuth+"="+bobAuth) || !h.works(wpLogged+"="+bobLogged) {
		t.Error("Bob's session was revoked by Alice's logout")
	}
	h.assertNotRevoked("WP%20Cookie%20check")
}

func TestGroups_CarriedCookieJoinsTheCookiesTheAnswerSets(t *testing.T) {
	// DokuWiki: the PHP session cookie from the first visit, then the
	// remember-me cookie the login answer sets.
	h := newHarness(t, withCookies("DokuWiki", "DW*"), withIntercept("/doku.php?do=logout"))
	const sid, remember = "k1j2h3g4f5d6s7a8p9o0i1u2y3", "YWxpY2U=|1|encrypted-password-of-alice"
	a := &app{status: http.StatusFound, header: http.Header{"Location": {"/doku.php"}, "Set-Cookie": {dwName + "=" + remember + "; expires=Fri, 01 Jan 2100 00:00:00 GMT; path=/"}}}
	h.serve(newReq(http.MethodPost, "/doku.php", strings.NewReader("do=login"), cookies("DokuWiki="+sid)), a)
	// A logout that carries only the session cookie still ends the
	// remember-me cookie.
	h.serve(get("/doku.php?do=logout&sectok=x", cookies("DokuWiki="+sid)), &app{status: 302})
	h.assertRevoked(sid)
	h.assertRevoked(remember)
}

func TestGroups_BrowserFlowRevokesTheGroup(t *testing.T) {
	h := newHarness(t, withWordPress)
	const auth, logged = "carol|1700000000|token-c|hmac-auth", "carol|1700000000|token-c|hmac-logged"
	h.login(wpLoginAnswer(auth, logged), "")
	res := h.serve(get(performTarget(h.token(logged), ""), cookies(wpLogged+"="+logged), asJSON), nil)
	assertStatus(t, res, http.StatusNoContent)
	h.assertRevoked(auth)
	want := wpAuth + "=; Path=/wp-admin" + deletionTail + "; SameSite=Lax"
	if !slices.Contains(setCookies(res), want) {
		t.Errorf("no deletion %q in %q", want, setCookies(res))
	}
}

func TestGroups_SameBrowserLogsInAgain_StaysIn(t *testing.T) {
	h := newHarness(t, withWordPress, func(c *flow.Config) { c.OnRevoked = flow.Strip })
	const auth, logged = "dave|1|token-d1|hmac-auth-1", "dave|1|token-d1|hmac-logged-1"
	h.login(wpLoginAnswer(auth, logged), "")
	h.serve(get("/wp-login.php?action=logout", cookies(wpLogged+"="+logged)), &app{status: 302})
	// A jar that still holds the old auth cookie (an app that set it at a
	// path the deletions missed) logs in: the dead cookie is stripped, the
	// new login's cookies are not touched.
	const auth2, logged2 = "dave|2|token-d2|hmac-auth-2", "dave|2|token-d2|hmac-logged-2"
	h.login(wpLoginAnswer(auth2, logged2), wpAuth+"="+auth)
	for i := 0; i < 3; i++ {
		a := &app{}
		res := h.serve(get("/wp-admin/", cookies(wpAuth+"="+auth2+"; "+wpLogged+"="+logged2)), a)
		assertStatus(t, res, http.StatusOK)
		assertNoSetCookie(t, res)
		if !a.called() {
			t.Fatal("the new login does not reach the app")
		}
	}
	// And its logout ends it.
	h.serve(get("/wp-login.php?action=logout", cookies(wpLogged+"="+logged2)), &app{status: 302})
	h.assertRevoked(auth2)
}

// countingGroups counts the joins that reach the store.
type countingGroups struct {
	flow.Groups
	joins atomic.Int32
}

func (c *countingGroups) JoinGroup(ctx context.Context, ms []session.GroupMember, until time.Time) error {
	c.joins.Add(1)
	return c.Groups.JoinGroup(ctx, ms, until)
}

func TestGroups_AppResendingItsCookies_OneWrite(t *testing.T) {
	var cg *countingGroups
	h := newHarness(t, withCookies("sid", "remember"), func(c *flow.Config) {
		cg = &countingGroups{Groups: c.Store.(flow.Groups)}
		c.Groups = cg
	})
	for i := 0; i < 20; i++ {
		a := &app{header: http.Header{"Set-Cookie": {"sid=s1; path=/", "remember=r1; path=/"}}}
		h.serve(get("/page", cookies("sid=s1; remember=r1")), a)
	}
	if n := cg.joins.Load(); n != 1 {
		t.Errorf("%d joins, want 1", n)
	}
}

func TestGroups_OneExactName_NothingWatched(t *testing.T) {
	var cg *countingGroups
	h := newHarness(t, func(c *flow.Config) {
		cg = &countingGroups{Groups: c.Store.(flow.Groups)}
		c.Groups = cg
	})
	var sawWatcher bool
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, sawWatcher = w.(interface{ Unwrap() http.ResponseWriter })
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "new"})
		return nil
	})
	h.serve(get("/login", cookie(cookieName, "old")), next)
	if sawWatcher || cg.joins.Load() != 0 {
		t.Errorf("with one session cookie name the answer was watched (%v) or joined (%d)", sawWatcher, cg.joins.Load())
	}
}

func TestGroups_StoreWithoutGroups_WarnsOnce_LogoutStillWorks(t *testing.T) {
	core, logs := zapobserver.New(zap.WarnLevel)
	var cache *session.Cache
	h := newHarness(t, withCookies("sid", "remember"), withIntercept("/logout"), func(c *flow.Config) {
		var err error
		cache, err = session.NewCache(noGroupsStore{}, session.CacheOptions{MaxEntries: 100})
		if err != nil {
			t.Fatal(err)
		}
		c.Store = cache
		c.Logger = zap.New(core)
	})
	t.Cleanup(func() { _ = cache.Close() })
	for i := 0; i < 3; i++ {
		h.serve(get("/login", cookies("sid=s1")), &app{header: http.Header{"Set-Cookie": {"remember=r" + string(rune('0'+i)) + "; path=/"}}})
	}
	if n := logs.FilterMessageSnippet("keeps no groups").Len(); n != 1 {
		t.Errorf("%d warnings, want 1", n)
	}
	res := h.serve(get("/logout", cookies("sid=s1")), &app{})
	assertClears(t, res, "sid", "remember")
}

// noGroupsStore is a third party's store without groups: it remembers
// nothing, which is enough here.
type noGroupsStore struct{}

func (noGroupsStore) Revoke(context.Context, session.ID, time.Time) error { return nil }
func (noGroupsStore) RevokedUntil(context.Context, session.ID) (time.Time, error) {
	return time.Time{}, nil
}
func (noGroupsStore) Close() error { return nil }

func TestGroups_WatcherPassesFlushAndHijack(t *testing.T) {
	h := newHarness(t, withCookies("sid", "remember"))
	var flushErr, hijackErr error
	next := flow.NextFunc(func(w http.ResponseWriter, r *http.Request) error {
		rc := http.NewResponseController(w)
		flushErr = rc.Flush()
		_, _, hijackErr = rc.Hijack()
		return nil
	})
	h.serve(get("/ws", cookies("sid=s1")), next)
	if flushErr != nil {
		t.Errorf("Flush through the watcher: %v", flushErr)
	}
	// httptest's recorder cannot hijack: the error must be its, reached
	// through Unwrap, not the watcher's refusal.
	if hijackErr == nil || !strings.Contains(hijackErr.Error(), "not supported") {
		t.Errorf("Hijack through the watcher: %v", hijackErr)
	}
}

func TestGroups_RotatingCookieStore_OlderCopiesEndToo(t *testing.T) {
	// Rails' cookie store: a new value whenever the session changes.
	h := newHarness(t, withCookies("_shop_session", "remember_user_token"), withIntercept("/logout"))
	values := []string{"v1-0123456789abcdef", "v2-0123456789abcdef", "v3-0123456789abcdef"}
	for i := 1; i < len(values); i++ {
		a := &app{header: http.Header{"Set-Cookie": {"_shop_session=" + values[i] + "; path=/; HttpOnly"}}}
		h.serve(get("/cart", cookies("_shop_session="+values[i-1])), a)
	}
	h.serve(get("/logout", cookies("_shop_session="+values[2])), &app{})
	for _, v := range values {
		h.assertRevoked(v)
	}
}

// failingGroups is a store whose groups cannot be read (Redis down: the
// journal takes revocations, not lookups).
type failingGroups struct{ flow.Groups }

func (failingGroups) Group(context.Context, session.ID) ([]session.GroupMember, error) {
	return nil, errStoreDown
}

func TestGroups_UnreadableGroups_LogoutStillSucceeds(t *testing.T) {
	core, logs := zapobserver.New(zap.WarnLevel)
	o := &observer{}
	h := newHarness(t, withCookies("sid", "remember"), withIntercept("/logout"), func(c *flow.Config) {
		c.Groups = failingGroups{c.Store.(flow.Groups)}
		c.Logger = zap.New(core)
		c.Observer = o
	})
	res := h.serve(get(performTarget(h.token("s1"), ""), cookies("sid=s1; remember=r1"), asJSON), nil)
	assertStatus(t, res, http.StatusNoContent)
	h.assertRevoked("s1")
	h.assertRevoked("r1")
	o.take()
	h.serve(get("/logout", cookies("sid=s2")), &app{})
	if got := o.take(); !slices.Contains(got, "logout intercept ok") {
		t.Errorf("intercept events %q, want ok", got)
	}
	h.assertRevoked("s2")
	if logs.FilterMessageSnippet("could not read which cookies").Len() != 3 { // s1, r1, s2
		t.Errorf("warnings %v", logs.All())
	}
}
