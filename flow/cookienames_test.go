package flow_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	zapobserver "go.uber.org/zap/zaptest/observer"

	"github.com/caddy-logout/caddy-logout/flow"
)

const (
	dwName = "DW3e7a1f0c4c0f6b1e2d9a8b7c6d5e4f3a"         // DokuWiki's auth cookie: DW + md5(base path and port)
	dwA    = "YWxpY2U=|1|b64-encrypted-password-of-alice" // a remember-me value, as DokuWiki makes it
	wpTest = "wordpress_test_cookie=WP%20Cookie%20check"  // as PHP's setcookie encodes it
)

func withCookies(names ...string) func(*flow.Config) {
	return func(c *flow.Config) { c.Cookies = names }
}

func TestGlob_GuardRefusesARevokedCookieByPattern(t *testing.T) {
	h := newHarness(t, withCookies("DokuWiki", "DW*"), func(c *flow.Config) { c.OnRevoked = flow.Deny })
	h.revoke(dwA)
	a := &app{}
	res := h.serve(get("/doku.php", cookies("DokuWiki=s1; "+dwName+"="+dwA), asJSON), a)
	assertNoSessionError(t, res)
	if a.called() {
		t.Fatal("the revoked remember-me cookie reached the app")
	}
	// Deleted under the name the browser sent.
	assertClears(t, res, dwName)
	if slices.ContainsFunc(setCookies(res), func(v string) bool { return strings.HasPrefix(v, "DW*") }) {
		t.Errorf("a deletion of the pattern itself: %q", setCookies(res))
	}
}

func TestGlob_StripKeepsTheOtherCookies(t *testing.T) {
	h := newHarness(t, withCookies("DokuWiki", "DW*"))
	h.revoke(dwA)
	a := &app{}
	h.serve(get("/doku.php", cookies("DokuWiki=s1; "+dwName+"="+dwA+"; DOKU_PREFS=x")), a)
	if got := a.request(t).Header.Get("Cookie"); got != "DokuWiki=s1; DOKU_PREFS=x" {
		t.Errorf("the app saw %q", got)
	}
}

func TestGlob_LogoutRevokesAndDeletesUnderTheSentNames(t *testing.T) {
	h := newHarness(t, withIntercept("/doku.php?do=logout"), withCookies("DokuWiki", "DW*"),
		func(c *flow.Config) { c.Cookie.Paths = []string{"/", "/wiki"} })
	res := h.serve(get("/doku.php?do=logout", cookies("DokuWiki=s1; "+dwName+"="+dwA)), &app{})
	h.assertRevoked("s1")
	h.assertRevoked(dwA)
	for _, p := range []string{"/", "/wiki"} {
		want := dwName + "=; Path=" + p + deletionTail + "; SameSite=Lax"
		if !slices.Contains(setCookies(res), want) {
			t.Errorf("no deletion %q in %q", want, setCookies(res))
		}
	}
	// The browser flow too.
	h2 := newHarness(t, withCookies("wordpress_logged_in_*"))
	const wp = "wordpress_logged_in_5d41402abc4b2a76b9719d911017c592"
	const value = "admin|1700000000|token-of-forty-chars|hmac"
	res = h2.serve(get(performTarget(h2.token(value), ""), cookie(wp, value), asJSON), nil)
	assertStatus(t, res, http.StatusNoContent)
	h2.assertRevoked(value)
	assertClears(t, res, wp)
}

func TestGlob_SharedShortValue_NeverRevoked_BystanderUnharmed(t *testing.T) {
	// A pattern wide enough to catch WordPress's cookie test, whose value is
	// the same for every visitor: one user's logout must not make it a
	// revoked session for everyone (WordPress's login needs it).
	h := newHarness(t, withIntercept("/wp-login.php?action=logout"), withCookies("wordpress_*"))
	const alice = "wordpress_logged_in_5d41=alice|1700000000|alice-session-token|hmac"
	const bob = "wordpress_logged_in_5d41=bob|1700000000|bob-session-token-xyz|hmac"
	res := h.serve(get("/wp-login.php?action=logout&_wpnonce=abc", cookies(wpTest+"; "+alice)), &app{})
	h.assertRevoked("alice|1700000000|alice-session-token|hmac")
	h.assertNotRevoked("WP%20Cookie%20check")
	h.assertNotRevoked("WP Cookie check")
	if slices.ContainsFunc(setCookies(res), func(v string) bool { return strings.HasPrefix(v, "wordpress_test_cookie=") }) {
		t.Errorf("the shared test cookie is deleted: %q", setCookies(res))
	}
	// Bob, with the same test cookie, is still logged in, and WordPress
	// still gets the test cookie.
	a := &app{}
	res = h.serve(get("/wp-admin/", cookies(wpTest+"; "+bob)), a)
	assertStatus(t, res, http.StatusOK)
	assertNoSetCookie(t, res)
	if got := a.request(t).Header.Get("Cookie"); got != wpTest+"; "+bob {
		t.Errorf("the app saw %q", got)
	}
	// And Carol's login POST, with only the test cookie, reaches WordPress whole.
	b := &app{}
	h.serve(newReq(http.MethodPost, "/wp-login.php", strings.NewReader("log=carol"), cookies(wpTest)), b)
	if got := b.request(t).Header.Get("Cookie"); got != wpTest {
		t.Errorf("the login POST reached the app with %q", got)
	}
}

func TestGlob_ExactNameWins_NoDoubleCredential(t *testing.T) {
	var n int
	o := &observer{}
	h := newHarness(t, withCookies("sid", "s*d", "se*"), func(c *flow.Config) { c.Observer = o })
	h.serve(get("/page", cookies("sid=0123456789abcdef0123; session_x=fedcba98765432100123")), &app{})
	for _, e := range o.take() {
		if e == "guard passed" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d credentials checked, want 2 (sid once, session_x by the pattern)", n)
	}
}

func TestGlob_Config(t *testing.T) {
	for _, bad := range []string{"*", "**", "*a", "a*"} {
		cfg := newHarness(t).cfg
		cfg.Cookies = []string{bad}
		if _, err := flow.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "cookie: ") {
			t.Errorf("cookie %q: %v, want a cookie: error", bad, err)
		}
	}
	for _, good := range []string{"DW*", "wordpress_logged_in_*", "*_session", ".AspNetCore.*"} {
		cfg := newHarness(t).cfg
		cfg.Cookies = []string{good}
		if _, err := flow.New(cfg); err != nil {
			t.Errorf("cookie %q: %v", good, err)
		}
	}
	core, logs := zapobserver.New(zap.InfoLevel)
	newHarness(t, withCookies("wordpress_*", "DW*", "wp-settings-*", "DOKU*"), func(c *flow.Config) { c.Logger = zap.New(core) })
	shared := logs.FilterMessageSnippet("many sessions share")
	// wordpress_test_cookie and wp-settings-time-1 are safe by their length: said, not warned.
	if infos := shared.FilterLevelExact(zap.InfoLevel).All(); len(infos) != 2 {
		t.Errorf("infos %v, want wordpress_test_cookie's and wp-settings-time-1's", infos)
	}
	var warned []string
	for _, e := range shared.FilterLevelExact(zap.WarnLevel).All() {
		warned = append(warned, e.ContextMap()["matches"].(string))
	}
	if !slices.Equal(warned, []string{"wp-settings-1", "DOKU_PREFS"}) {
		t.Errorf("warned about %q, want wp-settings-1 and DOKU_PREFS", warned)
	}
}

// TestGlob_UncleanPieces_APatternMayBeReadOutOf_NeverReachTheApp: PHP reads
// `wordpress logged_in_<hash>=...` (a space in the name, outside the cookie
// grammar) as wordpress_logged_in_<hash>, so a revoked cookie respelled so
// would log in again if the piece reached the app. It does not, with
// patterns alone or beside exact names; WordPress's test cookie (outside
// the grammar too, and under the pattern) still does.
func TestGlob_UncleanPieces_APatternMayBeReadOutOf_NeverReachTheApp(t *testing.T) {
	const wpLogged = "alice|1700000000|token-of-alice|hmac-of-the-cookie"
	for name, names := range map[string][]string{
		"patterns only":      {"wordpress_*"},
		"beside exact names": {"PHPSESSID", "wordpress_logged_in_*"},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, withCookies(names...))
			h.revoke(wpLogged)
			for _, piece := range []string{
				"wordpress logged_in_5d41=" + wpLogged,
				"wordpress.logged in_5d41=" + wpLogged,
				`"wordpress_logged_in_5d41"=` + wpLogged,
				"wordpress%20logged_in_5d41=" + wpLogged,
				"wordpress%5Flogged_in_5d41=" + wpLogged,
				"x=1 wordpress_logged_in_5d41=" + wpLogged,
				"WORDPRESS LOGGED_IN_5d41=" + wpLogged,
			} {
				if got := strings.Join(appSees(t, h, get("/", cookies("theme=dark; "+piece+"; wordpress_test_cookie=WP Cookie check"))), "\n"); got != "theme=dark; wordpress_test_cookie=WP Cookie check" {
					t.Errorf("%q: the app got %q", piece, got)
				}
			}
			// A short value under a matching name is no session: it passes.
			if got := strings.Join(appSees(t, h, get("/", cookies("wordpress logged_in_5d41=short"))), "\n"); got != "wordpress logged_in_5d41=short" {
				t.Errorf("the app got %q", got)
			}
		})
	}
}
